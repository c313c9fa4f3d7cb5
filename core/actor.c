/*  actor: one order's changes, one request at a time. */
#include "actor.h"
#include "idempotency.h"

ord_request_t *
ord_request_new (ord_door_t door)
{
    ord_request_t *self = (ord_request_t *) zmalloc (sizeof (ord_request_t));
    self->tag = ORD_REQUEST_TAG;
    self->door = door;
    self->result = ORD_EINTERNAL;  //  until a reply is made
    msgpack_unpacked_init (&self->body);
    self->received_at_us = zclock_usecs ();
    return self;
}

void
ord_request_destroy (ord_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_request_t *self = *self_p;
    ord_assert (self->tag == ORD_REQUEST_TAG);
    self->tag = 0;
    zmsg_destroy (&self->envelope);
    msgpack_unpacked_destroy (&self->body);
    zframe_destroy (&self->body_frame);
    free (self->idem_key);
    ord_order_destroy (&self->new_order);
    zframe_destroy (&self->reply);
    free (self);
    *self_p = NULL;
}

void
ord_request_answer (ord_request_t *self, int rc, const char *message, const ord_order_t *order)
{
    zframe_destroy (&self->reply);
    self->reply = ord_reply_order (self->rid, rc, message, order);
    self->result = rc;
}

ord_request_t *
ord_request_check (void *pointer)
{
    ord_request_t *request = (ord_request_t *) pointer;
    ord_assert (request && request->tag == ORD_REQUEST_TAG);
    return request;
}

int
ord_request_take_deadline (ord_request_t *self, int64_t now_ms, ord_why_t *why)
{
    ord_assert (self);
    int rc = ord_wire_int (&self->body.data, "deadline", false, 1, INT64_MAX,
                           &self->deadline_ms, why);
    if (rc)
        return rc;
    if (ord_request_expired (self, now_ms)) {
        ord_why_set (why, "deadline: passed %" PRId64 " ms before orderd took the request up",
                     now_ms - self->deadline_ms);
        return ORD_EDEADLINE;
    }
    return 0;
}

bool
ord_request_expired (const ord_request_t *self, int64_t now_ms)
{
    return self->deadline_ms > 0 && now_ms >= self->deadline_ms;
}

zframe_t *
ord_reply_order (ord_str_t rid, int rc, const char *message, const ord_order_t *order)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    if (rc == 0)
        ord_reply_begin (&pk, rid, true, order? 1: 0);
    else
        ord_reply_error (&pk, rid, rc, message, order? 1: 0);
    if (order) {
        ord_pack_cstr (&pk, "order");
        ord_order_pack (order, &pk, false);
    }
    zframe_t *frame = zframe_new (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    return frame;
}

//  ---------------------------------------------------------------------

typedef struct {
    bool ready;                    //  it has its writer and adapter clients
    zsock_t *pipe;
    zsock_t *replies;              //  PUSH to the front
    ord_saga_ctx_t ctx;
} self_t;

static self_t *
s_self_new (zsock_t *pipe, ord_engine_t *engine)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    self->pipe = pipe;
    self->replies = zsock_new (ZMQ_PUSH);
    if (!self->replies || zsock_connect (self->replies, "%s", engine->replies)) {
        //  Out of sockets, and no way to answer: nothing sensible left to do
        zsock_destroy (&self->replies);
        free (self);
        return NULL;
    }
    //  Without its writer or adapter clients it still answers, `internal`,
    //  so that no request waits on it for ever
    self->ready = ord_saga_ctx_init (&self->ctx, engine) == 0;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    zsock_destroy (&self->replies);
    if (self->ready)
        ord_saga_ctx_clear (&self->ctx);
    free (self);
    *self_p = NULL;
}

//  Forgets the cached order, so the next request reads it from the store.
static void
s_forget (self_t *self)
{
    ord_order_destroy (&self->ctx.order);
    memset (&self->ctx.saga, 0, sizeof self->ctx.saga);
    ord_batch_reset (self->ctx.batch);
    self->ctx.queued_transitions = 0;
}

