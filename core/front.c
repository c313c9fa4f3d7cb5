/*  front: the doors. Takes requests off the service and admin doors,
    checks their envelope, answers replays and reads itself, and hands
    changes to the actor pool; sends the replies. Starts, recovers, runs
    and stops the whole. Its parts: idempotency, reads, pool,
    housekeeping. */
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "auth.h"
#include "backup.h"
#include "front.h"
#include "housekeeping.h"
#include "idempotency.h"
#include "reads.h"
#include "recovery.h"

#define S_STOP_GRACE_MS   30000    //  in-flight work gets this long at stop
#define S_BURST           64       //  messages taken from one socket a wake-up
#define S_REPLY_KEEP      65536    //  a reply buffer grown past this is freed
#define S_SPARE_FRAMES    64       //  frames kept for the next requests
#define S_SPARE_FRAME_MAX 4096     //  ...when they hold at most this many bytes

struct _ord_front_t {
    ord_engine_t *engine;
    ord_config_t *config;
    zsock_t *doors [2];
    zsock_t *replies;
    zloop_t *loop;
    ord_pool_t *pool;
    ord_idempotency_t *idempotency;
    ord_reads_t *reads;
    ord_housekeeping_t *housekeeping;
    zactor_t *backup;              //  runs admin backups, one at a time
    bool backup_running;
    ord_recovery_t *recovery;
    int64_t last_ms;
    uint32_t last_seq;
    bool stopping;
    int64_t stop_deadline;
    ord_stats_t *stats;
    msgpack_sbuffer reply;         //  replies packed here, one after the other
    zframe_t *spare_frames [S_SPARE_FRAMES];
    size_t spare_frame_count;
};

static void s_process (ord_front_t *self, ord_request_t *request);

//  Requests handed on and not answered yet: the actors', and a backup
static size_t
s_in_flight (ord_front_t *self)
{
    return ord_pool_inflight (self->pool) + self->backup_running;
}

//  ---------------------------------------------------------------------
//  Replies

//  A frame holding a copy of `size` bytes at `data`: a spare one refilled
//  when there is one. A new zframe_t is a 360-byte calloc, which glibc
//  serves from a small bin, not its thread cache, and in a loaded daemon
//  the chunk it hands out is cold: each request took two (its routing id
//  and its body) and each reply one.
static zframe_t *
s_frame_new (ord_front_t *self, const void *data, size_t size)
{
    if (self->spare_frame_count == 0)
        return zframe_new (data, size);
    zframe_t *frame = self->spare_frames [--self->spare_frame_count];
    zframe_reset (frame, data, size);
    return frame;
}

//  Keeps a frame for s_frame_new, or destroys it when enough are kept or
//  it holds a big body.
static void
s_frame_free (ord_front_t *self, zframe_t **frame_p)
{
    if (*frame_p && self->spare_frame_count < S_SPARE_FRAMES
    &&  zframe_size (*frame_p) <= S_SPARE_FRAME_MAX) {
        self->spare_frames [self->spare_frame_count++] = *frame_p;
        *frame_p = NULL;
    }
    else
        zframe_destroy (frame_p);
}

