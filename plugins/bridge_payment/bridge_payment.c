/*  bridge_payment: forwards every payment adapter call to a payment
    service in another process (plugins/common/bridge.c; docs/PLUGINS.md,
    "Adapters in other processes: the bridge"). */
#include "orderd/plugin.h"
#include "../common/bridge.h"

#define S_NAME      "bridge_payment"
#define S_VERSION   "1.0.0"

static void
s_actor (zsock_t *pipe, void *args)
{
    ord_bridge_run (pipe, (const ord_plugin_args_t *) args, "payment", S_NAME);
}

ORD_PLUGIN_DECLARE ("payment", S_NAME, S_VERSION, s_actor)
