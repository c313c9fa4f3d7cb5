/*  paypal_server: the actor loop of payment_paypal. See paypal_server.h. */
#include "paypal_server.h"
#include "../common/adapter_backup.h"

#define S_EXCHANGES_MAX     4           //  exchanges with PayPal in one call
#define S_KEY_MAX           160         //  an order key
#define S_RECEIVE_MAX       1024        //  requests taken off the ROUTER at once
#define S_MARGIN_MAX_MS     500         //  kept back from orderd's timeout_ms
#define S_IDLE_WAIT_MS      1000        //  the longest wait with nothing due
#define S_LATENCY_MAX       3600000

typedef enum {
    S_LATENCY,                          //  waiting for latency_ms
    S_BEHIND,                           //  behind an earlier call of its order
    S_READY,                            //  to be run in the next batch
    S_RUNNING,                          //  its handler runs
    S_PARKED                            //  waiting for PayPal
} s_state_t;

typedef struct s_call_t s_call_t;
typedef struct s_server_t s_server_t;
struct s_call_t {
    ord_adapter_call_t adapter_call;    //  what the handler sees: first
    s_server_t *server;
    s_call_t *prev, *next;              //  every call, in arrival order
    s_call_t *behind;                   //  the next call of its order
    s_call_t *queue_next;               //  in the latency, ready or done list
    s_state_t state;
    zmsg_t *msg;                        //  the envelope, once the body is off
    zframe_t *frame;                    //  the body; unpacked points into it
    msgpack_unpacked unpacked;
    ord_adapter_handler_fn *handler;
    char rid [ORD_ADAPTER_MAX_RID + 1];
    bool has_rid;
    char key [S_KEY_MAX];               //  "" when not in an order's line
    int64_t due_mono;                   //  arrival + latency_ms
    int64_t deadline_mono;              //  arrival + the call budget
    paypal_exchange_t exchanges [S_EXCHANGES_MAX];
    int exchanges_used;                 //  by the current run
    msgpack_sbuffer reply;
};

typedef struct {
    s_call_t *head, *tail;
} s_list_t;

struct s_server_t {
    zsock_t *pipe;                      //  not ours
    const ord_plugin_args_t *args;      //  not ours
    const paypal_server_spec_t *spec;   //  not ours
    void *state;                        //  the adapter's
    int64_t latency_ms;
    int64_t budget_ms;
    MDB_env *env;
    ord_adapter_backup_t *backup;       //  the `backup` op's state
    zsock_t *router;
    paypal_http_t *http;                //  the adapter's
    zhashx_t *orders;                   //  key -> the order's first call
    s_call_t *first, *last;             //  every call
    s_list_t latency;                   //  waiting for latency_ms, FIFO
    s_list_t ready;                     //  to run, FIFO
    msgpack_sbuffer fields;             //  a handler's reply fields
};


//  --------------------------------------------------------------------------
//  Lists

static void
s_list_push (s_list_t *list, s_call_t *call)
{
    call->queue_next = NULL;
    if (list->tail)
        list->tail->queue_next = call;
    else
        list->head = call;
    list->tail = call;
}

static s_call_t *
s_list_pop (s_list_t *list)
{
    s_call_t *call = list->head;
    if (call) {
        list->head = call->queue_next;
        if (!list->head)
            list->tail = NULL;
        call->queue_next = NULL;
    }
    return call;
}

static void
s_make_ready (s_server_t *self, s_call_t *call)
{
    call->state = S_READY;
    s_list_push (&self->ready, call);
}


//  --------------------------------------------------------------------------
//  Calls

static s_call_t *
s_call_new (s_server_t *self, zmsg_t *msg, int64_t now)
{
    s_call_t *call = (s_call_t *) calloc (1, sizeof *call);
    if (!call)
        return NULL;
    call->server = self;
    call->msg = msg;
    msgpack_unpacked_init (&call->unpacked);
    msgpack_sbuffer_init (&call->reply);
    call->due_mono = now + self->latency_ms;
    call->deadline_mono = now + self->budget_ms;
    call->prev = self->last;
    if (self->last)
        self->last->next = call;
    else
        self->first = call;
    self->last = call;
    return call;
}