//  Loads the order and its saga unless the cached copy is current.
static int
s_load (self_t *self, ord_request_t *request)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    if (!request->fresh && ctx->order && streq (ctx->order->id, request->order_id))
        return 0;
    s_forget (self);
    MDB_txn *txn;
    int rc = ord_store_read (ctx->engine->store, &txn);
    if (rc)
        return rc;
    ord_order_t *create_order = NULL;
    rc = ord_store_get_order (ctx->engine->store, txn, request->order_id, &ctx->order);
    if (rc == 0 || rc == ORD_ENOTFOUND) {
        int saga_rc = ord_saga_load (ctx->engine, txn, request->order_id, &ctx->saga,
                                     rc == ORD_ENOTFOUND? &create_order: NULL);
        if (saga_rc)
            rc = saga_rc;
        else
        if (create_order) {
            ctx->order = create_order;
            rc = 0;
        }
    }
    ord_store_read_end (ctx->engine->store, txn);
    if (rc) {
        s_forget (self);
        return rc;
    }
    ctx->stored_status = ctx->order->status;
    return 0;
}

//  Answers without writing anything.
static void
s_answer (self_t *self, ord_request_t *request, int rc, const char *message, bool with_order)
{
    ord_batch_reset (self->ctx.batch);
    self->ctx.queued_transitions = 0;
    ord_request_answer (request, rc, message, with_order? self->ctx.order: NULL);
}

//  Finishes a request whose writes are queued in the batch (`queued`): the
//  reply is built, remembered for its idempotency key, and sent only once
//  the commit is durable. Without queued writes (a suspended saga, a
//  failed commit) it only answers.
static void
s_complete (self_t *self, ord_request_t *request, int rc, const char *message,
            bool with_order, bool queued)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    if (!queued) {
        //  Suspended, or a commit failed: what is in memory may be ahead
        //  of the store, so read the order afresh next time
        s_answer (self, request, rc, message, false);
        s_forget (self);
        return;
    }
    bool created = ctx->order && ctx->order->status != ORD_STATUS_NONE;
    ord_request_answer (request, rc, message, with_order && created? ctx->order: NULL);
    //  Remembered under its idempotency key in the same commit as the change
    ord_idempotency_record (ctx->batch, request, rc);
    int commit_rc = ord_saga_commit (ctx);
    if (commit_rc) {
        zsys_error ("order %s: commit failed: %s", request->order_id, ord_strerror (commit_rc));
        s_answer (self, request, commit_rc, NULL, false);
        s_forget (self);
        return;
    }
    request->internal_done = true;
    if (!ctx->order || ctx->order->status == ORD_STATUS_NONE)
        s_forget (self);           //  a create that stored nothing
}

//  Starts a saga and drives it; the reply names the order when the
//  order exists and the saga finished.
static void
s_run_saga (self_t *self, ord_request_t *request, const ord_saga_start_t *start)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    int rc = ord_saga_begin (ctx, start);
    if (rc) {
        zsys_error ("order %s: cannot log its saga: %s", ctx->order->id, ord_strerror (rc));
        s_answer (self, request, rc, NULL, false);
        s_forget (self);
        return;
    }
    switch (start->kind) {
        case ORD_SAGA_CREATE:   ord_crash ("create.logged"); break;
        case ORD_SAGA_INITIATE: ord_crash ("initiate.logged"); break;
        case ORD_SAGA_CONFIRM:  break;     //  the drive's: its log is written during the check
        case ORD_SAGA_CANCEL:   ord_crash ("cancel.logged"); break;
        case ORD_SAGA_NONE:     ord_assert (!"a saga of a kind"); break;
    }
    ord_why_t why = { "" };
    rc = ord_saga_drive (ctx, false, &why);
    s_complete (self, request, rc, why.text, true, ctx->finished);
}

