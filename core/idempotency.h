/*  idempotency: a write sent again with the same `idem` key gets the reply
    of the first, for idem_ttl_ms. The key is user \0 op \0 idem; the
    record under it, {at, digest of the body, reply}, is written by the
    order's actor in the same commit as the change (ord_idempotency_record),
    so a reply is remembered exactly when what it says is durable. While
    the first request of a key is in flight, later ones wait behind it and
    are then answered from its record. The purge forgets old keys.

    The front uses an ord_idempotency_t from its own thread only. */
#ifndef ORD_IDEMPOTENCY_H_INCLUDED
#define ORD_IDEMPOTENCY_H_INCLUDED

#include "actor.h"

typedef struct _ord_idempotency_t ord_idempotency_t;

ord_idempotency_t *ord_idempotency_new (ord_engine_t *engine);

/*  Destroys the requests still waiting behind a key, unanswered. */
void ord_idempotency_destroy (ord_idempotency_t **self_p);

/*  Sets request->idem_key (user \0 op \0 idem) and request->digest, the
    digest of its body. */
void ord_idempotency_key (ord_request_t *request, ord_str_t idem);

typedef enum {
    ORD_IDEM_FIRST,                /* no live record: the request goes on, and
                                      holds its key until it is answered */
    ORD_IDEM_WAITS,                /* another request holds the key: this one
                                      was taken over and waits for it */
    ORD_IDEM_REPLAYED,             /* request->reply is the stored reply */
    ORD_IDEM_REFUSED               /* answer *rc with why->text */
} ord_idem_outcome_t;

/*  Looks up a request that has an idem_key. *rc and *why are set on
    ORD_IDEM_REFUSED: ORD_EIDEMPOTENCY (the key was used with another
    body), ORD_EINTERNAL (the stored reply is unreadable). */
ord_idem_outcome_t ord_idempotency_check (ord_idempotency_t *self, ord_request_t *request,
                                          int *rc, ord_why_t *why);

/*  The request that held its key (request->idem_holder) was answered: the
    requests that waited for it, in arrival order, to be processed again;
    the caller destroys the list. NULL when none waited. */
zlistx_t *ord_idempotency_release (ord_idempotency_t *self, const ord_request_t *request);

/*  In an actor: queues the record of request's reply (request->reply) in
    `batch` when the request has a key and its outcome `rc` carried it out
    (success, out of stock, unknown product, payment declined); a retry of anything else is
    evaluated afresh. */
void ord_idempotency_record (ord_batch_t *batch, const ord_request_t *request, int rc);

/*  Deletes, through `writer`, up to `max` keys recorded before `horizon_ms`
    (Unix ms), oldest first; *purged says how many. Errors: ORD_ESTORE,
    ORD_ESTOREFULL. */
int ord_idempotency_purge (ord_store_t *store, zsock_t *writer, int64_t horizon_ms,
                           size_t max, size_t *purged);

#endif
