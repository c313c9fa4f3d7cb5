/*  housekeeping: what the front does on timers, between requests.
      - the payment-timeout reaper (each second): orders whose payment was
        initiated and not confirmed within payment_timeout_ms are handed
        to their actor, which cancels them;
      - passivation (each second): actors idle for actor_idle_ms are
        unbound from their order, and spares beyond a few stop;
      - heap trim: after a few quiet seconds following work, the heap
        that glibc keeps freed goes back to the system;
      - saga retry (each saga_retry_ms): suspended sagas are driven again;
      - the idempotency purge (each minute): keys older than idem_ttl_ms
        are forgotten;
      - the adapter probes (a thread of its own, every two seconds), so
        that health sees a hung adapter even when no order moves.
    Used by the front thread only, on the front's zloop. */
#ifndef ORD_HOUSEKEEPING_H_INCLUDED
#define ORD_HOUSEKEEPING_H_INCLUDED

#include "pool.h"

typedef struct _ord_housekeeping_t ord_housekeeping_t;

/*  Puts the timers on `loop` and starts the prober. NULL (and *why says
    why) when the writer or the prober cannot be reached. */
ord_housekeeping_t *ord_housekeeping_new (ord_engine_t *engine, ord_pool_t *pool,
                                          zloop_t *loop, ord_why_t *why);

/*  Stops the prober. Destroy the loop first: the timers point here. */
void ord_housekeeping_destroy (ord_housekeeping_t **self_p);

/*  orderd is stopping: the timers start nothing new. */
void ord_housekeeping_stop (ord_housekeeping_t *self);

/*  A request came in through a door (what the heap trim counts as work). */
void ord_housekeeping_request_taken (ord_housekeeping_t *self);

#endif