//  Resumes an unfinished saga (recovery, background retry, admin retry,
//  or a client's retry of the same operation).
static void
s_resume_saga (self_t *self, ord_request_t *request)
{
    ord_why_t why = { "" };
    int rc = ord_saga_drive (&self->ctx, true, &why);
    s_complete (self, request, rc, why.text, true, self->ctx.finished);
}

//  The request's `reason`, or `fallback` when it has none. Returns NULL
//  (and answers bad_request) when it is not a valid string.
static const char *
s_reason (self_t *self, ord_request_t *request, const char *fallback, char *buffer,
          size_t size)
{
    ord_str_t reason;
    ord_why_t why;
    if (ord_wire_str (&request->body.data, "reason", false, ORD_MAX_TEXT_LEN, &reason, &why)) {
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return NULL;
    }
    if (!reason.ptr || !reason.len)
        return fallback;
    snprintf (buffer, size, "%.*s", (int) reason.len, reason.ptr);
    return buffer;
}

static void
s_do_initiate (self_t *self, ord_request_t *request)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    ord_why_t why;
    ord_str_t return_url, cancel_url;
    if (ord_wire_str (&request->body.data, "return_url", false, ORD_MAX_TEXT_LEN, &return_url, &why)
    ||  ord_wire_str (&request->body.data, "cancel_url", false, ORD_MAX_TEXT_LEN, &cancel_url, &why)) {
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return;
    }
    if (ctx->order->status == ORD_STATUS_PAYMENT_INITIATED) {
        s_answer (self, request, 0, NULL, true);     //  the same payment again
        return;
    }
    if (ctx->order->status != ORD_STATUS_PENDING) {
        ord_why_set (&why, "cannot initiate payment of a %s order",
                     ord_status_name (ctx->order->status));
        s_answer (self, request, ORD_EINVALID, why.text, true);
        return;
    }
    ord_saga_start_t start = { ORD_SAGA_INITIATE, ORD_TRIGGER_INITIATE_PAYMENT, NULL,
                               return_url, cancel_url };
    s_run_saga (self, request, &start);
}

static void
s_do_confirm (self_t *self, ord_request_t *request)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    ord_order_t *order = ctx->order;
    ord_why_t why;
    ord_str_t provider_order_id;
    const msgpack_object *body = &request->body.data;
    const char *key = ord_wire_find (body, "provider_order_id")? "provider_order_id"
                                                                : "paypal_order_id";
    if (ord_wire_str (body, key, true, ORD_MAX_TEXT_LEN, &provider_order_id, &why)) {
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return;
    }
    if (order->status == ORD_STATUS_PENDING || !order->provider_order_id) {
        s_answer (self, request, ORD_EINVALID,
                  "cannot confirm an order whose payment is not initiated", true);
        return;
    }
    if (!ord_str_eq (provider_order_id, order->provider_order_id)) {
        ord_why_set (&why, "%s: does not match this order's payment", key);
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return;
    }
    if (ord_status_terminal (order->status) && order->status != ORD_STATUS_DELIVERED) {
        ord_why_set (&why, "cannot confirm a %s order", ord_status_name (order->status));
        s_answer (self, request, ORD_EINVALID, why.text, true);
        return;
    }
    if (order->status != ORD_STATUS_PAYMENT_INITIATED) {
        s_answer (self, request, 0, NULL, true);     //  confirmed already: unchanged
        return;
    }
    ord_saga_start_t start = { .kind = ORD_SAGA_CONFIRM, .trigger = ORD_TRIGGER_CONFIRM };
    s_run_saga (self, request, &start);
}

