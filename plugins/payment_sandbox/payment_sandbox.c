/*  payment_sandbox: a payment adapter that behaves like a PayPal sandbox,
    with a durable ledger in its own LMDB environment.

    Databases:
      payments   provider_order_id -> payment record (msgpack map, rv = 1)
      orders     order_id -> provider_order_id (create is idempotent on it)
      captures   capture_id -> provider_order_id (refund looks it up)

    The amount decides, like test cards: amount % 100 == 2 is declined at
    capture (recorded: asking again answers the same decline); 3 answers
    `unavailable` on the first capture attempt (the attempt is recorded)
    and succeeds on any later one. Every op is idempotent. */
#include <sys/random.h>
#include "orderd/plugin.h"
#include "../common/adapter_server.h"

#define S_NAME          "payment_sandbox"
#define S_VERSION       "1.0.0"
#define S_RECORD_V      1
#define S_ORDER_ID_MAX  128
#define S_ID_MAX        31          //  our own ids: "SBX-" + 16 hex
#define S_URL_MAX       2048
#define S_APPROVAL_URL  "https://sandbox.orderd.local/checkoutnow?token="

typedef enum {
    S_CREATED, S_CAPTURED, S_DECLINED, S_VOIDED, S_REFUNDED, S_NSTATUS
} s_status_t;

static const char *s_status_names [S_NSTATUS] = {
    "created", "captured", "declined", "voided", "refunded"
};

typedef struct {
    char id [S_ID_MAX + 1];                 //  provider_order_id
    char order_id [S_ORDER_ID_MAX + 1];
    char currency [4];
    s_status_t status;
    int64_t amount;
    int64_t attempts;                       //  capture attempts
    int64_t captures;                       //  captures that moved money
    int64_t captured_amount;
    int64_t refunded_amount;
    int64_t created_at;
    char capture_id [S_ID_MAX + 1];         //  "" until captured
    char refund_id [S_ID_MAX + 1];          //  "" until refunded
} s_payment_t;

typedef struct {
    MDB_dbi payments;
    MDB_dbi orders;
    MDB_dbi captures;
} self_t;


//  --------------------------------------------------------------------------
//  Records

static void
s_copy (char *dest, size_t size, ord_str_t str)
{
    size_t len = str.ptr? str.len: 0;
    if (len >= size)
        len = size - 1;
    if (len)
        memcpy (dest, str.ptr, len);
    dest [len] = 0;
}

static MDB_val
s_val_of_str (ord_str_t str)
{
    MDB_val val = { str.len, (void *) str.ptr };
    return val;
}

static MDB_val
s_val_of_cstr (const char *str)
{
    MDB_val val = { strlen (str), (void *) str };
    return val;
}

static void
s_payment_pack (const s_payment_t *payment, msgpack_sbuffer *buffer)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 13);
    ord_pack_kv_int (&pk, "rv", S_RECORD_V);
    ord_pack_kv_cstr (&pk, "id", payment->id);
    ord_pack_kv_cstr (&pk, "order_id", payment->order_id);
    ord_pack_kv_cstr (&pk, "currency", payment->currency);
    ord_pack_kv_int (&pk, "status", payment->status);
    ord_pack_kv_int (&pk, "amount", payment->amount);
    ord_pack_kv_int (&pk, "attempts", payment->attempts);
    ord_pack_kv_int (&pk, "captures", payment->captures);
    ord_pack_kv_int (&pk, "captured_amount", payment->captured_amount);
    ord_pack_kv_int (&pk, "refunded_amount", payment->refunded_amount);
    ord_pack_kv_int (&pk, "created_at", payment->created_at);
    ord_pack_kv_cstr (&pk, "capture_id", payment->capture_id);
    ord_pack_kv_cstr (&pk, "refund_id", payment->refund_id);
}

