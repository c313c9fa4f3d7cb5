/*  number: the integers of configuration files, in orderd and its plugins.

        int64_t bytes;
        if (ord_number_parse ("16G", true, &bytes))
            ...                         //  bytes == 16 << 30
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "number.h"

static void
test_plain_integers_parse_whole (void **state)
{
    (void) state;
    int64_t value = 0;
    assert_true (ord_number_parse ("1073741824", false, &value));
    assert_int_equal (value, 1073741824);
    assert_true (ord_number_parse ("-5", false, &value));
    assert_int_equal (value, -5);
    assert_true (ord_number_parse ("9223372036854775807", false, &value));
    assert_int_equal (value, INT64_MAX);
}

static void
test_a_suffix_multiplies_by_a_power_of_two (void **state)
{
    (void) state;
    int64_t value = 0;
    assert_true (ord_number_parse ("64K", true, &value));
    assert_int_equal (value, 64 << 10);
    assert_true (ord_number_parse ("256m", true, &value));
    assert_int_equal (value, 256 << 20);
    assert_true (ord_number_parse ("16G", true, &value));
    assert_int_equal (value, (int64_t) 16 << 30);
    assert_true (ord_number_parse ("0G", true, &value));
    assert_int_equal (value, 0);
}

static void
test_what_is_not_one_integer_is_refused_and_changes_nothing (void **state)
{
    (void) state;
    const char *bad [] = {
        "", " 5", "5 ", "5x", "x5", "0x10", "1.5", "--1",
        "99999999999999999999",             //  past INT64_MAX
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        int64_t value = 42;
        assert_false (ord_number_parse (bad [i], true, &value));
        assert_int_equal (value, 42);
    }
    int64_t value = 42;
    assert_false (ord_number_parse (NULL, true, &value));
    assert_int_equal (value, 42);
}

static void
test_suffixes_only_where_allowed_and_never_overflowing (void **state)
{
    (void) state;
    int64_t value = 42;
    assert_false (ord_number_parse ("16G", false, &value));
    assert_false (ord_number_parse ("16T", true, &value));
    assert_false (ord_number_parse ("16GB", true, &value));
    assert_false (ord_number_parse ("-1K", true, &value));
    assert_false (ord_number_parse ("8589934592G", true, &value));   //  2^33 G = 2^63
    assert_int_equal (value, 42);
    assert_true (ord_number_parse ("8589934591G", true, &value));
    assert_int_equal (value, (int64_t) 8589934591 << 30);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_plain_integers_parse_whole),
        cmocka_unit_test (test_a_suffix_multiplies_by_a_power_of_two),
        cmocka_unit_test (test_what_is_not_one_integer_is_refused_and_changes_nothing),
        cmocka_unit_test (test_suffixes_only_where_allowed_and_never_overflowing),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
