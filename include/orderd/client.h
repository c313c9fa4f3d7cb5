/*  orderd-client: the official C client of orderd's service and admin
    doors (docs/PROTOCOL.md) and of its event feed. Shared library
    liborderd-client.so, pkg-config name `orderd-client`; docs/CLIENTS.md.

    What every call does for you:
    - a per-attempt timeout and an optional deadline (absolute ms since
      the epoch), sent as `deadline` so orderd refuses the request with
      `deadline_exceeded` once it has passed;
    - the Lazy Pirate pattern: on a timeout the socket is closed and a new
      one connected, then the request is sent again, but only a read or a
      write that carries its idempotency key;
    - an idempotency key made for each write (the same on every retry of
      that call), unless the caller gives its own;
    - the two-frame envelope [rid, body]: replies are matched on their
      first frame, so even a refusal whose `rid` is nil (too_large, a body
      that is not msgpack) finds its call;
    - typed errors (ordc_code_t) that say whether a retry can help;
    - CURVE (docs/SECURITY.md) when given the keys.

        ordc_client_t *client = ordc_client_new ("tcp://127.0.0.1:8791", NULL);
        ordc_body_t body;
        ordc_body_init (&body);
        ordc_body_str (&body, "user_id", "u1");
        ordc_body_str (&body, "order_id", id);
        ordc_reply_t reply;
        ordc_reply_init (&reply);
        ordc_code_t code = ordc_call (client, "get", &body, NULL, &reply);
        if (code == ORDC_OK) ... ordc_find (reply.body, "order") ...
        else printf ("%s: %s (retryable: %d)\n", reply.code_text, reply.message,
                     reply.retryable);
        ordc_reply_reset (&reply);
        ordc_body_destroy (&body);
        ordc_client_destroy (&client);

    A client is one socket: use it from one thread at a time. */
#ifndef ORDERD_CLIENT_H_INCLUDED
#define ORDERD_CLIENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORDC_VERSION            "1.0.0"
#define ORDC_TIMEOUT_MS         3000    /* default per-attempt timeout */
#define ORDC_RETRIES            3       /* default extra attempts after a timeout */
#define ORDC_KEY_SIZE           41      /* a Z85 CURVE key and its NUL */

//  ---------------------------------------------------------------------
//  Outcomes: ORDC_OK, a code orderd answered, or what went wrong on our side

typedef enum {
    ORDC_OK = 0,
    //  orderd's error codes (docs/PROTOCOL.md)
    ORDC_BAD_REQUEST,
    ORDC_UNSUPPORTED_VERSION,
    ORDC_UNKNOWN_OP,
    ORDC_TOO_LARGE,
    ORDC_NOT_FOUND,
    ORDC_FORBIDDEN,
    ORDC_INVALID_TRANSITION,
    ORDC_IDEMPOTENCY_MISMATCH,
    ORDC_PAYMENT_DECLINED,
    ORDC_OUT_OF_STOCK,
    ORDC_UNKNOWN_PRODUCT,
    ORDC_UNAVAILABLE,
    ORDC_BUSY,
    ORDC_INTERNAL,
    ORDC_DEADLINE_EXCEEDED,
    ORDC_UNKNOWN_CODE,          /* a code newer than this library */
    //  On our side, no reply
    ORDC_TIMEOUT,               /* no reply within the timeout, every attempt */
    ORDC_INTERRUPTED,           /* a signal, and the interrupt flag is set */
    ORDC_BAD_REPLY,             /* a reply that is not a msgpack map */
    ORDC_SEND,                  /* the request could not be queued */
    ORDC_REFUSED,               /* CURVE: orderd refused our key */
    ORDC_AGAIN,                 /* ordc_recv: nothing waiting */
    ORDC_INVALID,               /* bad arguments (NULL op, a bad CURVE key) */
    ORDC_CODE_COUNT
} ordc_code_t;

/*  The wire name of a code ("out_of_stock", "timeout", ...). */
const char *ordc_code_name (ordc_code_t code);
/*  The code of a wire name; ORDC_UNKNOWN_CODE for one this library does
    not know. */
ordc_code_t ordc_code_of (const char *name, size_t len);
/*  True when the same request may succeed later (docs/PROTOCOL.md, error
    codes): timeout, busy, unavailable, internal, send; a write only with
    the same idempotency key, after a pause. */
