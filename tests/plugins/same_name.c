/*  same_name: a fulfilment plugin that starts fine but calls itself
    "payment_sandbox", like the payment plugin loaded beside it: orderd
    must refuse two plugins with one name. */
#include "orderd/plugin.h"

static void
s_actor (zsock_t *pipe, void *args)
{
    const ord_plugin_args_t *plugin_args = (const ord_plugin_args_t *) args;
    zsock_t *router = zsock_new_router (plugin_args->endpoint);
    zsock_signal (pipe, 0);
    zstr_send (pipe, router? "": "cannot bind");
    char *command = zstr_recv (pipe);
    zstr_free (&command);
    zsock_destroy (&router);
}

ORD_PLUGIN_DECLARE ("fulfilment", "payment_sandbox", "1.0.0", s_actor)
