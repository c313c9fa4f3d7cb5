/*  stats: request counters, latency percentiles and per-second rates.

    A newcomer's map: the front calls ord_stats_record for every answered
    request and ord_stats_tick once a second; `stats` on the admin door
    reads percentiles and rates back. Percentiles come from log-linear
    histograms (16 buckets per power of two), so they are never below the
    true value and at most 1/16 above it: that is what these tests check
    with distributions whose true percentiles are known. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <inttypes.h>
#include <math.h>
#include <cmocka.h>
#include "stats.h"

#define S_OP  3                    //  any op index will do

static int
setup (void **state)
{
    *state = ord_stats_new ();
    assert_non_null (*state);
    return 0;
}

static int
teardown (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    ord_stats_destroy (&stats);
    assert_null (stats);
    return 0;
}

//  The percentile must be within [truth, truth * (1 + 1/16)]
static void
s_assert_close (ord_stats_t *stats, double percentile, int64_t truth)
{
    int64_t got = ord_stats_percentile (stats, S_OP, percentile);
    if (got < truth || (double) got > (double) truth * (1.0 + 1.0 / 16))
        fail_msg ("p%g is %" PRId64 ", the true value is %" PRId64, percentile, got, truth);
}


//  --------------------------------------------------------------------------
//  Counts and percentiles

static void
test_new_stats_are_empty (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    assert_int_equal (ord_stats_count (stats, S_OP), 0);
    assert_int_equal (ord_stats_errors (stats, S_OP), 0);
    assert_int_equal (ord_stats_percentile (stats, S_OP, 50), 0);
    assert_true (ord_stats_request_rate (stats, 10) == 0);
    uint64_t values [4];
    assert_int_equal (ord_stats_history (stats, false, values, 4), 0);
}

static void
test_record_counts_requests_and_errors_per_op (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    ord_stats_record (stats, S_OP, 100, false);
    ord_stats_record (stats, S_OP, 100, true);
    ord_stats_record (stats, S_OP + 1, 100, true);
    assert_int_equal (ord_stats_count (stats, S_OP), 2);
    assert_int_equal (ord_stats_errors (stats, S_OP), 1);
    assert_int_equal (ord_stats_count (stats, S_OP + 1), 1);
    assert_int_equal (ord_stats_count (stats, S_OP + 2), 0);
}

static void
test_ops_out_of_range_count_as_requests_only (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    ord_stats_record (stats, -1, 100, false);
    ord_stats_record (stats, ORD_STATS_OPS, 100, false);
    assert_int_equal (ord_stats_count (stats, -1), 0);
    assert_int_equal (ord_stats_count (stats, ORD_STATS_OPS), 0);
    assert_int_equal (ord_stats_percentile (stats, ORD_STATS_OPS, 50), 0);
    ord_stats_tick (stats, 0);
    assert_true (ord_stats_request_rate (stats, 1) == 2);
}

static void
test_small_latencies_are_exact (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    for (int i = 0; i < 10; i++)
        ord_stats_record (stats, S_OP, 7, false);
    assert_int_equal (ord_stats_percentile (stats, S_OP, 50), 7);
    assert_int_equal (ord_stats_percentile (stats, S_OP, 100), 7);
}

static void
test_negative_latency_counts_as_zero (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    ord_stats_record (stats, S_OP, -5, false);
    assert_int_equal (ord_stats_count (stats, S_OP), 1);
    assert_int_equal (ord_stats_percentile (stats, S_OP, 100), 0);
}

static void
test_percentiles_of_a_uniform_distribution (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    //  1, 2, ..., 10000 microseconds, in a scrambled order
    for (int64_t i = 0; i < 10000; i++)
        ord_stats_record (stats, S_OP, (i * 7919) % 10000 + 1, false);
    s_assert_close (stats, 50, 5000);
    s_assert_close (stats, 90, 9000);
    s_assert_close (stats, 99, 9900);
    s_assert_close (stats, 99.9, 9990);
    s_assert_close (stats, 100, 10000);
    s_assert_close (stats, 1, 100);
}

static void
test_percentiles_of_a_bimodal_distribution (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    //  90% fast (250 us), 10% slow (80 ms): the tail must show
    for (int i = 0; i < 900; i++)
        ord_stats_record (stats, S_OP, 250, false);
    for (int i = 0; i < 100; i++)
        ord_stats_record (stats, S_OP, 80000, false);
    s_assert_close (stats, 50, 250);
    s_assert_close (stats, 90, 250);
    s_assert_close (stats, 95, 80000);
    s_assert_close (stats, 99, 80000);
}

static void
test_percentiles_across_many_magnitudes (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    //  Powers of ten from 1 us to 10^10 us (2.8 hours), and odd values
    //  between, one each: each is its own percentile
    int64_t values [] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                          100000000, 1000000000, 10000000000LL };
    int count = (int) (sizeof values / sizeof values [0]);
    for (int i = 0; i < count; i++)
        ord_stats_record (stats, S_OP, values [i], false);
    for (int i = 0; i < count; i++)
        s_assert_close (stats, 100.0 * (i + 1) / count, values [i]);
}

static void
test_percentiles_of_a_geometric_spread (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    //  1000 values growing by 1.7% each: true p-th value is values [p*10 - 1]
    int64_t values [1000];
    double value = 20;
    for (int i = 0; i < 1000; i++, value *= 1.017)
        values [i] = (int64_t) value;
    for (int i = 999; i >= 0; i--)
        ord_stats_record (stats, S_OP, values [i], false);
    for (int percentile = 10; percentile <= 100; percentile += 10)
        s_assert_close (stats, percentile, values [percentile * 10 - 1]);
}


//  --------------------------------------------------------------------------
//  Rates and history

static void
test_request_rate_over_closed_seconds (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    for (int i = 0; i < 10; i++)
        ord_stats_record (stats, S_OP, 100, false);
    ord_stats_tick (stats, 0);
    for (int i = 0; i < 20; i++)
        ord_stats_record (stats, S_OP, 100, false);
    ord_stats_tick (stats, 0);
    //  The open second does not count yet
    for (int i = 0; i < 1000; i++)
        ord_stats_record (stats, S_OP, 100, false);
    assert_true (ord_stats_request_rate (stats, 1) == 20);
    assert_true (ord_stats_request_rate (stats, 2) == 15);
    //  Only two seconds closed so far: a longer window averages those
    assert_true (ord_stats_request_rate (stats, 10) == 15);
}

static void
test_transition_rate_uses_the_running_total (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    ord_stats_tick (stats, 5);         //  5 in the first second
    ord_stats_tick (stats, 15);        //  10 in the second
    ord_stats_tick (stats, 15);        //  none in the third
    assert_true (ord_stats_transition_rate (stats, 1) == 0);
    assert_true (ord_stats_transition_rate (stats, 2) == 5);
    assert_true (ord_stats_transition_rate (stats, 3) == 5);
}

static void
test_rate_window_is_capped_and_wraps (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    //  100 seconds: second i has i requests
    for (int second = 1; second <= 100; second++) {
        for (int i = 0; i < second; i++)
            ord_stats_record (stats, S_OP, 1, false);
        ord_stats_tick (stats, 0);
    }
    //  The last 63 seconds are 38..100: mean 69
    assert_true (fabs (ord_stats_request_rate (stats, ORD_STATS_WINDOW - 1) - 69.0) < 1e-9);
    assert_true (fabs (ord_stats_request_rate (stats, 1000) - 69.0) < 1e-9);
    assert_true (ord_stats_request_rate (stats, 1) == 100);
    assert_true (ord_stats_request_rate (stats, 0) == 0);
}

static void
test_history_is_oldest_first (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    for (int second = 1; second <= 3; second++) {
        for (int i = 0; i < second; i++)
            ord_stats_record (stats, S_OP, 1, false);
        ord_stats_tick (stats, (uint64_t) second * 10);
    }
    uint64_t values [8];
    assert_int_equal (ord_stats_history (stats, false, values, 8), 3);
    assert_int_equal (values [0], 1);
    assert_int_equal (values [1], 2);
    assert_int_equal (values [2], 3);
    //  Fewer wanted than kept: the most recent ones, still oldest first
    assert_int_equal (ord_stats_history (stats, false, values, 2), 2);
    assert_int_equal (values [0], 2);
    assert_int_equal (values [1], 3);
    assert_int_equal (ord_stats_history (stats, true, values, 8), 3);
    assert_int_equal (values [0], 10);
    assert_int_equal (values [2], 10);
}

static void
test_history_after_the_ring_wraps (void **state)
{
    ord_stats_t *stats = (ord_stats_t *) *state;
    for (int second = 1; second <= 100; second++) {
        for (int i = 0; i < second; i++)
            ord_stats_record (stats, S_OP, 1, false);
        ord_stats_tick (stats, 0);
    }
    uint64_t values [ORD_STATS_WINDOW + 10];
    int count = ord_stats_history (stats, false, values, ORD_STATS_WINDOW + 10);
    assert_int_equal (count, ORD_STATS_WINDOW);
    for (int i = 0; i < count; i++)
        assert_int_equal (values [i], 100 - ORD_STATS_WINDOW + 1 + i);
}

static void
test_destroy_is_safe_twice (void **state)
{
    (void) state;
    ord_stats_t *stats = ord_stats_new ();
    ord_stats_destroy (&stats);
    assert_null (stats);
    ord_stats_destroy (&stats);
}


int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_new_stats_are_empty, setup, teardown),
        cmocka_unit_test_setup_teardown (test_record_counts_requests_and_errors_per_op, setup, teardown),
        cmocka_unit_test_setup_teardown (test_ops_out_of_range_count_as_requests_only, setup, teardown),
        cmocka_unit_test_setup_teardown (test_small_latencies_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown (test_negative_latency_counts_as_zero, setup, teardown),
        cmocka_unit_test_setup_teardown (test_percentiles_of_a_uniform_distribution, setup, teardown),
        cmocka_unit_test_setup_teardown (test_percentiles_of_a_bimodal_distribution, setup, teardown),
        cmocka_unit_test_setup_teardown (test_percentiles_across_many_magnitudes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_percentiles_of_a_geometric_spread, setup, teardown),
        cmocka_unit_test_setup_teardown (test_request_rate_over_closed_seconds, setup, teardown),
        cmocka_unit_test_setup_teardown (test_transition_rate_uses_the_running_total, setup, teardown),
        cmocka_unit_test_setup_teardown (test_rate_window_is_capped_and_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown (test_history_is_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown (test_history_after_the_ring_wraps, setup, teardown),
        cmocka_unit_test (test_destroy_is_safe_twice),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
