/*  adapter_server: the request loop every adapter plugin shares. See
    adapter_server.h for the contract. */
#include <sys/prctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_server.h"
#include "adapter_backup.h"
#include "mapsize.h"
#include "number.h"

#define S_LATENCY_MAX   3600000         /* latency_ms at most an hour */
#define S_GROWTHS_PER_BATCH  64         /* each doubles the map */

//  A request waiting for its due time: the whole message (envelope and
//  body), FIFO, so due times never decrease from head to tail.
typedef struct s_request_t {
    struct s_request_t *next;
    zmsg_t *msg;
    int64_t due;                        //  zclock_mono () time
} s_request_t;

//  One request of a batch being answered
typedef struct {
    zmsg_t *msg;                        //  the envelope, body taken off
    zframe_t *body;                     //  kept to answer again after a growth
    msgpack_sbuffer reply;              //  the reply body
    bool handled;                       //  went through a handler
    bool has_rid;
    char rid [ORD_ADAPTER_MAX_RID + 1];
} s_item_t;

typedef struct {
    zsock_t *pipe;                      //  actor pipe, not ours
    const ord_plugin_args_t *args;      //  not ours
    const ord_adapter_spec_t *spec;     //  not ours
    void *state;                        //  the adapter's, not ours
    int64_t latency;                    //  latency_ms
    MDB_env *env;
    ord_adapter_backup_t *backup;       //  the `backup` op's state
    ord_mapsize_t *map;                 //  grows env's map as it fills
    bool map_full;                      //  a handler met MDB_MAP_FULL
    zsock_t *router;
    zpoller_t *poller;
    s_request_t *head, *tail;           //  requests waiting for their time
    s_item_t *items;                    //  ORD_ADAPTER_MAX_BATCH of them
    msgpack_sbuffer fields;             //  a handler's reply fields
} self_t;


//  --------------------------------------------------------------------------
//  Helpers for handlers

int
ord_adapter_fail (ord_adapter_call_t *call, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (call->why.text, sizeof call->why.text, format, args);
    va_end (args);
    return code;
}

void
ord_adapter_reply_cstr (ord_adapter_call_t *call, const char *key,
                        const char *value)
{
    ord_pack_kv_cstr (call->pk, key, value);
    call->fields++;
}

void
ord_adapter_reply_str (ord_adapter_call_t *call, const char *key,
                       ord_str_t value)
{
    ord_pack_cstr (call->pk, key);
    ord_pack_str (call->pk, value);
    call->fields++;
}

void
ord_adapter_reply_int (ord_adapter_call_t *call, const char *key,
                       int64_t value)
{
    ord_pack_kv_int (call->pk, key, value);
    call->fields++;
}

int
ord_adapter_config_int (zconfig_t *config, const char *key, int64_t min,
                        int64_t max, int64_t fallback, bool suffixes,
                        int64_t *value, ord_why_t *why)
{
    const char *text = config? zconfig_get (config, key, NULL): NULL;
    if (!text || !*text) {
        *value = fallback;
        return 0;
    }
    int64_t number;
    bool ok = ord_number_parse (text, suffixes, &number);
    if (!ok || number < min || number > max) {
        ord_why_set (why, "%s: '%s' is not an integer from %" PRId64 " to %" PRId64 "%s",
                     key, text, min, max, suffixes? " (K, M, G allowed)": "");
        return ORD_ECONFIG;
    }
    *value = number;
    return 0;
}

int
ord_adapter_store_error (int mdb_rc, const char *what, ord_why_t *why)
{
    ord_why_set (why, "%s: %s", what, mdb_strerror (mdb_rc));
    return mdb_rc == MDB_MAP_FULL? ORD_ESTOREFULL: ORD_ESTORE;
}

//  map_size_max: "auto" (or absent, empty) is 0, what the disk can hold;
//  else a size (K, M, G allowed) no smaller than the map already is
static int
s_config_map_size_max (zconfig_t *config, MDB_env *env, int64_t *max_bytes, ord_why_t *why)
{
    const char *text = config? zconfig_get (config, "map_size_max", NULL): NULL;
    *max_bytes = 0;
    if (!text || !*text || streq (text, "auto"))
        return 0;
    int rc = ord_adapter_config_int (config, "map_size_max", 1024 * 1024,
                                     (int64_t) (SIZE_MAX / 2), 0, true, max_bytes, why);
    if (rc) {
        ord_why_set (why, "map_size_max: '%s' is not auto or a size from 1M", text);
        return rc;
    }
    size_t used, map;
    ord_mapsize_usage (env, &used, &map);
    if ((size_t) *max_bytes < map) {
        ord_why_set (why, "map_size_max: %s is less than the map's size (map_size, %zu)",
                     text, map);
        return ORD_ECONFIG;
    }
    return 0;
}

