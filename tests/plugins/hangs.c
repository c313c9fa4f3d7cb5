/*  hangs: a valid payment plugin that starts, then never answers: every
    request on its ROUTER is read and dropped. The host's calls must time
    out, and its probe must mark it unhealthy. */
#include "orderd/plugin.h"

static void
s_actor (zsock_t *pipe, void *args_)
{
    ord_plugin_args_t *args = (ord_plugin_args_t *) args_;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    bool bound = router && zsock_bind (router, "%s", args->endpoint) == 0;
    zsock_signal (pipe, 0);
    zstr_send (pipe, bound? "": "hangs: cannot bind its endpoint");
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
            zmsg_t *request = zmsg_recv (router);
            zmsg_destroy (&request);            //  and never a word back
        }
        else
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

ORD_PLUGIN_DECLARE ("payment", "hangs", "1.0.0", s_actor)