static void
s_do_cancel (self_t *self, ord_request_t *request, ord_trigger_t trigger)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    char buffer [ORD_MAX_TEXT_LEN + 1];
    const char *reason = "payment timeout";
    if (trigger == ORD_TRIGGER_CANCEL) {
        reason = s_reason (self, request, "cancelled", buffer, sizeof buffer);
        if (!reason)
            return;
    }
    if (!ord_fsm_allowed (ctx->order->status, ORD_STATUS_CANCELLED, trigger)) {
        if (trigger == ORD_TRIGGER_TIMEOUT) {
            request->internal_done = true;
            return;
        }
        ord_why_t why;
        ord_why_set (&why, "cannot cancel a %s order", ord_status_name (ctx->order->status));
        s_answer (self, request, ORD_EINVALID, why.text, true);
        return;
    }
    if (trigger == ORD_TRIGGER_TIMEOUT
    &&  (ctx->order->timer_at == 0 || ctx->order->timer_at > ord_engine_now ())) {
        request->internal_done = true;    //  the timer moved meanwhile
        return;
    }
    ord_saga_start_t start = { .kind = ORD_SAGA_CANCEL, .trigger = trigger, .reason = reason };
    s_run_saga (self, request, &start);
}

static void
s_do_delete (self_t *self, ord_request_t *request)
{
    ord_order_t *order = self->ctx.order;
    if (!ord_status_terminal (order->status)) {
        ord_why_t why;
        ord_why_set (&why, "only delivered, cancelled or failed orders can be deleted; this one is %s",
                     ord_status_name (order->status));
        s_answer (self, request, ORD_EINVALID, why.text, true);
        return;
    }
    order->deleted_at = ord_engine_now ();
    order->updated_at = order->deleted_at;
    s_complete (self, request, 0, NULL, true, true);
}

static void
s_do_advance (self_t *self, ord_request_t *request)
{
    ord_why_t why;
    ord_str_t to_name;
    if (ord_wire_str (&request->body.data, "to", true, 32, &to_name, &why)) {
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return;
    }
    ord_status_t to = ord_status_parse (to_name.ptr, to_name.len);
    if (to != ORD_STATUS_PROCESSING && to != ORD_STATUS_SHIPPED && to != ORD_STATUS_DELIVERED) {
        s_answer (self, request, ORD_EBADREQ, "to: must be processing, shipped or delivered", false);
        return;
    }
    char buffer [ORD_MAX_TEXT_LEN + 1];
    const char *reason = s_reason (self, request, "advanced by ops", buffer, sizeof buffer);
    if (!reason)
        return;
    ord_status_t from = self->ctx.order->status;
    if (ord_saga_transition (&self->ctx, to, ORD_TRIGGER_ADVANCE, reason)) {
        ord_why_set (&why, "cannot advance a %s order to %s", ord_status_name (from),
                     ord_status_name (to));
        s_answer (self, request, ORD_EINVALID, why.text, true);
        return;
    }
    s_complete (self, request, 0, NULL, true, true);
}

static void
s_do_resolve (self_t *self, ord_request_t *request)
{
    ord_why_t why;
    ord_str_t note;
    if (ord_wire_str (&request->body.data, "note", true, ORD_MAX_TEXT_LEN, &note, &why)) {
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return;
    }
    if (!self->ctx.order->needs_review) {
        s_answer (self, request, ORD_EINVALID, "the order does not need review", true);
        return;
    }
    if (self->ctx.saga.kind != ORD_SAGA_NONE) {
        s_answer (self, request, ORD_EINVALID,
                  "the order's saga is unfinished; retry it before resolving", true);
        return;
    }
    char text [ORD_MAX_TEXT_LEN + 1];
    snprintf (text, sizeof text, "resolved: %.*s", (int) note.len, note.ptr);
    self->ctx.order->needs_review = false;
    ord_saga_note (&self->ctx, text);
    s_complete (self, request, 0, NULL, true, true);
}

//  A request for an order whose saga has not finished: the same operation
//  resumes it; anything else waits for it.
static bool
s_saga_pending (self_t *self, ord_request_t *request)
{
    ord_saga_kind_t kind = self->ctx.saga.kind;
    if (kind == ORD_SAGA_NONE)
        return false;
    bool same = (kind == ORD_SAGA_INITIATE && request->op == ORD_OP_INITIATE)
             || (kind == ORD_SAGA_CONFIRM && request->op == ORD_OP_CONFIRM)
             || (kind == ORD_SAGA_CANCEL && request->op == ORD_OP_CANCEL)
             || request->op == ORD_OP_RETRY || request->op == ORD_OP_DRIVE;
    if (same) {
        s_resume_saga (self, request);
        return true;
    }
    if (request->op == ORD_OP_TIMEOUT) {
        request->internal_done = true;    //  the saga is driven in the background
        return true;
    }
    if (request->op == ORD_OP_RESOLVE)
        return false;
    ord_why_t why;
    ord_why_set (&why, "the order's %s is still in progress (retried in the background); retry later",
                 ord_saga_kind_name (kind));
    s_answer (self, request, ORD_EBUSY, why.text, false);
    return true;
}

