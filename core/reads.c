/*  reads: get, list, health and stats, answered on the front thread. */
#include "reads.h"

struct _ord_reads_t {
    ord_engine_t *engine;
    ord_stats_t *stats;
    ord_pool_t *pool;
    MDB_txn *read_txn;             //  get and list read in it; reset between
};

ord_reads_t *
ord_reads_new (ord_engine_t *engine, ord_stats_t *stats, ord_pool_t *pool)
{
    ord_reads_t *self = (ord_reads_t *) zmalloc (sizeof (ord_reads_t));
    self->engine = engine;
    self->stats = stats;
    self->pool = pool;
    return self;
}

void
ord_reads_destroy (ord_reads_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_reads_t *self = *self_p;
    if (self->read_txn)
        mdb_txn_abort (self->read_txn);
    free (self);
    *self_p = NULL;
}

//  Starts a read in the reads' own read-only transaction, which s_read_end
//  resets and the next s_read renews. Under MDB_NOTLS, mdb_txn_begin
//  allocates a transaction and takes the reader table's lock to find a
//  slot, each time; a reset transaction keeps both, and holds no snapshot
//  back. Only for a read that ends before anything else can start one
//  (get, list). Errors: ORD_ESTORE.
static int
s_read (ord_reads_t *self, MDB_txn **txn_p)
{
    if (self->read_txn && ord_store_read_renew (self->engine->store, self->read_txn)) {
        mdb_txn_abort (self->read_txn);
        self->read_txn = NULL;
    }
    if (!self->read_txn && ord_store_read (self->engine->store, &self->read_txn))
        return ORD_ESTORE;
    *txn_p = self->read_txn;
    return 0;
}

static void
s_read_end (ord_reads_t *self)
{
    ord_store_read_reset (self->engine->store, self->read_txn);
}

static void
s_pack_order_list (msgpack_packer *pk, zlist_t *orders)
{
    msgpack_pack_array (pk, zlist_size (orders));
    for (ord_order_t *order = (ord_order_t *) zlist_first (orders); order;
         order = (ord_order_t *) zlist_next (orders))
        ord_order_pack (order, pk, false);
}

static void
s_free_order_list (zlist_t **orders_p)
{
    ord_order_t *order;
    while (*orders_p && (order = (ord_order_t *) zlist_pop (*orders_p)))
        ord_order_destroy (&order);
    zlist_destroy (orders_p);
}

typedef struct {
    msgpack_packer *pk;
    uint32_t count;
} s_history_pack_t;

static int
s_history_count (const ord_transition_t *transition, void *arg)
{
    (void) transition;
    ((s_history_pack_t *) arg)->count++;
    return 0;
}

static int
s_history_pack (const ord_transition_t *transition, void *arg)
{
    ord_transition_pack (transition, NULL, ((s_history_pack_t *) arg)->pk);
    return 0;
}

static bool
s_include_deleted (const ord_request_t *request, ord_why_t *why, int *rc)
{
    bool include_deleted = false;
    if (request->door == ORD_DOOR_ADMIN)
        *rc = ord_wire_bool (&request->body.data, "include_deleted", &include_deleted, why);
    return include_deleted;
}

