/*  client: one ORDP/1 request/reply conversation with orderd's admin door
    over a DEALER socket (PROTOCOL.md §2, §3), plain or CURVE
    (om_client_new_curve, SECURITY.md). A call never waits longer
    than its timeout: the socket has ZMQ_LINGER 0, replies are matched on
    `rid` (a stale reply of an earlier, timed-out request is dropped), and
    after a timeout the caller may reset the socket to start afresh.

        om_client_t *client = om_client_new ("tcp://127.0.0.1:8792");
        om_body_t body;
        om_body_init (&body);
        om_body_str (&body, "order_id", id);
        om_reply_t reply;
        om_reply_init (&reply);
        int rc = om_client_call (client, "get", &body, 3000, &reply);
        ...     //  0: reply.ok, reply.body; else OM_ETIMEOUT, ...
        om_reply_reset (&reply);
        om_body_destroy (&body);
        om_client_destroy (&client);
*/
#ifndef OM_CLIENT_H_INCLUDED
#define OM_CLIENT_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include "wire.h"

#define OM_ETIMEOUT     (-1)     /* no reply within the timeout */
#define OM_EINTR        (-2)     /* interrupted by SIGINT or SIGTERM */
#define OM_EBADREPLY    (-3)     /* the reply is not a msgpack map */
#define OM_ESEND        (-4)     /* the request could not be queued */
#define OM_EAGAIN       (-5)     /* om_client_recv: nothing waiting */
#define OM_EREFUSED     (-6)     /* CURVE: orderd refused our key */

#define OM_RID_SIZE     32

/*  The fields of a request after {v, op, rid}, packed as they are added. */
typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    uint32_t count;
} om_body_t;

void om_body_init (om_body_t *self);
void om_body_destroy (om_body_t *self);
void om_body_str (om_body_t *self, const char *key, const char *value);
void om_body_int (om_body_t *self, const char *key, int64_t value);
void om_body_bool (om_body_t *self, const char *key, bool value);

/*  A decoded reply. `body` points into memory the reply owns, valid until
    om_reply_reset. `ok` is the reply's ok field; for a refusal, `code` and
    `message` are the error's (empty strings when absent). */
typedef struct {
    zframe_t *frame;
    msgpack_unpacked unpacked;
    const msgpack_object *body;
    bool ok;
    char rid [OM_RID_SIZE];
    char code [64];
    char message [512];
} om_reply_t;

void om_reply_init (om_reply_t *self);
/*  Frees what the reply holds; it may be used again. */
void om_reply_reset (om_reply_t *self);
/*  Moves *src into *dest (reset first); *src is left empty. */
void om_reply_move (om_reply_t *dest, om_reply_t *src);

typedef struct _om_client_t om_client_t;

/*  CURVE security for the DEALER (SECURITY.md): the client's own pair
    (zcert_load of a file with a `_secret` half) and orderd's public key
    in Z85. The caller owns it and keeps it alive as long as any client
    that uses it. */
typedef struct {
    zcert_t *cert;
    char server_key [41];
} om_curve_t;

/*  What the last handshake with orderd said, when CURVE is on. */
typedef enum {
    OM_HANDSHAKE_UNKNOWN = 0,      /* nothing seen (or CURVE is off) */
    OM_HANDSHAKE_OK,               /* the handshake succeeded */
    OM_HANDSHAKE_REFUSED,          /* orderd refused our key (ZAP) */
    OM_HANDSHAKE_FAILED            /* any other failure: most likely the
                                      wrong server key, or a plain door */
} om_handshake_t;

/*  A DEALER connected to `endpoint`, or NULL when the endpoint is not
    one ZeroMQ accepts. om_client_new_curve: the same as a CURVE client
    (curve NULL: plain). */
om_client_t *om_client_new (const char *endpoint);
om_client_t *om_client_new_curve (const char *endpoint, const om_curve_t *curve);
void om_client_destroy (om_client_t **self_p);

/*  With CURVE: reads what the socket monitor saw of the handshakes so far
    and returns the latest outcome (never blocks). */
om_handshake_t om_client_handshake (om_client_t *self);

/*  Sends {v: 1, op, rid, ...body} and waits up to timeout_ms for the reply
    with the same rid. Returns 0 (reply filled; reply->ok may be false),
    OM_ETIMEOUT, OM_EINTR, OM_EBADREPLY, OM_ESEND, or with CURVE
    OM_EREFUSED as soon as orderd's ZAP handler refuses our key. */
int om_client_call (om_client_t *self, const char *op, const om_body_t *body,
                    int timeout_ms, om_reply_t *reply);

/*  The asynchronous half, for a caller that polls the socket itself:
    send returns 0 (the new rid in rid) or OM_ESEND; recv takes one waiting
    reply without blocking: 0, OM_EAGAIN, or OM_EBADREPLY (one unreadable
    message was dropped). */
int om_client_send (om_client_t *self, const char *op, const om_body_t *body,
                    char rid [OM_RID_SIZE]);
int om_client_recv (om_client_t *self, om_reply_t *reply);

/*  Closes the socket and connects a new one, forgetting every request in
    flight. Returns 0, or -1 when no socket could be made. */
int om_client_reset (om_client_t *self);

/*  The libzmq socket handle, for zmq_poll. */
void *om_client_handle (om_client_t *self);

const char *om_client_endpoint (om_client_t *self);

#endif