static void
s_call_destroy (s_server_t *self, s_call_t **call_p)
{
    s_call_t *call = *call_p;
    if (call->prev)
        call->prev->next = call->next;
    else
        self->first = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        self->last = call->prev;
    for (int i = 0; i < S_EXCHANGES_MAX; i++) {
        paypal_http_abandon (self->http, &call->exchanges [i]);
        paypal_exchange_reset (&call->exchanges [i]);
    }
    zmsg_destroy (&call->msg);
    zframe_destroy (&call->frame);
    msgpack_unpacked_destroy (&call->unpacked);
    msgpack_sbuffer_destroy (&call->reply);
    free (call);
    *call_p = NULL;
}

static ord_str_t
s_rid (const s_call_t *call)
{
    ord_str_t rid = { call->has_rid? call->rid: NULL, (uint32_t) strlen (call->rid) };
    return rid;
}

static void
s_reply_error (s_call_t *call, int code, const char *message)
{
    msgpack_sbuffer_clear (&call->reply);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &call->reply, msgpack_sbuffer_write);
    ord_reply_error (&pk, s_rid (call), code, message && *message? message: NULL, 0);
}

//  Takes the call out of its order's line; the next call of the order,
//  if any, is then ready to run
static void
s_leave_order (s_server_t *self, s_call_t *call)
{
    if (!call->key [0])
        return;
    s_call_t *first = (s_call_t *) zhashx_lookup (self->orders, call->key);
    if (first == call) {
        if (call->behind) {
            zhashx_update (self->orders, call->key, call->behind);
            s_make_ready (self, call->behind);
        }
        else
            zhashx_delete (self->orders, call->key);
    }
    else {
        //  A call that gave up waiting: unlink it from the line
        for (s_call_t *before = first; before; before = before->behind)
            if (before->behind == call) {
                before->behind = call->behind;
                break;
            }
    }
    call->behind = NULL;
    call->key [0] = 0;
}

//  Sends the call's reply and ends the call
static void
s_finish (s_server_t *self, s_call_t *call)
{
    s_leave_order (self, call);
    zmsg_t *msg = call->msg;
    call->msg = NULL;
    int rc = msg? zmsg_addmem (msg, call->reply.data, call->reply.size): -1;
    if (rc == 0)
        rc = zmsg_send (&msg, self->router);
    if (rc)
        zsys_warning ("%s: could not send a reply", self->spec->spec->name);
    zmsg_destroy (&msg);
    s_call_destroy (self, &call);
}

static void
s_finish_error (s_server_t *self, s_call_t *call, int code, const char *message)
{
    s_reply_error (call, code, message);
    s_finish (self, call);
}


//  --------------------------------------------------------------------------
//  Admitting a request

static void
s_answer_ping (s_server_t *self, s_call_t *call)
{
    char reason [256];
    bool healthy = paypal_http_healthy (self->http, reason, sizeof reason);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &call->reply, msgpack_sbuffer_write);
    ord_reply_begin (&pk, s_rid (call), true, healthy? 4: 5);
    ord_pack_kv_cstr (&pk, "name", self->spec->spec->name);
    ord_pack_kv_cstr (&pk, "version", self->spec->spec->version);
    ord_pack_kv_bool (&pk, "batch", false);
    ord_pack_kv_bool (&pk, "backup", true);
    if (!healthy)
        ord_pack_kv_cstr (&pk, "degraded", reason);
    s_finish (self, call);
}

//  Puts the call in its order's line: first (ready) or behind the others
static void
s_join_order (s_server_t *self, s_call_t *call)
{
    MDB_txn *txn = NULL;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        txn = NULL;
    self->spec->order_key (self->state, txn, &call->unpacked.data, call->key, S_KEY_MAX);
    if (txn)
        mdb_txn_abort (txn);
    if (!call->key [0])
        snprintf (call->key, S_KEY_MAX, "?");
    s_call_t *first = (s_call_t *) zhashx_lookup (self->orders, call->key);
    if (!first) {
        zhashx_insert (self->orders, call->key, call);
        s_make_ready (self, call);
        return;
    }
    s_call_t *last = first;
    while (last->behind)
        last = last->behind;
    last->behind = call;
    call->state = S_BEHIND;
}

