/*  op: the table of operations. Every question about an op (its wire
    name, is it a write, admin-only, about one order, who answers it) is a
    look-up in one row:

        ord_op_t op = ord_op_parse (name);          //  ORD_OP_COUNT: unknown
        if (ord_op_is (op, ORD_OPF_ADMIN) && door == ORD_DOOR_SERVICE)
            ...                                     //  not an op of this door
        const ord_op_spec_t *spec = ord_op_spec (op);
        if (spec->read)
            ...                                     //  the front answers it
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "reads.h"

static ord_str_t
s_str (const char *text)
{
    ord_str_t str = { text, (uint32_t) strlen (text) };
    return str;
}

static void
test_every_op_has_a_distinct_name (void **state)
{
    (void) state;
    for (int op = 0; op < ORD_OP_COUNT; op++) {
        const char *name = ord_op_name ((ord_op_t) op);
        assert_non_null (name);
        assert_true (strlen (name) > 0);
        for (int other = 0; other < op; other++)
            assert_string_not_equal (name, ord_op_name ((ord_op_t) other));
    }
    assert_string_equal (ord_op_name (ORD_OP_COUNT), "unknown");
}

static void
test_wire_names_parse_back_and_internal_ones_do_not (void **state)
{
    (void) state;
    for (int op = 0; op < ORD_OP_COUNT; op++) {
        ord_op_t parsed = ord_op_parse (s_str (ord_op_name ((ord_op_t) op)));
        if (ord_op_is ((ord_op_t) op, ORD_OPF_INTERNAL))
            assert_int_equal (parsed, ORD_OP_COUNT);
        else
            assert_int_equal (parsed, op);
    }
    assert_int_equal (ord_op_parse (s_str ("$timeout")), ORD_OP_COUNT);
    assert_int_equal (ord_op_parse (s_str ("nope")), ORD_OP_COUNT);
    assert_int_equal (ord_op_parse (s_str ("getx")), ORD_OP_COUNT);
}

static void
test_flags_say_what_the_front_checks (void **state)
{
    (void) state;
    assert_true (ord_op_is (ORD_OP_CONFIRM, ORD_OPF_WRITE | ORD_OPF_NEEDS_ORDER));
    assert_false (ord_op_is (ORD_OP_CONFIRM, ORD_OPF_ADMIN));
    assert_true (ord_op_is (ORD_OP_RESOLVE, ORD_OPF_WRITE | ORD_OPF_ADMIN));
    assert_true (ord_op_is (ORD_OP_STATS, ORD_OPF_ADMIN));
    assert_false (ord_op_is (ORD_OP_GET, ORD_OPF_WRITE));
    assert_false (ord_op_is (ORD_OP_LIST, ORD_OPF_NEEDS_ORDER));
    assert_true (ord_op_is (ORD_OP_HEALTH, ORD_OPF_ANONYMOUS));
    assert_true (ord_op_is (ORD_OP_CREATE, ORD_OPF_NEW_ORDER | ORD_OPF_USER));
    assert_false (ord_op_is (ORD_OP_CREATE, ORD_OPF_NEEDS_ORDER));
}

static void
test_reads_are_answered_by_the_front_and_changes_by_actors (void **state)
{
    (void) state;
    assert_ptr_equal (ord_op_spec (ORD_OP_GET)->read, ord_reads_get);
    assert_ptr_equal (ord_op_spec (ORD_OP_STATS)->read, ord_reads_stats);
    for (int op = 0; op < ORD_OP_COUNT; op++)
        if (ord_op_is ((ord_op_t) op, ORD_OPF_WRITE) || ord_op_is ((ord_op_t) op, ORD_OPF_INTERNAL))
            assert_null (ord_op_spec ((ord_op_t) op)->read);
    assert_string_equal (ord_op_spec (ORD_OP_STOCK)->actor, "$stock");
    assert_null (ord_op_spec (ORD_OP_CONFIRM)->actor);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_every_op_has_a_distinct_name),
        cmocka_unit_test (test_wire_names_parse_back_and_internal_ones_do_not),
        cmocka_unit_test (test_flags_say_what_the_front_checks),
        cmocka_unit_test (test_reads_are_answered_by_the_front_and_changes_by_actors),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
