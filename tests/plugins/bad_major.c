/*  bad_major: a descriptor built for ABI major version 2.
    The host must refuse it before it runs anything of the plugin but the
    descriptor function. */
#include "orderd/plugin.h"

//  Never started: the host refuses the descriptor first
static void
s_actor (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    zstr_send (pipe, "");
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

const ord_plugin_descriptor_t *ord_plugin_descriptor (void);

const ord_plugin_descriptor_t *
ord_plugin_descriptor (void)
{
    static const ord_plugin_descriptor_t descriptor = {
        ORD_PLUGIN_MAGIC, 2, ORD_PLUGIN_ABI_MINOR,
        sizeof (ord_plugin_descriptor_t), "payment", "bad_major", "1.0.0", s_actor, { NULL }
    };
    return &descriptor;
}
