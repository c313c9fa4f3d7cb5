/*  bridge: forwards adapter calls to an adapter service in another
    process. See bridge.h for the contract and docs/PLUGINS.md for the
    operator's view.

    One actor thread, one zpoller over four sockets:
      pipe      $TERM from orderd
      router    inproc ROUTER: orderd's callers (order actors, the prober)
      dealer    TCP DEALER connected to the service
      monitor   PAIR fed by zmq_socket_monitor (dealer): tells us when the
                peer is up (handshake done) or away (disconnected, closed,
                handshake failed)

    Every forwarded call gets a rid of our own ("<prefix>-<n>"), so that
    callers never collide (orderd repeats a rid when it retries, and two
    callers may pick the same one); the call waits in a table (our rid ->
    call) and in a FIFO ordered by deadline. The answer is matched on our
    rid, given back the caller's rid and sent to the caller's envelope. A
    call not answered by its deadline is answered `unavailable` (a ping is
    dropped instead: a probe must see silence, not an answer); its late
    answer then finds no call and is dropped. When the peer goes away, every
    waiting call is answered at once the same way. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bridge.h"
#include "adapter_server.h"

#define S_MAX_BODY          ORD_ADAPTER_MAX_BODY    //  larger requests: too_large
#define S_MAX_REPLY         (1024 * 1024)           //  larger replies cut the link
#define S_RID_MAX           ORD_ADAPTER_MAX_RID     //  bytes of a caller's rid
#define S_OUR_RID_MAX       40

//  A call forwarded to the service, waiting for its answer
typedef struct s_call_t {
    struct s_call_t *next;              //  FIFO, by deadline
    int64_t deadline;                   //  zclock_mono ()
    bool done;                          //  answered: only waits to be freed
    bool ping;
    bool has_rid;                       //  the caller's rid was not nil
    zmsg_t *envelope;                   //  the caller's envelope
    char our_rid [S_OUR_RID_MAX];
    char rid [S_RID_MAX + 1];           //  the caller's rid
} s_call_t;

typedef struct {
    zsock_t *pipe;                      //  not ours
    const ord_plugin_args_t *args;      //  not ours
    const char *kind;
    const char *name;
    //  configuration
    const char *endpoint;
    int64_t call_timeout;
    int64_t heartbeat;
    int64_t reconnect;
    int64_t reconnect_max;
    int64_t max_in_flight;
    zcert_t *cert;                      //  CURVE: ours, or NULL
    char server_key [41];               //  CURVE: the service's, or ""
    //  sockets
    zsock_t *router;
    zsock_t *dealer;
    zsock_t *monitor;
    char monitor_endpoint [64];
    bool monitoring;
    zpoller_t *poller;
    //  state
    bool up;                            //  the peer is connected, handshake done
    bool ever_up;
    char prefix [16];                   //  of our rids
    uint64_t sequence;
    zhashx_t *calls;                    //  our rid -> s_call_t (not owned)
    s_call_t *head, *tail;              //  FIFO, owns the calls
    size_t in_flight;                   //  calls not done
} self_t;

//  The keys a bridge section may hold: ours, then orderd's own
static const char *s_known_keys [] = {
    "kind", "endpoint", "call_timeout_ms", "heartbeat_ms", "reconnect_ms",
    "reconnect_max_ms", "max_in_flight", "server_key", "cert",
    "plugin", "timeout_ms", "reserve_ttl_ms", NULL
};


//  --------------------------------------------------------------------------
//  Answering a caller

//  Sends `body` to the caller behind `envelope` (destroyed)
static void
s_send_to_caller (self_t *self, zmsg_t **envelope_p, const void *body, size_t size)
{
    zmsg_t *msg = *envelope_p;
    *envelope_p = NULL;
    if (!msg)
        return;
    if (zmsg_addmem (msg, body, size) || zmsg_send (&msg, self->router))
        zsys_warning ("%s: could not send a reply to orderd", self->name);
    zmsg_destroy (&msg);
}

//  Answers the caller an error of our own
static void
s_answer_error (self_t *self, zmsg_t **envelope_p, const char *rid, bool has_rid,
                int code, const char *message)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    ord_str_t caller_rid = { has_rid? rid: NULL, has_rid? (uint32_t) strlen (rid): 0 };
    ord_reply_error (&pk, caller_rid, code, message, 0);
    s_send_to_caller (self, envelope_p, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

//  Ends a waiting call without an answer from the service: `unavailable`
//  with `message`, or silence for a ping
static void
s_call_fail (self_t *self, s_call_t *call, const char *message)
{
    if (call->done)
        return;
    zhashx_delete (self->calls, call->our_rid);
    if (call->ping)
        zmsg_destroy (&call->envelope);
    else
        s_answer_error (self, &call->envelope, call->rid, call->has_rid,
                        ORD_EUNAVAILABLE, message);
    call->done = true;
    self->in_flight--;
}

//  Frees the calls at the head of the FIFO that are done or past their
//  deadline (answering the latter)
static void
s_expire (self_t *self)
{
    int64_t now = zclock_mono ();
    char message [256];
    snprintf (message, sizeof message, "bridge: no answer from %s within %" PRId64 " ms",
              self->endpoint, self->call_timeout);
    while (self->head && (self->head->done || self->head->deadline <= now)) {
        s_call_t *call = self->head;
        self->head = call->next;
        if (!self->head)
            self->tail = NULL;
        s_call_fail (self, call, message);
        zmsg_destroy (&call->envelope);
        free (call);
    }
}

//  The peer went away: every waiting call fails now rather than at its
//  deadline (orderd retries it, with the same identity)
static void
s_fail_all (self_t *self)
{
    char message [256];
    snprintf (message, sizeof message, "bridge: peer %s went away", self->endpoint);
    for (s_call_t *call = self->head; call; call = call->next)
        s_call_fail (self, call, message);
}


//  --------------------------------------------------------------------------
//  Requests from orderd

static void
s_handle_request (self_t *self, zmsg_t *msg)
{
    zframe_t *frame = zmsg_last (msg);
    if (frame)
        zmsg_remove (msg, frame);
    //  msg is now the caller's envelope
    char message [256];
    ord_why_t why;
    why.text [0] = 0;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    msgpack_sbuffer forward;
    msgpack_sbuffer_init (&forward);
    char rid [S_RID_MAX + 1] = "";
    bool has_rid = false;
    bool ping = false;

    if (!frame) {
        s_answer_error (self, &msg, NULL, false, ORD_EBADREQ, "empty message");
        goto done;
    }
    if (zframe_size (frame) > S_MAX_BODY) {
        snprintf (message, sizeof message, "body larger than %d bytes", S_MAX_BODY);
        s_answer_error (self, &msg, NULL, false, ORD_ETOOLARGE, message);
        goto done;
    }
    int rc = ord_wire_decode (zframe_data (frame), zframe_size (frame), &unpacked, &why);
    ord_str_t caller_rid = { NULL, 0 };
    if (rc == 0)
        rc = ord_wire_str (&unpacked.data, "rid", false, S_RID_MAX, &caller_rid, &why);
    if (rc) {
        s_answer_error (self, &msg, NULL, false, rc, why.text);
        goto done;
    }
    if (caller_rid.ptr) {
        memcpy (rid, caller_rid.ptr, caller_rid.len);
        rid [caller_rid.len] = 0;
        has_rid = true;
    }
    //  Everything else about the request is the service's to judge, but a
    //  backup: its paths are this machine's, and the service's state is
    //  its own to back up (docs/OPERATIONS.md)
    ord_str_t op = ord_str_of (ord_wire_find (&unpacked.data, "op"));
    if (ord_str_eq (op, "backup")) {
        s_answer_error (self, &msg, rid, has_rid, ORD_EUNKNOWNOP,
                        "bridge: a service in another process is not copied by orderd's backup");
        goto done;
    }
    ping = ord_str_eq (op, "ping");

    if (!self->up) {
        //  A ping stays unanswered: the probe times out, health degrades
        if (!ping) {
            snprintf (message, sizeof message, "bridge: peer %s is away", self->endpoint);
            s_answer_error (self, &msg, rid, has_rid, ORD_EUNAVAILABLE, message);
        }
        goto done;
    }
    if ((int64_t) self->in_flight >= self->max_in_flight) {
        if (!ping) {
            snprintf (message, sizeof message,
                      "bridge: %" PRId64 " calls already wait for %s",
                      self->max_in_flight, self->endpoint);
            s_answer_error (self, &msg, rid, has_rid, ORD_EUNAVAILABLE, message);
        }
        goto done;
    }
    s_call_t *call = (s_call_t *) calloc (1, sizeof *call);
    if (!call) {
        if (!ping)
            s_answer_error (self, &msg, rid, has_rid, ORD_EUNAVAILABLE,
                            "bridge: out of memory");
        goto done;
    }
    snprintf (call->our_rid, sizeof call->our_rid, "%s-%" PRIx64,
              self->prefix, ++self->sequence);
    ord_str_t our_rid = { call->our_rid, (uint32_t) strlen (call->our_rid) };
    rc = ord_reply_with_rid (zframe_data (frame), zframe_size (frame), our_rid, &forward);
    if (rc == 0) {
        //  Never blocks: with ZMQ_IMMEDIATE, no connection means EAGAIN
        rc = zmq_send (zsock_resolve (self->dealer), forward.data, forward.size,
                       ZMQ_DONTWAIT) == -1? -1: 0;
        if (rc)
            snprintf (message, sizeof message, "bridge: cannot send to %s: %s",
                      self->endpoint, zmq_strerror (zmq_errno ()));
    }
    else
        snprintf (message, sizeof message, "bridge: cannot rewrite the request");
    if (rc) {
        free (call);
        if (!ping)
            s_answer_error (self, &msg, rid, has_rid, ORD_EUNAVAILABLE, message);
        goto done;
    }
    call->deadline = zclock_mono () + self->call_timeout;
    call->ping = ping;
    call->has_rid = has_rid;
    memcpy (call->rid, rid, sizeof call->rid);
    call->envelope = msg;
    msg = NULL;
    zhashx_insert (self->calls, call->our_rid, call);
    if (self->tail)
        self->tail->next = call;
    else
        self->head = call;
    self->tail = call;
    self->in_flight++;
done:
    msgpack_sbuffer_destroy (&forward);
    msgpack_unpacked_destroy (&unpacked);
    zframe_destroy (&frame);
    zmsg_destroy (&msg);
}


//  --------------------------------------------------------------------------
//  Answers from the service

static void
s_handle_reply (self_t *self, zmsg_t *msg)
{
    //  The service hands our (empty) envelope back: the body is the last frame
    zframe_t *frame = zmsg_last (msg);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    msgpack_sbuffer reply;
    msgpack_sbuffer_init (&reply);
    ord_why_t why;
    if (!frame || ord_wire_decode (zframe_data (frame), zframe_size (frame),
                                   &unpacked, &why)) {
        zsys_warning ("%s: %s answered something that is not a msgpack map; dropped",
                      self->name, self->endpoint);
        goto done;
    }
    ord_str_t our_rid = ord_str_of (ord_wire_find (&unpacked.data, "rid"));
    char key [S_OUR_RID_MAX];
    s_call_t *call = NULL;
    if (our_rid.ptr && our_rid.len < sizeof key) {
        memcpy (key, our_rid.ptr, our_rid.len);
        key [our_rid.len] = 0;
        call = (s_call_t *) zhashx_lookup (self->calls, key);
    }
    if (!call) {
        //  A late answer to a call that timed out or failed over: the
        //  caller has been answered `unavailable` and will ask again
        goto done;
    }
    ord_str_t rid = { call->has_rid? call->rid: NULL,
                      call->has_rid? (uint32_t) strlen (call->rid): 0 };
    if (ord_reply_with_rid (zframe_data (frame), zframe_size (frame), rid, &reply))
        goto done;              //  cannot happen: it decoded as a map
    zhashx_delete (self->calls, key);
    s_send_to_caller (self, &call->envelope, reply.data, reply.size);
    call->done = true;
    self->in_flight--;
done:
    msgpack_sbuffer_destroy (&reply);
    msgpack_unpacked_destroy (&unpacked);
    zmsg_destroy (&msg);
}


//  --------------------------------------------------------------------------
//  Connection events

static void
s_set_up (self_t *self, bool up, const char *why)
{
    if (up == self->up)
        return;
    self->up = up;
    if (up) {
        zsys_info ("%s: peer %s is up", self->name, self->endpoint);
        self->ever_up = true;
    }
    else {
        zsys_warning ("%s: peer %s is away (%s)", self->name, self->endpoint, why);
        s_fail_all (self);
    }
}

//  Reads one monitor event: frame 1 is a 16-bit event and a 32-bit value,
//  frame 2 the endpoint
static void
s_handle_event (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    if (!msg)
        return;
    zframe_t *frame = zmsg_first (msg);
    if (frame && zframe_size (frame) >= 6) {
        uint16_t event;
        uint32_t value;
        memcpy (&event, zframe_data (frame), 2);
        memcpy (&value, zframe_data (frame) + 2, 4);
        switch (event) {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                s_set_up (self, true, NULL);
                break;
            case ZMQ_EVENT_DISCONNECTED:
                s_set_up (self, false, "disconnected");
                break;
            case ZMQ_EVENT_CLOSED:
                s_set_up (self, false, "closed");
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                s_set_up (self, false, "handshake failed");
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                //  Logged every time: a key mismatch never heals by itself
                zsys_warning ("%s: %s refused our CURVE key (ZAP status %u)",
                              self->name, self->endpoint, value);
                s_set_up (self, false, "authentication failed");
                break;
            default:
                break;
        }
    }
    zmsg_destroy (&msg);
}


//  --------------------------------------------------------------------------
//  Start-up

static int
s_config_int (self_t *self, const char *key, int64_t min, int64_t max,
              int64_t fallback, int64_t *value, ord_why_t *why)
{
    return ord_adapter_config_int (self->args->config, key, min, max, fallback,
                                   false, value, why);
}

static bool
s_is_file (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static bool
s_all_zero (const byte *key)
{
    for (int i = 0; i < 32; i++)
        if (key [i])
            return false;
    return true;
}

//  server_key: a Z85 public key or the path of the service's certificate
static int
s_read_server_key (self_t *self, const char *text, ord_why_t *why)
{
    uint8_t key [32];
    if (strlen (text) == 40 && !s_is_file (text) && zmq_z85_decode (key, text)) {
        memcpy (self->server_key, text, 41);
        return 0;
    }
    if (!s_is_file (text)) {
        ord_why_set (why, "server_key: '%s' is neither a Z85 public key (40 characters)"
                     " nor a certificate file", text);
        return ORD_ECONFIG;
    }
    zcert_t *cert = zcert_load (text);
    if (!cert || s_all_zero (zcert_public_key (cert))) {
        zcert_destroy (&cert);
        ord_why_set (why, "server_key: cannot load a public key from '%s'", text);
        return ORD_ECONFIG;
    }
    memcpy (self->server_key, zcert_public_txt (cert), 41);
    zcert_destroy (&cert);
    return 0;
}

static int
s_read_config (self_t *self, ord_why_t *why)
{
    zconfig_t *config = self->args->config;
    for (zconfig_t *item = config? zconfig_child (config): NULL; item;
         item = zconfig_next (item)) {
        const char *key = zconfig_name (item);
        bool known = false;
        for (int i = 0; s_known_keys [i]; i++)
            if (key && streq (key, s_known_keys [i]))
                known = true;
        if (!known) {
            ord_why_set (why, "%s: not a key of the %s plugin (it keeps no data"
                         " of its own; see docs/PLUGINS.md)", key? key: "", self->name);
            return ORD_ECONFIG;
        }
    }
    const char *kind = config? zconfig_get (config, "kind", NULL): NULL;
    if (kind && *kind && !streq (kind, self->kind)) {
        if (streq (kind, "payment") || streq (kind, "fulfilment"))
            ord_why_set (why, "kind: '%s' does not match this plugin: %s forwards"
                         " %s calls (use bridge_%s.so for %s)",
                         kind, self->name, self->kind, kind, kind);
        else
            ord_why_set (why, "kind: '%s' is not payment or fulfilment (%s forwards"
                         " %s calls)", kind, self->name, self->kind);
        return ORD_ECONFIG;
    }
    self->endpoint = config? zconfig_get (config, "endpoint", NULL): NULL;
    if (!self->endpoint || !*self->endpoint) {
        ord_why_set (why, "endpoint: required (the service's address, say"
                     " tcp://127.0.0.1:8795)");
        return ORD_ECONFIG;
    }
    int rc = s_config_int (self, "call_timeout_ms", 1, 3600000, 3000,
                           &self->call_timeout, why);
    if (rc == 0)
        rc = s_config_int (self, "heartbeat_ms", 10, 3600000, 1000, &self->heartbeat, why);
    if (rc == 0)
        rc = s_config_int (self, "reconnect_ms", 1, 3600000, 100, &self->reconnect, why);
    if (rc == 0)
        rc = s_config_int (self, "reconnect_max_ms", 0, 3600000, 2000,
                           &self->reconnect_max, why);
    if (rc == 0)
        rc = s_config_int (self, "max_in_flight", 1, 1000000, 10000,
                           &self->max_in_flight, why);
    if (rc)
        return rc;
    //  orderd's own wait for an answer (its key, its default): ours should
    //  be shorter, so that orderd hears `unavailable` rather than a timeout
    int64_t orderd_timeout = 5000;
    ord_why_t ignored;
    if (s_config_int (self, "timeout_ms", 1, INT32_MAX, 5000, &orderd_timeout, &ignored) == 0
    &&  self->call_timeout >= orderd_timeout)
        zsys_warning ("%s: call_timeout_ms (%" PRId64 ") should be below timeout_ms"
                      " (%" PRId64 "), orderd's own wait", self->name,
                      self->call_timeout, orderd_timeout);

    const char *server_key = zconfig_get (config, "server_key", NULL);
    const char *cert = zconfig_get (config, "cert", NULL);
    if (server_key && *server_key) {
        rc = s_read_server_key (self, server_key, why);
        if (rc)
            return rc;
    }
    if (cert && *cert) {
        if (!self->server_key [0]) {
            ord_why_set (why, "cert: CURVE needs server_key too");
            return ORD_ECONFIG;
        }
        if (strlen (cert) > 240) {
            //  czmq builds "<path>_secret" in 256 bytes and cuts it silently
            ord_why_set (why, "cert: path longer than 240 bytes");
            return ORD_ECONFIG;
        }
        if (!s_is_file (cert)) {
            ord_why_set (why, "cert: cannot read '%s'", cert);
            return ORD_ECONFIG;
        }
        self->cert = zcert_load (cert);
        if (!self->cert || s_all_zero (zcert_secret_key (self->cert))) {
            ord_why_set (why, "cert: '%s' holds no secret key (give the certificate"
                         " whose '_secret' file is beside it)", cert);
            return ORD_ECONFIG;
        }
    }
    else
    if (self->server_key [0])
        self->cert = zcert_new ();      //  an ephemeral key: the service must allow any
    return 0;
}

static int
s_self_init (self_t *self, ord_why_t *why)
{
    int rc = s_read_config (self, why);
    if (rc)
        return rc;
    self->calls = zhashx_new ();
    if (!self->calls) {
        ord_why_set (why, "out of memory");
        return ORD_EINTERNAL;
    }
    snprintf (self->prefix, sizeof self->prefix, "b%08x",
              (unsigned) ((uint64_t) zclock_time () ^ (uintptr_t) self
                          ^ ((uint64_t) getpid () << 16)));

    //  The service side
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer) {
        ord_why_set (why, "cannot create the DEALER socket");
        return ORD_EINTERNAL;
    }
    int heartbeat = (int) self->heartbeat;
    //  A ping every heartbeat/2, and the link is cut when nothing comes
    //  back heartbeat/2 after it: a silent peer is noticed within heartbeat_ms
    zsock_set_heartbeat_ivl (self->dealer, heartbeat / 2);
    zsock_set_heartbeat_timeout (self->dealer, heartbeat / 2);
    //  Asks the peer to drop us when it hears nothing for twice that
    zsock_set_heartbeat_ttl (self->dealer, heartbeat * 2 < 6553599? heartbeat * 2: 6553599);
    zsock_set_handshake_ivl (self->dealer, heartbeat * 2 > 1000? heartbeat * 2: 1000);
    zsock_set_connect_timeout (self->dealer, heartbeat * 2 > 1000? heartbeat * 2: 1000);
    zsock_set_reconnect_ivl (self->dealer, (int) self->reconnect);
    zsock_set_reconnect_ivl_max (self->dealer, (int) self->reconnect_max);
    //  Queue nothing for a peer that is not there: a send then fails at once
    zsock_set_immediate (self->dealer, 1);
    zsock_set_sndhwm (self->dealer, 0);
    zsock_set_rcvhwm (self->dealer, 0);
    zsock_set_linger (self->dealer, 0);
    zsock_set_maxmsgsize (self->dealer, S_MAX_REPLY);
    if (self->server_key [0]) {
        zcert_apply (self->cert, self->dealer);
        zsock_set_curve_serverkey (self->dealer, self->server_key);
    }
    snprintf (self->monitor_endpoint, sizeof self->monitor_endpoint,
              "inproc://orderd-bridge-monitor-%p", (void *) self);
    if (zmq_socket_monitor (zsock_resolve (self->dealer), self->monitor_endpoint,
                            ZMQ_EVENT_ALL) == -1) {
        ord_why_set (why, "cannot monitor the DEALER socket: %s",
                     zmq_strerror (zmq_errno ()));
        return ORD_EINTERNAL;
    }
    self->monitoring = true;
    self->monitor = zsock_new (ZMQ_PAIR);
    if (!self->monitor || zsock_connect (self->monitor, "%s", self->monitor_endpoint)) {
        ord_why_set (why, "cannot connect to the DEALER's monitor");
        return ORD_EINTERNAL;
    }
    if (zsock_connect (self->dealer, "%s", self->endpoint)) {
        ord_why_set (why, "endpoint: cannot connect to '%s': %s", self->endpoint,
                     zmq_strerror (zmq_errno ()));
        return ORD_ECONFIG;
    }

    //  orderd's side
    rc = ord_adapter_router_bind (self->args, &self->router, why);
    if (rc)
        return rc;
    self->poller = zpoller_new (self->pipe, self->router, self->dealer,
                                self->monitor, NULL);
    if (!self->poller) {
        ord_why_set (why, "cannot create a poller");
        return ORD_EINTERNAL;
    }
    zpoller_set_nonstop (self->poller, true);

    //  Give a peer that is there the time of a heartbeat to be found, so
    //  that orderd's first calls and probes do not fail for nothing
    int64_t until = zclock_mono () + self->heartbeat;
    zpoller_t *waiter = zpoller_new (self->monitor, NULL);
    while (waiter && !self->up) {
        int64_t left = until - zclock_mono ();
        if (left <= 0 || !zpoller_wait (waiter, (int) left))
            break;
        s_handle_event (self);
    }
    zpoller_destroy (&waiter);
    if (!self->up)
        zsys_warning ("%s: peer %s is away for now; calls answer unavailable"
                      " until it is up", self->name, self->endpoint);
    return 0;
}

static void
s_self_destroy (self_t *self)
{
    while (self->head) {
        s_call_t *call = self->head;
        self->head = call->next;
        zmsg_destroy (&call->envelope);
        free (call);
    }
    self->tail = NULL;
    zhashx_destroy (&self->calls);
    zpoller_destroy (&self->poller);
    if (self->monitoring) {
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
        self->monitoring = false;
    }
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->router);
    zcert_destroy (&self->cert);
}

void
ord_bridge_run (zsock_t *pipe, const ord_plugin_args_t *args, const char *kind,
                const char *name)
{
    self_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.args = args;
    self.kind = kind;
    self.name = name;
    ord_adapter_thread_name (name);

    ord_why_t why;
    why.text [0] = 0;
    int rc = args? s_self_init (&self, &why): ORD_EINTERNAL;
    if (!ord_adapter_handshake (pipe, rc, &why)) {
        s_self_destroy (&self);
        return;
    }

    while (true) {
        int timeout = -1;
        if (self.head) {
            int64_t wait = self.head->deadline - zclock_mono ();
            timeout = wait < 0? 0: (int) wait;
        }
        void *which = zpoller_wait (self.poller, timeout);
        if (which == pipe) {
            if (ord_adapter_pipe_says_term (pipe))
                break;
        }
        else
        if (which == self.monitor) {
            //  Events before requests: a request that follows a disconnect
            //  must see the peer away
            while (zsock_events (self.monitor) & ZMQ_POLLIN)
                s_handle_event (&self);
        }
        else
        if (which == self.router) {
            for (int n = 0; n < 1024 && (zsock_events (self.router) & ZMQ_POLLIN); n++) {
                if (zsock_events (self.monitor) & ZMQ_POLLIN)
                    s_handle_event (&self);
                zmsg_t *msg = zmsg_recv (self.router);
                if (!msg)
                    break;
                s_handle_request (&self, msg);
            }
        }
        else
        if (which == self.dealer) {
            for (int n = 0; n < 1024 && (zsock_events (self.dealer) & ZMQ_POLLIN); n++) {
                zmsg_t *msg = zmsg_recv (self.dealer);
                if (!msg)
                    break;
                s_handle_reply (&self, msg);
            }
        }
        else
        if (zpoller_terminated (self.poller))
            break;
        s_expire (&self);
    }
    s_self_destroy (&self);
}
