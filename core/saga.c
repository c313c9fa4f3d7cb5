/*  saga: logged phases, adapter steps and compensations. */
#include "saga.h"

#define S_ATTEMPTS  4              //  adapter call attempts within one drive

static const char *s_kind_names [] = { "none", "create", "initiate_payment", "confirm", "cancel" };
static const char *s_phase_names [] = {
    "none", "reserve", "release", "create_payment", "check", "capture", "reduce",
    "compensate", "abort", "declined", "cancel"
};
_Static_assert (sizeof s_kind_names / sizeof s_kind_names [0] == ORD_SAGA_CANCEL + 1,
                "a name for every saga kind");
_Static_assert (sizeof s_phase_names / sizeof s_phase_names [0] == ORD_PHASE_CANCEL + 1,
                "a name for every saga phase");

const char *
ord_saga_kind_name (ord_saga_kind_t kind)
{
    return kind <= ORD_SAGA_CANCEL? s_kind_names [kind]: "unknown";
}

const char *
ord_saga_phase_name (ord_saga_phase_t phase)
{
    return phase <= ORD_PHASE_CANCEL? s_phase_names [phase]: "unknown";
}

bool
ord_saga_phase_valid (ord_saga_kind_t kind, ord_saga_phase_t phase)
{
    switch (kind) {
        case ORD_SAGA_CREATE:
            return phase == ORD_PHASE_RESERVE || phase == ORD_PHASE_RELEASE;
        case ORD_SAGA_INITIATE:
            return phase == ORD_PHASE_CREATE_PAYMENT;
        case ORD_SAGA_CONFIRM:
            return phase >= ORD_PHASE_CHECK && phase <= ORD_PHASE_DECLINED;
        case ORD_SAGA_CANCEL:
            return phase == ORD_PHASE_CANCEL;
        case ORD_SAGA_NONE:
            break;
    }
    return false;
}

//  ---------------------------------------------------------------------
//  The saga record

static void
s_saga_pack (const ord_saga_t *saga, const ord_order_t *create_order, msgpack_packer *pk)
{
    msgpack_pack_map (pk, 12);
    ord_pack_kv_int (pk, "rv", ORD_RECORD_VERSION);
    ord_pack_kv_int (pk, "kind", saga->kind);
    ord_pack_kv_int (pk, "phase", saga->phase);
    ord_pack_kv_int (pk, "trigger", saga->trigger);
    ord_pack_kv_int (pk, "fail_code", saga->fail_code);
    ord_pack_kv_int (pk, "attempts", saga->attempts);
    ord_pack_cstr (pk, "flagged_stuck");
    if (saga->flagged_stuck)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    ord_pack_kv_int (pk, "started_at", saga->started_at);
    ord_pack_kv_cstr (pk, "reason", saga->reason);
    ord_pack_kv_cstr (pk, "return_url", saga->return_url);
    ord_pack_kv_cstr (pk, "cancel_url", saga->cancel_url);
    ord_pack_cstr (pk, "order");
    if (create_order)
        ord_order_pack (create_order, pk, true);
    else
        msgpack_pack_nil (pk);
}

static int
s_saga_text (const msgpack_object *map, const char *key, char *text, size_t size)
{
    ord_why_t why;
    ord_str_t value;
    if (ord_wire_str (map, key, false, ORD_MAX_TEXT_LEN, &value, &why))
        return ORD_ESTORE;
    snprintf (text, size, "%.*s", (int) value.len, value.ptr? value.ptr: "");
    return 0;
}