bool ordc_code_retryable (ordc_code_t code);

//  ---------------------------------------------------------------------
//  Request bodies: the fields after {v, op, rid, idem, deadline}

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    uint32_t count;             /* fields added */
} ordc_body_t;

void ordc_body_init (ordc_body_t *self);
void ordc_body_destroy (ordc_body_t *self);
/*  Empties the body for reuse. */
void ordc_body_reset (ordc_body_t *self);
void ordc_body_str (ordc_body_t *self, const char *key, const char *value);
void ordc_body_strn (ordc_body_t *self, const char *key, const char *value, size_t len);
void ordc_body_int (ordc_body_t *self, const char *key, int64_t value);
void ordc_body_bool (ordc_body_t *self, const char *key, bool value);
/*  Adds `key` and returns the packer for its value, which the caller packs
    (a map, an array...) before adding the next field. */
msgpack_packer *ordc_body_value (ordc_body_t *self, const char *key);

//  ---------------------------------------------------------------------
//  Replies

/*  One reply or one failed call. `body` is the whole reply map (NULL when
    nothing came back) and stays valid until the reply is reset, reused or
    moved. `code_text` is orderd's code as it came (or the name of ours);
    `message` says why. */
typedef struct {
    ordc_code_t code;
    bool ok;
    bool retryable;
    uint64_t tag;               /* ordc_send's tag */
    const msgpack_object *body;
    char code_text [40];
    char message [512];
    //  Private
    void *_msg;
    msgpack_zone *_zone;
    msgpack_object _root;
} ordc_reply_t;

void ordc_reply_init (ordc_reply_t *self);
/*  Frees what the reply holds; it may be used again. */
void ordc_reply_reset (ordc_reply_t *self);
/*  Moves *src into *dest (reset first); *src is left empty. */
void ordc_reply_move (ordc_reply_t *dest, ordc_reply_t *src);

/*  Reading replies: the value of `key` in a map (NULL when the map is not a
    map or has no such key); a string's bytes (NULL, *len 0 when not a
    string); an integer (fallback when not one). `path` takes dots:
    "order.payment.provider_order_id". */
const msgpack_object *ordc_find (const msgpack_object *map, const char *path);
const char *ordc_str (const msgpack_object *object, size_t *len);
int64_t ordc_int (const msgpack_object *object, int64_t fallback);
/*  Copies the string at `path` into buffer (empty when absent). Returns
    its length, or -1 when it did not fit or is not a string. */
int ordc_copy_str (const msgpack_object *map, const char *path, char *buffer, size_t size);

//  ---------------------------------------------------------------------
//  CURVE keys

typedef struct {
    char server_key [ORDC_KEY_SIZE];    /* orderd's public key, Z85 */
    char public_key [ORDC_KEY_SIZE];    /* ours */
    char secret_key [ORDC_KEY_SIZE];
} ordc_curve_t;

/*  Fills `curve` from our certificate pair (`cert_path` as written by
    `ordermon keygen`: the file and its `_secret` twin) and orderd's key
    (40-character Z85 text, or the path of orderd's certificate). Returns
    ORDC_OK or ORDC_INVALID with the reason in `why`. */
ordc_code_t ordc_curve_load (ordc_curve_t *curve, const char *cert_path,
                             const char *server_key, char *why, size_t why_size);

//  ---------------------------------------------------------------------
//  Clients

typedef struct ordc_client_t ordc_client_t;

/*  A DEALER connected to `endpoint` (service or admin door), CURVE when
    `curve` is not NULL (copied). NULL when the endpoint or a key is not
    one ZeroMQ accepts. */
ordc_client_t *ordc_client_new (const char *endpoint, const ordc_curve_t *curve);
void ordc_client_destroy (ordc_client_t **self_p);

void ordc_client_set_timeout (ordc_client_t *self, int timeout_ms);
void ordc_client_set_retries (ordc_client_t *self, int retries);
/*  Messages queued for a peer that is not there, before ORDC_SEND (1000;
    0: no limit). Applies from the next (re)connection. */
void ordc_client_set_sndhwm (ordc_client_t *self, int messages);
/*  A signal interrupts a call (ORDC_INTERRUPTED) only when *flag is
    non-zero then (e.g. czmq's &zsys_interrupted); without a flag, never. */