//  A request whose latency is over: answered at once (ping, errors), or
//  put in its order's line
static void
s_admit (s_server_t *self, s_call_t *call)
{
    zframe_t *frame = zmsg_last (call->msg);
    if (frame)
        zmsg_remove (call->msg, frame);
    if (!frame) {
        s_finish_error (self, call, ORD_EBADREQ, "empty message");
        return;
    }
    call->frame = frame;
    ord_why_t why;
    why.text [0] = 0;
    ord_str_t op;
    int rc = ord_adapter_decode (frame, &call->unpacked, call->rid, &call->has_rid, &op, &why);
    if (rc) {
        s_finish_error (self, call, rc, why.text);
        return;
    }
    if (ord_str_eq (op, "ping")) {
        s_answer_ping (self, call);
        return;
    }
    call->handler = ord_adapter_find_op (self->spec->spec, op);
    if (!call->handler) {
        ord_why_set (&why, "op: '%.*s' is not an operation of %s", (int) op.len, op.ptr,
                     self->spec->spec->name);
        s_finish_error (self, call, ORD_EUNKNOWNOP, why.text);
        return;
    }
    if (zclock_mono () >= call->deadline_mono) {
        s_finish_error (self, call, ORD_EUNAVAILABLE,
                        "not started: latency_ms is not below the call's deadline");
        return;
    }
    s_join_order (self, call);
}

//  Takes every request waiting on the ROUTER (up to S_RECEIVE_MAX)
static void
s_receive (s_server_t *self)
{
    int64_t now = zclock_mono ();
    for (int n = 0; n < S_RECEIVE_MAX; n++) {
        if (!(zsock_events (self->router) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->router);
        if (!msg)
            break;
        if (ord_adapter_backup_take (self->backup, &msg, self->router))
            continue;           //  answered now, never queued
        s_call_t *call = s_call_new (self, msg, now);
        if (!call) {
            zsys_warning ("%s: out of memory queueing a request", self->spec->spec->name);
            zmsg_destroy (&msg);
            continue;
        }
        if (self->latency_ms > 0) {
            call->state = S_LATENCY;
            s_list_push (&self->latency, call);
        }
        else
            s_admit (self, call);
    }
}

static void
s_admit_due (s_server_t *self)
{
    int64_t now = zclock_mono ();
    while (self->latency.head && self->latency.head->due_mono <= now)
        s_admit (self, s_list_pop (&self->latency));
}


//  --------------------------------------------------------------------------
//  Running handlers

//  Runs the call's handler in a nested txn of `txn`; fills its reply
//  unless it returns PAYPAL_PENDING
static int
s_run_handler (s_server_t *self, s_call_t *call, MDB_txn *txn, int64_t now)
{
    ord_adapter_call_t *adapter_call = &call->adapter_call;
    msgpack_sbuffer_clear (&self->fields);
    msgpack_packer fields_pk;
    msgpack_packer_init (&fields_pk, &self->fields, msgpack_sbuffer_write);
    memset (adapter_call, 0, sizeof *adapter_call);
    adapter_call->state = self->state;
    adapter_call->body = &call->unpacked.data;
    adapter_call->now = now;
    adapter_call->pk = &fields_pk;
    call->exchanges_used = 0;
    call->state = S_RUNNING;

    int rc = mdb_txn_begin (self->env, txn, 0, &adapter_call->txn);
    if (rc) {
        rc = ord_adapter_store_error (rc, "begin nested", &adapter_call->why);
        s_reply_error (call, rc, adapter_call->why.text);
        return rc;
    }
    rc = call->handler (adapter_call);
    if (rc == PAYPAL_PENDING) {
        //  Its writes come again with the run that finishes
        mdb_txn_abort (adapter_call->txn);
        call->state = S_PARKED;
        return rc;
    }
    if (rc == 0 || adapter_call->keep_writes) {
        int mdb_rc = mdb_txn_commit (adapter_call->txn);
        if (mdb_rc)
            rc = ord_adapter_store_error (mdb_rc, "commit nested", &adapter_call->why);
    }
    else
        mdb_txn_abort (adapter_call->txn);
    adapter_call->txn = NULL;
    if (rc) {
        s_reply_error (call, rc, adapter_call->why.text);
        return rc;
    }
    msgpack_sbuffer_clear (&call->reply);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &call->reply, msgpack_sbuffer_write);
    ord_reply_begin (&pk, s_rid (call), true, adapter_call->fields);
    ord_pack_raw (&pk, self->fields.data, self->fields.size);
    return 0;
}

