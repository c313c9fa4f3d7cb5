/*  plugin_fixture: an adapter plugin driven the way orderd drives it, for
    the cmocka tests of one plugin. See plugin_fixture.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <czmq.h>
#include "orderd/plugin.h"
#include "wire.h"
#include "plugin_fixture.h"
#include "temp_dir.h"

static void
s_load_plugin (fixture_t *fx, const char *plugin)
{
    const char *build = getenv ("ORDERD_BUILD");
    char path [512];
    snprintf (path, sizeof path, "%s/plugins/%s.so", build? build: "build", plugin);
    fx->handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!fx->handle)
        fail_msg ("dlopen %s: %s", path, dlerror ());
    ord_plugin_descriptor_fn *get_descriptor =
        (ord_plugin_descriptor_fn *) dlsym (fx->handle, ORD_PLUGIN_SYMBOL);
    assert_non_null (get_descriptor);
    fx->descriptor = get_descriptor ();
    assert_non_null (fx->descriptor);
}

fixture_t *
fx_new (const char *plugin, const char *section)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    fx->recv_timeout_ms = 5000;
    char name [64];
    snprintf (name, sizeof name, "test_%s", plugin);
    temp_dir_new (fx->root, sizeof fx->root, name);
    snprintf (fx->data_dir, sizeof fx->data_dir, "%s/%s", fx->root, section);
    assert_int_equal (mkdir (fx->data_dir, 0700), 0);
    fx->config = zconfig_new ("root", NULL);
    fx->section = zconfig_new (section, fx->config);
    zconfig_put (fx->section, "plugin", plugin);
    s_load_plugin (fx, plugin);
    return fx;
}

void
fx_destroy (fixture_t **fx_p)
{
    fixture_t *fx = *fx_p;
    if (!fx)
        return;
    fx_stop (fx);
    zconfig_destroy (&fx->config);
    temp_dir_remove (fx->root);
    if (fx->handle)
        dlclose (fx->handle);
    free (fx);
    *fx_p = NULL;
}

int
fx_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx_destroy (&fx);
    *state = NULL;
    return 0;
}

char *
fx_try_start (fixture_t *fx)
{
    static int instance = 0;
    const char *name = fx->descriptor->name;
    snprintf (fx->endpoint, sizeof fx->endpoint, "inproc://%s-%d", name, ++instance);
    fx->args.endpoint = fx->endpoint;
    fx->args.data_dir = fx->data_dir;
    fx->args.config = fx->section;
    fx->args.payment_timeout_ms = 1800000;
    fx->args.sync = !fx->nosync;
    //  A test may try again after a refused start: the refused actor goes first
    zactor_destroy (&fx->actor);
    fx->actor = zactor_new (fx->descriptor->actor, &fx->args);
    assert_non_null (fx->actor);
    char *reason = zstr_recv (fx->actor);
    assert_non_null (reason);
    return reason;
}

void
fx_start (fixture_t *fx)
{
    char *reason = fx_try_start (fx);
    assert_string_equal (reason, "");
    zstr_free (&reason);
    fx->client = zsock_new_dealer (fx->endpoint);
    assert_non_null (fx->client);
    zsock_set_rcvtimeo (fx->client, fx->recv_timeout_ms);
}

void
fx_stop (fixture_t *fx)
{
    zsock_destroy (&fx->client);
    zactor_destroy (&fx->actor);
}


//  --------------------------------------------------------------------------
//  Requests and replies

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

//  fx_send with the pairs in a va_list
static void
s_send (fixture_t *fx, char *rid, const char *op, const char *format, va_list args)
{
    snprintf (rid, 16, "r%d", ++fx->rid);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    s_pack_request (&pk, op, rid, format, args);
    fx_send_raw (fx, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

void
fx_send_raw (fixture_t *fx, const void *data, size_t size)
{
    zframe_t *frame = zframe_new (data, size);
    assert_int_equal (zframe_send (&frame, fx->client, 0), 0);
}

void
fx_send (fixture_t *fx, char *rid, const char *op, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_send (fx, rid, op, format, args);
    va_end (args);
}

void
fx_recv (fixture_t *fx, reply_t *reply)
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

void
fx_call (fixture_t *fx, reply_t *reply, const char *op, const char *format, ...)
{
    char rid [16];
    va_list args;
    va_start (args, format);
    s_send (fx, rid, op, format, args);
    va_end (args);
    fx_recv (fx, reply);
    assert_string_equal (r_str (reply, "rid"), rid);
    assert_int_equal (r_int (reply, "v"), 1);
}

void
reply_destroy (reply_t *reply)
{
    msgpack_unpacked_destroy (&reply->unpacked);
    zframe_destroy (&reply->frame);
}

const char *
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

int64_t
r_int (reply_t *reply, const char *key)
{
    int64_t value = -1;
    ord_why_t why;
    assert_int_equal (ord_wire_int (reply->body, key, true, INT64_MIN, INT64_MAX,
                                    &value, &why), 0);
    return value;
}

bool
r_ok (reply_t *reply)
{
    const msgpack_object *ok = ord_wire_find (reply->body, "ok");
    return ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
}
