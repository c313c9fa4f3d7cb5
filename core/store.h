/*  store: orderd's LMDB environment, its schema, the reads any thread may
    do, and the single writer that commits many actors' batches in one
    transaction (group commit) and publishes their events after the commit.

    Databases (the states and sagas they hold: docs/PROTOCOL.md §4):
      meta        "magic" -> "orderd", "schema" -> ORD_STORE_SCHEMA
      orders      id -> order record (msgpack, with its record version)
      history     id + seq (4 bytes BE) -> transition
      sagas       id -> saga record (see saga.h)
      idem        user \0 op \0 key -> {at, digest, reply}
      idem_age    at (8 bytes BE) + idem key -> ""
      by_user     user \0 id -> ""
      by_status   status (1 byte) + id -> ""
      timers      deadline (8 bytes BE) + id -> ""    payment timeouts
      review      id -> ""                            orders needing review
    meta also keeps one counter of orders per status ("count/<status>",
    8 bytes BE), kept by the writer, so stats never scans.
    Reads use MDB_NOTLS read transactions, so they may be used from any
    thread and never wait for a commit; only while the writer grows the
    map (seldom, briefly) do new ones wait.

    Caveats (LMDB's, which this module passes on):
      - one write transaction at a time: every change goes through the
        writer; only start-up and tests commit directly;
      - the reader table has max_readers slots (ord_store_open): every
        thread that reads at the same time takes one;
      - what a read returns points into the map and is valid only until
        its transaction ends: copy it first;
      - the map grows (mapsize.h) while no transaction is open: a read
        ends with ord_store_read_end, never mdb_txn_abort alone; a map
        that cannot grow any more is ORD_ESTOREFULL, an error to answer
        (`unavailable`), never a crash. */
#ifndef ORD_STORE_H_INCLUDED
#define ORD_STORE_H_INCLUDED

#include <czmq.h>
#include <lmdb.h>
#include <stdbool.h>
#include "metrics.h"
#include "order.h"

#define ORD_STORE_MAGIC   "orderd"
#define ORD_STORE_SCHEMA  1

typedef enum {
    ORD_DB_META, ORD_DB_ORDERS, ORD_DB_HISTORY, ORD_DB_SAGAS, ORD_DB_IDEM,
    ORD_DB_IDEM_AGE, ORD_DB_BY_USER, ORD_DB_BY_STATUS, ORD_DB_TIMERS,
    ORD_DB_REVIEW, ORD_DB_COUNT
} ord_db_t;

typedef struct _ord_store_t ord_store_t;
typedef struct _ord_batch_t ord_batch_t;

/*  Opens (creating if new) the store in folder `dir`, which is created
    with its missing parents (mode 0750) if missing. `max_readers` sizes
    LMDB's reader table. Errors: ORD_ESCHEMA (not an orderd store, or
    another schema version: the message in *why says which), ORD_ESTORE
    (LMDB refused: message in *why). */
int ord_store_open (const char *dir, size_t map_size, bool sync,
                    unsigned max_readers, ord_store_t **store_p, ord_why_t *why);
void ord_store_destroy (ord_store_t **self_p);

/*  The LMDB environment (for a copy of it; see backup.h). */
MDB_env *ord_store_env (ord_store_t *self);

/*  The registry the writer reports its commits and the status changes
    they wrote to (NULL: none). Set it before the writer starts. */
void ord_store_set_metrics (ord_store_t *self, ord_metrics_t *metrics);

/*  Maps an LMDB return code to ORD_ESTOREFULL or ORD_ESTORE (0 stays 0). */
int ord_store_error (int mdb_rc);

/*  A read transaction; end it with ord_store_read_end (never with
    mdb_txn_abort alone), in the same thread, before waiting on anything:
    while it is open the writer cannot grow the map. Do not open a second
    one in the same thread while holding one. Errors: ORD_ESTORE. */