//  Runs every ready call in one write transaction; the ones that finish
//  are answered after its commit, the others wait for PayPal
static void
s_run_ready (s_server_t *self)
{
    int64_t hold_ms;
    if (!self->ready.head || ord_adapter_backup_holding (self->backup, &hold_ms))
        return;                 //  a backup holds commits: wait for its resume
    s_list_t batch = self->ready;
    self->ready.head = self->ready.tail = NULL;
    s_list_t finished = { NULL, NULL };
    ord_why_t why;
    why.text [0] = 0;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc) {
        ord_adapter_store_error (rc, "begin", &why);
        txn = NULL;
    }
    int64_t now = zclock_time ();
    s_call_t *call;
    while ((call = s_list_pop (&batch))) {
        if (!txn)
            s_reply_error (call, ORD_EUNAVAILABLE, why.text);
        else
        if (s_run_handler (self, call, txn, now) == PAYPAL_PENDING)
            continue;
        s_list_push (&finished, call);
    }
    if (txn) {
        rc = mdb_txn_commit (txn);
        if (rc) {
            //  Whatever the cause, the batch's writes are lost: unavailable
            ord_adapter_store_error (rc, "commit", &why);
            zsys_warning ("%s: %s", self->spec->spec->name, why.text);
            for (call = finished.head; call; call = call->queue_next)
                s_reply_error (call, ORD_EUNAVAILABLE, why.text);
        }
    }
    while ((call = s_list_pop (&finished)))
        s_finish (self, call);
}

void
paypal_server_exchange_done (paypal_exchange_t *exchange, void *owner)
{
    (void) exchange;
    s_call_t *call = (s_call_t *) owner;
    //  A running handler sees the outcome itself (paypal_server_api)
    if (call->state == S_PARKED)
        s_make_ready (call->server, call);
}

int
paypal_server_api (ord_adapter_call_t *adapter_call, const char *method, const char *path,
                   const char *payload, const char *request_id, const char *what,
                   long *status, json_t **json, ord_why_t *why)
{
    s_call_t *call = (s_call_t *) adapter_call;     //  its first member
    *status = 0;
    *json = NULL;
    if (call->exchanges_used >= S_EXCHANGES_MAX) {
        ord_why_set (why, "PayPal %s: more than %d exchanges in one call", what,
                     S_EXCHANGES_MAX);
        return ORD_EINTERNAL;
    }
    paypal_exchange_t *exchange = &call->exchanges [call->exchanges_used++];
    if (exchange->state == PAYPAL_EXCHANGE_IDLE) {
        if (zclock_mono () >= call->deadline_mono) {
            ord_why_set (why, "PayPal %s: not sent: no time left before the call's "
                         "deadline", what);
            return ORD_EUNAVAILABLE;
        }
        exchange->method = method;
        snprintf (exchange->path, sizeof exchange->path, "%s", path);
        exchange->payload = payload? strdup (payload): NULL;
        if (payload && !exchange->payload) {
            ord_why_set (why, "out of memory");
            return ORD_EINTERNAL;
        }
        snprintf (exchange->request_id, sizeof exchange->request_id, "%s",
                  request_id? request_id: "");
        exchange->what = what;
        exchange->deadline_mono = call->deadline_mono;
        exchange->owner = call;
        paypal_http_submit (call->server->http, exchange);
    }
    if (exchange->state != PAYPAL_EXCHANGE_DONE)
        return PAYPAL_PENDING;
    if (exchange->rc) {
        *why = exchange->why;
        return exchange->rc;
    }
    *status = exchange->status;
    *json = exchange->json? json_incref (exchange->json): NULL;
    return 0;
}


//  --------------------------------------------------------------------------
//  Deadlines

//  Answers `unavailable` for every call at its deadline that still waits
//  behind its order, and ends the exchange of every call that still waits
//  for PayPal (its handler then runs once more, to record the attempt)
static void
s_expire (s_server_t *self, int64_t now)
{
    s_call_t *call = self->first;
    while (call && call->deadline_mono <= now) {
        s_call_t *next = call->next;
        if (call->state == S_BEHIND)
            s_finish_error (self, call, ORD_EUNAVAILABLE,
                            "not started: an earlier call of the same order was still "
                            "waiting for PayPal at this call's deadline");
        else
        if (call->state == S_PARKED && call->exchanges_used > 0) {
            paypal_exchange_t *exchange = &call->exchanges [call->exchanges_used - 1];
            if (exchange->state != PAYPAL_EXCHANGE_DONE) {
                bool sent = exchange->state == PAYPAL_EXCHANGE_ON_WIRE;
                paypal_http_abandon (self->http, exchange);
                exchange->state = PAYPAL_EXCHANGE_DONE;
                exchange->rc = ORD_EUNAVAILABLE;
                ord_why_set (&exchange->why, "PayPal %s: %s by the call's deadline (%" PRId64
                             " ms, below orderd's timeout_ms)", exchange->what,
                             sent? "no answer": "not sent", self->budget_ms);
            }
            s_make_ready (self, call);
        }
        call = next;
    }
}