//  Sends a request's reply, if it has one, and destroys the request. The
//  reply is request->reply or, for one packed on the front, the bytes in
//  `packed`, which libzmq copies into its message: no zframe_t is made
//  for them (see s_frame_new).
static void
s_finish (ord_front_t *self, ord_request_t **request_p, const msgpack_sbuffer *packed)
{
    ord_request_t *request = *request_p;
    zlistx_t *held = request->idem_holder?
                     ord_idempotency_release (self->idempotency, request): NULL;
    if (request->door != ORD_DOOR_INTERNAL && (packed || request->reply)) {
        int64_t latency_us = zclock_usecs () - request->received_at_us;
        ord_stats_record (self->stats, request->op, latency_us, false);
        ord_metrics_request (self->engine->metrics, request->op, request->result, latency_us);
        //  The envelope, its frames kept for the next requests, then the
        //  reply after it: appending the reply to the envelope would cost
        //  a list node. What could not be sent is destroyed with the request
        zsock_t *door = self->doors [request->door];
        zframe_t *frame;
        int rc = 0;
        while (rc == 0 && request->envelope && (frame = zmsg_pop (request->envelope))) {
            rc = zframe_send (&frame, door, ZFRAME_MORE | ZFRAME_REUSE);
            s_frame_free (self, &frame);
        }
        if (rc == 0)
            rc = packed? zmq_send (zsock_resolve (door), packed->data, packed->size, 0)
                       : zframe_send (&request->reply, door, 0);
        if (rc < 0)
            ord_debug ("a %s reply was not sent: %s", ord_op_name (request->op),
                       zmq_strerror (zmq_errno ()));
    }
    if (request->door == ORD_DOOR_INTERNAL)
        ord_recovery_request_ended (self->recovery, request);
    //  The body is not read again: the decoded request points into it, but
    //  destroying that only frees its own zone
    s_frame_free (self, &request->body_frame);
    ord_request_destroy (request_p);
    //  Requests that waited on the same idempotency key now find its reply
    ord_request_t *next;
    while (held && (next = (ord_request_t *) zlistx_detach (held, NULL)))
        s_process (self, next);
    zlistx_destroy (&held);
}

static void
s_send (ord_front_t *self, ord_request_t **request_p)
{
    s_finish (self, request_p, NULL);
}

static void
s_fail (ord_front_t *self, ord_request_t **request_p, int rc, const char *message)
{
    ord_request_answer (*request_p, rc, message, NULL);
    s_send (self, request_p);
}

//  The front's reply buffer, emptied, with `pk` packing into it. Every
//  reply packed here reuses it: a buffer of its own costs each reply an
//  8 KiB malloc and free, and in glibc a malloc that size also sweeps the
//  fast bins that the many small allocations of a request are served from.
static void
s_reply_start (ord_front_t *self, msgpack_packer *pk)
{
    msgpack_sbuffer_clear (&self->reply);
    msgpack_packer_init (pk, &self->reply, msgpack_sbuffer_write);
}

//  Sends what was packed since s_reply_start as the request's reply. The
//  buffer is free again once sent, before requests waiting on the same
//  idempotency key are processed and pack their own.
static void
s_reply_send (ord_front_t *self, ord_request_t *request)
{
    s_finish (self, &request, &self->reply);
    if (self->reply.alloc > S_REPLY_KEEP) {
        //  A long history grew it: give that back
        msgpack_sbuffer_destroy (&self->reply);
        msgpack_sbuffer_init (&self->reply);
    }
}

//  How the pool refuses a request it cannot take.
static void
s_refuse (void *arg, ord_request_t *request, int rc, const char *message)
{
    s_fail ((ord_front_t *) arg, &request, rc, message);
}

//  Answers a read (get, list, health, stats) packed in the reply buffer.
static void
s_answer_read (ord_front_t *self, ord_request_t *request, ord_read_fn *read)
{
    msgpack_packer pk;
    ord_why_t why = { "" };
    s_reply_start (self, &pk);
    int rc = read (self->reads, request, &pk, &why);
    if (rc)
        s_fail (self, &request, rc, why.text [0]? why.text: NULL);
    else {
        request->result = 0;
        s_reply_send (self, request);
    }
}

//  A request handed back by an actor (or the backup actor), checked.
static ord_request_t *
s_recv_reply (zsock_t *replies)
{
    void *pointer = NULL;
    if (zsock_recv (replies, "p", &pointer) || !pointer)
        return NULL;
    return ord_request_check (pointer);
}

