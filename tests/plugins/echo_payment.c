/*  echo_payment: the smallest valid payment plugin. It answers every
    request at once with {v: 1, rid, ok: true, seen} plus every other field
    of the request (op included), so a test can see what arrived; `seen`
    counts the requests it has had so far, this one included, so a test can
    tell how many attempts a call made.

    One exception, for the host's error handling: an op "error:CODE"
    answers {ok: false, error: {code: CODE, message: "echo says CODE"}}.

    It links nothing of orderd's (msgpack-c and czmq only), as a plugin
    written outside this tree would. */
#include <msgpack.h>
#include "orderd/plugin.h"

static void
s_pack_cstr (msgpack_packer *pk, const char *text, size_t size)
{
    msgpack_pack_str (pk, size);
    msgpack_pack_str_body (pk, text, size);
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen (name)
        && memcmp (key->via.str.ptr, name, key->via.str.size) == 0;
}

//  Packs the answer to one request body into buffer
static void
s_answer (const void *data, size_t size, int64_t seen, msgpack_sbuffer *buffer)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    msgpack_unpacked request;
    msgpack_unpacked_init (&request);
    size_t offset = 0;
    if (msgpack_unpack_next (&request, data, size, &offset) != MSGPACK_UNPACK_SUCCESS
    ||  request.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_pack_map (&pk, 4);
        s_pack_cstr (&pk, "v", 1);
        msgpack_pack_int (&pk, 1);
        s_pack_cstr (&pk, "rid", 3);
        msgpack_pack_nil (&pk);
        s_pack_cstr (&pk, "ok", 2);
        msgpack_pack_false (&pk);
        s_pack_cstr (&pk, "error", 5);
        msgpack_pack_map (&pk, 2);
        s_pack_cstr (&pk, "code", 4);
        s_pack_cstr (&pk, "bad_request", 11);
        s_pack_cstr (&pk, "message", 7);
        s_pack_cstr (&pk, "not a msgpack map", 17);
        msgpack_unpacked_destroy (&request);
        return;
    }
    const msgpack_object_map *map = &request.data.via.map;
    const msgpack_object *rid = NULL, *op = NULL;
    uint32_t others = 0;
    for (uint32_t i = 0; i < map->size; i++) {
        if (s_key_is (&map->ptr [i].key, "rid"))
            rid = &map->ptr [i].val;
        else
        if (!s_key_is (&map->ptr [i].key, "v") && !s_key_is (&map->ptr [i].key, "ok"))
            others++;
        if (s_key_is (&map->ptr [i].key, "op"))
            op = &map->ptr [i].val;
    }
    bool error = op && op->type == MSGPACK_OBJECT_STR && op->via.str.size > 6
              && memcmp (op->via.str.ptr, "error:", 6) == 0;
    msgpack_pack_map (&pk, 3 + (error? 1: 1 + others));
    s_pack_cstr (&pk, "v", 1);
    msgpack_pack_int (&pk, 1);
    s_pack_cstr (&pk, "rid", 3);
    if (rid)
        msgpack_pack_object (&pk, *rid);
    else
        msgpack_pack_nil (&pk);
    s_pack_cstr (&pk, "ok", 2);
    if (error) {
        const char *code = op->via.str.ptr + 6;
        size_t code_size = op->via.str.size - 6;
        char message [128];
        snprintf (message, sizeof message, "echo says %.*s", (int) code_size, code);
        msgpack_pack_false (&pk);
        s_pack_cstr (&pk, "error", 5);
        msgpack_pack_map (&pk, 2);
        s_pack_cstr (&pk, "code", 4);
        s_pack_cstr (&pk, code, code_size);
        s_pack_cstr (&pk, "message", 7);
        s_pack_cstr (&pk, message, strlen (message));
    }
    else {
        msgpack_pack_true (&pk);
        s_pack_cstr (&pk, "seen", 4);
        msgpack_pack_int64 (&pk, seen);
        for (uint32_t i = 0; i < map->size; i++)
            if (!s_key_is (&map->ptr [i].key, "rid") && !s_key_is (&map->ptr [i].key, "v")
            &&  !s_key_is (&map->ptr [i].key, "ok")) {
                msgpack_pack_object (&pk, map->ptr [i].key);
                msgpack_pack_object (&pk, map->ptr [i].val);
            }
    }
    msgpack_unpacked_destroy (&request);
}

static void
s_actor (zsock_t *pipe, void *args_)
{
    ord_plugin_args_t *args = (ord_plugin_args_t *) args_;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    bool bound = router && zsock_bind (router, "%s", args->endpoint) == 0;
    zsock_signal (pipe, 0);
    zstr_send (pipe, bound? "": "echo_payment: cannot bind its endpoint");
    zpoller_t *poller = bound? zpoller_new (pipe, router, NULL): zpoller_new (pipe, NULL);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    int64_t seen = 0;
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                break;
        }
        else
        if (which == router) {
            zmsg_t *message = zmsg_recv (router);
            if (!message)
                continue;
            //  Every frame before the last is the envelope, handed back
            zframe_t *body = zmsg_last (message);
            msgpack_sbuffer_clear (&buffer);
            s_answer (zframe_data (body), zframe_size (body), ++seen, &buffer);
            zmsg_remove (message, body);
            zframe_destroy (&body);
            zmsg_addmem (message, buffer.data, buffer.size);
            zmsg_send (&message, router);
            zmsg_destroy (&message);
        }
        else
            break;
    }
    msgpack_sbuffer_destroy (&buffer);
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

ORD_PLUGIN_DECLARE ("payment", "echo_payment", "1.0.0", s_actor)
