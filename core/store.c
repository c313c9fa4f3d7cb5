/*  store: LMDB schema, reads, batches and the group-commit writer. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine.h"
#include "fatal.h"
#include "folder.h"
#include "mapsize.h"
#include "number.h"
#include "store.h"

static const char *s_db_names [ORD_DB_COUNT] = {
    "meta", "orders", "history", "sagas", "idem", "idem_age", "by_user",
    "by_status", "timers", "review"
};

struct _ord_store_t {
    int lock_fd;                //  flock on data_dir/orderd.lock
    MDB_env *env;
    MDB_dbi dbi [ORD_DB_COUNT];
    //  Grows the map; every read transaction holds it still meanwhile
    ord_mapsize_t *map;
    char *writer_endpoint;
    atomic_uint_fast64_t commits;
    atomic_uint_fast64_t batches;
    atomic_uint_fast64_t largest;
    atomic_uint_fast64_t round_trips;  //  answers to a waiting client
    ord_metrics_t *metrics;
};

MDB_env *
ord_store_env (ord_store_t *self)
{
    return self->env;
}

void
ord_store_set_metrics (ord_store_t *self, ord_metrics_t *metrics)
{
    self->metrics = metrics;
}

int
ord_store_error (int mdb_rc)
{
    if (mdb_rc == 0)
        return 0;
    return mdb_rc == MDB_MAP_FULL? ORD_ESTOREFULL: ORD_ESTORE;
}

void
ord_be64_put (char *to, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        to [i] = (char) (value & 0xff);
        value >>= 8;
    }
}

uint64_t
ord_be64_get (const char *from)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | (unsigned char) from [i];
    return value;
}

size_t
ord_key_history (char *key, const char *id, uint32_t seq)
{
    memcpy (key, id, ORD_ORDER_ID_SIZE - 1);
    char *at = key + ORD_ORDER_ID_SIZE - 1;
    at [0] = (char) (seq >> 24);
    at [1] = (char) (seq >> 16);
    at [2] = (char) (seq >> 8);
    at [3] = (char) seq;
    return ORD_ORDER_ID_SIZE - 1 + 4;
}

size_t
ord_key_timer (char *key, int64_t deadline, const char *id)
{
    ord_be64_put (key, (uint64_t) deadline);
    memcpy (key + 8, id, ORD_ORDER_ID_SIZE - 1);
    return 8 + ORD_ORDER_ID_SIZE - 1;
}

static size_t
s_count_key (char *key, ord_status_t status)
{
    return (size_t) sprintf (key, "count/%s", ord_status_name (status));
}

//  Checks the meta database of an existing environment, or writes it in a
//  new one. A main database holding anything but our names is foreign.
static int
s_check_schema (ord_store_t *self, ord_why_t *why)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc) {
        ord_why_set (why, "cannot begin a transaction: %s", mdb_strerror (rc));
        return ORD_ESTORE;
    }
    MDB_dbi main_dbi;
    MDB_cursor *cursor = NULL;
    bool empty = true, foreign = false, have_meta = false;
    rc = mdb_dbi_open (txn, NULL, 0, &main_dbi);
    if (!rc)
        rc = mdb_cursor_open (txn, main_dbi, &cursor);
    MDB_val key, value;
    while (!rc && mdb_cursor_get (cursor, &key, &value, empty? MDB_FIRST: MDB_NEXT) == 0) {
        empty = false;
        bool ours = false;
        for (int db = 0; db < ORD_DB_COUNT; db++)
            if (key.mv_size == strlen (s_db_names [db])
            &&  memcmp (key.mv_data, s_db_names [db], key.mv_size) == 0)
                ours = true;
        if (key.mv_size == 4 && memcmp (key.mv_data, "meta", 4) == 0)
            have_meta = true;
        if (!ours)
            foreign = true;
    }
    mdb_cursor_close (cursor);
    if (!rc && (foreign || (!empty && !have_meta))) {
        ord_why_set (why, "the data directory holds an LMDB environment that is not orderd's");
        mdb_txn_abort (txn);
        return ORD_ESCHEMA;
    }
    for (int db = 0; !rc && db < ORD_DB_COUNT; db++)
        rc = mdb_dbi_open (txn, s_db_names [db], MDB_CREATE, &self->dbi [db]);
    if (rc) {
        ord_why_set (why, "cannot open the databases: %s", mdb_strerror (rc));
        mdb_txn_abort (txn);
        return ord_store_error (rc);
    }
    MDB_val magic_key = { 5, (void *) "magic" }, schema_key = { 6, (void *) "schema" };
    MDB_val magic, schema;
    if (empty) {
        char version [16];
        snprintf (version, sizeof version, "%d", ORD_STORE_SCHEMA);
        magic.mv_data = (void *) ORD_STORE_MAGIC;
        magic.mv_size = strlen (ORD_STORE_MAGIC);
        schema.mv_data = version;
        schema.mv_size = strlen (version);
        rc = mdb_put (txn, self->dbi [ORD_DB_META], &magic_key, &magic, 0);
        if (!rc)
            rc = mdb_put (txn, self->dbi [ORD_DB_META], &schema_key, &schema, 0);
        if (!rc)
            rc = mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
        if (rc) {
            ord_why_set (why, "cannot initialise the store: %s", mdb_strerror (rc));
            return ord_store_error (rc);
        }
        return 0;
    }
    int result = 0;
    if (mdb_get (txn, self->dbi [ORD_DB_META], &magic_key, &magic)
    ||  magic.mv_size != strlen (ORD_STORE_MAGIC)
    ||  memcmp (magic.mv_data, ORD_STORE_MAGIC, magic.mv_size)) {
        ord_why_set (why, "the data directory is not an orderd store (no orderd magic)");
        result = ORD_ESCHEMA;
    }
    else
    if (mdb_get (txn, self->dbi [ORD_DB_META], &schema_key, &schema)
    ||  schema.mv_size > 15) {
        ord_why_set (why, "the data directory has no schema version");
        result = ORD_ESCHEMA;
    }
    else {
        char version [16];
        memcpy (version, schema.mv_data, schema.mv_size);
        version [schema.mv_size] = 0;
        int64_t number = 0;
        if (!ord_number_parse (version, false, &number) || number != ORD_STORE_SCHEMA) {
            ord_why_set (why, "the data directory has schema version %s; this orderd reads %d",
                         version, ORD_STORE_SCHEMA);
            result = ORD_ESCHEMA;
        }
    }
    //  Commit even when nothing changed: the database handles opened in
    //  this transaction only outlive it through a commit
    if (result)
        mdb_txn_abort (txn);
    else
    if (mdb_txn_commit (txn)) {
        ord_why_set (why, "cannot open the databases");
        result = ORD_ESTORE;
    }
    return result;
}

int
ord_store_open (const char *dir, size_t map_size, bool sync, unsigned max_readers,
                ord_store_t **store_p, ord_why_t *why)
{
    if (ord_folder_make (dir, 0750)) {
        ord_why_set (why, "cannot create %s: %s", dir, strerror (errno));
        return ORD_ESTORE;
    }
    ord_store_t *self = (ord_store_t *) zmalloc (sizeof (ord_store_t));
    //  LMDB lets several processes share an environment; two daemons would
    //  both drive the same sagas, so the second one is refused
    char *lock_path = zsys_sprintf ("%s/orderd.lock", dir);
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    zstr_free (&lock_path);
    if (self->lock_fd < 0) {
        ord_why_set (why, "cannot open %s/orderd.lock: %s", dir, strerror (errno));
        free (self);
        return ORD_ESTORE;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB)) {
        ord_why_set (why, "%s is in use by another orderd", dir);
        close (self->lock_fd);
        free (self);
        return ORD_ESTORE;
    }
    int rc = mdb_env_create (&self->env);
    if (!rc)
        rc = mdb_env_set_maxdbs (self->env, ORD_DB_COUNT + 1);
    if (!rc)
        rc = mdb_env_set_mapsize (self->env, map_size);
    if (!rc)
        rc = mdb_env_set_maxreaders (self->env, max_readers);
    if (rc) {
        ord_why_set (why, "cannot set up LMDB: %s", mdb_strerror (rc));
        ord_store_destroy (&self);
        return ORD_ESTORE;
    }
    rc = mdb_env_open (self->env, dir, MDB_NOTLS | (sync? 0: MDB_NOSYNC), 0640);
    if (rc) {
        ord_why_set (why, "cannot open the store in %s: %s", dir, mdb_strerror (rc));
        ord_store_destroy (&self);
        return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH? ORD_ESCHEMA: ORD_ESTORE;
    }
    rc = ord_mapsize_adopt (self->env);
    if (rc) {
        ord_why_set (why, "cannot size the map: %s", mdb_strerror (rc));
        ord_store_destroy (&self);
        return ORD_ESTORE;
    }
    self->map = ord_mapsize_new (self->env, "store", 0);
    rc = s_check_schema (self, why);
    if (rc) {
        ord_store_destroy (&self);
        return rc;
    }
    static atomic_uint instance;
    self->writer_endpoint = zsys_sprintf ("inproc://orderd-writer-%u",
                                          atomic_fetch_add (&instance, 1));
    *store_p = self;
    return 0;
}

void
ord_store_destroy (ord_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_store_t *self = *self_p;
    ord_mapsize_destroy (&self->map);
    if (self->env)
        mdb_env_close (self->env);
    if (self->lock_fd >= 0)
        close (self->lock_fd);     //  releases the flock
    zstr_free (&self->writer_endpoint);
    free (self);
    *self_p = NULL;
}

void
ord_store_set_map_size_max (ord_store_t *self, int64_t max_bytes)
{
    ord_mapsize_set_max (self->map, max_bytes);
}

bool
ord_store_map_stuck (ord_store_t *self)
{
    return ord_mapsize_stuck (self->map);
}

uint64_t
ord_store_map_growths (ord_store_t *self)
{
    return ord_mapsize_growths (self->map);
}

int
ord_store_read (ord_store_t *self, MDB_txn **txn_p)
{
    *txn_p = NULL;
    if (ord_mapsize_read_begin (self->map))
        return ORD_ESTORE;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn_p) == 0)
        return 0;
    ord_mapsize_read_end (self->map);
    *txn_p = NULL;
    return ORD_ESTORE;
}

void
ord_store_read_end (ord_store_t *self, MDB_txn *txn)
{
    mdb_txn_abort (txn);
    ord_mapsize_read_end (self->map);
}

int
ord_store_read_renew (ord_store_t *self, MDB_txn *txn)
{
    if (ord_mapsize_read_begin (self->map))
        return ORD_ESTORE;
    if (mdb_txn_renew (txn) == 0)
        return 0;
    ord_mapsize_read_end (self->map);
    return ORD_ESTORE;
}

void
ord_store_read_reset (ord_store_t *self, MDB_txn *txn)
{
    mdb_txn_reset (txn);
    ord_mapsize_read_end (self->map);
}

MDB_dbi
ord_store_dbi (ord_store_t *self, ord_db_t db)
{
    return self->dbi [db];
}

int
ord_store_get_order (ord_store_t *self, MDB_txn *txn, const char *id, ord_order_t **order_p)
{
    MDB_val key = { strlen (id), (void *) id }, value;
    int rc = mdb_get (txn, self->dbi [ORD_DB_ORDERS], &key, &value);
    if (rc == MDB_NOTFOUND)
        return ORD_ENOTFOUND;
    if (rc)
        return ORD_ESTORE;
    return ord_order_unpack (value.mv_data, value.mv_size, order_p);
}

int
ord_store_history (ord_store_t *self, MDB_txn *txn, const char *id,
                   ord_history_fn *fn, void *arg)
{
    if (strlen (id) != ORD_ORDER_ID_SIZE - 1)
        return 0;
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, self->dbi [ORD_DB_HISTORY], &cursor))
        return ORD_ESTORE;
    char start [32];
    MDB_val key = { ord_key_history (start, id, 0), start }, value;
    int rc = 0;
    int mdb_rc = mdb_cursor_get (cursor, &key, &value, MDB_SET_RANGE);
    while (mdb_rc == 0 && key.mv_size == ORD_ORDER_ID_SIZE - 1 + 4
       &&  memcmp (key.mv_data, id, ORD_ORDER_ID_SIZE - 1) == 0) {
        ord_transition_t transition;
        rc = ord_transition_unpack (value.mv_data, value.mv_size, &transition);
        if (!rc)
            rc = fn (&transition, arg);
        if (rc)
            break;
        mdb_rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    if (!rc && mdb_rc && mdb_rc != MDB_NOTFOUND)
        rc = ORD_ESTORE;
    return rc;
}

//  Walks an index backwards from the end of `prefix` (or from `after`
//  within it), calling for each order id found.
int
ord_store_list (ord_store_t *self, MDB_txn *txn, const ord_list_query_t *query,
                zlist_t **orders_p, bool *more)
{
    zlist_t *orders = zlist_new ();
    *more = false;
    ord_db_t db = ORD_DB_ORDERS;
    char prefix [ORD_MAX_ID_LEN + 2];
    size_t prefix_len = 0;
    if (query->user_id && strlen (query->user_id) > ORD_MAX_ID_LEN) {
        *orders_p = orders;        //  no such user can exist
        return 0;
    }
    if (query->user_id) {
        db = ORD_DB_BY_USER;
        prefix_len = strlen (query->user_id) + 1;
        memcpy (prefix, query->user_id, prefix_len);      //  with its NUL
    }
    else
    if (query->status != ORD_STATUS_NONE) {
        db = ORD_DB_BY_STATUS;
        prefix [0] = (char) query->status;
        prefix_len = 1;
    }
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, self->dbi [db], &cursor)) {
        zlist_destroy (&orders);
        return ORD_ESTORE;
    }
    //  Position on the first key after the range, then step back
    char start [ORD_MAX_ID_LEN + 2 + ORD_ORDER_ID_SIZE];
    memcpy (start, prefix, prefix_len);
    size_t start_len = prefix_len;
    if (query->after) {
        size_t after_len = strnlen (query->after, ORD_ORDER_ID_SIZE - 1);
        memcpy (start + prefix_len, query->after, after_len);
        start_len += after_len;
    }
    else
        start [start_len++] = (char) 0xff;     //  past every id ("o...")
    MDB_val key = { start_len, start }, value;
    int rc = mdb_cursor_get (cursor, &key, &value, MDB_SET_RANGE);
    rc = rc == 0? mdb_cursor_get (cursor, &key, &value, MDB_PREV)
                : mdb_cursor_get (cursor, &key, &value, MDB_LAST);
    int result = 0;
    while (rc == 0) {
        if (key.mv_size != prefix_len + ORD_ORDER_ID_SIZE - 1
        ||  memcmp (key.mv_data, prefix, prefix_len) != 0)
            break;
        char id [ORD_ORDER_ID_SIZE];
        memcpy (id, (char *) key.mv_data + prefix_len, ORD_ORDER_ID_SIZE - 1);
        id [ORD_ORDER_ID_SIZE - 1] = 0;
        ord_order_t *order = NULL;
        if (db == ORD_DB_ORDERS)
            result = ord_order_unpack (value.mv_data, value.mv_size, &order);
        else
            result = ord_store_get_order (self, txn, id, &order);
        if (result)
            break;
        bool wanted = (query->include_deleted || !order->deleted_at)
                   && (query->status == ORD_STATUS_NONE || order->status == query->status);
        if (wanted) {
            if (zlist_size (orders) == query->limit) {
                *more = true;
                ord_order_destroy (&order);
                break;
            }
            zlist_append (orders, order);
        }
        else
            ord_order_destroy (&order);
        rc = mdb_cursor_get (cursor, &key, &value, MDB_PREV);
    }
    mdb_cursor_close (cursor);
    if (result) {
        ord_order_t *order;
        while ((order = (ord_order_t *) zlist_pop (orders)))
            ord_order_destroy (&order);
        zlist_destroy (&orders);
        return result;
    }
    *orders_p = orders;
    return 0;
}

int
ord_store_last_id (ord_store_t *self, MDB_txn *txn, char id [ORD_ORDER_ID_SIZE])
{
    id [0] = 0;
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, self->dbi [ORD_DB_ORDERS], &cursor))
        return ORD_ESTORE;
    MDB_val key, value;
    if (mdb_cursor_get (cursor, &key, &value, MDB_LAST) == 0
    &&  key.mv_size == ORD_ORDER_ID_SIZE - 1) {
        memcpy (id, key.mv_data, key.mv_size);
        id [key.mv_size] = 0;
    }
    mdb_cursor_close (cursor);
    return 0;
}

//  The end of a cursor walk: 0 when it ran out of keys or stopped on its
//  own, ORD_ESTORE (and no list) when LMDB failed on the way.
static int
s_walk_end (MDB_cursor *cursor, int mdb_rc, zlist_t **ids_p)
{
    mdb_cursor_close (cursor);
    if (mdb_rc == 0 || mdb_rc == MDB_NOTFOUND)
        return 0;
    zlist_destroy (ids_p);
    return ORD_ESTORE;
}

int
ord_store_saga_ids (ord_store_t *self, MDB_txn *txn, size_t max, zlist_t **ids_p)
{
    *ids_p = NULL;
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, self->dbi [ORD_DB_SAGAS], &cursor))
        return ORD_ESTORE;
    zlist_t *ids = zlist_new ();
    zlist_autofree (ids);
    MDB_val key, value;
    int rc = mdb_cursor_get (cursor, &key, &value, MDB_FIRST);
    while (rc == 0 && zlist_size (ids) < max) {
        if (key.mv_size == ORD_ORDER_ID_SIZE - 1) {
            char id [ORD_ORDER_ID_SIZE];
            memcpy (id, key.mv_data, key.mv_size);
            id [key.mv_size] = 0;
            zlist_append (ids, id);
        }
        rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT);
    }
    rc = s_walk_end (cursor, rc, &ids);
    *ids_p = ids;
    return rc;
}

int
ord_store_due_timers (ord_store_t *self, MDB_txn *txn, int64_t now, size_t max,
                      zlist_t **ids_p)
{
    *ids_p = NULL;
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, self->dbi [ORD_DB_TIMERS], &cursor))
        return ORD_ESTORE;
    zlist_t *ids = zlist_new ();
    zlist_autofree (ids);
    MDB_val key, value;
    int rc = mdb_cursor_get (cursor, &key, &value, MDB_FIRST);
    while (rc == 0 && zlist_size (ids) < max
       &&  key.mv_size == 8 + ORD_ORDER_ID_SIZE - 1
       &&  (int64_t) ord_be64_get ((const char *) key.mv_data) <= now) {
        char id [ORD_ORDER_ID_SIZE];
        memcpy (id, (char *) key.mv_data + 8, ORD_ORDER_ID_SIZE - 1);
        id [ORD_ORDER_ID_SIZE - 1] = 0;
        zlist_append (ids, id);
        rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT);
    }
    rc = s_walk_end (cursor, rc, &ids);
    *ids_p = ids;
    return rc;
}

void
ord_store_usage (ord_store_t *self, MDB_txn *txn, size_t *orders,
                 size_t *used_bytes, size_t *map_bytes)
{
    MDB_stat stat;
    *orders = mdb_stat (txn, self->dbi [ORD_DB_ORDERS], &stat) == 0? stat.ms_entries: 0;
    ord_mapsize_usage (self->env, used_bytes, map_bytes);
}

void
ord_store_status_counts (ord_store_t *self, MDB_txn *txn, uint64_t counts [ORD_STATUS_COUNT],
                         uint64_t *needs_review)
{
    for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++) {
        char name [64];
        MDB_val key = { s_count_key (name, (ord_status_t) status), name }, value;
        counts [status] = mdb_get (txn, self->dbi [ORD_DB_META], &key, &value) == 0
                       && value.mv_size == 8? ord_be64_get ((const char *) value.mv_data): 0;
    }
    MDB_stat stat;
    *needs_review = mdb_stat (txn, self->dbi [ORD_DB_REVIEW], &stat) == 0? stat.ms_entries: 0;
}

void
ord_store_commit_stats (ord_store_t *self, uint64_t *commits, uint64_t *batches,
                        uint64_t *largest)
{
    *commits = atomic_load (&self->commits);
    *batches = atomic_load (&self->batches);
    *largest = atomic_load (&self->largest);
}

uint64_t
ord_store_round_trips (ord_store_t *self)
{
    return atomic_load_explicit (&self->round_trips, memory_order_relaxed);
}

//  ---------------------------------------------------------------------
//  Batches

typedef enum { S_PUT, S_DEL, S_ADD } s_op_kind_t;

typedef struct {
    ord_db_t db;
    s_op_kind_t kind;
    size_t key_at, key_size, value_at, value_size;
} s_op_t;

#define S_BATCH_TAG  0x0bda7c40   //  a live ord_batch_t

struct _ord_batch_t {
    uint32_t tag;               //  S_BATCH_TAG; it crosses to the writer as a pointer
    s_op_t *ops;
    size_t op_count, op_max;
    char *bytes;
    size_t byte_count, byte_max;
    zlist_t *events;            //  zmsg_t *: topic, body
    uint16_t *moves;            //  status changes queued: from << 8 | to
    size_t move_count, move_max;
};

ord_batch_t *
ord_batch_new (void)
{
    ord_batch_t *self = (ord_batch_t *) zmalloc (sizeof (ord_batch_t));
    self->tag = S_BATCH_TAG;
    self->events = zlist_new ();
    return self;
}

void
ord_batch_reset (ord_batch_t *self)
{
    self->op_count = 0;
    self->byte_count = 0;
    self->move_count = 0;
    zmsg_t *event;
    while ((event = (zmsg_t *) zlist_pop (self->events)))
        zmsg_destroy (&event);
}

void
ord_batch_destroy (ord_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_batch_t *self = *self_p;
    ord_batch_reset (self);
    zlist_destroy (&self->events);
    free (self->ops);
    free (self->bytes);
    free (self->moves);
    self->tag = 0;
    free (self);
    *self_p = NULL;
}

size_t
ord_batch_size (ord_batch_t *self)
{
    return self->op_count;
}

static size_t
s_batch_copy (ord_batch_t *self, const void *data, size_t size)
{
    if (self->byte_count + size > self->byte_max) {
        size_t wanted = (self->byte_count + size) * 2 + 256;
        self->bytes = (char *) ord_realloc (self->bytes, wanted);
        self->byte_max = wanted;
    }
    size_t at = self->byte_count;
    if (size)
        memcpy (self->bytes + at, data, size);
    self->byte_count += size;
    return at;
}

static void
s_batch_op (ord_batch_t *self, ord_db_t db, s_op_kind_t kind, const void *key, size_t key_size,
            const void *value, size_t value_size)
{
    if (self->op_count == self->op_max) {
        self->op_max = self->op_max * 2 + 8;
        self->ops = (s_op_t *) ord_realloc (self->ops, self->op_max * sizeof (s_op_t));
    }
    s_op_t *op = &self->ops [self->op_count++];
    op->db = db;
    op->kind = kind;
    op->key_at = s_batch_copy (self, key, key_size);
    op->key_size = key_size;
    op->value_at = s_batch_copy (self, value, value_size);
    op->value_size = value_size;
}

void
ord_batch_put (ord_batch_t *self, ord_db_t db, const void *key, size_t key_size,
               const void *value, size_t value_size)
{
    s_batch_op (self, db, S_PUT, key, key_size, value, value_size);
}

void
ord_batch_del (ord_batch_t *self, ord_db_t db, const void *key, size_t key_size)
{
    s_batch_op (self, db, S_DEL, key, key_size, NULL, 0);
}

void
ord_batch_event (ord_batch_t *self, const char *topic, const void *body, size_t size)
{
    zmsg_t *event = zmsg_new ();
    zmsg_addstr (event, topic);
    zmsg_addmem (event, body, size);
    zlist_append (self->events, event);
}

static void
s_batch_count (ord_batch_t *self, ord_status_t status, int64_t delta)
{
    char key [64], value [8];
    ord_be64_put (value, (uint64_t) delta);
    s_batch_op (self, ORD_DB_META, S_ADD, key, s_count_key (key, status), value, 8);
}

void
ord_batch_order (ord_batch_t *self, const ord_order_t *order, ord_status_t previous)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    ord_order_pack (order, &pk, true);
    size_t id_len = ORD_ORDER_ID_SIZE - 1;
    ord_batch_put (self, ORD_DB_ORDERS, order->id, id_len, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);

    char key [ORD_MAX_ID_LEN + 2 + ORD_ORDER_ID_SIZE];
    if (previous == ORD_STATUS_NONE) {
        size_t user_len = strlen (order->user_id) + 1;
        memcpy (key, order->user_id, user_len);
        memcpy (key + user_len, order->id, id_len);
        ord_batch_put (self, ORD_DB_BY_USER, key, user_len + id_len, "", 0);
    }
    if (previous != order->status) {
        memcpy (key + 1, order->id, id_len);
        if (previous != ORD_STATUS_NONE) {
            key [0] = (char) previous;
            ord_batch_del (self, ORD_DB_BY_STATUS, key, 1 + id_len);
            s_batch_count (self, previous, -1);
        }
        key [0] = (char) order->status;
        ord_batch_put (self, ORD_DB_BY_STATUS, key, 1 + id_len, "", 0);
        s_batch_count (self, order->status, 1);
    }
    if (order->needs_review)
        ord_batch_put (self, ORD_DB_REVIEW, order->id, id_len, "", 0);
    else
        ord_batch_del (self, ORD_DB_REVIEW, order->id, id_len);
}

void
ord_batch_transition (ord_batch_t *self, const ord_order_t *order,
                      const ord_transition_t *transition)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    ord_transition_pack (transition, NULL, &pk);
    char key [32];
    size_t key_size = ord_key_history (key, order->id, transition->seq);
    ord_batch_put (self, ORD_DB_HISTORY, key, key_size, buffer.data, buffer.size);
    msgpack_sbuffer_clear (&buffer);
    ord_transition_pack (transition, order, &pk);
    char topic [64];
    snprintf (topic, sizeof topic, "order.%s", ord_status_name (transition->to));
    ord_batch_event (self, topic, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    if (transition->from != transition->to) {       //  a note changes nothing
        if (self->move_count == self->move_max) {
            self->move_max = self->move_max * 2 + 4;
            self->moves = (uint16_t *) ord_realloc (self->moves,
                                                    self->move_max * sizeof (uint16_t));
        }
        self->moves [self->move_count++] = (uint16_t) (transition->from << 8 | transition->to);
    }
}

void
ord_batch_timer (ord_batch_t *self, const char *id, int64_t old_deadline, int64_t deadline)
{
    char key [8 + ORD_ORDER_ID_SIZE];
    if (old_deadline > 0)
        ord_batch_del (self, ORD_DB_TIMERS, key, ord_key_timer (key, old_deadline, id));
    if (deadline > 0)
        ord_batch_put (self, ORD_DB_TIMERS, key, ord_key_timer (key, deadline, id), "", 0);
}

//  Applies one batch inside `txn`; a delete of a missing key is fine.
static int
s_batch_apply (ord_store_t *store, ord_batch_t *batch, MDB_txn *txn)
{
    for (size_t i = 0; i < batch->op_count; i++) {
        s_op_t *op = &batch->ops [i];
        MDB_val key = { op->key_size, batch->bytes + op->key_at };
        int rc;
        if (op->kind == S_PUT) {
            MDB_val value = { op->value_size, batch->bytes + op->value_at };
            rc = mdb_put (txn, store->dbi [op->db], &key, &value, 0);
        }
        else
        if (op->kind == S_ADD) {
            MDB_val value;
            int64_t total = (int64_t) ord_be64_get (batch->bytes + op->value_at);
            rc = mdb_get (txn, store->dbi [op->db], &key, &value);
            if (rc == 0 && value.mv_size == 8)
                total += (int64_t) ord_be64_get ((const char *) value.mv_data);
            char bytes [8];
            ord_be64_put (bytes, (uint64_t) total);
            value.mv_data = bytes;
            value.mv_size = 8;
            rc = mdb_put (txn, store->dbi [op->db], &key, &value, 0);
        }
        else {
            rc = mdb_del (txn, store->dbi [op->db], &key, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc) {
            //  A full map is no failure yet: the writer grows it and retries
            if (rc != MDB_MAP_FULL)
                zsys_error ("store: %s of %zu bytes in %s failed: %s",
                            op->kind == S_DEL? "delete": "write", op->value_size,
                            s_db_names [op->db], mdb_strerror (rc));
            return ord_store_error (rc);
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Committing, growing the map on the way

#define S_MAX_GROUP             1024
#define S_GROWTHS_PER_COMMIT    64      //  each doubles the map

typedef struct {
    zmq_msg_t identity;         //  the client's, for the answer
    ord_batch_t *batch;
    int rc;
} s_pending_t;

//  The group in one write transaction. Errors: ORD_ESTOREFULL, ORD_ESTORE.
static int
s_group_apply (ord_store_t *store, s_pending_t *group, size_t count)
{
    MDB_txn *txn;
    int rc = ord_store_error (mdb_txn_begin (store->env, NULL, 0, &txn));
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = s_batch_apply (store, group [i].batch, txn);
    if (rc == 0)
        rc = ord_store_error (mdb_txn_commit (txn));
    else
        mdb_txn_abort (txn);
    return rc;
}

//  Grows the map (or, `when_wanted`, only past ORD_MAPSIZE_GROW_PERCENT),
//  as ord_mapsize_grow: 0 when grown, else why not
static int
s_grow (ord_store_t *store, bool when_wanted)
{
    ord_why_t why = { "" };
    int rc = when_wanted? ord_mapsize_keep_room (store->map, &why)
                        : ord_mapsize_grow (store->map, &why);
    if (rc == ORD_ESTORE)
        zsys_warning ("%s", why.text);
    return rc;
}

//  After a commit: grows a map past ORD_MAPSIZE_GROW_PERCENT, so that
//  commits seldom meet a full map at all
static void
s_keep_room (ord_store_t *store)
{
    if (ord_mapsize_wants_room (store->map) && ord_mapsize_may_grow (store->map))
        s_grow (store, true);
}

//  The group in one transaction; when the map is full it grows and the
//  group is tried again, so a growth loses nothing and fails nothing.
//  Errors: ORD_ESTOREFULL (the map cannot grow), ORD_ESTORE.
static int
s_group_commit (ord_store_t *store, s_pending_t *group, size_t count)
{
    int rc = s_group_apply (store, group, count);
    for (int growths = 0; rc == ORD_ESTOREFULL && growths < S_GROWTHS_PER_COMMIT; growths++) {
        if (!ord_mapsize_may_grow (store->map) || s_grow (store, false))
            break;
        rc = s_group_apply (store, group, count);
    }
    return rc;
}

int
ord_store_commit_direct (ord_store_t *self, ord_batch_t *batch)
{
    s_pending_t one = { .batch = batch };
    return s_group_commit (self, &one, 1);
}

//  ---------------------------------------------------------------------
//  The writer actor

typedef struct {
    ord_store_t *store;
    const char *events;
    ord_why_t *why;
    bool failed;                //  set before the ready signal
} s_writer_args_t;

typedef struct {
    ord_store_barrier_fn *fn;
    void *arg;
} s_barrier_t;

//  Sends a commit's or a barrier's answer, and counts the round trip
//  (admin stats: the writer's hand-offs). Raw zmq_msg_t, as in
//  s_writer_recv: the writer is the first thread to saturate.
static void
s_writer_answer (ord_store_t *store, zsock_t *router, zmq_msg_t *identity, int rc)
{
    void *handle = zsock_resolve (router);
    if (zmq_msg_send (identity, handle, ZMQ_SNDMORE) < 0)
        zmq_msg_close (identity);
    else
        zmq_send (handle, &rc, sizeof rc, 0);
    atomic_fetch_add_explicit (&store->round_trips, 1, memory_order_relaxed);
}

//  Takes the next request from a client, if one waits, without a zmsg or a
//  zframe (the frames are small enough to live inside zmq_msg_t): its
//  identity (kept for the answer), the pointer it carries, and whether it
//  is a barrier ("barrier" as third frame). False when none waits; a
//  malformed one is dropped (*pointer_p NULL).
static bool
s_writer_recv (zsock_t *router, zmq_msg_t *identity, void **pointer_p, bool *is_barrier)
{
    void *handle = zsock_resolve (router);
    *pointer_p = NULL;
    *is_barrier = false;
    zmq_msg_init (identity);
    if (zmq_msg_recv (identity, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (identity);
        return false;
    }
    bool more = zmq_msg_more (identity);
    for (int index = 1; more; index++) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
        more = zmq_msg_more (&part);
        size_t size = zmq_msg_size (&part);
        if (index == 1 && size == sizeof (void *))
            memcpy (pointer_p, zmq_msg_data (&part), sizeof (void *));
        else
        if (index == 2)
            *is_barrier = size == 7 && memcmp (zmq_msg_data (&part), "barrier", 7) == 0;
        zmq_msg_close (&part);
    }
    return true;
}

//  Runs a barrier's function between two groups (no write txn open) and
//  answers its caller with the function's result
static void
s_writer_barrier (ord_store_t *store, zsock_t *router, zmq_msg_t *identity,
                  s_barrier_t *barrier)
{
    s_writer_answer (store, router, identity, barrier->fn (barrier->arg));
}

//  Tells the metrics about a commit and the status changes it wrote.
static void
s_report_commit (ord_store_t *store, s_pending_t *group, size_t count, int64_t duration_us)
{
    if (!store->metrics)
        return;
    uint64_t transitions = 0;
    for (size_t i = 0; i < count; i++) {
        ord_batch_t *batch = group [i].batch;
        for (size_t move = 0; group [i].rc == 0 && move < batch->move_count; move++) {
            ord_metrics_transition (store->metrics, (ord_status_t) (batch->moves [move] >> 8),
                                    (ord_status_t) (batch->moves [move] & 0xff));
            transitions++;
        }
    }
    ord_metrics_commit (store->metrics, duration_us, transitions);
}

static void
s_writer_group (ord_store_t *store, zsock_t *router, zsock_t *publisher)
{
    s_pending_t group [S_MAX_GROUP];
    size_t count = 0;
    zmq_msg_t barrier_identity;               //  a barrier ends the group
    zmq_msg_init (&barrier_identity);
    s_barrier_t *barrier = NULL;
    while (count < S_MAX_GROUP && !barrier) {
        zmq_msg_t identity;
        void *pointer;
        bool is_barrier;
        if (!s_writer_recv (router, &identity, &pointer, &is_barrier))
            break;
        if (!pointer) {
            zmq_msg_close (&identity);
            continue;
        }
        if (is_barrier) {
            barrier = (s_barrier_t *) pointer;
            zmq_msg_move (&barrier_identity, &identity);
            zmq_msg_close (&identity);
            break;
        }
        group [count].batch = (ord_batch_t *) pointer;
        ord_assert (group [count].batch->tag == S_BATCH_TAG);
        zmq_msg_init (&group [count].identity);
        zmq_msg_move (&group [count].identity, &identity);
        zmq_msg_close (&identity);
        group [count].rc = 0;
        count++;
    }
    if (count == 0) {
        if (barrier)
            s_writer_barrier (store, router, &barrier_identity, barrier);
        return;
    }
    //  The whole group in one transaction. Nested transactions would
    //  isolate a failing batch, but each costs a merge of the dirty page
    //  list, quadratic in the group; failures are rare (a map that cannot
    //  grow), so only then is the group retried batch by batch.
    int64_t started_us = zclock_usecs ();
    int rc = s_group_commit (store, group, count);
    size_t applied = rc == 0? count: 0;
    if (rc && count > 1) {
        for (size_t i = 0; i < count; i++) {
            group [i].rc = ord_store_commit_direct (store, group [i].batch);
            applied += group [i].rc == 0;
        }
        rc = 0;
    }
    else
        for (size_t i = 0; i < count; i++)
            group [i].rc = rc;
    if (rc)
        zsys_error ("store: group commit failed: %s", ord_strerror (rc));
    if (applied) {
        s_report_commit (store, group, count, zclock_usecs () - started_us);
        atomic_fetch_add (&store->commits, 1);
        atomic_fetch_add (&store->batches, applied);
        if (count > atomic_load (&store->largest))
            atomic_store (&store->largest, count);
    }
    for (size_t i = 0; i < count; i++) {
        if (group [i].rc == 0) {
            zmsg_t *event;
            for (event = (zmsg_t *) zlist_first (group [i].batch->events); event;
                 event = (zmsg_t *) zlist_next (group [i].batch->events)) {
                zmsg_t *copy = zmsg_dup (event);
                if (copy && zmsg_send (&copy, publisher))
                    zmsg_destroy (&copy);
            }
        }
        s_writer_answer (store, router, &group [i].identity, group [i].rc);
    }
    s_keep_room (store);
    if (barrier)
        s_writer_barrier (store, router, &barrier_identity, barrier);
}

static void
s_writer_actor (zsock_t *pipe, void *args_)
{
    s_writer_args_t *args = (s_writer_args_t *) args_;
    ord_store_t *store = args->store;
    ord_thread_name ("ord-writer");
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_t *publisher = zsock_new (ZMQ_PUB);
    ord_assert (router && publisher);
    zsock_set_rcvtimeo (router, 0);
    zsock_set_sndhwm (publisher, 100000);
    const char *failed = zsock_bind (router, "%s", store->writer_endpoint) != 0
                       ? store->writer_endpoint
                       : zsock_bind (publisher, "%s", args->events) < 0? args->events: NULL;
    if (failed) {
        ord_why_set (args->why, "cannot bind %s: %s", failed, zmq_strerror (zmq_errno ()));
        args->failed = true;
        zsock_signal (pipe, 1);
        zsock_destroy (&router);
        zsock_destroy (&publisher);
        //  Wait for $TERM so zactor_destroy finds us
        char *command = zstr_recv (pipe);
        zstr_free (&command);
        return;
    }
    zsock_signal (pipe, 0);
    s_keep_room (store);            //  a store reopened with a smaller map_size
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                break;
        }
        else
        if (which == router)
            s_writer_group (store, router, publisher);
        else
        if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
    zsock_set_linger (publisher, 200);
    zsock_destroy (&publisher);
}

zactor_t *
ord_store_writer_new (ord_store_t *store, const char *events, ord_why_t *why)
{
    s_writer_args_t args = { store, events, why, false };
    zactor_t *writer = zactor_new (s_writer_actor, &args);
    //  zactor_new returns once the actor signalled, so args is settled
    if (writer && args.failed)
        zactor_destroy (&writer);
    return writer;
}

zsock_t *
ord_store_client_new (ord_store_t *store)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    if (client && zsock_connect (client, "%s", store->writer_endpoint) != 0)
        zsock_destroy (&client);
    return client;
}

int
ord_store_commit (zsock_t *client, ord_batch_t *batch)
{
    int rc = ord_store_commit_send (client, batch);
    return rc? rc: ord_store_commit_wait (client);
}

int
ord_store_commit_send (zsock_t *client, ord_batch_t *batch)
{
    //  One frame, the pointer; raw zmq_send, as the writer answers
    return zmq_send (zsock_resolve (client), &batch, sizeof batch, 0) == (int) sizeof batch
         ? 0: ORD_ESTORE;
}

int
ord_store_barrier (zsock_t *client, ord_store_barrier_fn *fn, void *arg)
{
    s_barrier_t barrier = { fn, arg };
    s_barrier_t *pointer = &barrier;
    if (zsock_send (client, "bs", &pointer, sizeof pointer, "barrier"))
        return ORD_ESTORE;
    //  The writer uses `barrier` until it answers
    return ord_store_commit_wait (client);
}

int
ord_store_commit_wait (zsock_t *client)
{
    int rc;
    //  zmq_recv answers the frame's whole size, also when it truncated it
    return zmq_recv (zsock_resolve (client), &rc, sizeof rc, 0) == (int) sizeof rc
         ? rc: ORD_ESTORE;
}
