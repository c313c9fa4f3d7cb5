/*  fulfilment_local: a fulfilment adapter that keeps stock per sku in its
    own LMDB environment.

    Databases:
      stock    sku -> {rv, available, reserved}
      lines    order_id NUL line -> {rv, sku, quantity, state, expires_at,
               answer}; state is reserved, released, lapsed, reduced or
               restored; answer is the `available` that the op which set
               the state replied, replayed to a repeat of that op
      expiry   8-byte big-endian expires_at + order_id NUL line -> "",
               one entry per held reservation

    A reservation holds its stock until expires_at. Every batch of requests
    starts with a sweep of the expiry index inside the batch's transaction,
    so every op, `stock` included, sees a lapsed reservation's stock free.

    Stock conservation: available + reserved + the quantities of reduced
    lines equals what was seeded and set. */
#include "orderd/plugin.h"
#include "../common/adapter_server.h"
#include "number.h"

#define S_NAME          "fulfilment_local"
#define S_VERSION       "1.0.0"
#define S_RECORD_V      1
#define S_ID_MAX        128                 //  order_id and sku
#define S_LINE_MAX      64
#define S_KEY_MAX       (S_ID_MAX + 1 + S_LINE_MAX)
#define S_QUANTITY_MAX  1000000000LL
#define S_DEFAULT_TTL   (30 * 60 * 1000)    //  without payment_timeout

typedef enum {
    S_RESERVED, S_RELEASED, S_LAPSED, S_REDUCED, S_RESTORED, S_NSTATES
} s_state_t;

static const char *s_state_names [S_NSTATES] = {
    "reserved", "released", "lapsed", "reduced", "restored"
};

typedef struct {
    int64_t available;
    int64_t reserved;
    bool exists;                    //  the store has a record of the sku
} s_stock_t;

typedef struct {
    char sku [S_ID_MAX + 1];
    int64_t quantity;
    s_state_t state;
    int64_t expires_at;             //  ms since the epoch, when reserved
    int64_t answer;                 //  `available` replied when it was set
} s_line_t;

//  A line's key: order_id NUL line
typedef struct {
    char data [S_KEY_MAX];
    size_t size;
} s_key_t;

typedef struct {
    MDB_dbi stock;
    MDB_dbi lines;
    MDB_dbi expiry;
    int64_t reserve_ttl;            //  ms a reservation holds by default
} self_t;


//  --------------------------------------------------------------------------
//  Records

static MDB_val
s_val_of_str (ord_str_t str)
{
    MDB_val val = { str.len, (void *) str.ptr };
    return val;
}

//  Decodes a record map off disk, checking its version
static int
s_record_decode (const MDB_val *data, msgpack_unpacked *unpacked, ord_why_t *why)
{
    int64_t rv = 0;
    int rc = ord_wire_decode (data->mv_data, data->mv_size, unpacked, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked->data, "rv", true, S_RECORD_V, S_RECORD_V,
                           &rv, why);
    return rc;
}

static int
s_stock_load (self_t *self, MDB_txn *txn, ord_str_t sku, s_stock_t *stock,
              ord_why_t *why)
{
    memset (stock, 0, sizeof *stock);
    MDB_val key = s_val_of_str (sku), data;
    int rc = mdb_get (txn, self->stock, &key, &data);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return ord_adapter_store_error (rc, "stock", why);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    rc = s_record_decode (&data, &unpacked, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked.data, "available", true, 0, INT64_MAX,
                           &stock->available, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked.data, "reserved", true, 0, INT64_MAX,
                           &stock->reserved, why);
    msgpack_unpacked_destroy (&unpacked);
    if (rc) {
        ord_why_prefix (why, "stock record of %.*s is damaged: ",
                        (int) sku.len, sku.ptr);
        return ORD_ESTORE;
    }
    stock->exists = true;
    return 0;
}

