/*  housekeeping: reaper, passivation, heap trim, saga retry, purge, probes. */
#include <malloc.h>
#include "housekeeping.h"
#include "idempotency.h"

#define S_STOPS_PER_TICK  32       //  idle actors stopped per second at most
#define S_SCAN_MAX        256      //  timers or sagas picked up per tick
#define S_PURGE_MAX       1000     //  idempotency keys purged per tick
#define S_PURGE_EVERY_MS  60000
#define S_PROBE_EVERY_MS  2000
#define S_TRIM_QUIET_S    5        //  quiet seconds before freed heap goes back
#define S_TRIM_QUIET_RATE 10       //  requests a second that still count as quiet

struct _ord_housekeeping_t {
    ord_engine_t *engine;
    ord_pool_t *pool;
    zsock_t *writer;               //  for the idempotency purge
    zactor_t *prober;
    bool stopping;
    uint64_t requests_taken;       //  off the doors, ever
    uint64_t requests_at_tick;     //  ...at the last passivation tick
    int quiet_seconds;             //  ticks in a row without a request
    bool heap_dirty;               //  work or stopped actors since the last trim
};

//  A scan of the store for order ids, in a read transaction
typedef int (s_scan_fn) (ord_store_t *store, MDB_txn *txn, zlist_t **ids_p);

//  Hands `op` to the order of each id `scan` finds, or says that the scan
//  failed (the next tick scans again).
static void
s_scan_and_dispatch (ord_housekeeping_t *self, s_scan_fn *scan, ord_op_t op, const char *what)
{
    MDB_txn *txn;
    if (self->stopping || ord_store_read (self->engine->store, &txn))
        return;
    zlist_t *ids = NULL;
    int rc = scan (self->engine->store, txn, &ids);
    ord_store_read_end (self->engine->store, txn);
    if (rc)
        zsys_warning ("%s: cannot read the store: %s", what, ord_strerror (rc));
    else
        ord_pool_dispatch_each (self->pool, ids, op);
    zlist_destroy (&ids);
}

static int
s_due_payment_timeouts (ord_store_t *store, MDB_txn *txn, zlist_t **ids_p)
{
    return ord_store_due_timers (store, txn, ord_engine_now (), S_SCAN_MAX, ids_p);
}

static int
s_suspended_sagas (ord_store_t *store, MDB_txn *txn, zlist_t **ids_p)
{
    return ord_store_saga_ids (store, txn, S_SCAN_MAX, ids_p);
}

//  Payment timeouts: each due order's actor cancels it, unless it is busy
//  (then the next second sees it again).
static int
s_reap_payment_timeouts (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_scan_and_dispatch ((ord_housekeeping_t *) arg, s_due_payment_timeouts, ORD_OP_TIMEOUT,
                         "payment timeouts");
    return 0;
}

//  Once the doors have been quiet for a while after work, gives the heap
//  that glibc keeps freed in its per-thread arenas back to the system: a
//  burst of orders leaves ~100 MiB there otherwise (docs/BENCHMARKS.md,
//  idle RSS). Again each second while idle actors still stop. A console
//  polling stats or health does not count as work.
static void
s_trim_heap_when_quiet (ord_housekeeping_t *self, bool actors_stopped)
{
    bool quiet = self->requests_taken - self->requests_at_tick <= S_TRIM_QUIET_RATE
              && ord_pool_inflight (self->pool) == 0;
    self->requests_at_tick = self->requests_taken;
    self->quiet_seconds = quiet? self->quiet_seconds + 1: 0;
    if (!quiet || actors_stopped)
        self->heap_dirty = true;
    if (self->heap_dirty && self->quiet_seconds >= S_TRIM_QUIET_S) {
        malloc_trim (0);
        self->heap_dirty = false;
    }
}

//  Idle actors go back to the spare pool; spares beyond a few stop, a few
//  a second, since stopping one waits for its thread. Then the heap trim.
static int
s_passivate_idle_actors (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ord_housekeeping_t *self = (ord_housekeeping_t *) arg;
    if (self->stopping)
        return 0;
    size_t stopped = ord_pool_passivate (self->pool, zclock_mono (), S_STOPS_PER_TICK);
    s_trim_heap_when_quiet (self, stopped > 0);
    return 0;
}

//  Suspended sagas (an adapter was down) are driven again.
static int
s_retry_sagas (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_scan_and_dispatch ((ord_housekeeping_t *) arg, s_suspended_sagas, ORD_OP_DRIVE,
                         "saga retry");
    return 0;
}

//  Forgets idempotency keys older than idem_ttl_ms.
static int
s_purge_idempotency_keys (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ord_housekeeping_t *self = (ord_housekeeping_t *) arg;
    int64_t horizon_ms = ord_engine_now () - self->engine->config->idem_ttl_ms;
    size_t purged = 0;
    int rc = ord_idempotency_purge (self->engine->store, self->writer, horizon_ms,
                                    S_PURGE_MAX, &purged);
    if (rc)
        zsys_warning ("idempotency purge failed: %s", ord_strerror (rc));
    else
    if (purged)
        ord_debug ("purged %zu idempotency keys", purged);
    return 0;
}

//  The prober thread asks each adapter for a ping every two seconds.
static void
s_prober (zsock_t *pipe, void *arg)
{
    ord_engine_t *engine = (ord_engine_t *) arg;
    ord_thread_name ("ord-prober");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (true) {
        ord_adapter_probe (engine->payment);
        ord_adapter_probe (engine->fulfilment);
        if (zpoller_wait (poller, S_PROBE_EVERY_MS) == pipe || zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
}

ord_housekeeping_t *
ord_housekeeping_new (ord_engine_t *engine, ord_pool_t *pool, zloop_t *loop, ord_why_t *why)
{
    ord_housekeeping_t *self = (ord_housekeeping_t *) zmalloc (sizeof (ord_housekeeping_t));
    self->engine = engine;
    self->pool = pool;
    self->writer = ord_store_client_new (engine->store);
    if (!self->writer) {
        ord_why_set (why, "cannot reach the store writer");
        ord_housekeeping_destroy (&self);
        return NULL;
    }
    zloop_timer (loop, 1000, 0, s_reap_payment_timeouts, self);
    zloop_timer (loop, 1000, 0, s_passivate_idle_actors, self);
    zloop_timer (loop, (size_t) engine->config->saga_retry_ms, 0, s_retry_sagas, self);
    zloop_timer (loop, S_PURGE_EVERY_MS, 0, s_purge_idempotency_keys, self);
    self->prober = zactor_new (s_prober, engine);
    return self;
}

void
ord_housekeeping_destroy (ord_housekeeping_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_housekeeping_t *self = *self_p;
    zactor_destroy (&self->prober);
    zsock_destroy (&self->writer);
    free (self);
    *self_p = NULL;
}

void
ord_housekeeping_stop (ord_housekeeping_t *self)
{
    self->stopping = true;
}

void
ord_housekeeping_request_taken (ord_housekeeping_t *self)
{
    self->requests_taken++;
}