//  Reads a record off disk: anything unexpected is a damaged store, never
//  an assert.
static int
s_payment_unpack (const MDB_val *data, s_payment_t *payment, ord_why_t *why)
{
    memset (payment, 0, sizeof *payment);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    const msgpack_object *map = &unpacked.data;
    ord_str_t id, order_id, currency, capture_id, refund_id;
    int64_t rv = 0, status = 0;
    int rc = ord_wire_decode (data->mv_data, data->mv_size, &unpacked, why);
    if (rc == 0)
        rc = ord_wire_int (map, "rv", true, S_RECORD_V, S_RECORD_V, &rv, why);
    if (rc == 0)
        rc = ord_wire_str (map, "id", true, S_ID_MAX, &id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "order_id", true, S_ORDER_ID_MAX, &order_id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "currency", true, 3, &currency, why);
    if (rc == 0)
        rc = ord_wire_int (map, "status", true, 0, S_NSTATUS - 1, &status, why);
    if (rc == 0)
        rc = ord_wire_int (map, "amount", true, 0, INT64_MAX, &payment->amount, why);
    if (rc == 0)
        rc = ord_wire_int (map, "attempts", true, 0, INT64_MAX, &payment->attempts, why);
    if (rc == 0)
        rc = ord_wire_int (map, "captures", true, 0, INT64_MAX, &payment->captures, why);
    if (rc == 0)
        rc = ord_wire_int (map, "captured_amount", true, 0, INT64_MAX,
                           &payment->captured_amount, why);
    if (rc == 0)
        rc = ord_wire_int (map, "refunded_amount", true, 0, INT64_MAX,
                           &payment->refunded_amount, why);
    if (rc == 0)
        rc = ord_wire_int (map, "created_at", true, 0, INT64_MAX,
                           &payment->created_at, why);
    if (rc == 0)
        rc = ord_wire_str (map, "capture_id", false, S_ID_MAX, &capture_id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "refund_id", false, S_ID_MAX, &refund_id, why);
    if (rc == 0) {
        s_copy (payment->id, sizeof payment->id, id);
        s_copy (payment->order_id, sizeof payment->order_id, order_id);
        s_copy (payment->currency, sizeof payment->currency, currency);
        s_copy (payment->capture_id, sizeof payment->capture_id, capture_id);
        s_copy (payment->refund_id, sizeof payment->refund_id, refund_id);
        payment->status = (s_status_t) status;
    }
    else {
        ord_why_prefix (why, "payment record is damaged: ");
        rc = ORD_ESTORE;
    }
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}

//  Loads the payment `id`: 0, ORD_ENOTFOUND or a store error
static int
s_payment_load (self_t *self, MDB_txn *txn, ord_str_t id, s_payment_t *payment,
                ord_why_t *why)
{
    MDB_val key = s_val_of_str (id), data;
    int rc = mdb_get (txn, self->payments, &key, &data);
    if (rc == MDB_NOTFOUND) {
        ord_why_set (why, "payment %.*s: not found", (int) id.len, id.ptr);
        return ORD_ENOTFOUND;
    }
    if (rc)
        return ord_adapter_store_error (rc, "payments", why);
    return s_payment_unpack (&data, payment, why);
}

static int
s_payment_store (self_t *self, MDB_txn *txn, const s_payment_t *payment,
                 ord_why_t *why)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    s_payment_pack (payment, &buffer);
    MDB_val key = s_val_of_cstr (payment->id);
    MDB_val data = { buffer.size, buffer.data };
    int rc = mdb_put (txn, self->payments, &key, &data, 0);
    msgpack_sbuffer_destroy (&buffer);
    return rc? ord_adapter_store_error (rc, "payments", why): 0;
}

//  Makes a new id prefix + 16 hex digits that is not yet a key of `dbi`
static int
s_new_id (MDB_txn *txn, MDB_dbi dbi, const char *prefix, char *id, size_t size,
          ord_why_t *why)
{
    for (int tries = 0; tries < 8; tries++) {
        uint64_t random;
        if (getrandom (&random, sizeof random, 0) != (ssize_t) sizeof random) {
            ord_why_set (why, "getrandom: %s", strerror (errno));
            return ORD_EINTERNAL;
        }
        snprintf (id, size, "%s%016" PRIX64, prefix, random);
        MDB_val key = s_val_of_cstr (id), data;
        int rc = mdb_get (txn, dbi, &key, &data);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return ord_adapter_store_error (rc, "new id", why);
    }
    ord_why_set (why, "could not make a unique id");
    return ORD_EINTERNAL;
}


//  --------------------------------------------------------------------------
//  Field readers shared by the handlers

