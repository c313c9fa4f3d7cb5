/*  payment_sandbox: the sandbox payment adapter, driven the way orderd
    drives it: dlopen the plugin, check its descriptor, start its actor on a
    fresh LMDB folder, and talk msgpack to it over a DEALER.

    A newcomer's map: tests/support/plugin_fixture.h holds the plumbing:
    fx_start () is the whole plugin start-up (handshake included), fx_call ()
    one request and its reply, and every test below is one behaviour of
    PROTOCOL.md §9 for the payment kind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <lmdb.h>
#include <sys/stat.h>
#include "orderd/plugin.h"
#include "wire.h"
#include "plugin_fixture.h"

//  --------------------------------------------------------------------------
//  Fixture: the plugin's (tests/support/plugin_fixture.h)

//  Each test gets a fresh fixture; fx_teardown () undoes either setup
static int
setup_stopped (void **state)
{
    *state = fx_new ("payment_sandbox", "payment");
    return 0;
}

static int
setup (void **state)
{
    setup_stopped (state);
    fx_start ((fixture_t *) *state);
    return 0;
}


//  --------------------------------------------------------------------------
//  Requests of the payment kind

//  create for an order; the provider_order_id goes in id (32 bytes)
static void
s_create (fixture_t *fx, const char *order_id, int64_t amount, char *id)
{
    reply_t r;
    fx_call (fx, &r, "create", "sis", "order_id", order_id, "amount", amount,
             "currency", "USD");
    assert_true (r_ok (&r));
    snprintf (id, 32, "%s", r_str (&r, "provider_order_id"));
    reply_destroy (&r);
}

//  create then capture; the capture_id goes in capture_id (32 bytes)
static void
s_create_captured (fixture_t *fx, const char *order_id, int64_t amount, char *id,
                   char *capture_id)
{
    s_create (fx, order_id, amount, id);
    reply_t r;
    fx_call (fx, &r, "capture", "ssis", "order_id", order_id,
             "provider_order_id", id, "amount", amount, "currency", "USD");
    assert_true (r_ok (&r));
    snprintf (capture_id, 32, "%s", r_str (&r, "capture_id"));
    reply_destroy (&r);
}

//  status of a payment, in *r (the caller destroys it)
static void
s_status (fixture_t *fx, reply_t *r, const char *id)
{
    fx_call (fx, r, "status", "s", "provider_order_id", id);
    assert_true (r_ok (r));
}


//  --------------------------------------------------------------------------
//  The plugin

static void
test_descriptor_is_valid (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const ord_plugin_descriptor_t *d = fx->descriptor;
    assert_int_equal (d->magic, ORD_PLUGIN_MAGIC);
    assert_int_equal (d->abi_major, ORD_PLUGIN_ABI_MAJOR);
    assert_true (d->abi_minor <= ORD_PLUGIN_ABI_MINOR);
    assert_int_equal (d->struct_size, sizeof (ord_plugin_descriptor_t));
    assert_string_equal (d->kind, "payment");
    assert_string_equal (d->name, "payment_sandbox");
    assert_non_null (d->version);
    assert_non_null (d->actor);
    for (size_t i = 0; i < sizeof d->spare / sizeof d->spare [0]; i++)
        assert_null (d->spare [i]);
}

static void
test_ping_answers_name_and_version (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "ping", "");
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "name"), "payment_sandbox");
    assert_string_equal (r_str (&r, "version"), fx->descriptor->version);
    reply_destroy (&r);
}

static void
test_bad_latency_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "latency_ms", "soon");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "latency_ms"));
    zstr_free (&reason);
}


//  --------------------------------------------------------------------------
//  create

static void
test_create_returns_ids (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "create", "sisss", "order_id", "o-1", "amount", (int64_t) 1000,
             "currency", "USD", "return_url", "https://shop/return",
             "cancel_url", "https://shop/cancel");
    assert_true (r_ok (&r));
    const char *id = r_str (&r, "provider_order_id");
    assert_int_equal (strlen (id), 4 + 16);
    assert_memory_equal (id, "SBX-", 4);
    char url [128];
    snprintf (url, sizeof url, "https://sandbox.orderd.local/checkoutnow?token=%s", id);
    assert_string_equal (r_str (&r, "approval_url"), url);
    reply_destroy (&r);

    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "created");
    assert_string_equal (r_str (&r, "order_id"), "o-1");
    assert_int_equal (r_int (&r, "amount"), 1000);
    assert_string_equal (r_str (&r, "currency"), "USD");
    assert_int_equal (r_int (&r, "captures"), 0);
    reply_destroy (&r);
}

static void
test_create_twice_creates_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char first [32], second [32], other [32];
    s_create (fx, "o-1", 1000, first);
    s_create (fx, "o-1", 1000, second);
    assert_string_equal (first, second);
    //  Another order gets another payment
    s_create (fx, "o-2", 1000, other);
    assert_string_not_equal (first, other);
}

static void
test_create_again_with_another_amount_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 1000, id);
    reply_t r;
    fx_call (fx, &r, "create", "sis", "order_id", "o-1", "amount", (int64_t) 999,
             "currency", "USD");
    assert_string_equal (r_code (&r), "idempotency_mismatch");
    reply_destroy (&r);
}

static void
test_create_with_bad_fields_stores_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "create", "is", "amount", (int64_t) 1000, "currency", "USD");
    assert_string_equal (r_code (&r), "bad_request");
    assert_non_null (strstr (r_str (&r, "error.message"), "order_id"));
    reply_destroy (&r);
    fx_call (fx, &r, "create", "sss", "order_id", "o-1", "amount", "1000",
             "currency", "USD");
    assert_string_equal (r_code (&r), "bad_request");
    assert_non_null (strstr (r_str (&r, "error.message"), "amount"));
    reply_destroy (&r);
    fx_call (fx, &r, "create", "sis", "order_id", "o-1", "amount", (int64_t) -5,
             "currency", "USD");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "create", "sis", "order_id", "o-1", "amount", (int64_t) 1000,
             "currency", "usd");
    assert_string_equal (r_code (&r), "bad_request");
    assert_non_null (strstr (r_str (&r, "error.message"), "currency"));
    reply_destroy (&r);
    //  None of them made a payment
    fx_call (fx, &r, "status", "s", "order_id", "o-1");
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
}


//  --------------------------------------------------------------------------
//  capture

static void
test_capture_moves_the_money (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    assert_memory_equal (capture_id, "CAP-", 4);
    reply_t r;
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "captured");
    assert_int_equal (r_int (&r, "captures"), 1);
    assert_int_equal (r_int (&r, "captured_amount"), 1000);
    assert_int_equal (r_int (&r, "refunded_amount"), 0);
    assert_string_equal (r_str (&r, "capture_id"), capture_id);
    reply_destroy (&r);
}

static void
test_capture_twice_moves_money_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    reply_t r;
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 1000, "currency", "USD");
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "capture_id"), capture_id);
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_int_equal (r_int (&r, "captures"), 1);
    assert_int_equal (r_int (&r, "captured_amount"), 1000);
    reply_destroy (&r);
}

static void
test_capture_of_unknown_payment_is_not_found (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1",
             "provider_order_id", "SBX-0000000000000000", "amount", (int64_t) 1000,
             "currency", "USD");
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
}

static void
test_capture_that_does_not_match_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 1000, id);
    reply_t r;
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 999, "currency", "USD");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 1000, "currency", "EUR");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-2", "provider_order_id", id,
             "amount", (int64_t) 1000, "currency", "USD");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "created");
    assert_int_equal (r_int (&r, "captures"), 0);
    reply_destroy (&r);
}

static void
test_amount_ending_in_02_is_declined_for_good (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 1202, id);
    for (int attempt = 0; attempt < 2; attempt++) {
        reply_t r;
        fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
                 "amount", (int64_t) 1202, "currency", "USD");
        assert_string_equal (r_code (&r), "payment_declined");
        reply_destroy (&r);
    }
    reply_t r;
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "declined");
    assert_int_equal (r_int (&r, "captures"), 0);
    assert_int_equal (r_int (&r, "captured_amount"), 0);
    reply_destroy (&r);
}

static void
test_amount_ending_in_03_fails_once_then_captures (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 1203, id);
    reply_t r;
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 1203, "currency", "USD");
    assert_string_equal (r_code (&r), "unavailable");
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "created");
    reply_destroy (&r);
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 1203, "currency", "USD");
    assert_true (r_ok (&r));
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "captured");
    assert_int_equal (r_int (&r, "captures"), 1);
    assert_int_equal (r_int (&r, "captured_amount"), 1203);
    reply_destroy (&r);
}

static void
test_first_failed_attempt_of_03_survives_a_restart (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 103, id);
    reply_t r;
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 103, "currency", "USD");
    assert_string_equal (r_code (&r), "unavailable");
    reply_destroy (&r);
    fx_stop (fx);
    fx_start (fx);
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 103, "currency", "USD");
    assert_true (r_ok (&r));
    reply_destroy (&r);
}


//  --------------------------------------------------------------------------
//  void

static void
test_void_cancels_a_created_payment (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 1000, id);
    for (int attempt = 0; attempt < 2; attempt++) {
        reply_t r;
        fx_call (fx, &r, "void", "s", "provider_order_id", id);
        assert_true (r_ok (&r));
        reply_destroy (&r);
    }
    reply_t r;
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "voided");
    reply_destroy (&r);
}

static void
test_capture_of_voided_payment_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32];
    s_create (fx, "o-1", 1000, id);
    reply_t r;
    fx_call (fx, &r, "void", "s", "provider_order_id", id);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 1000, "currency", "USD");
    assert_string_equal (r_code (&r), "invalid_transition");
    assert_string_equal (r_str (&r, "error.message"), "payment was voided");
    reply_destroy (&r);
}

static void
test_void_of_captured_payment_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    reply_t r;
    fx_call (fx, &r, "void", "s", "provider_order_id", id);
    assert_string_equal (r_code (&r), "invalid_transition");
    assert_string_equal (r_str (&r, "error.message"),
                         "captured payments are refunded, not voided");
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "captured");
    reply_destroy (&r);
}

static void
test_void_of_unknown_payment_is_not_found (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "void", "s", "provider_order_id", "SBX-0000000000000000");
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
}


//  --------------------------------------------------------------------------
//  refund

static void
test_refund_gives_money_back (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    reply_t r;
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 1000);
    assert_true (r_ok (&r));
    assert_memory_equal (r_str (&r, "refund_id"), "RFD-", 4);
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "refunded");
    assert_int_equal (r_int (&r, "refunded_amount"), 1000);
    assert_int_equal (r_int (&r, "captured_amount"), 1000);
    reply_destroy (&r);
}

static void
test_refund_twice_refunds_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32], refund_id [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    reply_t r;
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 600);
    assert_true (r_ok (&r));
    snprintf (refund_id, sizeof refund_id, "%s", r_str (&r, "refund_id"));
    reply_destroy (&r);
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 600);
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "refund_id"), refund_id);
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_int_equal (r_int (&r, "refunded_amount"), 600);
    reply_destroy (&r);
}

static void
test_refund_of_more_than_captured_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    reply_t r;
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 1001);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "captured");
    assert_int_equal (r_int (&r, "refunded_amount"), 0);
    reply_destroy (&r);
}

static void
test_refund_of_unknown_capture_is_not_found (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "refund", "si", "capture_id", "CAP-0000000000000000",
             "amount", (int64_t) 1);
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
}


//  --------------------------------------------------------------------------
//  status, durability, latency, the protocol

static void
test_status_of_unknown_payment_is_not_found (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "status", "s", "provider_order_id", "SBX-0000000000000000");
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
    fx_call (fx, &r, "status", "");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
}

static void
test_restart_remembers_every_payment (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id [32], capture_id [32], again [32], voided [32];
    s_create_captured (fx, "o-1", 1000, id, capture_id);
    s_create (fx, "o-2", 500, voided);
    reply_t r;
    fx_call (fx, &r, "void", "s", "provider_order_id", voided);
    assert_true (r_ok (&r));
    reply_destroy (&r);

    fx_stop (fx);
    fx_start (fx);
    s_status (fx, &r, id);
    assert_string_equal (r_str (&r, "status"), "captured");
    assert_int_equal (r_int (&r, "captures"), 1);
    reply_destroy (&r);
    s_status (fx, &r, voided);
    assert_string_equal (r_str (&r, "status"), "voided");
    reply_destroy (&r);
    //  Idempotency holds across the restart too
    s_create (fx, "o-1", 1000, again);
    assert_string_equal (again, id);
    fx_call (fx, &r, "capture", "ssis", "order_id", "o-1", "provider_order_id", id,
             "amount", (int64_t) 1000, "currency", "USD");
    assert_string_equal (r_str (&r, "capture_id"), capture_id);
    reply_destroy (&r);
}

//  Ids grow with time and past every stored id, even when the clock
//  would give a smaller one: a later payment never reuses an id
static void
test_ids_grow_across_a_restart (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char first [32], second [32], capture_id [32], third [32], capture_again [32];
    s_create (fx, "o-1", 1000, first);
    s_create_captured (fx, "o-2", 1000, second, capture_id);
    assert_true (strcmp (second, first) > 0);
    fx_stop (fx);
    fx_start (fx);
    s_create_captured (fx, "o-3", 1000, third, capture_again);
    assert_true (strcmp (third, second) > 0);
    assert_true (strcmp (capture_again, capture_id) > 0);
    assert_int_equal (strncmp (third, "SBX-", 4), 0);
    assert_int_equal (strncmp (capture_again, "CAP-", 4), 0);
}

static void
test_without_sync_a_clean_restart_still_remembers (void **state)
{
    //  orderd/sync = none: the plugin skips fsync (MDB_NOSYNC), which only
    //  risks the last writes on an OS crash, not on a restart
    fixture_t *fx = (fixture_t *) *state;
    fx->nosync = true;
    fx_start (fx);
    char id [32], again [32];
    s_create (fx, "o-1", 1000, id);
    fx_stop (fx);
    fx_start (fx);
    s_create (fx, "o-1", 1000, again);
    assert_string_equal (again, id);
}

static void
test_latency_delays_every_answer_but_loses_none (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "latency_ms", "100");
    fx_start (fx);
    const int count = 200;
    int64_t start = zclock_mono ();
    char rid [16];
    for (int i = 0; i < count; i++) {
        char order_id [32];
        snprintf (order_id, sizeof order_id, "o-%d", i);
        fx_send (fx, rid, "create", "sis", "order_id", order_id,
                 "amount", (int64_t) 1000, "currency", "USD");
    }
    for (int i = 0; i < count; i++) {
        reply_t r;
        fx_recv (fx, &r);
        if (i == 0)
            assert_true (zclock_mono () - start >= 95);
        assert_true (r_ok (&r));
        reply_destroy (&r);
    }
    //  They waited side by side, not one after the other
    assert_true (zclock_mono () - start < 2000);
}

static void
test_bad_messages_are_answered_not_dropped (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    //  Not msgpack at all
    fx_send_raw (fx, "\xc1 hello", 7);
    fx_recv (fx, &r);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    //  msgpack, but an array
    fx_send_raw (fx, "\x92\x01\x02", 3);
    fx_recv (fx, &r);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    //  No op
    fx_call (fx, &r, "", "");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    //  An op this adapter does not know
    fx_call (fx, &r, "reserve", "");
    assert_string_equal (r_code (&r), "unknown_op");
    reply_destroy (&r);
}

static void
test_other_protocol_version_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    ord_pack_kv_int (&pk, "v", 2);
    ord_pack_kv_cstr (&pk, "op", "ping");
    ord_pack_kv_cstr (&pk, "rid", "r-v2");
    fx_send_raw (fx, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    reply_t r;
    fx_recv (fx, &r);
    assert_string_equal (r_code (&r), "unsupported_version");
    assert_string_equal (r_str (&r, "rid"), "r-v2");
    reply_destroy (&r);
}

//  --------------------------------------------------------------------------
//  backup (docs/PLUGINS.md), answered by the adapter server for every
//  adapter built on it: begin holds commits and fixes what the copy holds,
//  resume lets commits go on, end says when the copy is whole.

//  Whether the payment ledger copied into `dir` knows `order_id`
static bool
s_copy_knows (const char *dir, const char *order_id)
{
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, dir, MDB_NOTLS | MDB_RDONLY, 0600), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "orders", 0, &dbi), 0);
    MDB_val key = { strlen (order_id), (void *) order_id }, value;
    int rc = mdb_get (txn, dbi, &key, &value);
    mdb_txn_abort (txn);
    mdb_env_close (env);
    return rc == 0;
}

static void
test_backup_copies_the_state_at_begin_and_holds_commits_until_resume (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "ping", "");
    assert_true (r_ok (&r));
    const msgpack_object *backup = ord_wire_find (r.body, "backup");
    assert_true (backup && backup->type == MSGPACK_OBJECT_BOOLEAN && backup->via.boolean);
    reply_destroy (&r);
    char id [32];
    s_create (fx, "o-before", 1000, id);
    char dir [128];
    snprintf (dir, sizeof dir, "%s/copy", fx->root);
    assert_int_equal (mkdir (dir, 0700), 0);
    fx_call (fx, &r, "backup", "ss", "step", "begin", "dir", dir);
    assert_true (r_ok (&r));
    reply_destroy (&r);

    //  Held: a create is taken, and waits
    char held_rid [16];
    fx_send (fx, held_rid, "create", "sis", "order_id", "o-during", "amount", (int64_t) 500,
             "currency", "USD");
    zpoller_t *poller = zpoller_new (fx->client, NULL);
    assert_null (zpoller_wait (poller, 300));
    zpoller_destroy (&poller);
    //  One backup at a time, and a relative dir is refused
    fx_call (fx, &r, "backup", "ss", "step", "begin", "dir", dir);
    assert_string_equal (r_code (&r), "invalid_transition");
    reply_destroy (&r);
    fx_call (fx, &r, "backup", "ss", "step", "begin", "dir", "copy");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);

    fx_call (fx, &r, "backup", "s", "step", "resume");
    assert_true (r_ok (&r));
    assert_true (r_int (&r, "held_us") >= 300000);
    reply_destroy (&r);
    fx_recv (fx, &r);                          //  the held create, answered now
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "rid"), held_rid);
    reply_destroy (&r);
    fx_call (fx, &r, "backup", "s", "step", "resume");
    assert_string_equal (r_code (&r), "invalid_transition");
    reply_destroy (&r);

    bool done = false;
    for (int tries = 0; !done && tries < 1000; tries++) {
        fx_call (fx, &r, "backup", "s", "step", "end");
        assert_true (r_ok (&r));
        const msgpack_object *value = ord_wire_find (r.body, "done");
        assert_true (value && value->type == MSGPACK_OBJECT_BOOLEAN);
        done = value->via.boolean;
        if (done)
            assert_true (r_int (&r, "bytes") > 0);
        reply_destroy (&r);
        if (!done)
            zclock_sleep (10);
    }
    assert_true (done);
    assert_true (s_copy_knows (dir, "o-before"));
    assert_false (s_copy_knows (dir, "o-during"));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_descriptor_is_valid, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_ping_answers_name_and_version, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_bad_latency_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_create_returns_ids, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_create_twice_creates_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_create_again_with_another_amount_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_create_with_bad_fields_stores_nothing, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_capture_moves_the_money, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_capture_twice_moves_money_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_capture_of_unknown_payment_is_not_found, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_capture_that_does_not_match_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_amount_ending_in_02_is_declined_for_good, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_amount_ending_in_03_fails_once_then_captures, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_first_failed_attempt_of_03_survives_a_restart, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_void_cancels_a_created_payment, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_capture_of_voided_payment_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_void_of_captured_payment_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_void_of_unknown_payment_is_not_found, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_refund_gives_money_back, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_refund_twice_refunds_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_refund_of_more_than_captured_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_refund_of_unknown_capture_is_not_found, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_status_of_unknown_payment_is_not_found, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_restart_remembers_every_payment, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_ids_grow_across_a_restart, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_without_sync_a_clean_restart_still_remembers, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_latency_delays_every_answer_but_loses_none, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_bad_messages_are_answered_not_dropped, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_other_protocol_version_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_backup_copies_the_state_at_begin_and_holds_commits_until_resume,
                                         setup, fx_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
