/*  front: doors, validation, reads, the actor pool and background timers. */
#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "actor.h"
#include "auth.h"
#include "front.h"
#include "stats.h"

#define S_MAX_PER_ORDER   64       //  requests queued on one order's actor
#define S_SPARE_ACTORS    64       //  unbound actors kept for reuse
#define S_STOPS_PER_TICK  32       //  idle actors stopped per second at most
#define S_SCAN_MAX        256      //  timers or sagas picked up per tick
#define S_PURGE_MAX       1000     //  idempotency keys purged per tick
#define S_STOP_GRACE_MS   30000    //  in-flight work gets this long at stop
#define S_BURST           64       //  messages taken from one socket a wake-up
#define S_REPLY_KEEP      65536    //  a reply buffer grown past this is freed
#define S_SPARE_FRAMES    64       //  frames kept for the next requests
#define S_SPARE_FRAME_MAX 4096     //  ...when they hold at most this many bytes
#define S_TRIM_QUIET_S    5        //  quiet seconds before freed heap goes back
#define S_TRIM_QUIET_RATE 10       //  requests a second that still count as quiet

typedef struct {
    zactor_t *actor;
    char key [ORD_ORDER_ID_SIZE];  //  the order it serves; "" when spare
    size_t inflight;
    void *idle_handle;             //  its place in the idle list
    int64_t idle_since;
    bool fresh;                    //  bound since its last request
} s_slot_t;

struct _ord_front_t {
    ord_engine_t *engine;
    ord_config_t *config;
    zsock_t *doors [2];
    zsock_t *replies;
    zsock_t *writer;               //  for the idempotency purge
    zactor_t *prober;
    zloop_t *loop;
    zhashx_t *bound;               //  key -> s_slot_t
    zlistx_t *idle;                //  bound idle slots, least recently used first
    zlistx_t *spare;               //  unbound slots
    size_t live;
    zlistx_t *waiting;             //  requests waiting for an actor
    zhashx_t *idem_inflight;       //  hex idem key -> zlistx_t of waiting requests
    size_t inflight;
    int64_t last_ms;
    uint32_t last_seq;
    bool stopping;
    int64_t stop_deadline;
    int signal_fd;
    ord_stats_t *stats;
    msgpack_sbuffer reply;         //  replies packed here, one after the other
    MDB_txn *read_txn;             //  get and list read in it; reset between
    zframe_t *spare_frames [S_SPARE_FRAMES];
    size_t spare_frame_count;
    uint64_t requests_taken;       //  off the doors, ever
    uint64_t requests_at_tick;     //  ...at the last s_on_second
    int quiet_seconds;             //  ticks in a row without a request
    bool heap_dirty;               //  work or stopped actors since the last trim
};

static void s_process (ord_front_t *self, ord_request_t *request);

static char *
s_idem_hex (const ord_request_t *request)
{
    char *hex = (char *) malloc (request->idem_key_size * 2 + 1);
    assert (hex);
    for (size_t i = 0; i < request->idem_key_size; i++)
        sprintf (hex + i * 2, "%02x", (unsigned char) request->idem_key [i]);
    return hex;
}

//  ---------------------------------------------------------------------
//  Replies

//  A frame holding a copy of `size` bytes at `data`: a spare one refilled
//  when there is one. A new zframe_t is a 360-byte calloc, which glibc
//  serves from a small bin, not its thread cache, and in a loaded daemon
//  the chunk it hands out is cold: each request took two (its routing id
//  and its body) and each reply one.
static zframe_t *
s_frame_new (ord_front_t *self, const void *data, size_t size)
{
    if (self->spare_frame_count == 0)
        return zframe_new (data, size);
    zframe_t *frame = self->spare_frames [--self->spare_frame_count];
    zframe_reset (frame, data, size);
    return frame;
}

//  Keeps a frame for s_frame_new, or destroys it when enough are kept or
//  it holds a big body.
static void
s_frame_free (ord_front_t *self, zframe_t **frame_p)
{
    if (*frame_p && self->spare_frame_count < S_SPARE_FRAMES
    &&  zframe_size (*frame_p) <= S_SPARE_FRAME_MAX) {
        self->spare_frames [self->spare_frame_count++] = *frame_p;
        *frame_p = NULL;
    }
    else
        zframe_destroy (frame_p);
}

//  Sends a request's reply, if it has one, and destroys the request. The
//  reply is request->reply or, for one packed on the front, the bytes in
//  `packed`, which libzmq copies into its message: no zframe_t is made
//  for them (see s_frame_new).
static void
s_finish (ord_front_t *self, ord_request_t **request_p, const msgpack_sbuffer *packed)
{
    ord_request_t *request = *request_p;
    zlistx_t *held = NULL;
    if (request->idem_holder) {
        char *hex = s_idem_hex (request);
        held = (zlistx_t *) zhashx_lookup (self->idem_inflight, hex);
        zhashx_delete (self->idem_inflight, hex);
        free (hex);
    }
    if (request->door != ORD_DOOR_INTERNAL && (packed || request->reply)) {
        ord_stats_record (self->stats, request->op, zclock_usecs () - request->received_at,
                          false);
        //  The envelope, its frames kept for the next requests, then the
        //  reply after it: appending the reply to the envelope would cost
        //  a list node. What could not be sent is destroyed with the request
        zsock_t *door = self->doors [request->door];
        zframe_t *frame;
        int rc = 0;
        while (rc == 0 && request->envelope && (frame = zmsg_pop (request->envelope))) {
            rc = zframe_send (&frame, door, ZFRAME_MORE | ZFRAME_REUSE);
            s_frame_free (self, &frame);
        }
        if (rc == 0)
            rc = packed? zmq_send (zsock_resolve (door), packed->data, packed->size, 0)
                       : zframe_send (&request->reply, door, 0);
        if (rc < 0)
            ord_debug ("a %s reply was not sent: %s", ord_op_name (request->op),
                       zmq_strerror (zmq_errno ()));
    }
    //  The body is not read again: the decoded request points into it, but
    //  destroying that only frees its own zone
    s_frame_free (self, &request->body_frame);
    ord_request_destroy (request_p);
    //  Requests that waited on the same idempotency key now find its reply
    ord_request_t *next;
    while (held && (next = (ord_request_t *) zlistx_detach (held, NULL)))
        s_process (self, next);
    zlistx_destroy (&held);
}