static int
s_stock_store (self_t *self, MDB_txn *txn, ord_str_t sku, const s_stock_t *stock,
               ord_why_t *why)
{
    if (stock->available < 0 || stock->reserved < 0) {
        ord_why_set (why, "stock of %.*s would go negative: the store is inconsistent",
                     (int) sku.len, sku.ptr);
        return ORD_ESTORE;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    ord_pack_kv_int (&pk, "rv", S_RECORD_V);
    ord_pack_kv_int (&pk, "available", stock->available);
    ord_pack_kv_int (&pk, "reserved", stock->reserved);
    MDB_val key = s_val_of_str (sku);
    MDB_val data = { buffer.size, buffer.data };
    int rc = mdb_put (txn, self->stock, &key, &data, 0);
    msgpack_sbuffer_destroy (&buffer);
    return rc? ord_adapter_store_error (rc, "stock", why): 0;
}

//  Moves stock of `sku` between available and reserved, or in and out of
//  it; the new available count in *available if not NULL.
static int
s_stock_move (self_t *self, MDB_txn *txn, ord_str_t sku, int64_t to_available,
              int64_t to_reserved, int64_t *available, ord_why_t *why)
{
    s_stock_t stock;
    int rc = s_stock_load (self, txn, sku, &stock, why);
    if (rc)
        return rc;
    stock.available += to_available;
    stock.reserved += to_reserved;
    rc = s_stock_store (self, txn, sku, &stock, why);
    if (rc == 0 && available)
        *available = stock.available;
    return rc;
}

//  Loads a line: 0, MDB_NOTFOUND when there is none, or a store error
static int
s_line_load (self_t *self, MDB_txn *txn, const s_key_t *line_key, s_line_t *line,
             ord_why_t *why)
{
    memset (line, 0, sizeof *line);
    MDB_val key = { line_key->size, (void *) line_key->data }, data;
    int rc = mdb_get (txn, self->lines, &key, &data);
    if (rc == MDB_NOTFOUND)
        return rc;
    if (rc)
        return ord_adapter_store_error (rc, "lines", why);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_str_t sku;
    int64_t state = 0;
    rc = s_record_decode (&data, &unpacked, why);
    if (rc == 0)
        rc = ord_wire_str (&unpacked.data, "sku", true, S_ID_MAX, &sku, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked.data, "quantity", true, 1, S_QUANTITY_MAX,
                           &line->quantity, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked.data, "state", true, 0, S_NSTATES - 1, &state, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked.data, "expires_at", true, 0, INT64_MAX,
                           &line->expires_at, why);
    if (rc == 0)
        rc = ord_wire_int (&unpacked.data, "answer", true, 0, INT64_MAX,
                           &line->answer, why);
    if (rc == 0) {
        memcpy (line->sku, sku.ptr, sku.len);
        line->sku [sku.len] = 0;
        line->state = (s_state_t) state;
    }
    msgpack_unpacked_destroy (&unpacked);
    if (rc) {
        ord_why_prefix (why, "line record is damaged: ");
        return ORD_ESTORE;
    }
    return 0;
}

static int
s_line_store (self_t *self, MDB_txn *txn, const s_key_t *line_key,
              const s_line_t *line, ord_why_t *why)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 6);
    ord_pack_kv_int (&pk, "rv", S_RECORD_V);
    ord_pack_kv_cstr (&pk, "sku", line->sku);
    ord_pack_kv_int (&pk, "quantity", line->quantity);
    ord_pack_kv_int (&pk, "state", line->state);
    ord_pack_kv_int (&pk, "expires_at", line->expires_at);
    ord_pack_kv_int (&pk, "answer", line->answer);
    MDB_val key = { line_key->size, (void *) line_key->data };
    MDB_val data = { buffer.size, buffer.data };
    int rc = mdb_put (txn, self->lines, &key, &data, 0);
    msgpack_sbuffer_destroy (&buffer);
    return rc? ord_adapter_store_error (rc, "lines", why): 0;
}

//  The expiry index key of a line: big-endian time, then the line key
static MDB_val
s_expiry_key (uint8_t *buffer, int64_t expires_at, const s_key_t *line_key)
{
    for (int i = 0; i < 8; i++)
        buffer [i] = (uint8_t) ((uint64_t) expires_at >> (56 - 8 * i));
    memcpy (buffer + 8, line_key->data, line_key->size);
    MDB_val key = { 8 + line_key->size, buffer };
    return key;
}

