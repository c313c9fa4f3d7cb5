/*  saga: the saga coordinator, driven by hand the way an order actor
    drives it, against the real shipped adapters (payment_sandbox,
    fulfilment_local) and a real store.

    A newcomer's map: setup () builds an ord_engine_t with ord_engine_new,
    as orderd's main () does (config file, store, writer, both adapters),
    and an ord_saga_ctx_t with ord_saga_ctx_init, as an order actor does.
    Every operation is then three calls, as in core/actor.c:

        ord_saga_begin (ctx, &start)                  logs the saga's intent
        ord_saga_drive (ctx, resuming, &why)          runs its adapter steps
        ord_saga_commit (ctx)                         commits its final writes
                                                      (only when finished)

    which s_run () wraps. Stock is set and read through the fulfilment
    adapter's `stock` op and payments through the sandbox's `status` op,
    as the admin door does, so every test can check that stock is
    conserved and money moved (at most) once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <czmq.h>
#include "saga.h"
#include "temp_dir.h"


#define S_PAYMENT_TIMEOUT  60000

typedef struct {
    char root [64];                     //  mkdtemp folder
    char config_path [128];
    ord_engine_t *engine;
    ord_saga_ctx_t ctx;                 //  one order actor's state
    ord_adapter_client_t *ops;          //  the admin door's fulfilment client
    ord_adapter_client_t *ops_payment;  //  ...and payment client
    unsigned next_order;
    ord_why_t why;
} fixture_t;

static void
s_write_config (fixture_t *fx)
{
    static int instance = 0;
    const char *build = getenv ("ORDERD_BUILD");
    if (!build)
        build = "build";
    snprintf (fx->config_path, sizeof fx->config_path, "%s/orderd.cfg", fx->root);
    FILE *file = fopen (fx->config_path, "w");
    assert_non_null (file);
    fprintf (file,
        "orderd\n"
        "    data_dir = %s/data\n"
        "    events = inproc://test-saga-events-%d-%d\n"
        "    sync = none\n"
        "    payment_timeout_ms = %d\n"
        "payment\n"
        "    plugin = %s/plugins/payment_sandbox.so\n"
        "    timeout_ms = 2000\n"
        "fulfilment\n"
        "    plugin = %s/plugins/fulfilment_local.so\n"
        "    timeout_ms = 2000\n",
        fx->root, getpid (), ++instance, S_PAYMENT_TIMEOUT, build, build);
    assert_int_equal (fclose (file), 0);
}

static int
setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    temp_dir_new (fx->root, sizeof fx->root, "test_saga");
    s_write_config (fx);

    //  The engine and one order actor's context, as orderd builds them
    ord_config_t *config = NULL;
    if (ord_config_load (fx->config_path, NULL, &config, &fx->why))
        fail_msg ("config: %s", fx->why.text);
    if (ord_engine_new (config, &fx->engine, &fx->why))
        fail_msg ("engine: %s", fx->why.text);
    ord_engine_t *engine = fx->engine;
    assert_int_equal (ord_saga_ctx_init (&fx->ctx, engine), 0);

    fx->ops = ord_adapter_client_new (engine->fulfilment);
    fx->ops_payment = ord_adapter_client_new (engine->payment);
    assert_non_null (fx->ops);
    assert_non_null (fx->ops_payment);
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    ord_saga_ctx_clear (&fx->ctx);
    ord_adapter_client_destroy (&fx->ops);
    ord_adapter_client_destroy (&fx->ops_payment);
    ord_engine_destroy (&fx->engine);
    temp_dir_remove (fx->root);
    free (fx);
    return 0;
}


//  --------------------------------------------------------------------------
//  Stock and payments, as the admin door sees them

typedef struct {
    int64_t available;
    int64_t reserved;
} stock_t;

//  The fulfilment adapter's `stock` op; set >= 0 sets the available count
static stock_t
s_stock (fixture_t *fx, const char *sku, int64_t set)
{
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fields, msgpack_sbuffer_write);
    ord_pack_kv_cstr (&pk, "sku", sku);
    if (set >= 0)
        ord_pack_kv_int (&pk, "set", set);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    ord_why_t why;
    if (ord_adapter_call (fx->ops, "stock", fields.data, fields.size, set >= 0? 2: 1, 1,
                          &reply, &why))
        fail_msg ("stock %s: %s", sku, why.text);
    stock_t stock = { -1, -1 };
    assert_int_equal (ord_wire_int (&reply.data, "available", true, 0, INT64_MAX,
                                    &stock.available, &why), 0);
    assert_int_equal (ord_wire_int (&reply.data, "reserved", true, 0, INT64_MAX,
                                    &stock.reserved, &why), 0);
    msgpack_unpacked_destroy (&reply);
    msgpack_sbuffer_destroy (&fields);
    return stock;
}

static void
s_assert_stock (fixture_t *fx, const char *sku, int64_t available, int64_t reserved)
{
    stock_t stock = s_stock (fx, sku, -1);
    if (stock.available != available || stock.reserved != reserved)
        fail_msg ("%s: available %" PRId64 ", reserved %" PRId64 "; expected %" PRId64
                  ", %" PRId64, sku, stock.available, stock.reserved, available, reserved);
}

typedef struct {
    char status [16];
    int64_t captures;
    int64_t captured_amount;
} payment_t;

//  The sandbox's record of an order's payment
static payment_t
s_payment (fixture_t *fx, const char *provider_order_id)
{
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fields, msgpack_sbuffer_write);
    ord_pack_kv_cstr (&pk, "provider_order_id", provider_order_id);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    ord_why_t why;
    if (ord_adapter_call (fx->ops_payment, "status", fields.data, fields.size, 1, 1, &reply, &why))
        fail_msg ("status %s: %s", provider_order_id, why.text);
    payment_t payment;
    ord_str_t status = ord_str_of (ord_wire_find (&reply.data, "status"));
    snprintf (payment.status, sizeof payment.status, "%.*s", (int) status.len,
              status.ptr? status.ptr: "");
    assert_int_equal (ord_wire_int (&reply.data, "captures", true, 0, INT64_MAX,
                                    &payment.captures, &why), 0);
    assert_int_equal (ord_wire_int (&reply.data, "captured_amount", true, 0, INT64_MAX,
                                    &payment.captured_amount, &why), 0);
    msgpack_unpacked_destroy (&reply);
    msgpack_sbuffer_destroy (&fields);
    return payment;
}


//  --------------------------------------------------------------------------
//  Orders and sagas

static ord_raw_t
s_empty_map (void)
{
    ord_raw_t raw = { (char *) malloc (1), 1 };
    assert_non_null (raw.data);
    raw.data [0] = (char) 0x80;          //  msgpack {}
    return raw;
}

//  A new order, as the front hands it to an actor for `create`: validated,
//  with an id, not yet stored. Lines are "sku:quantity:unit_price".
static ord_order_t *
s_order_new (fixture_t *fx, const char *user_id, size_t count, const char *lines [])
{
    ord_order_t *order = (ord_order_t *) calloc (1, sizeof *order);
    assert_non_null (order);
    snprintf (order->id, sizeof order->id, "o%016x", ++fx->next_order);
    order->user_id = strdup (user_id);
    order->cart_id = strdup ("cart");
    strcpy (order->currency, "USD");
    order->product_count = count;
    order->products = (ord_product_t *) calloc (count, sizeof (ord_product_t));
    assert_non_null (order->products);
    for (size_t i = 0; i < count; i++) {
        ord_product_t *product = &order->products [i];
        char sku [64];
        long long quantity, price;
        assert_int_equal (sscanf (lines [i], "%63[^:]:%lld:%lld", sku, &quantity, &price), 3);
        char product_id [32];
        snprintf (product_id, sizeof product_id, "p-%zu", i);
        product->product_id = strdup (product_id);
        product->sku = strdup (sku);
        product->name = strdup (sku);
        product->quantity = quantity;
        product->unit_price = price;
        order->subtotal += quantity * price;
    }
    order->total = order->total_amount = order->subtotal;
    order->shipping_address = s_empty_map ();
    order->billing_address = s_empty_map ();
    order->user_data = s_empty_map ();
    order->delivery_mode = strdup ("standard");
    return order;
}

//  Runs one saga on ctx->order the way core/actor.c does: begin, drive,
//  and commit the final writes if the drive finished. Returns the drive's rc.
static int
s_begin (ord_saga_ctx_t *ctx, ord_saga_kind_t kind, ord_trigger_t trigger, const char *reason)
{
    ord_saga_start_t start = { .kind = kind, .trigger = trigger, .reason = reason };
    return ord_saga_begin (ctx, &start);
}

static int
s_run (fixture_t *fx, ord_saga_kind_t kind, ord_trigger_t trigger, const char *reason)
{
    ord_saga_ctx_t *ctx = &fx->ctx;
    assert_int_equal (s_begin (ctx, kind, trigger, reason), 0);
    memset (&fx->why, 0, sizeof fx->why);
    int rc = ord_saga_drive (ctx, false, &fx->why);
    if (ctx->finished)
        assert_int_equal (ord_saga_commit (ctx), 0);
    return rc;
}

//  `create` for a new order: ctx takes it over
static int
s_create (fixture_t *fx, ord_order_t *order)
{
    ord_saga_ctx_t *ctx = &fx->ctx;
    ord_order_destroy (&ctx->order);
    memset (&ctx->saga, 0, sizeof ctx->saga);
    ctx->order = order;
    ctx->stored_status = ORD_STATUS_NONE;
    return s_run (fx, ORD_SAGA_CREATE, ORD_TRIGGER_CREATE, NULL);
}

//  create + initiate_payment, both succeeding
static void
s_create_initiated (fixture_t *fx, ord_order_t *order)
{
    assert_int_equal (s_create (fx, order), 0);
    assert_int_equal (s_run (fx, ORD_SAGA_INITIATE, ORD_TRIGGER_INITIATE_PAYMENT, NULL), 0);
    assert_int_equal (fx->ctx.order->status, ORD_STATUS_PAYMENT_INITIATED);
}

//  The stored order, or NULL when there is none
static ord_order_t *
s_stored (fixture_t *fx, const char *id)
{
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    ord_order_t *order = NULL;
    int rc = ord_store_get_order (fx->engine->store, txn, id, &order);
    ord_store_read_end (fx->engine->store, txn);
    assert_true (rc == 0 || rc == ORD_ENOTFOUND);
    return order;
}

static size_t
s_saga_count (fixture_t *fx)
{
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    zlist_t *ids = NULL;
    assert_int_equal (ord_store_saga_ids (fx->engine->store, txn, 100, &ids), 0);
    size_t count = zlist_size (ids);
    zlist_destroy (&ids);
    ord_store_read_end (fx->engine->store, txn);
    return count;
}

static int
s_collect (const ord_transition_t *transition, void *arg)
{
    char *text = (char *) arg;
    size_t used = strlen (text);
    snprintf (text + used, 512 - used, "%s,", ord_status_name (transition->to));
    return 0;
}

//  The stored history of an order as "pending,payment_initiated,..."
static void
s_history (fixture_t *fx, const char *id, char text [512])
{
    text [0] = 0;
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    assert_int_equal (ord_store_history (fx->engine->store, txn, id, s_collect, text), 0);
    ord_store_read_end (fx->engine->store, txn);
}


//  --------------------------------------------------------------------------
//  create

static void
test_create_reserves_and_stores_a_pending_order (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    s_stock (fx, "pear", 5);
    const char *lines [] = { "apple:2:500", "pear:1:250" };
    ord_order_t *order = s_order_new (fx, "alice", 2, lines);
    assert_int_equal (s_create (fx, order), 0);
    ord_order_t *mine = fx->ctx.order;
    assert_int_equal (mine->status, ORD_STATUS_PENDING);
    assert_int_equal (fx->ctx.stored_status, ORD_STATUS_PENDING);

    ord_order_t *stored = s_stored (fx, mine->id);
    assert_non_null (stored);
    assert_int_equal (stored->status, ORD_STATUS_PENDING);
    assert_int_equal (stored->version, 1);
    assert_int_equal (stored->timer_at, stored->created_at + S_PAYMENT_TIMEOUT);
    ord_order_destroy (&stored);
    char history [512];
    s_history (fx, mine->id, history);
    assert_string_equal (history, "pending,");
    //  The saga is over: no record left
    assert_int_equal (s_saga_count (fx), 0);
    assert_int_equal (fx->ctx.saga.kind, ORD_SAGA_NONE);
    //  Every product reserved
    s_assert_stock (fx, "apple", 8, 2);
    s_assert_stock (fx, "pear", 4, 1);
    assert_int_equal (atomic_load (&fx->engine->transitions), 1);
}

static void
test_create_out_of_stock_releases_and_stores_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    s_stock (fx, "pear", 0);
    const char *lines [] = { "apple:2:500", "pear:1:250" };
    ord_order_t *order = s_order_new (fx, "alice", 2, lines);
    char id [ORD_ORDER_ID_SIZE];
    snprintf (id, sizeof id, "%s", order->id);
    assert_int_equal (s_create (fx, order), ORD_ESTOCK);
    //  The reply names the product
    assert_string_equal (fx->why.text, "out of stock: product p-1 (sku pear, quantity 1)");
    //  The first product's reservation was given back
    s_assert_stock (fx, "apple", 10, 0);
    s_assert_stock (fx, "pear", 0, 0);
    //  Nothing stored: no order, no history, no saga, no count
    assert_null (s_stored (fx, id));
    char history [512];
    s_history (fx, id, history);
    assert_string_equal (history, "");
    assert_int_equal (s_saga_count (fx), 0);
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    uint64_t counts [ORD_STATUS_COUNT], review;
    ord_store_status_counts (fx->engine->store, txn, counts, &review);
    ord_store_read_end (fx->engine->store, txn);
    assert_int_equal (counts [ORD_STATUS_PENDING], 0);
    assert_int_equal (atomic_load (&fx->engine->transitions), 0);
}

//  An interrupted create (orderd died after logging it and reserving the
//  first product) is compensated when driven again with resuming = true:
//  never completed, since its client never got an answer.
static void
test_resumed_create_releases_what_was_reserved (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    s_stock (fx, "pear", 5);
    const char *lines [] = { "apple:3:500", "pear:1:250" };
    ord_saga_ctx_t *ctx = &fx->ctx;
    ctx->order = s_order_new (fx, "alice", 2, lines);
    ctx->stored_status = ORD_STATUS_NONE;
    assert_int_equal (s_begin (ctx, ORD_SAGA_CREATE, ORD_TRIGGER_CREATE, NULL), 0);
    assert_int_equal (s_saga_count (fx), 1);
    //  The first reservation happened before the crash (the saga's own call)
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fields, msgpack_sbuffer_write);
    ord_pack_kv_cstr (&pk, "order_id", ctx->order->id);
    ord_pack_kv_int (&pk, "line", 0);
    ord_pack_kv_cstr (&pk, "sku", "apple");
    ord_pack_kv_int (&pk, "quantity", 3);
    ord_pack_kv_int (&pk, "ttl_ms", S_PAYMENT_TIMEOUT);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    assert_int_equal (ord_adapter_call (fx->ops, "reserve", fields.data, fields.size, 5, 1,
                                        &reply, &fx->why), 0);
    msgpack_unpacked_destroy (&reply);
    msgpack_sbuffer_destroy (&fields);
    s_assert_stock (fx, "apple", 7, 3);

    int rc = ord_saga_drive (ctx, true, &fx->why);
    assert_int_not_equal (rc, 0);
    s_assert_stock (fx, "apple", 10, 0);
    s_assert_stock (fx, "pear", 5, 0);
    assert_null (s_stored (fx, ctx->order->id));
}

//  The compensation of an interrupted create ends its saga: the drive says
//  so (ctx->finished) with the final writes queued, and once they are
//  committed no saga record is left for recovery to drive again.
//  (Found by this test: the drive used to return ORD_EUNAVAILABLE, which
//  callers took for "suspended", so the record stayed forever.)
static void
test_resumed_create_finishes_its_saga (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:3:500" };
    ord_saga_ctx_t *ctx = &fx->ctx;
    ctx->order = s_order_new (fx, "alice", 1, lines);
    ctx->stored_status = ORD_STATUS_NONE;
    assert_int_equal (s_begin (ctx, ORD_SAGA_CREATE, ORD_TRIGGER_CREATE, NULL), 0);
    int rc = ord_saga_drive (ctx, true, &fx->why);
    assert_int_not_equal (rc, 0);
    assert_true (ctx->finished);
    assert_int_equal (ord_saga_commit (ctx), 0);
    assert_int_equal (s_saga_count (fx), 0);
    assert_null (s_stored (fx, ctx->order->id));
}

//  A create saga's record carries the new order (status NONE, not yet
//  stored), so that recovery can release its reservations: it must load
//  back whole. (Found by this test: ord_order_unpack used to require a
//  status, so the record could never be loaded.)
static void
test_interrupted_create_saga_loads_with_its_order (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *lines [] = { "apple:3:500", "pear:1:250" };
    ord_saga_ctx_t *ctx = &fx->ctx;
    ctx->order = s_order_new (fx, "alice", 2, lines);
    ctx->stored_status = ORD_STATUS_NONE;
    assert_int_equal (s_begin (ctx, ORD_SAGA_CREATE, ORD_TRIGGER_CREATE, NULL), 0);
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    ord_saga_t saga;
    ord_order_t *carried = NULL;
    int rc = ord_saga_load (fx->engine, txn, ctx->order->id, &saga, &carried);
    ord_store_read_end (fx->engine->store, txn);
    assert_int_equal (rc, 0);
    assert_int_equal (saga.kind, ORD_SAGA_CREATE);
    assert_int_equal (saga.phase, ORD_PHASE_RESERVE);
    assert_non_null (carried);
    assert_string_equal (carried->id, ctx->order->id);
    assert_int_equal (carried->status, ORD_STATUS_NONE);
    assert_int_equal (carried->product_count, 2);
    assert_string_equal (carried->products [1].sku, "pear");
    ord_order_destroy (&carried);
}


//  --------------------------------------------------------------------------
//  initiate_payment, confirm, cancel

static void
test_initiate_creates_the_payment (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:2:500" };
    s_create_initiated (fx, s_order_new (fx, "alice", 1, lines));
    ord_order_t *mine = fx->ctx.order;
    assert_non_null (mine->provider_order_id);
    assert_non_null (mine->approval_url);
    assert_string_equal (mine->payment_provider, "payment_sandbox");
    assert_null (mine->capture_id);
    ord_order_t *stored = s_stored (fx, mine->id);
    assert_int_equal (stored->status, ORD_STATUS_PAYMENT_INITIATED);
    assert_string_equal (stored->provider_order_id, mine->provider_order_id);
    assert_true (stored->timer_at >= stored->created_at + S_PAYMENT_TIMEOUT);
    ord_order_destroy (&stored);
    payment_t payment = s_payment (fx, mine->provider_order_id);
    assert_string_equal (payment.status, "created");
    assert_int_equal (payment.captures, 0);
    //  Still reserved
    s_assert_stock (fx, "apple", 8, 2);
}

static void
test_confirm_captures_once_and_reduces_stock (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    s_stock (fx, "pear", 5);
    const char *lines [] = { "apple:2:500", "pear:1:250" };
    s_create_initiated (fx, s_order_new (fx, "alice", 2, lines));
    assert_int_equal (s_run (fx, ORD_SAGA_CONFIRM, ORD_TRIGGER_CONFIRM, NULL), 0);
    ord_order_t *mine = fx->ctx.order;
    assert_int_equal (mine->status, ORD_STATUS_CONFIRMED);
    assert_non_null (mine->capture_id);
    assert_false (mine->needs_review);

    ord_order_t *stored = s_stored (fx, mine->id);
    assert_int_equal (stored->status, ORD_STATUS_CONFIRMED);
    assert_int_equal (stored->timer_at, 0);
    ord_order_destroy (&stored);
    char history [512];
    s_history (fx, mine->id, history);
    assert_string_equal (history, "pending,payment_initiated,paid,confirmed,");
    //  The stock left for good: nothing reserved, nothing back
    s_assert_stock (fx, "apple", 8, 0);
    s_assert_stock (fx, "pear", 4, 0);
    payment_t payment = s_payment (fx, mine->provider_order_id);
    assert_string_equal (payment.status, "captured");
    assert_int_equal (payment.captures, 1);
    assert_int_equal (payment.captured_amount, 1250);
    assert_int_equal (s_saga_count (fx), 0);
    //  No payment timeout left to fire
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    zlist_t *due = NULL;
    assert_int_equal (ord_store_due_timers (fx->engine->store, txn, INT64_MAX, 10, &due), 0);
    assert_int_equal (zlist_size (due), 0);
    zlist_destroy (&due);
    ord_store_read_end (fx->engine->store, txn);
}

//  orderd died after the capture went through but before it was recorded:
//  the resumed confirm captures again, which the provider answers with the
//  same capture, so the money moves once
static void
test_resumed_confirm_captures_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:2:500" };
    s_create_initiated (fx, s_order_new (fx, "alice", 1, lines));
    ord_saga_ctx_t *ctx = &fx->ctx;
    assert_int_equal (s_begin (ctx, ORD_SAGA_CONFIRM, ORD_TRIGGER_CONFIRM, NULL), 0);
    //  The capture of the interrupted drive
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fields, msgpack_sbuffer_write);
    ord_pack_kv_cstr (&pk, "order_id", ctx->order->id);
    ord_pack_kv_cstr (&pk, "provider_order_id", ctx->order->provider_order_id);
    ord_pack_kv_int (&pk, "amount", ctx->order->total_amount);
    ord_pack_kv_cstr (&pk, "currency", ctx->order->currency);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    assert_int_equal (ord_adapter_call (fx->ops_payment, "capture", fields.data, fields.size, 4, 1,
                                        &reply, &fx->why), 0);
    msgpack_unpacked_destroy (&reply);
    msgpack_sbuffer_destroy (&fields);
    assert_int_equal (s_payment (fx, ctx->order->provider_order_id).captures, 1);

    int rc = ord_saga_drive (ctx, true, &fx->why);
    assert_int_equal (rc, 0);
    assert_int_equal (ord_saga_commit (ctx), 0);
    assert_int_equal (ctx->order->status, ORD_STATUS_CONFIRMED);
    payment_t payment = s_payment (fx, ctx->order->provider_order_id);
    assert_int_equal (payment.captures, 1);
    assert_int_equal (payment.captured_amount, 1000);
    s_assert_stock (fx, "apple", 8, 0);
    assert_int_equal (s_saga_count (fx), 0);
}

static void
test_logged_saga_loads_back (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:2:500" };
    s_create_initiated (fx, s_order_new (fx, "alice", 1, lines));
    assert_int_equal (s_begin (&fx->ctx, ORD_SAGA_CANCEL, ORD_TRIGGER_TIMEOUT,
                               "payment timeout"), 0);
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    ord_saga_t saga;
    ord_order_t *carried = (ord_order_t *) &saga;      //  must be reset to NULL
    assert_int_equal (ord_saga_load (fx->engine, txn, fx->ctx.order->id, &saga, &carried), 0);
    assert_int_equal (saga.kind, ORD_SAGA_CANCEL);
    assert_int_equal (saga.phase, ORD_PHASE_CANCEL);
    assert_int_equal (saga.trigger, ORD_TRIGGER_TIMEOUT);
    assert_string_equal (saga.reason, "payment timeout");
    assert_null (carried);                              //  only a create carries its order
    //  An order without a saga loads as kind NONE
    assert_int_equal (ord_saga_load (fx->engine, txn, "o00000000000000ff", &saga, NULL), 0);
    assert_int_equal (saga.kind, ORD_SAGA_NONE);
    ord_store_read_end (fx->engine->store, txn);
}

//  An initiate_payment's URLs are in its first logged record, so that a
//  drive resumed after a crash there sends the provider the same ones.
//  (Found by a crash at initiate.logged: the URLs used to be set only
//  after that record was committed, and the resumed create had none.)
static void
test_initiate_logs_its_urls_in_its_first_record (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:2:500" };
    assert_int_equal (s_create (fx, s_order_new (fx, "alice", 1, lines)), 0);
    const char *ok = "https://shop.example/ok", *cancel = "https://shop.example/cancel";
    ord_str_t return_url = { ok, (uint32_t) strlen (ok) };
    ord_str_t cancel_url = { cancel, (uint32_t) strlen (cancel) };
    ord_saga_start_t start = { ORD_SAGA_INITIATE, ORD_TRIGGER_INITIATE_PAYMENT, NULL,
                               return_url, cancel_url };
    assert_int_equal (ord_saga_begin (&fx->ctx, &start), 0);
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    ord_saga_t saga;
    assert_int_equal (ord_saga_load (fx->engine, txn, fx->ctx.order->id, &saga, NULL), 0);
    ord_store_read_end (fx->engine->store, txn);
    assert_int_equal (saga.kind, ORD_SAGA_INITIATE);
    assert_int_equal (saga.phase, ORD_PHASE_CREATE_PAYMENT);
    assert_string_equal (saga.return_url, "https://shop.example/ok");
    assert_string_equal (saga.cancel_url, "https://shop.example/cancel");
    //  ...and the resumed drive, from that record alone, creates the payment
    fx->ctx.saga = saga;
    assert_int_equal (ord_saga_drive (&fx->ctx, true, &fx->why), 0);
    assert_true (fx->ctx.finished);
    assert_int_equal (ord_saga_commit (&fx->ctx), 0);
    assert_int_equal (fx->ctx.order->status, ORD_STATUS_PAYMENT_INITIATED);
    assert_int_equal (s_saga_count (fx), 0);
}

static void
test_confirm_declined_fails_and_releases (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    //  2 x 500 + 1 x 102 = 1102: the sandbox declines amounts ending in 02
    const char *lines [] = { "apple:2:500", "apple-box:1:102" };
    s_stock (fx, "apple-box", 3);
    s_create_initiated (fx, s_order_new (fx, "alice", 2, lines));
    assert_int_equal (fx->ctx.order->total_amount, 1102);
    assert_int_equal (s_run (fx, ORD_SAGA_CONFIRM, ORD_TRIGGER_CONFIRM, NULL), ORD_EDECLINED);
    ord_order_t *mine = fx->ctx.order;
    assert_int_equal (mine->status, ORD_STATUS_FAILED);
    ord_order_t *stored = s_stored (fx, mine->id);
    assert_int_equal (stored->status, ORD_STATUS_FAILED);
    assert_false (stored->needs_review);
    ord_order_destroy (&stored);
    char history [512];
    s_history (fx, mine->id, history);
    assert_string_equal (history, "pending,payment_initiated,failed,");
    //  Reservations released, no stock moved, no money moved
    s_assert_stock (fx, "apple", 10, 0);
    s_assert_stock (fx, "apple-box", 3, 0);
    payment_t payment = s_payment (fx, mine->provider_order_id);
    assert_int_equal (payment.captures, 0);
    assert_int_equal (payment.captured_amount, 0);
    assert_int_equal (s_saga_count (fx), 0);
}

static void
test_confirm_with_stock_gone_aborts_before_capture (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 2);
    const char *lines [] = { "apple:2:500" };
    s_create_initiated (fx, s_order_new (fx, "alice", 1, lines));
    //  The reservation lapses and someone else takes the stock: release it
    //  by hand (as a lapse would) and empty the shelf
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fields, msgpack_sbuffer_write);
    ord_pack_kv_cstr (&pk, "order_id", fx->ctx.order->id);
    ord_pack_kv_int (&pk, "line", 0);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    assert_int_equal (ord_adapter_call (fx->ops, "release", fields.data, fields.size, 2, 1,
                                        &reply, &fx->why), 0);
    msgpack_unpacked_destroy (&reply);
    msgpack_sbuffer_destroy (&fields);
    s_stock (fx, "apple", 0);

    assert_int_equal (s_run (fx, ORD_SAGA_CONFIRM, ORD_TRIGGER_CONFIRM, NULL), ORD_ESTOCK);
    ord_order_t *mine = fx->ctx.order;
    assert_int_equal (mine->status, ORD_STATUS_FAILED);
    payment_t payment = s_payment (fx, mine->provider_order_id);
    assert_int_equal (payment.captures, 0);
    assert_string_equal (payment.status, "voided");
    s_assert_stock (fx, "apple", 0, 0);
}

static void
test_cancel_of_an_initiated_order_releases_and_voids (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:4:500" };
    s_create_initiated (fx, s_order_new (fx, "alice", 1, lines));
    assert_int_equal (s_run (fx, ORD_SAGA_CANCEL, ORD_TRIGGER_CANCEL, "changed my mind"), 0);
    ord_order_t *mine = fx->ctx.order;
    assert_int_equal (mine->status, ORD_STATUS_CANCELLED);
    ord_order_t *stored = s_stored (fx, mine->id);
    assert_int_equal (stored->status, ORD_STATUS_CANCELLED);
    assert_int_equal (stored->timer_at, 0);
    ord_order_destroy (&stored);
    s_assert_stock (fx, "apple", 10, 0);
    payment_t payment = s_payment (fx, mine->provider_order_id);
    assert_string_equal (payment.status, "voided");
    assert_int_equal (payment.captures, 0);
    char history [512];
    s_history (fx, mine->id, history);
    assert_string_equal (history, "pending,payment_initiated,cancelled,");
}

static void
test_cancel_of_a_pending_order_releases (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:4:500" };
    assert_int_equal (s_create (fx, s_order_new (fx, "alice", 1, lines)), 0);
    s_assert_stock (fx, "apple", 6, 4);
    assert_int_equal (s_run (fx, ORD_SAGA_CANCEL, ORD_TRIGGER_TIMEOUT, "payment timeout"), 0);
    assert_int_equal (fx->ctx.order->status, ORD_STATUS_CANCELLED);
    assert_null (fx->ctx.order->provider_order_id);
    s_assert_stock (fx, "apple", 10, 0);
}

static void
test_stock_is_conserved_across_sagas (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 20);
    //  One confirmed (3), one cancelled (4), one declined (2 x 501 = 1002),
    //  one refused for stock (30)
    const char *confirmed [] = { "apple:3:500" };
    s_create_initiated (fx, s_order_new (fx, "alice", 1, confirmed));
    assert_int_equal (s_run (fx, ORD_SAGA_CONFIRM, ORD_TRIGGER_CONFIRM, NULL), 0);
    const char *cancelled [] = { "apple:4:500" };
    s_create_initiated (fx, s_order_new (fx, "bob", 1, cancelled));
    assert_int_equal (s_run (fx, ORD_SAGA_CANCEL, ORD_TRIGGER_CANCEL, NULL), 0);
    const char *declined [] = { "apple:2:501" };
    s_create_initiated (fx, s_order_new (fx, "carol", 1, declined));
    assert_int_equal (s_run (fx, ORD_SAGA_CONFIRM, ORD_TRIGGER_CONFIRM, NULL), ORD_EDECLINED);
    const char *too_many [] = { "apple:30:1" };
    assert_int_equal (s_create (fx, s_order_new (fx, "dave", 1, too_many)), ORD_ESTOCK);
    //  No order left pending, initiated or paid: available + reserved +
    //  confirmed quantities = what was set, and nothing reserved
    stock_t stock = s_stock (fx, "apple", -1);
    assert_int_equal (stock.reserved, 0);
    assert_int_equal (stock.available + stock.reserved + 3, 20);
    MDB_txn *txn;
    assert_int_equal (ord_store_read (fx->engine->store, &txn), 0);
    uint64_t counts [ORD_STATUS_COUNT], review;
    ord_store_status_counts (fx->engine->store, txn, counts, &review);
    ord_store_read_end (fx->engine->store, txn);
    assert_int_equal (counts [ORD_STATUS_CONFIRMED], 1);
    assert_int_equal (counts [ORD_STATUS_CANCELLED], 1);
    assert_int_equal (counts [ORD_STATUS_FAILED], 1);
    assert_int_equal (counts [ORD_STATUS_PENDING] + counts [ORD_STATUS_PAYMENT_INITIATED]
                    + counts [ORD_STATUS_PAID], 0);
    assert_int_equal (s_saga_count (fx), 0);
}


//  --------------------------------------------------------------------------
//  Small pieces

static void
test_forbidden_transition_queues_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:1:500" };
    assert_int_equal (s_create (fx, s_order_new (fx, "alice", 1, lines)), 0);
    assert_int_equal (ord_saga_transition (&fx->ctx, ORD_STATUS_SHIPPED, ORD_TRIGGER_ADVANCE,
                                           "too early"), ORD_EINVALID);
    assert_int_equal (ord_batch_size (fx->ctx.batch), 0);
    assert_int_equal (fx->ctx.order->status, ORD_STATUS_PENDING);
    assert_int_equal (fx->ctx.queued_transitions, 0);
}

static void
test_note_adds_history_without_moving (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stock (fx, "apple", 10);
    const char *lines [] = { "apple:1:500" };
    assert_int_equal (s_create (fx, s_order_new (fx, "alice", 1, lines)), 0);
    ord_saga_note (&fx->ctx, "resolved: called the customer");
    assert_int_equal (ord_saga_commit (&fx->ctx), 0);
    assert_int_equal (fx->ctx.order->version, 2);
    char history [512];
    s_history (fx, fx->ctx.order->id, history);
    assert_string_equal (history, "pending,pending,");
    ord_order_t *stored = s_stored (fx, fx->ctx.order->id);
    assert_int_equal (stored->version, 2);
    assert_int_equal (stored->status, ORD_STATUS_PENDING);
    ord_order_destroy (&stored);
}

static void
test_kind_and_phase_names (void **state)
{
    (void) state;
    assert_string_equal (ord_saga_kind_name (ORD_SAGA_CREATE), "create");
    assert_string_equal (ord_saga_kind_name (ORD_SAGA_INITIATE), "initiate_payment");
    assert_string_equal (ord_saga_kind_name ((ord_saga_kind_t) 99), "unknown");
    assert_string_equal (ord_saga_phase_name (ORD_PHASE_COMPENSATE), "compensate");
    assert_string_equal (ord_saga_phase_name (ORD_PHASE_CANCEL), "cancel");
    assert_string_equal (ord_saga_phase_name ((ord_saga_phase_t) 99), "unknown");
}

//  Each kind has its own phases: the drive asserts it, and a stored saga
//  record that mixes them is refused as unreadable
static void
test_phases_belong_to_their_kind (void **state)
{
    (void) state;
    assert_true (ord_saga_phase_valid (ORD_SAGA_CREATE, ORD_PHASE_RESERVE));
    assert_true (ord_saga_phase_valid (ORD_SAGA_CREATE, ORD_PHASE_RELEASE));
    assert_false (ord_saga_phase_valid (ORD_SAGA_CREATE, ORD_PHASE_CAPTURE));
    assert_true (ord_saga_phase_valid (ORD_SAGA_INITIATE, ORD_PHASE_CREATE_PAYMENT));
    assert_false (ord_saga_phase_valid (ORD_SAGA_INITIATE, ORD_PHASE_CANCEL));
    for (int phase = ORD_PHASE_CHECK; phase <= ORD_PHASE_DECLINED; phase++)
        assert_true (ord_saga_phase_valid (ORD_SAGA_CONFIRM, (ord_saga_phase_t) phase));
    assert_false (ord_saga_phase_valid (ORD_SAGA_CONFIRM, ORD_PHASE_RELEASE));
    assert_true (ord_saga_phase_valid (ORD_SAGA_CANCEL, ORD_PHASE_CANCEL));
    assert_false (ord_saga_phase_valid (ORD_SAGA_CANCEL, ORD_PHASE_RESERVE));
    assert_false (ord_saga_phase_valid (ORD_SAGA_NONE, ORD_PHASE_RESERVE));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_create_reserves_and_stores_a_pending_order, setup, teardown),
        cmocka_unit_test_setup_teardown (test_create_out_of_stock_releases_and_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_resumed_create_releases_what_was_reserved, setup, teardown),
        cmocka_unit_test_setup_teardown (test_resumed_create_finishes_its_saga, setup, teardown),
        cmocka_unit_test_setup_teardown (test_interrupted_create_saga_loads_with_its_order, setup, teardown),
        cmocka_unit_test_setup_teardown (test_initiate_creates_the_payment, setup, teardown),
        cmocka_unit_test_setup_teardown (test_confirm_captures_once_and_reduces_stock, setup, teardown),
        cmocka_unit_test_setup_teardown (test_resumed_confirm_captures_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_logged_saga_loads_back, setup, teardown),
        cmocka_unit_test_setup_teardown (test_initiate_logs_its_urls_in_its_first_record, setup, teardown),
        cmocka_unit_test_setup_teardown (test_confirm_declined_fails_and_releases, setup, teardown),
        cmocka_unit_test_setup_teardown (test_confirm_with_stock_gone_aborts_before_capture, setup, teardown),
        cmocka_unit_test_setup_teardown (test_cancel_of_an_initiated_order_releases_and_voids, setup, teardown),
        cmocka_unit_test_setup_teardown (test_cancel_of_a_pending_order_releases, setup, teardown),
        cmocka_unit_test_setup_teardown (test_stock_is_conserved_across_sagas, setup, teardown),
        cmocka_unit_test_setup_teardown (test_forbidden_transition_queues_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_note_adds_history_without_moving, setup, teardown),
        cmocka_unit_test (test_kind_and_phase_names),
        cmocka_unit_test (test_phases_belong_to_their_kind),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