//  Answers with the fields of an adapter's reply (admin stock, payment).
static void
s_answer_adapter (self_t *self, ord_request_t *request, ord_adapter_client_t *client,
                  const char *op, uint32_t field_count)
{
    ord_saga_ctx_t *ctx = &self->ctx;
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    ord_why_t why = { "" };
    int rc = ord_adapter_call (client, op, ctx->fields.data, ctx->fields.size, field_count,
                               2, &reply, &why);
    if (rc)
        s_answer (self, request, rc, why.text, false);
    else {
        const msgpack_object *map = &reply.data;
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
        uint32_t extra = 0;
        for (uint32_t pass = 0; pass < 2; pass++) {
            if (pass == 1)
                ord_reply_begin (&pk, request->rid, true, extra);
            for (uint32_t i = 0; i < map->via.map.size; i++) {
                ord_str_t key = ord_str_of (&map->via.map.ptr [i].key);
                if (ord_str_eq (key, "v") || ord_str_eq (key, "rid") || ord_str_eq (key, "ok"))
                    continue;
                if (pass == 0)
                    extra++;
                else {
                    msgpack_pack_object (&pk, map->via.map.ptr [i].key);
                    msgpack_pack_object (&pk, map->via.map.ptr [i].val);
                }
            }
        }
        zframe_destroy (&request->reply);
        request->reply = zframe_new (buffer.data, buffer.size);
        request->result = 0;
        msgpack_sbuffer_destroy (&buffer);
    }
    msgpack_unpacked_destroy (&reply);
}

static void
s_do_stock (self_t *self, ord_request_t *request)
{
    ord_why_t why;
    ord_str_t sku;
    int64_t set = -1;
    const msgpack_object *body = &request->body.data;
    if (ord_wire_str (body, "sku", true, ORD_MAX_TEXT_LEN, &sku, &why)
    ||  ord_wire_int (body, "set", false, 0, ORD_STOCK_MAX, &set, &why)) {
        s_answer (self, request, ORD_EBADREQ, why.text, false);
        return;
    }
    msgpack_sbuffer_clear (&self->ctx.fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->ctx.fields, msgpack_sbuffer_write);
    ord_pack_cstr (&pk, "sku");
    ord_pack_str (&pk, sku);
    if (set >= 0)
        ord_pack_kv_int (&pk, "set", set);
    s_answer_adapter (self, request, self->ctx.fulfilment, "stock", set >= 0? 2: 1);
}

static void
s_do_payment (self_t *self, ord_request_t *request)
{
    ord_order_t *order = self->ctx.order;
    if (!order->provider_order_id) {
        s_answer (self, request, ORD_ENOTFOUND, "the order has no payment", false);
        return;
    }
    msgpack_sbuffer_clear (&self->ctx.fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->ctx.fields, msgpack_sbuffer_write);
    ord_pack_kv_cstr (&pk, "provider_order_id", order->provider_order_id);
    s_answer_adapter (self, request, self->ctx.payment, "status", 1);
}

