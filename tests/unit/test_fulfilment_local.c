/*  fulfilment_local: the local stock adapter, driven the way orderd drives
    it: dlopen the plugin, check its descriptor, start its actor on a fresh
    LMDB folder with a stock file (sku-apple 100, sku-pear 5), and talk
    msgpack to it over a DEALER.

    A newcomer's map: s_start () is the whole plugin start-up (handshake
    included), s_call () one request and its reply, and every test below is
    one behaviour of PROTOCOL.md §9 for the fulfilment kind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <ftw.h>
#include <czmq.h>
#include "orderd/plugin.h"
#include "wire.h"

//  --------------------------------------------------------------------------
//  Fixture: a temp folder, the loaded plugin, its actor and a DEALER

typedef struct {
    char root [64];                     //  mkdtemp folder
    char data_dir [96];                 //  the adapter's LMDB folder in it
    char endpoint [64];
    void *handle;                       //  dlopen
    const ord_plugin_descriptor_t *descriptor;
    zconfig_t *config;                  //  root of the config tree
    zconfig_t *section;                 //  "fulfilment": handed to the plugin
    ord_plugin_args_t args;
    char stock_file [96];               //  the stock file in root
    zactor_t *actor;
    zsock_t *client;
    int rid;
} fixture_t;

//  A decoded reply; its strings point into frame
typedef struct {
    zframe_t *frame;
    msgpack_unpacked unpacked;
    const msgpack_object *body;
} reply_t;

static int
s_remove_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    return remove (path);
}

static void
s_load_plugin (fixture_t *fx)
{
    const char *build = getenv ("ORDERD_BUILD");
    char path [512];
    snprintf (path, sizeof path, "%s/plugins/fulfilment_local.so", build? build: "build");
    fx->handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!fx->handle)
        fail_msg ("dlopen %s: %s", path, dlerror ());
    ord_plugin_descriptor_fn *get_descriptor =
        (ord_plugin_descriptor_fn *) dlsym (fx->handle, ORD_PLUGIN_SYMBOL);
    assert_non_null (get_descriptor);
    fx->descriptor = get_descriptor ();
    assert_non_null (fx->descriptor);
}

//  Starts the actor; returns its handshake answer ("" when ready), which
//  the caller frees
static char *
s_try_start (fixture_t *fx)
{
    static int instance = 0;
    snprintf (fx->endpoint, sizeof fx->endpoint, "inproc://fulfilment-local-%d", ++instance);
    fx->args.endpoint = fx->endpoint;
    fx->args.data_dir = fx->data_dir;
    fx->args.config = fx->section;
    fx->args.payment_timeout_ms = 1800000;
    fx->args.sync = true;
    fx->actor = zactor_new (fx->descriptor->actor, &fx->args);
    assert_non_null (fx->actor);
    char *reason = zstr_recv (fx->actor);
    assert_non_null (reason);
    return reason;
}

static void
s_start (fixture_t *fx)
{
    char *reason = s_try_start (fx);
    assert_string_equal (reason, "");
    zstr_free (&reason);
    fx->client = zsock_new_dealer (fx->endpoint);
    assert_non_null (fx->client);
    zsock_set_rcvtimeo (fx->client, 5000);
}

static void
s_stop (fixture_t *fx)
{
    zsock_destroy (&fx->client);
    zactor_destroy (&fx->actor);
}

static void
s_write_stock_file (fixture_t *fx, const char *text)
{
    FILE *file = fopen (fx->stock_file, "w");
    assert_non_null (file);
    assert_int_equal (fputs (text, file) >= 0, 1);
    assert_int_equal (fclose (file), 0);
}

static int
setup_stopped (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    snprintf (fx->root, sizeof fx->root, "/tmp/test_fulfilment_local-XXXXXX");
    assert_non_null (mkdtemp (fx->root));
    snprintf (fx->data_dir, sizeof fx->data_dir, "%s/fulfilment", fx->root);
    assert_int_equal (mkdir (fx->data_dir, 0700), 0);
    fx->config = zconfig_new ("root", NULL);
    fx->section = zconfig_new ("fulfilment", fx->config);
    zconfig_put (fx->section, "plugin", "fulfilment_local");
    snprintf (fx->stock_file, sizeof fx->stock_file, "%s/stock.cfg", fx->root);
    s_write_stock_file (fx, "stock\n    sku-apple = 100\n    sku-pear = 5\n");
    zconfig_put (fx->section, "stock_file", fx->stock_file);
    s_load_plugin (fx);
    *state = fx;
    return 0;
}

static int
setup (void **state)
{
    setup_stopped (state);
    s_start ((fixture_t *) *state);
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_stop (fx);
    zconfig_destroy (&fx->config);
    nftw (fx->root, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    dlclose (fx->handle);
    free (fx);
    return 0;
}


//  --------------------------------------------------------------------------
//  Requests and replies

//  Packs {v: 1, op, rid, ...} where `format` names the types of the
//  key/value pairs that follow: s string, i int64_t, n nil (no value).
static void
s_pack_request (msgpack_packer *pk, const char *op, const char *rid,
                const char *format, va_list args)
{
    msgpack_pack_map (pk, 3 + strlen (format));
    ord_pack_kv_int (pk, "v", 1);
    ord_pack_kv_cstr (pk, "op", op);
    ord_pack_kv_cstr (pk, "rid", rid);
    for (const char *type = format; *type; type++) {
        ord_pack_cstr (pk, va_arg (args, const char *));
        if (*type == 's')
            ord_pack_cstr (pk, va_arg (args, const char *));
        else
        if (*type == 'i')
            msgpack_pack_int64 (pk, va_arg (args, int64_t));
        else
            msgpack_pack_nil (pk);
    }
}

static void
s_send_raw (fixture_t *fx, const void *data, size_t size)
{
    zframe_t *frame = zframe_new (data, size);
    assert_int_equal (zframe_send (&frame, fx->client, 0), 0);
}

//  Sends one request; the rid it carries goes in rid
static void
s_send (fixture_t *fx, char *rid, const char *op, const char *format, ...)
{
    snprintf (rid, 16, "r%d", ++fx->rid);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    va_list args;
    va_start (args, format);
    s_pack_request (&pk, op, rid, format, args);
    va_end (args);
    s_send_raw (fx, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

static void
s_recv (fixture_t *fx, reply_t *reply)
{
    reply->frame = zframe_recv (fx->client);
    assert_non_null (reply->frame);
    msgpack_unpacked_init (&reply->unpacked);
    ord_why_t why;
    assert_int_equal (ord_wire_decode (zframe_data (reply->frame),
                                       zframe_size (reply->frame),
                                       &reply->unpacked, &why), 0);
    reply->body = &reply->unpacked.data;
}

static void
reply_destroy (reply_t *reply)
{
    msgpack_unpacked_destroy (&reply->unpacked);
    zframe_destroy (&reply->frame);
}

//  One field of a reply as a C string (a rotating scratch buffer), ""
//  when absent or nil
static const char *
r_str (reply_t *reply, const char *key)
{
    static char buffers [8][512];
    static int next = 0;
    char *buffer = buffers [next++ % 8];
    const msgpack_object *field = reply->body;
    const char *dot;
    char first [64];
    //  "error.code": one level down
    if ((dot = strchr (key, '.'))) {
        snprintf (first, sizeof first, "%.*s", (int) (dot - key), key);
        field = ord_wire_find (field, first);
        key = dot + 1;
    }
    field = ord_wire_find (field, key);
    ord_str_t str = ord_str_of (field);
    snprintf (buffer, 512, "%.*s", (int) str.len, str.ptr? str.ptr: "");
    return buffer;
}

static int64_t
r_int (reply_t *reply, const char *key)
{
    int64_t value = -1;
    ord_why_t why;
    assert_int_equal (ord_wire_int (reply->body, key, true, INT64_MIN, INT64_MAX,
                                    &value, &why), 0);
    return value;
}

static bool
r_ok (reply_t *reply)
{
    const msgpack_object *ok = ord_wire_find (reply->body, "ok");
    return ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
}

//  The error code of a reply, "" when it is ok
#define r_code(reply) r_str ((reply), "error.code")

//  One request, one reply: the reply must echo the request's rid
static void
s_call (fixture_t *fx, reply_t *reply, const char *op, const char *format, ...)
{
    char rid [16];
    snprintf (rid, sizeof rid, "r%d", ++fx->rid);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    va_list args;
    va_start (args, format);
    s_pack_request (&pk, op, rid, format, args);
    va_end (args);
    s_send_raw (fx, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    s_recv (fx, reply);
    assert_string_equal (r_str (reply, "rid"), rid);
    assert_int_equal (r_int (reply, "v"), 1);
}

//  The stock of a sku, checked in the test's own line on failure
#define assert_stock(fx, sku, available, reserved) do {                      \
    reply_t r_;                                                              \
    s_call ((fx), &r_, "stock", "s", "sku", (sku));                          \
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
    s_call (fx, &r, op, "sisi", "order_id", order_id, "line", line,
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
    s_call (fx, &r, "reserve", "sisii", "order_id", order_id, "line", line,
            "sku", sku, "quantity", quantity, "ttl_ms", ttl_ms);
    const char *code = r_code (&r);
    reply_destroy (&r);
    return code;
}

static const char *
s_release (fixture_t *fx, const char *order_id, int64_t line)
{
    reply_t r;
    s_call (fx, &r, "release", "si", "order_id", order_id, "line", line);
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
    s_call (fx, &r, "ping", "");
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
    char *reason = s_try_start (fx);
    assert_non_null (strstr (reason, "stock_file"));
    assert_null (strchr (reason, '\n'));
    zstr_free (&reason);
}

static void
test_unparsable_stock_file_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_stock_file (fx, "stock\n    sku-apple = \"100\n");
    char *reason = s_try_start (fx);
    assert_non_null (strstr (reason, "stock_file"));
    zstr_free (&reason);
}

static void
test_stock_file_with_a_bad_count_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_write_stock_file (fx, "stock\n    sku-apple = many\n");
    char *reason = s_try_start (fx);
    assert_non_null (strstr (reason, "sku-apple"));
    zstr_free (&reason);
}

static void
test_bad_reserve_ttl_refuses_to_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zconfig_put (fx->section, "reserve_ttl_ms", "-5");
    char *reason = s_try_start (fx);
    assert_non_null (strstr (reason, "reserve_ttl_ms"));
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
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-kiwi", 1), "out_of_stock");
}

static void
test_stock_set_sets_available_only (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 2), "");
    reply_t r;
    s_call (fx, &r, "stock", "si", "sku", "sku-apple", "set", (int64_t) 10);
    assert_true (r_ok (&r));
    assert_int_equal (r_int (&r, "available"), 10);
    assert_int_equal (r_int (&r, "reserved"), 2);
    reply_destroy (&r);
    s_call (fx, &r, "stock", "si", "sku", "sku-apple", "set", (int64_t) -1);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    assert_stock (fx, "sku-apple", 10, 2);
}

static void
test_stock_file_seeds_a_sku_only_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 10), "");
    assert_string_equal (s_line (fx, "reduce", "o-2", 0, "sku-pear", 5), "");
    s_stop (fx);
    //  The file now also names a new sku: only that one is seeded
    s_write_stock_file (fx, "stock\n    sku-apple = 100\n    sku-pear = 5\n"
                            "    sku-plum = 7\n");
    s_start (fx);
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
    s_call (fx, &r, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 0,
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
    s_call (fx, &r, "reserve", "sssi", "order_id", "o-1", "line", "1",
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
    s_start (fx);
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
    s_stop (fx);
    s_start (fx);
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
    s_call (fx, &r, "stock", "s", "sku", "sku-apple");
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
    s_start (fx);
    const int count = 100;
    int64_t start = zclock_mono ();
    char rid [16];
    for (int i = 0; i < count; i++)
        s_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) i,
                "sku", "sku-apple", "quantity", (int64_t) 1);
    for (int i = 0; i < count; i++) {
        reply_t r;
        s_recv (fx, &r);
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
    s_call (fx, &r, "reserve", "sii", "order_id", "o-1", "line", (int64_t) 0,
            "quantity", (int64_t) 1);
    assert_string_equal (r_code (&r), "bad_request");
    assert_non_null (strstr (r_str (&r, "error.message"), "sku"));
    reply_destroy (&r);
    s_call (fx, &r, "reserve", "sis", "order_id", "o-1", "line", (int64_t) 0,
            "sku", "sku-apple");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    s_call (fx, &r, "release", "s", "order_id", "o-1");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    s_call (fx, &r, "stock", "");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    //  Wrong types and ranges
    s_call (fx, &r, "reserve", "siss", "order_id", "o-1", "line", (int64_t) 0,
            "sku", "sku-apple", "quantity", "3");
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    assert_string_equal (s_line (fx, "reserve", "o-1", 0, "sku-apple", 0), "bad_request");
    assert_string_equal (s_line (fx, "reserve", "o-1", -1, "sku-apple", 1), "bad_request");
    assert_string_equal (s_line (fx, "reduce", "", 0, "sku-apple", 1), "bad_request");
    //  Not msgpack; an op of another kind
    s_send_raw (fx, "\xc1", 1);
    s_recv (fx, &r);
    assert_string_equal (r_code (&r), "bad_request");
    reply_destroy (&r);
    s_call (fx, &r, "capture", "");
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
    s_start (fx);
    char rid [16];
    s_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 0,
            "sku", "sku-apple", "quantity", (int64_t) 3);
    s_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 1,
            "sku", "sku-apple", "quantity", (int64_t) 1000);
    s_send (fx, rid, "reserve", "sisi", "order_id", "o-1", "line", (int64_t) 2,
            "sku", "sku-apple", "quantity", (int64_t) 2);
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        reply_t r;
        s_recv (fx, &r);
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
        cmocka_unit_test_setup_teardown (test_descriptor_is_valid, setup, teardown),
        cmocka_unit_test_setup_teardown (test_ping_answers_name_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown (test_missing_stock_file_refuses_to_start, setup_stopped, teardown),
        cmocka_unit_test_setup_teardown (test_unparsable_stock_file_refuses_to_start, setup_stopped, teardown),
        cmocka_unit_test_setup_teardown (test_stock_file_with_a_bad_count_refuses_to_start, setup_stopped, teardown),
        cmocka_unit_test_setup_teardown (test_bad_reserve_ttl_refuses_to_start, setup_stopped, teardown),
        cmocka_unit_test_setup_teardown (test_stock_file_seeds_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unknown_sku_has_no_stock, setup, teardown),
        cmocka_unit_test_setup_teardown (test_stock_set_sets_available_only, setup, teardown),
        cmocka_unit_test_setup_teardown (test_stock_file_seeds_a_sku_only_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_takes_from_available, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_twice_reserves_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_out_of_stock_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_same_line_with_another_sku_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_line_may_be_a_string, setup, teardown),
        cmocka_unit_test_setup_teardown (test_release_frees_the_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown (test_release_of_unknown_line_does_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_released_line_can_be_reserved_again, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reduce_consumes_the_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reduce_without_reservation_takes_free_stock, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reduce_twice_reduces_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reduce_out_of_stock_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_restore_puts_reduced_stock_back_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_restore_of_line_never_reduced_does_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_lapsed_reservation_frees_its_stock, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reduce_after_lapse_takes_free_stock, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reduce_after_lapse_fails_when_stock_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_again_extends_a_live_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reserve_ttl_ms_setting_is_the_default_ttl, setup_stopped, teardown),
        cmocka_unit_test_setup_teardown (test_restart_keeps_reservations, setup, teardown),
        cmocka_unit_test_setup_teardown (test_stock_is_conserved, setup, teardown),
        cmocka_unit_test_setup_teardown (test_latency_delays_every_answer_but_loses_none, setup_stopped, teardown),
        cmocka_unit_test_setup_teardown (test_bad_requests_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_failed_request_in_a_batch_leaves_the_others, setup_stopped, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