//  How long the loop may wait: 0 when work is waiting
static int
s_wait_ms (s_server_t *self)
{
    int64_t hold_ms;
    if (ord_adapter_backup_holding (self->backup, &hold_ms))
        return (int) hold_ms;   //  until the resume (the ROUTER wakes us) or the lapse
    if (self->ready.head
    ||  (zsock_events (self->router) & ZMQ_POLLIN)
    ||  (zsock_events (self->pipe) & ZMQ_POLLIN))
        return 0;
    int64_t next = paypal_http_next_mono (self->http);
    if (self->latency.head && self->latency.head->due_mono < next)
        next = self->latency.head->due_mono;
    for (s_call_t *call = self->first; call; call = call->next)
        if (call->state == S_BEHIND || call->state == S_PARKED) {
            if (call->deadline_mono < next)
                next = call->deadline_mono;
            break;              //  deadlines grow in arrival order
        }
    int64_t wait = next - zclock_mono ();
    if (wait > S_IDLE_WAIT_MS)
        wait = S_IDLE_WAIT_MS;
    return wait < 0? 0: (int) wait;
}


//  --------------------------------------------------------------------------
//  Start, serve, stop

static void
s_server_destroy (s_server_t *self)
{
    while (self->first) {
        s_call_t *call = self->first;
        s_call_destroy (self, &call);
    }
    zhashx_destroy (&self->orders);
    msgpack_sbuffer_destroy (&self->fields);
    ord_adapter_close (&self->router, &self->backup, &self->env);
}

//  orderd's timeout_ms less a margin for the reply's way back
static int
s_read_budget (s_server_t *self, ord_why_t *why)
{
    int64_t timeout_ms;
    int rc = ord_adapter_config_int (self->args->config, "timeout_ms", 1, INT32_MAX, 5000,
                                     false, &timeout_ms, why);
    if (rc)
        return rc;
    int64_t margin = timeout_ms / 4 < S_MARGIN_MAX_MS? timeout_ms / 4: S_MARGIN_MAX_MS;
    self->budget_ms = timeout_ms - margin;
    return ord_adapter_config_int (self->args->config, "latency_ms", 0, S_LATENCY_MAX, 0,
                                   false, &self->latency_ms, why);
}

static int
s_server_init (s_server_t *self, ord_why_t *why)
{
    msgpack_sbuffer_init (&self->fields);
    self->orders = zhashx_new ();
    if (!self->orders) {
        ord_why_set (why, "out of memory");
        return ORD_EINTERNAL;
    }
    int rc = s_read_budget (self, why);
    if (rc == 0)
        rc = ord_adapter_open (self->args, self->spec->spec, self->state, &self->env, why);
    if (rc)
        return rc;
    self->http = self->spec->http (self->state);
    ord_assert (self->http);            //  spec->open made it, or failed
    self->backup = ord_adapter_backup_new (self->env, self->spec->spec->name);
    return ord_adapter_router_bind (self->args, &self->router, why);
}

void
paypal_server_run (zsock_t *pipe, const ord_plugin_args_t *args,
                   const paypal_server_spec_t *spec, void *state)
{
    s_server_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.args = args;
    self.spec = spec;
    self.state = state;
    ord_adapter_thread_name (spec->spec->name);

    ord_why_t why;
    why.text [0] = 0;
    int rc = args? s_server_init (&self, &why): ORD_EINTERNAL;
    if (!ord_adapter_handshake (pipe, rc, &why)) {
        s_server_destroy (&self);
        return;
    }
    zsock_t *socks [2] = { pipe, self.router };
    while (true) {
        paypal_http_wait (self.http, socks, 2, s_wait_ms (&self));
        if ((zsock_events (pipe) & ZMQ_POLLIN) && ord_adapter_pipe_says_term (pipe))
            break;
        s_receive (&self);
        paypal_http_work (self.http);
        s_admit_due (&self);
        s_expire (&self, zclock_mono ());
        s_run_ready (&self);
    }
    s_server_destroy (&self);
}