static void
s_send (ord_front_t *self, ord_request_t **request_p)
{
    s_finish (self, request_p, NULL);
}

static void
s_fail (ord_front_t *self, ord_request_t **request_p, int rc, const char *message)
{
    ord_request_t *request = *request_p;
    zframe_destroy (&request->reply);
    request->reply = ord_reply_order (request->rid, rc, message, NULL);
    s_send (self, request_p);
}

//  The front's reply buffer, emptied, with `pk` packing into it. Every
//  reply packed here reuses it: a buffer of its own costs each reply an
//  8 KiB malloc and free, and in glibc a malloc that size also sweeps the
//  fast bins that the many small allocations of a request are served from.
static void
s_reply_start (ord_front_t *self, msgpack_packer *pk)
{
    msgpack_sbuffer_clear (&self->reply);
    msgpack_packer_init (pk, &self->reply, msgpack_sbuffer_write);
}

//  Sends what was packed since s_reply_start as the request's reply. The
//  buffer is free again once sent, before requests waiting on the same
//  idempotency key are processed and pack their own.
static void
s_reply_send (ord_front_t *self, ord_request_t *request)
{
    s_finish (self, &request, &self->reply);
    if (self->reply.alloc > S_REPLY_KEEP) {
        //  A long history grew it: give that back
        msgpack_sbuffer_destroy (&self->reply);
        msgpack_sbuffer_init (&self->reply);
    }
}

//  ---------------------------------------------------------------------
//  The actor pool

static void
s_slot_destroy (s_slot_t **slot_p)
{
    s_slot_t *slot = *slot_p;
    zactor_destroy (&slot->actor);
    free (slot);
    *slot_p = NULL;
}

static void
s_unbind (ord_front_t *self, s_slot_t *slot)
{
    if (slot->idle_handle) {
        zlistx_delete (self->idle, slot->idle_handle);
        slot->idle_handle = NULL;
    }
    zhashx_delete (self->bound, slot->key);
    slot->key [0] = 0;
}

//  An actor for a new binding: a spare one, else the least recently used
//  idle one (its order passivates: it is read from the store again on its
//  next request), else a new one. Reusing before creating keeps the number
//  of threads near the number of orders actually in flight. NULL when
//  every actor is busy.
static s_slot_t *
s_acquire (ord_front_t *self)
{
    s_slot_t *slot = (s_slot_t *) zlistx_detach (self->spare, NULL);
    if (slot)
        return slot;
    slot = (s_slot_t *) zlistx_first (self->idle);
    if (slot) {
        s_unbind (self, slot);
        return slot;
    }
    if (self->live < (size_t) self->config->max_live_actors) {
        slot = (s_slot_t *) zmalloc (sizeof (s_slot_t));
        slot->actor = zactor_new (ord_actor, self->engine);
        if (!slot->actor) {
            free (slot);
            return NULL;
        }
        self->live++;
        return slot;
    }
    return NULL;
}

//  Hands a request to the actor of its order (request->order_id, or
//  "$stock" for the admin stock op). Returns false when no actor can take
//  it now (the caller queues it).
static bool
s_dispatch (ord_front_t *self, ord_request_t *request)
{
    const char *key = request->order_id;
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, key);
    if (!slot) {
        slot = s_acquire (self);
        if (!slot)
            return false;
        snprintf (slot->key, sizeof slot->key, "%s", key);
        slot->fresh = true;
        zhashx_insert (self->bound, slot->key, slot);
    }
    else
    if (slot->inflight >= S_MAX_PER_ORDER) {
        s_fail (self, &request, ORD_EBUSY, "too many requests queued for this order");
        return true;
    }
    if (slot->idle_handle) {
        zlistx_delete (self->idle, slot->idle_handle);
        slot->idle_handle = NULL;
    }
    request->fresh = slot->fresh;
    slot->fresh = false;
    slot->inflight++;
    self->inflight++;
    if (zsock_send (slot->actor, "sp", "REQ", request)) {
        slot->inflight--;
        self->inflight--;
        s_fail (self, &request, ORD_EINTERNAL, "cannot reach the order actor");
    }
    return true;
}

static void
s_dispatch_or_wait (ord_front_t *self, ord_request_t *request, const char *key)
{
    //  The key goes with the request, so that a request that waits is
    //  still bound to its own order's actor when its turn comes
    if (key != request->order_id)
        snprintf (request->order_id, sizeof request->order_id, "%s", key);
    if (s_dispatch (self, request))
        return;
    if (zlistx_size (self->waiting) >= (size_t) self->config->max_queue) {
        s_fail (self, &request, ORD_EBUSY, "every order actor is busy and the queue is full");
        return;
    }
    zlistx_add_end (self->waiting, request);
}

static void
s_drain_waiting (ord_front_t *self)
{
    ord_request_t *request;
    while ((request = (ord_request_t *) zlistx_first (self->waiting))) {
        if (!s_dispatch (self, request))
            break;
        zlistx_detach (self->waiting, NULL);
    }
}

