/*  payment_sandbox: a payment adapter that behaves like a PayPal sandbox,
    with a durable ledger in its own LMDB environment.

    The ledger (databases payments, orders, captures; the record; the
    checks every op shares) is ../common/payment_ledger.h; this file is
    what the sandbox does between them: its own ids and outcomes.

    The amount decides, like test cards: amount % 100 == 2 is declined at
    capture (recorded: asking again answers the same decline); 3 answers
    `unavailable` on the first capture attempt (the attempt is recorded)
    and succeeds on any later one. Every op is idempotent. */
#include "orderd/plugin.h"
#include "../common/adapter_server.h"
#include "../common/payment_ledger.h"

#define S_NAME          "payment_sandbox"
#define S_VERSION       "1.0.0"
#define S_ID_MAX        31          //  our own ids: "SBX-" + 16 hex
#define S_APPROVAL_URL  "https://sandbox.orderd.local/checkoutnow?token="

typedef struct {
    ord_ledger_t ledger;
    uint64_t last_id;               //  of every id made, see s_new_id
} self_t;


//  Ids are prefix + 16 hex digits of (milliseconds << 20 | sequence),
//  above every id already stored: new payments and captures then land at
//  the right edge of their B-trees, so a commit rewrites a few pages
//  instead of one random leaf per payment (docs/BENCHMARKS.md).
static int
s_new_id (self_t *self, MDB_txn *txn, MDB_dbi dbi, const char *prefix, char *id,
          size_t size, ord_why_t *why)
{
    uint64_t now = (uint64_t) zclock_time () << 20;
    for (int tries = 0; tries < 8; tries++) {
        self->last_id = now > self->last_id? now: self->last_id + 1;
        snprintf (id, size, "%s%016" PRIX64, prefix, self->last_id);
        MDB_val key = { strlen (id), id }, data;
        int rc = mdb_get (txn, dbi, &key, &data);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return ord_adapter_store_error (rc, "new id", why);
    }
    ord_why_set (why, "could not make a unique id");
    return ORD_EINTERNAL;
}

//  Raises self->last_id to the largest id with `prefix` in `dbi`
static int
s_seed_last_id (self_t *self, MDB_txn *txn, MDB_dbi dbi, const char *prefix,
                ord_why_t *why)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return ord_adapter_store_error (rc, "open cursor", why);
    //  Hex digits sort below '~': the first key past prefix~ follows the last id
    char bound [16];
    snprintf (bound, sizeof bound, "%s~", prefix);
    MDB_val key = { strlen (bound), bound }, data;
    rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE);
    rc = rc == 0? mdb_cursor_get (cursor, &key, &data, MDB_PREV)
       : rc == MDB_NOTFOUND? mdb_cursor_get (cursor, &key, &data, MDB_LAST): rc;
    size_t prefix_len = strlen (prefix);
    if (rc == 0 && key.mv_size == prefix_len + 16
    &&  memcmp (key.mv_data, prefix, prefix_len) == 0) {
        char hex [17];
        memcpy (hex, (char *) key.mv_data + prefix_len, 16);
        hex [16] = 0;
        uint64_t last = strtoull (hex, NULL, 16);
        if (last > self->last_id)
            self->last_id = last;
    }
    mdb_cursor_close (cursor);
    return rc == 0 || rc == MDB_NOTFOUND? 0: ord_adapter_store_error (rc, "read ids", why);
}

static void
s_reply_payment_ids (ord_adapter_call_t *call, const ord_ledger_payment_t *payment)
{
    char url [sizeof S_APPROVAL_URL + ORD_LEDGER_ID_MAX];
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
    ord_ledger_payment_t payment;
    //  The URLs are checked but not used: the sandbox approval page would
    //  send the buyer back to them.
    ord_str_t return_url, cancel_url;
    bool done;
    int rc = ord_ledger_create_begin (&self->ledger, call, &payment,
                                      &return_url, &cancel_url, &done);
    if (rc)
        return rc;
    if (!done) {
        rc = s_new_id (self, call->txn, self->ledger.payments, "SBX-", payment.id,
                       sizeof payment.id, &call->why);
        if (rc == 0)
            rc = ord_ledger_insert (&self->ledger, call->txn, &payment, &call->why);
        if (rc)
            return rc;
    }
    s_reply_payment_ids (call, &payment);
    return 0;
}


//  --------------------------------------------------------------------------
//  capture {order_id, provider_order_id, amount, currency} -> {capture_id}

static int
s_capture (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    bool done;
    int rc = ord_ledger_capture_begin (&self->ledger, call, &payment, &done);
    if (rc || done)
        return rc;
    //  A capture attempt: recorded whatever its outcome
    payment.attempts++;
    call->keep_writes = true;
    if (payment.amount % 100 == 2) {
        payment.status = ORD_LEDGER_DECLINED;
        rc = ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
        return rc? rc: ord_adapter_fail (call, ORD_EDECLINED,
                                         "payment %s was declined (sandbox amount ending in 02)",
                                         payment.id);
    }
    if (payment.amount % 100 == 3 && payment.attempts == 1) {
        rc = ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
        return rc? rc: ord_adapter_fail (call, ORD_EUNAVAILABLE,
                                         "sandbox: first capture of an amount ending in 03 "
                                         "fails, retry");
    }
    call->keep_writes = false;
    char capture_id [S_ID_MAX + 1];
    rc = s_new_id (self, call->txn, self->ledger.captures, "CAP-", capture_id,
                   sizeof capture_id, &call->why);
    if (rc == 0)
        rc = ord_ledger_captured (&self->ledger, call->txn, &payment, capture_id,
                                  payment.amount, &call->why);
    if (rc)
        return rc;
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
    ord_ledger_payment_t payment;
    bool done;
    int rc = ord_ledger_void_begin (&self->ledger, call, &payment, &done);
    if (rc || done)
        return rc;
    payment.status = ORD_LEDGER_VOIDED;
    return ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
}


//  --------------------------------------------------------------------------
//  refund {capture_id, amount} -> {refund_id}: one refund per capture

static int
s_refund (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    int64_t amount;
    bool done;
    int rc = ord_ledger_refund_begin (&self->ledger, call, &payment, &amount, &done);
    if (rc || done)
        return rc;
    char refund_id [S_ID_MAX + 1];
    rc = s_new_id (self, call->txn, self->ledger.captures, "RFD-", refund_id,
                   sizeof refund_id, &call->why);
    if (rc == 0)
        rc = ord_ledger_refunded (&self->ledger, call->txn, &payment, refund_id,
                                  amount, &call->why);
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
    ord_ledger_payment_t payment;
    int rc = ord_ledger_find (&self->ledger, call, true, &payment);
    if (rc)
        return rc;
    ord_ledger_reply_status (call, &payment);
    return 0;
}


//  --------------------------------------------------------------------------
//  The actor

static int
s_open (void *state, MDB_txn *txn, const ord_plugin_args_t *args, ord_why_t *why)
{
    (void) args;
    self_t *self = (self_t *) state;
    int rc = ord_ledger_open (&self->ledger, txn, S_ID_MAX, why);
    if (rc == 0)
        rc = s_seed_last_id (self, txn, self->ledger.payments, "SBX-", why);
    if (rc == 0)
        rc = s_seed_last_id (self, txn, self->ledger.captures, "CAP-", why);
    if (rc == 0)
        rc = s_seed_last_id (self, txn, self->ledger.captures, "RFD-", why);
    return rc;
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