static int
s_read_currency (ord_adapter_call_t *call, ord_str_t *currency)
{
    int rc = ord_wire_str (call->body, "currency", true, 3, currency, &call->why);
    if (rc)
        return rc;
    bool ok = currency->len == 3;
    for (uint32_t i = 0; ok && i < currency->len; i++)
        ok = currency->ptr [i] >= 'A' && currency->ptr [i] <= 'Z';
    if (!ok)
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "currency: must be 3 upper-case letters (ISO 4217)");
    return 0;
}

static void
s_reply_payment_ids (ord_adapter_call_t *call, const s_payment_t *payment)
{
    char url [sizeof S_APPROVAL_URL + S_ID_MAX];
    snprintf (url, sizeof url, "%s%s", S_APPROVAL_URL, payment->id);
    ord_adapter_reply_cstr (call, "provider_order_id", payment->id);
    ord_adapter_reply_cstr (call, "approval_url", url);
}


//  --------------------------------------------------------------------------
//  create {order_id, amount, currency, return_url?, cancel_url?}
//      -> {provider_order_id, approval_url}

static int
s_create (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_str_t order_id, currency, url;
    int64_t amount;
    int rc = ord_wire_str (call->body, "order_id", true, S_ORDER_ID_MAX,
                           &order_id, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "amount", true, 0, INT64_MAX, &amount, &call->why);
    if (rc == 0)
        rc = s_read_currency (call, &currency);
    //  The URLs are checked but not used: the sandbox approval page would
    //  send the buyer back to them.
    if (rc == 0)
        rc = ord_wire_str (call->body, "return_url", false, S_URL_MAX, &url, &call->why);
    if (rc == 0)
        rc = ord_wire_str (call->body, "cancel_url", false, S_URL_MAX, &url, &call->why);
    if (rc)
        return rc;

    s_payment_t payment;
    MDB_val key = s_val_of_str (order_id), data;
    rc = mdb_get (call->txn, self->orders, &key, &data);
    if (rc == 0) {
        //  Created before: the same payment, nothing new
        ord_str_t id = { (const char *) data.mv_data, (uint32_t) data.mv_size };
        rc = s_payment_load (self, call->txn, id, &payment, &call->why);
        if (rc)
            return rc == ORD_ENOTFOUND? ORD_ESTORE: rc;
        if (payment.amount != amount || !ord_str_eq (currency, payment.currency))
            return ord_adapter_fail (call, ORD_EIDEMPOTENCY,
                                     "order %.*s already has a payment of %" PRId64 " %s",
                                     (int) order_id.len, order_id.ptr,
                                     payment.amount, payment.currency);
        s_reply_payment_ids (call, &payment);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return ord_adapter_store_error (rc, "orders", &call->why);

    memset (&payment, 0, sizeof payment);
    rc = s_new_id (call->txn, self->payments, "SBX-", payment.id,
                   sizeof payment.id, &call->why);
    if (rc)
        return rc;
    s_copy (payment.order_id, sizeof payment.order_id, order_id);
    s_copy (payment.currency, sizeof payment.currency, currency);
    payment.status = S_CREATED;
    payment.amount = amount;
    payment.created_at = call->now;
    rc = s_payment_store (self, call->txn, &payment, &call->why);
    if (rc)
        return rc;
    data = s_val_of_cstr (payment.id);
    rc = mdb_put (call->txn, self->orders, &key, &data, 0);
    if (rc)
        return ord_adapter_store_error (rc, "orders", &call->why);
    s_reply_payment_ids (call, &payment);
    return 0;
}


//  --------------------------------------------------------------------------
//  capture {order_id, provider_order_id, amount, currency} -> {capture_id}

static int
s_capture (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_str_t order_id, id, currency;
    int64_t amount;
    int rc = ord_wire_str (call->body, "order_id", true, S_ORDER_ID_MAX,
                           &order_id, &call->why);
    if (rc == 0)
        rc = ord_wire_str (call->body, "provider_order_id", true, S_ID_MAX,
                           &id, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "amount", true, 0, INT64_MAX, &amount, &call->why);
    if (rc == 0)
        rc = s_read_currency (call, &currency);
    if (rc)
        return rc;

    s_payment_t payment;
    rc = s_payment_load (self, call->txn, id, &payment, &call->why);
    if (rc)
        return rc;
    if (!ord_str_eq (order_id, payment.order_id))
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "order_id: payment %s belongs to another order",
                                 payment.id);
    if (amount != payment.amount || !ord_str_eq (currency, payment.currency))
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "amount: %" PRId64 " %.3s does not match the payment's "
                                 "%" PRId64 " %s", amount, currency.ptr,
                                 payment.amount, payment.currency);
    switch (payment.status) {
        case S_CAPTURED:
        case S_REFUNDED:
            //  Captured before: the same capture, no money moves
            ord_adapter_reply_cstr (call, "capture_id", payment.capture_id);
            return 0;
        case S_DECLINED:
            return ord_adapter_fail (call, ORD_EDECLINED,
                                     "payment %s was declined", payment.id);
        case S_VOIDED:
            return ord_adapter_fail (call, ORD_EINVALID, "payment was voided");
        default:
            break;
    }
    //  A capture attempt: recorded whatever its outcome
    payment.attempts++;
    call->keep_writes = true;
    if (payment.amount % 100 == 2) {
        payment.status = S_DECLINED;
        rc = s_payment_store (self, call->txn, &payment, &call->why);
        return rc? rc: ord_adapter_fail (call, ORD_EDECLINED,
                                         "payment %s was declined (sandbox amount ending in 02)",
                                         payment.id);
    }
    if (payment.amount % 100 == 3 && payment.attempts == 1) {
        rc = s_payment_store (self, call->txn, &payment, &call->why);
        return rc? rc: ord_adapter_fail (call, ORD_EUNAVAILABLE,
                                         "sandbox: first capture of an amount ending in 03 "
                                         "fails, retry");
    }
    call->keep_writes = false;
    rc = s_new_id (call->txn, self->captures, "CAP-", payment.capture_id,
                   sizeof payment.capture_id, &call->why);
    if (rc)
        return rc;
    payment.status = S_CAPTURED;
    payment.captures++;
    payment.captured_amount += payment.amount;
    rc = s_payment_store (self, call->txn, &payment, &call->why);
    if (rc)
        return rc;
    MDB_val key = s_val_of_cstr (payment.capture_id);
    MDB_val data = s_val_of_cstr (payment.id);
    rc = mdb_put (call->txn, self->captures, &key, &data, 0);
    if (rc)
        return ord_adapter_store_error (rc, "captures", &call->why);
    ord_adapter_reply_cstr (call, "capture_id", payment.capture_id);
    return 0;
}