int
ord_adapter_env_open (const ord_plugin_args_t *args, unsigned int maxdbs,
                      MDB_env **env_p, ord_why_t *why)
{
    MDB_env *env = NULL;
    int64_t map_size;
    int rc = ord_adapter_config_int (args->config, "map_size", 1024 * 1024,
                                     (int64_t) (SIZE_MAX / 2), ORD_ADAPTER_MAP_SIZE,
                                     true, &map_size, why);
    if (rc)
        goto fail;
    if (!args->data_dir || !*args->data_dir) {
        ord_why_set (why, "no data_dir given");
        rc = ORD_ECONFIG;
        goto fail;
    }
    int mdb_rc = mdb_env_create (&env);
    if (mdb_rc == 0)
        mdb_rc = mdb_env_set_mapsize (env, (size_t) map_size);
    if (mdb_rc == 0)
        mdb_rc = mdb_env_set_maxdbs (env, maxdbs);
    if (mdb_rc == 0)
        mdb_rc = mdb_env_open (env, args->data_dir,
                               MDB_NOTLS | (args->sync? 0: MDB_NOSYNC), 0600);
    if (mdb_rc == 0)
        mdb_rc = ord_mapsize_adopt (env);
    if (mdb_rc) {
        ord_why_set (why, "cannot open LMDB environment in %s: %s",
                     args->data_dir, mdb_strerror (mdb_rc));
        rc = ORD_ESTORE;
        goto fail;
    }
    *env_p = env;
    return 0;
fail:
    if (env)
        mdb_env_close (env);
    *env_p = NULL;
    return rc;
}


int
ord_adapter_open (const ord_plugin_args_t *args, const ord_adapter_spec_t *spec,
                  void *state, MDB_env **env_p, ord_why_t *why)
{
    int rc = ord_adapter_env_open (args, spec->maxdbs, env_p, why);
    if (rc)
        return rc;
    MDB_txn *txn;
    int mdb_rc = mdb_txn_begin (*env_p, NULL, 0, &txn);
    if (mdb_rc)
        return ord_adapter_store_error (mdb_rc, "begin", why);
    if (spec->open) {
        rc = spec->open (state, txn, args, why);
        if (rc) {
            mdb_txn_abort (txn);
            return rc;
        }
    }
    mdb_rc = mdb_txn_commit (txn);
    return mdb_rc? ord_adapter_store_error (mdb_rc, "commit", why): 0;
}

int
ord_adapter_router_bind (const ord_plugin_args_t *args, zsock_t **router_p, ord_why_t *why)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    *router_p = router;
    if (!router) {
        ord_why_set (why, "cannot create the ROUTER socket");
        return ORD_EINTERNAL;
    }
    //  Replies must never be dropped at the high-water mark: the host
    //  bounds how many calls it has in flight.
    zsock_set_sndhwm (router, 0);
    zsock_set_rcvhwm (router, 0);
    if (!args->endpoint || zsock_bind (router, "%s", args->endpoint) == -1) {
        ord_why_set (why, "cannot bind to %s: %s",
                     args->endpoint? args->endpoint: "(no endpoint)",
                     zmq_strerror (zmq_errno ()));
        return ORD_ECONFIG;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Answering

//  Forgets the answer, keeps the request: to answer it again
static void
s_item_clear_answer (s_item_t *item)
{
    msgpack_sbuffer_clear (&item->reply);
    item->handled = false;
    item->has_rid = false;
    item->rid [0] = 0;
}

static void
s_item_reset (s_item_t *item)
{
    zmsg_destroy (&item->msg);
    zframe_destroy (&item->body);
    s_item_clear_answer (item);
}

static void
s_item_error (s_item_t *item, int code, const char *message)
{
    msgpack_sbuffer_clear (&item->reply);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &item->reply, msgpack_sbuffer_write);
    ord_str_t rid = { item->rid, (uint32_t) strlen (item->rid) };
    if (!item->has_rid)
        rid.ptr = NULL;
    ord_reply_error (&pk, rid, code, message && *message? message: NULL, 0);
}

