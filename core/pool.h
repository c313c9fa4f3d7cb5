/*  pool: the order actors. Each live order is served by one actor, bound
    to it while it has requests in flight; an idle actor stays bound (its
    order cached) until it is needed for another order, least recently
    used first, or until it has been idle for actor_idle_ms (passivation).
    At most max_live_actors threads exist; when every one is busy, requests
    wait in a queue of at most max_queue, then are refused with `busy`.
    Used by the front thread only. */
#ifndef ORD_POOL_H_INCLUDED
#define ORD_POOL_H_INCLUDED

#include "actor.h"

typedef struct _ord_pool_t ord_pool_t;

/*  How the pool answers a request it cannot take: `refuse` must send (or
    drop) the request and destroy it. */
typedef void (ord_pool_refuse_fn) (void *arg, ord_request_t *request, int rc,
                                   const char *message);

/*  An empty pool: actors start on demand. */
ord_pool_t *ord_pool_new (ord_engine_t *engine, ord_pool_refuse_fn *refuse, void *arg);

/*  Stops every actor (waiting for its thread) and destroys the requests
    still waiting. Requests an actor held are not answered. */
void ord_pool_destroy (ord_pool_t **self_p);

/*  Hands `request` to the actor of the order `key` (its order id, or
    "$stock" for the admin stock op), binding one if needed; the key is
    copied into request->order_id. Takes the request over: it waits when
    no actor is free, and is refused when the queue or its order's share
    of it is full. */
void ord_pool_dispatch (ord_pool_t *self, ord_request_t *request, const char *key);

/*  Dispatches a new internal request of `op` to every order in `ids` that
    has no request in flight. */
void ord_pool_dispatch_each (ord_pool_t *self, zlist_t *ids, ord_op_t op);

/*  An actor handed `request` back: its actor is idle again when that was
    its last request in flight. Call before answering the request. */
void ord_pool_replied (ord_pool_t *self, const ord_request_t *request);

/*  Lets waiting requests in, while actors are free. */
void ord_pool_drain (ord_pool_t *self);

/*  Refuses every waiting request with `rc` and `message`; internal ones are
    destroyed unanswered. */
void ord_pool_refuse_waiting (ord_pool_t *self, int rc, const char *message);

/*  Passivation: actors idle since actor_idle_ms or longer before
    `now_mono_ms` are unbound (their order is read again on its next
    request); a few dozen are kept spare and the rest stop, at most
    `max_stops` of them (stopping one waits for its thread). Returns how
    many stopped. */
size_t ord_pool_passivate (ord_pool_t *self, int64_t now_mono_ms, size_t max_stops);

/*  Whether the order `id` has requests in flight. */
bool ord_pool_busy (ord_pool_t *self, const char *id);

/*  Actor threads alive, requests held by actors, requests waiting. */
size_t ord_pool_live (ord_pool_t *self);
size_t ord_pool_inflight (ord_pool_t *self);
size_t ord_pool_waiting (ord_pool_t *self);

#endif
