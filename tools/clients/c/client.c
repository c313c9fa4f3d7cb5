/*  orderd-client: see include/orderd/client.h and docs/CLIENTS.md. Plain
    libzmq on one process-wide context (no czmq sockets: a library must not
    install signal handlers in its host); czmq only to read certificates. */
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "orderd/client.h"
#include "wire.h"

#define S_RID_SIZE      17          //  16 hex digits of the tag, NUL
#define S_IDEM_SIZE     40

struct ordc_client_t {
    char *endpoint;
    bool curve_on;
    ordc_curve_t curve;
    void *sock;
    void *monitor;                  //  with CURVE: handshake events of sock
    ordc_handshake_t handshake;
    int timeout_ms;
    int retries;
    int sndhwm;
    volatile int *interrupt;
    uint64_t sequence;              //  tags of ordc_call
    msgpack_sbuffer head;           //  the request being sent, reused
    msgpack_packer pk;
};

struct ordc_events_t {
    void *sock;
};

//  ---------------------------------------------------------------------
//  The process-wide context, made on first use and never terminated (a
//  library cannot know when its host is done with it)

static void *s_context;
static pthread_once_t s_context_once = PTHREAD_ONCE_INIT;

static void
s_context_new (void)
{
    s_context = zmq_ctx_new ();
}

