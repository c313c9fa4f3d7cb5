/*  payment_ledger: the durable ledger that every payment adapter keeps in
    its own LMDB environment, and the parts of the payment ops (PROTOCOL.md
    §9) that do not depend on who moves the money.

    Databases (opened by ord_ledger_open, in the adapter's spec->open):
      payments   provider_order_id -> payment record (msgpack map, rv = 1)
      orders     order_id -> provider_order_id (create is idempotent on it)
      captures   capture_id -> provider_order_id (refund looks it up)

    A handler is then the ledger around the provider's call, e.g. capture:

        ord_ledger_payment_t payment;
        bool done;
        int rc = ord_ledger_capture_begin (&self->ledger, call, &payment, &done);
        if (rc || done)
            return rc;              //  bad request, or answered from the ledger
        ... ask the provider for capture_id ...
        rc = ord_ledger_captured (&self->ledger, call->txn, &payment,
                                  capture_id, payment.amount, &call->why);

    The *_begin functions read and check the request fields, answer what the
    ledger already knows (a repeated op: *done is true, reply fields packed)
    and otherwise hand back the payment for the op to go on. They return 0
    or an ORD_E* code with the message in call->why.

    Errors of the store functions: ORD_ENOTFOUND (load only), ORD_ESTORE (a
    damaged record, an LMDB failure), ORD_ESTOREFULL (map full). Nothing
    here allocates what it hands back: records are copied into the caller's
    ord_ledger_payment_t. */
#ifndef ORD_PAYMENT_LEDGER_H_INCLUDED
#define ORD_PAYMENT_LEDGER_H_INCLUDED

#include "adapter_server.h"

#pragma GCC visibility push(hidden)

#define ORD_LEDGER_RECORD_V     1
#define ORD_LEDGER_ORDER_ID_MAX 128
#define ORD_LEDGER_ID_MAX       64      /* room for any adapter's ids */
#define ORD_LEDGER_URL_MAX      2048

typedef enum {
    ORD_LEDGER_CREATED, ORD_LEDGER_CAPTURED, ORD_LEDGER_DECLINED,
    ORD_LEDGER_VOIDED, ORD_LEDGER_REFUNDED, ORD_LEDGER_NSTATUS
} ord_ledger_status_t;

/*  One payment record. The fields are the union of what the adapters keep:
    approval_url is PayPal's (the link PayPal answered); adapters that make
    their approval URL from the id leave it "", and then it is not stored. */
typedef struct {
    char id [ORD_LEDGER_ID_MAX + 1];        /* provider_order_id */
    char order_id [ORD_LEDGER_ORDER_ID_MAX + 1];
    char currency [4];
    ord_ledger_status_t status;
    int64_t amount;
    int64_t attempts;                       /* capture attempts */
    int64_t captures;                       /* captures that moved money */
    int64_t captured_amount;
    int64_t refunded_amount;
    int64_t created_at;
    char capture_id [ORD_LEDGER_ID_MAX + 1];    /* "" until captured */
    char refund_id [ORD_LEDGER_ID_MAX + 1];     /* "" until refunded */
    char approval_url [ORD_LEDGER_URL_MAX + 1]; /* "" unless the adapter keeps it */
} ord_ledger_payment_t;

/*  The ledger's databases, kept in the adapter's self_t. id_max is the
    longest provider/capture id a request may carry (at most
    ORD_LEDGER_ID_MAX). */
typedef struct {
    MDB_dbi payments;
    MDB_dbi orders;
    MDB_dbi captures;
    size_t id_max;
} ord_ledger_t;

/*  Opens (creates) the three databases in txn. 0 or a store error. */
int ord_ledger_open (ord_ledger_t *self, MDB_txn *txn, size_t id_max, ord_why_t *why);

/*  "created", "captured", ... */
const char *ord_ledger_status_name (ord_ledger_status_t status);

/*  Loads the payment `id`: 0, ORD_ENOTFOUND or a store error. */
int ord_ledger_load (ord_ledger_t *self, MDB_txn *txn, ord_str_t id,
                     ord_ledger_payment_t *payment, ord_why_t *why);

/*  Writes the payment record under payment->id. */
int ord_ledger_store (ord_ledger_t *self, MDB_txn *txn,
                      const ord_ledger_payment_t *payment, ord_why_t *why);

/*  Writes a new payment and its order_id -> id index entry. */
int ord_ledger_insert (ord_ledger_t *self, MDB_txn *txn,
                       const ord_ledger_payment_t *payment, ord_why_t *why);

/*  Records a capture: status captured, the capture id and amount, and the
    capture_id -> payment index entry. */
int ord_ledger_captured (ord_ledger_t *self, MDB_txn *txn,
                         ord_ledger_payment_t *payment, const char *capture_id,
                         int64_t amount, ord_why_t *why);

/*  Records a refund: status refunded, the refund id and amount. */
int ord_ledger_refunded (ord_ledger_t *self, MDB_txn *txn,
                         ord_ledger_payment_t *payment, const char *refund_id,
                         int64_t amount, ord_why_t *why);

/*  Reads the request's `currency`: 3 upper-case letters. */
int ord_ledger_read_currency (ord_adapter_call_t *call, ord_str_t *currency);

/*  Loads the payment named by the request's provider_order_id or, with
    by_order_allowed and no provider_order_id, by its order_id. */
int ord_ledger_find (ord_ledger_t *self, ord_adapter_call_t *call,
                     bool by_order_allowed, ord_ledger_payment_t *payment);

/*  create {order_id, amount, currency, return_url?, cancel_url?}: *done
    with the order's existing payment (same amount and currency, else
    ORD_EIDEMPOTENCY), for the caller to reply its ids; else a new payment
    (status created, no id yet) to insert once it has one. The URLs are
    handed back unchecked beyond their length ({NULL, 0} when absent). */
int ord_ledger_create_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                             ord_ledger_payment_t *payment, ord_str_t *return_url,
                             ord_str_t *cancel_url, bool *done);

/*  capture {order_id, provider_order_id, amount, currency}: checks the
    request against the payment; a captured (or refunded) payment is *done
    with its capture_id replied; declined and voided ones fail. */
int ord_ledger_capture_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                              ord_ledger_payment_t *payment, bool *done);

/*  void {provider_order_id}: a captured payment fails (refund it); a voided
    or declined one is *done (nothing is held); a created one goes on. */
int ord_ledger_void_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                           ord_ledger_payment_t *payment, bool *done);

/*  refund {capture_id, amount}: one refund per capture; a refunded payment
    is *done with its refund_id replied; more than captured fails. */
int ord_ledger_refund_begin (ord_ledger_t *self, ord_adapter_call_t *call,
                             ord_ledger_payment_t *payment, int64_t *amount,
                             bool *done);

/*  Replies the status fields every payment adapter answers: provider_order_id,
    order_id, status, amount, currency, captures, captured_amount,
    refunded_amount, capture_id, refund_id. */
void ord_ledger_reply_status (ord_adapter_call_t *call,
                              const ord_ledger_payment_t *payment);

#pragma GCC visibility pop

#endif
