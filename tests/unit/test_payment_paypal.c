/*  payment_paypal: the PayPal adapter, driven the way orderd drives it
    (dlopen, descriptor, actor on a fresh LMDB folder, msgpack over a
    DEALER), against tests/fakes/paypal/fake_paypal.py, which this program
    starts once on a free loopback port. These are the behaviours orderd's
    saga cannot reach on its own: a capture after a void, a void after a
    capture whose answer was lost, the ledger answering without calling
    PayPal, a restart, config refusals.

    The fake's test hooks are read with a tiny HTTP/1.0 client and strstr
    (the fake writes JSON with Python's default separators). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <czmq.h>
#include "orderd/plugin.h"
#include "wire.h"
#include "plugin_fixture.h"

#define SECRET      "unit-test-secret-1234"
#define CLIENT_ID   "unit-test-client"

static int s_fake_port = 0;
static pid_t s_fake_pid = 0;
static char s_secret_file [128];

//  --------------------------------------------------------------------------
//  The fake PayPal

static void
s_fake_start (void)
{
    const char *source = getenv ("ORDERD_SOURCE");
    char script [512];
    snprintf (script, sizeof script, "%s/tests/fakes/paypal/fake_paypal.py",
              source? source: ".");
    snprintf (s_secret_file, sizeof s_secret_file, "/tmp/test_payment_paypal-%d.secret",
              (int) getpid ());
    FILE *file = fopen (s_secret_file, "w");
    if (!file)
        return;
    fprintf (file, "%s\n", SECRET);
    fclose (file);
    chmod (s_secret_file, 0600);
    int fds [2];
    if (pipe (fds))
        return;
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (fds [1], 1);
        close (fds [0]);
        close (fds [1]);
        execl ("/usr/bin/python3", "python3", script, "0", "--client-id", CLIENT_ID,
               "--secret-file", s_secret_file, (char *) NULL);
        _exit (127);
    }
    close (fds [1]);
    char line [32] = "";
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t n = read (fds [0], line + len, 1);
        if (n <= 0 || line [len] == '\n')
            break;
        len++;
    }
    line [len] = 0;
    close (fds [0]);             //  the fake prints nothing more
    s_fake_pid = pid;
    s_fake_port = atoi (line);
}

static void
s_fake_stop (void)
{
    if (s_fake_pid > 0) {
        kill (s_fake_pid, SIGTERM);
        waitpid (s_fake_pid, NULL, 0);
    }
    remove (s_secret_file);
}

//  A request to the fake's test hooks; returns the malloc'd answer body
static char *
s_fake_http (const char *method, const char *path, const char *body)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr = { 0 };
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) s_fake_port);
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    char request [1024];
    int len = snprintf (request, sizeof request,
                        "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        method, path, body? strlen (body): 0, body? body: "");
    assert_int_equal (write (fd, request, (size_t) len), len);
    size_t size = 0, capacity = 65536;
    char *answer = (char *) malloc (capacity);
    assert_non_null (answer);
    ssize_t n;
    while ((n = read (fd, answer + size, capacity - size - 1)) > 0) {
        size += (size_t) n;
        if (size + 1 >= capacity) {
            capacity *= 2;
            answer = (char *) realloc (answer, capacity);
            assert_non_null (answer);
        }
    }
    answer [size] = 0;
    close (fd);
    char *start = strstr (answer, "\r\n\r\n");
    char *copy = strdup (start? start + 4: "");
    free (answer);
    return copy;
}

static void
s_fake_post (const char *path, const char *body)
{
    char *answer = s_fake_http ("POST", path, body);
    free (answer);
}

static void
s_fake_approve (const char *id)
{
    char path [128];
    snprintf (path, sizeof path, "/test/approve/%.64s", id);
    s_fake_post (path, "{}");
}

//  An integer field of the fake's view of one order ("capture_attempts",
//  "calls"), -1 if absent
static int64_t
s_fake_order_int (const char *id, const char *key)
{
    char path [128], pattern [64];
    snprintf (path, sizeof path, "/test/orders/%s", id);
    snprintf (pattern, sizeof pattern, "\"%s\": ", key);
    char *answer = s_fake_http ("GET", path, NULL);
    char *at = strstr (answer, pattern);
    int64_t value = at? strtoll (at + strlen (pattern), NULL, 10): -1;
    free (answer);
    return value;
}


//  --------------------------------------------------------------------------
//  Fixture: the plugin's (tests/support/plugin_fixture.h), configured for
//  the fake

//  Each test gets a fresh fixture; fx_teardown () undoes either setup
static int
setup_stopped (void **state)
{
    fixture_t *fx = fx_new ("payment_paypal", "payment");
    fx->recv_timeout_ms = 10000;
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d", s_fake_port);
    zconfig_put (fx->section, "base_url", url);
    zconfig_put (fx->section, "client_id", CLIENT_ID);
    zconfig_put (fx->section, "secret_file", s_secret_file);
    zconfig_put (fx->section, "http_timeout_ms", "2000");
    *state = fx;
    return 0;
}

static int
setup (void **state)
{
    setup_stopped (state);
    if (s_fake_port <= 0)
        return 0;               //  the test skips itself
    fx_start ((fixture_t *) *state);
    return 0;
}

#define NEED_FAKE() do { if (s_fake_port <= 0) skip (); } while (0)


//  --------------------------------------------------------------------------
//  Requests of the payment kind

//  A unique order id per test run
static const char *
s_order_id (const char *tag)
{
    static char buffers [4][64];
    static int next = 0;
    char *buffer = buffers [next++ % 4];
    snprintf (buffer, 64, "o-%s-%d-%lld", tag, (int) getpid (), (long long) zclock_usecs ());
    return buffer;
}

static void
s_create (fixture_t *fx, const char *order_id, int64_t amount, char *id)
{
    reply_t r;
    fx_call (fx, &r, "create", "sis", "order_id", order_id, "amount", amount,
             "currency", "USD");
    assert_true (r_ok (&r));
    snprintf (id, 64, "%s", r_str (&r, "provider_order_id"));
    assert_true (strlen (id) > 0);
    reply_destroy (&r);
}

static void
s_capture (fixture_t *fx, reply_t *r, const char *order_id, const char *id, int64_t amount)
{
    fx_call (fx, r, "capture", "ssis", "order_id", order_id, "provider_order_id", id,
             "amount", amount, "currency", "USD");
}


//  --------------------------------------------------------------------------
//  Tests

static void
test_descriptor_is_valid (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const ord_plugin_descriptor_t *d = fx->descriptor;
    assert_int_equal (d->magic, ORD_PLUGIN_MAGIC);
    assert_int_equal (d->abi_major, ORD_PLUGIN_ABI_MAJOR);
    assert_int_equal (d->struct_size, sizeof (ord_plugin_descriptor_t));
    assert_string_equal (d->kind, "payment");
    assert_string_equal (d->name, "payment_paypal");
    for (size_t i = 0; i < sizeof d->spare / sizeof d->spare [0]; i++)
        assert_null (d->spare [i]);
}

//  Starts with the config as it is, expecting a refusal holding `expect`
static void
s_expect_refusal (fixture_t *fx, const char *expect)
{
    char *reason = fx_try_start (fx);
    if (!strstr (reason, expect))
        fail_msg ("refusal '%s' does not say '%s'", reason, expect);
    assert_null (strstr (reason, SECRET));
    zstr_free (&reason);
    zactor_destroy (&fx->actor);
}

static void
test_config_refusals (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "secret", SECRET);
    s_expect_refusal (fx, "secret: the PayPal secret never goes in the config file");
    zconfig_destroy (&fx->config);

    fx->config = zconfig_new ("root", NULL);
    fx->section = zconfig_new ("payment", fx->config);
    zconfig_put (fx->section, "secret_file", s_secret_file);
    s_expect_refusal (fx, "client_id: required");
    zconfig_put (fx->section, "client_id", CLIENT_ID);
    zconfig_put (fx->section, "base_url", "ftp://example.com");
    s_expect_refusal (fx, "base_url");
    zconfig_put (fx->section, "base_url", "https://user:pw@example.com");
    s_expect_refusal (fx, "without credentials");
    zconfig_put (fx->section, "base_url", "https://example.com/");
    zconfig_put (fx->section, "http_timeout_ms", "soon");
    s_expect_refusal (fx, "http_timeout_ms");
    zconfig_put (fx->section, "http_timeout_ms", "1000");
    zconfig_put (fx->section, "secret_file", "/nonexistent/secret");
    s_expect_refusal (fx, "secret_file: cannot read");
}

static void
test_create_twice_calls_paypal_once (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    const char *order_id = s_order_id ("create");
    char id [64], again [64];
    s_create (fx, order_id, 1000, id);
    s_create (fx, order_id, 1000, again);
    assert_string_equal (id, again);
    //  One POST went to PayPal, with the order's request id
    char pattern [128];
    snprintf (pattern, sizeof pattern, "\"request_id\": \"orderd-%s-create\"", order_id);
    char *log = s_fake_http ("GET", "/test/requests", NULL);
    int count = 0;
    for (char *at = strstr (log, pattern); at; at = strstr (at + 1, pattern))
        count++;
    free (log);
    assert_int_equal (count, 1);
    reply_t r;
    fx_call (fx, &r, "create", "sis", "order_id", order_id, "amount", (int64_t) 999,
             "currency", "USD");
    assert_string_equal (r_code (&r), "idempotency_mismatch");
    reply_destroy (&r);
    fx_call (fx, &r, "status", "s", "order_id", order_id);
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "provider_order_id"), id);
    assert_string_equal (r_str (&r, "status"), "created");
    assert_string_equal (r_str (&r, "paypal_status"), "CREATED");
    reply_destroy (&r);
}

static void
test_capture_after_void_is_refused_and_never_sent (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    const char *order_id = s_order_id ("void");
    char id [64];
    s_create (fx, order_id, 1500, id);
    s_fake_approve (id);
    reply_t r;
    fx_call (fx, &r, "void", "s", "provider_order_id", id);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    fx_call (fx, &r, "void", "s", "provider_order_id", id);      //  again: ok
    assert_true (r_ok (&r));
    reply_destroy (&r);
    s_capture (fx, &r, order_id, id, 1500);
    assert_string_equal (r_code (&r), "invalid_transition");
    assert_non_null (strstr (r_str (&r, "error.message"), "voided"));
    reply_destroy (&r);
    assert_int_equal (s_fake_order_int (id, "capture_attempts"), 0);
    fx_call (fx, &r, "status", "s", "provider_order_id", id);
    assert_string_equal (r_str (&r, "status"), "voided");
    assert_int_equal (r_int (&r, "captures"), 0);
    reply_destroy (&r);
}

static void
test_void_after_a_lost_capture_answer_is_refused (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    const char *order_id = s_order_id ("lost");
    char id [64];
    s_create (fx, order_id, 2500, id);
    s_fake_approve (id);
    //  The capture happens at PayPal, its answer comes after our 2000 ms
    //  (http_timeout_ms: long enough for valgrind on a busy machine)
    s_fake_post ("/test/delay", "{\"ms\": 2600, \"match\": \"/capture\", \"count\": 1}");
    reply_t r;
    s_capture (fx, &r, order_id, id, 2500);
    assert_string_equal (r_code (&r), "unavailable");
    reply_destroy (&r);
    assert_int_equal (s_fake_order_int (id, "capture_attempts"), 1);
    //  A void now must not promise that nothing was captured
    fx_call (fx, &r, "void", "s", "provider_order_id", id);
    assert_string_equal (r_code (&r), "invalid_transition");
    reply_destroy (&r);
    fx_call (fx, &r, "status", "s", "provider_order_id", id);
    assert_string_equal (r_str (&r, "status"), "captured");
    assert_int_equal (r_int (&r, "captured_amount"), 2500);
    char capture_id [64];
    snprintf (capture_id, sizeof capture_id, "%s", r_str (&r, "capture_id"));
    assert_true (strlen (capture_id) > 0);
    reply_destroy (&r);
    //  The capture is known now: answered from the ledger, no call
    int64_t calls = s_fake_order_int (id, "calls");
    s_capture (fx, &r, order_id, id, 2500);
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "capture_id"), capture_id);
    reply_destroy (&r);
    assert_int_equal (s_fake_order_int (id, "calls"), calls);
    assert_int_equal (s_fake_order_int (id, "capture_attempts"), 1);
}

static void
test_refund_once_and_remembered_across_a_restart (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    const char *order_id = s_order_id ("refund");
    char id [64], capture_id [64], refund_id [64];
    s_create (fx, order_id, 3000, id);
    s_fake_approve (id);
    reply_t r;
    s_capture (fx, &r, order_id, id, 3000);
    assert_true (r_ok (&r));
    snprintf (capture_id, sizeof capture_id, "%s", r_str (&r, "capture_id"));
    reply_destroy (&r);
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 3001);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 3000);
    assert_true (r_ok (&r));
    snprintf (refund_id, sizeof refund_id, "%s", r_str (&r, "refund_id"));
    reply_destroy (&r);

    fx_stop (fx);
    fx_start (fx);
    fx_call (fx, &r, "refund", "si", "capture_id", capture_id, "amount", (int64_t) 3000);
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "refund_id"), refund_id);
    reply_destroy (&r);
    s_capture (fx, &r, order_id, id, 3000);
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "capture_id"), capture_id);
    reply_destroy (&r);
    fx_call (fx, &r, "status", "s", "order_id", order_id);
    assert_string_equal (r_str (&r, "status"), "refunded");
    assert_int_equal (r_int (&r, "refunded_amount"), 3000);
    assert_string_equal (r_str (&r, "paypal_status"), "COMPLETED");
    reply_destroy (&r);
    fx_call (fx, &r, "void", "s", "provider_order_id", id);
    assert_string_equal (r_code (&r), "invalid_transition");
    reply_destroy (&r);
}

static void
test_unknown_ids_are_not_found (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    s_capture (fx, &r, "o-none", "NOSUCHORDER", 100);
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
    fx_call (fx, &r, "refund", "si", "capture_id", "NOSUCHCAPTURE", "amount", (int64_t) 1);
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
    fx_call (fx, &r, "status", "s", "order_id", "o-none");
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
    fx_call (fx, &r, "void", "s", "provider_order_id", "NOSUCHORDER");
    assert_string_equal (r_code (&r), "not_found");
    reply_destroy (&r);
}

static void
test_odd_order_ids_get_a_digest_request_id (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    char order_id [128];
    memset (order_id, 'x', 120);
    memcpy (order_id, "o/with spaces\r\n", 15);
    order_id [120] = 0;
    char id [64];
    s_create (fx, order_id, 4200, id);
    char *log = s_fake_http ("GET", "/test/requests", NULL);
    assert_non_null (strstr (log, "\"request_id\": \"orderd-h"));
    assert_null (strstr (log, "with spaces"));
    free (log);
}


//  --------------------------------------------------------------------------
//  Many calls at once

//  A counter of the fake (token_requests, unauthorized, ...)
static int64_t
s_fake_counter (const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\": ", key);
    char *answer = s_fake_http ("GET", "/test/state", NULL);
    char *at = strstr (answer, pattern);
    int64_t value = at? strtoll (at + strlen (pattern), NULL, 10): -1;
    free (answer);
    return value;
}

static void
s_fake_delay (const char *match, int ms)
{
    char body [128];
    snprintf (body, sizeof body, "{\"ms\": %d, \"match\": \"%s\", \"count\": -1}", ms, match);
    s_fake_post ("/test/delay", body);
}

//  Starts the actor with generous timeouts, for tests that load it
static void
s_start_roomy (fixture_t *fx, const char *max_in_flight)
{
    zconfig_put (fx->section, "timeout_ms", "20000");
    zconfig_put (fx->section, "http_timeout_ms", "15000");
    if (max_in_flight)
        zconfig_put (fx->section, "max_in_flight", max_in_flight);
    fx->recv_timeout_ms = 30000;
    fx_start (fx);
}

//  Receives `count` replies and checks they are all ok
static void
s_recv_ok (fixture_t *fx, int count)
{
    for (int i = 0; i < count; i++) {
        reply_t r;
        fx_recv (fx, &r);
        if (!r_ok (&r))
            fail_msg ("reply %d: %s: %s", i, r_code (&r), r_str (&r, "error.message"));
        reply_destroy (&r);
    }
}

#define S_CAPTURES  50
#define S_CAPTURE_DELAY_MS 300

static void
test_captures_overlap (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    s_start_roomy (fx, NULL);
    char order_ids [S_CAPTURES][64], ids [S_CAPTURES][64];
    for (int i = 0; i < S_CAPTURES; i++) {
        snprintf (order_ids [i], 64, "%s", s_order_id ("many"));
        s_create (fx, order_ids [i], 1000 + i * 100, ids [i]);
        s_fake_approve (ids [i]);
    }
    s_fake_delay ("/capture", S_CAPTURE_DELAY_MS);
    int64_t start = zclock_mono ();
    char rid [16];
    for (int i = 0; i < S_CAPTURES; i++)
        fx_send (fx, rid, "capture", "ssis", "order_id", order_ids [i],
                 "provider_order_id", ids [i], "amount", (int64_t) (1000 + i * 100),
                 "currency", "USD");
    s_recv_ok (fx, S_CAPTURES);
    int64_t elapsed = zclock_mono () - start;
    s_fake_delay ("", 0);
    //  One after the other would take 50 delays; side by side about one.
    //  Half of serial is a bound no loaded machine reaches by accident.
    if (elapsed >= S_CAPTURES / 2 * S_CAPTURE_DELAY_MS)
        fail_msg ("%d captures of %d ms took %" PRId64 " ms: not side by side",
                  S_CAPTURES, S_CAPTURE_DELAY_MS, elapsed);
    for (int i = 0; i < S_CAPTURES; i += 7)
        assert_int_equal (s_fake_order_int (ids [i], "capture_attempts"), 1);
}

static void
test_ping_answers_while_calls_wait_for_paypal (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    s_start_roomy (fx, NULL);
    s_fake_delay ("/v2/checkout/orders", 3000);
    char rid [16], ping_rid [16];
    for (int i = 0; i < 100; i++)
        fx_send (fx, rid, "create", "sis", "order_id", s_order_id ("slow"),
                 "amount", (int64_t) 1000, "currency", "USD");
    fx_send (fx, ping_rid, "ping", "");
    //  The ping's answer comes first: before any of the slow calls ends
    reply_t r;
    fx_recv (fx, &r);
    assert_true (r_ok (&r));
    assert_string_equal (r_str (&r, "rid"), ping_rid);
    assert_string_equal (r_str (&r, "name"), "payment_paypal");
    reply_destroy (&r);
    s_recv_ok (fx, 100);
    s_fake_delay ("", 0);
}

static void
test_one_token_for_many_calls_and_for_a_burst_of_401s (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    s_start_roomy (fx, NULL);
    //  A fresh adapter has no token: 30 calls at once, one token request
    int64_t tokens = s_fake_counter ("token_requests");
    char rid [16];
    char order_ids [30][64];
    for (int i = 0; i < 30; i++) {
        snprintf (order_ids [i], 64, "%s", s_order_id ("token"));
        fx_send (fx, rid, "create", "sis", "order_id", order_ids [i],
                 "amount", (int64_t) 1000, "currency", "USD");
    }
    s_recv_ok (fx, 30);
    assert_int_equal (s_fake_counter ("token_requests"), tokens + 1);

    //  PayPal drops every token: 30 calls at once get a 401 each, one new
    //  token, and each its answer
    s_fake_post ("/test/expire_tokens", "{}");
    int64_t refused = s_fake_counter ("unauthorized");
    for (int i = 0; i < 30; i++)
        fx_send (fx, rid, "status", "s", "order_id", order_ids [i]);
    for (int i = 0; i < 30; i++) {
        reply_t r;
        fx_recv (fx, &r);
        assert_true (r_ok (&r));
        assert_string_equal (r_str (&r, "paypal_status"), "CREATED");
        reply_destroy (&r);
    }
    assert_true (s_fake_counter ("unauthorized") > refused);
    assert_int_equal (s_fake_counter ("token_requests"), tokens + 2);
}

static void
test_429_pauses_calls_and_health_says_why (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    const char *order_id = s_order_id ("limit");
    char id [64];
    s_create (fx, order_id, 1000, id);
    s_fake_approve (id);
    s_fake_post ("/test/fail", "{\"status\": 429, \"match\": \"/capture\", \"count\": 1, "
                 "\"retry_after\": 30}");
    reply_t r;
    s_capture (fx, &r, order_id, id, 1000);
    assert_string_equal (r_code (&r), "unavailable");
    assert_non_null (strstr (r_str (&r, "error.message"), "429"));
    reply_destroy (&r);
    //  Health names the reason
    fx_call (fx, &r, "ping", "");
    assert_true (r_ok (&r));
    assert_non_null (strstr (r_str (&r, "degraded"), "429"));
    reply_destroy (&r);
    //  A new call cannot wait 30 s: unavailable at once, nothing sent
    const char *other = s_order_id ("limit2");
    fx_call (fx, &r, "create", "sis", "order_id", other, "amount", (int64_t) 1000,
             "currency", "USD");
    assert_string_equal (r_code (&r), "unavailable");
    assert_non_null (strstr (r_str (&r, "error.message"), "Retry-After"));
    reply_destroy (&r);
    char pattern [128];
    snprintf (pattern, sizeof pattern, "orderd-%s-create", other);
    char *log = s_fake_http ("GET", "/test/requests", NULL);
    assert_null (strstr (log, pattern));
    free (log);
}

static void
test_429_short_pause_is_waited_out (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    s_start_roomy (fx, NULL);
    const char *order_id = s_order_id ("pause");
    char id [64];
    s_create (fx, order_id, 1000, id);
    s_fake_approve (id);
    s_fake_post ("/test/fail", "{\"status\": 429, \"match\": \"/capture\", \"count\": 1, "
                 "\"retry_after\": 1}");
    reply_t r;
    s_capture (fx, &r, order_id, id, 1000);
    assert_string_equal (r_code (&r), "unavailable");
    reply_destroy (&r);
    //  The next call waits for the second PayPal asked for, then goes
    int64_t start = zclock_mono ();
    s_capture (fx, &r, order_id, id, 1000);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    assert_true (zclock_mono () - start >= 800);
    fx_call (fx, &r, "ping", "");
    assert_string_equal (r_str (&r, "degraded"), "");
    reply_destroy (&r);
}

static void
test_calls_of_one_order_stay_in_order (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    s_start_roomy (fx, NULL);
    const char *order_id = s_order_id ("inorder");
    char id [64];
    s_create (fx, order_id, 1000, id);
    s_fake_approve (id);
    s_fake_delay ("/capture", 500);
    //  A void sent right behind a slow capture runs after it (and is then
    //  refused: captured payments are refunded), never before it
    char capture_rid [16], void_rid [16];
    fx_send (fx, capture_rid, "capture", "ssis", "order_id", order_id,
             "provider_order_id", id, "amount", (int64_t) 1000, "currency", "USD");
    fx_send (fx, void_rid, "void", "s", "provider_order_id", id);
    reply_t r;
    fx_recv (fx, &r);
    assert_string_equal (r_str (&r, "rid"), capture_rid);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    fx_recv (fx, &r);
    assert_string_equal (r_str (&r, "rid"), void_rid);
    assert_string_equal (r_code (&r), "invalid_transition");
    reply_destroy (&r);
    s_fake_delay ("", 0);
}

static void
test_calls_past_their_deadline_are_unavailable (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    //  orderd waits 2 s; PayPal answers in 6: one call on the wire, one
    //  queued behind it (max_in_flight 1), sent when the first gives up if
    //  it has time left
    zconfig_put (fx->section, "timeout_ms", "2000");
    zconfig_put (fx->section, "http_timeout_ms", "5000");
    zconfig_put (fx->section, "max_in_flight", "1");
    fx->recv_timeout_ms = 10000;
    fx_start (fx);
    s_fake_delay ("/v2/checkout/orders", 6000);
    char rid [16];
    int64_t start = zclock_mono ();
    for (int i = 0; i < 2; i++)
        fx_send (fx, rid, "create", "sis", "order_id", s_order_id ("late"),
                 "amount", (int64_t) 1000, "currency", "USD");
    char messages [2][256];
    for (int i = 0; i < 2; i++) {
        reply_t r;
        fx_recv (fx, &r);
        assert_string_equal (r_code (&r), "unavailable");
        snprintf (messages [i], sizeof messages [i], "%s", r_str (&r, "error.message"));
        reply_destroy (&r);
    }
    s_fake_delay ("", 0);
    //  Queued or on the wire, each ends at its own deadline
    for (int i = 0; i < 2; i++)
        if (!strstr (messages [i], "deadline"))
            fail_msg ("call %d: '%s' does not name the deadline", i, messages [i]);
    //  Answered by the deadline, not after http_timeout_ms nor PayPal
    assert_true (zclock_mono () - start < 5000);
}

//  backup (docs/PLUGINS.md): the PayPal adapter's own loop takes it too:
//  begin holds its commits, resume lets them go, end says the copy is whole
static void
test_backup_holds_commits_and_copies_the_ledger (void **state)
{
    NEED_FAKE ();
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "ping", "");
    const msgpack_object *backup = ord_wire_find (r.body, "backup");
    assert_true (backup && backup->type == MSGPACK_OBJECT_BOOLEAN && backup->via.boolean);
    reply_destroy (&r);
    char dir [128];
    snprintf (dir, sizeof dir, "%s/copy", fx->root);
    assert_int_equal (mkdir (dir, 0700), 0);
    fx_call (fx, &r, "backup", "ss", "step", "begin", "dir", dir);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    char held_rid [16];
    fx_send (fx, held_rid, "create", "sis", "order_id", s_order_id ("held"),
             "amount", (int64_t) 1000, "currency", "USD");
    zpoller_t *poller = zpoller_new (fx->client, NULL);
    assert_null (zpoller_wait (poller, 300));          //  held: not committed, not answered
    zpoller_destroy (&poller);
    fx_call (fx, &r, "backup", "s", "step", "resume");
    assert_true (r_ok (&r));
    reply_destroy (&r);
    fx_recv (fx, &r);
    assert_string_equal (r_str (&r, "rid"), held_rid);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    bool done = false;
    for (int tries = 0; !done && tries < 1000; tries++) {
        fx_call (fx, &r, "backup", "s", "step", "end");
        assert_true (r_ok (&r));
        const msgpack_object *value = ord_wire_find (r.body, "done");
        done = value && value->type == MSGPACK_OBJECT_BOOLEAN && value->via.boolean;
        reply_destroy (&r);
        if (!done)
            zclock_sleep (10);
    }
    assert_true (done);
    char path [160];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal (access (path, R_OK), 0);
}

int
main (void)
{
    s_fake_start ();
    if (s_fake_port <= 0)
        fprintf (stderr, "test_payment_paypal: the fake PayPal did not start: "
                         "tests that need it are skipped\n");
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_descriptor_is_valid, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_config_refusals, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_create_twice_calls_paypal_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_capture_after_void_is_refused_and_never_sent, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_void_after_a_lost_capture_answer_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_refund_once_and_remembered_across_a_restart, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_ids_are_not_found, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_odd_order_ids_get_a_digest_request_id, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_captures_overlap, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_ping_answers_while_calls_wait_for_paypal, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_backup_holds_commits_and_copies_the_ledger, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_one_token_for_many_calls_and_for_a_burst_of_401s, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_429_pauses_calls_and_health_says_why, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_429_short_pause_is_waited_out, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_calls_of_one_order_stay_in_order, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_calls_past_their_deadline_are_unavailable, setup_stopped, fx_teardown),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    s_fake_stop ();
    return rc;
}