//  Adds (add) or removes the expiry index entry of a line
static int
s_expiry_set (self_t *self, MDB_txn *txn, int64_t expires_at,
              const s_key_t *line_key, bool add, ord_why_t *why)
{
    uint8_t buffer [8 + S_KEY_MAX];
    MDB_val key = s_expiry_key (buffer, expires_at, line_key);
    MDB_val data = { 0, NULL };
    int rc = add? mdb_put (txn, self->expiry, &key, &data, 0)
                : mdb_del (txn, self->expiry, &key, NULL);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return rc? ord_adapter_store_error (rc, "expiry", why): 0;
}


//  --------------------------------------------------------------------------
//  Request fields

//  Reads order_id and line into the line's key. A line is an integer >= 0
//  or a string; line 1 and line "1" are the same line.
static int
s_read_line_key (ord_adapter_call_t *call, s_key_t *key)
{
    ord_str_t order_id;
    int rc = ord_wire_str (call->body, "order_id", true, S_ID_MAX, &order_id, &call->why);
    if (rc)
        return rc;
    char text [S_LINE_MAX + 1];
    size_t text_len;
    const msgpack_object *line = ord_wire_find (call->body, "line");
    if (!line || line->type == MSGPACK_OBJECT_NIL)
        return ord_adapter_fail (call, ORD_EBADREQ, "line: required");
    if (line->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf (text, sizeof text, "%" PRIu64, line->via.u64);
        text_len = strlen (text);
    }
    else
    if (line->type == MSGPACK_OBJECT_STR) {
        ord_str_t value;
        rc = ord_wire_str (call->body, "line", true, S_LINE_MAX, &value, &call->why);
        if (rc)
            return rc;
        memcpy (text, value.ptr, value.len);
        text_len = value.len;
    }
    else
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "line: must be an integer >= 0 or a string");
    memcpy (key->data, order_id.ptr, order_id.len);
    key->data [order_id.len] = 0;
    memcpy (key->data + order_id.len + 1, text, text_len);
    key->size = order_id.len + 1 + text_len;
    return 0;
}

static int
s_read_item (ord_adapter_call_t *call, ord_str_t *sku, int64_t *quantity)
{
    int rc = ord_wire_str (call->body, "sku", true, S_ID_MAX, sku, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "quantity", true, 1, S_QUANTITY_MAX,
                           quantity, &call->why);
    return rc;
}

//  A repeat of an op on a line must name the same sku and quantity
static int
s_check_same (ord_adapter_call_t *call, const s_line_t *line, ord_str_t sku,
              int64_t quantity)
{
    if (ord_str_eq (sku, line->sku) && quantity == line->quantity)
        return 0;
    return ord_adapter_fail (call, ORD_EIDEMPOTENCY,
                             "line is %s for %" PRId64 " x %s, not %" PRId64 " x %.*s",
                             s_state_names [line->state], line->quantity, line->sku,
                             quantity, (int) sku.len, sku.ptr);
}

//  A sku that never had a stock record is no product of this shop, which
//  a cart tells apart from one that sold out
static int
s_out_of_stock (ord_adapter_call_t *call, ord_str_t sku, bool exists, int64_t available,
                int64_t quantity)
{
    if (!exists)
        return ord_adapter_fail (call, ORD_EUNKNOWNPRODUCT, "%.*s: no such product",
                                 (int) sku.len, sku.ptr);
    return ord_adapter_fail (call, ORD_ESTOCK,
                             "%.*s: out of stock (%" PRId64 " available, %" PRId64 " asked)",
                             (int) sku.len, sku.ptr, available, quantity);
}


//  --------------------------------------------------------------------------
//  reserve {order_id, line, sku, quantity, ttl_ms?} -> {available}
//  A live reservation asked again is kept, its expiry pushed to now + ttl
//  if that is later; a reduced line is left as it is.