//  An actor answered: send the reply, free the actor if it is idle, and
//  let waiting requests in.
static int
s_on_reply (zloop_t *loop, zsock_t *replies, void *arg)
{
    (void) loop;
    ord_front_t *self = (ord_front_t *) arg;
    for (int taken = 0; taken < S_BURST; taken++) {
        if (taken > 0 && !(zsock_events (replies) & ZMQ_POLLIN))
            break;
        ord_request_t *request = s_recv_reply (replies);
        if (!request)
            break;
        if (ord_op_is (request->op, ORD_OPF_BACKUP))
            self->backup_running = false;
        else
            ord_pool_replied (self->pool, request);
        s_send (self, &request);
        ord_pool_drain (self->pool);
        if (self->stopping && s_in_flight (self) == 0)
            return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Requests

//  Ids sort by creation time: milliseconds, then a sequence within one.
static void
s_new_id (ord_front_t *self, char id [ORD_ORDER_ID_SIZE])
{
    int64_t now = ord_engine_now ();
    if (now > self->last_ms) {
        self->last_ms = now;
        self->last_seq = 0;
    }
    else
    if (++self->last_seq >= (1u << 20)) {
        self->last_ms++;
        self->last_seq = 0;
    }
    snprintf (id, ORD_ORDER_ID_SIZE, "o%016" PRIx64,
              ((uint64_t) self->last_ms << 20) | self->last_seq);
}

//  Answers from the idempotency record when there is one. Returns true
//  when the request was answered (or parked behind the same key).
static bool
s_idempotent_replay (ord_front_t *self, ord_request_t *request)
{
    int rc = 0;
    ord_why_t why = { "" };
    switch (ord_idempotency_check (self->idempotency, request, &rc, &why)) {
        case ORD_IDEM_FIRST:    return false;
        case ORD_IDEM_WAITS:    return true;
        case ORD_IDEM_REPLAYED: s_send (self, &request); return true;
        case ORD_IDEM_REFUSED:  s_fail (self, &request, rc, why.text); return true;
    }
    return false;
}

//  A create: the order is validated here and given its id, so that its
//  actor can be bound to it.
static void
s_create (ord_front_t *self, ord_request_t *request)
{
    ord_why_t why;
    ord_order_t *order = NULL;
    int rc = ord_order_from_request (&request->body.data, &order, &why);
    if (rc) {
        //  Let an idempotent retry of a refused create be evaluated afresh
        s_fail (self, &request, rc, why.text);
        return;
    }
    s_new_id (self, order->id);
    request->new_order = order;
    ord_pool_dispatch (self->pool, request, order->id);
}

//  Reads the order_id and the idempotency key the op asks for. Returns
//  false when the request was refused.
static bool
s_take_ids (ord_front_t *self, ord_request_t *request)
{
    const msgpack_object *body = &request->body.data;
    ord_why_t why;
    ord_str_t order_id, idem;
    order_id.ptr = NULL;
    if (ord_op_is (request->op, ORD_OPF_NEEDS_ORDER)
    &&  ord_wire_str (body, "order_id", true, 64, &order_id, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return false;
    }
    if (order_id.ptr) {
        if (order_id.len != ORD_ORDER_ID_SIZE - 1) {
            s_fail (self, &request, ORD_ENOTFOUND, "no such order");
            return false;
        }
        memcpy (request->order_id, order_id.ptr, order_id.len);
        request->order_id [order_id.len] = 0;
    }
    if (ord_op_is (request->op, ORD_OPF_WRITE) && !request->idem_key) {
        if (ord_wire_str (body, "idem", false, 128, &idem, &why)) {
            s_fail (self, &request, ORD_EBADREQ, why.text);
            return false;
        }
        if (idem.ptr && idem.len)
            ord_idempotency_key (request, idem);
    }
    return true;
}

//  Hands a backup to the backup actor, which answers when the copy is
//  whole: the copy never runs on this thread
static void
s_backup (ord_front_t *self, ord_request_t *request)
{
    if (self->backup_running) {
        s_fail (self, &request, ORD_EBUSY, "a backup is running");
        return;
    }
    self->backup_running = true;
    if (zsock_send (self->backup, "sp", "REQ", request)) {
        self->backup_running = false;
        s_fail (self, &request, ORD_EINTERNAL, "cannot reach the backup actor");
    }
}

//  Routes a decoded request by its row in the op table: a replay or a
//  read is answered here, a change goes to its order's actor.
static void
s_process (ord_front_t *self, ord_request_t *request)
{
    if (!s_take_ids (self, request))
        return;
    if (request->idem_key && s_idempotent_replay (self, request))
        return;
    const ord_op_spec_t *spec = ord_op_spec (request->op);
    if (spec->read)
        s_answer_read (self, request, spec->read);
    else
    if (spec->flags & ORD_OPF_NEW_ORDER)
        s_create (self, request);
    else
    if (spec->flags & ORD_OPF_BACKUP)
        s_backup (self, request);
    else
        ord_pool_dispatch (self->pool, request, spec->actor? spec->actor: request->order_id);
}

//  Takes one request off a door and answers or dispatches it; takes over
//  the envelope (the frames before the body) and the body
static void
s_take_request (ord_front_t *self, zsock_t *door, zmsg_t *envelope, zframe_t *body)
{
    ord_request_t *request = ord_request_new (door == self->doors [0]? ORD_DOOR_SERVICE
                                                                       : ORD_DOOR_ADMIN);
    ord_housekeeping_request_taken (self->housekeeping);
    request->envelope = envelope;
    request->op = ORD_OP_COUNT;
    if (zmsg_size (envelope) == 0) {
        //  No envelope means no way to answer: nothing came from a client
        zframe_destroy (&body);
        ord_request_destroy (&request);
        return;
    }
    ord_why_t why;
    if ((int64_t) zframe_size (body) > self->config->max_body) {
        ord_why_set (&why, "the body has %zu bytes; max_body is %" PRId64,
                     zframe_size (body), self->config->max_body);
        zframe_destroy (&body);
        s_fail (self, &request, ORD_ETOOLARGE, why.text);
        return;
    }
    //  The decoded body points into the frame, which lives as long as it
    request->body_frame = body;
    int rc = ord_wire_decode (zframe_data (body), zframe_size (body), &request->body, &why);
    if (rc) {
        //  A map refused for its depth or its strings still has its rid
        ord_str_t rid;
        ord_why_t ignored;
        if (ord_wire_str (&request->body.data, "rid", false, 64, &rid, &ignored) == 0
        &&  rid.ptr && ord_wire_utf8 (rid.ptr, rid.len))
            request->rid = rid;
        s_fail (self, &request, rc, why.text);
        return;
    }
    const msgpack_object *map = &request->body.data;
    ord_str_t rid, op;
    int64_t version = 0;
    if (ord_wire_str (map, "rid", false, 64, &rid, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    request->rid = rid;
    if (ord_wire_int (map, "v", true, INT64_MIN, INT64_MAX, &version, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    if (version != ORD_WIRE_VERSION) {
        ord_why_set (&why, "v: this orderd speaks version %d", ORD_WIRE_VERSION);
        s_fail (self, &request, ORD_EVERSION, why.text);
        return;
    }
    if (ord_wire_str (map, "op", true, 64, &op, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    request->op = ord_op_parse (op);
    if (request->op == ORD_OP_COUNT
    ||  (ord_op_is (request->op, ORD_OPF_ADMIN) && request->door == ORD_DOOR_SERVICE)) {
        ord_why_set (&why, "op: '%.*s' is not an operation of this door", (int) op.len, op.ptr);
        request->op = ORD_OP_COUNT;
        s_fail (self, &request, ORD_EUNKNOWNOP, why.text);
        return;
    }
    //  The service door acts for one user at a time; the admin door for all
    bool user_required = ord_op_is (request->op, ORD_OPF_USER)
                      || (request->door == ORD_DOOR_SERVICE
                          && !ord_op_is (request->op, ORD_OPF_ANONYMOUS));
    if (ord_wire_str (map, "user_id", user_required, ORD_MAX_ID_LEN, &request->user_id, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    rc = ord_request_take_deadline (request, ord_engine_now (), &why);
    if (rc) {
        s_fail (self, &request, rc, why.text);
        return;
    }
    if (self->stopping) {
        s_fail (self, &request, ORD_EUNAVAILABLE, "orderd is shutting down");
        return;
    }
    s_process (self, request);
}

//  Takes a message off a door if one is waiting: its last frame is the
//  body, those before it the envelope. Each frame comes from libzmq
//  itself into a spare frame (s_frame_new), and says if more follow:
//  zmsg_recv, and zsock_events to see if a message waits, would make new
//  frames and ask the socket for ZMQ_RCVMORE twice a frame and ZMQ_EVENTS
//  once a message, each a trip through its command queue.
static bool
s_recv (ord_front_t *self, zsock_t *door, zmsg_t **envelope_p, zframe_t **body_p)
{
    void *handle = zsock_resolve (door);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return false;
    }
    zmsg_t *envelope = zmsg_new ();
    zframe_t *frame = s_frame_new (self, zmq_msg_data (&part), zmq_msg_size (&part));
    while (frame && zmq_msg_more (&part)) {
        zmsg_append (envelope, &frame);
        //  The rest of a message is there once its first frame is
        int rc;
        while ((rc = zmq_msg_recv (&part, handle, 0)) < 0 && zmq_errno () == EINTR)
            ;
        frame = rc < 0? NULL: s_frame_new (self, zmq_msg_data (&part), zmq_msg_size (&part));
    }
    zmq_msg_close (&part);
    if (!frame) {
        zmsg_destroy (&envelope);
        return false;
    }
    *envelope_p = envelope;
    *body_p = frame;
    return true;
}

//  Up to S_BURST requests a wake-up: under load one poll serves many
static int
s_on_door (zloop_t *loop, zsock_t *door, void *arg)
{
    (void) loop;
    ord_front_t *self = (ord_front_t *) arg;
    zmsg_t *envelope;
    zframe_t *body;
    for (int taken = 0; taken < S_BURST && s_recv (self, door, &envelope, &body); taken++)
        s_take_request (self, door, envelope, body);
    return 0;
}


//  ---------------------------------------------------------------------
//  Stopping

//  Each second: the stats' rate windows move on, the metrics get the
//  pool's size, and a stop that waits
//  for work in flight gives up after S_STOP_GRACE_MS.
static int
s_on_second (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ord_front_t *self = (ord_front_t *) arg;
    ord_stats_tick (self->stats, atomic_load (&self->engine->transitions));
    ord_metrics_pool (self->engine->metrics, ord_pool_live (self->pool),
                      ord_pool_waiting (self->pool));
    if (self->stopping && zclock_mono () > self->stop_deadline) {
        zsys_warning ("stop: %zu requests still in flight after %d ms; stopping anyway",
                      s_in_flight (self), S_STOP_GRACE_MS);
        return -1;
    }
    return 0;
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    ord_front_t *self = (ord_front_t *) arg;
    struct signalfd_siginfo info;
    if (read (item->fd, &info, sizeof info) != sizeof info)
        return 0;
    if (self->stopping) {
        zsys_warning ("second signal: exiting at once");
        _exit (1);
    }
    zsys_info ("signal %u: stopping; %zu requests in flight", info.ssi_signo,
               s_in_flight (self));
    self->stopping = true;
    ord_housekeeping_stop (self->housekeeping);
    self->stop_deadline = zclock_mono () + S_STOP_GRACE_MS;
    for (int door = 0; door < 2; door++)
        if (self->doors [door])
            zloop_reader_end (loop, self->doors [door]);
    //  Requests that never reached an actor are answered now
    ord_pool_refuse_waiting (self->pool, ORD_EUNAVAILABLE, "orderd is shutting down");
    return s_in_flight (self) == 0? -1: 0;
}


//  ---------------------------------------------------------------------
//  Lifecycle

int
ord_front_new (ord_engine_t *engine, ord_front_t **front_p, ord_why_t *why)
{
    ord_front_t *self = (ord_front_t *) zmalloc (sizeof (ord_front_t));
    self->engine = engine;
    self->config = engine->config;
    msgpack_sbuffer_init (&self->reply);
    self->stats = ord_stats_new ();
    self->loop = zloop_new ();
    self->pool = ord_pool_new (engine, s_refuse, self);
    self->idempotency = ord_idempotency_new (engine);
    self->reads = ord_reads_new (engine, self->stats, self->pool);
    self->recovery = ord_recovery_new (engine, self->pool);
    snprintf (engine->replies, sizeof engine->replies, "inproc://orderd-replies-%p", (void *) self);
    self->replies = zsock_new (ZMQ_PULL);
    if (!self->replies || zsock_bind (self->replies, "%s", engine->replies) || !self->stats) {
        ord_why_set (why, "cannot set up the front's sockets");
        ord_front_destroy (&self);
        return ORD_EINTERNAL;
    }
    //  Ids stay sortable across restarts: start after the last one stored
    MDB_txn *txn;
    char last [ORD_ORDER_ID_SIZE];
    if (ord_store_read (engine->store, &txn) == 0) {
        if (ord_store_last_id (engine->store, txn, last) == 0 && last [0]) {
            uint64_t value = strtoull (last + 1, NULL, 16);
            self->last_ms = (int64_t) (value >> 20);
            self->last_seq = (uint32_t) (value & 0xfffff);
        }
        ord_store_read_end (engine->store, txn);
    }
    zloop_reader (self->loop, self->replies, s_on_reply, self);
    zloop_timer (self->loop, 1000, 0, s_on_second, self);
    self->housekeeping = ord_housekeeping_new (engine, self->pool, self->loop, why);
    self->backup = ord_backup_new (engine);
    if (!self->backup && self->housekeeping)
        ord_why_set (why, "cannot start the backup actor");
    if (!self->housekeeping || !self->backup) {
        ord_front_destroy (&self);
        return ORD_EINTERNAL;
    }
    *front_p = self;
    return 0;
}

void
ord_front_destroy (ord_front_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_front_t *self = *self_p;
    zloop_destroy (&self->loop);
    ord_housekeeping_destroy (&self->housekeeping);
    //  Waits for a backup still running: its copy is then whole
    zactor_destroy (&self->backup);
    ord_reads_destroy (&self->reads);
    ord_recovery_destroy (&self->recovery);
    //  Actors first: they may still hold requests that point at nothing here
    ord_pool_destroy (&self->pool);
    //  Replies that arrived after the loop ended
    ord_request_t *request;
    while (self->replies && zsock_events (self->replies) & ZMQ_POLLIN) {
        if (!(request = s_recv_reply (self->replies)))
            break;
        ord_request_destroy (&request);
    }
    ord_idempotency_destroy (&self->idempotency);
    zsock_destroy (&self->doors [0]);
    zsock_destroy (&self->doors [1]);
    zsock_destroy (&self->replies);
    ord_stats_destroy (&self->stats);
    msgpack_sbuffer_destroy (&self->reply);
    while (self->spare_frame_count)
        zframe_destroy (&self->spare_frames [--self->spare_frame_count]);
    free (self);
    *self_p = NULL;
}

size_t
ord_front_recover (ord_front_t *self)
{
    return ord_recovery_start (self->recovery);
}

int
ord_front_open (ord_front_t *self, ord_why_t *why)
{
    const char *endpoints [2] = { self->config->service, self->config->admin };
    const char *names [2] = { "orderd/service", "orderd/admin" };
    for (int door = 0; door < 2; door++) {
        self->doors [door] = zsock_new (ZMQ_ROUTER);
        if (!self->doors [door]) {
            ord_why_set (why, "%s: cannot create a socket", names [door]);
            return ORD_ECONFIG;
        }
        //  A slow reader never holds replies without bound; replies to it
        //  are dropped at the high-water mark instead of blocking orderd
        zsock_set_sndhwm (self->doors [door], 10000);
        zsock_set_rcvhwm (self->doors [door], 10000);
        zsock_set_router_mandatory (self->doors [door], 0);
        if (self->config->curve
        &&  ord_auth_server (self->doors [door], self->config->server_cert,
                             door == 0? ORD_AUTH_SERVICE: ORD_AUTH_ADMIN, why))
            return ORD_ECONFIG;
        if (zsock_bind (self->doors [door], "%s", endpoints [door]) < 0) {
            ord_why_set (why, "%s: cannot bind %s: %s", names [door], endpoints [door],
                         zmq_strerror (zmq_errno ()));
            return ORD_ECONFIG;
        }
        zloop_reader (self->loop, self->doors [door], s_on_door, self);
    }
    return 0;
}

int
ord_front_run (ord_front_t *self, int signal_fd)
{
    zmq_pollitem_t item = { NULL, signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &item, s_on_signal, self);
    zloop_start (self->loop);
    return 0;
}