int ord_store_read (ord_store_t *self, MDB_txn **txn_p);
void ord_store_read_end (ord_store_t *self, MDB_txn *txn);

/*  For a read transaction kept across reads (mdb_txn_reset keeps its
    reader slot): renew it (Errors: ORD_ESTORE, then abort it with
    mdb_txn_abort), and reset it when the read is done; a reset one may be
    aborted with mdb_txn_abort. */
int ord_store_read_renew (ord_store_t *self, MDB_txn *txn);
void ord_store_read_reset (ord_store_t *self, MDB_txn *txn);
MDB_dbi ord_store_dbi (ord_store_t *self, ord_db_t db);

/*  The order with `id`, or ORD_ENOTFOUND; ORD_ESTORE if unreadable. */
int ord_store_get_order (ord_store_t *self, MDB_txn *txn, const char *id,
                         ord_order_t **order_p);

/*  Calls `fn` for each history entry of an order, in order; stops at the
    first non-zero return and returns it. Errors: ORD_ESTORE (a cursor
    failed, or an entry is unreadable), or what `fn` returned. */
typedef int (ord_history_fn) (const ord_transition_t *transition, void *arg);
int ord_store_history (ord_store_t *self, MDB_txn *txn, const char *id,
                       ord_history_fn *fn, void *arg);

typedef struct {
    const char *user_id;           /* NULL: every user */
    ord_status_t status;           /* NONE: any */
    const char *after;             /* cursor: only orders older than this id */
    size_t limit;
    bool include_deleted;
} ord_list_query_t;

/*  Orders matching the query, newest first: *orders_p is a zlist of
    ord_order_t * that the caller destroys (with their orders); *more is
    set when more orders may follow the last one. Errors: ORD_ESTORE (a
    cursor failed, or a record is unreadable; then *orders_p is left
    alone). */
int ord_store_list (ord_store_t *self, MDB_txn *txn, const ord_list_query_t *query,
                    zlist_t **orders_p, bool *more);

/*  The greatest order id stored, or "" when there is none. Errors:
    ORD_ESTORE. */
int ord_store_last_id (ord_store_t *self, MDB_txn *txn, char id [ORD_ORDER_ID_SIZE]);

/*  Up to `max` ids of orders with a saga record (unfinished sagas), in
    *ids_p (a zlist of strings the caller destroys). Errors: ORD_ESTORE
    (a cursor failed: *ids_p is NULL, never a short list). */
int ord_store_saga_ids (ord_store_t *self, MDB_txn *txn, size_t max, zlist_t **ids_p);

/*  Up to `max` ids of orders whose payment timeout is at or before `now`,
    earliest first, in *ids_p as ord_store_saga_ids. Errors: ORD_ESTORE
    (*ids_p is NULL). */
int ord_store_due_timers (ord_store_t *self, MDB_txn *txn, int64_t now, size_t max,
                          zlist_t **ids_p);

/*  The map grows as the store fills (see mapsize.h): up to `max_bytes`,
    or when 0 (the default), to what the disk can hold. Set it before the
    writer starts. */
void ord_store_set_map_size_max (ord_store_t *self, int64_t max_bytes);

/*  True while the map is past ORD_MAPSIZE_GROW_PERCENT and cannot grow
    (map_size_max reached, or the disk full): health is degraded. */
bool ord_store_map_stuck (ord_store_t *self);

/*  How many times the map has grown since the store was opened. */
uint64_t ord_store_map_growths (ord_store_t *self);

/*  Number of orders, store size in bytes, and map size. */
void ord_store_usage (ord_store_t *self, MDB_txn *txn, size_t *orders,
                      size_t *used_bytes, size_t *map_bytes);

/*  Orders per status (indexed by ord_status_t) and orders needing review. */
void ord_store_status_counts (ord_store_t *self, MDB_txn *txn,
                              uint64_t counts [ORD_STATUS_COUNT], uint64_t *needs_review);

