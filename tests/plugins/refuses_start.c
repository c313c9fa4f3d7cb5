/*  refuses_start: a valid payment plugin whose actor cannot start. It does
    the handshake of plugin.h with a reason instead of "", then waits for
    $TERM, as a plugin missing its configuration would. */
#include "orderd/plugin.h"

static void
s_actor (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    zstr_send (pipe, "payment/api_key: required by refuses_start");
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

ORD_PLUGIN_DECLARE ("payment", "refuses_start", "1.0.0", s_actor)
