/*  payment_ledger: the payment adapters' durable ledger. See
    payment_ledger.h. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "payment_ledger.h"

static const char *s_status_names [ORD_LEDGER_NSTATUS] = {
    "created", "captured", "declined", "voided", "refunded"
};


//  --------------------------------------------------------------------------
//  Helpers

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


//  --------------------------------------------------------------------------
//  Records

static void
s_payment_pack (const ord_ledger_payment_t *payment, msgpack_sbuffer *buffer)
{
    bool has_url = *payment->approval_url != 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, has_url? 14: 13);
    ord_pack_kv_int (&pk, "rv", ORD_LEDGER_RECORD_V);
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
    if (has_url)
        ord_pack_kv_cstr (&pk, "approval_url", payment->approval_url);
}

//  Reads a record off disk: anything unexpected is a damaged store, never
//  an assert.
static int
s_payment_unpack (const MDB_val *data, ord_ledger_payment_t *payment, ord_why_t *why)
{
    memset (payment, 0, sizeof *payment);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    const msgpack_object *map = &unpacked.data;
    ord_str_t id, order_id, currency, capture_id, refund_id, approval_url;
    int64_t rv = 0, status = 0;
    int rc = ord_wire_decode (data->mv_data, data->mv_size, &unpacked, why);
    if (rc == 0)
        rc = ord_wire_int (map, "rv", true, ORD_LEDGER_RECORD_V, ORD_LEDGER_RECORD_V,
                           &rv, why);
    if (rc == 0)
        rc = ord_wire_str (map, "id", true, ORD_LEDGER_ID_MAX, &id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "order_id", true, ORD_LEDGER_ORDER_ID_MAX, &order_id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "currency", true, 3, &currency, why);
    if (rc == 0)
        rc = ord_wire_int (map, "status", true, 0, ORD_LEDGER_NSTATUS - 1, &status, why);
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
        rc = ord_wire_str (map, "capture_id", false, ORD_LEDGER_ID_MAX, &capture_id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "refund_id", false, ORD_LEDGER_ID_MAX, &refund_id, why);
    if (rc == 0)
        rc = ord_wire_str (map, "approval_url", false, ORD_LEDGER_URL_MAX,
                           &approval_url, why);
    if (rc == 0) {
        s_copy (payment->id, sizeof payment->id, id);
        s_copy (payment->order_id, sizeof payment->order_id, order_id);
        s_copy (payment->currency, sizeof payment->currency, currency);
        s_copy (payment->capture_id, sizeof payment->capture_id, capture_id);
        s_copy (payment->refund_id, sizeof payment->refund_id, refund_id);
        s_copy (payment->approval_url, sizeof payment->approval_url, approval_url);
        payment->status = (ord_ledger_status_t) status;
    }
    else {
        ord_why_prefix (why, "payment record is damaged: ");
        rc = ORD_ESTORE;
    }
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}

int
ord_ledger_open (ord_ledger_t *self, MDB_txn *txn, size_t id_max, ord_why_t *why)
{
    assert (id_max > 0 && id_max <= ORD_LEDGER_ID_MAX);
    self->id_max = id_max;
    int rc = mdb_dbi_open (txn, "payments", MDB_CREATE, &self->payments);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "orders", MDB_CREATE, &self->orders);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "captures", MDB_CREATE, &self->captures);
    return rc? ord_adapter_store_error (rc, "open databases", why): 0;
}

const char *
ord_ledger_status_name (ord_ledger_status_t status)
{
    assert (status < ORD_LEDGER_NSTATUS);
    return s_status_names [status];
}

int
ord_ledger_load (ord_ledger_t *self, MDB_txn *txn, ord_str_t id,
                 ord_ledger_payment_t *payment, ord_why_t *why)
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

int
ord_ledger_store (ord_ledger_t *self, MDB_txn *txn,
                  const ord_ledger_payment_t *payment, ord_why_t *why)
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

int
ord_ledger_insert (ord_ledger_t *self, MDB_txn *txn,
                   const ord_ledger_payment_t *payment, ord_why_t *why)
{
    int rc = ord_ledger_store (self, txn, payment, why);
    if (rc)
        return rc;
    MDB_val key = s_val_of_cstr (payment->order_id);
    MDB_val data = s_val_of_cstr (payment->id);
    rc = mdb_put (txn, self->orders, &key, &data, 0);
    return rc? ord_adapter_store_error (rc, "orders", why): 0;
}

int
ord_ledger_captured (ord_ledger_t *self, MDB_txn *txn, ord_ledger_payment_t *payment,
                     const char *capture_id, int64_t amount, ord_why_t *why)
{
    snprintf (payment->capture_id, sizeof payment->capture_id, "%s", capture_id);
    payment->status = ORD_LEDGER_CAPTURED;
    payment->captures = 1;
    payment->captured_amount = amount;
    int rc = ord_ledger_store (self, txn, payment, why);
    if (rc)
        return rc;
    MDB_val key = s_val_of_cstr (payment->capture_id);
    MDB_val data = s_val_of_cstr (payment->id);
    rc = mdb_put (txn, self->captures, &key, &data, 0);
    return rc? ord_adapter_store_error (rc, "captures", why): 0;
}

int
ord_ledger_refunded (ord_ledger_t *self, MDB_txn *txn, ord_ledger_payment_t *payment,
                     const char *refund_id, int64_t amount, ord_why_t *why)
{
    snprintf (payment->refund_id, sizeof payment->refund_id, "%s", refund_id);
    payment->status = ORD_LEDGER_REFUNDED;
    payment->refunded_amount = amount;
    return ord_ledger_store (self, txn, payment, why);
}


//  --------------------------------------------------------------------------
//  The ops' common parts

int
ord_ledger_read_currency (ord_adapter_call_t *call, ord_str_t *currency)
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

int
ord_ledger_find (ord_ledger_t *self, ord_adapter_call_t *call, bool by_order_allowed,
                 ord_ledger_payment_t *payment)
{
    ord_str_t id = { NULL, 0 }, order_id = { NULL, 0 };
    int rc = ord_wire_str (call->body, "provider_order_id", !by_order_allowed,
                           self->id_max, &id, &call->why);
    if (rc == 0 && by_order_allowed)
        rc = ord_wire_str (call->body, "order_id", false, ORD_LEDGER_ORDER_ID_MAX,
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
        rc = ord_ledger_load (self, call->txn, id, payment, &call->why);
        return rc == ORD_ENOTFOUND? ORD_ESTORE: rc;
    }
    if (!id.ptr || id.len == 0)
        return ord_adapter_fail (call, ORD_EBADREQ, "provider_order_id: required");
    return ord_ledger_load (self, call->txn, id, payment, &call->why);
}

int
ord_ledger_create_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                         ord_ledger_payment_t *payment, ord_str_t *return_url,
                         ord_str_t *cancel_url, bool *done)
{
    *done = false;
    ord_str_t order_id, currency;
    int64_t amount;
    int rc = ord_wire_str (call->body, "order_id", true, ORD_LEDGER_ORDER_ID_MAX,
                           &order_id, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "amount", true, 0, INT64_MAX, &amount, &call->why);
    if (rc == 0)
        rc = ord_ledger_read_currency (call, &currency);
    if (rc == 0)
        rc = ord_wire_str (call->body, "return_url", false, ORD_LEDGER_URL_MAX,
                           return_url, &call->why);
    if (rc == 0)
        rc = ord_wire_str (call->body, "cancel_url", false, ORD_LEDGER_URL_MAX,
                           cancel_url, &call->why);
    if (rc)
        return rc;

    MDB_val key = s_val_of_str (order_id), data;
    rc = mdb_get (call->txn, self->orders, &key, &data);
    if (rc == 0) {
        //  Created before: the same payment, nothing new
        ord_str_t id = { (const char *) data.mv_data, (uint32_t) data.mv_size };
        rc = ord_ledger_load (self, call->txn, id, payment, &call->why);
        if (rc)
            return rc == ORD_ENOTFOUND? ORD_ESTORE: rc;
        if (payment->amount != amount || !ord_str_eq (currency, payment->currency))
            return ord_adapter_fail (call, ORD_EIDEMPOTENCY,
                                     "order %.*s already has a payment of %" PRId64 " %s",
                                     (int) order_id.len, order_id.ptr,
                                     payment->amount, payment->currency);
        *done = true;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return ord_adapter_store_error (rc, "orders", &call->why);

    memset (payment, 0, sizeof *payment);
    s_copy (payment->order_id, sizeof payment->order_id, order_id);
    s_copy (payment->currency, sizeof payment->currency, currency);
    payment->status = ORD_LEDGER_CREATED;
    payment->amount = amount;
    payment->created_at = call->now;
    return 0;
}

int
ord_ledger_capture_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                          ord_ledger_payment_t *payment, bool *done)
{
    *done = false;
    ord_str_t order_id, currency;
    int64_t amount;
    int rc = ord_wire_str (call->body, "order_id", true, ORD_LEDGER_ORDER_ID_MAX,
                           &order_id, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "amount", true, 0, INT64_MAX, &amount, &call->why);
    if (rc == 0)
        rc = ord_ledger_read_currency (call, &currency);
    if (rc == 0)
        rc = ord_ledger_find (self, call, false, payment);
    if (rc)
        return rc;
    if (!ord_str_eq (order_id, payment->order_id))
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "order_id: payment %s belongs to another order",
                                 payment->id);
    if (amount != payment->amount || !ord_str_eq (currency, payment->currency))
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "amount: %" PRId64 " %.3s does not match the payment's "
                                 "%" PRId64 " %s", amount, currency.ptr,
                                 payment->amount, payment->currency);
    switch (payment->status) {
        case ORD_LEDGER_CAPTURED:
        case ORD_LEDGER_REFUNDED:
            //  Captured before: the same capture, no money moves
            ord_adapter_reply_cstr (call, "capture_id", payment->capture_id);
            *done = true;
            return 0;
        case ORD_LEDGER_DECLINED:
            return ord_adapter_fail (call, ORD_EDECLINED,
                                     "payment %s was declined", payment->id);
        case ORD_LEDGER_VOIDED:
            return ord_adapter_fail (call, ORD_EINVALID, "payment was voided");
        default:
            return 0;
    }
}

int
ord_ledger_void_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                       ord_ledger_payment_t *payment, bool *done)
{
    *done = false;
    int rc = ord_ledger_find (self, call, false, payment);
    if (rc)
        return rc;
    if (payment->status == ORD_LEDGER_CAPTURED || payment->status == ORD_LEDGER_REFUNDED)
        return ord_adapter_fail (call, ORD_EINVALID,
                                 "captured payments are refunded, not voided");
    //  Voided or declined: nothing is held
    *done = payment->status != ORD_LEDGER_CREATED;
    return 0;
}

int
ord_ledger_refund_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                         ord_ledger_payment_t *payment, int64_t *amount, bool *done)
{
    *done = false;
    ord_str_t capture_id;
    int rc = ord_wire_str (call->body, "capture_id", true, self->id_max,
                           &capture_id, &call->why);
    if (rc == 0)
        rc = ord_wire_int (call->body, "amount", true, 1, INT64_MAX, amount, &call->why);
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
    rc = ord_ledger_load (self, call->txn, id, payment, &call->why);
    if (rc)
        return rc == ORD_ENOTFOUND? ORD_ESTORE: rc;
    if (*payment->refund_id) {
        //  Refunded before: the same answer, no money moves
        ord_adapter_reply_cstr (call, "refund_id", payment->refund_id);
        *done = true;
        return 0;
    }
    if (*amount > payment->captured_amount)
        return ord_adapter_fail (call, ORD_EBADREQ,
                                 "amount: %" PRId64 " is more than the %" PRId64 " captured",
                                 *amount, payment->captured_amount);
    return 0;
}

void
ord_ledger_reply_status (ord_adapter_call_t *call, const ord_ledger_payment_t *payment)
{
    ord_adapter_reply_cstr (call, "provider_order_id", payment->id);
    ord_adapter_reply_cstr (call, "order_id", payment->order_id);
    ord_adapter_reply_cstr (call, "status", ord_ledger_status_name (payment->status));
    ord_adapter_reply_int (call, "amount", payment->amount);
    ord_adapter_reply_cstr (call, "currency", payment->currency);
    ord_adapter_reply_int (call, "captures", payment->captures);
    ord_adapter_reply_int (call, "captured_amount", payment->captured_amount);
    ord_adapter_reply_int (call, "refunded_amount", payment->refunded_amount);
    ord_adapter_reply_cstr (call, "capture_id",
                            *payment->capture_id? payment->capture_id: NULL);
    ord_adapter_reply_cstr (call, "refund_id",
                            *payment->refund_id? payment->refund_id: NULL);
}
