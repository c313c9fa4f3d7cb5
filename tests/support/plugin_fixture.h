/*  plugin_fixture: an adapter plugin driven the way orderd drives it, for
    the cmocka tests of one plugin (test_fulfilment_local, test_payment_*).

    fx_new () makes a temp folder with the adapter's LMDB folder in it,
    a config tree with the plugin's section, and dlopens
    $ORDERD_BUILD/plugins/<plugin>.so (build/ without it) and checks that it
    has a descriptor. fx_start () is the whole plugin start-up, handshake
    included, and connects a DEALER; fx_call () is one request and its
    reply. A test may change fx->section (or fx->nosync,
    fx->recv_timeout_ms) before it starts the actor.

        fixture_t *fx = fx_new ("payment_sandbox", "payment");
        fx_start (fx);
        reply_t r;
        fx_call (fx, &r, "create", "sis", "order_id", "o-1",
                 "amount", (int64_t) 1000, "currency", "USD");
        assert_true (r_ok (&r));
        reply_destroy (&r);
        fx_destroy (&fx);

    A test file's setup () does the fx_new () and fx_start () of its plugin
    and hands cmocka fx_teardown () to undo them.

    Every function fails the running cmocka test when something is not as
    the adapter protocol (PROTOCOL.md §9) says; include cmocka.h first. */
#ifndef ORD_TESTS_PLUGIN_FIXTURE_H
#define ORD_TESTS_PLUGIN_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <msgpack.h>
#include "orderd/plugin.h"

//  The fixture: open, so that tests can reach the config and the actor
typedef struct {
    char root [64];                     //  mkdtemp folder
    char data_dir [96];                 //  the adapter's LMDB folder in it
    char endpoint [64];
    void *handle;                       //  dlopen
    const ord_plugin_descriptor_t *descriptor;
    zconfig_t *config;                  //  root of the config tree
    zconfig_t *section;                 //  handed to the plugin
    ord_plugin_args_t args;
    bool nosync;                        //  start with args.sync false
    int recv_timeout_ms;                //  of the DEALER; 5000 by default
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

//  Makes /tmp/test_<plugin>-XXXXXX with the folder <section> in it (the
//  data_dir), a config root with a <section> section that says
//  plugin = <plugin>, and loads the plugin. Nothing is started.
fixture_t *
    fx_new (const char *plugin, const char *section);

//  Stops the actor if it runs, removes the temp folder, unloads the
//  plugin, frees the fixture and nulls *fx_p; safe on a null *fx_p
void
    fx_destroy (fixture_t **fx_p);

//  A cmocka teardown for a test whose *state is a fixture: fx_destroy ()
int
    fx_teardown (void **state);

//  Starts the actor on a fresh inproc endpoint; returns its handshake
//  answer ("" when ready), which the caller frees with zstr_free. Connects
//  nothing; after a refusal fx->actor is still to be destroyed (fx_stop ()
//  or fx_destroy () does it).
char *
    fx_try_start (fixture_t *fx);

//  Starts the actor, which must be ready, and connects fx->client to it
void
    fx_start (fixture_t *fx);

//  Disconnects and stops the actor; safe when it does not run
void
    fx_stop (fixture_t *fx);

//  Sends one frame of raw bytes
void
    fx_send_raw (fixture_t *fx, const void *data, size_t size);

//  Sends {v: 1, op, rid, ...} where `format` names the types of the
//  key/value pairs that follow: s string, i int64_t, n nil (no value). The
//  rid it carries goes in rid (16 bytes).
void
    fx_send (fixture_t *fx, char *rid, const char *op, const char *format, ...);

//  Receives and decodes one reply; the caller destroys it
void
    fx_recv (fixture_t *fx, reply_t *reply);

//  One request (as fx_send), one reply: the reply must echo the request's
//  rid and say v 1. The caller destroys the reply.
void
    fx_call (fixture_t *fx, reply_t *reply, const char *op, const char *format, ...);

//  Frees what a reply holds
void
    reply_destroy (reply_t *reply);

//  One field of a reply as a C string (one of 8 rotating scratch buffers),
//  "" when absent or nil; "error.code" looks one level down
const char *
    r_str (reply_t *reply, const char *key);

//  One integer field of a reply, which must be there
int64_t
    r_int (reply_t *reply, const char *key);

//  Whether the reply says ok: true
bool
    r_ok (reply_t *reply);

//  The error code of a reply, "" when it is ok
#define r_code(reply) r_str ((reply), "error.code")

#endif