static int
s_reserve (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    s_key_t key;
    ord_str_t sku;
    int64_t quantity, ttl = 0;
    int rc = s_read_line_key (call, &key);
    if (rc == 0)
        rc = s_read_item (call, &sku, &quantity);
    if (rc == 0)
        rc = ord_wire_int (call->body, "ttl_ms", false, 0, INT64_MAX / 4, &ttl, &call->why);
    if (rc)
        return rc;
    int64_t expires_at = call->now + (ttl > 0? ttl: self->reserve_ttl);

    s_line_t line;
    rc = s_line_load (self, call->txn, &key, &line, &call->why);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && (line.state == S_RESERVED || line.state == S_REDUCED)) {
        rc = s_check_same (call, &line, sku, quantity);
        if (rc)
            return rc;
        if (line.state == S_RESERVED && expires_at > line.expires_at) {
            rc = s_expiry_set (self, call->txn, line.expires_at, &key, false, &call->why);
            if (rc == 0)
                rc = s_expiry_set (self, call->txn, expires_at, &key, true, &call->why);
            line.expires_at = expires_at;
            if (rc == 0)
                rc = s_line_store (self, call->txn, &key, &line, &call->why);
            if (rc)
                return rc;
        }
        ord_adapter_reply_int (call, "available", line.answer);
        return 0;
    }
    //  No line yet, or one that holds no stock: take it from available
    s_stock_t stock;
    rc = s_stock_load (self, call->txn, sku, &stock, &call->why);
    if (rc)
        return rc;
    if (stock.available < quantity || !stock.exists)
        return s_out_of_stock (call, sku, stock.exists, stock.available, quantity);
    stock.available -= quantity;
    stock.reserved += quantity;
    rc = s_stock_store (self, call->txn, sku, &stock, &call->why);
    if (rc)
        return rc;
    memset (&line, 0, sizeof line);
    memcpy (line.sku, sku.ptr, sku.len);
    line.quantity = quantity;
    line.state = S_RESERVED;
    line.expires_at = expires_at;
    line.answer = stock.available;
    rc = s_line_store (self, call->txn, &key, &line, &call->why);
    if (rc == 0)
        rc = s_expiry_set (self, call->txn, expires_at, &key, true, &call->why);
    if (rc)
        return rc;
    ord_adapter_reply_int (call, "available", stock.available);
    return 0;
}


//  --------------------------------------------------------------------------
//  release {order_id, line}: frees a held reservation, else does nothing

static int
s_release (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    s_key_t key;
    int rc = s_read_line_key (call, &key);
    if (rc)
        return rc;
    s_line_t line;
    rc = s_line_load (self, call->txn, &key, &line, &call->why);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (line.state != S_RESERVED)
        return 0;
    ord_str_t sku = { line.sku, (uint32_t) strlen (line.sku) };
    rc = s_stock_move (self, call->txn, sku, line.quantity, -line.quantity,
                       NULL, &call->why);
    if (rc == 0)
        rc = s_expiry_set (self, call->txn, line.expires_at, &key, false, &call->why);
    line.state = S_RELEASED;
    if (rc == 0)
        rc = s_line_store (self, call->txn, &key, &line, &call->why);
    return rc;
}


//  --------------------------------------------------------------------------
//  reduce {order_id, line, sku, quantity} -> {available}: consumes the
//  line's reservation if held, else takes free stock

static int
s_reduce (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    s_key_t key;
    ord_str_t sku;
    int64_t quantity;
    int rc = s_read_line_key (call, &key);
    if (rc == 0)
        rc = s_read_item (call, &sku, &quantity);
    if (rc)
        return rc;
    s_line_t line;
    rc = s_line_load (self, call->txn, &key, &line, &call->why);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    bool held = rc == 0 && line.state == S_RESERVED;
    if (rc == 0 && (held || line.state == S_REDUCED)) {
        rc = s_check_same (call, &line, sku, quantity);
        if (rc)
            return rc;
        if (line.state == S_REDUCED) {
            ord_adapter_reply_int (call, "available", line.answer);
            return 0;
        }
    }
    s_stock_t stock;
    rc = s_stock_load (self, call->txn, sku, &stock, &call->why);
    if (rc)
        return rc;
    if (held) {
        stock.reserved -= quantity;
        rc = s_expiry_set (self, call->txn, line.expires_at, &key, false, &call->why);
        if (rc)
            return rc;
    }
    else {
        if (stock.available < quantity || !stock.exists)
            return s_out_of_stock (call, sku, stock.exists, stock.available, quantity);
        stock.available -= quantity;
    }
    rc = s_stock_store (self, call->txn, sku, &stock, &call->why);
    if (rc)
        return rc;
    memset (&line, 0, sizeof line);
    memcpy (line.sku, sku.ptr, sku.len);
    line.quantity = quantity;
    line.state = S_REDUCED;
    line.answer = stock.available;
    rc = s_line_store (self, call->txn, &key, &line, &call->why);
    if (rc)
        return rc;
    ord_adapter_reply_int (call, "available", stock.available);
    return 0;
}


