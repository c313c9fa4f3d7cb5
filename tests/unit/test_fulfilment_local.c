/*  fulfilment_local: the local stock adapter, driven the way orderd drives
    it: dlopen the plugin, check its descriptor, start its actor on a fresh
    LMDB folder with a stock file (sku-apple 100, sku-pear 5), and talk
    msgpack to it over a DEALER.

    A newcomer's map: tests/support/plugin_fixture.h holds the plumbing:
    fx_start () is the whole plugin start-up (handshake included), fx_call ()
    one request and its reply, and every test below is one behaviour of
    PROTOCOL.md §9 for the fulfilment kind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <lmdb.h>
#include "orderd/plugin.h"
#include "wire.h"
#include "plugin_fixture.h"

//  --------------------------------------------------------------------------
//  Fixture: the plugin's (tests/support/plugin_fixture.h), with a stock file
//  in its temp folder

//  The stock file's path
static const char *
s_stock_file (fixture_t *fx)
{
    static char path [96];
    snprintf (path, sizeof path, "%s/stock.cfg", fx->root);
    return path;
}

static void
s_write_stock_file (fixture_t *fx, const char *text)
{
    FILE *file = fopen (s_stock_file (fx), "w");
    assert_non_null (file);
    assert_int_equal (fputs (text, file) >= 0, 1);
    assert_int_equal (fclose (file), 0);
}

//  Each test gets a fresh fixture; fx_teardown () undoes either setup
static int
setup_stopped (void **state)
{
    fixture_t *fx = fx_new ("fulfilment_local", "fulfilment");
    s_write_stock_file (fx, "stock\n    sku-apple = 100\n    sku-pear = 5\n");
    zconfig_put (fx->section, "stock_file", s_stock_file (fx));
    *state = fx;
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
//  Requests of the fulfilment kind

//  The stock of a sku, checked in the test's own line on failure
#define assert_stock(fx, sku, available, reserved) do {                      \
    reply_t r_;                                                              \
    fx_call ((fx), &r_, "stock", "s", "sku", (sku));                         \
    assert_true (r_ok (&r_));                                                \
    assert_string_equal (r_str (&r_, "sku"), (sku));                         \
    assert_int_equal (r_int (&r_, "available"), (available));                \
    assert_int_equal (r_int (&r_, "reserved"), (reserved));                  \
    reply_destroy (&r_);                                                     \
} while (0)

//  reserve, reduce or restore one line; returns the error code ("" when
//  ok), and the available of its reply (-1 if none) in last_available
static int64_t last_available;

static const char *
s_line (fixture_t *fx, const char *op, const char *order_id, int64_t line,
        const char *sku, int64_t quantity)
{
    reply_t r;
    fx_call (fx, &r, op, "sisi", "order_id", order_id, "line", line,
             "sku", sku, "quantity", quantity);
    const char *code = r_code (&r);
    last_available = ord_wire_find (r.body, "available")? r_int (&r, "available"): -1;
    reply_destroy (&r);
    return code;
}

//  reserve with a ttl_ms
static const char *
s_reserve_ttl (fixture_t *fx, const char *order_id, int64_t line,
               const char *sku, int64_t quantity, int64_t ttl_ms)
{
    reply_t r;
    fx_call (fx, &r, "reserve", "sisii", "order_id", order_id, "line", line,
             "sku", sku, "quantity", quantity, "ttl_ms", ttl_ms);
    const char *code = r_code (&r);
    reply_destroy (&r);
    return code;
}

static const char *
s_release (fixture_t *fx, const char *order_id, int64_t line)
{
    reply_t r;
    fx_call (fx, &r, "release", "si", "order_id", order_id, "line", line);
    const char *code = r_code (&r);
    reply_destroy (&r);
    return code;
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
    assert_string_equal (d->kind, "fulfilment");
    assert_string_equal (d->name, "fulfilment_local");
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
    assert_string_equal (r_str (&r, "name"), "fulfilment_local");
    assert_string_equal (r_str (&r, "version"), fx->descriptor->version);
    reply_destroy (&r);
}

static void
test_missing_stock_file_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "stock_file", "/nonexistent/stock.cfg");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "stock_file"));
    assert_null (strchr (reason, '\n'));
    zstr_free (&reason);
}

static void
test_unparsable_stock_file_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_stock_file (fx, "stock\n    sku-apple = \"100\n");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "stock_file"));
    zstr_free (&reason);
}

static void
test_stock_file_with_a_bad_count_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_stock_file (fx, "stock\n    sku-apple = many\n");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "sku-apple"));
    zstr_free (&reason);
    s_write_stock_file (fx, "stock\n    sku-apple = 2147483648\n");
    reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "is not a count from 0 to 2147483647"));
    zstr_free (&reason);
}

static void
test_bad_reserve_ttl_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "reserve_ttl_ms", "-5");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "reserve_ttl_ms"));
    zstr_free (&reason);
}

static void
test_map_size_takes_gigabytes (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "map_size", "8G");
    fx_start (fx);
    assert_stock (fx, "sku-apple", 100, 0);
}

static void
test_bad_map_size_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "map_size", "12X");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "map_size"));
    zstr_free (&reason);
}

//  The adapter's environment grows as it fills (core/mapsize, shared with
//  orderd's store): 5,000 reservations with long order ids, about 2 MiB
//  of lines and expiry entries, go into a 1 MiB map without one error
#define S_GROWTH_LINES  5000
#define S_STUCK_LINES   3500            //  more than 1 MiB holds

static void
s_reserve_many (fixture_t *fx, int count, int *failed)
{
    for (int line = 0; line < count; line++) {
        char order_id [128];
        snprintf (order_id, sizeof order_id, "o-growth-%06d-%0100d", line, 0);
        const char *code = s_line (fx, "reserve", order_id, 0, "sku-many", 1);
        if (*code)
            (*failed)++;
    }
}

static size_t
s_adapter_map_bytes (fixture_t *fx)
{
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_open (env, fx->data_dir, MDB_RDONLY, 0600), 0);
    MDB_envinfo info;
    assert_int_equal (mdb_env_info (env, &info), 0);
    mdb_env_close (env);
    return info.me_mapsize;
}

static void
test_map_grows_as_the_adapter_fills (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_stock_file (fx, "stock\n    sku-many = 1000000\n");
    zconfig_put (fx->section, "map_size", "1M");
    fx->nosync = true;                  //  one fsync a call would be slow
    fx_start (fx);
    int failed = 0;
    s_reserve_many (fx, S_GROWTH_LINES, &failed);
    assert_int_equal (failed, 0);
    assert_stock (fx, "sku-many", 1000000 - S_GROWTH_LINES, S_GROWTH_LINES);
    //  Consistent after a restart, and the map it grew to was kept
    fx_stop (fx);
    size_t map_bytes = s_adapter_map_bytes (fx);
    assert_true (map_bytes >= 2 * 1024 * 1024);
    fx_start (fx);
    assert_stock (fx, "sku-many", 1000000 - S_GROWTH_LINES, S_GROWTH_LINES);
    fx_stop (fx);
    assert_int_equal (s_adapter_map_bytes (fx), map_bytes);     //  kept, not shrunk
}

static void
test_map_stops_growing_at_map_size_max (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_stock_file (fx, "stock\n    sku-many = 1000000\n");
    zconfig_put (fx->section, "map_size", "1M");
    zconfig_put (fx->section, "map_size_max", "1M");
    fx->nosync = true;
    fx_start (fx);
    int failed = 0;
    s_reserve_many (fx, S_STUCK_LINES, &failed);
    //  What did not fit was refused as unavailable, and nothing of it kept
    assert_true (failed > 0);
    assert_stock (fx, "sku-many", 1000000 - (S_STUCK_LINES - failed), S_STUCK_LINES - failed);
    char late [128];
    snprintf (late, sizeof late, "o-late-%0100d", 0);
    assert_string_equal (s_line (fx, "reserve", late, 0, "sku-many", 1), "unavailable");
}

static void
test_map_size_max_below_map_size_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "map_size", "4M");
    zconfig_put (fx->section, "map_size_max", "2M");
    char *reason = fx_try_start (fx);
    assert_non_null (strstr (reason, "map_size_max"));
    zstr_free (&reason);
}


//  --------------------------------------------------------------------------
//  stock

static void
test_stock_file_seeds_the_store (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_stock (fx, "sku-apple", 100, 0);
    assert_stock (fx, "sku-pear", 5, 0);
}

static void
test_unknown_sku_has_no_stock (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_stock (fx, "sku-kiwi", 0, 0);
    //  No such product is not sold out: a cart tells the two apart
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-kiwi", 1), "unknown_product");
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-kiwi", 1), "unknown_product");
    assert_stock (fx, "sku-kiwi", 0, 0);
    //  Once stocked, even at 0, it is a product that sold out
    reply_t r;
    fx_call (fx, &r, "stock", "si", "sku", "sku-kiwi", "set", (int64_t) 0);
    reply_destroy (&r);
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-kiwi", 1), "out_of_stock");
}

static void
test_stock_set_sets_available_only (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 2), "");
    reply_t r;
    fx_call (fx, &r, "stock", "si", "sku", "sku-apple", "set", (int64_t) 10);
    assert_true (r_ok (&r));
    assert_int_equal (r_int (&r, "available"), 10);
    assert_int_equal (r_int (&r, "reserved"), 2);
    reply_destroy (&r);
    fx_call (fx, &r, "stock", "si", "sku", "sku-apple", "set", (int64_t) -1);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    //  One limit everywhere a stock is set (ORD_STOCK_MAX, 2^31 - 1), as
    //  orderd's admin door and the stock file
    fx_call (fx, &r, "stock", "si", "sku", "sku-apple", "set", (int64_t) ORD_STOCK_MAX + 1);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    assert_stock (fx, "sku-apple", 10, 2);
    fx_call (fx, &r, "stock", "si", "sku", "sku-apple", "set", (int64_t) ORD_STOCK_MAX);
    assert_true (r_ok (&r));
    reply_destroy (&r);
}

static void
test_stock_file_seeds_a_sku_only_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 10), "");
    assert_string_equal (s_line (fx, "reduce", "o-2", 0, "sku-pear", 5), "");
    fx_stop (fx);
    //  The file now also names a new sku: only that one is seeded
    s_write_stock_file (fx, "stock\n    sku-apple = 100\n    sku-pear = 5\n"
                            "    sku-plum = 7\n");
    fx_start (fx);
    assert_stock (fx, "sku-apple", 90, 10);
    assert_stock (fx, "sku-pear", 0, 0);
    assert_stock (fx, "sku-plum", 7, 0);
}


//  --------------------------------------------------------------------------
//  reserve and release

static void
test_reserve_takes_from_available (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_int_equal (last_available, 97);
    assert_stock (fx, "sku-apple", 97, 3);
}

static void
test_reserve_twice_reserves_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_int_equal (last_available, 97);
    assert_stock (fx, "sku-apple", 97, 3);
    //  Another line of the same order is another reservation
    assert_string_equal (s_line (fx, "reserve", "o-1", 1, "sku-apple", 3), "");
    assert_stock (fx, "sku-apple", 94, 6);
}

static void
test_reserve_out_of_stock_changes_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 0,
             "sku", "sku-pear", "quantity", (int64_t) 6);
    assert_string_equal (r_code (&r), "out_of_stock");
    assert_non_null (strstr (r_str (&r, "error.message"), "sku-pear"));
    reply_destroy (&r);
    assert_stock (fx, "sku-pear", 5, 0);
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-pear", 5), "");
    assert_stock (fx, "sku-pear", 0, 5);
}

static void
test_same_line_with_another_sku_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-pear", 3),
                         "idempotency_mismatch");
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 4),
                         "idempotency_mismatch");
    assert_stock (fx, "sku-apple", 97, 3);
    assert_stock (fx, "sku-pear", 5, 0);
}

static void
test_line_may_be_a_string (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    fx_call (fx, &r, "reserve", "sssi", "order_id", "o-1", "line", "1",
             "sku", "sku-apple", "quantity", (int64_t) 3);
    assert_true (r_ok (&r));
    reply_destroy (&r);
    //  Line "1" and line 1 are the same line
    assert_string_equal (s_line (fx, "reserve", "o-1", 1, "sku-apple", 3), "");
    assert_stock (fx, "sku-apple", 97, 3);
}

static void
test_release_frees_the_reservation (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_release (fx, "o-1", 0), "");
    assert_stock (fx, "sku-apple", 100, 0);
    assert_string_equal (s_release (fx, "o-1", 0), "");
    assert_stock (fx, "sku-apple", 100, 0);
}

static void
test_release_of_unknown_line_does_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_release (fx, "o-404", 0), "");
    assert_stock (fx, "sku-apple", 100, 0);
}

static void
test_released_line_can_be_reserved_again (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_release (fx, "o-1", 0), "");
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_stock (fx, "sku-apple", 97, 3);
}


//  --------------------------------------------------------------------------
//  reduce and restore

static void
test_reduce_consumes_the_reservation (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 3), "");
    assert_int_equal (last_available, 97);
    assert_stock (fx, "sku-apple", 97, 0);
    //  A reduced line is not released
    assert_string_equal (s_release (fx, "o-1", 0), "");
    assert_stock (fx, "sku-apple", 97, 0);
}

//  A drive that lost its "paid" record checks the lines again after they
//  were reduced (docs/SAGAS.md): that check must move no stock
static void
test_reserve_after_reduce_moves_no_stock (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_stock (fx, "sku-apple", 97, 0);
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 3), "");
    assert_stock (fx, "sku-apple", 97, 0);
}

static void
test_reduce_without_reservation_takes_free_stock (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 4), "");
    assert_int_equal (last_available, 96);
    assert_stock (fx, "sku-apple", 96, 0);
}

static void
test_reduce_twice_reduces_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 4), "");
    assert_string_equal (s_line (fx, "reduce", "o-2", 0, "sku-apple", 1), "");
    //  The repeat answers what the first reduce answered
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 4), "");
    assert_int_equal (last_available, 96);
    assert_stock (fx, "sku-apple", 95, 0);
}

static void
test_reduce_out_of_stock_changes_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-pear", 6), "out_of_stock");
    assert_stock (fx, "sku-pear", 5, 0);
}

static void
test_restore_puts_reduced_stock_back_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 4), "");
    assert_string_equal (s_line (fx, "restore", "o-1", 0, "sku-apple", 4), "");
    assert_stock (fx, "sku-apple", 100, 0);
    assert_string_equal (s_line (fx, "restore", "o-1", 0, "sku-apple", 4), "");
    assert_stock (fx, "sku-apple", 100, 0);
}

static void
test_restore_of_line_never_reduced_does_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "restore", "o-1", 0, "sku-apple", 3), "");
    assert_string_equal (s_line (fx, "restore", "o-404", 0, "sku-apple", 3), "");
    assert_stock (fx, "sku-apple", 97, 3);
}


//  --------------------------------------------------------------------------
//  Lapsed reservations

static void
test_lapsed_reservation_frees_its_stock (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_reserve_ttl (fx, "o-1", 0, "sku-apple", 10, 100), "");
    assert_stock (fx, "sku-apple", 90, 10);
    zclock_sleep (150);
    //  Nothing but `stock` is asked: it sees the stock free
    assert_stock (fx, "sku-apple", 100, 0);
    //  Releasing a lapsed reservation frees nothing twice
    assert_string_equal (s_release (fx, "o-1", 0), "");
    assert_stock (fx, "sku-apple", 100, 0);
}

static void
test_reduce_after_lapse_takes_free_stock (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_reserve_ttl (fx, "o-1", 0, "sku-pear", 5, 50), "");
    zclock_sleep (80);
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-pear", 5), "");
    assert_stock (fx, "sku-pear", 0, 0);
}

static void
test_reduce_after_lapse_fails_when_stock_is_gone (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_reserve_ttl (fx, "o-1", 0, "sku-pear", 5, 50), "");
    zclock_sleep (80);
    assert_string_equal (s_line (fx, "reserve", "o-2", 0, "sku-pear", 5), "");
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-pear", 5), "out_of_stock");
    assert_stock (fx, "sku-pear", 0, 5);
}

static void
test_reserve_again_extends_a_live_reservation (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_reserve_ttl (fx, "o-1", 0, "sku-apple", 10, 50), "");
    assert_string_equal (s_reserve_ttl (fx, "o-1", 0, "sku-apple", 10, 60000), "");
    zclock_sleep (80);
    assert_stock (fx, "sku-apple", 90, 10);
}

static void
test_reserve_ttl_ms_setting_is_the_default_ttl (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "reserve_ttl_ms", "100");
    fx_start (fx);
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 10), "");
    assert_stock (fx, "sku-apple", 90, 10);
    zclock_sleep (150);
    assert_stock (fx, "sku-apple", 100, 0);
}


//  --------------------------------------------------------------------------
//  Durability, conservation, latency, bad requests

static void
test_restart_keeps_reservations (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 10), "");
    assert_string_equal (s_line (fx, "reduce", "o-2", 0, "sku-apple", 5), "");
    fx_stop (fx);
    fx_start (fx);
    assert_stock (fx, "sku-apple", 85, 10);
    assert_string_equal (s_line (fx, "reduce", "o-1", 0, "sku-apple", 10), "");
    assert_string_equal (s_line (fx, "reduce", "o-2", 0, "sku-apple", 5), "");
    assert_stock (fx, "sku-apple", 85, 0);
}

static void
test_stock_is_conserved (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  Three orders of two lines each, walked down different paths
    for (int order = 0; order < 3; order++) {
        char order_id [16];
        snprintf (order_id, sizeof order_id, "o-%d", order);
        assert_string_equal (s_line (fx, "reserve", order_id, 0, "sku-apple", 7), "");
        assert_string_equal (s_reserve_ttl (fx, order_id, 1, "sku-apple", 2, 30), "");
    }
    assert_string_equal (s_line (fx, "reduce", "o-0", 0, "sku-apple", 7), "");
    assert_string_equal (s_line (fx, "reduce", "o-0", 1, "sku-apple", 2), "");
    assert_string_equal (s_release (fx, "o-1", 0), "");
    assert_string_equal (s_line (fx, "reduce", "o-2", 0, "sku-apple", 7), "");
    assert_string_equal (s_line (fx, "restore", "o-2", 0, "sku-apple", 7), "");
    zclock_sleep (50);          //  the ttl 30 lines of o-1 and o-2 lapse
    assert_string_equal (s_line (fx, "reduce", "o-1", 1, "sku-apple", 2), "");
    //  Reduced and not restored: o-0 line 0 (7) and 1 (2), o-1 line 1 (2)
    reply_t r;
    fx_call (fx, &r, "stock", "s", "sku", "sku-apple");
    int64_t available = r_int (&r, "available");
    int64_t reserved = r_int (&r, "reserved");
    reply_destroy (&r);
    assert_int_equal (reserved, 0);
    assert_int_equal (available + reserved + 7 + 2 + 2, 100);
}

static void
test_latency_delays_every_answer_but_loses_none (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "latency_ms", "100");
    fx_start (fx);
    const int count = 100;
    int64_t start = zclock_mono ();
    char rid [16];
    for (int i = 0; i < count; i++)
        fx_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) i,
                 "sku", "sku-apple", "quantity", (int64_t) 1);
    for (int i = 0; i < count; i++) {
        reply_t r;
        fx_recv (fx, &r);
        if (i == 0)
            assert_true (zclock_mono () - start >= 95);
        assert_true (r_ok (&r));
        reply_destroy (&r);
    }
    assert_true (zclock_mono () - start < 2000);
    assert_stock (fx, "sku-apple", 0, 100);
}

static void
test_bad_requests_change_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    reply_t r;
    //  Missing fields
    fx_call (fx, &r, "reserve", "sii", "order_id", "o-1", "line", (int64_t) 0,
             "quantity", (int64_t) 1);
    assert_string_equal (r_code (&r), "bad_request");
    assert_non_null (strstr (r_str (&r, "error.message"), "sku"));
    reply_destroy (&r);
    fx_call (fx, &r, "reserve", "sis", "order_id", "o-1", "line", (int64_t) 0,
             "sku", "sku-apple");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "release", "s", "order_id", "o-1");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "stock", "");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    //  Wrong types and ranges
    fx_call (fx, &r, "reserve", "siss", "order_id", "o-1", "line", (int64_t) 0,
             "sku", "sku-apple", "quantity", "3");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 0), "bad_request");
    assert_string_equal (s_line (fx, "reserve", "o-1", -1, "sku-apple", 1), "bad_request");
    assert_string_equal (s_line (fx, "reduce", "", 0, "sku-apple", 1), "bad_request");
    //  Not msgpack; an op of another kind
    fx_send_raw (fx, "\xc1", 1);
    fx_recv (fx, &r);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    fx_call (fx, &r, "capture", "");
    assert_string_equal (r_code (&r), "unknown_op");
    reply_destroy (&r);
    assert_stock (fx, "sku-apple", 100, 0);
}

static void
test_failed_request_in_a_batch_leaves_the_others (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  With a latency the three are typically due in the same millisecond
    //  and so share one write txn: the failing one's nested txn is rolled
    //  back alone, the others commit
    zconfig_put (fx->section, "latency_ms", "50");
    fx_start (fx);
    char rid [16];
    fx_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 0,
             "sku", "sku-apple", "quantity", (int64_t) 3);
    fx_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 1,
             "sku", "sku-apple", "quantity", (int64_t) 1000);
    fx_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 2,
             "sku", "sku-apple", "quantity", (int64_t) 2);
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        reply_t r;
        fx_recv (fx, &r);
        if (!r_ok (&r)) {
            assert_string_equal (r_code (&r), "out_of_stock");
            failed++;
        }
        reply_destroy (&r);
    }
    assert_int_equal (failed, 1);
    assert_stock (fx, "sku-apple", 95, 5);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_descriptor_is_valid, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_ping_answers_name_and_version, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_missing_stock_file_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_unparsable_stock_file_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_stock_file_with_a_bad_count_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_bad_reserve_ttl_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_map_size_takes_gigabytes, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_bad_map_size_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_map_grows_as_the_adapter_fills, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_map_stops_growing_at_map_size_max, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_map_size_max_below_map_size_refuses_to_start, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_stock_file_seeds_the_store, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_sku_has_no_stock, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_stock_set_sets_available_only, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_stock_file_seeds_a_sku_only_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reserve_takes_from_available, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reserve_twice_reserves_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reserve_out_of_stock_changes_nothing, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_same_line_with_another_sku_is_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_line_may_be_a_string, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_release_frees_the_reservation, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_release_of_unknown_line_does_nothing, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_released_line_can_be_reserved_again, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reduce_consumes_the_reservation, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reserve_after_reduce_moves_no_stock, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reduce_without_reservation_takes_free_stock, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reduce_twice_reduces_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reduce_out_of_stock_changes_nothing, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_restore_puts_reduced_stock_back_once, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_restore_of_line_never_reduced_does_nothing, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_lapsed_reservation_frees_its_stock, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reduce_after_lapse_takes_free_stock, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reduce_after_lapse_fails_when_stock_is_gone, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reserve_again_extends_a_live_reservation, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_reserve_ttl_ms_setting_is_the_default_ttl, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_restart_keeps_reservations, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_stock_is_conserved, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_latency_delays_every_answer_but_loses_none, setup_stopped, fx_teardown),
        cmocka_unit_test_setup_teardown (test_bad_requests_change_nothing, setup, fx_teardown),
        cmocka_unit_test_setup_teardown (test_failed_request_in_a_batch_leaves_the_others, setup_stopped, fx_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