/*  Group-commit counters (since start): commits done, batches committed,
    and the largest group. */
void ord_store_commit_stats (ord_store_t *self, uint64_t *commits,
                             uint64_t *batches, uint64_t *largest);

/*  Round trips to the writer since start: every commit or barrier answered
    to the thread that waited for it (the hand-offs of admin stats). */
uint64_t ord_store_round_trips (ord_store_t *self);

//  ---------------------------------------------------------------------
//  Batches: what one actor wants committed atomically, with its events.

ord_batch_t *ord_batch_new (void);
void ord_batch_destroy (ord_batch_t **self_p);
void ord_batch_reset (ord_batch_t *self);
size_t ord_batch_size (ord_batch_t *self);     /* number of operations */

/*  Queues a put or a delete; the bytes are copied. */
void ord_batch_put (ord_batch_t *self, ord_db_t db, const void *key, size_t key_size,
                    const void *value, size_t value_size);
void ord_batch_del (ord_batch_t *self, ord_db_t db, const void *key, size_t key_size);
/*  An event published on the events door after the batch is durable. */
void ord_batch_event (ord_batch_t *self, const char *topic, const void *body, size_t size);

/*  Queues the order record with its indexes: `previous` is the status it
    had in the store (NONE for a new order). */
void ord_batch_order (ord_batch_t *self, const ord_order_t *order, ord_status_t previous);
/*  Queues a history entry and its event. */
void ord_batch_transition (ord_batch_t *self, const ord_order_t *order,
                           const ord_transition_t *transition);
/*  Queues setting (deadline > 0) or clearing (deadline 0) an order's timer. */
void ord_batch_timer (ord_batch_t *self, const char *id, int64_t old_deadline,
                      int64_t deadline);

//  ---------------------------------------------------------------------
//  The writer

/*  Starts the writer actor, which binds the PUB socket `events` (an
    endpoint). Returns NULL and says why in *why when the bind fails. */
zactor_t *ord_store_writer_new (ord_store_t *store, const char *events, ord_why_t *why);

/*  A writer client for one thread: connect once, then commit batches. */
zsock_t *ord_store_client_new (ord_store_t *store);

/*  Commits a batch through the writer and waits until it is durable.
    A full map is grown and the commit retried on the way. Returns 0,
    ORD_ESTOREFULL (the map cannot grow) or ORD_ESTORE (then nothing of it
    was written). The batch is left as it was; reset it to reuse it. */
int ord_store_commit (zsock_t *client, ord_batch_t *batch);

/*  The two halves of ord_store_commit, for a caller with other work to do
    while the commit runs. After a send that returned 0, the writer reads
    the batch until ord_store_commit_wait returns: leave it alone until
    then. Send errors: ORD_ESTORE (then do not wait). */
int ord_store_commit_send (zsock_t *client, ord_batch_t *batch);
int ord_store_commit_wait (zsock_t *client);

/*  A write barrier: runs fn (arg) on the writer's thread between two group
    commits, so that nothing is committed while it runs (batches sent
    meanwhile wait), and returns what it returned. Batches this client
    sent before are committed first. ORD_ESTORE if the writer cannot be
    reached. */
typedef int (ord_store_barrier_fn) (void *arg);
int ord_store_barrier (zsock_t *client, ord_store_barrier_fn *fn, void *arg);

/*  Commits a batch directly (no writer running: start-up, tests),
    growing the map as the writer does. The batch is left as it was.
    Errors: ORD_ESTOREFULL (the map cannot grow), ORD_ESTORE (then
    nothing of it was written). */
int ord_store_commit_direct (ord_store_t *self, ord_batch_t *batch);

//  Key helpers shared by the modules that build batches
size_t ord_key_history (char *key, const char *id, uint32_t seq);
size_t ord_key_timer (char *key, int64_t deadline, const char *id);
void ord_be64_put (char *to, uint64_t value);
uint64_t ord_be64_get (const char *from);

#endif