//  An actor answered: send the reply, free the actor if it is idle, and
//  let waiting requests in.
static int
s_on_reply (zloop_t *loop, zsock_t *replies, void *arg)
{
    (void) loop;
    ord_front_t *self = (ord_front_t *) arg;
    for (int taken = 0; taken < S_BURST; taken++) {
        if (taken > 0 && !(zsock_events (replies) & ZMQ_POLLIN))
            break;
        ord_request_t *request = NULL;
        if (zsock_recv (replies, "p", &request) || !request)
            break;
        s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, request->order_id);
        if (slot && --slot->inflight == 0) {
            slot->idle_since = zclock_mono ();
            slot->idle_handle = zlistx_add_end (self->idle, slot);
        }
        self->inflight--;
        s_send (self, &request);
        s_drain_waiting (self);
        if (self->stopping && self->inflight == 0)
            return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Reads

//  Starts a read in the front's own read-only transaction, which
//  s_read_end resets and the next s_read renews. Under MDB_NOTLS,
//  mdb_txn_begin allocates a transaction and takes the reader table's
//  lock to find a slot, each time; a reset transaction keeps both, and
//  holds no snapshot back. Only for a read that ends before anything else
//  can start one (get, list: they answer after s_read_end). Errors:
//  ORD_ESTORE.
static int
s_read (ord_front_t *self, MDB_txn **txn_p)
{
    if (self->read_txn && mdb_txn_renew (self->read_txn)) {
        mdb_txn_abort (self->read_txn);
        self->read_txn = NULL;
    }
    if (!self->read_txn && ord_store_read (self->engine->store, &self->read_txn))
        return ORD_ESTORE;
    *txn_p = self->read_txn;
    return 0;
}

static void
s_read_end (ord_front_t *self)
{
    mdb_txn_reset (self->read_txn);
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
s_include_deleted (ord_request_t *request, ord_why_t *why, int *rc)
{
    bool include_deleted = false;
    if (request->door == ORD_DOOR_ADMIN)
        *rc = ord_wire_bool (&request->body.data, "include_deleted", &include_deleted, why);
    return include_deleted;
}

//  Answers from the stored record's bytes: only the owner and deleted_at
//  are read, the order itself is copied into the reply as it is.
static void
s_do_get (ord_front_t *self, ord_request_t *request)
{
    ord_why_t why;
    bool history = false;
    int rc = ord_wire_bool (&request->body.data, "history", &history, &why);
    bool include_deleted = s_include_deleted (request, &why, &rc);
    if (rc) {
        s_fail (self, &request, rc, why.text);
        return;
    }
    ord_store_t *store = self->engine->store;
    MDB_txn *txn;
    rc = s_read (self, &txn);
    if (rc) {
        s_fail (self, &request, rc, NULL);
        return;
    }
    MDB_val key = { ORD_ORDER_ID_SIZE - 1, request->order_id }, value;
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
    msgpack_packer pk;
    s_reply_start (self, &pk);
    if (rc == 0) {
        ord_reply_begin (&pk, request->rid, true, history? 2: 1);
        ord_pack_cstr (&pk, "order");
        rc = ord_order_pack_from_record (value.mv_data, value.mv_size, &pk);
    }
    if (rc == 0 && history) {
        s_history_pack_t walk = { &pk, 0 };
        ord_store_history (store, txn, request->order_id, s_history_count, &walk);
        ord_pack_cstr (&pk, "history");
        msgpack_pack_array (&pk, walk.count);
        ord_store_history (store, txn, request->order_id, s_history_pack, &walk);
    }
    s_read_end (self);
    if (rc) {
        s_fail (self, &request, rc, rc == ORD_ENOTFOUND? "no such order":
                                    rc == ORD_EFORBIDDEN? "the order belongs to another user": NULL);
        return;
    }
    s_reply_send (self, request);
}

static void
s_do_list (ord_front_t *self, ord_request_t *request)
{
    const msgpack_object *body = &request->body.data;
    ord_why_t why;
    ord_str_t status, after;
    int64_t limit = 50;
    int rc = ord_wire_str (body, "status", false, 32, &status, &why);
    if (!rc)
        rc = ord_wire_int (body, "limit", false, 1, 500, &limit, &why);
    if (!rc)
        rc = ord_wire_str (body, "after", false, 64, &after, &why);
    ord_list_query_t query = { NULL, ORD_STATUS_NONE, NULL, (size_t) limit, false };
    query.include_deleted = s_include_deleted (request, &why, &rc);
    if (!rc && status.ptr) {
        query.status = ord_status_parse (status.ptr, status.len);
        if (query.status == ORD_STATUS_NONE) {
            ord_why_set (&why, "status: not a known order status");
            rc = ORD_EBADREQ;
        }
    }
    if (rc) {
        s_fail (self, &request, rc, why.text);
        return;
    }
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
    if (rc) {
        s_fail (self, &request, rc, NULL);
        return;
    }
    msgpack_packer pk;
    s_reply_start (self, &pk);
    ord_reply_begin (&pk, request->rid, true, 2);
    ord_pack_cstr (&pk, "orders");
    s_pack_order_list (&pk, orders);
    ord_pack_cstr (&pk, "next");
    ord_order_t *last = (ord_order_t *) zlist_tail (orders);
    ord_pack_cstr (&pk, more && last? last->id: NULL);
    s_free_order_list (&orders);
    s_reply_send (self, request);
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

static void
s_do_health (ord_front_t *self, ord_request_t *request)
{
    ord_engine_t *engine = self->engine;
    ord_why_t why;
    bool detailed = false;
    int rc = ord_wire_bool (&request->body.data, "detailed", &detailed, &why);
    if (rc) {
        s_fail (self, &request, rc, why.text);
        return;
    }
    MDB_txn *txn;
    size_t orders = 0, used = 0, map = 1;
    bool store_ok = ord_store_read (engine->store, &txn) == 0;
    if (store_ok) {
        ord_store_usage (engine->store, txn, &orders, &used, &map);
        mdb_txn_abort (txn);
    }
    bool store_full = used * 100 >= map * 95;
    bool adapters_ok = ord_adapter_healthy (engine->payment, NULL, 0)
                    && ord_adapter_healthy (engine->fulfilment, NULL, 0);
    const char *status = !store_ok? "down": (!adapters_ok || store_full)? "degraded": "ok";
    msgpack_packer pk;
    s_reply_start (self, &pk);
    ord_reply_begin (&pk, request->rid, true, detailed? 7: 1);
    ord_pack_kv_cstr (&pk, "status", status);
    if (detailed) {
        ord_pack_cstr (&pk, "checks");
        msgpack_pack_map (&pk, 3);
        ord_pack_cstr (&pk, "store");
        msgpack_pack_map (&pk, 4);
        ord_pack_kv_cstr (&pk, "status", !store_ok? "down": store_full? "degraded": "ok");
        ord_pack_kv_int (&pk, "used_bytes", (int64_t) used);
        ord_pack_kv_int (&pk, "map_bytes", (int64_t) map);
        ord_pack_kv_cstr (&pk, "reason", store_full? "the store is over 95% of map_size": NULL);
        s_pack_adapter_check (&pk, engine->payment);
        s_pack_adapter_check (&pk, engine->fulfilment);
        ord_pack_kv_int (&pk, "uptime_ms", ord_engine_now () - engine->started_at);
        ord_pack_kv_int (&pk, "live_actors", (int64_t) self->live);
        ord_pack_kv_int (&pk, "orders", (int64_t) orders);
        ord_pack_kv_int (&pk, "sagas_recovered", (int64_t) atomic_load (&engine->sagas_recovered));
        ord_pack_kv_int (&pk, "queue_depth", (int64_t) zlistx_size (self->waiting));
    }
    s_reply_send (self, request);
}

static void
s_do_stats (ord_front_t *self, ord_request_t *request)
{
    ord_engine_t *engine = self->engine;
    MDB_txn *txn;
    size_t orders = 0, used = 0, map = 1;
    uint64_t counts [ORD_STATUS_COUNT] = { 0 };
    uint64_t needs_review = 0;
    if (ord_store_read (engine->store, &txn) == 0) {
        ord_store_usage (engine->store, txn, &orders, &used, &map);
        ord_store_status_counts (engine->store, txn, counts, &needs_review);
        mdb_txn_abort (txn);
    }
    uint64_t commits, batches, largest;
    ord_store_commit_stats (engine->store, &commits, &batches, &largest);
    msgpack_packer pk;
    s_reply_start (self, &pk);
    ord_reply_begin (&pk, request->rid, true, 15);
    ord_pack_cstr (&pk, "counts");
    msgpack_pack_map (&pk, ORD_STATUS_COUNT - 1);
    for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++)
        ord_pack_kv_int (&pk, ord_status_name ((ord_status_t) status), (int64_t) counts [status]);
    ord_pack_kv_int (&pk, "needs_review", (int64_t) needs_review);
    ord_pack_cstr (&pk, "requests_per_s");
    msgpack_pack_map (&pk, 2);
    ord_pack_cstr (&pk, "10s");
    msgpack_pack_double (&pk, ord_stats_request_rate (self->stats, 10));
    ord_pack_cstr (&pk, "60s");
    msgpack_pack_double (&pk, ord_stats_request_rate (self->stats, 60));
    ord_pack_cstr (&pk, "transitions_per_s");
    msgpack_pack_map (&pk, 2);
    ord_pack_cstr (&pk, "10s");
    msgpack_pack_double (&pk, ord_stats_transition_rate (self->stats, 10));
    ord_pack_cstr (&pk, "60s");
    msgpack_pack_double (&pk, ord_stats_transition_rate (self->stats, 60));
    uint64_t history [60];
    int points = ord_stats_history (self->stats, false, history, 60);
    ord_pack_cstr (&pk, "requests_history");
    msgpack_pack_array (&pk, (size_t) points);
    for (int i = 0; i < points; i++)
        msgpack_pack_uint64 (&pk, history [i]);
    points = ord_stats_history (self->stats, true, history, 60);
    ord_pack_cstr (&pk, "transitions_history");
    msgpack_pack_array (&pk, (size_t) points);
    for (int i = 0; i < points; i++)
        msgpack_pack_uint64 (&pk, history [i]);
    //  Latency percentiles of every op that has been asked at least once
    uint32_t asked = 0;
    for (int op = 0; op < ORD_OP_COUNT; op++)
        asked += ord_stats_count (self->stats, op) > 0;
    ord_pack_cstr (&pk, "latency_us");
    msgpack_pack_map (&pk, asked);
    for (int op = 0; op < ORD_OP_COUNT; op++) {
        if (ord_stats_count (self->stats, op) == 0)
            continue;
        ord_pack_cstr (&pk, ord_op_name ((ord_op_t) op));
        msgpack_pack_map (&pk, 5);
        ord_pack_kv_int (&pk, "count", (int64_t) ord_stats_count (self->stats, op));
        ord_pack_kv_int (&pk, "p50", ord_stats_percentile (self->stats, op, 50));
        ord_pack_kv_int (&pk, "p90", ord_stats_percentile (self->stats, op, 90));
        ord_pack_kv_int (&pk, "p99", ord_stats_percentile (self->stats, op, 99));
        ord_pack_kv_int (&pk, "p99.9", ord_stats_percentile (self->stats, op, 99.9));
    }
    ord_pack_kv_int (&pk, "live_actors", (int64_t) self->live);
    ord_pack_kv_int (&pk, "queue_depth", (int64_t) zlistx_size (self->waiting));
    ord_pack_kv_int (&pk, "transitions", (int64_t) atomic_load (&engine->transitions));
    ord_pack_kv_int (&pk, "commits", (int64_t) commits);
    ord_pack_cstr (&pk, "batch_size");
    msgpack_pack_map (&pk, 2);
    ord_pack_cstr (&pk, "mean");
    msgpack_pack_double (&pk, commits? (double) batches / (double) commits: 0);
    ord_pack_kv_int (&pk, "max", (int64_t) largest);
    ord_pack_cstr (&pk, "store");
    msgpack_pack_map (&pk, 4);
    ord_pack_kv_int (&pk, "orders", (int64_t) orders);
    ord_pack_kv_int (&pk, "used_bytes", (int64_t) used);
    ord_pack_kv_int (&pk, "map_bytes", (int64_t) map);
    ord_pack_cstr (&pk, "map_usage");
    msgpack_pack_double (&pk, map? (double) used / (double) map: 0);
    ord_pack_cstr (&pk, "adapters");
    msgpack_pack_map (&pk, 2);
    s_pack_adapter_check (&pk, engine->payment);
    s_pack_adapter_check (&pk, engine->fulfilment);
    ord_pack_kv_int (&pk, "sagas_recovered", (int64_t) atomic_load (&engine->sagas_recovered));
    s_reply_send (self, request);
}

//  ---------------------------------------------------------------------
//  Requests

//  Ids sort by creation time: milliseconds, then a sequence within one.
static void
s_new_id (ord_front_t *self, char id [ORD_ORDER_ID_SIZE])
{
    int64_t now = ord_engine_now ();
    if (now > self->last_ms) {
        self->last_ms = now;
        self->last_seq = 0;
    }
    else
    if (++self->last_seq >= (1u << 20)) {
        self->last_ms++;
        self->last_seq = 0;
    }
    snprintf (id, ORD_ORDER_ID_SIZE, "o%016" PRIx64,
              ((uint64_t) self->last_ms << 20) | self->last_seq);
}

static bool
s_is_write (ord_op_t op)
{
    return op <= ORD_OP_RESOLVE;
}

//  Answers from the idempotency record when there is one. Returns true
//  when the request was answered (or parked behind the same key).
static bool
s_idempotent_replay (ord_front_t *self, ord_request_t *request)
{
    char *hex = s_idem_hex (request);
    zlistx_t *held = (zlistx_t *) zhashx_lookup (self->idem_inflight, hex);
    if (held) {
        zlistx_add_end (held, request);
        free (hex);
        return true;
    }
    MDB_txn *txn;
    bool answered = false;
    if (ord_store_read (self->engine->store, &txn) == 0) {
        MDB_val key = { request->idem_key_size, request->idem_key }, value;
        if (mdb_get (txn, ord_store_dbi (self->engine->store, ORD_DB_IDEM), &key, &value) == 0) {
            msgpack_unpacked record;
            msgpack_unpacked_init (&record);
            ord_why_t why;
            const msgpack_object *digest, *reply;
            int64_t at = 0;
            if (ord_wire_decode (value.mv_data, value.mv_size, &record, &why) == 0
            &&  ord_wire_int (&record.data, "at", true, 0, INT64_MAX, &at, &why) == 0
            &&  at + self->config->idem_ttl_ms > ord_engine_now ()
            &&  (digest = ord_wire_find (&record.data, "digest"))
            &&  (reply = ord_wire_find (&record.data, "reply"))
            &&  digest->type == MSGPACK_OBJECT_BIN && reply->type == MSGPACK_OBJECT_BIN) {
                answered = true;
                if (digest->via.bin.size != ORD_DIGEST_SIZE
                ||  memcmp (digest->via.bin.ptr, request->digest, ORD_DIGEST_SIZE))
                    s_fail (self, &request, ORD_EIDEMPOTENCY,
                            "idem: this key was used with a different request body");
                else {
                    msgpack_sbuffer buffer;
                    msgpack_sbuffer_init (&buffer);
                    if (ord_reply_with_rid (reply->via.bin.ptr, reply->via.bin.size,
                                            request->rid, &buffer) == 0) {
                        request->reply = zframe_new (buffer.data, buffer.size);
                        s_send (self, &request);
                    }
                    else
                        s_fail (self, &request, ORD_EINTERNAL, "stored reply unreadable");
                    msgpack_sbuffer_destroy (&buffer);
                }
            }
            msgpack_unpacked_destroy (&record);
        }
        mdb_txn_abort (txn);
    }
    if (!answered) {
        //  First of its key in flight: later ones wait for its outcome
        zhashx_insert (self->idem_inflight, hex, zlistx_new ());
        request->idem_holder = true;
    }
    free (hex);
    return answered;
}

//  Works out the idempotency key of a write: user \0 op \0 idem.
static int
s_idempotency_key (ord_request_t *request, ord_str_t idem)
{
    const char *op = ord_op_name (request->op);
    size_t user_len = request->user_id.ptr? request->user_id.len: 0;
    size_t op_len = strlen (op);
    request->idem_key_size = user_len + 1 + op_len + 1 + idem.len;
    request->idem_key = (char *) malloc (request->idem_key_size);
    if (!request->idem_key)
        return ORD_EINTERNAL;
    char *at = request->idem_key;
    if (user_len)
        memcpy (at, request->user_id.ptr, user_len);
    at += user_len;
    *at++ = 0;
    memcpy (at, op, op_len);
    at += op_len;
    *at++ = 0;
    memcpy (at, idem.ptr, idem.len);
    ord_wire_digest (&request->body.data, request->digest);
    return 0;
}

//  Routes a decoded request: reads here, changes to an actor.
static void
s_process (ord_front_t *self, ord_request_t *request)
{
    const msgpack_object *body = &request->body.data;
    ord_why_t why;
    ord_str_t order_id, idem;
    order_id.ptr = NULL;
    bool needs_order = request->op != ORD_OP_CREATE && request->op != ORD_OP_LIST
                    && request->op != ORD_OP_HEALTH && request->op != ORD_OP_STATS
                    && request->op != ORD_OP_STOCK;
    if (needs_order && ord_wire_str (body, "order_id", true, 64, &order_id, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    if (order_id.ptr) {
        if (order_id.len != ORD_ORDER_ID_SIZE - 1) {
            s_fail (self, &request, ORD_ENOTFOUND, "no such order");
            return;
        }
        memcpy (request->order_id, order_id.ptr, order_id.len);
        request->order_id [order_id.len] = 0;
    }
    if (s_is_write (request->op) && !request->idem_key) {
        if (ord_wire_str (body, "idem", false, 128, &idem, &why)) {
            s_fail (self, &request, ORD_EBADREQ, why.text);
            return;
        }
        if (idem.ptr && idem.len && s_idempotency_key (request, idem)) {
            s_fail (self, &request, ORD_EINTERNAL, NULL);
            return;
        }
    }
    if (request->idem_key && s_idempotent_replay (self, request))
        return;
    switch (request->op) {
        case ORD_OP_GET:    s_do_get (self, request); return;
        case ORD_OP_LIST:   s_do_list (self, request); return;
        case ORD_OP_HEALTH: s_do_health (self, request); return;
        case ORD_OP_STATS:  s_do_stats (self, request); return;
        case ORD_OP_STOCK:  s_dispatch_or_wait (self, request, "$stock"); return;
        case ORD_OP_CREATE: {
            ord_order_t *order = NULL;
            int rc = ord_order_from_request (body, &order, &why);
            if (rc) {
                //  Let an idempotent retry of a refused create be evaluated afresh
                s_fail (self, &request, rc, why.text);
                return;
            }
            s_new_id (self, order->id);
            request->new_order = order;
            s_dispatch_or_wait (self, request, order->id);
            return;
        }
        default:
            s_dispatch_or_wait (self, request, request->order_id);
            return;
    }
}

//  Takes one request off a door and answers or dispatches it; takes over
//  the envelope (the frames before the body) and the body
static void
s_take_request (ord_front_t *self, zsock_t *door, zmsg_t *envelope, zframe_t *body)
{
    ord_request_t *request = ord_request_new (door == self->doors [0]? ORD_DOOR_SERVICE
                                                                       : ORD_DOOR_ADMIN);
    self->requests_taken++;
    request->envelope = envelope;
    request->op = ORD_OP_COUNT;
    if (zmsg_size (envelope) == 0) {
        //  No envelope means no way to answer: nothing came from a client
        zframe_destroy (&body);
        ord_request_destroy (&request);
        return;
    }
    ord_why_t why;
    if ((int64_t) zframe_size (body) > self->config->max_body) {
        ord_why_set (&why, "the body has %zu bytes; max_body is %" PRId64,
                     zframe_size (body), self->config->max_body);
        zframe_destroy (&body);
        s_fail (self, &request, ORD_ETOOLARGE, why.text);
        return;
    }
    //  The decoded body points into the frame, which lives as long as it
    request->body_frame = body;
    int rc = ord_wire_decode (zframe_data (body), zframe_size (body), &request->body, &why);
    if (rc) {
        //  A map refused for its depth or its strings still has its rid
        ord_str_t rid;
        ord_why_t ignored;
        if (ord_wire_str (&request->body.data, "rid", false, 64, &rid, &ignored) == 0
        &&  rid.ptr && ord_wire_utf8 (rid.ptr, rid.len))
            request->rid = rid;
        s_fail (self, &request, rc, why.text);
        return;
    }
    const msgpack_object *map = &request->body.data;
    ord_str_t rid, op;
    int64_t version = 0;
    if (ord_wire_str (map, "rid", false, 64, &rid, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    request->rid = rid;
    if (ord_wire_int (map, "v", true, INT64_MIN, INT64_MAX, &version, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    if (version != ORD_WIRE_VERSION) {
        ord_why_set (&why, "v: this orderd speaks version %d", ORD_WIRE_VERSION);
        s_fail (self, &request, ORD_EVERSION, why.text);
        return;
    }
    if (ord_wire_str (map, "op", true, 64, &op, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    request->op = ord_op_parse (op);
    bool admin_only = request->op == ORD_OP_ADVANCE || request->op == ORD_OP_STATS
                   || request->op == ORD_OP_RETRY || request->op == ORD_OP_RESOLVE
                   || request->op == ORD_OP_STOCK || request->op == ORD_OP_PAYMENT;
    if (request->op == ORD_OP_COUNT || (admin_only && request->door == ORD_DOOR_SERVICE)) {
        ord_why_set (&why, "op: '%.*s' is not an operation of this door", (int) op.len, op.ptr);
        request->op = ORD_OP_COUNT;
        s_fail (self, &request, ORD_EUNKNOWNOP, why.text);
        return;
    }
    //  The service door acts for one user at a time; the admin door for all
    bool user_required = request->op == ORD_OP_CREATE
                      || (request->door == ORD_DOOR_SERVICE && request->op != ORD_OP_HEALTH);
    if (ord_wire_str (map, "user_id", user_required, ORD_MAX_ID_LEN, &request->user_id, &why)) {
        s_fail (self, &request, ORD_EBADREQ, why.text);
        return;
    }
    rc = ord_request_take_deadline (request, ord_engine_now (), &why);
    if (rc) {
        s_fail (self, &request, rc, why.text);
        return;
    }
    if (self->stopping) {
        s_fail (self, &request, ORD_EUNAVAILABLE, "orderd is shutting down");
        return;
    }
    s_process (self, request);
}

//  Takes a message off a door if one is waiting: its last frame is the
//  body, those before it the envelope. Each frame comes from libzmq
//  itself into a spare frame (s_frame_new), and says if more follow:
//  zmsg_recv, and zsock_events to see if a message waits, would make new
//  frames and ask the socket for ZMQ_RCVMORE twice a frame and ZMQ_EVENTS
//  once a message, each a trip through its command queue.
static bool
s_recv (ord_front_t *self, zsock_t *door, zmsg_t **envelope_p, zframe_t **body_p)
{
    void *handle = zsock_resolve (door);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return false;
    }
    zmsg_t *envelope = zmsg_new ();
    zframe_t *frame = s_frame_new (self, zmq_msg_data (&part), zmq_msg_size (&part));
    while (frame && zmq_msg_more (&part)) {
        zmsg_append (envelope, &frame);
        //  The rest of a message is there once its first frame is
        int rc;
        while ((rc = zmq_msg_recv (&part, handle, 0)) < 0 && zmq_errno () == EINTR)
            ;
        frame = rc < 0? NULL: s_frame_new (self, zmq_msg_data (&part), zmq_msg_size (&part));
    }
    zmq_msg_close (&part);
    if (!frame) {
        zmsg_destroy (&envelope);
        return false;
    }
    *envelope_p = envelope;
    *body_p = frame;
    return true;
}

//  Up to S_BURST requests a wake-up: under load one poll serves many
static int
s_on_door (zloop_t *loop, zsock_t *door, void *arg)
{
    (void) loop;
    ord_front_t *self = (ord_front_t *) arg;
    zmsg_t *envelope;
    zframe_t *body;
    for (int taken = 0; taken < S_BURST && s_recv (self, door, &envelope, &body); taken++)
        s_take_request (self, door, envelope, body);
    return 0;
}


//  ---------------------------------------------------------------------
//  Background work

static ord_request_t *
s_internal (ord_op_t op)
{
    ord_request_t *request = ord_request_new (ORD_DOOR_INTERNAL);
    request->op = op;
    return request;
}

static bool
s_busy (ord_front_t *self, const char *id)
{
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, id);
    return slot && slot->inflight > 0;
}

//  Dispatches an internal op to every order in `ids` that is not busy.
static void
s_dispatch_internal (ord_front_t *self, zlist_t *ids, ord_op_t op)
{
    for (const char *id = (const char *) zlist_first (ids); id;
         id = (const char *) zlist_next (ids))
        if (!s_busy (self, id))
            s_dispatch_or_wait (self, s_internal (op), id);
}

//  Once the doors have been quiet for a while after work, gives the heap
//  that glibc keeps freed in its per-thread arenas back to the system: a
//  burst of orders leaves ~100 MiB there otherwise (docs/BENCHMARKS.md,
//  idle RSS). Again each second while idle actors still stop. A console
//  polling stats or health does not count as work.
static void
s_trim_when_quiet (ord_front_t *self, bool actors_stopped)
{
    bool quiet = self->requests_taken - self->requests_at_tick <= S_TRIM_QUIET_RATE
              && self->inflight == 0;
    self->requests_at_tick = self->requests_taken;
    self->quiet_seconds = quiet? self->quiet_seconds + 1: 0;
    if (!quiet || actors_stopped)
        self->heap_dirty = true;
    if (self->heap_dirty && self->quiet_seconds >= S_TRIM_QUIET_S) {
        malloc_trim (0);
        self->heap_dirty = false;
    }
}

static int
s_on_second (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ord_front_t *self = (ord_front_t *) arg;
    ord_stats_tick (self->stats, atomic_load (&self->engine->transitions));
    if (self->stopping) {
        if (zclock_mono () > self->stop_deadline) {
            zsys_warning ("stop: %zu requests still in flight after %d ms; stopping anyway",
                          self->inflight, S_STOP_GRACE_MS);
            return -1;
        }
        return 0;
    }
    //  Payment timeouts
    MDB_txn *txn;
    if (ord_store_read (self->engine->store, &txn) == 0) {
        zlist_t *due = ord_store_due_timers (self->engine->store, txn, ord_engine_now (), S_SCAN_MAX);
        mdb_txn_abort (txn);
        s_dispatch_internal (self, due, ORD_OP_TIMEOUT);
        zlist_destroy (&due);
    }
    //  Idle actors go back to the spare pool; spares beyond a few stop, a
    //  few a second, since stopping one waits for its thread
    int64_t now = zclock_mono ();
    s_slot_t *slot;
    size_t stopped = 0;
    while ((slot = (s_slot_t *) zlistx_first (self->idle))
       &&  now - slot->idle_since >= self->config->actor_idle_ms
       &&  stopped < S_STOPS_PER_TICK) {
        s_unbind (self, slot);
        if (zlistx_size (self->spare) < S_SPARE_ACTORS)
            zlistx_add_end (self->spare, slot);
        else {
            s_slot_destroy (&slot);
            self->live--;
            stopped++;
        }
    }
    s_trim_when_quiet (self, stopped > 0);
    return 0;
}

static int
s_on_saga_retry (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ord_front_t *self = (ord_front_t *) arg;
    MDB_txn *txn;
    if (self->stopping || ord_store_read (self->engine->store, &txn))
        return 0;
    zlist_t *ids = ord_store_saga_ids (self->engine->store, txn, S_SCAN_MAX);
    mdb_txn_abort (txn);
    s_dispatch_internal (self, ids, ORD_OP_DRIVE);
    zlist_destroy (&ids);
    return 0;
}

//  Forgets idempotency keys older than idem_ttl_ms.
static int
s_on_purge (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ord_front_t *self = (ord_front_t *) arg;
    ord_store_t *store = self->engine->store;
    int64_t horizon = ord_engine_now () - self->config->idem_ttl_ms;
    MDB_txn *txn;
    MDB_cursor *cursor;
    if (ord_store_read (store, &txn))
        return 0;
    if (mdb_cursor_open (txn, ord_store_dbi (store, ORD_DB_IDEM_AGE), &cursor)) {
        mdb_txn_abort (txn);
        return 0;
    }
    ord_batch_t *batch = ord_batch_new ();
    MDB_val key, value;
    int rc = mdb_cursor_get (cursor, &key, &value, MDB_FIRST);
    size_t purged = 0;
    while (rc == 0 && purged < S_PURGE_MAX && key.mv_size > 8
       &&  (int64_t) ord_be64_get ((const char *) key.mv_data) < horizon) {
        ord_batch_del (batch, ORD_DB_IDEM_AGE, key.mv_data, key.mv_size);
        ord_batch_del (batch, ORD_DB_IDEM, (char *) key.mv_data + 8, key.mv_size - 8);
        purged++;
        rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (purged) {
        rc = ord_store_commit (self->writer, batch);
        if (rc)
            zsys_warning ("idempotency purge failed: %s", ord_strerror (rc));
        else
            ord_debug ("purged %zu idempotency keys", purged);
    }
    ord_batch_destroy (&batch);
    return 0;
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    ord_front_t *self = (ord_front_t *) arg;
    struct signalfd_siginfo info;
    if (read (item->fd, &info, sizeof info) != sizeof info)
        return 0;
    if (self->stopping) {
        zsys_warning ("second signal: exiting at once");
        _exit (1);
    }
    zsys_info ("signal %u: stopping; %zu requests in flight", info.ssi_signo, self->inflight);
    self->stopping = true;
    self->stop_deadline = zclock_mono () + S_STOP_GRACE_MS;
    for (int door = 0; door < 2; door++)
        if (self->doors [door])
            zloop_reader_end (loop, self->doors [door]);
    //  Requests that never reached an actor are answered now
    ord_request_t *request;
    while ((request = (ord_request_t *) zlistx_detach (self->waiting, NULL))) {
        if (request->door == ORD_DOOR_INTERNAL)
            ord_request_destroy (&request);
        else
            s_fail (self, &request, ORD_EUNAVAILABLE, "orderd is shutting down");
    }
    return self->inflight == 0? -1: 0;
}

//  The prober thread asks each adapter for a ping every two seconds, so
//  that health sees a hung adapter even when no order is moving.
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
        if (zpoller_wait (poller, 2000) == pipe || zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
}

//  ---------------------------------------------------------------------

int
ord_front_new (ord_engine_t *engine, ord_front_t **front_p, ord_why_t *why)
{
    ord_front_t *self = (ord_front_t *) zmalloc (sizeof (ord_front_t));
    self->engine = engine;
    self->config = engine->config;
    self->signal_fd = -1;
    msgpack_sbuffer_init (&self->reply);
    self->bound = zhashx_new ();
    self->idle = zlistx_new ();
    self->spare = zlistx_new ();
    self->waiting = zlistx_new ();
    self->idem_inflight = zhashx_new ();
    self->stats = ord_stats_new ();
    self->loop = zloop_new ();
    snprintf (engine->replies, sizeof engine->replies, "inproc://orderd-replies-%p", (void *) self);
    self->replies = zsock_new (ZMQ_PULL);
    self->writer = ord_store_client_new (engine->store);
    if (!self->replies || zsock_bind (self->replies, "%s", engine->replies)
    ||  !self->writer || !self->stats) {
        ord_why_set (why, "cannot set up the front's sockets");
        ord_front_destroy (&self);
        return ORD_EINTERNAL;
    }
    //  Ids stay sortable across restarts: start after the last one stored
    MDB_txn *txn;
    char last [ORD_ORDER_ID_SIZE];
    if (ord_store_read (engine->store, &txn) == 0) {
        if (ord_store_last_id (engine->store, txn, last) == 0 && last [0]) {
            uint64_t value = strtoull (last + 1, NULL, 16);
            self->last_ms = (int64_t) (value >> 20);
            self->last_seq = (uint32_t) (value & 0xfffff);
        }
        mdb_txn_abort (txn);
    }
    zloop_reader (self->loop, self->replies, s_on_reply, self);
    zloop_timer (self->loop, 1000, 0, s_on_second, self);
    zloop_timer (self->loop, (size_t) self->config->saga_retry_ms, 0, s_on_saga_retry, self);
    zloop_timer (self->loop, 60000, 0, s_on_purge, self);
    self->prober = zactor_new (s_prober, engine);
    *front_p = self;
    return 0;
}

void
ord_front_destroy (ord_front_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_front_t *self = *self_p;
    if (self->read_txn)
        mdb_txn_abort (self->read_txn);
    zactor_destroy (&self->prober);
    zloop_destroy (&self->loop);
    //  Actors first: they may still hold requests that point at nothing here
    s_slot_t *slot;
    zlistx_t *slots = zhashx_values (self->bound);
    while (slots && (slot = (s_slot_t *) zlistx_detach (slots, NULL)))
        s_slot_destroy (&slot);
    zlistx_destroy (&slots);
    while ((slot = (s_slot_t *) zlistx_detach (self->spare, NULL)))
        s_slot_destroy (&slot);
    ord_request_t *request;
    //  Replies that arrived after the loop ended
    while (self->replies && zsock_events (self->replies) & ZMQ_POLLIN) {
        if (zsock_recv (self->replies, "p", &request) || !request)
            break;
        ord_request_destroy (&request);
    }
    while ((request = (ord_request_t *) zlistx_detach (self->waiting, NULL)))
        ord_request_destroy (&request);
    zlistx_t *held;
    for (held = (zlistx_t *) zhashx_first (self->idem_inflight); held;
         held = (zlistx_t *) zhashx_next (self->idem_inflight)) {
        while ((request = (ord_request_t *) zlistx_detach (held, NULL)))
            ord_request_destroy (&request);
        zlistx_destroy (&held);
    }
    zhashx_destroy (&self->idem_inflight);
    zhashx_destroy (&self->bound);
    zlistx_destroy (&self->idle);
    zlistx_destroy (&self->spare);
    zlistx_destroy (&self->waiting);
    zsock_destroy (&self->doors [0]);
    zsock_destroy (&self->doors [1]);
    zsock_destroy (&self->replies);
    zsock_destroy (&self->writer);
    ord_stats_destroy (&self->stats);
    msgpack_sbuffer_destroy (&self->reply);
    while (self->spare_frame_count)
        zframe_destroy (&self->spare_frames [--self->spare_frame_count]);
    free (self);
    *self_p = NULL;
}

size_t
ord_front_recover (ord_front_t *self)
{
    size_t handled = 0;
    while (true) {
        MDB_txn *txn;
        if (ord_store_read (self->engine->store, &txn))
            break;
        zlist_t *ids = ord_store_saga_ids (self->engine->store, txn, S_SCAN_MAX);
        mdb_txn_abort (txn);
        size_t count = zlist_size (ids), finished = 0;
        //  A suspended saga stays in the store and is left to the
        //  background retry, so a pass that finishes none ends recovery
        s_dispatch_internal (self, ids, ORD_OP_DRIVE);
        zlist_destroy (&ids);
        while (self->inflight > 0 || zlistx_size (self->waiting) > 0) {
            ord_request_t *request = NULL;
            if (zsock_recv (self->replies, "p", &request) || !request)
                break;
            if (request->internal_done)
                finished++;
            s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, request->order_id);
            if (slot && --slot->inflight == 0) {
                slot->idle_since = zclock_mono ();
                slot->idle_handle = zlistx_add_end (self->idle, slot);
            }
            self->inflight--;
            ord_request_destroy (&request);
            s_drain_waiting (self);
        }
        handled += finished;
        if (count < S_SCAN_MAX || finished == 0)
            break;
    }
    atomic_store (&self->engine->sagas_recovered, handled);
    return handled;
}

int
ord_front_open (ord_front_t *self, ord_why_t *why)
{
    const char *endpoints [2] = { self->config->service, self->config->admin };
    const char *names [2] = { "orderd/service", "orderd/admin" };
    for (int door = 0; door < 2; door++) {
        self->doors [door] = zsock_new (ZMQ_ROUTER);
        if (!self->doors [door]) {
            ord_why_set (why, "%s: cannot create a socket", names [door]);
            return ORD_ECONFIG;
        }
        //  A slow reader never holds replies without bound; replies to it
        //  are dropped at the high-water mark instead of blocking orderd
        zsock_set_sndhwm (self->doors [door], 10000);
        zsock_set_rcvhwm (self->doors [door], 10000);
        zsock_set_router_mandatory (self->doors [door], 0);
        if (self->config->curve
        &&  ord_auth_server (self->doors [door], self->config->server_cert,
                             door == 0? ORD_AUTH_SERVICE: ORD_AUTH_ADMIN, why))
            return ORD_ECONFIG;
        if (zsock_bind (self->doors [door], "%s", endpoints [door]) < 0) {
            ord_why_set (why, "%s: cannot bind %s: %s", names [door], endpoints [door],
                         zmq_strerror (zmq_errno ()));
            return ORD_ECONFIG;
        }
        zloop_reader (self->loop, self->doors [door], s_on_door, self);
    }
    return 0;
}

int
ord_front_run (ord_front_t *self, int signal_fd)
{
    zmq_pollitem_t item = { NULL, signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &item, s_on_signal, self);
    zloop_start (self->loop);
    return 0;
}