int
ord_saga_load (ord_engine_t *engine, MDB_txn *txn, const char *id, ord_saga_t *saga,
               ord_order_t **create_order_p)
{
    memset (saga, 0, sizeof *saga);
    if (create_order_p)
        *create_order_p = NULL;
    MDB_val key = { strlen (id), (void *) id }, value;
    int rc = mdb_get (txn, ord_store_dbi (engine->store, ORD_DB_SAGAS), &key, &value);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return ORD_ESTORE;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_why_t why;
    int64_t number [7] = { 0 };
    const char *keys [7] = { "rv", "kind", "phase", "trigger", "fail_code", "attempts", "started_at" };
    rc = ord_wire_decode (value.mv_data, value.mv_size, &unpacked, &why)? ORD_ESTORE: 0;
    for (int i = 0; !rc && i < 7; i++)
        if (ord_wire_int (&unpacked.data, keys [i], true, INT64_MIN, INT64_MAX, &number [i], &why))
            rc = ORD_ESTORE;
    if (!rc && (number [0] != ORD_RECORD_VERSION || number [1] < ORD_SAGA_CREATE
            ||  number [1] > ORD_SAGA_CANCEL || number [2] < ORD_PHASE_RESERVE
            ||  number [2] > ORD_PHASE_CANCEL
            ||  !ord_saga_phase_valid ((ord_saga_kind_t) number [1],
                                       (ord_saga_phase_t) number [2])))
        rc = ORD_ESTORE;
    //  Records written before the flag healed have no flagged_stuck
    bool flagged_stuck = false;
    if (!rc && ord_wire_bool (&unpacked.data, "flagged_stuck", &flagged_stuck, &why))
        rc = ORD_ESTORE;
    if (!rc)
        rc = s_saga_text (&unpacked.data, "reason", saga->reason, sizeof saga->reason);
    if (!rc)
        rc = s_saga_text (&unpacked.data, "return_url", saga->return_url, sizeof saga->return_url);
    if (!rc)
        rc = s_saga_text (&unpacked.data, "cancel_url", saga->cancel_url, sizeof saga->cancel_url);
    if (!rc && create_order_p) {
        const msgpack_object *order = ord_wire_find (&unpacked.data, "order");
        if (order && order->type == MSGPACK_OBJECT_MAP) {
            msgpack_sbuffer buffer;
            msgpack_sbuffer_init (&buffer);
            msgpack_packer pk;
            msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
            msgpack_pack_object (&pk, *order);
            rc = ord_order_unpack (buffer.data, buffer.size, create_order_p);
            msgpack_sbuffer_destroy (&buffer);
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    if (rc) {
        memset (saga, 0, sizeof *saga);
        return rc;
    }
    saga->kind = (ord_saga_kind_t) number [1];
    saga->phase = (ord_saga_phase_t) number [2];
    saga->trigger = (ord_trigger_t) number [3];
    saga->fail_code = (int) number [4];
    saga->attempts = (uint32_t) number [5];
    saga->flagged_stuck = flagged_stuck;
    saga->started_at = number [6];
    return 0;
}

//  Queues the saga record as it is now (or its removal once finished).
static void
s_queue_saga (ord_saga_ctx_t *ctx)
{
    const char *id = ctx->order->id;
    if (ctx->saga.kind == ORD_SAGA_NONE) {
        ord_batch_del (ctx->batch, ORD_DB_SAGAS, id, strlen (id));
        return;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    bool carries_order = ctx->saga.kind == ORD_SAGA_CREATE;
    s_saga_pack (&ctx->saga, carries_order? ctx->order: NULL, &pk);
    ord_batch_put (ctx->batch, ORD_DB_SAGAS, id, strlen (id), buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

//  Sends ctx->batch to the writer, with the order record queued first
//  when `with_order` and the order is stored (or being stored). Until
//  s_commit_wait, the writer owns the batch: queue nothing.
static void
s_commit_send (ord_saga_ctx_t *ctx, bool with_order)
{
    ord_assert (!ctx->committing);
    if (with_order && ctx->order && ctx->order->status != ORD_STATUS_NONE)
        ord_batch_order (ctx->batch, ctx->order, ctx->stored_status);
    ctx->commit_rc = ord_store_commit_send (ctx->writer, ctx->batch);
    ctx->committing = true;
}

//  Waits for the commit s_commit_send started; 0 at once if none runs.
static int
s_commit_wait (ord_saga_ctx_t *ctx)
{
    if (!ctx->committing)
        return 0;
    ctx->committing = false;
    int rc = ctx->commit_rc? ctx->commit_rc: ord_store_commit_wait (ctx->writer);
    ord_batch_reset (ctx->batch);
    if (rc == 0) {
        if (ctx->order)
            ctx->stored_status = ctx->order->status;
        atomic_fetch_add (&ctx->engine->transitions, ctx->queued_transitions);
    }
    ctx->queued_transitions = 0;
    return rc;
}

static int
s_commit (ord_saga_ctx_t *ctx, bool with_order)
{
    s_commit_send (ctx, with_order);
    return s_commit_wait (ctx);
}

int
ord_saga_commit (ord_saga_ctx_t *ctx)
{
    return s_commit (ctx, true);
}

//  Logs the saga's current phase durably.
static int
s_log (ord_saga_ctx_t *ctx)
{
    s_queue_saga (ctx);
    return ord_saga_commit (ctx);
}

int
ord_saga_transition (ord_saga_ctx_t *ctx, ord_status_t to, ord_trigger_t trigger,
                     const char *reason)
{
    ord_transition_t transition;
    int rc = ord_order_transition (ctx->order, to, trigger, ord_engine_now (), reason,
                                   &transition);
    if (rc)
        return rc;
    ord_batch_transition (ctx->batch, ctx->order, &transition);
    ctx->queued_transitions++;
    return 0;
}

void
ord_saga_note (ord_saga_ctx_t *ctx, const char *reason)
{
    ord_order_t *order = ctx->order;
    ord_transition_t note = { order->version + 1, order->status, order->status,
                              ord_engine_now (), "" };
    snprintf (note.reason, sizeof note.reason, "%s", reason);
    order->version++;
    order->updated_at = note.at;
    ord_batch_transition (ctx->batch, order, &note);
}

static void
s_set_timer (ord_saga_ctx_t *ctx, int64_t deadline)
{
    ord_batch_timer (ctx->batch, ctx->order->id, ctx->order->timer_at, deadline);
    ctx->order->timer_at = deadline;
}

//  Fills ctx->saga as a saga starts, nothing logged yet.
static void
s_start (ord_saga_ctx_t *ctx, const ord_saga_start_t *start)
{
    ord_saga_t *saga = &ctx->saga;
    memset (saga, 0, sizeof *saga);
    saga->kind = start->kind;
    saga->trigger = start->trigger;
    saga->started_at = ord_engine_now ();
    snprintf (saga->reason, sizeof saga->reason, "%s", start->reason? start->reason: "");
    snprintf (saga->return_url, sizeof saga->return_url, "%.*s",
              (int) start->return_url.len, start->return_url.ptr? start->return_url.ptr: "");
    snprintf (saga->cancel_url, sizeof saga->cancel_url, "%.*s",
              (int) start->cancel_url.len, start->cancel_url.ptr? start->cancel_url.ptr: "");
    switch (start->kind) {
        case ORD_SAGA_CREATE:   saga->phase = ORD_PHASE_RESERVE; break;
        case ORD_SAGA_INITIATE: saga->phase = ORD_PHASE_CREATE_PAYMENT; break;
        case ORD_SAGA_CONFIRM:  saga->phase = ORD_PHASE_CHECK; break;
        case ORD_SAGA_CANCEL:   saga->phase = ORD_PHASE_CANCEL; break;
        case ORD_SAGA_NONE:     ord_assert (!"a saga of a kind"); break;
    }
}

//  Logs the first phase of the saga s_start filled.
static int
s_log_first (ord_saga_ctx_t *ctx)
{
    ord_saga_t *saga = &ctx->saga;
    //  A saga starts from the order as stored (a request that changed it
    //  either committed or forgot it), so only the saga record is written:
    //  one B-tree leaf fewer to write and sync
    s_queue_saga (ctx);
    if (saga->kind == ORD_SAGA_CONFIRM) {
        //  A confirm starts with its check, which only reserves again what
        //  the order holds: the drive runs it while this log is written
        s_commit_send (ctx, false);
        return 0;
    }
    int rc = s_commit (ctx, false);
    if (rc)
        memset (saga, 0, sizeof *saga);
    return rc;
}

int
ord_saga_begin (ord_saga_ctx_t *ctx, const ord_saga_start_t *start)
{
    s_start (ctx, start);
    return s_log_first (ctx);
}

int
ord_saga_ctx_init (ord_saga_ctx_t *ctx, ord_engine_t *engine)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->engine = engine;
    ctx->writer = ord_store_client_new (engine->store);
    ctx->payment = ord_adapter_client_new (engine->payment);
    ctx->fulfilment = ord_adapter_client_new (engine->fulfilment);
    ctx->batch = ord_batch_new ();
    msgpack_sbuffer_init (&ctx->fields);
    if (!ctx->writer || !ctx->payment || !ctx->fulfilment) {
        ord_saga_ctx_clear (ctx);
        return ORD_EINTERNAL;
    }
    return 0;
}

void
ord_saga_ctx_clear (ord_saga_ctx_t *ctx)
{
    zsock_destroy (&ctx->writer);
    ord_adapter_client_destroy (&ctx->payment);
    ord_adapter_client_destroy (&ctx->fulfilment);
    ord_batch_destroy (&ctx->batch);
    msgpack_sbuffer_destroy (&ctx->fields);
    msgpack_sbuffer_init (&ctx->fields);
    ord_order_destroy (&ctx->order);
}

//  ---------------------------------------------------------------------
//  Adapter steps

static msgpack_packer
s_fields (ord_saga_ctx_t *ctx)
{
    msgpack_sbuffer_clear (&ctx->fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &ctx->fields, msgpack_sbuffer_write);
    return pk;
}

static int
s_call (ord_saga_ctx_t *ctx, ord_adapter_client_t *client, const char *op,
        uint32_t field_count, ord_why_t *why)
{
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    int rc = ord_adapter_call (client, op, ctx->fields.data, ctx->fields.size, field_count,
                               S_ATTEMPTS, &reply, why);
    msgpack_unpacked_destroy (&reply);
    return rc;
}

//  Packs the fields of one line's call (with its op inside a batch) and
//  returns how many; a batch item is a map, a single call has the fields
//  alone.
static uint32_t
s_pack_line (ord_saga_ctx_t *ctx, msgpack_packer *pk, const char *op, size_t line,
             bool batch_item)
{
    const ord_product_t *product = &ctx->order->products [line];
    bool release = streq (op, "release"), reserve = streq (op, "reserve");
    uint32_t count = 2 + (release? 0: 2) + (reserve? 1: 0);
    if (batch_item) {
        msgpack_pack_map (pk, count + 1);
        ord_pack_kv_cstr (pk, "op", op);
    }
    ord_pack_kv_cstr (pk, "order_id", ctx->order->id);
    ord_pack_kv_int (pk, "line", (int64_t) line);
    if (!release) {
        ord_pack_kv_cstr (pk, "sku", product->sku);
        ord_pack_kv_int (pk, "quantity", product->quantity);
    }
    if (reserve)
        ord_pack_kv_int (pk, "ttl_ms", ctx->engine->reserve_ttl_ms);
    return count;
}

//  One `batch` call for every line. Returns 0, the first failure's code
//  (with *done the lines before it), or ORD_EUNKNOWNOP when the adapter
//  does not batch.
static int
s_lines_batch (ord_saga_ctx_t *ctx, const char *op, size_t *done, ord_why_t *why)
{
    msgpack_packer pk = s_fields (ctx);
    ord_pack_cstr (&pk, "calls");
    msgpack_pack_array (&pk, ctx->order->product_count);
    for (size_t line = 0; line < ctx->order->product_count; line++)
        s_pack_line (ctx, &pk, op, line, true);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    *done = 0;
    int rc = ord_adapter_call (ctx->fulfilment, "batch", ctx->fields.data, ctx->fields.size,
                               1, S_ATTEMPTS, &reply, why);
    const msgpack_object *results;
    if (rc == 0 && ord_wire_array (&reply.data, "results", true, &results, why)) {
        ord_why_set (why, "the fulfilment adapter answered a batch without results");
        rc = ORD_EUNAVAILABLE;
    }
    for (uint32_t i = 0; rc == 0 && i < results->via.array.size; i++) {
        rc = ord_adapter_reply_status (&results->via.array.ptr [i], why);
        if (rc == 0)
            (*done)++;
    }
    if (rc == 0 && *done != ctx->order->product_count) {
        ord_why_set (why, "the fulfilment adapter answered %zu of %zu calls", *done,
                     ctx->order->product_count);
        rc = ORD_EUNAVAILABLE;
    }
    msgpack_unpacked_destroy (&reply);
    return rc;
}

static int
s_line_call (ord_saga_ctx_t *ctx, const char *op, size_t line, ord_why_t *why)
{
    msgpack_packer pk = s_fields (ctx);
    uint32_t count = s_pack_line (ctx, &pk, op, line, false);
    return s_call (ctx, ctx->fulfilment, op, count, why);
}

//  Calls `op` for every product line, stopping at the first error: in one
//  `batch` call when the adapter takes it, else one call per line.
static int
s_all_lines (ord_saga_ctx_t *ctx, const char *op, const char *after_first,
             const char *after_all, ord_why_t *why)
{
    size_t done = 0;
    int rc = ORD_EUNKNOWNOP;
    if (ord_adapter_batches (ctx->engine->fulfilment)) {
        rc = s_lines_batch (ctx, op, &done, why);
        if (rc == ORD_EUNKNOWNOP)
            ord_adapter_no_batches (ctx->engine->fulfilment);
    }
    if (rc == ORD_EUNKNOWNOP) {
        for (done = 0; done < ctx->order->product_count; done++) {
            rc = s_line_call (ctx, op, done, why);
            if (rc)
                break;
            if (done == 0 && after_first)
                ord_crash (after_first);
        }
    }
    else
    if (done > 0 && after_first)
        ord_crash (after_first);
    if (rc == ORD_ESTOCK && done < ctx->order->product_count) {
        const ord_product_t *product = &ctx->order->products [done];
        ord_why_set (why, "out of stock: product %s (sku %s, quantity %" PRId64 ")",
                     product->product_id, product->sku, product->quantity);
    }
    else
    if (rc == ORD_EUNKNOWNPRODUCT && done < ctx->order->product_count) {
        const ord_product_t *product = &ctx->order->products [done];
        ord_why_set (why, "unknown product: product %s (sku %s)",
                     product->product_id, product->sku);
    }
    if (rc == 0 && after_all)
        ord_crash (after_all);
    return rc;
}

static int
s_payment_create (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    ord_order_t *order = ctx->order;
    msgpack_packer pk = s_fields (ctx);
    ord_pack_kv_cstr (&pk, "order_id", order->id);
    ord_pack_kv_int (&pk, "amount", order->total_amount);
    ord_pack_kv_cstr (&pk, "currency", order->currency);
    ord_pack_kv_cstr (&pk, "return_url", ctx->saga.return_url);
    ord_pack_kv_cstr (&pk, "cancel_url", ctx->saga.cancel_url);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    int rc = ord_adapter_call (ctx->payment, "create", ctx->fields.data, ctx->fields.size, 5,
                               S_ATTEMPTS, &reply, why);
    if (rc == 0) {
        ord_str_t provider_order_id, approval_url;
        if (ord_wire_str (&reply.data, "provider_order_id", true, ORD_MAX_TEXT_LEN,
                          &provider_order_id, why)
        ||  ord_wire_str (&reply.data, "approval_url", false, ORD_MAX_TEXT_LEN,
                          &approval_url, why)) {
            ord_why_prefix (why, "payment adapter answered create without a valid ");
            rc = ORD_EUNAVAILABLE;
        }
        else {
            char *text = ord_str_dup (provider_order_id);
            ord_order_set (&order->provider_order_id, text);
            free (text);
            text = ord_str_dup (approval_url);
            ord_order_set (&order->approval_url, text);
            free (text);
            ord_order_set (&order->payment_provider, ord_adapter_name (ctx->engine->payment));
        }
    }
    msgpack_unpacked_destroy (&reply);
    return rc;
}

static int
s_payment_capture (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    ord_order_t *order = ctx->order;
    msgpack_packer pk = s_fields (ctx);
    ord_pack_kv_cstr (&pk, "order_id", order->id);
    ord_pack_kv_cstr (&pk, "provider_order_id", order->provider_order_id);
    ord_pack_kv_int (&pk, "amount", order->total_amount);
    ord_pack_kv_cstr (&pk, "currency", order->currency);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    int rc = ord_adapter_call (ctx->payment, "capture", ctx->fields.data, ctx->fields.size, 4,
                               S_ATTEMPTS, &reply, why);
    if (rc == 0) {
        ord_str_t capture_id;
        if (ord_wire_str (&reply.data, "capture_id", true, ORD_MAX_TEXT_LEN, &capture_id, why)) {
            ord_why_prefix (why, "payment adapter answered capture without a valid ");
            rc = ORD_EUNAVAILABLE;
        }
        else {
            char *text = ord_str_dup (capture_id);
            ord_order_set (&order->capture_id, text);
            free (text);
        }
    }
    msgpack_unpacked_destroy (&reply);
    return rc;
}

static int
s_payment_void (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    if (!ctx->order->provider_order_id)
        return 0;
    msgpack_packer pk = s_fields (ctx);
    ord_pack_kv_cstr (&pk, "order_id", ctx->order->id);
    ord_pack_kv_cstr (&pk, "provider_order_id", ctx->order->provider_order_id);
    int rc = s_call (ctx, ctx->payment, "void", 2, why);
    return rc == ORD_ENOTFOUND? 0: rc;
}

static int
s_payment_refund (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    if (!ctx->order->capture_id)
        return 0;
    msgpack_packer pk = s_fields (ctx);
    ord_pack_kv_cstr (&pk, "order_id", ctx->order->id);
    ord_pack_kv_cstr (&pk, "capture_id", ctx->order->capture_id);
    ord_pack_kv_int (&pk, "amount", ctx->order->total_amount);
    return s_call (ctx, ctx->payment, "refund", 3, why);
}

//  ---------------------------------------------------------------------
//  Driving

static bool
s_suspends (int rc)
{
    return rc == ORD_EUNAVAILABLE || rc == ORD_ETIMEOUT;
}

//  An adapter stayed unavailable: keep the saga for a later drive, and
//  flag a stored order for review once it keeps failing.
static int
s_suspend (ord_saga_ctx_t *ctx, int rc, ord_why_t *why)
{
    ctx->saga.attempts++;
    if (ctx->saga.attempts == ORD_SAGA_REVIEW_AFTER && ctx->stored_status != ORD_STATUS_NONE
    &&  !ctx->order->needs_review) {
        char note [ORD_MAX_TEXT_LEN + 1];
        snprintf (note, sizeof note, "%s saga stuck in %s after %u attempts: %.200s",
                  ord_saga_kind_name (ctx->saga.kind), ord_saga_phase_name (ctx->saga.phase),
                  ctx->saga.attempts, why->text);
        ctx->order->needs_review = true;
        ctx->saga.flagged_stuck = true;
        ord_saga_note (ctx, note);
    }
    ord_metrics_saga_suspended (ctx->engine->metrics, ctx->saga.kind);
    zsys_info ("saga %s of %s suspended in %s: %s", ord_saga_kind_name (ctx->saga.kind),
               ctx->order->id, ord_saga_phase_name (ctx->saga.phase), why->text);
    int log_rc = s_log (ctx);
    return log_rc? log_rc: rc;
}

//  Moves to a compensating phase, remembering the failure.
static int
s_fail_to (ord_saga_ctx_t *ctx, ord_saga_phase_t phase, int fail_code, ord_why_t *why,
           const char *crash_point)
{
    ctx->saga.phase = phase;
    ctx->saga.fail_code = fail_code;
    snprintf (ctx->saga.reason, sizeof ctx->saga.reason, "%s", why->text);
    int rc = s_log (ctx);
    if (!rc && crash_point)
        ord_crash (crash_point);
    return rc;
}

//  A saga that flagged its order for being stuck has finished on its own:
//  the flag it set goes, and the history says so.
static void
s_heal (ord_saga_ctx_t *ctx)
{
    char note [ORD_MAX_TEXT_LEN + 1];
    snprintf (note, sizeof note, "healed: the %s saga finished after %u suspended drives; "
              "needs_review cleared", ord_saga_kind_name (ctx->saga.kind), ctx->saga.attempts);
    ctx->order->needs_review = false;
    ctx->saga.flagged_stuck = false;
    ord_saga_note (ctx, note);
}

//  Queues the end of the saga: its record goes, its timer goes, and a
//  review flag it set for being stuck heals.
static void
s_finish (ord_saga_ctx_t *ctx, bool clear_timer)
{
    if (clear_timer)
        s_set_timer (ctx, 0);
    if (ctx->saga.flagged_stuck && ctx->order->needs_review)
        s_heal (ctx);
    ctx->saga.kind = ORD_SAGA_NONE;
    s_queue_saga (ctx);
    ctx->finished = true;
}

//  Ends a confirm saga with the order failed.
static int
s_fail_order (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int code = ctx->saga.fail_code? ctx->saga.fail_code: ORD_EINTERNAL;
    ord_why_set (why, "%s", ctx->saga.reason);
    if (ord_saga_transition (ctx, ORD_STATUS_FAILED, ORD_TRIGGER_CONFIRM, ctx->saga.reason))
        return ORD_EINTERNAL;
    s_finish (ctx, true);
    ord_metrics_compensation (ctx->engine->metrics, ctx->saga.phase, ctx->order->needs_review);
    return code;
}

//  A phase function returns S_NEXT when the saga moved to another phase
//  that this drive runs next, else what the drive returns.
#define S_NEXT            1
//  The longest path through the phases in one drive: check, capture,
//  reduce, compensate
#define S_MAX_PHASES      8

//  A step of a forward phase failed with `rc`: an unavailable adapter
//  suspends the saga (the drive ends there); any other failure moves it to
//  the compensating `phase`, which the drive runs next.
static int
s_step_failed (ord_saga_ctx_t *ctx, int rc, ord_saga_phase_t phase, const char *crash_point,
               ord_why_t *why)
{
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    int log_rc = s_fail_to (ctx, phase, rc, why, crash_point);
    return log_rc? log_rc: S_NEXT;
}

//  Records a compensation step that was refused (not suspended): the
//  order goes on to its end, flagged for a person.
static void
s_flag_refused (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    ctx->order->needs_review = true;
    ctx->saga.flagged_stuck = false;       //  now for a person, healed or not
    ord_saga_note (ctx, why->text);
}

static int
s_phase_reserve (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_all_lines (ctx, "reserve", "create.reserved_one", "create.reserved_all", why);
    if (rc) {
        //  A create is never suspended: its client waits, so what it
        //  reserved goes back at once
        int log_rc = s_fail_to (ctx, ORD_PHASE_RELEASE, s_suspends (rc)? ORD_EUNAVAILABLE: rc,
                                why, NULL);
        return log_rc? log_rc: S_NEXT;
    }
    if (ord_saga_transition (ctx, ORD_STATUS_PENDING, ORD_TRIGGER_CREATE, "created"))
        return ORD_EINTERNAL;
    s_set_timer (ctx, ctx->order->created_at + ctx->engine->config->payment_timeout_ms);
    s_finish (ctx, false);
    return 0;
}

static int
s_phase_release (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_all_lines (ctx, "release", "create.releasing", NULL, why);
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    ord_why_set (why, "%s", ctx->saga.reason);
    ord_metrics_compensation (ctx->engine->metrics, ORD_PHASE_RELEASE, false);
    s_finish (ctx, false);
    return ctx->saga.fail_code? ctx->saga.fail_code: ORD_EINTERNAL;
}

static int
s_phase_create_payment (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_payment_create (ctx, why);
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    ord_crash ("initiate.created");
    if (rc == 0) {
        if (ord_saga_transition (ctx, ORD_STATUS_PAYMENT_INITIATED,
                                 ORD_TRIGGER_INITIATE_PAYMENT, "payment initiated"))
            return ORD_EINTERNAL;
        s_set_timer (ctx, ord_engine_now () + ctx->engine->config->payment_timeout_ms);
    }
    s_finish (ctx, false);
    return rc;
}

static int
s_phase_check (ord_saga_ctx_t *ctx, bool resuming, ord_why_t *why)
{
    int rc = s_all_lines (ctx, "reserve", NULL, NULL, why);
    int log_rc = s_commit_wait (ctx);      //  the log ord_saga_begin sent
    if (log_rc)
        return log_rc;
    if (!resuming)
        ord_crash ("confirm.logged");
    if (rc)
        return s_step_failed (ctx, rc, ORD_PHASE_ABORT, "confirm.aborting", why);
    ord_crash ("confirm.checked");
    ctx->saga.phase = ORD_PHASE_CAPTURE;
    return S_NEXT;
}

static int
s_phase_capture (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_payment_capture (ctx, why);
    if (rc)
        return s_step_failed (ctx, rc, ORD_PHASE_DECLINED, NULL, why);
    ord_crash ("confirm.captured");
    if (ord_saga_transition (ctx, ORD_STATUS_PAID, ORD_TRIGGER_CONFIRM, "payment captured"))
        return ORD_EINTERNAL;
    //  Paid is written while the stock is reduced: if it is lost, a later
    //  drive captures again (the same capture) and reduces again (no stock
    //  moves twice)
    ctx->saga.phase = ORD_PHASE_REDUCE;
    s_queue_saga (ctx);
    s_commit_send (ctx, true);
    return S_NEXT;
}

static int
s_phase_reduce (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    bool paid_logging = ctx->committing;
    int rc = s_all_lines (ctx, "reduce", "confirm.reduced_one", NULL, why);
    int log_rc = s_commit_wait (ctx);
    if (log_rc)
        return log_rc;
    if (paid_logging)
        ord_crash ("confirm.paid");
    if (rc)
        return s_step_failed (ctx, rc, ORD_PHASE_COMPENSATE, "confirm.compensating", why);
    ord_crash ("confirm.reduced_all");
    if (ord_saga_transition (ctx, ORD_STATUS_CONFIRMED, ORD_TRIGGER_CONFIRM, "stock reduced"))
        return ORD_EINTERNAL;
    s_finish (ctx, true);
    return 0;
}

static int
s_phase_compensate (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    ord_config_t *config = ctx->engine->config;
    ord_saga_t *saga = &ctx->saga;
    //  Restoring a line never reduced and releasing a line not reserved
    //  are no-ops, so every line gets both
    int rc = s_all_lines (ctx, "restore", "confirm.restored_one", NULL, why);
    if (!rc)
        rc = s_all_lines (ctx, "release", NULL, NULL, why);
    if (!rc && config->on_stock_failure == ORD_ON_STOCK_FAILURE_REFUND)
        rc = s_payment_refund (ctx, why);
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    if (rc || config->on_stock_failure == ORD_ON_STOCK_FAILURE_REVIEW) {
        char note [ORD_MAX_TEXT_LEN + 1];
        snprintf (note, sizeof note, "payment captured but the order failed (%.400s)%s%.200s",
                  saga->reason, rc? "; refund refused: ": "", rc? why->text: "");
        ctx->order->needs_review = true;
        saga->flagged_stuck = false;       //  now for a person, healed or not
        snprintf (saga->reason, sizeof saga->reason, "%s", note);
    }
    return s_fail_order (ctx, why);
}

static int
s_phase_abort (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_all_lines (ctx, "release", NULL, NULL, why);
    if (!rc)
        rc = s_payment_void (ctx, why);
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    if (rc)
        s_flag_refused (ctx, why);
    return s_fail_order (ctx, why);
}

static int
s_phase_declined (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_all_lines (ctx, "release", NULL, NULL, why);
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    return s_fail_order (ctx, why);
}

static int
s_phase_cancel (ord_saga_ctx_t *ctx, ord_why_t *why)
{
    int rc = s_all_lines (ctx, "release", NULL, "cancel.released", why);
    if (!rc)
        rc = s_payment_void (ctx, why);
    if (s_suspends (rc))
        return s_suspend (ctx, rc, why);
    ord_crash ("cancel.voided");
    if (rc)
        s_flag_refused (ctx, why);
    if (ord_saga_transition (ctx, ORD_STATUS_CANCELLED, ctx->saga.trigger, ctx->saga.reason))
        return ORD_EINTERNAL;
    s_finish (ctx, true);
    return 0;
}

static int
s_run_phase (ord_saga_ctx_t *ctx, bool resuming, ord_why_t *why)
{
    switch (ctx->saga.phase) {
        case ORD_PHASE_RESERVE:         return s_phase_reserve (ctx, why);
        case ORD_PHASE_RELEASE:         return s_phase_release (ctx, why);
        case ORD_PHASE_CREATE_PAYMENT:  return s_phase_create_payment (ctx, why);
        case ORD_PHASE_CHECK:           return s_phase_check (ctx, resuming, why);
        case ORD_PHASE_CAPTURE:         return s_phase_capture (ctx, why);
        case ORD_PHASE_REDUCE:          return s_phase_reduce (ctx, why);
        case ORD_PHASE_COMPENSATE:      return s_phase_compensate (ctx, why);
        case ORD_PHASE_ABORT:           return s_phase_abort (ctx, why);
        case ORD_PHASE_DECLINED:        return s_phase_declined (ctx, why);
        case ORD_PHASE_CANCEL:          return s_phase_cancel (ctx, why);
    }
    ord_assert (!"a known phase");
    return ORD_EINTERNAL;
}

int
ord_saga_drive (ord_saga_ctx_t *ctx, bool resuming, ord_why_t *why)
{
    ord_saga_t *saga = &ctx->saga;
    ord_assert (ord_saga_phase_valid (saga->kind, saga->phase));
    ctx->finished = false;
    if (resuming && saga->kind == ORD_SAGA_CREATE && saga->phase == ORD_PHASE_RESERVE) {
        ord_why_set (why, "create interrupted before the order was stored");
        int rc = s_fail_to (ctx, ORD_PHASE_RELEASE, ORD_EUNAVAILABLE, why, NULL);
        if (rc)
            return rc;
    }
    for (int phases = 0; phases < S_MAX_PHASES; phases++) {
        int rc = s_run_phase (ctx, resuming, why);
        if (rc != S_NEXT)
            return rc;
        ord_assert (ord_saga_phase_valid (saga->kind, saga->phase));
    }
    ord_assert (!"a drive ends within S_MAX_PHASES phases");
    return ORD_EINTERNAL;
}
