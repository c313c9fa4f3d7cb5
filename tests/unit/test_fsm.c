/*  fsm: the order state machine of PROTOCOL.md §4.1.

    A newcomer's map: the state machine is one pure table behind
    ord_fsm_allowed (from, to, trigger). These tests write the protocol's
    table out again, independently, and check every from x to x trigger
    combination against it, so any row added to or dropped from core/fsm.c
    without changing the protocol shows up here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "fsm.h"

#define S_TRIGGERS  (ORD_TRIGGER_ADVANCE + 1)

typedef struct {
    ord_status_t from;
    ord_status_t to;
    ord_trigger_t trigger;
} transition_t;

//  PROTOCOL.md §4.1, row by row
static const transition_t s_allowed [] = {
    //  (none) -> pending by create: every product's stock reserved
    { ORD_STATUS_NONE,              ORD_STATUS_PENDING,           ORD_TRIGGER_CREATE },
    //  pending -> payment_initiated by initiate_payment
    { ORD_STATUS_PENDING,           ORD_STATUS_PAYMENT_INITIATED, ORD_TRIGGER_INITIATE_PAYMENT },
    //  pending, payment_initiated -> cancelled by cancel or the payment timeout
    { ORD_STATUS_PENDING,           ORD_STATUS_CANCELLED,         ORD_TRIGGER_CANCEL },
    { ORD_STATUS_PENDING,           ORD_STATUS_CANCELLED,         ORD_TRIGGER_TIMEOUT },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_CANCELLED,         ORD_TRIGGER_CANCEL },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_CANCELLED,         ORD_TRIGGER_TIMEOUT },
    //  payment_initiated -> paid / failed by confirm (capture done / declined)
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_PAID,              ORD_TRIGGER_CONFIRM },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_FAILED,            ORD_TRIGGER_CONFIRM },
    //  paid -> confirmed / failed by confirm (stock reduced / a reduction failed)
    { ORD_STATUS_PAID,              ORD_STATUS_CONFIRMED,         ORD_TRIGGER_CONFIRM },
    { ORD_STATUS_PAID,              ORD_STATUS_FAILED,            ORD_TRIGGER_CONFIRM },
    //  admin advance, one step at a time
    { ORD_STATUS_CONFIRMED,         ORD_STATUS_PROCESSING,        ORD_TRIGGER_ADVANCE },
    { ORD_STATUS_PROCESSING,        ORD_STATUS_SHIPPED,           ORD_TRIGGER_ADVANCE },
    { ORD_STATUS_SHIPPED,           ORD_STATUS_DELIVERED,         ORD_TRIGGER_ADVANCE },
};
#define S_ALLOWED (sizeof s_allowed / sizeof s_allowed [0])

static bool
s_expected (ord_status_t from, ord_status_t to, ord_trigger_t trigger)
{
    for (size_t i = 0; i < S_ALLOWED; i++)
        if (s_allowed [i].from == from && s_allowed [i].to == to
        &&  s_allowed [i].trigger == trigger)
            return true;
    return false;
}

static const char *
s_name (ord_status_t status)
{
    const char *name = ord_status_name (status);
    return name? name: "(none)";
}


//  --------------------------------------------------------------------------
//  The table

static void
test_every_transition_of_the_protocol_is_allowed (void **state)
{
    (void) state;
    for (size_t i = 0; i < S_ALLOWED; i++)
        if (!ord_fsm_allowed (s_allowed [i].from, s_allowed [i].to, s_allowed [i].trigger))
            fail_msg ("%s -> %s by trigger %d is refused", s_name (s_allowed [i].from),
                      s_name (s_allowed [i].to), s_allowed [i].trigger);
}

static void
test_every_other_combination_is_refused (void **state)
{
    (void) state;
    int refused = 0;
    for (int from = ORD_STATUS_NONE; from < ORD_STATUS_COUNT; from++)
        for (int to = ORD_STATUS_NONE; to < ORD_STATUS_COUNT; to++)
            for (int trigger = 0; trigger < S_TRIGGERS; trigger++) {
                bool allowed = ord_fsm_allowed ((ord_status_t) from, (ord_status_t) to,
                                                (ord_trigger_t) trigger);
                bool expected = s_expected ((ord_status_t) from, (ord_status_t) to,
                                            (ord_trigger_t) trigger);
                if (allowed != expected)
                    fail_msg ("%s -> %s by trigger %d: allowed is %d, the protocol says %d",
                              s_name ((ord_status_t) from), s_name ((ord_status_t) to),
                              trigger, allowed, expected);
                refused += !allowed;
            }
    assert_int_equal (refused, ORD_STATUS_COUNT * ORD_STATUS_COUNT * S_TRIGGERS - (int) S_ALLOWED);
}

static void
test_a_sample_of_forbidden_moves (void **state)
{
    (void) state;
    //  Skipping the capture
    assert_false (ord_fsm_allowed (ORD_STATUS_PENDING, ORD_STATUS_PAID, ORD_TRIGGER_CONFIRM));
    //  Cancelling once the money is taken
    assert_false (ord_fsm_allowed (ORD_STATUS_PAID, ORD_STATUS_CANCELLED, ORD_TRIGGER_CANCEL));
    assert_false (ord_fsm_allowed (ORD_STATUS_CONFIRMED, ORD_STATUS_CANCELLED, ORD_TRIGGER_CANCEL));
    //  Advancing two steps at once, or backwards
    assert_false (ord_fsm_allowed (ORD_STATUS_CONFIRMED, ORD_STATUS_SHIPPED, ORD_TRIGGER_ADVANCE));
    assert_false (ord_fsm_allowed (ORD_STATUS_SHIPPED, ORD_STATUS_PROCESSING, ORD_TRIGGER_ADVANCE));
    //  The right move by the wrong trigger
    assert_false (ord_fsm_allowed (ORD_STATUS_PENDING, ORD_STATUS_CANCELLED, ORD_TRIGGER_ADVANCE));
    assert_false (ord_fsm_allowed (ORD_STATUS_CONFIRMED, ORD_STATUS_PROCESSING, ORD_TRIGGER_CONFIRM));
    //  Creating twice, staying put
    assert_false (ord_fsm_allowed (ORD_STATUS_PENDING, ORD_STATUS_PENDING, ORD_TRIGGER_CREATE));
    assert_false (ord_fsm_allowed (ORD_STATUS_PAID, ORD_STATUS_PAID, ORD_TRIGGER_CONFIRM));
    //  Leaving a terminal state
    assert_false (ord_fsm_allowed (ORD_STATUS_FAILED, ORD_STATUS_PENDING, ORD_TRIGGER_CREATE));
    assert_false (ord_fsm_allowed (ORD_STATUS_CANCELLED, ORD_STATUS_PAYMENT_INITIATED,
                                   ORD_TRIGGER_INITIATE_PAYMENT));
}

static void
test_nothing_leaves_a_terminal_state (void **state)
{
    (void) state;
    for (int from = ORD_STATUS_NONE; from < ORD_STATUS_COUNT; from++) {
        if (!ord_status_terminal ((ord_status_t) from))
            continue;
        for (int to = ORD_STATUS_NONE; to < ORD_STATUS_COUNT; to++)
            for (int trigger = 0; trigger < S_TRIGGERS; trigger++)
                assert_false (ord_fsm_allowed ((ord_status_t) from, (ord_status_t) to,
                                               (ord_trigger_t) trigger));
    }
}

static void
test_every_status_is_reachable_from_creation (void **state)
{
    (void) state;
    bool reached [ORD_STATUS_COUNT] = { [ORD_STATUS_NONE] = true };
    bool grew = true;
    while (grew) {
        grew = false;
        for (int from = 0; from < ORD_STATUS_COUNT; from++)
            for (int to = 0; reached [from] && to < ORD_STATUS_COUNT; to++)
                for (int trigger = 0; trigger < S_TRIGGERS; trigger++)
                    if (!reached [to] && ord_fsm_allowed ((ord_status_t) from, (ord_status_t) to,
                                                          (ord_trigger_t) trigger)) {
                        reached [to] = true;
                        grew = true;
                    }
    }
    for (int status = 0; status < ORD_STATUS_COUNT; status++)
        if (!reached [status])
            fail_msg ("%s cannot be reached", s_name ((ord_status_t) status));
}


//  --------------------------------------------------------------------------
//  Names and properties

static void
test_status_names_round_trip (void **state)
{
    (void) state;
    const char *names [ORD_STATUS_COUNT] = {
        NULL, "pending", "payment_initiated", "paid", "confirmed", "processing",
        "shipped", "delivered", "cancelled", "failed"
    };
    for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++) {
        const char *name = ord_status_name ((ord_status_t) status);
        assert_non_null (name);
        assert_string_equal (name, names [status]);
        assert_int_equal (ord_status_parse (name, strlen (name)), status);
    }
}

static void
test_status_name_of_none_or_out_of_range_is_null (void **state)
{
    (void) state;
    assert_null (ord_status_name (ORD_STATUS_NONE));
    assert_null (ord_status_name (ORD_STATUS_COUNT));
    assert_null (ord_status_name ((ord_status_t) 1000));
}

static void
test_unknown_names_parse_as_none (void **state)
{
    (void) state;
    assert_int_equal (ord_status_parse ("", 0), ORD_STATUS_NONE);
    assert_int_equal (ord_status_parse ("PENDING", 7), ORD_STATUS_NONE);
    assert_int_equal (ord_status_parse ("refunded", 8), ORD_STATUS_NONE);
    //  Only the first len bytes count: "pend" of "pending" is no status
    assert_int_equal (ord_status_parse ("pending", 4), ORD_STATUS_NONE);
    assert_int_equal (ord_status_parse ("pendingx", 8), ORD_STATUS_NONE);
    //  ...and a status name followed by other bytes, cut at len, is one
    assert_int_equal (ord_status_parse ("paid,shipped", 4), ORD_STATUS_PAID);
}

static void
test_terminal_statuses (void **state)
{
    (void) state;
    for (int status = ORD_STATUS_NONE; status < ORD_STATUS_COUNT; status++) {
        bool expected = status == ORD_STATUS_DELIVERED || status == ORD_STATUS_CANCELLED
                     || status == ORD_STATUS_FAILED;
        if (ord_status_terminal ((ord_status_t) status) != expected)
            fail_msg ("terminal (%s) is wrong", s_name ((ord_status_t) status));
    }
}

static void
test_statuses_that_hold_stock (void **state)
{
    (void) state;
    for (int status = ORD_STATUS_NONE; status < ORD_STATUS_COUNT; status++) {
        bool expected = status == ORD_STATUS_PENDING || status == ORD_STATUS_PAYMENT_INITIATED;
        if (ord_status_holds_stock ((ord_status_t) status) != expected)
            fail_msg ("holds_stock (%s) is wrong", s_name ((ord_status_t) status));
    }
}


int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_every_transition_of_the_protocol_is_allowed),
        cmocka_unit_test (test_every_other_combination_is_refused),
        cmocka_unit_test (test_a_sample_of_forbidden_moves),
        cmocka_unit_test (test_nothing_leaves_a_terminal_state),
        cmocka_unit_test (test_every_status_is_reachable_from_creation),
        cmocka_unit_test (test_status_names_round_trip),
        cmocka_unit_test (test_status_name_of_none_or_out_of_range_is_null),
        cmocka_unit_test (test_unknown_names_parse_as_none),
        cmocka_unit_test (test_terminal_statuses),
        cmocka_unit_test (test_statuses_that_hold_stock),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
