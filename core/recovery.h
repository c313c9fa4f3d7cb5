/*  recovery: start-up recovery, behind open doors. Once the store is
    open, every saga left unfinished in it is handed to its order's actor
    as an internal drive; the doors open at once and the drives run in the
    background, as the saga retry's do, so a slow or failing adapter
    delays only the orders it concerns. A request for an order whose saga
    recovery is driving waits behind that drive on the order's actor (the
    pool keeps one order's requests in order), and is answered once the
    drive has ended, as if it had arrived after it.

    Sagas are taken a page at a time: a full page that finished some is
    followed by the next; a page that finished none (every saga suspended,
    an adapter down) ends recovery and leaves the rest to the saga retry.
    engine->sagas_recovering counts the drives not yet ended,
    engine->sagas_recovered those that finished or compensated their saga.

    Used by the front thread only. */
#ifndef ORD_RECOVERY_H_INCLUDED
#define ORD_RECOVERY_H_INCLUDED

#include "pool.h"

typedef struct _ord_recovery_t ord_recovery_t;

ord_recovery_t *ord_recovery_new (ord_engine_t *engine, ord_pool_t *pool);
void ord_recovery_destroy (ord_recovery_t **self_p);

/*  Hands the first page of unfinished sagas to their actors and returns
    how many it handed; does not wait for them. */
size_t ord_recovery_start (ord_recovery_t *self);

/*  Every request the front finishes (answered, refused or internal) passes
    here before it is destroyed: the end of a recovery drive is counted,
    and the last of a page takes the next or ends recovery. */
void ord_recovery_request_ended (ord_recovery_t *self, const ord_request_t *request);

#endif