//  Answers from the stored record's bytes: only the owner and deleted_at
//  are read, the order itself is copied into the reply as it is.
int
ord_reads_get (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
               ord_why_t *why)
{
    bool history = false;
    int rc = ord_wire_bool (&request->body.data, "history", &history, why);
    bool include_deleted = s_include_deleted (request, why, &rc);
    if (rc)
        return rc;
    why->text [0] = 0;
    ord_store_t *store = self->engine->store;
    MDB_txn *txn;
    rc = s_read (self, &txn);
    if (rc)
        return rc;
    MDB_val key = { ORD_ORDER_ID_SIZE - 1, (void *) request->order_id }, value;
    int mdb_rc = mdb_get (txn, ord_store_dbi (store, ORD_DB_ORDERS), &key, &value);
    //  A stored record was checked on its way in: the two fields are read
    //  in place, as decoding the record would cost an 8 KiB zone a get
    ord_str_t owner = { NULL, 0 };
    bool deleted = false;
    if (mdb_rc == MDB_NOTFOUND)
        rc = ORD_ENOTFOUND;
    else
    if (mdb_rc)
        rc = ORD_ESTORE;
    else
        rc = ord_order_peek (value.mv_data, value.mv_size, &owner, &deleted);
    if (rc == 0 && deleted && !include_deleted)
        rc = ORD_ENOTFOUND;
    else
    if (rc == 0 && request->user_id.ptr
    &&  !(owner.ptr && owner.len == request->user_id.len
          && memcmp (owner.ptr, request->user_id.ptr, owner.len) == 0))
        rc = ORD_EFORBIDDEN;
    if (rc == 0) {
        ord_reply_begin (pk, request->rid, true, history? 2: 1);
        ord_pack_cstr (pk, "order");
        rc = ord_order_pack_from_record (value.mv_data, value.mv_size, pk);
    }
    if (rc == 0 && history) {
        s_history_pack_t walk = { pk, 0 };
        rc = ord_store_history (store, txn, request->order_id, s_history_count, &walk);
        if (rc == 0) {
            ord_pack_cstr (pk, "history");
            msgpack_pack_array (pk, walk.count);
            rc = ord_store_history (store, txn, request->order_id, s_history_pack, &walk);
        }
    }
    s_read_end (self);
    if (rc == ORD_ENOTFOUND)
        ord_why_set (why, "no such order");
    else
    if (rc == ORD_EFORBIDDEN)
        ord_why_set (why, "the order belongs to another user");
    return rc;
}

int
ord_reads_list (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                ord_why_t *why)
{
    const msgpack_object *body = &request->body.data;
    ord_str_t status, after;
    int64_t limit = 50;
    int rc = ord_wire_str (body, "status", false, 32, &status, why);
    if (!rc)
        rc = ord_wire_int (body, "limit", false, 1, 500, &limit, why);
    if (!rc)
        rc = ord_wire_str (body, "after", false, 64, &after, why);
    ord_list_query_t query = { NULL, ORD_STATUS_NONE, NULL, (size_t) limit, false };
    query.include_deleted = s_include_deleted (request, why, &rc);
    if (!rc && status.ptr) {
        query.status = ord_status_parse (status.ptr, status.len);
        if (query.status == ORD_STATUS_NONE) {
            ord_why_set (why, "status: not a known order status");
            rc = ORD_EBADREQ;
        }
    }
    if (rc)
        return rc;
    why->text [0] = 0;
    char *user_id = ord_str_dup (request->user_id);
    char *cursor = ord_str_dup (after);
    query.user_id = user_id;
    query.after = cursor;
    MDB_txn *txn;
    zlist_t *orders = NULL;
    bool more = false;
    rc = s_read (self, &txn);
    if (!rc) {
        rc = ord_store_list (self->engine->store, txn, &query, &orders, &more);
        s_read_end (self);
    }
    free (user_id);
    free (cursor);
    if (rc)
        return rc;
    ord_reply_begin (pk, request->rid, true, 2);
    ord_pack_cstr (pk, "orders");
    s_pack_order_list (pk, orders);
    ord_pack_cstr (pk, "next");
    ord_order_t *last = (ord_order_t *) zlist_tail (orders);
    ord_pack_cstr (pk, more && last? last->id: NULL);
    s_free_order_list (&orders);
    return 0;
}

static void
s_pack_adapter_check (msgpack_packer *pk, ord_adapter_t *adapter)
{
    char reason [256];
    bool healthy = ord_adapter_healthy (adapter, reason, sizeof reason);
    ord_pack_cstr (pk, ord_adapter_kind (adapter));
    msgpack_pack_map (pk, 4);
    ord_pack_kv_cstr (pk, "status", healthy? "ok": "down");
    ord_pack_kv_cstr (pk, "name", ord_adapter_name (adapter));
    ord_pack_kv_cstr (pk, "version", ord_adapter_version (adapter));
    ord_pack_kv_cstr (pk, "reason", healthy? NULL: reason);
}