//  Opens the batch's write txn and runs the adapter's batch hook
static int
s_batch_begin (self_t *self, int64_t now, MDB_txn **txn_p, ord_why_t *why)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc) {
        rc = ord_adapter_store_error (rc, "begin", why);
        goto fail;
    }
    if (self->spec->batch) {
        rc = self->spec->batch (self->state, txn, now, why);
        if (rc)
            goto fail;
    }
    *txn_p = txn;
    return 0;
fail:
    if (txn)
        mdb_txn_abort (txn);
    *txn_p = NULL;
    return rc;
}

ord_adapter_handler_fn *
ord_adapter_find_op (const ord_adapter_spec_t *spec, ord_str_t op)
{
    for (const ord_adapter_op_t *entry = spec->ops; entry && entry->op; entry++)
        if (ord_str_eq (op, entry->op))
            return entry->handler;
    return NULL;
}

//  Runs one handler in a nested txn of `txn`. On success its reply fields
//  are in self->fields and their count in *fields; else the error is in
//  *why and returned.
static int
s_call_handler (self_t *self, MDB_txn *txn, int64_t now, ord_adapter_handler_fn *handler,
                const msgpack_object *body, size_t *fields, ord_why_t *why)
{
    ord_adapter_call_t call;
    memset (&call, 0, sizeof call);
    msgpack_sbuffer_clear (&self->fields);
    msgpack_packer fields_pk;
    msgpack_packer_init (&fields_pk, &self->fields, msgpack_sbuffer_write);
    call.state = self->state;
    call.body = body;
    call.now = now;
    call.pk = &fields_pk;

    int rc = mdb_txn_begin (self->env, txn, 0, &call.txn);
    if (rc) {
        rc = ord_adapter_store_error (rc, "begin nested", why);
        return rc;
    }
    rc = handler (&call);
    if (rc == ORD_ESTOREFULL)
        self->map_full = true;
    if (rc == 0 || call.keep_writes) {
        int mdb_rc = mdb_txn_commit (call.txn);
        if (mdb_rc) {
            rc = ord_adapter_store_error (mdb_rc, "commit nested", &call.why);
            self->map_full |= rc == ORD_ESTOREFULL;
            call.fields = 0;
        }
    }
    else
        mdb_txn_abort (call.txn);
    *why = call.why;
    *fields = call.fields;
    return rc;
}

//  Runs one request's handler in a nested txn of `txn`, fills its reply
static void
s_handle (self_t *self, s_item_t *item, MDB_txn *txn, int64_t now,
          ord_adapter_handler_fn *handler, const msgpack_object *body)
{
    ord_why_t why;
    size_t fields = 0;
    int rc = s_call_handler (self, txn, now, handler, body, &fields, &why);
    if (rc) {
        s_item_error (item, rc, why.text);
        return;
    }
    msgpack_sbuffer_clear (&item->reply);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &item->reply, msgpack_sbuffer_write);
    ord_str_t rid = { item->has_rid? item->rid: NULL, (uint32_t) strlen (item->rid) };
    ord_reply_begin (&pk, rid, true, fields);
    ord_pack_raw (&pk, self->fields.data, self->fields.size);
}

