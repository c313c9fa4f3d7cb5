/*  front: the doors and the daemon's lifecycle. Owns the service and
    admin ROUTER sockets and one zloop: decodes and validates every
    request, answers idempotent replays (idempotency) and reads (reads)
    itself, hands changes to the order actors (pool), and sends every
    reply. The timers of that loop are in housekeeping. */
#ifndef ORD_FRONT_H_INCLUDED
#define ORD_FRONT_H_INCLUDED

#include "engine.h"

typedef struct _ord_front_t ord_front_t;

/*  Sets up the actor pool and the reply socket; binds no door yet.
    Errors: ORD_EINTERNAL with *why. */
int ord_front_new (ord_engine_t *engine, ord_front_t **front_p, ord_why_t *why);
void ord_front_destroy (ord_front_t **self_p);

/*  Hands every unfinished saga to its order's actor, to be driven in the
    background once the doors are open (recovery.h); returns how many.
    Call before ord_front_open, so that a request for a recovered order
    waits behind its drive. */
size_t ord_front_recover (ord_front_t *self);

/*  Binds the service and admin doors. Errors: ORD_ECONFIG with *why. */
int ord_front_open (ord_front_t *self, ord_why_t *why);

/*  Serves until the first signal on `signal_fd` (a signalfd), then stops
    taking requests, finishes what is in flight and returns 0. A second
    signal exits the process at once. */
int ord_front_run (ord_front_t *self, int signal_fd);

#endif
