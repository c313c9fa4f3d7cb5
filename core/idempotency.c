/*  idempotency: keys, replays, waiters, records and their purge. */
#include "adapter.h"
#include "idempotency.h"

struct _ord_idempotency_t {
    ord_engine_t *engine;
    zhashx_t *holders;             //  hex idem key -> zlistx_t of waiting requests
};

ord_idempotency_t *
ord_idempotency_new (ord_engine_t *engine)
{
    ord_idempotency_t *self = (ord_idempotency_t *) zmalloc (sizeof (ord_idempotency_t));
    self->engine = engine;
    self->holders = zhashx_new ();
    return self;
}

void
ord_idempotency_destroy (ord_idempotency_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_idempotency_t *self = *self_p;
    zlistx_t *held;
    ord_request_t *request;
    for (held = (zlistx_t *) zhashx_first (self->holders); held;
         held = (zlistx_t *) zhashx_next (self->holders)) {
        while ((request = (ord_request_t *) zlistx_detach (held, NULL)))
            ord_request_destroy (&request);
        zlistx_destroy (&held);
    }
    zhashx_destroy (&self->holders);
    free (self);
    *self_p = NULL;
}

static char *
s_hex (const ord_request_t *request)
{
    char *hex = (char *) ord_malloc (request->idem_key_size * 2 + 1);
    for (size_t i = 0; i < request->idem_key_size; i++)
        sprintf (hex + i * 2, "%02x", (unsigned char) request->idem_key [i]);
    return hex;
}

void
ord_idempotency_key (ord_request_t *request, ord_str_t idem)
{
    const char *op = ord_op_name (request->op);
    size_t user_len = request->user_id.ptr? request->user_id.len: 0;
    size_t op_len = strlen (op);
    request->idem_key_size = user_len + 1 + op_len + 1 + idem.len;
    request->idem_key = (char *) ord_malloc (request->idem_key_size);
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
}

//  The result the stored reply carries: a replay counts as what it returns.
//  Only replays read it, so the reply is decoded once more here.
static int
s_replayed_result (const msgpack_object *reply)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_why_t ignored;
    int result = ord_wire_decode (reply->via.bin.ptr, reply->via.bin.size, &unpacked, &ignored)
               ? ORD_EINTERNAL: ord_adapter_reply_status (&unpacked.data, &ignored);
    msgpack_unpacked_destroy (&unpacked);
    return result;
}

//  Answers from a live stored record: its reply when the body matches.
static ord_idem_outcome_t
s_replay (ord_request_t *request, const msgpack_object *digest, const msgpack_object *reply,
          int *rc, ord_why_t *why)
{
    if (digest->via.bin.size != ORD_DIGEST_SIZE
    ||  memcmp (digest->via.bin.ptr, request->digest, ORD_DIGEST_SIZE)) {
        *rc = ORD_EIDEMPOTENCY;
        ord_why_set (why, "idem: this key was used with a different request body");
        return ORD_IDEM_REFUSED;
    }
    ord_idem_outcome_t outcome = ORD_IDEM_REPLAYED;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    if (ord_reply_with_rid (reply->via.bin.ptr, reply->via.bin.size, request->rid, &buffer) == 0) {
        zframe_destroy (&request->reply);
        request->reply = zframe_new (buffer.data, buffer.size);
        request->result = s_replayed_result (reply);
    }
    else {
        *rc = ORD_EINTERNAL;
        ord_why_set (why, "stored reply unreadable");
        outcome = ORD_IDEM_REFUSED;
    }
    msgpack_sbuffer_destroy (&buffer);
    return outcome;
}

//  The stored record of the request's key, if there is one younger than
//  idem_ttl_ms: replayed or refused. ORD_IDEM_FIRST when there is none.
static ord_idem_outcome_t
s_lookup (ord_idempotency_t *self, ord_request_t *request, int *rc, ord_why_t *why)
{
    ord_store_t *store = self->engine->store;
    MDB_txn *txn;
    if (ord_store_read (store, &txn))
        return ORD_IDEM_FIRST;
    ord_idem_outcome_t outcome = ORD_IDEM_FIRST;
    MDB_val key = { request->idem_key_size, request->idem_key }, value;
    if (mdb_get (txn, ord_store_dbi (store, ORD_DB_IDEM), &key, &value) == 0) {
        msgpack_unpacked record;
        msgpack_unpacked_init (&record);
        ord_why_t ignored;
        const msgpack_object *digest, *reply;
        int64_t at = 0;
        if (ord_wire_decode (value.mv_data, value.mv_size, &record, &ignored) == 0
        &&  ord_wire_int (&record.data, "at", true, 0, INT64_MAX, &at, &ignored) == 0
        &&  at + self->engine->config->idem_ttl_ms > ord_engine_now ()
        &&  (digest = ord_wire_find (&record.data, "digest"))
        &&  (reply = ord_wire_find (&record.data, "reply"))
        &&  digest->type == MSGPACK_OBJECT_BIN && reply->type == MSGPACK_OBJECT_BIN)
            outcome = s_replay (request, digest, reply, rc, why);
        msgpack_unpacked_destroy (&record);
    }
    ord_store_read_end (store, txn);
    return outcome;
}