//  The `batch` op (a protocol extension, docs/PLUGINS.md): runs
//  {calls: [{op, ...}, ...]} in order within this batch's transaction, each
//  exactly as if it came alone, and stops after the first that fails.
//  Answers {results: [{ok: true, ...} | {ok: false, error}]}, one result
//  for each call that ran.
static int
s_handle_batch (self_t *self, s_item_t *item, MDB_txn *txn, int64_t now,
                const msgpack_object *body, ord_why_t *why)
{
    const msgpack_object *calls;
    int rc = ord_wire_array (body, "calls", true, &calls, why);
    if (rc)
        return rc;
    if (calls->via.array.size < 1 || calls->via.array.size > ORD_ADAPTER_MAX_BATCH_CALLS) {
        ord_why_set (why, "calls: must have from 1 to %d items", ORD_ADAPTER_MAX_BATCH_CALLS);
        return ORD_EBADREQ;
    }
    //  Check every call before running any, so a bad batch changes nothing
    for (uint32_t i = 0; i < calls->via.array.size; i++) {
        const msgpack_object *call = &calls->via.array.ptr [i];
        ord_str_t op;
        if (call->type != MSGPACK_OBJECT_MAP) {
            ord_why_set (why, "calls[%u]: must be a map", i);
            return ORD_EBADREQ;
        }
        rc = ord_wire_str (call, "op", true, 64, &op, why);
        if (!rc && (ord_str_eq (op, "batch") || !ord_adapter_find_op (self->spec, op))) {
            ord_why_set (why, "op: '%.*s' is not an operation of %s", (int) op.len,
                         op.ptr, self->spec->name);
            rc = ORD_EUNKNOWNOP;
        }
        if (rc) {
            ord_why_prefix (why, "calls[%u].", i);
            return rc;
        }
    }
    msgpack_sbuffer results;
    msgpack_sbuffer_init (&results);
    msgpack_packer results_pk;
    msgpack_packer_init (&results_pk, &results, msgpack_sbuffer_write);
    uint32_t ran = 0;
    for (uint32_t i = 0; i < calls->via.array.size; i++) {
        const msgpack_object *call = &calls->via.array.ptr [i];
        ord_str_t op = ord_str_of (ord_wire_find (call, "op"));
        size_t fields = 0;
        ord_why_t call_why;
        call_why.text [0] = 0;
        int call_rc = s_call_handler (self, txn, now, ord_adapter_find_op (self->spec, op), call,
                                      &fields, &call_why);
        ran++;
        if (call_rc) {
            msgpack_pack_map (&results_pk, 2);
            ord_pack_kv_bool (&results_pk, "ok", false);
            ord_pack_cstr (&results_pk, "error");
            msgpack_pack_map (&results_pk, 2);
            ord_pack_kv_cstr (&results_pk, "code", ord_error_wire_code (call_rc));
            ord_pack_kv_cstr (&results_pk, "message", call_why.text [0]? call_why.text
                                                                    : ord_strerror (call_rc));
            break;
        }
        msgpack_pack_map (&results_pk, 1 + fields);
        ord_pack_kv_bool (&results_pk, "ok", true);
        ord_pack_raw (&results_pk, self->fields.data, self->fields.size);
    }
    msgpack_sbuffer_clear (&item->reply);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &item->reply, msgpack_sbuffer_write);
    ord_str_t rid = { item->has_rid? item->rid: NULL, (uint32_t) strlen (item->rid) };
    ord_reply_begin (&pk, rid, true, 1);
    ord_pack_cstr (&pk, "results");
    msgpack_pack_array (&pk, ran);
    ord_pack_raw (&pk, results.data, results.size);
    msgpack_sbuffer_destroy (&results);
    return 0;
}


//  --------------------------------------------------------------------------
//  Decoding a request

int
ord_adapter_decode (zframe_t *frame, msgpack_unpacked *unpacked,
                    char rid_text [ORD_ADAPTER_MAX_RID + 1], bool *has_rid,
                    ord_str_t *op, ord_why_t *why)
{
    rid_text [0] = 0;
    *has_rid = false;
    op->ptr = NULL;
    op->len = 0;
    if (zframe_size (frame) > ORD_ADAPTER_MAX_BODY) {
        ord_why_set (why, "body larger than %d bytes", ORD_ADAPTER_MAX_BODY);
        return ORD_ETOOLARGE;
    }
    const msgpack_object *body = &unpacked->data;
    int rc = ord_wire_decode (zframe_data (frame), zframe_size (frame), unpacked, why);
    if (rc)
        return rc;
    //  The rid first, so that every later error echoes it
    ord_str_t rid;
    rc = ord_wire_str (body, "rid", false, ORD_ADAPTER_MAX_RID, &rid, why);
    if (rc)
        return rc;
    if (rid.ptr) {
        memcpy (rid_text, rid.ptr, rid.len);
        rid_text [rid.len] = 0;
        *has_rid = true;
    }
    int64_t version;
    rc = ord_wire_int (body, "v", true, INT64_MIN, INT64_MAX, &version, why);
    if (rc)
        return rc;
    if (version != ORD_WIRE_VERSION) {
        ord_why_set (why, "v: %" PRId64 " is not supported (only %d)",
                     version, ORD_WIRE_VERSION);
        return ORD_EVERSION;
    }
    return ord_wire_str (body, "op", true, 64, op, why);
}