//  --------------------------------------------------------------------------
//  void {provider_order_id}: a created payment becomes voided; voided and
//  declined ones are left as they are (nothing is held)

static int
s_void (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_str_t id;
    int rc = ord_wire_str (call->body, "provider_order_id", true, S_ID_MAX,
                           &id, &call->why);
    if (rc)
        return rc;
    s_payment_t payment;
    rc = s_payment_load (self, call->txn, id, &payment, &call->why);
    if (rc)
        return rc;
    if (payment.status == S_CAPTURED || payment.status == S_REFUNDED)
        return ord_adapter_fail (call, ORD_EINVALID,
                                 "captured payments are refunded, not voided");
    if (payment.status != S_CREATED)
        return 0;
    payment.status = S_VOIDED;
    return s_payment_store (self, call->txn, &payment, &call->why);
}


//  --------------------------------------------------------------------------
//  refund {capture_id, amount} -> {refund_id}: one refund per capture

static int
s_refund (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_str_t capture_id;
    int64_t amount;
    int rc = ord_wire_str (call->body, "capture_id", true, S_ID_MAX,
                           &capture_id, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "amount", true, 1, INT64_MAX, &amount, &call->why);
    if (rc)
        return rc;
    MDB_val key = s_val_of_str (capture_id), data;
    rc = mdb_get (call->txn, self->captures, &key, &data);
    if (rc == MDB_NOTFOUND)
        return ord_adapter_fail (call, ORD_ENOTFOUND, "capture %.*s: not found",
                                 (int) capture_id.len, capture_id.ptr);
    if (rc)
        return ord_adapter_store_error (rc, "captures", &call->why);
    ord_str_t id = { (const char *) data.mv_data, (uint32_t) data.mv_size };
    s_payment_t payment;
    rc = s_payment_load (self, call->txn, id, &payment, &call->why);
    if (rc)
        return rc == ORD_ENOTFOUND? ORD_ESTORE: rc;
    if (*payment.refund_id) {
        //  Refunded before: the same answer, no money moves
        ord_adapter_reply_cstr (call, "refund_id", payment.refund_id);
        return 0;
    }
    if (amount > payment.captured_amount)
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "amount: %" PRId64 " is more than the %" PRId64 " captured",
                                 amount, payment.captured_amount);
    rc = s_new_id (call->txn, self->captures, "RFD-", payment.refund_id,
                   sizeof payment.refund_id, &call->why);
    if (rc)
        return rc;
    payment.status = S_REFUNDED;
    payment.refunded_amount = amount;
    rc = s_payment_store (self, call->txn, &payment, &call->why);
    if (rc)
        return rc;
    ord_adapter_reply_cstr (call, "refund_id", payment.refund_id);
    return 0;
}