void ordc_client_set_interrupt (ordc_client_t *self, volatile int *flag);

/*  What one call may change from the client's defaults. Zero fields keep
    the defaults (ordc_call accepts NULL for all defaults). */
typedef struct {
    int timeout_ms;             /* per attempt */
    int retries;                /* extra attempts after a timeout; -1: none */
    int64_t deadline_ms;        /* absolute, ms since the epoch (UTC) */
    const char *idem;           /* a write's key; NULL: one is made */
    bool no_idem;               /* a write without a key: never retried */
} ordc_options_t;

/*  Sends {v: 1, op, rid, [idem], [deadline], ...body} and waits for its
    reply, Lazy Pirate style. Returns ORDC_OK for an ok reply, orderd's code
    for a refusal (reply->body holds it), or ORDC_TIMEOUT, ORDC_INTERRUPTED,
    ORDC_BAD_REPLY, ORDC_SEND, ORDC_REFUSED, ORDC_DEADLINE_EXCEEDED (the
    deadline passed before a reply) or ORDC_INVALID; reply->code says the
    same and reply->message why. */
ordc_code_t ordc_call (ordc_client_t *self, const char *op, const ordc_body_t *body,
                       const ordc_options_t *options, ordc_reply_t *reply);

/*  True for the ops that change something (and take `idem`). */
bool ordc_op_is_write (const char *op);

/*  Pipelining, for callers that keep many requests in flight on one
    client and poll its socket themselves (no retries, no timeouts: the
    caller keeps them). ordc_send queues one request whose reply comes
    back with `tag` (ORDC_OK or ORDC_SEND); ordc_recv takes one waiting
    reply without blocking: ORDC_OK (reply filled, reply->code is the
    reply's own), ORDC_AGAIN, or ORDC_BAD_REPLY (one unreadable message
    dropped). Writes get a key only when options->idem is given. */
ordc_code_t ordc_send (ordc_client_t *self, const char *op, const ordc_body_t *body,
                       const ordc_options_t *options, uint64_t tag);
ordc_code_t ordc_recv (ordc_client_t *self, ordc_reply_t *reply);

/*  Closes the socket and connects a new one, forgetting every request in
    flight. Returns ORDC_OK or ORDC_SEND when no socket could be made. */
ordc_code_t ordc_client_reset (ordc_client_t *self);

/*  The libzmq socket, for zmq_poll, and its ZMQ_FD (-1 when none). */
void *ordc_client_handle (ordc_client_t *self);
int ordc_client_fd (ordc_client_t *self);
const char *ordc_client_endpoint (ordc_client_t *self);

/*  With CURVE, what the handshakes so far said (never blocks). */
typedef enum {
    ORDC_HANDSHAKE_UNKNOWN = 0,     /* nothing seen yet, or CURVE off */
    ORDC_HANDSHAKE_OK,
    ORDC_HANDSHAKE_REFUSED,         /* orderd refused our key */
    ORDC_HANDSHAKE_FAILED           /* most likely a wrong server key, or a plain door */
} ordc_handshake_t;

ordc_handshake_t ordc_client_handshake (ordc_client_t *self);

//  ---------------------------------------------------------------------
//  The event feed (a SUB socket on the events door, always plain)

typedef struct {
    char topic [48];            /* "order.<to>" */
    char order_id [32];
    char user_id [129];
    char from [32];             /* empty on creation */
    char to [32];
    int64_t seq;
    int64_t at_ms;
    char reason [1025];
} ordc_event_t;

typedef struct ordc_events_t ordc_events_t;

/*  Subscribes to the events whose topic starts with `prefix` ("order."
    for every one, "order.confirmed" for one status). NULL on a bad
    endpoint. Like any SUB socket it sees only what is published after it
    has connected. */
ordc_events_t *ordc_events_new (const char *endpoint, const char *prefix);
void ordc_events_destroy (ordc_events_t **self_p);
/*  Waits up to timeout_ms for the next event: ORDC_OK, ORDC_TIMEOUT,
    ORDC_BAD_REPLY (an event that is not one, dropped), ORDC_INTERRUPTED. */
ordc_code_t ordc_events_recv (ordc_events_t *self, int timeout_ms, ordc_event_t *event);
void *ordc_events_handle (ordc_events_t *self);

#ifdef __cplusplus
}
#endif

#endif
