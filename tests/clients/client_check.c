/*  client_check: the C client library (include/orderd/client.h) against
    real daemons, through its public API only. Run by
    tests/integration/test_client_c.py, which starts the daemons and puts
    their endpoints, keys and skus in the environment (client_driver.py).
    cmocka; each test is one thing a cart does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "orderd/client.h"

static int s_slow = 1;
static ordc_curve_t s_curve;

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    if (!value || !*value) {
        fprintf (stderr, "client_check: $%s is not set (run test_client_c.py)\n", name);
        exit (2);
    }
    return value;
}

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_unique (char *buffer, size_t size, const char *prefix)
{
    static int sequence;
    snprintf (buffer, size, "%s%d-%lld-%d", prefix, (int) getpid (),
              (long long) s_now_ms (), ++sequence);
}

static ordc_client_t *
s_cart_client (void)
{
    ordc_client_t *client = ordc_client_new (s_env ("ORDERD_SERVICE"), &s_curve);
    assert_non_null (client);
    ordc_client_set_timeout (client, 5000 * s_slow);
    return client;
}

//  A create body: `quantity` x sku at unit_price, shipping 500
static void
s_create_body (ordc_body_t *body, const char *user, const char *sku, int64_t quantity,
               int64_t unit_price)
{
    char cart_id [64];
    s_unique (cart_id, sizeof cart_id, "cart-");
    ordc_body_str (body, "user_id", user);
    ordc_body_str (body, "cart_id", cart_id);
    msgpack_packer *pk = ordc_body_value (body, "cart_data");
    msgpack_pack_map (pk, 4);
    msgpack_pack_str_with_body (pk, "products", 8);
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 5);
    msgpack_pack_str_with_body (pk, "product_id", 10);
    msgpack_pack_str_with_body (pk, "p1", 2);
    msgpack_pack_str_with_body (pk, "sku", 3);
    msgpack_pack_str_with_body (pk, sku, strlen (sku));
    msgpack_pack_str_with_body (pk, "name", 4);
    msgpack_pack_str_with_body (pk, "Apple", 5);
    msgpack_pack_str_with_body (pk, "quantity", 8);
    msgpack_pack_int64 (pk, quantity);
    msgpack_pack_str_with_body (pk, "unit_price", 10);
    msgpack_pack_int64 (pk, unit_price);
    msgpack_pack_str_with_body (pk, "shipping_address", 16);
    msgpack_pack_map (pk, 1);
    msgpack_pack_str_with_body (pk, "city", 4);
    msgpack_pack_str_with_body (pk, "Lyon", 4);
    msgpack_pack_str_with_body (pk, "delivery_mode", 13);
    msgpack_pack_str_with_body (pk, "standard", 8);
    msgpack_pack_str_with_body (pk, "costs", 5);
    msgpack_pack_map (pk, 5);
    msgpack_pack_str_with_body (pk, "subtotal", 8);
    msgpack_pack_int64 (pk, quantity * unit_price);
    msgpack_pack_str_with_body (pk, "shipping", 8);
    msgpack_pack_int64 (pk, 500);
    msgpack_pack_str_with_body (pk, "tax", 3);
    msgpack_pack_int64 (pk, 0);
    msgpack_pack_str_with_body (pk, "discount", 8);
    msgpack_pack_int64 (pk, 0);
    msgpack_pack_str_with_body (pk, "total", 5);
    msgpack_pack_int64 (pk, quantity * unit_price + 500);
}

//  One call on an order; returns its code, the reply left in *reply
static ordc_code_t
s_order_call (ordc_client_t *client, const char *op, const char *user, const char *order_id,
              const char *provider, const ordc_options_t *options, ordc_reply_t *reply)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "user_id", user);
    ordc_body_str (&body, "order_id", order_id);
    if (provider)
        ordc_body_str (&body, "provider_order_id", provider);
    ordc_code_t code = ordc_call (client, op, &body, options, reply);
    ordc_body_destroy (&body);
    return code;
}

//  Creates an order; fills its id. Returns the create's code.
static ordc_code_t
s_create (ordc_client_t *client, const char *user, const char *sku, int64_t quantity,
          int64_t unit_price, char order_id [32], ordc_reply_t *reply)
{
    ordc_body_t body;
    ordc_body_init (&body);
    s_create_body (&body, user, sku, quantity, unit_price);
    ordc_code_t code = ordc_call (client, "create", &body, NULL, reply);
    ordc_body_destroy (&body);
    if (code == ORDC_OK)
        assert_true (ordc_copy_str (reply->body, "order.id", order_id, 32) > 0);
    return code;
}

//  Create, initiate, confirm; leaves the confirm's reply
static void
s_lifecycle (ordc_client_t *client, const char *user, int64_t unit_price, char order_id [32],
             ordc_reply_t *reply)
{
    assert_int_equal (s_create (client, user, s_env ("ORDERD_SKU"), 2, unit_price, order_id,
                                reply), ORDC_OK);
    assert_int_equal (s_order_call (client, "initiate_payment", user, order_id, NULL, NULL,
                                    reply), ORDC_OK);
    char provider [128];
    assert_true (ordc_copy_str (reply->body, "order.payment.provider_order_id",
                                provider, sizeof provider) > 0);
    s_order_call (client, "confirm", user, order_id, provider, NULL, reply);
}

static void
s_assert_status (const ordc_reply_t *reply, const char *status)
{
    char got [32];
    ordc_copy_str (reply->body, "order.status", got, sizeof got);
    assert_string_equal (got, status);
}

//  ---------------------------------------------------------------------

static void
test_lifecycle (void **state)
{
    (void) state;
    ordc_client_t *client = s_cart_client ();
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    char order_id [32];
    s_lifecycle (client, "c-life", 150, order_id, &reply);
    assert_int_equal (reply.code, ORDC_OK);
    assert_true (reply.ok);
    s_assert_status (&reply, "confirmed");
    //  get with its history, oldest first
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "user_id", "c-life");
    ordc_body_str (&body, "order_id", order_id);
    ordc_body_bool (&body, "history", true);
    assert_int_equal (ordc_call (client, "get", &body, NULL, &reply), ORDC_OK);
    const msgpack_object *history = ordc_find (reply.body, "history");
    assert_non_null (history);
    assert_int_equal (history->type, MSGPACK_OBJECT_ARRAY);
    assert_true (history->via.array.size >= 3);
    size_t len;
    const char *first = ordc_str (ordc_find (&history->via.array.ptr [0], "to"), &len);
    assert_true (first && len == 7 && memcmp (first, "pending", 7) == 0);
    ordc_body_destroy (&body);
    //  list: the user's orders, newest first
    ordc_body_init (&body);
    ordc_body_str (&body, "user_id", "c-life");
    assert_int_equal (ordc_call (client, "list", &body, NULL, &reply), ORDC_OK);
    const msgpack_object *orders = ordc_find (reply.body, "orders");
    assert_true (orders && orders->type == MSGPACK_OBJECT_ARRAY && orders->via.array.size >= 1);
    ordc_body_destroy (&body);
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
}

static void
test_events (void **state)
{
    (void) state;
    ordc_events_t *events = ordc_events_new (s_env ("ORDERD_EVENTS"), "order.");
    assert_non_null (events);
    ordc_client_t *client = s_cart_client ();
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_event_t event;
    char order_id [32];
    //  A SUB sees only what is published once it is connected: create
    //  orders until one shows, then follow a whole lifecycle
    bool joined = false;
    for (int attempt = 0; attempt < 50 && !joined; attempt++) {
        assert_int_equal (s_create (client, "c-events", s_env ("ORDERD_SKU"), 1, 100,
                                    order_id, &reply), ORDC_OK);
        joined = ordc_events_recv (events, 200 * s_slow, &event) == ORDC_OK;
    }
    assert_true (joined);
    while (ordc_events_recv (events, 100, &event) == ORDC_OK)
        ;
    s_lifecycle (client, "c-events", 170, order_id, &reply);
    s_assert_status (&reply, "confirmed");
    const char *expected [] = { "pending", "payment_initiated", "confirmed" };
    size_t next = 0;
    int64_t last_seq = 0;
    while (next < 3) {
        assert_int_equal (ordc_events_recv (events, 5000 * s_slow, &event), ORDC_OK);
        if (strcmp (event.order_id, order_id) != 0)
            continue;
        assert_true (event.seq > last_seq);
        last_seq = event.seq;
        assert_string_equal (event.user_id, "c-events");
        assert_true (event.at_ms > 0);
        char topic [48];
        snprintf (topic, sizeof topic, "order.%s", event.to);
        assert_string_equal (event.topic, topic);
        if (next == 0)
            assert_string_equal (event.from, "");
        if (strcmp (event.to, expected [next]) == 0)
            next++;
    }
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
    ordc_events_destroy (&events);
}

//  Each refusal a cart can meet: its code, typed, and whether to retry
static void
test_errors (void **state)
{
    (void) state;
    ordc_client_t *client = s_cart_client ();
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_body_t body;
    char order_id [32], other [32];
    const char *sku = s_env ("ORDERD_SKU");

    //  bad_request: the message names the field
    ordc_body_init (&body);
    s_create_body (&body, "c-err", sku, 0, 100);
    assert_int_equal (ordc_call (client, "create", &body, NULL, &reply), ORDC_BAD_REQUEST);
    assert_false (reply.retryable);
    assert_non_null (strstr (reply.message, "quantity"));
    ordc_body_destroy (&body);

    //  out_of_stock: nothing changed
    assert_int_equal (s_create (client, "c-err", s_env ("ORDERD_SCARCE_SKU"), 5, 100,
                                order_id, &reply), ORDC_OUT_OF_STOCK);
    assert_string_equal (reply.code_text, "out_of_stock");
    assert_false (reply.retryable);

    //  unknown_product: a sku never stocked
    assert_int_equal (s_create (client, "c-err", "c-no-such-sku", 1, 100, order_id, &reply),
                      ORDC_UNKNOWN_PRODUCT);

    //  not_found, forbidden
    assert_int_equal (s_order_call (client, "get", "c-err", "o0000000000000001", NULL, NULL,
                                    &reply), ORDC_NOT_FOUND);
    assert_int_equal (s_create (client, "c-err", sku, 1, 100, order_id, &reply), ORDC_OK);
    assert_int_equal (s_order_call (client, "get", "c-someone-else", order_id, NULL, NULL,
                                    &reply), ORDC_FORBIDDEN);

    //  invalid_transition: confirm before any payment, cancel twice
    assert_int_equal (s_order_call (client, "confirm", "c-err", order_id, "none", NULL,
                                    &reply), ORDC_INVALID_TRANSITION);
    assert_int_equal (s_order_call (client, "cancel", "c-err", order_id, NULL, NULL, &reply),
                      ORDC_OK);
    assert_int_equal (s_order_call (client, "cancel", "c-err", order_id, NULL, NULL, &reply),
                      ORDC_INVALID_TRANSITION);

    //  idempotency_mismatch: one key, two different carts
    char key [64];
    s_unique (key, sizeof key, "c-key-");
    ordc_options_t keyed = { .idem = key };
    ordc_body_init (&body);
    s_create_body (&body, "c-err", sku, 1, 100);
    assert_int_equal (ordc_call (client, "create", &body, &keyed, &reply), ORDC_OK);
    ordc_copy_str (reply.body, "order.id", order_id, sizeof order_id);
    //  ... the same key and body again: the first answer
    assert_int_equal (ordc_call (client, "create", &body, &keyed, &reply), ORDC_OK);
    ordc_copy_str (reply.body, "order.id", other, sizeof other);
    assert_string_equal (order_id, other);
    ordc_body_destroy (&body);
    ordc_body_init (&body);
    s_create_body (&body, "c-err", sku, 2, 100);
    assert_int_equal (ordc_call (client, "create", &body, &keyed, &reply),
                      ORDC_IDEMPOTENCY_MISMATCH);
    ordc_body_destroy (&body);

    //  payment_declined: the sandbox declines totals ending in 02
    s_lifecycle (client, "c-err", 151, order_id, &reply);      //  2 x 151 + 500 = 802
    assert_int_equal (reply.code, ORDC_PAYMENT_DECLINED);
    assert_false (reply.retryable);

    //  too_large: orderd cannot read the body, so its reply has no rid;
    //  the first frame still finds the call (not a timeout)
    size_t big = 70000;
    char *filler = (char *) malloc (big + 1);
    assert_non_null (filler);
    memset (filler, 'x', big);
    filler [big] = 0;
    ordc_body_init (&body);
    s_create_body (&body, "c-err", sku, 1, 100);
    ordc_body_str (&body, "note", filler);
    assert_int_equal (ordc_call (client, "create", &body, NULL, &reply), ORDC_TOO_LARGE);
    assert_true (ordc_find (reply.body, "rid")->type == MSGPACK_OBJECT_NIL);
    ordc_body_destroy (&body);
    free (filler);

    //  unknown_op
    assert_int_equal (ordc_call (client, "frobnicate", NULL, NULL, &reply), ORDC_UNKNOWN_OP);

    //  deadline_exceeded: orderd refuses a request whose deadline has passed
    //  (sent through ordc_send, since ordc_call would not send it at all)
    ordc_options_t late = { .deadline_ms = s_now_ms () - 1000 };
    ordc_body_init (&body);
    s_create_body (&body, "c-late", sku, 1, 100);
    assert_int_equal (ordc_send (client, "create", &body, &late, 77), ORDC_OK);
    int64_t until = s_now_ms () + 5000 * s_slow;
    ordc_code_t rc;
    while ((rc = ordc_recv (client, &reply)) == ORDC_AGAIN && s_now_ms () < until)
        usleep (1000);
    assert_int_equal (rc, ORDC_OK);
    assert_int_equal (reply.tag, 77);
    assert_int_equal (reply.code, ORDC_DEADLINE_EXCEEDED);
    assert_false (reply.retryable);
    //  ... and ordc_call gives up by itself once its deadline is gone
    assert_int_equal (ordc_call (client, "create", &body, &late, &reply),
                      ORDC_DEADLINE_EXCEEDED);
    assert_null (reply.body);
    ordc_body_destroy (&body);
    ordc_body_init (&body);
    ordc_body_str (&body, "user_id", "c-late");
    assert_int_equal (ordc_call (client, "list", &body, NULL, &reply), ORDC_OK);
    assert_int_equal (ordc_find (reply.body, "orders")->via.array.size, 0);
    ordc_body_destroy (&body);

    //  The codes a cart cannot easily provoke are typed all the same
    assert_int_equal (ordc_code_of ("busy", 4), ORDC_BUSY);
    assert_true (ordc_code_retryable (ORDC_BUSY));
    assert_true (ordc_code_retryable (ORDC_UNAVAILABLE));
    assert_true (ordc_code_retryable (ORDC_INTERNAL));
    assert_false (ordc_code_retryable (ORDC_DEADLINE_EXCEEDED));
    assert_int_equal (ordc_code_of ("something_new", 13), ORDC_UNKNOWN_CODE);
    assert_string_equal (ordc_code_name (ORDC_DEADLINE_EXCEEDED), "deadline_exceeded");
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
}

//  Nobody answers: a read is retried on a new socket, then `timeout`
//  (retryable); a write without its key is sent once
static void
test_timeout (void **state)
{
    (void) state;
    ordc_client_t *client = ordc_client_new ("tcp://127.0.0.1:1", NULL);
    assert_non_null (client);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_options_t quick = { .timeout_ms = 100, .retries = 2 };
    assert_int_equal (ordc_call (client, "health", NULL, &quick, &reply), ORDC_TIMEOUT);
    assert_true (reply.retryable);
    assert_non_null (strstr (reply.message, "3 attempts"));
    ordc_options_t unkeyed = { .timeout_ms = 100, .retries = 2, .no_idem = true };
    assert_int_equal (ordc_call (client, "cancel", NULL, &unkeyed, &reply), ORDC_TIMEOUT);
    assert_non_null (strstr (reply.message, "1 attempt;"));
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
    //  A wrong server key: a timeout, and the handshake says why
    ordc_curve_t wrong = s_curve;
    memcpy (wrong.server_key, wrong.public_key, sizeof wrong.server_key);
    client = ordc_client_new (s_env ("ORDERD_SERVICE"), &wrong);
    assert_non_null (client);
    ordc_reply_init (&reply);
    ordc_options_t once = { .timeout_ms = 300, .retries = -1 };
    assert_int_equal (ordc_call (client, "health", NULL, &once, &reply), ORDC_TIMEOUT);
    assert_int_equal (ordc_client_handshake (client), ORDC_HANDSHAKE_FAILED);
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
}

//  orderd SIGKILLs itself in the middle of the create, then of the confirm
//  (client_driver.py restarts it): the retries carry the same key, find
//  the new orderd, and end with one order, captured once
static void
test_crash (void **state)
{
    (void) state;
    ordc_client_t *client = ordc_client_new (s_env ("ORDERD_CRASH_SERVICE"), NULL);
    assert_non_null (client);
    const char *user = s_env ("ORDERD_CRASH_USER");
    char key [64], order_id [32], again [32], provider [128];
    s_unique (key, sizeof key, "c-crash-");
    ordc_options_t patient = { .timeout_ms = 1000 * s_slow, .retries = 100,
                               .deadline_ms = s_now_ms () + 60000 * s_slow, .idem = key };
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_body_t body;
    ordc_body_init (&body);
    s_create_body (&body, user, s_env ("ORDERD_CRASH_SKU"), 2, 1000);
    assert_int_equal (ordc_call (client, "create", &body, &patient, &reply), ORDC_OK);
    ordc_copy_str (reply.body, "order.id", order_id, sizeof order_id);
    patient.idem = NULL;
    assert_int_equal (s_order_call (client, "initiate_payment", user, order_id, NULL,
                                    &patient, &reply), ORDC_OK);
    ordc_copy_str (reply.body, "order.payment.provider_order_id", provider, sizeof provider);
    assert_int_equal (s_order_call (client, "confirm", user, order_id, provider, &patient,
                                    &reply), ORDC_OK);
    s_assert_status (&reply, "confirmed");
    //  The create again with its key: the first answer, not a new order
    patient.idem = key;
    assert_int_equal (ordc_call (client, "create", &body, &patient, &reply), ORDC_OK);
    ordc_copy_str (reply.body, "order.id", again, sizeof again);
    assert_string_equal (again, order_id);
    s_assert_status (&reply, "pending");
    ordc_body_destroy (&body);
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
}

int
main (void)
{
    const char *slow = getenv ("ORDERD_SLOW");
    s_slow = slow && atoi (slow) > 0? atoi (slow): 1;
    char why [512];
    if (ordc_curve_load (&s_curve, s_env ("ORDERD_CLIENT_CERT"), s_env ("ORDERD_SERVER_KEY"),
                         why, sizeof why) != ORDC_OK) {
        fprintf (stderr, "client_check: %s\n", why);
        return 2;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_crash),
        cmocka_unit_test (test_lifecycle),
        cmocka_unit_test (test_events),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_timeout),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
