/*  garbage: a valid payment plugin that answers every request promptly,
    with bytes that are not msgpack. The host must treat that as the
    adapter being unavailable, never crash on it. */
#include "orderd/plugin.h"

static void
s_actor (zsock_t *pipe, void *args_)
{
    ord_plugin_args_t *args = (ord_plugin_args_t *) args_;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    bool bound = router && zsock_bind (router, "%s", args->endpoint) == 0;
    zsock_signal (pipe, 0);
    zstr_send (pipe, bound? "": "garbage: cannot bind its endpoint");
    zpoller_t *poller = bound? zpoller_new (pipe, router, NULL): zpoller_new (pipe, NULL);
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
            //  Keep the envelope, replace the body: 0xc1 is never msgpack
            zframe_t *body = zmsg_last (message);
            zmsg_remove (message, body);
            zframe_destroy (&body);
            zmsg_addmem (message, "\xc1\xc1 this is not msgpack", 22);
            zmsg_send (&message, router);
            zmsg_destroy (&message);
        }
        else
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

ORD_PLUGIN_DECLARE ("payment", "garbage", "1.0.0", s_actor)