int
ord_reads_health (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                  ord_why_t *why)
{
    ord_engine_t *engine = self->engine;
    bool detailed = false;
    int rc = ord_wire_bool (&request->body.data, "detailed", &detailed, why);
    if (rc)
        return rc;
    MDB_txn *txn;
    size_t orders = 0, used = 0, map = 1;
    bool store_ok = ord_store_read (engine->store, &txn) == 0;
    if (store_ok) {
        ord_store_usage (engine->store, txn, &orders, &used, &map);
        ord_store_read_end (engine->store, txn);
    }
    //  The writer grows a filling map; only one that cannot grow is news
    bool store_full = ord_store_map_stuck (engine->store);
    bool adapters_ok = ord_adapter_healthy (engine->payment, NULL, 0)
                    && ord_adapter_healthy (engine->fulfilment, NULL, 0);
    const char *status = !store_ok? "down": (!adapters_ok || store_full)? "degraded": "ok";
    ord_reply_begin (pk, request->rid, true, detailed? 8: 1);
    ord_pack_kv_cstr (pk, "status", status);
    if (detailed) {
        ord_pack_cstr (pk, "checks");
        msgpack_pack_map (pk, 3);
        ord_pack_cstr (pk, "store");
        msgpack_pack_map (pk, 4);
        ord_pack_kv_cstr (pk, "status", !store_ok? "down": store_full? "degraded": "ok");
        ord_pack_kv_int (pk, "used_bytes", (int64_t) used);
        ord_pack_kv_int (pk, "map_bytes", (int64_t) map);
        ord_pack_kv_cstr (pk, "reason", store_full? "the store's map is over 80% full and cannot "
                          "grow (orderd/map_size_max reached, or the disk is full)": NULL);
        s_pack_adapter_check (pk, engine->payment);
        s_pack_adapter_check (pk, engine->fulfilment);
        ord_pack_kv_int (pk, "uptime_ms", ord_engine_now () - engine->started_at);
        ord_pack_kv_int (pk, "live_actors", (int64_t) ord_pool_live (self->pool));
        ord_pack_kv_int (pk, "orders", (int64_t) orders);
        ord_pack_kv_int (pk, "sagas_recovered", (int64_t) atomic_load (&engine->sagas_recovered));
        ord_pack_kv_int (pk, "sagas_recovering", (int64_t) atomic_load (&engine->sagas_recovering));
        ord_pack_kv_int (pk, "queue_depth", (int64_t) ord_pool_waiting (self->pool));
    }
    return 0;
}

static void
s_pack_rates (msgpack_packer *pk, ord_stats_t *stats, bool transitions)
{
    ord_pack_cstr (pk, transitions? "transitions_per_s": "requests_per_s");
    msgpack_pack_map (pk, 2);
    ord_pack_cstr (pk, "10s");
    msgpack_pack_double (pk, transitions? ord_stats_transition_rate (stats, 10)
                                        : ord_stats_request_rate (stats, 10));
    ord_pack_cstr (pk, "60s");
    msgpack_pack_double (pk, transitions? ord_stats_transition_rate (stats, 60)
                                        : ord_stats_request_rate (stats, 60));
}

static void
s_pack_history (msgpack_packer *pk, ord_stats_t *stats, bool transitions)
{
    uint64_t history [60];
    int points = ord_stats_history (stats, transitions, history, 60);
    ord_pack_cstr (pk, transitions? "transitions_history": "requests_history");
    msgpack_pack_array (pk, (size_t) points);
    for (int i = 0; i < points; i++)
        msgpack_pack_uint64 (pk, history [i]);
}

//  Latency percentiles of every op that has been asked at least once
static void
s_pack_latencies (msgpack_packer *pk, ord_stats_t *stats)
{
    uint32_t asked = 0;
    for (int op = 0; op < ORD_OP_COUNT; op++)
        asked += ord_stats_count (stats, op) > 0;
    ord_pack_cstr (pk, "latency_us");
    msgpack_pack_map (pk, asked);
    for (int op = 0; op < ORD_OP_COUNT; op++) {
        if (ord_stats_count (stats, op) == 0)
            continue;
        ord_pack_cstr (pk, ord_op_name ((ord_op_t) op));
        msgpack_pack_map (pk, 5);
        ord_pack_kv_int (pk, "count", (int64_t) ord_stats_count (stats, op));
        ord_pack_kv_int (pk, "p50", ord_stats_percentile (stats, op, 50));
        ord_pack_kv_int (pk, "p90", ord_stats_percentile (stats, op, 90));
        ord_pack_kv_int (pk, "p99", ord_stats_percentile (stats, op, 99));
        ord_pack_kv_int (pk, "p99.9", ord_stats_percentile (stats, op, 99.9));
    }
}