//  Decodes and answers one request (item->body) of a batch. Opens the
//  batch txn on the first request that needs a handler.
static void
s_answer (self_t *self, s_item_t *item, int64_t now,
          MDB_txn **txn_p, int *txn_rc, ord_why_t *txn_why)
{
    ord_why_t why;
    why.text [0] = 0;
    zframe_t *frame = item->body;
    if (!frame) {
        s_item_error (item, ORD_EBADREQ, "empty message");
        return;
    }
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    const msgpack_object *body = &unpacked.data;
    ord_str_t op;
    int rc = ord_adapter_decode (frame, &unpacked, item->rid, &item->has_rid, &op, &why);
    ord_str_t rid = { item->has_rid? item->rid: NULL, (uint32_t) strlen (item->rid) };
    if (rc)
        goto fail;
    if (ord_str_eq (op, "ping")) {
        msgpack_packer pk;
        msgpack_packer_init (&pk, &item->reply, msgpack_sbuffer_write);
        ord_reply_begin (&pk, rid, true, 4);
        ord_pack_kv_cstr (&pk, "name", self->spec->name);
        ord_pack_kv_cstr (&pk, "version", self->spec->version);
        ord_pack_kv_bool (&pk, "batch", true);
        ord_pack_kv_bool (&pk, "backup", true);
        goto done;
    }
    bool batch = ord_str_eq (op, "batch");
    ord_adapter_handler_fn *handler = batch? NULL: ord_adapter_find_op (self->spec, op);
    if (!batch && !handler) {
        ord_why_set (&why, "op: '%.*s' is not an operation of %s",
                     (int) op.len, op.ptr, self->spec->name);
        rc = ORD_EUNKNOWNOP;
        goto fail;
    }
    item->handled = true;
    if (!*txn_p && *txn_rc == 0)
        *txn_rc = s_batch_begin (self, now, txn_p, txn_why);
    if (*txn_rc) {
        s_item_error (item, ORD_EUNAVAILABLE, txn_why->text);
        goto done;
    }
    if (batch) {
        rc = s_handle_batch (self, item, *txn_p, now, body, &why);
        if (rc)
            goto fail;
    }
    else
        s_handle (self, item, *txn_p, now, handler, body);
    goto done;
fail:
    s_item_error (item, rc, why.text);
done:
    msgpack_unpacked_destroy (&unpacked);
}

static int
s_send (self_t *self, s_item_t *item)
{
    zmsg_t *msg = item->msg;
    item->msg = NULL;
    int rc = zmsg_addmem (msg, item->reply.data, item->reply.size);
    if (rc == 0)
        rc = zmsg_send (&msg, self->router);
    zmsg_destroy (&msg);
    return rc;
}

//  Answers the first `count` items in one write transaction. A full map
//  (a handler's, the batch hook's or the commit's MDB_MAP_FULL) returns
//  ORD_ESTOREFULL with nothing written, for the caller to grow the map and
//  answer them all again, unless this is the `last_try`: then whatever
//  fitted is committed, as without growth. Any other commit failure turns
//  the handled items' answers into errors and is returned.
static int
s_answer_all (self_t *self, size_t count, int64_t now, bool last_try)
{
    MDB_txn *txn = NULL;
    int txn_rc = 0;
    ord_why_t txn_why;
    txn_why.text [0] = 0;
    self->map_full = false;
    for (size_t i = 0; i < count; i++)
        s_answer (self, &self->items [i], now, &txn, &txn_rc, &txn_why);
    bool map_full = self->map_full || txn_rc == ORD_ESTOREFULL;
    if (map_full && !last_try) {
        if (txn)
            mdb_txn_abort (txn);
        return ORD_ESTOREFULL;
    }
    if (!txn)
        return 0;
    int mdb_rc = mdb_txn_commit (txn);
    if (mdb_rc == MDB_MAP_FULL && !last_try)
        return ORD_ESTOREFULL;
    if (mdb_rc) {
        //  Whatever the cause, the batch's writes are lost: unavailable
        int rc = ord_adapter_store_error (mdb_rc, "commit", &txn_why);
        if (!(rc == ORD_ESTOREFULL && ord_mapsize_stuck (self->map)))
            zsys_warning ("%s: %s", self->spec->name, txn_why.text);   //  else said once
        for (size_t i = 0; i < count; i++)
            if (self->items [i].handled)
                s_item_error (&self->items [i], ORD_EUNAVAILABLE, txn_why.text);
        return rc;
    }
    return 0;
}

