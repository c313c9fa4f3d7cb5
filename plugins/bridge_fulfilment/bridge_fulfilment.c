/*  bridge_fulfilment: forwards every fulfilment adapter call to a fulfilment
    service in another process (plugins/common/bridge.c; docs/PLUGINS.md,
    "Adapters in other processes: the bridge"). */
#include "orderd/plugin.h"
#include "../common/bridge.h"

#define S_NAME      "bridge_fulfilment"
#define S_VERSION   "1.0.0"

static void
s_actor (zsock_t *pipe, void *args)
{
    ord_bridge_run (pipe, (const ord_plugin_args_t *) args, "fulfilment", S_NAME);
}

ORD_PLUGIN_DECLARE ("fulfilment", S_NAME, S_VERSION, s_actor)
