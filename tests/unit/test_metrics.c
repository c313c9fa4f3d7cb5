/*  metrics: orderd's Prometheus registry, exposition and HTTP server.

    A newcomer's map: orderd makes one registry (ord_metrics_new), hands it
    to the store writer, the adapters and the front, whose hooks
    (ord_metrics_request, _transition, _adapter_call, _commit, ...) count
    into it with relaxed atomic adds; ord_metrics_listen serves
    ord_metrics_render's text on GET /metrics. These tests record through
    the hooks, render, and read the numbers back from the text, as
    Prometheus would; the writer's hook runs against a real LMDB store and
    the server is asked over a real TCP socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <sys/stat.h>
#include <math.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include "actor.h"
#include "metrics.h"
#include "store.h"
#include "temp_dir.h"

//  The value of the series written exactly as `series` in the text, or
//  -1 when the text has no such series.
static double
s_value (const char *text, const char *series)
{
    size_t length = strlen (series);
    for (const char *line = text; line && *line; line = strchr (line, '\n'), line = line? line + 1: NULL)
        if (strncmp (line, series, length) == 0 && line [length] == ' ')
            return atof (line + length + 1);
    return -1;
}

static double
s_rendered (ord_metrics_t *metrics, const char *series)
{
    char *text = ord_metrics_render (metrics, NULL, NULL);
    double value = s_value (text, series);
    free (text);
    return value;
}

//  A request answered as orderd answers it: ok, or an error with its code
static void
s_request (ord_metrics_t *metrics, ord_op_t op, int rc, int64_t duration_us)
{
    ord_str_t rid = { "r-1", 3 };
    ord_request_t *request = ord_request_new (ORD_DOOR_SERVICE);
    request->rid = rid;
    ord_request_answer (request, rc, rc? "refused": NULL, NULL);
    ord_metrics_request (metrics, (int) op, request->result, duration_us);
    ord_request_destroy (&request);
}


//  --------------------------------------------------------------------------
//  The registry

static void
test_a_new_registry_renders_every_family (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    char *text = ord_metrics_render (metrics, NULL, NULL);
    const char *families [] = {
        "orderd_requests_total counter", "orderd_request_duration_seconds histogram",
        "orderd_transitions_total counter", "orderd_sagas_suspended_total counter",
        "orderd_compensations_total counter", "orderd_adapter_calls_total counter",
        "orderd_adapter_call_duration_seconds histogram", "orderd_store_commits_total counter",
        "orderd_store_commit_duration_seconds histogram",
        "orderd_store_transitions_per_commit histogram", "orderd_live_actors gauge",
        "orderd_queue_depth gauge", "process_cpu_seconds_total counter",
        "process_resident_memory_bytes gauge", "process_open_fds gauge",
        "process_start_time_seconds gauge", NULL
    };
    for (int i = 0; families [i]; i++) {
        char type [128];
        snprintf (type, sizeof type, "# TYPE %s\n", families [i]);
        if (!strstr (text, type))
            fail_msg ("no '%s' in the exposition", families [i]);
    }
    //  Without a collect callback there is nothing of the store to show
    assert_null (strstr (text, "orderd_orders{"));
    assert_true (s_value (text, "orderd_sagas_suspended_total{kind=\"confirm\"}") == 0);
    assert_true (s_value (text, "orderd_store_commits_total") == 0);
    assert_true (s_value (text, "process_open_fds") > 2);
    //  This process started within the last hour
    double started = s_value (text, "process_start_time_seconds");
    assert_true (started > (double) (time (NULL) - 3600) && started <= (double) time (NULL) + 1);
    free (text);
    ord_metrics_destroy (&metrics);
    assert_null (metrics);
    ord_metrics_destroy (&metrics);
}

static void
test_requests_count_by_op_and_the_reply_result (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    s_request (metrics, ORD_OP_GET, 0, 10);
    s_request (metrics, ORD_OP_GET, 0, 10);
    s_request (metrics, ORD_OP_GET, ORD_ENOTFOUND, 10);
    s_request (metrics, ORD_OP_CONFIRM, ORD_ESTOCK, 10);
    s_request (metrics, ORD_OP_CREATE, ORD_ESTOREFULL, 10);      //  wire code unavailable
    s_request (metrics, ORD_OP_COUNT, ORD_EUNKNOWNOP, 10);       //  op not known yet
    char *text = ord_metrics_render (metrics, NULL, NULL);
    assert_true (s_value (text, "orderd_requests_total{op=\"get\",result=\"ok\"}") == 2);
    assert_true (s_value (text, "orderd_requests_total{op=\"get\",result=\"not_found\"}") == 1);
    assert_true (s_value (text, "orderd_requests_total{op=\"confirm\",result=\"out_of_stock\"}") == 1);
    assert_true (s_value (text, "orderd_requests_total{op=\"create\",result=\"unavailable\"}") == 1);
    assert_true (s_value (text, "orderd_requests_total{op=\"unknown\",result=\"unknown_op\"}") == 1);
    //  Series appear once they count something
    assert_true (s_value (text, "orderd_requests_total{op=\"confirm\",result=\"ok\"}") == -1);
    assert_true (s_value (text, "orderd_request_duration_seconds_count{op=\"get\"}") == 3);
    free (text);
    ord_metrics_destroy (&metrics);
}

static void
test_a_result_without_a_wire_code_counts_as_internal (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    ord_metrics_request (metrics, ORD_OP_GET, ORD_EINTERNAL, 10);
    ord_metrics_request (metrics, ORD_OP_GET, ORD_ELAST - 1, 10);      //  past the table
    ord_metrics_request (metrics, ORD_OP_GET, EINVAL, 10);             //  errno-style
    //  A request no reply was made for counts as internal too
    ord_request_t *request = ord_request_new (ORD_DOOR_SERVICE);
    ord_metrics_request (metrics, ORD_OP_GET, request->result, 10);
    ord_request_destroy (&request);
    assert_true (s_rendered (metrics, "orderd_requests_total{op=\"get\",result=\"internal\"}") == 4);
    ord_metrics_destroy (&metrics);
}

static void
test_a_timed_out_request_counts_as_unavailable (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    s_request (metrics, ORD_OP_CONFIRM, ORD_ETIMEOUT, 10);
    assert_true (s_rendered (metrics, "orderd_requests_total{op=\"confirm\",result=\"unavailable\"}") == 1);
    ord_metrics_destroy (&metrics);
}

static void
test_histogram_buckets_are_cumulative_with_sum_and_count (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    s_request (metrics, ORD_OP_LIST, 0, 50);           //  0.00005 s
    s_request (metrics, ORD_OP_LIST, 0, 100);          //  on a bound: counted at or below it
    s_request (metrics, ORD_OP_LIST, 0, 300);
    s_request (metrics, ORD_OP_LIST, 0, 20000000);     //  20 s: only +Inf
    s_request (metrics, ORD_OP_LIST, 0, -5);           //  a clock step back counts as 0
    char *text = ord_metrics_render (metrics, NULL, NULL);
    const char *name = "orderd_request_duration_seconds";
    char series [128];
    const struct { const char *le; double count; } expected [] = {
        { "0.0001", 3 }, { "0.00025", 3 }, { "0.0005", 4 }, { "10", 4 }, { "+Inf", 5 }
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected [0]; i++) {
        snprintf (series, sizeof series, "%s_bucket{op=\"list\",le=\"%s\"}", name, expected [i].le);
        if (s_value (text, series) != expected [i].count)
            fail_msg ("%s is %g, not %g", series, s_value (text, series), expected [i].count);
    }
    snprintf (series, sizeof series, "%s_count{op=\"list\"}", name);
    assert_true (s_value (text, series) == 5);
    snprintf (series, sizeof series, "%s_sum{op=\"list\"}", name);
    assert_true (fabs (s_value (text, series) - 20.00045) < 1e-9);
    free (text);
    ord_metrics_destroy (&metrics);
}

static void
test_adapter_calls_count_by_adapter_op_and_result (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    ord_metrics_adapter_call (metrics, "fulfilment", "reserve", 0, 200);
    ord_metrics_adapter_call (metrics, "fulfilment", "reserve", ORD_ESTOCK, 200);
    ord_metrics_adapter_call (metrics, "payment", "capture", ORD_ETIMEOUT, 2000000);
    ord_metrics_adapter_call (metrics, "payment", "capture", ORD_EUNAVAILABLE, 200);
    ord_metrics_adapter_call (metrics, "payment", "frobnicate", 0, 200);
    char *text = ord_metrics_render (metrics, NULL, NULL);
    const char *name = "orderd_adapter_calls_total";
    char series [160];
    const struct { const char *labels; double count; } expected [] = {
        { "adapter=\"fulfilment\",op=\"reserve\",result=\"ok\"", 1 },
        { "adapter=\"fulfilment\",op=\"reserve\",result=\"out_of_stock\"", 1 },
        { "adapter=\"payment\",op=\"capture\",result=\"timeout\"", 1 },
        { "adapter=\"payment\",op=\"capture\",result=\"unavailable\"", 1 },
        { "adapter=\"payment\",op=\"other\",result=\"ok\"", 1 },
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected [0]; i++) {
        snprintf (series, sizeof series, "%s{%s}", name, expected [i].labels);
        assert_true (s_value (text, series) == expected [i].count);
    }
    assert_true (s_value (text, "orderd_adapter_call_duration_seconds_count"
                                "{adapter=\"payment\",op=\"capture\"}") == 2);
    assert_true (s_value (text, "orderd_adapter_call_duration_seconds_bucket"
                                "{adapter=\"payment\",op=\"capture\",le=\"1\"}") == 1);
    free (text);
    ord_metrics_destroy (&metrics);
}

static void
test_sagas_compensations_transitions_and_the_pool (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    ord_metrics_saga_suspended (metrics, ORD_SAGA_CONFIRM);
    ord_metrics_saga_suspended (metrics, ORD_SAGA_CONFIRM);
    ord_metrics_saga_suspended (metrics, 99);                 //  not a kind: ignored
    ord_metrics_compensation (metrics, ORD_PHASE_COMPENSATE, true);
    ord_metrics_compensation (metrics, ORD_PHASE_RELEASE, false);
    ord_metrics_compensation (metrics, ORD_PHASE_CAPTURE, false);   //  not a compensation
    ord_metrics_transition (metrics, ORD_STATUS_PAID, ORD_STATUS_CONFIRMED);
    ord_metrics_transition (metrics, ORD_STATUS_NONE, ORD_STATUS_PENDING);
    ord_metrics_pool (metrics, 12, 3);
    char *text = ord_metrics_render (metrics, NULL, NULL);
    assert_true (s_value (text, "orderd_sagas_suspended_total{kind=\"confirm\"}") == 2);
    assert_true (s_value (text, "orderd_sagas_suspended_total{kind=\"cancel\"}") == 0);
    assert_true (s_value (text, "orderd_compensations_total{kind=\"compensate\",result=\"needs_review\"}") == 1);
    assert_true (s_value (text, "orderd_compensations_total{kind=\"release\",result=\"ok\"}") == 1);
    assert_true (s_value (text, "orderd_compensations_total{kind=\"abort\",result=\"ok\"}") == 0);
    assert_true (s_value (text, "orderd_transitions_total{from=\"paid\",to=\"confirmed\"}") == 1);
    assert_true (s_value (text, "orderd_transitions_total{from=\"none\",to=\"pending\"}") == 1);
    assert_true (s_value (text, "orderd_live_actors") == 12);
    assert_true (s_value (text, "orderd_queue_depth") == 3);
    free (text);
    ord_metrics_destroy (&metrics);
}

static void
test_hooks_without_a_registry_do_nothing (void **state)
{
    (void) state;
    ord_metrics_request (NULL, ORD_OP_GET, 0, 10);
    ord_metrics_transition (NULL, ORD_STATUS_NONE, ORD_STATUS_PENDING);
    ord_metrics_saga_suspended (NULL, ORD_SAGA_CREATE);
    ord_metrics_compensation (NULL, ORD_PHASE_RELEASE, false);
    ord_metrics_adapter_call (NULL, "payment", "create", 0, 10);
    ord_metrics_commit (NULL, 10, 1);
    ord_metrics_pool (NULL, 1, 1);
    ord_metrics_close (NULL);
    assert_int_equal (ord_metrics_port (NULL), 0);
}

static void
s_collect (void *arg, ord_metrics_sample_t *sample)
{
    (void) arg;
    sample->store_ok = true;
    sample->orders [ORD_STATUS_CONFIRMED] = 7;
    sample->needs_review = 2;
    sample->map_used_bytes = 4096;
    sample->map_size_bytes = 1 << 20;
    sample->adapters = true;
    sample->payment_up = true;
    sample->fulfilment_up = false;
}

static void
test_the_collect_callback_fills_the_gauges (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    char *text = ord_metrics_render (metrics, s_collect, NULL);
    assert_true (s_value (text, "orderd_orders{status=\"confirmed\"}") == 7);
    assert_true (s_value (text, "orderd_orders{status=\"pending\"}") == 0);
    assert_true (s_value (text, "orderd_orders_needs_review") == 2);
    assert_true (s_value (text, "orderd_store_map_used_bytes") == 4096);
    assert_true (s_value (text, "orderd_store_map_size_bytes") == 1 << 20);
    assert_true (s_value (text, "orderd_adapter_up{adapter=\"payment\"}") == 1);
    assert_true (s_value (text, "orderd_adapter_up{adapter=\"fulfilment\"}") == 0);
    free (text);
    ord_metrics_destroy (&metrics);
}

#define S_THREADS  4
#define S_ADDS     50000

static void *
s_adder (void *arg)
{
    for (int i = 0; i < S_ADDS; i++) {
        ord_metrics_adapter_call ((ord_metrics_t *) arg, "payment", "capture", 0, 10);
        ord_metrics_transition ((ord_metrics_t *) arg, ORD_STATUS_PAID, ORD_STATUS_CONFIRMED);
    }
    return NULL;
}

static void
test_counts_from_many_threads_add_up_exactly (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    pthread_t threads [S_THREADS];
    for (int i = 0; i < S_THREADS; i++)
        assert_int_equal (pthread_create (&threads [i], NULL, s_adder, metrics), 0);
    for (int i = 0; i < S_THREADS; i++)
        assert_int_equal (pthread_join (threads [i], NULL), 0);
    char *text = ord_metrics_render (metrics, NULL, NULL);
    assert_true (s_value (text, "orderd_adapter_calls_total{adapter=\"payment\",op=\"capture\","
                                "result=\"ok\"}") == S_THREADS * S_ADDS);
    assert_true (s_value (text, "orderd_adapter_call_duration_seconds_bucket{adapter=\"payment\","
                                "op=\"capture\",le=\"0.0001\"}") == S_THREADS * S_ADDS);
    assert_true (s_value (text, "orderd_transitions_total{from=\"paid\",to=\"confirmed\"}")
                 == S_THREADS * S_ADDS);
    free (text);
    ord_metrics_destroy (&metrics);
}


//  --------------------------------------------------------------------------
//  The store writer's hook, against a real store

static void
s_commit_transition (zsock_t *client, ord_order_t *order, ord_status_t from, ord_status_t to)
{
    ord_batch_t *batch = ord_batch_new ();
    ord_transition_t transition = { order->version + 1, from, to, 1000, "test" };
    order->version++;
    ord_batch_transition (batch, order, &transition);
    assert_int_equal (ord_store_commit (client, batch), 0);
    ord_batch_destroy (&batch);
}

static void
test_the_writer_counts_commits_and_the_transitions_they_wrote (void **state)
{
    (void) state;
    char root [64];
    temp_dir_new (root, sizeof root, "test_metrics");
    ord_why_t why;
    ord_store_t *store = NULL;
    assert_int_equal (ord_store_open (root, 1 << 20, false, 16, &store, &why), 0);
    ord_metrics_t *metrics = ord_metrics_new ();
    ord_store_set_metrics (store, metrics);
    char events [64];
    snprintf (events, sizeof events, "inproc://test-metrics-%d", getpid ());
    zactor_t *writer = ord_store_writer_new (store, events, &why);
    assert_non_null (writer);
    zsock_t *client = ord_store_client_new (store);
    assert_non_null (client);

    ord_order_t order;
    memset (&order, 0, sizeof order);
    snprintf (order.id, sizeof order.id, "o%016x", 1);
    order.user_id = (char *) "u1";
    s_commit_transition (client, &order, ORD_STATUS_NONE, ORD_STATUS_PENDING);
    s_commit_transition (client, &order, ORD_STATUS_PENDING, ORD_STATUS_PENDING);   //  a note

    char *text = ord_metrics_render (metrics, NULL, NULL);
    assert_true (s_value (text, "orderd_store_commits_total") == 2);
    assert_true (s_value (text, "orderd_transitions_total{from=\"none\",to=\"pending\"}") == 1);
    assert_true (s_value (text, "orderd_transitions_total{from=\"pending\",to=\"pending\"}") == -1);
    assert_true (s_value (text, "orderd_store_transitions_per_commit_bucket{le=\"0\"}") == 1);
    assert_true (s_value (text, "orderd_store_transitions_per_commit_bucket{le=\"1\"}") == 2);
    assert_true (s_value (text, "orderd_store_transitions_per_commit_sum") == 1);
    assert_true (s_value (text, "orderd_store_commit_duration_seconds_count") == 2);
    free (text);

    zsock_destroy (&client);
    zactor_destroy (&writer);
    ord_store_destroy (&store);
    ord_metrics_destroy (&metrics);
    temp_dir_remove (root);
}


//  --------------------------------------------------------------------------
//  The HTTP server

//  Sends `request` to 127.0.0.1:port and returns everything answered
//  until the server closed the connection (HTTP/1.0).
static char *
s_http (int port, const char *request)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons ((uint16_t) port);
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    assert_int_equal (write (fd, request, strlen (request)), (ssize_t) strlen (request));
    size_t size = 0, max = 65536;
    char *answer = (char *) malloc (max);
    assert_non_null (answer);
    ssize_t got;
    while ((got = read (fd, answer + size, max - size - 1)) > 0) {
        size += (size_t) got;
        if (size + 1 == max) {
            max *= 2;
            answer = (char *) realloc (answer, max);
            assert_non_null (answer);
        }
    }
    answer [size] = 0;
    close (fd);
    return answer;
}

static void
test_get_metrics_answers_the_exposition_and_other_paths_404 (void **state)
{
    (void) state;
    ord_metrics_t *metrics = ord_metrics_new ();
    ord_why_t why;
    assert_int_equal (ord_metrics_listen (metrics, "127.0.0.1:0", s_collect, NULL, &why), 0);
    int port = ord_metrics_port (metrics);
    assert_true (port > 0);
    s_request (metrics, ORD_OP_HEALTH, 0, 10);

    char *answer = s_http (port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_non_null (strstr (answer, "HTTP/1.0 200") ? answer: strstr (answer, "HTTP/1.1 200"));
    assert_non_null (strstr (answer, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    const char *body = strstr (answer, "\r\n\r\n");
    assert_non_null (body);
    assert_true (s_value (body + 4, "orderd_requests_total{op=\"health\",result=\"ok\"}") == 1);
    assert_true (s_value (body + 4, "orderd_orders{status=\"confirmed\"}") == 7);
    free (answer);

    answer = s_http (port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert_non_null (strstr (answer, " 200 "));
    free (answer);
    const char *others [] = { "GET / HTTP/1.0\r\n\r\n", "GET /metrics/ HTTP/1.0\r\n\r\n",
                              "GET /metricsx HTTP/1.0\r\n\r\n", NULL };
    for (int i = 0; others [i]; i++) {
        answer = s_http (port, others [i]);
        if (!strstr (answer, " 404 "))
            fail_msg ("%s was answered: %.40s", others [i], answer);
        free (answer);
    }
    answer = s_http (port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    assert_non_null (strstr (answer, " 405 "));
    free (answer);
    answer = s_http (port, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assert_non_null (strstr (answer, " 200 "));
    free (answer);

    ord_metrics_close (metrics);
    assert_int_equal (ord_metrics_port (metrics), 0);
    ord_metrics_destroy (&metrics);
}

static void
test_a_port_in_use_is_an_error_naming_the_key (void **state)
{
    (void) state;
    ord_metrics_t *first = ord_metrics_new ();
    ord_metrics_t *second = ord_metrics_new ();
    ord_why_t why;
    assert_int_equal (ord_metrics_listen (first, "127.0.0.1:0", NULL, NULL, &why), 0);
    char address [64];
    snprintf (address, sizeof address, "127.0.0.1:%d", ord_metrics_port (first));
    assert_int_equal (ord_metrics_listen (second, address, NULL, NULL, &why), ORD_ECONFIG);
    char expected [128];
    snprintf (expected, sizeof expected, "orderd/metrics: cannot bind %s: Address already in use",
              address);
    assert_string_equal (why.text, expected);
    assert_int_equal (ord_metrics_port (second), 0);
    ord_metrics_destroy (&second);
    ord_metrics_destroy (&first);
}

static void
test_bad_addresses_are_refused (void **state)
{
    (void) state;
    char host [64], port [6];
    assert_true (ord_metrics_address_parse ("127.0.0.1:8794", host, sizeof host, port));
    assert_string_equal (host, "127.0.0.1");
    assert_string_equal (port, "8794");
    assert_true (ord_metrics_address_parse ("[::1]:9", host, sizeof host, port));
    assert_string_equal (host, "::1");
    assert_string_equal (port, "9");
    const char *bad [] = { "127.0.0.1", "127.0.0.1:", ":8794", "127.0.0.1:65536", "127.0.0.1:-1",
                           "127.0.0.1:80x", "::1:8794", "[::1:8794", "[]:1", NULL };
    for (int i = 0; bad [i]; i++)
        if (ord_metrics_address_parse (bad [i], host, sizeof host, port))
            fail_msg ("'%s' was taken", bad [i]);
    ord_metrics_t *metrics = ord_metrics_new ();
    ord_why_t why;
    assert_int_equal (ord_metrics_listen (metrics, "nowhere", NULL, NULL, &why), ORD_ECONFIG);
    assert_string_equal (why.text, "orderd/metrics: 'nowhere' is not HOST:PORT");
    //  An address of no interface here (TEST-NET-1)
    assert_int_equal (ord_metrics_listen (metrics, "192.0.2.1:8794", NULL, NULL, &why), ORD_ECONFIG);
    assert_string_equal (why.text,
                         "orderd/metrics: cannot bind 192.0.2.1:8794: Cannot assign requested address");
    ord_metrics_destroy (&metrics);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_new_registry_renders_every_family),
        cmocka_unit_test (test_requests_count_by_op_and_the_reply_result),
        cmocka_unit_test (test_a_result_without_a_wire_code_counts_as_internal),
        cmocka_unit_test (test_a_timed_out_request_counts_as_unavailable),
        cmocka_unit_test (test_histogram_buckets_are_cumulative_with_sum_and_count),
        cmocka_unit_test (test_adapter_calls_count_by_adapter_op_and_result),
        cmocka_unit_test (test_sagas_compensations_transitions_and_the_pool),
        cmocka_unit_test (test_hooks_without_a_registry_do_nothing),
        cmocka_unit_test (test_the_collect_callback_fills_the_gauges),
        cmocka_unit_test (test_counts_from_many_threads_add_up_exactly),
        cmocka_unit_test (test_the_writer_counts_commits_and_the_transitions_they_wrote),
        cmocka_unit_test (test_get_metrics_answers_the_exposition_and_other_paths_404),
        cmocka_unit_test (test_a_port_in_use_is_an_error_naming_the_key),
        cmocka_unit_test (test_bad_addresses_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