static void *
s_socket (int type)
{
    pthread_once (&s_context_once, s_context_new);
    if (!s_context)
        return NULL;
    void *sock = zmq_socket (s_context, type);
    if (sock) {
        //  Never keep the process alive for requests nobody will read
        int linger = 0;
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    return sock;
}

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  ---------------------------------------------------------------------
//  Codes

static const struct {
    const char *name;
    bool retryable;
} s_codes [ORDC_CODE_COUNT] = {
    [ORDC_OK]                   = { "ok", false },
    [ORDC_BAD_REQUEST]          = { "bad_request", false },
    [ORDC_UNSUPPORTED_VERSION]  = { "unsupported_version", false },
    [ORDC_UNKNOWN_OP]           = { "unknown_op", false },
    [ORDC_TOO_LARGE]            = { "too_large", false },
    [ORDC_NOT_FOUND]            = { "not_found", false },
    [ORDC_FORBIDDEN]            = { "forbidden", false },
    [ORDC_INVALID_TRANSITION]   = { "invalid_transition", false },
    [ORDC_IDEMPOTENCY_MISMATCH] = { "idempotency_mismatch", false },
    [ORDC_PAYMENT_DECLINED]     = { "payment_declined", false },
    [ORDC_OUT_OF_STOCK]         = { "out_of_stock", false },
    [ORDC_UNKNOWN_PRODUCT]      = { "unknown_product", false },
    [ORDC_UNAVAILABLE]          = { "unavailable", true },
    [ORDC_BUSY]                 = { "busy", true },
    [ORDC_INTERNAL]             = { "internal", true },
    [ORDC_DEADLINE_EXCEEDED]    = { "deadline_exceeded", false },
    [ORDC_UNKNOWN_CODE]         = { "unknown_code", false },
    [ORDC_TIMEOUT]              = { "timeout", true },
    [ORDC_INTERRUPTED]          = { "interrupted", false },
    [ORDC_BAD_REPLY]            = { "bad_reply", false },
    [ORDC_SEND]                 = { "send", true },
    [ORDC_REFUSED]              = { "refused", false },
    [ORDC_AGAIN]                = { "again", true },
    [ORDC_INVALID]              = { "invalid", false },
};

const char *
ordc_code_name (ordc_code_t code)
{
    return code >= 0 && code < ORDC_CODE_COUNT? s_codes [code].name: "unknown_code";
}

ordc_code_t
ordc_code_of (const char *name, size_t len)
{
    //  Only orderd's own codes come over the wire
    for (int code = ORDC_BAD_REQUEST; code < ORDC_UNKNOWN_CODE; code++)
        if (strlen (s_codes [code].name) == len && memcmp (s_codes [code].name, name, len) == 0)
            return (ordc_code_t) code;
    return ORDC_UNKNOWN_CODE;
}

bool
ordc_code_retryable (ordc_code_t code)
{
    return code >= 0 && code < ORDC_CODE_COUNT && s_codes [code].retryable;
}

bool
ordc_op_is_write (const char *op)
{
    static const char *writes [] = {
        "create", "initiate_payment", "confirm", "cancel", "delete",
        "advance", "retry", "resolve", NULL
    };
    for (int i = 0; op && writes [i]; i++)
        if (streq (op, writes [i]))
            return true;
    return false;
}

//  ---------------------------------------------------------------------
//  Bodies

void
ordc_body_init (ordc_body_t *self)
{
    msgpack_sbuffer_init (&self->buffer);
    msgpack_packer_init (&self->pk, &self->buffer, msgpack_sbuffer_write);
    self->count = 0;
}

void
ordc_body_destroy (ordc_body_t *self)
{
    msgpack_sbuffer_destroy (&self->buffer);
    self->count = 0;
}

void
ordc_body_reset (ordc_body_t *self)
{
    msgpack_sbuffer_clear (&self->buffer);
    self->count = 0;
}

void
ordc_body_str (ordc_body_t *self, const char *key, const char *value)
{
    ordc_body_strn (self, key, value, value? strlen (value): 0);
}

void
ordc_body_strn (ordc_body_t *self, const char *key, const char *value, size_t len)
{
    msgpack_packer *pk = ordc_body_value (self, key);
    if (value) {
        msgpack_pack_str (pk, len);
        msgpack_pack_str_body (pk, value, len);
    }
    else
        msgpack_pack_nil (pk);
}

void
ordc_body_int (ordc_body_t *self, const char *key, int64_t value)
{
    msgpack_pack_int64 (ordc_body_value (self, key), value);
}

void
ordc_body_bool (ordc_body_t *self, const char *key, bool value)
{
    msgpack_packer *pk = ordc_body_value (self, key);
    if (value)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
}

msgpack_packer *
ordc_body_value (ordc_body_t *self, const char *key)
{
    ord_pack_cstr (&self->pk, key);
    self->count++;
    return &self->pk;
}

//  ---------------------------------------------------------------------
//  Replies

void
ordc_reply_init (ordc_reply_t *self)
{
    memset (self, 0, sizeof *self);
}

void
ordc_reply_reset (ordc_reply_t *self)
{
    if (self->_msg) {
        zmq_msg_close ((zmq_msg_t *) self->_msg);
        free (self->_msg);
    }
    if (self->_zone)
        msgpack_zone_free (self->_zone);
    ordc_reply_init (self);
}

void
ordc_reply_move (ordc_reply_t *dest, ordc_reply_t *src)
{
    ordc_reply_reset (dest);
    *dest = *src;
    //  body points at the root, which moved with the struct
    if (dest->body)
        dest->body = &dest->_root;
    ordc_reply_init (src);
}

//  A failure on our side: no body
static ordc_code_t
s_reply_fail (ordc_reply_t *reply, ordc_code_t code, const char *format, ...)
{
    reply->code = code;
    reply->ok = false;
    reply->retryable = ordc_code_retryable (code);
    reply->body = NULL;
    snprintf (reply->code_text, sizeof reply->code_text, "%s", ordc_code_name (code));
    va_list args;
    va_start (args, format);
    vsnprintf (reply->message, sizeof reply->message, format, args);
    va_end (args);
    return code;
}

//  Decodes the body in reply->_msg. Returns ORDC_OK (whatever the reply
//  said: see reply->code) or ORDC_BAD_REPLY.
static ordc_code_t
s_reply_decode (ordc_reply_t *reply)
{
    zmq_msg_t *msg = (zmq_msg_t *) reply->_msg;
    if (!reply->_zone)
        reply->_zone = msgpack_zone_new (2048);
    else
        msgpack_zone_clear (reply->_zone);
    size_t offset = 0;
    //  Not ord_wire_decode: its depth limit is for requests, and an order
    //  inside a list reply sits a few levels deeper than in its create
    if (!reply->_zone
    ||  msgpack_unpack ((const char *) zmq_msg_data (msg), zmq_msg_size (msg), &offset,
                        reply->_zone, &reply->_root) != MSGPACK_UNPACK_SUCCESS
    ||  reply->_root.type != MSGPACK_OBJECT_MAP)
        return s_reply_fail (reply, ORDC_BAD_REPLY, "the reply is not a msgpack map");
    reply->body = &reply->_root;
    const msgpack_object *ok = ord_wire_find (reply->body, "ok");
    reply->ok = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    reply->message [0] = 0;
    if (reply->ok) {
        reply->code = ORDC_OK;
        snprintf (reply->code_text, sizeof reply->code_text, "ok");
    }
    else {
        const msgpack_object *error = ord_wire_find (reply->body, "error");
        ord_str_t code = ord_str_of (ord_wire_find (error, "code"));
        ord_str_t message = ord_str_of (ord_wire_find (error, "message"));
        //  A refusal without a code is orderd's fault: call it internal
        if (!code.ptr || !code.len) {
            code.ptr = "internal";
            code.len = 8;
        }
        reply->code = ordc_code_of (code.ptr, code.len);
        snprintf (reply->code_text, sizeof reply->code_text, "%.*s", (int) code.len, code.ptr);
        snprintf (reply->message, sizeof reply->message, "%.*s",
                  (int) message.len, message.ptr? message.ptr: "");
    }
    reply->retryable = ordc_code_retryable (reply->code);
    return ORDC_OK;
}

//  ---------------------------------------------------------------------
//  Reading replies

const msgpack_object *
ordc_find (const msgpack_object *map, const char *path)
{
    while (map && path) {
        const char *dot = strchr (path, '.');
        size_t len = dot? (size_t) (dot - path): strlen (path);
        char key [64];
        if (len >= sizeof key)
            return NULL;
        memcpy (key, path, len);
        key [len] = 0;
        map = ord_wire_find (map, key);
        path = dot? dot + 1: NULL;
    }
    return map;
}

const char *
ordc_str (const msgpack_object *object, size_t *len)
{
    ord_str_t str = ord_str_of (object);
    if (len)
        *len = str.ptr? str.len: 0;
    return str.ptr;
}

int64_t
ordc_int (const msgpack_object *object, int64_t fallback)
{
    if (object && object->type == MSGPACK_OBJECT_POSITIVE_INTEGER
    &&  object->via.u64 <= (uint64_t) INT64_MAX)
        return (int64_t) object->via.u64;
    if (object && object->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return object->via.i64;
    return fallback;
}

int
ordc_copy_str (const msgpack_object *map, const char *path, char *buffer, size_t size)
{
    size_t len;
    const char *str = ordc_str (ordc_find (map, path), &len);
    if (size)
        buffer [0] = 0;
    if (!str || len >= size)
        return -1;
    memcpy (buffer, str, len);
    buffer [len] = 0;
    return (int) len;
}

//  ---------------------------------------------------------------------
//  CURVE keys

static bool
s_z85_key (const char *text)
{
    uint8_t decoded [32];
    return text && strlen (text) == 40 && zmq_z85_decode (decoded, text) != NULL;
}

static bool
s_ends_with (const char *text, const char *tail)
{
    size_t len = strlen (text), tail_len = strlen (tail);
    return len >= tail_len && streq (text + len - tail_len, tail);
}

ordc_code_t
ordc_curve_load (ordc_curve_t *curve, const char *cert_path, const char *server_key,
                 char *why, size_t why_size)
{
    memset (curve, 0, sizeof *curve);
    if (!cert_path || !server_key) {
        snprintf (why, why_size, "CURVE needs our own pair and orderd's public key");
        return ORDC_INVALID;
    }
    //  zcert_load reads <path>_secret and quietly falls back to the public
    //  half alone, which cannot talk CURVE: insist on the secret
    char secret [PATH_MAX];
    snprintf (secret, sizeof secret, "%s_secret", cert_path);
    if (access (secret, R_OK) != 0 && !s_ends_with (cert_path, "_secret")) {
        snprintf (why, why_size, "%s: cannot read %s (%s); give the path of a pair from "
                  "`ordermon keygen`, without _secret", cert_path, secret, strerror (errno));
        return ORDC_INVALID;
    }
    zcert_t *cert = zcert_load (cert_path);
    if (!cert || !s_z85_key (zcert_secret_txt (cert))
    ||  streq (zcert_secret_txt (cert), "0000000000000000000000000000000000000000")) {
        snprintf (why, why_size, "%s: not a CURVE certificate with a secret key", cert_path);
        zcert_destroy (&cert);
        return ORDC_INVALID;
    }
    snprintf (curve->public_key, ORDC_KEY_SIZE, "%s", zcert_public_txt (cert));
    snprintf (curve->secret_key, ORDC_KEY_SIZE, "%s", zcert_secret_txt (cert));
    zcert_destroy (&cert);
    //  orderd's key: a certificate file (either half), else the key itself
    struct stat st;
    if (stat (server_key, &st) == 0) {
        zcert_t *server = S_ISREG (st.st_mode)? zcert_load (server_key): NULL;
        if (!server || !s_z85_key (zcert_public_txt (server))) {
            snprintf (why, why_size, "%s: not a CURVE certificate file", server_key);
            zcert_destroy (&server);
            return ORDC_INVALID;
        }
        snprintf (curve->server_key, ORDC_KEY_SIZE, "%s", zcert_public_txt (server));
        zcert_destroy (&server);
    }
    else
    if (s_z85_key (server_key))
        snprintf (curve->server_key, ORDC_KEY_SIZE, "%s", server_key);
    else {
        snprintf (why, why_size, "%s: neither a 40-character Z85 key nor a readable "
                  "certificate file", server_key);
        return ORDC_INVALID;
    }
    return ORDC_OK;
}

//  ---------------------------------------------------------------------
//  Connections

//  Watches the handshakes of a CURVE socket, so that a refused key can be
//  told apart from a daemon that is not there. NULL when it cannot (then
//  nobody says why a call timed out; the call still works).
static void *
s_monitor (void *sock)
{
    static atomic_int sequence;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://orderd-client-monitor-%d-%d",
              (int) getpid (), atomic_fetch_add (&sequence, 1));
    if (zmq_socket_monitor (sock, endpoint, ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                          | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                          | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
        return NULL;
    void *monitor = s_socket (ZMQ_PAIR);
    if (monitor && zmq_connect (monitor, endpoint) != 0) {
        zmq_close (monitor);
        monitor = NULL;
    }
    if (!monitor)
        zmq_socket_monitor (sock, NULL, 0);
    return monitor;
}

static void
s_disconnect (ordc_client_t *self)
{
    if (self->monitor) {
        zmq_socket_monitor (self->sock, NULL, 0);
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
    if (self->sock) {
        zmq_close (self->sock);
        self->sock = NULL;
    }
    self->handshake = ORDC_HANDSHAKE_UNKNOWN;
}

static int
s_connect (ordc_client_t *self)
{
    void *sock = s_socket (ZMQ_DEALER);
    if (!sock)
        return -1;
    int hwm = self->sndhwm;
    int rc = zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (rc == 0 && hwm == 0)
        rc = zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (rc == 0 && self->curve_on) {
        //  Before connecting: the handshake uses what is set at connect time
        rc = zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, self->curve.server_key, 41);
        if (rc == 0)
            rc = zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, self->curve.public_key, 41);
        if (rc == 0)
            rc = zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, self->curve.secret_key, 41);
    }
    self->sock = sock;
    if (rc == 0 && self->curve_on)
        self->monitor = s_monitor (sock);
    if (rc != 0 || zmq_connect (sock, self->endpoint) != 0) {
        s_disconnect (self);
        return -1;
    }
    return 0;
}

ordc_client_t *
ordc_client_new (const char *endpoint, const ordc_curve_t *curve)
{
    if (!endpoint)
        return NULL;
    if (curve && (!s_z85_key (curve->server_key) || !s_z85_key (curve->public_key)
                  || !s_z85_key (curve->secret_key)))
        return NULL;
    ordc_client_t *self = (ordc_client_t *) calloc (1, sizeof (ordc_client_t));
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    if (curve) {
        self->curve_on = true;
        self->curve = *curve;
    }
    self->timeout_ms = ORDC_TIMEOUT_MS;
    self->retries = ORDC_RETRIES;
    self->sndhwm = 1000;
    msgpack_sbuffer_init (&self->head);
    msgpack_packer_init (&self->pk, &self->head, msgpack_sbuffer_write);
    if (!self->endpoint || s_connect (self))
        ordc_client_destroy (&self);
    return self;
}

void
ordc_client_destroy (ordc_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ordc_client_t *self = *self_p;
    s_disconnect (self);
    msgpack_sbuffer_destroy (&self->head);
    //  The secret key does not outlive the client in freed memory
    memset (&self->curve, 0, sizeof self->curve);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

void
ordc_client_set_timeout (ordc_client_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms > 0? timeout_ms: ORDC_TIMEOUT_MS;
}

void
ordc_client_set_retries (ordc_client_t *self, int retries)
{
    self->retries = retries > 0? retries: 0;
}

void
ordc_client_set_sndhwm (ordc_client_t *self, int messages)
{
    self->sndhwm = messages > 0? messages: 0;
}

void
ordc_client_set_interrupt (ordc_client_t *self, volatile int *flag)
{
    self->interrupt = flag;
}

ordc_code_t
ordc_client_reset (ordc_client_t *self)
{
    s_disconnect (self);
    return s_connect (self)? ORDC_SEND: ORDC_OK;
}

void *
ordc_client_handle (ordc_client_t *self)
{
    return self->sock;
}

int
ordc_client_fd (ordc_client_t *self)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (!self->sock || zmq_getsockopt (self->sock, ZMQ_FD, &fd, &size) != 0)
        return -1;
    return fd;
}

const char *
ordc_client_endpoint (ordc_client_t *self)
{
    return self->endpoint;
}

ordc_handshake_t
ordc_client_handshake (ordc_client_t *self)
{
    while (self->monitor) {
        zmq_msg_t head;
        zmq_msg_init (&head);
        if (zmq_msg_recv (&head, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&head);
            break;
        }
        if (zmq_msg_size (&head) >= 2) {
            uint16_t event;
            memcpy (&event, zmq_msg_data (&head), sizeof event);
            self->handshake = event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED? ORDC_HANDSHAKE_OK
                            : event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH? ORDC_HANDSHAKE_REFUSED
                            : ORDC_HANDSHAKE_FAILED;
        }
        //  A monitor event has two frames: drop the rest
        while (zmq_msg_more (&head) && zmq_msg_recv (&head, self->monitor, ZMQ_DONTWAIT) >= 0)
            ;
        zmq_msg_close (&head);
    }
    return self->handshake;
}

//  ---------------------------------------------------------------------
//  Requests

//  A fresh idempotency key: 128 random bits in hex
static void
s_make_idem (char idem [S_IDEM_SIZE])
{
    static atomic_ullong fallback;
    uint8_t bytes [16];
    if (getrandom (bytes, sizeof bytes, 0) != (ssize_t) sizeof bytes) {
        //  No entropy source: time, process and a counter are unique enough
        uint64_t parts [2] = { (uint64_t) s_wall_ms () ^ ((uint64_t) getpid () << 40),
                               atomic_fetch_add (&fallback, 1) };
        memcpy (bytes, parts, sizeof bytes);
    }
    memcpy (idem, "k-", 2);
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf (idem + 2 + i * 2, 3, "%02x", bytes [i]);
}

ordc_code_t
ordc_send (ordc_client_t *self, const char *op, const ordc_body_t *body,
           const ordc_options_t *options, uint64_t tag)
{
    if (!op)
        return ORDC_INVALID;
    if (!self->sock)
        return ORDC_SEND;
    char rid [S_RID_SIZE];
    int rid_len = snprintf (rid, sizeof rid, "%" PRIx64, tag);
    const char *idem = options? options->idem: NULL;
    int64_t deadline_ms = options? options->deadline_ms: 0;
    msgpack_sbuffer_clear (&self->head);
    msgpack_pack_map (&self->pk, 3 + (idem? 1: 0) + (deadline_ms > 0? 1: 0)
                                   + (body? body->count: 0));
    ord_pack_kv_int (&self->pk, "v", ORD_WIRE_VERSION);
    ord_pack_kv_cstr (&self->pk, "op", op);
    ord_pack_kv_cstr (&self->pk, "rid", rid);
    if (idem)
        ord_pack_kv_cstr (&self->pk, "idem", idem);
    if (deadline_ms > 0)
        ord_pack_kv_int (&self->pk, "deadline", deadline_ms);
    if (body && body->count)
        ord_pack_raw (&self->pk, body->buffer.data, body->buffer.size);
    //  [rid, body]: orderd hands every frame before the body back in front
    //  of its reply, even when it could not read the body. A DEALER queues
    //  for a peer that is not there yet; DONTWAIT fails only when full.
    if (zmq_send (self->sock, rid, (size_t) rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return ORDC_SEND;
    //  The first frame is queued: the second always fits
    if (zmq_send (self->sock, self->head.data, self->head.size, 0) < 0)
        return ORDC_SEND;
    return ORDC_OK;
}

static bool
s_parse_tag (const void *data, size_t size, uint64_t *tag)
{
    char text [S_RID_SIZE];
    if (size == 0 || size >= sizeof text)
        return false;
    memcpy (text, data, size);
    text [size] = 0;
    char *end;
    errno = 0;
    *tag = strtoull (text, &end, 16);
    return *end == 0 && errno == 0;
}

ordc_code_t
ordc_recv (ordc_client_t *self, ordc_reply_t *reply)
{
    if (!self->sock)
        return ORDC_AGAIN;
    if (!reply->_msg) {
        reply->_msg = malloc (sizeof (zmq_msg_t));
        if (!reply->_msg)
            return ORDC_AGAIN;
        zmq_msg_init ((zmq_msg_t *) reply->_msg);
    }
    zmq_msg_t *body = (zmq_msg_t *) reply->_msg;
    if (zmq_msg_recv (body, self->sock, ZMQ_DONTWAIT) < 0)
        return ORDC_AGAIN;
    //  [rid, body]; the tag is the first frame, the body the last
    bool tagged = false;
    if (zmq_msg_more (body)) {
        tagged = s_parse_tag (zmq_msg_data (body), zmq_msg_size (body), &reply->tag);
        while (zmq_msg_more (body)) {
            int rc;
            while ((rc = zmq_msg_recv (body, self->sock, 0)) < 0 && zmq_errno () == EINTR)
                ;
            if (rc < 0)
                return s_reply_fail (reply, ORDC_BAD_REPLY, "a reply was cut short");
        }
    }
    if (s_reply_decode (reply) != ORDC_OK)
        return ORDC_BAD_REPLY;
    //  The body's rid, when it has one, must agree with the first frame: a
    //  reply that names another request is nobody's here (tag 0)
    size_t len;
    const char *rid = ordc_str (ord_wire_find (reply->body, "rid"), &len);
    uint64_t named;
    if (rid && (!s_parse_tag (rid, len, &named) || (tagged && named != reply->tag)))
        reply->tag = 0;
    else
    if (rid && !tagged)
        reply->tag = named;         //  a reply to a one-frame request
    else
    if (!tagged)
        reply->tag = 0;
    return ORDC_OK;
}

//  Waits up to wait_ms for the reply tagged `tag`, dropping others (late
//  replies of earlier attempts). ORDC_OK with the reply filled, or
//  ORDC_TIMEOUT, ORDC_INTERRUPTED, ORDC_REFUSED, ORDC_BAD_REPLY.
static ordc_code_t
s_wait (ordc_client_t *self, uint64_t tag, int64_t wait_ms, ordc_reply_t *reply)
{
    int64_t until = s_mono_ms () + wait_ms;
    while (true) {
        ordc_code_t rc = ordc_recv (self, reply);
        if (rc == ORDC_OK && reply->tag == tag)
            return ORDC_OK;
        if (rc == ORDC_BAD_REPLY)
            return rc;      //  cannot be matched; if it was ours, say what we saw
        if (rc == ORDC_OK)
            continue;       //  a stale reply
        int64_t left = until - s_mono_ms ();
        if (left <= 0)
            return ORDC_TIMEOUT;
        zmq_pollitem_t items [2] = {
            { self->sock, 0, ZMQ_POLLIN, 0 },
            { self->monitor, 0, ZMQ_POLLIN, 0 }
        };
        int ready = zmq_poll (items, self->monitor? 2: 1, (long) left);
        if (ready < 0) {
            if (zmq_errno () == EINTR && !(self->interrupt && *self->interrupt))
                continue;
            return s_reply_fail (reply, ORDC_INTERRUPTED, "interrupted");
        }
        //  A refused key stays refused: no need to wait out the timeout
        if (ready > 0 && items [1].revents
        &&  ordc_client_handshake (self) == ORDC_HANDSHAKE_REFUSED)
            return s_reply_fail (reply, ORDC_REFUSED, "orderd at %s refused our CURVE key",
                                 self->endpoint);
    }
}

ordc_code_t
ordc_call (ordc_client_t *self, const char *op, const ordc_body_t *body,
           const ordc_options_t *options, ordc_reply_t *reply)
{
    if (!op)
        return s_reply_fail (reply, ORDC_INVALID, "no op");
    ordc_options_t given = { 0 };
    if (options)
        given = *options;
    int timeout_ms = given.timeout_ms > 0? given.timeout_ms: self->timeout_ms;
    int retries = given.retries < 0? 0: given.retries > 0? given.retries: self->retries;
    //  One key for the whole logical operation: every attempt carries it
    char made [S_IDEM_SIZE];
    ordc_options_t sent = given;
    if (!ordc_op_is_write (op) || given.no_idem)
        sent.idem = NULL;
    else
    if (!given.idem) {
        s_make_idem (made);
        sent.idem = made;
    }
    //  A write without a key is sent once: orderd may have carried it out
    bool may_retry = !ordc_op_is_write (op) || sent.idem;
    for (int attempt = 1; ; attempt++) {
        int64_t wait_ms = timeout_ms;
        if (given.deadline_ms > 0) {
            int64_t left = given.deadline_ms - s_wall_ms ();
            if (left <= 0)
                return s_reply_fail (reply, ORDC_DEADLINE_EXCEEDED,
                                     "the deadline passed with no reply (%d attempts)",
                                     attempt - 1);
            if (left < wait_ms)
                wait_ms = left;
        }
        uint64_t tag = ++self->sequence;
        if (ordc_send (self, op, body, &sent, tag) != ORDC_OK)
            return s_reply_fail (reply, ORDC_SEND, "the request could not be queued for %s",
                                 self->endpoint);
        ordc_code_t rc = s_wait (self, tag, wait_ms, reply);
        if (rc == ORDC_OK)
            return reply->code;
        if (rc != ORDC_TIMEOUT)
            return rc;
        //  Lazy Pirate: the old socket may hold the request queued for a
        //  daemon that is gone; a new one starts afresh. What its handshake
        //  saw stays readable (a wrong server key shows as a timeout).
        ordc_handshake_t handshake = ordc_client_handshake (self);
        bool reopened = ordc_client_reset (self) == ORDC_OK;
        self->handshake = handshake;
        bool deadline_passed = given.deadline_ms > 0 && s_wall_ms () >= given.deadline_ms;
        if (deadline_passed)
            return s_reply_fail (reply, ORDC_DEADLINE_EXCEEDED,
                                 "the deadline passed with no reply (%d attempts)", attempt);
        if (!reopened || !may_retry || attempt > retries)
            return s_reply_fail (reply, ORDC_TIMEOUT, "no reply from %s within %d ms "
                                 "(%d attempt%s%s)", self->endpoint, timeout_ms, attempt,
                                 attempt > 1? "s": "",
                                 may_retry? "": "; a write without a key is not retried");
    }
}

//  ---------------------------------------------------------------------
//  Events

ordc_events_t *
ordc_events_new (const char *endpoint, const char *prefix)
{
    if (!endpoint)
        return NULL;
    ordc_events_t *self = (ordc_events_t *) calloc (1, sizeof (ordc_events_t));
    if (!self)
        return NULL;
    self->sock = s_socket (ZMQ_SUB);
    const char *topic = prefix? prefix: "";
    if (!self->sock
    ||  zmq_setsockopt (self->sock, ZMQ_SUBSCRIBE, topic, strlen (topic)) != 0
    ||  zmq_connect (self->sock, endpoint) != 0)
        ordc_events_destroy (&self);
    return self;
}

void
ordc_events_destroy (ordc_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->sock)
        zmq_close ((*self_p)->sock);
    free (*self_p);
    *self_p = NULL;
}

void *
ordc_events_handle (ordc_events_t *self)
{
    return self->sock;
}

//  Fills the event from its two frames. Returns ORDC_OK or ORDC_BAD_REPLY.
static ordc_code_t
s_event_decode (zmq_msg_t *topic, zmq_msg_t *body, ordc_event_t *event)
{
    memset (event, 0, sizeof *event);
    snprintf (event->topic, sizeof event->topic, "%.*s",
              (int) zmq_msg_size (topic), (const char *) zmq_msg_data (topic));
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    ordc_code_t rc = ORDC_BAD_REPLY;
    if (msgpack_unpack_next (&unpacked, (const char *) zmq_msg_data (body), zmq_msg_size (body),
                             &offset) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *map = &unpacked.data;
        ordc_copy_str (map, "order_id", event->order_id, sizeof event->order_id);
        ordc_copy_str (map, "user_id", event->user_id, sizeof event->user_id);
        ordc_copy_str (map, "from", event->from, sizeof event->from);
        ordc_copy_str (map, "to", event->to, sizeof event->to);
        ordc_copy_str (map, "reason", event->reason, sizeof event->reason);
        event->seq = ordc_int (ord_wire_find (map, "seq"), 0);
        event->at_ms = ordc_int (ord_wire_find (map, "at"), 0);
        rc = event->order_id [0] && event->to [0]? ORDC_OK: ORDC_BAD_REPLY;
    }
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}

ordc_code_t
ordc_events_recv (ordc_events_t *self, int timeout_ms, ordc_event_t *event)
{
    int64_t until = s_mono_ms () + timeout_ms;
    zmq_pollitem_t item = { self->sock, 0, ZMQ_POLLIN, 0 };
    while (true) {
        int64_t left = until - s_mono_ms ();
        int ready = zmq_poll (&item, 1, (long) (left > 0? left: 0));
        if (ready < 0 && zmq_errno () == EINTR)
            return ORDC_INTERRUPTED;
        if (ready > 0)
            break;
        if (left <= 0)
            return ORDC_TIMEOUT;
    }
    zmq_msg_t topic, body;
    zmq_msg_init (&topic);
    zmq_msg_init (&body);
    ordc_code_t rc = ORDC_BAD_REPLY;
    if (zmq_msg_recv (&topic, self->sock, 0) >= 0 && zmq_msg_more (&topic)
    &&  zmq_msg_recv (&body, self->sock, 0) >= 0) {
        rc = zmq_msg_more (&body)? ORDC_BAD_REPLY: s_event_decode (&topic, &body, event);
        //  Anything after the two frames is not an event of ours
        while (zmq_msg_more (&body) && zmq_msg_recv (&body, self->sock, 0) >= 0)
            ;
    }
    zmq_msg_close (&topic);
    zmq_msg_close (&body);
    return rc;
}