//  --------------------------------------------------------------------------
//  restore {order_id, line, sku, quantity}: puts a reduced line's stock
//  back; any other line is left as it is

static int
s_restore (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    s_key_t key;
    ord_str_t sku;
    int64_t quantity;
    int rc = s_read_line_key (call, &key);
    if (rc == 0)
        rc = s_read_item (call, &sku, &quantity);
    if (rc)
        return rc;
    s_line_t line;
    rc = s_line_load (self, call->txn, &key, &line, &call->why);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (line.state != S_REDUCED)
        return 0;
    rc = s_check_same (call, &line, sku, quantity);
    if (rc)
        return rc;
    rc = s_stock_move (self, call->txn, sku, quantity, 0, NULL, &call->why);
    line.state = S_RESTORED;
    if (rc == 0)
        rc = s_line_store (self, call->txn, &key, &line, &call->why);
    return rc;
}


//  --------------------------------------------------------------------------
//  stock {sku, set?} -> {sku, available, reserved}

static int
s_stock (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_str_t sku;
    int64_t set = -1;
    int rc = ord_wire_str (call->body, "sku", true, S_ID_MAX, &sku, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "set", false, 0, ORD_STOCK_MAX, &set, &call->why);
    if (rc)
        return rc;
    s_stock_t stock;
    rc = s_stock_load (self, call->txn, sku, &stock, &call->why);
    if (rc)
        return rc;
    if (set >= 0) {
        stock.available = set;
        rc = s_stock_store (self, call->txn, sku, &stock, &call->why);
        if (rc)
            return rc;
    }
    ord_adapter_reply_str (call, "sku", sku);
    ord_adapter_reply_int (call, "available", stock.available);
    ord_adapter_reply_int (call, "reserved", stock.reserved);
    return 0;
}


//  --------------------------------------------------------------------------
//  Start-up and the per-batch sweep

//  Every reservation whose time has come (expires_at <= now) lapses: its
//  stock goes back to available.
static int
s_sweep (void *state, MDB_txn *txn, int64_t now, ord_why_t *why)
{
    self_t *self = (self_t *) state;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->expiry, &cursor);
    if (rc)
        return ord_adapter_store_error (rc, "expiry", why);
    while (true) {
        MDB_val key, data;
        rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = ord_adapter_store_error (rc, "expiry", why);
            break;
        }
        if (key.mv_size < 9 || key.mv_size > 8 + S_KEY_MAX) {
            zsys_warning ("%s: dropping a damaged expiry entry", S_NAME);
            rc = mdb_cursor_del (cursor, 0);
            if (rc) {
                rc = ord_adapter_store_error (rc, "expiry", why);
                break;
            }
            continue;
        }
        const uint8_t *bytes = (const uint8_t *) key.mv_data;
        uint64_t expires_at = 0;
        for (int i = 0; i < 8; i++)
            expires_at = (expires_at << 8) | bytes [i];
        if ((int64_t) expires_at > now)
            break;              //  the rest is later still
        s_key_t line_key;
        line_key.size = key.mv_size - 8;
        memcpy (line_key.data, bytes + 8, line_key.size);
        rc = mdb_cursor_del (cursor, 0);
        if (rc) {
            rc = ord_adapter_store_error (rc, "expiry", why);
            break;
        }
        s_line_t line;
        rc = s_line_load (self, txn, &line_key, &line, why);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;           //  stale entry
        }
        if (rc)
            break;
        if (line.state != S_RESERVED || line.expires_at != (int64_t) expires_at)
            continue;           //  stale entry
        ord_str_t sku = { line.sku, (uint32_t) strlen (line.sku) };
        rc = s_stock_move (self, txn, sku, line.quantity, -line.quantity, NULL, why);
        if (rc)
            break;
        line.state = S_LAPSED;
        rc = s_line_store (self, txn, &line_key, &line, why);
        if (rc)
            break;
    }
    mdb_cursor_close (cursor);
    return rc;
}