ord_idem_outcome_t
ord_idempotency_check (ord_idempotency_t *self, ord_request_t *request, int *rc,
                       ord_why_t *why)
{
    char *hex = s_hex (request);
    zlistx_t *held = (zlistx_t *) zhashx_lookup (self->holders, hex);
    if (held) {
        zlistx_add_end (held, request);
        free (hex);
        return ORD_IDEM_WAITS;
    }
    ord_idem_outcome_t outcome = s_lookup (self, request, rc, why);
    if (outcome == ORD_IDEM_FIRST) {
        //  First of its key in flight: later ones wait for its outcome
        zhashx_insert (self->holders, hex, zlistx_new ());
        request->idem_holder = true;
    }
    free (hex);
    return outcome;
}

zlistx_t *
ord_idempotency_release (ord_idempotency_t *self, const ord_request_t *request)
{
    char *hex = s_hex (request);
    zlistx_t *held = (zlistx_t *) zhashx_lookup (self->holders, hex);
    zhashx_delete (self->holders, hex);
    free (hex);
    return held;
}

void
ord_idempotency_record (ord_batch_t *batch, const ord_request_t *request, int rc)
{
    if (!request->idem_key
    ||  (rc && rc != ORD_ESTOCK && rc != ORD_EUNKNOWNPRODUCT && rc != ORD_EDECLINED))
        return;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    int64_t now = ord_engine_now ();
    msgpack_pack_map (&pk, 3);
    ord_pack_kv_int (&pk, "at", now);
    ord_pack_cstr (&pk, "digest");
    msgpack_pack_bin (&pk, ORD_DIGEST_SIZE);
    msgpack_pack_bin_body (&pk, request->digest, ORD_DIGEST_SIZE);
    ord_pack_cstr (&pk, "reply");
    msgpack_pack_bin (&pk, zframe_size (request->reply));
    msgpack_pack_bin_body (&pk, zframe_data (request->reply), zframe_size (request->reply));
    ord_batch_put (batch, ORD_DB_IDEM, request->idem_key, request->idem_key_size,
                   buffer.data, buffer.size);
    char *age_key = (char *) ord_malloc (8 + request->idem_key_size);
    ord_be64_put (age_key, (uint64_t) now);
    memcpy (age_key + 8, request->idem_key, request->idem_key_size);
    ord_batch_put (batch, ORD_DB_IDEM_AGE, age_key, 8 + request->idem_key_size, "", 0);
    free (age_key);
    msgpack_sbuffer_destroy (&buffer);
}

int
ord_idempotency_purge (ord_store_t *store, zsock_t *writer, int64_t horizon_ms, size_t max,
                       size_t *purged)
{
    *purged = 0;
    MDB_txn *txn;
    MDB_cursor *cursor;
    if (ord_store_read (store, &txn))
        return ORD_ESTORE;
    if (mdb_cursor_open (txn, ord_store_dbi (store, ORD_DB_IDEM_AGE), &cursor)) {
        ord_store_read_end (store, txn);
        return ORD_ESTORE;
    }
    ord_batch_t *batch = ord_batch_new ();
    MDB_val key, value;
    int rc = mdb_cursor_get (cursor, &key, &value, MDB_FIRST);
    while (rc == 0 && *purged < max && key.mv_size > 8
       &&  (int64_t) ord_be64_get ((const char *) key.mv_data) < horizon_ms) {
        ord_batch_del (batch, ORD_DB_IDEM_AGE, key.mv_data, key.mv_size);
        ord_batch_del (batch, ORD_DB_IDEM, (char *) key.mv_data + 8, key.mv_size - 8);
        (*purged)++;
        rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    ord_store_read_end (store, txn);
    rc = *purged? ord_store_commit (writer, batch): 0;
    if (rc)
        *purged = 0;
    ord_batch_destroy (&batch);
    return rc;
}
