/*  saga: the saga coordinator. Every multi-step operation on an order
    (create, initiate_payment, confirm, cancel and the payment timeout) is
    a saga whose phase is logged durably before its adapter calls run, so
    that after a crash ord_saga_drive can finish or compensate it from the
    logged phase. Adapter calls are idempotent on (order_id, line, op), so
    repeating the calls of a phase whose outcome was lost is always safe.

    A drive ends in one of three ways:
      - finished: the final writes (order record, transitions, saga record
        removed, timer) are queued in ctx->batch, NOT committed, so that the
        caller can add its idempotency record to the same commit;
      - suspended: an adapter stayed unavailable; the saga record stays and
        the saga is driven again later (background retry, admin retry, or
        the client's retry);
      - store failure: nothing more was written. */
#ifndef ORD_SAGA_H_INCLUDED
#define ORD_SAGA_H_INCLUDED

#include "engine.h"

typedef enum {
    ORD_SAGA_NONE = 0,
    ORD_SAGA_CREATE,
    ORD_SAGA_INITIATE,
    ORD_SAGA_CONFIRM,
    ORD_SAGA_CANCEL
} ord_saga_kind_t;

typedef enum {
    ORD_PHASE_RESERVE = 1,         /* create: reserve every product */
    ORD_PHASE_RELEASE,             /* create: give back what was reserved */
    ORD_PHASE_CREATE_PAYMENT,      /* initiate: provider create */
    ORD_PHASE_CHECK,               /* confirm: every product still reserved */
    ORD_PHASE_CAPTURE,             /* confirm: capture */
    ORD_PHASE_REDUCE,              /* confirm: reduce every product */
    ORD_PHASE_COMPENSATE,          /* confirm: restore, release, refund? */
    ORD_PHASE_ABORT,               /* confirm: stock gone before capture */
    ORD_PHASE_DECLINED,            /* confirm: capture refused */
    ORD_PHASE_CANCEL               /* cancel: release and void */
} ord_saga_phase_t;

/*  needs_review, the flag that asks a person to look at an order, is set
    in two cases:
      - a saga of a stored order (any kind: an initiate_payment, a confirm
        before or after its capture, a cancel, a compensation) was
        suspended ORD_SAGA_REVIEW_AFTER times in a row, an adapter being
        unavailable: the order is in whatever state the saga left it
        (payment_initiated for a confirm stuck before its capture). If
        that saga later finishes on its own, it heals: the flag is cleared
        and the history says so ("healed: ..."). Only the flag that saga
        set is cleared;
      - a saga ended and left something a person must settle: the payment
        was captured but the order failed (on_stock_failure = review, or a
        refund refused), or a void was refused after a release. That flag
        stays until `resolve`.
    The reason is in the order's history either way (docs/OPERATIONS.md,
    section 7). */
#define ORD_SAGA_REVIEW_AFTER  5

typedef struct {
    ord_saga_kind_t kind;
    ord_saga_phase_t phase;
    ord_trigger_t trigger;         /* cancel: CANCEL or TIMEOUT */
    int fail_code;                 /* the failure being compensated */
    uint32_t attempts;             /* suspended drives so far */
    bool flagged_stuck;            /* it set needs_review for being stuck */
    int64_t started_at;
    char reason [ORD_MAX_TEXT_LEN + 1];
    char return_url [ORD_MAX_TEXT_LEN + 1];
    char cancel_url [ORD_MAX_TEXT_LEN + 1];
} ord_saga_t;

/*  One actor's working state, shared by the actor and the saga steps. */
typedef struct {
    ord_engine_t *engine;
    zsock_t *writer;               /* store writer client */
    ord_adapter_client_t *payment;
    ord_adapter_client_t *fulfilment;
    ord_batch_t *batch;            /* what the next commit writes */
    msgpack_sbuffer fields;        /* scratch for adapter request fields */
    ord_order_t *order;            /* as it is once the batch is committed */
    ord_status_t stored_status;    /* its status in the store; NONE if not stored */
    ord_saga_t saga;               /* kind NONE when there is no saga */
    uint32_t queued_transitions;   /* in the batch, counted once committed */
    bool committing;               /* the writer has the batch (saga.c only) */
    int commit_rc;                 /* how sending it went */
    bool finished;                 /* the last drive queued the saga's end */
} ord_saga_ctx_t;

/*  Sets up one actor's context on `engine`: its writer client, its two
    adapter clients, an empty batch. Errors: ORD_EINTERNAL (out of
    sockets), with nothing left to clear. */
int ord_saga_ctx_init (ord_saga_ctx_t *ctx, ord_engine_t *engine);

/*  Frees what ord_saga_ctx_init and the drives left in `ctx`. */
void ord_saga_ctx_clear (ord_saga_ctx_t *ctx);

/*  What starts a saga. */
typedef struct {
    ord_saga_kind_t kind;
    ord_trigger_t trigger;
    const char *reason;            /* cancel: why (NULL: none) */
    ord_str_t return_url;          /* initiate: where the provider sends the */
    ord_str_t cancel_url;          /* buyer back (either may be empty) */
} ord_saga_start_t;

/*  Starts a saga for ctx->order and commits its first phase. For a create,
    ctx->order is the new order (not yet stored). An initiate's URLs are in
    that first record, so a drive resumed after a crash sends the provider
    the same ones. A confirm's first phase is only sent: ord_saga_drive,
    which must follow, waits for it after the check and returns its error.
    Errors: ORD_ESTOREFULL, ORD_ESTORE. */
int ord_saga_begin (ord_saga_ctx_t *ctx, const ord_saga_start_t *start);

/*  Drives ctx->saga from its logged phase; sets ctx->finished when the
    saga ended (successfully or not) with its final writes queued. `resuming` is true when the
    saga was interrupted (recovery, background or admin retry): an
    interrupted create is compensated, never completed, since its client
    never got an answer. Returns 0 or the failure the saga finished with
    (ORD_ESTOCK, ORD_EDECLINED, ...) with the final writes queued in
    ctx->batch; ORD_EUNAVAILABLE or ORD_ETIMEOUT when suspended; ORD_ESTORE
    or ORD_ESTOREFULL when a commit failed. *why says what happened. */
int ord_saga_drive (ord_saga_ctx_t *ctx, bool resuming, ord_why_t *why);

/*  Loads the saga record of order `id` into *saga (kind NONE if none).
    For a create saga, also returns the order it carries (else NULL).
    Errors: ORD_ESTORE. */
int ord_saga_load (ord_engine_t *engine, MDB_txn *txn, const char *id, ord_saga_t *saga,
                   ord_order_t **create_order_p);

/*  Commits ctx->batch (with the order record queued first) and resets it.
    Errors: ORD_ESTOREFULL, ORD_ESTORE. */
int ord_saga_commit (ord_saga_ctx_t *ctx);

/*  Moves ctx->order to `to` and queues the history entry and event.
    Errors: ORD_EINVALID. */
int ord_saga_transition (ord_saga_ctx_t *ctx, ord_status_t to, ord_trigger_t trigger,
                         const char *reason);

/*  Queues a history note (from == to) on ctx->order, e.g. a resolve. */
void ord_saga_note (ord_saga_ctx_t *ctx, const char *reason);

/*  Whether `phase` is one of the phases of a saga of `kind`. */
bool ord_saga_phase_valid (ord_saga_kind_t kind, ord_saga_phase_t phase);

const char *ord_saga_kind_name (ord_saga_kind_t kind);
const char *ord_saga_phase_name (ord_saga_phase_t phase);

#endif
