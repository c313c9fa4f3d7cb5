/*  config: orderd's configuration, a czmq ZPL file plus --set overrides.

    A newcomer's map: ord_config_load (path, overrides) reads the file (or
    nothing, with path NULL), applies each "PATH=VALUE" override, checks
    every key of the `orderd` section against the known list, fills the
    defaults, and checks every value. Any mistake is ORD_ECONFIG with a
    one-line reason that names the key. Each test writes its own file into
    a temporary folder (s_write) and reads it back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <czmq.h>
#include "config.h"
#include "temp_dir.h"

typedef struct {
    char root [64];                 //  mkdtemp folder
    char path [128];                //  the config file in it
    zlist_t *overrides;             //  --set PATH=VALUE strings
    ord_config_t *config;
    ord_why_t why;
} fixture_t;

//  The two keys without a default
#define S_PLUGINS   "payment\n    plugin = payment.so\nfulfilment\n    plugin = fulfilment.so\n"

static int
setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    temp_dir_new (fx->root, sizeof fx->root, "test_config");
    snprintf (fx->path, sizeof fx->path, "%s/orderd.cfg", fx->root);
    fx->overrides = zlist_new ();
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    ord_config_destroy (&fx->config);
    zlist_destroy (&fx->overrides);
    temp_dir_remove (fx->root);
    free (fx);
    return 0;
}

static void
s_write (fixture_t *fx, const char *text)
{
    FILE *file = fopen (fx->path, "w");
    assert_non_null (file);
    assert_int_equal (fputs (text, file) >= 0, 1);
    assert_int_equal (fclose (file), 0);
}

//  Loads fx->path with fx->overrides
static int
s_load (fixture_t *fx)
{
    ord_config_destroy (&fx->config);
    memset (&fx->why, 0, sizeof fx->why);
    return ord_config_load (fx->path, fx->overrides, &fx->config, &fx->why);
}

//  Loads a file holding `text` plus the plugin keys, and insists it fails
//  with exactly `message`
static void
s_assert_refused (fixture_t *fx, const char *text, const char *message)
{
    char *file = zsys_sprintf ("%s%s", text, S_PLUGINS);
    s_write (fx, file);
    zstr_free (&file);
    assert_int_equal (s_load (fx), ORD_ECONFIG);
    assert_null (fx->config);
    assert_string_equal (fx->why.text, message);
}


//  --------------------------------------------------------------------------
//  Values

static void
test_defaults_fill_every_key_left_out (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    ord_config_t *config = fx->config;
    assert_string_equal (config->data_dir, "var/orderd");
    assert_string_equal (config->service, "tcp://127.0.0.1:8791");
    assert_string_equal (config->admin, "tcp://127.0.0.1:8792");
    assert_string_equal (config->events, "tcp://127.0.0.1:8793");
    assert_string_equal (config->metrics, "127.0.0.1:8794");
    assert_true (config->sync);
    assert_int_equal (config->payment_timeout_ms, 30 * 60 * 1000);
    assert_int_equal (config->max_live_actors, 0);          //  auto
    assert_int_equal (config->max_body, 65536);
    assert_int_equal (config->max_queue, 10000);
    assert_int_equal (config->map_size, 1024 * 1024 * 1024);
    assert_int_equal (config->actor_idle_ms, 10000);
    assert_int_equal (config->saga_retry_ms, 2000);
    assert_int_equal (config->idem_ttl_ms, 24 * 3600 * 1000);
    assert_false (config->curve);
    assert_int_equal (config->on_stock_failure, ORD_ON_STOCK_FAILURE_REVIEW);
    assert_string_equal (config->payment_plugin, "payment.so");
    assert_int_equal (config->payment_timeout_call_ms, 5000);
    assert_string_equal (config->fulfilment_plugin, "fulfilment.so");
    assert_int_equal (config->fulfilment_timeout_call_ms, 5000);
}

static void
test_defaults_are_in_the_tree_too (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    assert_string_equal (zconfig_get (fx->config->root, "orderd/sync", "?"), "full");
    assert_string_equal (zconfig_get (fx->config->root, "payment/timeout_ms", "?"), "5000");
}

static void
test_file_values_are_read (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx,
        "orderd\n"
        "    data_dir = /srv/orders\n"
        "    service = tcp://127.0.0.1:9791\n"
        "    sync = none\n"
        "    payment_timeout_ms = 60000\n"
        "    map_size = 1048576\n"
        "    max_live_actors = 300\n"
        "    on_stock_failure = refund\n"
        "payment\n"
        "    plugin = build/plugins/payment_sandbox.so\n"
        "    timeout_ms = 250\n"
        "fulfilment\n"
        "    plugin = build/plugins/fulfilment_local.so\n");
    assert_int_equal (s_load (fx), 0);
    ord_config_t *config = fx->config;
    assert_string_equal (config->data_dir, "/srv/orders");
    assert_string_equal (config->service, "tcp://127.0.0.1:9791");
    assert_false (config->sync);
    assert_int_equal (config->payment_timeout_ms, 60000);
    assert_int_equal (config->map_size, 1048576);
    assert_int_equal (config->max_live_actors, 300);
    assert_int_equal (config->on_stock_failure, ORD_ON_STOCK_FAILURE_REFUND);
    assert_string_equal (config->payment_plugin, "build/plugins/payment_sandbox.so");
    assert_int_equal (config->payment_timeout_call_ms, 250);
}

static void
test_overrides_beat_the_file (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, "orderd\n    max_body = 1000\n" S_PLUGINS);
    zlist_append (fx->overrides, "orderd/max_body=2000");
    zlist_append (fx->overrides, "payment/plugin=other.so");
    zlist_append (fx->overrides, "orderd/events=inproc://events");
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->max_body, 2000);
    assert_string_equal (fx->config->payment_plugin, "other.so");
    assert_string_equal (fx->config->events, "inproc://events");
}

static void
test_overrides_alone_without_a_file (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_append (fx->overrides, "payment/plugin=p.so");
    zlist_append (fx->overrides, "fulfilment/plugin=f.so");
    assert_int_equal (ord_config_load (NULL, fx->overrides, &fx->config, &fx->why), 0);
    assert_string_equal (fx->config->payment_plugin, "p.so");
    assert_string_equal (fx->config->data_dir, "var/orderd");
}

static void
test_plugin_sections_keep_their_own_keys (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS "    stock_file = config/stock.cfg\n    latency_ms = 20\n");
    assert_int_equal (s_load (fx), 0);
    zconfig_t *section = ord_config_section (fx->config, "fulfilment");
    assert_non_null (section);
    assert_string_equal (zconfig_get (section, "stock_file", "?"), "config/stock.cfg");
    assert_string_equal (zconfig_get (section, "latency_ms", "?"), "20");
    assert_null (ord_config_section (fx->config, "shipping"));
}


//  --------------------------------------------------------------------------
//  Mistakes, each named

static void
test_unknown_key_under_orderd_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    max_bodyy = 100\n", "orderd/max_bodyy: unknown key");
}

static void
test_unknown_key_in_an_override_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_append (fx->overrides, "orderd/sevice=tcp://127.0.0.1:1");
    s_assert_refused (fx, "", "orderd/sevice: unknown key");
}

static void
test_override_without_a_path_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_append (fx->overrides, "max_body");
    s_assert_refused (fx, "", "--set max_body: must be PATH=VALUE");
    zlist_purge (fx->overrides);
    zlist_append (fx->overrides, "=5");
    s_assert_refused (fx, "", "--set =5: must be PATH=VALUE");
    zlist_purge (fx->overrides);
    zlist_append (fx->overrides, "max_body=5");
    s_assert_refused (fx, "", "max_body: unknown key");
}

static void
test_unknown_section_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "paymnet\n    plugin = x.so\n", "paymnet: unknown section");
}

static void
test_bad_integer_names_the_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    max_body = lots\n",
                      "orderd/max_body: 'lots' is not an integer from 64 to 67108864");
    s_assert_refused (fx, "orderd\n    max_live_actors = 12x\n",
                      "orderd/max_live_actors: '12x' is not an integer from 1 to 65536, or auto");
    s_assert_refused (fx, "orderd\n    max_live_actors = 0\n",
                      "orderd/max_live_actors: '0' is not an integer from 1 to 65536, or auto");
}

static void
test_integer_out_of_range_names_the_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    max_body = 63\n",
                      "orderd/max_body: '63' is not an integer from 64 to 67108864");
    s_assert_refused (fx, "orderd\n    payment_timeout_ms = 0\n",
                      "orderd/payment_timeout_ms: '0' is not an integer from 1 to 2147483647");
    //  Given by its old name, a key is named as given
    s_assert_refused (fx, "orderd\n    payment_timeout = 0\n",
                      "orderd/payment_timeout: '0' is not an integer from 1 to 2147483647");
    s_assert_refused (fx, "orderd\n    map_size = 99999999999999999999\n",
                      "orderd/map_size: '99999999999999999999' is not an integer from 1048576 "
                      "to 4611686018427387903 (K, M, G allowed)");
    s_assert_refused (fx, "orderd\n    map_size = 9999999999G\n",
                      "orderd/map_size: '9999999999G' is not an integer from 1048576 "
                      "to 4611686018427387903 (K, M, G allowed)");
    s_assert_refused (fx, "orderd\n    map_size = 16T\n",
                      "orderd/map_size: '16T' is not an integer from 1048576 "
                      "to 4611686018427387903 (K, M, G allowed)");
}

//  Like the plugins' map_size, orderd's takes K, M and G
static void
test_map_size_takes_a_suffix (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS);
    zlist_append (fx->overrides, "orderd/map_size=16G");
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->map_size, (int64_t) 16 << 30);
}

static void
test_map_size_max_is_auto_or_a_size_from_map_size (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->map_size_max, 0);            //  auto: the disk
    ord_config_destroy (&fx->config);
    zlist_append (fx->overrides, "orderd/map_size_max=64G");
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->map_size_max, (int64_t) 64 << 30);
    ord_config_destroy (&fx->config);
    zlist_purge (fx->overrides);
    zlist_append (fx->overrides, "orderd/map_size_max=512M");
    s_assert_refused (fx, "",
                      "orderd/map_size_max: 536870912 is less than orderd/map_size (1073741824)");
    zlist_purge (fx->overrides);
    zlist_append (fx->overrides, "orderd/map_size_max=lots");
    s_assert_refused (fx, "", "orderd/map_size_max: 'lots' is not an integer from 1048576 "
                      "to 4611686018427387903 (K, M, G allowed), or auto");
}

static void
test_bad_integer_in_a_plugin_section_names_the_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_append (fx->overrides, "payment/timeout_ms=-5");
    s_assert_refused (fx, "", "payment/timeout_ms: '-5' is not an integer from 1 to 2147483647");
}

//  orderd sends fulfilment/reserve_ttl_ms with every reserve, whichever
//  the plugin: `5s` used to become 5 ms (atoll) with a plugin that does not
//  check it, such as bridge_fulfilment
static void
test_reserve_ttl_is_parsed_by_orderd_too (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_append (fx->overrides, "fulfilment/reserve_ttl_ms=5s");
    s_assert_refused (fx, "", "fulfilment/reserve_ttl_ms: '5s' is not an integer from 1 to 2147483647");
    zlist_purge (fx->overrides);
    zlist_append (fx->overrides, "fulfilment/reserve_ttl_ms=0");
    s_assert_refused (fx, "", "fulfilment/reserve_ttl_ms: '0' is not an integer from 1 to 2147483647");
}

//  orderd/payment_timeout_ms was orderd/payment_timeout: the old name is
//  still taken, alone
static void
test_payment_timeout_keeps_its_old_name (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, "orderd\n    payment_timeout = 70000\n" S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->payment_timeout_ms, 70000);
    s_write (fx, "orderd\n    payment_timeout_ms = 80000\n" S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->payment_timeout_ms, 80000);
    zlist_append (fx->overrides, "orderd/payment_timeout=90000");
    assert_int_equal (s_load (fx), ORD_ECONFIG);
    assert_string_equal (fx->why.text, "orderd/payment_timeout: the old name of "
                         "orderd/payment_timeout_ms; set only one of them");
}

static void
test_reserve_ttl_defaults_to_the_payment_timeout (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS);
    zlist_append (fx->overrides, "orderd/payment_timeout=90000");
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->reserve_ttl_ms, 90000);
    ord_config_destroy (&fx->config);
    zlist_append (fx->overrides, "fulfilment/reserve_ttl_ms=60000");
    assert_int_equal (s_load (fx), 0);
    assert_int_equal (fx->config->reserve_ttl_ms, 60000);
}

static void
test_bad_bool_names_the_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    curve = yes\n", "orderd/curve: 'yes' must be 0 or 1");
}

static void
test_bad_sync_names_the_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    sync = fast\n", "orderd/sync: 'fast' must be full or none");
}

static void
test_bad_on_stock_failure_names_the_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    on_stock_failure = ignore\n",
                      "orderd/on_stock_failure: 'ignore' must be review or refund");
}

static void
test_metrics_takes_host_port_or_nothing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, "orderd\n    metrics = \"\"\n" S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    assert_string_equal (fx->config->metrics, "");
    zlist_append (fx->overrides, "orderd/metrics=[::1]:9100");
    assert_int_equal (s_load (fx), 0);
    assert_string_equal (fx->config->metrics, "[::1]:9100");
    zlist_purge (fx->overrides);
    s_assert_refused (fx, "orderd\n    metrics = 8794\n",
                      "orderd/metrics: '8794' must be HOST:PORT (an IPv6 host in brackets), "
                      "or empty for none");
    s_assert_refused (fx, "orderd\n    metrics = 127.0.0.1:99999\n",
                      "orderd/metrics: '127.0.0.1:99999' must be HOST:PORT (an IPv6 host in "
                      "brackets), or empty for none");
}

static void
test_metrics_off_loopback_needs_allow_insecure (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_assert_refused (fx, "orderd\n    metrics = 0.0.0.0:8794\n",
                      "orderd/metrics: 0.0.0.0:8794 is not a loopback address; the metrics "
                      "door binds only loopback unless orderd/allow_insecure = 1");
    s_write (fx, "orderd\n    metrics = 0.0.0.0:8794\n    allow_insecure = 1\n" S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    assert_string_equal (fx->config->metrics, "0.0.0.0:8794");
}

static void
test_empty_string_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zlist_append (fx->overrides, "orderd/data_dir=");
    s_assert_refused (fx, "", "orderd/data_dir: must not be empty");
}

static void
test_missing_payment_plugin_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, "fulfilment\n    plugin = fulfilment.so\n");
    assert_int_equal (s_load (fx), ORD_ECONFIG);
    assert_string_equal (fx->why.text, "payment/plugin: required key missing");
}

static void
test_missing_fulfilment_plugin_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, "payment\n    plugin = payment.so\n    timeout_ms = 100\n");
    assert_int_equal (s_load (fx), ORD_ECONFIG);
    assert_string_equal (fx->why.text, "fulfilment/plugin: required key missing");
}

static void
test_missing_file_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (s_load (fx), ORD_ECONFIG);
    assert_null (fx->config);
    char *expected = zsys_sprintf ("%s: cannot read the config file: No such file or directory",
                                   fx->path);
    assert_string_equal (fx->why.text, expected);
    zstr_free (&expected);
}

static void
test_malformed_file_is_refused (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  Indented by two spaces: not ZPL
    s_write (fx, "orderd\n  max_body = 100\n");
    assert_int_equal (s_load (fx), ORD_ECONFIG);
    assert_null (fx->config);
    char *expected = zsys_sprintf ("%s: not a valid ZPL config file", fx->path);
    assert_string_equal (fx->why.text, expected);
    zstr_free (&expected);
}

static void
test_destroy_is_safe_twice (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write (fx, S_PLUGINS);
    assert_int_equal (s_load (fx), 0);
    ord_config_destroy (&fx->config);
    assert_null (fx->config);
    ord_config_destroy (&fx->config);
}


int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_defaults_fill_every_key_left_out, setup, teardown),
        cmocka_unit_test_setup_teardown (test_defaults_are_in_the_tree_too, setup, teardown),
        cmocka_unit_test_setup_teardown (test_file_values_are_read, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_size_takes_a_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_size_max_is_auto_or_a_size_from_map_size, setup, teardown),
        cmocka_unit_test_setup_teardown (test_overrides_beat_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown (test_overrides_alone_without_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown (test_plugin_sections_keep_their_own_keys, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unknown_key_under_orderd_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unknown_key_in_an_override_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_override_without_a_path_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unknown_section_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_integer_names_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown (test_integer_out_of_range_names_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_integer_in_a_plugin_section_names_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_ttl_is_parsed_by_orderd_too, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_ttl_defaults_to_the_payment_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown (test_payment_timeout_keeps_its_old_name, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_bool_names_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_sync_names_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_on_stock_failure_names_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown (test_metrics_takes_host_port_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_metrics_off_loopback_needs_allow_insecure, setup, teardown),
        cmocka_unit_test_setup_teardown (test_empty_string_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_missing_payment_plugin_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_missing_fulfilment_plugin_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_missing_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_malformed_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_destroy_is_safe_twice, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