static void
s_handle (self_t *self, ord_request_t *request)
{
    //  A request that waited for this actor past its deadline is refused
    //  before anything starts; one already started runs to its end
    if (ord_request_expired (request, ord_engine_now ())) {
        s_answer (self, request, ORD_EDEADLINE,
                  "deadline: passed while the request waited for its order", false);
        return;
    }
    if (request->op == ORD_OP_STOCK) {
        s_do_stock (self, request);
        return;
    }
    ord_saga_ctx_t *ctx = &self->ctx;
    if (request->op == ORD_OP_CREATE) {
        s_forget (self);
        ctx->order = request->new_order;
        request->new_order = NULL;
        ctx->stored_status = ORD_STATUS_NONE;
        ord_saga_start_t start = { .kind = ORD_SAGA_CREATE, .trigger = ORD_TRIGGER_CREATE };
        s_run_saga (self, request, &start);
        return;
    }
    int rc = s_load (self, request);
    if (rc == ORD_ENOTFOUND
    ||  (rc == 0 && ctx->stored_status == ORD_STATUS_NONE && request->door != ORD_DOOR_INTERNAL)
    ||  (rc == 0 && ctx->order->deleted_at && request->door != ORD_DOOR_INTERNAL)) {
        s_answer (self, request, ORD_ENOTFOUND, "no such order", false);
        return;
    }
    if (rc) {
        zsys_error ("order %s: cannot read it: %s", request->order_id, ord_strerror (rc));
        s_answer (self, request, rc, NULL, false);
        return;
    }
    if (request->user_id.ptr && !ord_str_eq (request->user_id, ctx->order->user_id)) {
        s_answer (self, request, ORD_EFORBIDDEN, "the order belongs to another user", false);
        return;
    }
    if (request->op == ORD_OP_PAYMENT) {
        s_do_payment (self, request);
        return;
    }
    if (s_saga_pending (self, request))
        return;
    switch (request->op) {
        case ORD_OP_INITIATE: s_do_initiate (self, request); break;
        case ORD_OP_CONFIRM:  s_do_confirm (self, request); break;
        case ORD_OP_CANCEL:   s_do_cancel (self, request, ORD_TRIGGER_CANCEL); break;
        case ORD_OP_TIMEOUT:  s_do_cancel (self, request, ORD_TRIGGER_TIMEOUT); break;
        case ORD_OP_DELETE:   s_do_delete (self, request); break;
        case ORD_OP_ADVANCE:  s_do_advance (self, request); break;
        case ORD_OP_RESOLVE:  s_do_resolve (self, request); break;
        case ORD_OP_RETRY:
            s_answer (self, request, ORD_EINVALID, "the order has no unfinished saga", true);
            break;
        case ORD_OP_DRIVE:
            request->internal_done = true;
            break;
        default:
            s_answer (self, request, ORD_EUNKNOWNOP, NULL, false);
            break;
    }
}

void
ord_actor (zsock_t *pipe, void *args)
{
    ord_thread_name ("ord-actor");
    self_t *self = s_self_new (pipe, (ord_engine_t *) args);
    zsock_signal (pipe, 0);
    if (self && !self->ready)
        zsys_error ("order actor cannot reach the writer or the adapters: out of sockets "
                    "(raise ulimit -n)");
    if (!self) {
        zsys_error ("order actor cannot start: out of sockets (raise ulimit -n)");
        char *command = zstr_recv (pipe);
        zstr_free (&command);
        return;
    }
    while (true) {
        char *command = NULL;
        void *pointer = NULL;
        if (zsock_recv (pipe, "sp", &command, &pointer))
            break;
        bool term = !command || streq (command, "$TERM");
        if (command && streq (command, "REQ") && pointer) {
            ord_request_t *request = ord_request_check (pointer);
            if (self->ready)
                s_handle (self, request);
            else
                ord_request_answer (request, ORD_EINTERNAL,
                                    "the order actor has no sockets (raise ulimit -n)", NULL);
            bool answered = zsock_send (self->replies, "p", request) == 0;
            if (!answered)
                ord_request_destroy (&request);
            //  the request in and its reply out (admin stats: hand-offs)
            atomic_fetch_add_explicit (&self->ctx.engine->actor_messages, answered? 2: 1,
                                       memory_order_relaxed);
        }
        zstr_free (&command);
        if (term)
            break;
    }
    s_self_destroy (&self);
}