//  Answers the items, growing the map (as many times as it takes, up to
//  S_GROWTHS_PER_BATCH) when it is full, so that a growth fails nothing;
//  then makes room for the next batches. Only this thread uses the
//  environment, so no transaction is open when the map grows.
static void
s_answer_growing (self_t *self, size_t count, int64_t now)
{
    //  A map that could not grow a moment ago is not tried again yet
    bool may_retry = ord_mapsize_may_grow (self->map);
    ord_why_t why;
    for (int growths = 0; ; growths++) {
        int rc = s_answer_all (self, count, now, !may_retry);
        if (rc != ORD_ESTOREFULL || !may_retry)
            break;
        for (size_t i = 0; i < count; i++)
            s_item_clear_answer (&self->items [i]);
        may_retry = growths < S_GROWTHS_PER_BATCH && ord_mapsize_may_grow (self->map)
                 && ord_mapsize_grow (self->map, &why) == 0;
    }
    if (ord_mapsize_wants_room (self->map) && ord_mapsize_may_grow (self->map))
        ord_mapsize_grow (self->map, &why);
}

//  Answers up to ORD_ADAPTER_MAX_BATCH requests that are due, in one write
//  transaction. Returns how many it answered.
static size_t
s_process_due (self_t *self)
{
    int64_t mono = zclock_mono ();
    int64_t now = zclock_time ();
    size_t count = 0;
    while (self->head && self->head->due <= mono && count < ORD_ADAPTER_MAX_BATCH) {
        s_request_t *request = self->head;
        self->head = request->next;
        if (!self->head)
            self->tail = NULL;
        s_item_t *item = &self->items [count++];
        item->msg = request->msg;
        item->body = zmsg_last (item->msg);
        if (item->body)
            zmsg_remove (item->msg, item->body);
        free (request);
    }
    s_answer_growing (self, count, now);
    for (size_t i = 0; i < count; i++) {
        if (s_send (self, &self->items [i]))
            zsys_warning ("%s: could not send a reply", self->spec->name);
        s_item_reset (&self->items [i]);
    }
    return count;
}