//  The hand-offs between threads since start: messages into and out of
//  the order actors, round trips to the store's writer, calls to each
//  adapter (orderbench divides them by the orders of a run)
static void
s_pack_handoffs (msgpack_packer *pk, ord_engine_t *engine)
{
    ord_pack_cstr (pk, "handoffs");
    msgpack_pack_map (pk, 3);
    ord_pack_kv_int (pk, "actor_messages", (int64_t) atomic_load_explicit (
                         &engine->actor_messages, memory_order_relaxed));
    ord_pack_kv_int (pk, "writer_round_trips",
                     (int64_t) ord_store_round_trips (engine->store));
    ord_pack_cstr (pk, "adapter_calls");
    msgpack_pack_map (pk, 2);
    ord_pack_kv_int (pk, ord_adapter_kind (engine->payment),
                     (int64_t) ord_adapter_calls (engine->payment));
    ord_pack_kv_int (pk, ord_adapter_kind (engine->fulfilment),
                     (int64_t) ord_adapter_calls (engine->fulfilment));
}

int
ord_reads_stats (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                 ord_why_t *why)
{
    (void) why;
    ord_engine_t *engine = self->engine;
    MDB_txn *txn;
    size_t orders = 0, used = 0, map = 1;
    uint64_t counts [ORD_STATUS_COUNT] = { 0 };
    uint64_t needs_review = 0;
    if (ord_store_read (engine->store, &txn) == 0) {
        ord_store_usage (engine->store, txn, &orders, &used, &map);
        ord_store_status_counts (engine->store, txn, counts, &needs_review);
        ord_store_read_end (engine->store, txn);
    }
    uint64_t commits, batches, largest;
    ord_store_commit_stats (engine->store, &commits, &batches, &largest);
    ord_reply_begin (pk, request->rid, true, 17);
    ord_pack_cstr (pk, "counts");
    msgpack_pack_map (pk, ORD_STATUS_COUNT - 1);
    for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++)
        ord_pack_kv_int (pk, ord_status_name ((ord_status_t) status), (int64_t) counts [status]);
    ord_pack_kv_int (pk, "needs_review", (int64_t) needs_review);
    s_pack_rates (pk, self->stats, false);
    s_pack_rates (pk, self->stats, true);
    s_pack_history (pk, self->stats, false);
    s_pack_history (pk, self->stats, true);
    s_pack_latencies (pk, self->stats);
    ord_pack_kv_int (pk, "live_actors", (int64_t) ord_pool_live (self->pool));
    ord_pack_kv_int (pk, "queue_depth", (int64_t) ord_pool_waiting (self->pool));
    ord_pack_kv_int (pk, "transitions", (int64_t) atomic_load (&engine->transitions));
    ord_pack_kv_int (pk, "commits", (int64_t) commits);
    ord_pack_cstr (pk, "batch_size");
    msgpack_pack_map (pk, 2);
    ord_pack_cstr (pk, "mean");
    msgpack_pack_double (pk, commits? (double) batches / (double) commits: 0);
    ord_pack_kv_int (pk, "max", (int64_t) largest);
    ord_pack_cstr (pk, "store");
    msgpack_pack_map (pk, 4);
    ord_pack_kv_int (pk, "orders", (int64_t) orders);
    ord_pack_kv_int (pk, "used_bytes", (int64_t) used);
    ord_pack_kv_int (pk, "map_bytes", (int64_t) map);
    ord_pack_cstr (pk, "map_usage");
    msgpack_pack_double (pk, map? (double) used / (double) map: 0);
    ord_pack_cstr (pk, "adapters");
    msgpack_pack_map (pk, 2);
    s_pack_adapter_check (pk, engine->payment);
    s_pack_adapter_check (pk, engine->fulfilment);
    ord_pack_kv_int (pk, "sagas_recovered", (int64_t) atomic_load (&engine->sagas_recovered));
    ord_pack_kv_int (pk, "sagas_recovering", (int64_t) atomic_load (&engine->sagas_recovering));
    s_pack_handoffs (pk, engine);
    return 0;
}
