/*  actor: the order actor. Each live order is served by one czmq actor
    that alone changes it: the front sends it requests for that order, one
    at a time through its pipe, and the actor answers through the front's
    reply socket after its changes are durable. An actor is not born for
    one order: the front binds an idle actor to an order and may later
    rebind it to another (passivation); `fresh` tells it to reload. */
#ifndef ORD_ACTOR_H_INCLUDED
#define ORD_ACTOR_H_INCLUDED

#include "op.h"
#include "saga.h"

typedef enum { ORD_DOOR_SERVICE, ORD_DOOR_ADMIN, ORD_DOOR_INTERNAL } ord_door_t;

/*  One request on its way through orderd. The front creates it; the actor
    fills `reply` and hands it back; the front sends and destroys it. */
#define ORD_REQUEST_TAG  0x0bd7e900   /* a live ord_request_t */

struct _ord_request_t {
    uint32_t tag;                  /* ORD_REQUEST_TAG: it crosses threads as a raw pointer */
    ord_door_t door;
    ord_op_t op;
    zmsg_t *envelope;              /* frames before the body, handed back */
    zframe_t *body_frame;          /* the bytes `body` points into */
    msgpack_unpacked body;
    ord_str_t rid;
    ord_str_t user_id;             /* NULL on the admin door when absent */
    char order_id [ORD_ORDER_ID_SIZE];
    bool fresh;                    /* the actor was just bound to this order */
    char *idem_key;                /* user \0 op \0 key, or NULL */
    size_t idem_key_size;
    uint8_t digest [ORD_DIGEST_SIZE];
    bool idem_holder;              /* later requests with its key wait for it */
    ord_order_t *new_order;        /* create: the validated order, with its id */
    zframe_t *reply;               /* the packed reply body */
    int result;                    /* the reply's ORD_E* code, 0 for ok (metrics) */
    bool internal_done;            /* internal: the saga ended (no reply to send) */
    int64_t received_at_us;        /* zclock_usecs () at arrival */
    int64_t deadline_ms;           /* ms since the epoch; 0 when it has none */
};

ord_request_t *ord_request_new (ord_door_t door);
void ord_request_destroy (ord_request_t **self_p);

/*  A request pointer received from another thread: asserts that it is a
    live ord_request_t, and returns it. */
ord_request_t *ord_request_check (void *pointer);

/*  Replaces the request's reply with ord_reply_order's, whose result is rc. */
void ord_request_answer (ord_request_t *self, int rc, const char *message,
                         const ord_order_t *order);

/*  Reads the request's optional `deadline` (ms since the epoch, UTC) into
    deadline_ms and checks it against now_ms. Errors: ORD_EBADREQ (not an
    integer from 1 up), ORD_EDEADLINE (it has passed), with *why set. */
int ord_request_take_deadline (ord_request_t *self, int64_t now_ms, ord_why_t *why);

/*  True when the request has a deadline and it has passed at now_ms. */
bool ord_request_expired (const ord_request_t *self, int64_t now_ms);

/*  The actor function; args is the ord_engine_t. Commands on its pipe:
    "REQ" + pointer to an ord_request_t (ownership passes to the actor,
    and back to the front through the engine's reply socket), "$TERM". */
void ord_actor (zsock_t *pipe, void *args);

/*  Packs the reply `{v, rid, ok: true, order}` or an error reply naming
    `order` when it is given. */
zframe_t *ord_reply_order (ord_str_t rid, int rc, const char *message,
                           const ord_order_t *order);

#endif