//  Takes every request waiting on the ROUTER (up to a batch) into the queue
static int
s_receive (self_t *self)
{
    int64_t due = zclock_mono () + self->latency;
    for (int n = 0; n < ORD_ADAPTER_MAX_BATCH; n++) {
        if (!(zsock_events (self->router) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->router);
        if (!msg)
            break;
        if (ord_adapter_backup_take (self->backup, &msg, self->router))
            continue;           //  answered now, never queued
        s_request_t *request = (s_request_t *) calloc (1, sizeof *request);
        if (!request) {
            zmsg_destroy (&msg);
            return -1;
        }
        request->msg = msg;
        request->due = due;
        if (self->tail)
            self->tail->next = request;
        else
            self->head = request;
        self->tail = request;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Start, serve, stop

static void
s_self_destroy (self_t *self)
{
    while (self->head) {
        s_request_t *request = self->head;
        self->head = request->next;
        zmsg_destroy (&request->msg);
        free (request);
    }
    self->tail = NULL;
    if (self->items) {
        for (size_t i = 0; i < ORD_ADAPTER_MAX_BATCH; i++) {
            zmsg_destroy (&self->items [i].msg);
            zframe_destroy (&self->items [i].body);
            msgpack_sbuffer_destroy (&self->items [i].reply);
        }
        free (self->items);
        self->items = NULL;
    }
    msgpack_sbuffer_destroy (&self->fields);
    zpoller_destroy (&self->poller);
    ord_mapsize_destroy (&self->map);
    ord_adapter_close (&self->router, &self->backup, &self->env);
}

static int
s_self_init (self_t *self, ord_why_t *why)
{
    msgpack_sbuffer_init (&self->fields);
    int rc = ord_adapter_config_int (self->args->config, "latency_ms", 0,
                                     S_LATENCY_MAX, 0, false, &self->latency, why);
    if (rc)
        return rc;
    self->items = (s_item_t *) calloc (ORD_ADAPTER_MAX_BATCH, sizeof *self->items);
    if (!self->items) {
        ord_why_set (why, "out of memory");
        return ORD_EINTERNAL;
    }
    for (size_t i = 0; i < ORD_ADAPTER_MAX_BATCH; i++)
        msgpack_sbuffer_init (&self->items [i].reply);

    rc = ord_adapter_open (self->args, self->spec, self->state, &self->env, why);
    if (rc)
        return rc;
    self->backup = ord_adapter_backup_new (self->env, self->spec->name);
    int64_t map_size_max;
    rc = s_config_map_size_max (self->args->config, self->env, &map_size_max, why);
    if (rc)
        return rc;
    self->map = ord_mapsize_new (self->env, self->spec->name, map_size_max);
    ord_why_t ignored;
    ord_mapsize_keep_room (self->map, &ignored);   //  reopened with a smaller map_size
    rc = ord_adapter_router_bind (self->args, &self->router, why);
    if (rc)
        return rc;
    self->poller = zpoller_new (self->pipe, self->router, NULL);
    if (!self->poller) {
        ord_why_set (why, "cannot create a poller");
        return ORD_EINTERNAL;
    }
    //  Only $TERM stops us, not a signal delivered to the process
    zpoller_set_nonstop (self->poller, true);
    return 0;
}

//  Waits for $TERM on the pipe (or for the pipe to break)
void
ord_adapter_thread_name (const char *name)
{
    char truncated [16];
    snprintf (truncated, sizeof truncated, "ad-%s", name);
    prctl (PR_SET_NAME, truncated, 0, 0, 0);
}

void
ord_adapter_close (zsock_t **router_p, ord_adapter_backup_t **backup_p, MDB_env **env_p)
{
    zsock_destroy (router_p);
    ord_adapter_backup_destroy (backup_p);
    if (*env_p) {
        mdb_env_close (*env_p);
        *env_p = NULL;
    }
}

bool
ord_adapter_handshake (zsock_t *pipe, int rc, const ord_why_t *why)
{
    const char *reason = why->text [0]? why->text: ord_strerror (rc);
    if (zsock_signal (pipe, 0) || zstr_send (pipe, rc? reason: ""))
        return false;           //  the pipe is gone: nobody to serve
    if (rc) {
        //  Refused: wait for orderd's $TERM, as the contract says
        while (!ord_adapter_pipe_says_term (pipe))
            ;
        return false;
    }
    return true;
}

bool
ord_adapter_pipe_says_term (zsock_t *pipe)
{
    zmsg_t *msg = zmsg_recv (pipe);
    if (!msg)
        return true;            //  interrupted or the pipe is gone
    char *command = zmsg_popstr (msg);
    bool term = command && streq (command, "$TERM");
    zstr_free (&command);
    zmsg_destroy (&msg);
    return term;
}

void
ord_adapter_run (zsock_t *pipe, const ord_plugin_args_t *args,
                 const ord_adapter_spec_t *spec, void *state)
{
    self_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.args = args;
    self.spec = spec;
    self.state = state;
    if (spec)
        ord_adapter_thread_name (spec->name);

    ord_why_t why;
    why.text [0] = 0;
    int rc = args && spec? s_self_init (&self, &why): ORD_EINTERNAL;
    if (!ord_adapter_handshake (pipe, rc, &why)) {
        s_self_destroy (&self);
        return;
    }

    while (true) {
        int timeout = -1;
        int64_t hold_ms;
        bool holding = ord_adapter_backup_holding (self.backup, &hold_ms);
        if (holding)
            timeout = (int) hold_ms;    //  a backup holds commits: wait for its resume
        else
        if (self.head) {
            int64_t wait = self.head->due - zclock_mono ();
            timeout = wait < 0? 0: (int) wait;
        }
        void *which = zpoller_wait (self.poller, timeout);
        if (which == pipe) {
            if (ord_adapter_pipe_says_term (pipe))
                break;
        }
        else
        if (which == self.router) {
            if (s_receive (&self))
                zsys_warning ("%s: out of memory queueing a request", spec->name);
        }
        else
        if (zpoller_terminated (self.poller))
            break;
        while (self.head && self.head->due <= zclock_mono ()
           && !ord_adapter_backup_holding (self.backup, &hold_ms))
            if (s_process_due (&self) == 0)
                break;
    }
    s_self_destroy (&self);
}