//  --------------------------------------------------------------------------
//  status {provider_order_id | order_id} -> the payment record

static int
s_status (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_str_t id, order_id;
    int rc = ord_wire_str (call->body, "provider_order_id", false, S_ID_MAX,
                           &id, &call->why);
    if (rc == 0)
        rc = ord_wire_str (call->body, "order_id", false, S_ORDER_ID_MAX,
                           &order_id, &call->why);
    if (rc)
        return rc;
    if (!id.ptr && order_id.ptr) {
        MDB_val key = s_val_of_str (order_id), data;
        rc = mdb_get (call->txn, self->orders, &key, &data);
        if (rc == MDB_NOTFOUND)
            return ord_adapter_fail (call, ORD_ENOTFOUND, "order %.*s has no payment",
                                     (int) order_id.len, order_id.ptr);
        if (rc)
            return ord_adapter_store_error (rc, "orders", &call->why);
        id.ptr = (const char *) data.mv_data;
        id.len = (uint32_t) data.mv_size;
    }
    if (!id.ptr || id.len == 0)
        return ord_adapter_fail (call, ORD_EBADREQ, "provider_order_id: required");
    s_payment_t payment;
    rc = s_payment_load (self, call->txn, id, &payment, &call->why);
    if (rc)
        return rc;
    ord_adapter_reply_cstr (call, "provider_order_id", payment.id);
    ord_adapter_reply_cstr (call, "order_id", payment.order_id);
    ord_adapter_reply_cstr (call, "status", s_status_names [payment.status]);
    ord_adapter_reply_int (call, "amount", payment.amount);
    ord_adapter_reply_cstr (call, "currency", payment.currency);
    ord_adapter_reply_int (call, "captures", payment.captures);
    ord_adapter_reply_int (call, "captured_amount", payment.captured_amount);
    ord_adapter_reply_int (call, "refunded_amount", payment.refunded_amount);
    ord_adapter_reply_cstr (call, "capture_id",
                            *payment.capture_id? payment.capture_id: NULL);
    ord_adapter_reply_cstr (call, "refund_id",
                            *payment.refund_id? payment.refund_id: NULL);
    return 0;
}


//  --------------------------------------------------------------------------
//  The actor

static int
s_open (void *state, MDB_txn *txn, const ord_plugin_args_t *args, ord_why_t *why)
{
    (void) args;
    self_t *self = (self_t *) state;
    int rc = mdb_dbi_open (txn, "payments", MDB_CREATE, &self->payments);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "orders", MDB_CREATE, &self->orders);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "captures", MDB_CREATE, &self->captures);
    return rc? ord_adapter_store_error (rc, "open databases", why): 0;
}

static const ord_adapter_op_t s_ops [] = {
    { "create", s_create },
    { "capture", s_capture },
    { "void", s_void },
    { "refund", s_refund },
    { "status", s_status },
    { NULL, NULL }
};

static const ord_adapter_spec_t s_spec = {
    S_NAME, S_VERSION, 4, s_open, NULL, s_ops
};

static void
s_actor (zsock_t *pipe, void *args)
{
    self_t self;
    memset (&self, 0, sizeof self);
    ord_adapter_run (pipe, (const ord_plugin_args_t *) args, &s_spec, &self);
}

ORD_PLUGIN_DECLARE ("payment", S_NAME, S_VERSION, s_actor)