//  Seeds every sku of the stock file that the store has never seen
static int
s_seed (self_t *self, MDB_txn *txn, const char *path, ord_why_t *why)
{
    //  Not zconfig_load: czmq 4.2 leaks the file handle on a parse error
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk) {
        ord_why_set (why, "stock_file: cannot read '%s'", path);
        return ORD_ECONFIG;
    }
    zconfig_t *root = zconfig_chunk_load (chunk);
    zchunk_destroy (&chunk);
    if (!root) {
        ord_why_set (why, "stock_file: cannot parse '%s' (ZPL)", path);
        return ORD_ECONFIG;
    }
    int rc = 0;
    zconfig_t *section = zconfig_locate (root, "stock");
    if (!section) {
        ord_why_set (why, "stock_file: '%s' has no stock section", path);
        rc = ORD_ECONFIG;
        goto done;
    }
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item)) {
        const char *name = zconfig_name (item);
        const char *value = zconfig_value (item);
        ord_str_t sku = { name, name? (uint32_t) strlen (name): 0 };
        int64_t count = -1;
        if (sku.len == 0 || sku.len > S_ID_MAX || !value || !ord_number_parse (value, false, &count)
        ||  count < 0 || count > ORD_STOCK_MAX || zconfig_child (item)) {
            ord_why_set (why, "stock_file: '%s': stock/%s: '%s' is not a count from 0 to %d",
                         path, name? name: "", value? value: "", ORD_STOCK_MAX);
            rc = ORD_ECONFIG;
            goto done;
        }
        s_stock_t stock;
        rc = s_stock_load (self, txn, sku, &stock, why);
        if (rc == 0 && !stock.exists) {
            stock.available = count;
            rc = s_stock_store (self, txn, sku, &stock, why);
        }
        if (rc)
            goto done;
    }
done:
    zconfig_destroy (&root);
    return rc;
}

static int
s_open (void *state, MDB_txn *txn, const ord_plugin_args_t *args, ord_why_t *why)
{
    self_t *self = (self_t *) state;
    int64_t fallback = args->payment_timeout_ms > 0? args->payment_timeout_ms
                                                    : S_DEFAULT_TTL;
    int rc = ord_adapter_config_int (args->config, "reserve_ttl_ms", 1, INT32_MAX,
                                     fallback, false, &self->reserve_ttl, why);
    if (rc)
        return rc;
    int mdb_rc = mdb_dbi_open (txn, "stock", MDB_CREATE, &self->stock);
    if (mdb_rc == 0)
        mdb_rc = mdb_dbi_open (txn, "lines", MDB_CREATE, &self->lines);
    if (mdb_rc == 0)
        mdb_rc = mdb_dbi_open (txn, "expiry", MDB_CREATE, &self->expiry);
    if (mdb_rc)
        return ord_adapter_store_error (mdb_rc, "open databases", why);
    const char *path = args->config? zconfig_get (args->config, "stock_file", NULL): NULL;
    if (path && *path)
        rc = s_seed (self, txn, path, why);
    return rc;
}

static const ord_adapter_op_t s_ops [] = {
    { "reserve", s_reserve },
    { "release", s_release },
    { "reduce", s_reduce },
    { "restore", s_restore },
    { "stock", s_stock },
    { NULL, NULL }
};

static const ord_adapter_spec_t s_spec = {
    S_NAME, S_VERSION, 4, s_open, s_sweep, s_ops
};

static void
s_actor (zsock_t *pipe, void *args)
{
    self_t self;
    memset (&self, 0, sizeof self);
    ord_adapter_run (pipe, (const ord_plugin_args_t *) args, &s_spec, &self);
}

ORD_PLUGIN_DECLARE ("fulfilment", S_NAME, S_VERSION, s_actor)
