/*  bridge: an adapter actor that serves no requests itself but forwards
    every one of them (ping included) to an adapter service in another
    process, over a ZeroMQ DEALER connected to the section's `endpoint`,
    with the same msgpack adapter protocol (PROTOCOL.md §9). Shared by the
    plugins bridge_payment and bridge_fulfilment, which differ only in
    their descriptor's kind.

    Config keys of the plugin's section (docs/PLUGINS.md, "Adapters in
    other processes: the bridge"):

      kind              payment | fulfilment: optional, must be the
                        plugin's own kind when given
      endpoint          required: where the service listens (tcp://host:port)
      call_timeout_ms   3000: a call with no answer by then is answered
                        `unavailable`; a later answer is dropped
      heartbeat_ms      1000 (10 or more): ZMTP heartbeats notice a dead peer in this time
      reconnect_ms      100, reconnect_max_ms 2000: reconnect backoff
      max_in_flight     10000: calls waiting for the service at once
      server_key        CURVE: the service's public key (Z85, 40 chars) or
                        the path of its public certificate
      cert              CURVE: this side's certificate (zcert, with its
                        secret key); without it an ephemeral key is used

    orderd's own keys of the section (plugin, timeout_ms, reserve_ttl_ms)
    are allowed; any other key refuses the plugin, naming the key.

    While the peer is away (not connected, or the handshake has not
    completed) every call is answered `unavailable` at once, except `ping`,
    which is not answered at all: orderd's probe then times out and health
    says `degraded` until the peer is back. */
#ifndef ORD_BRIDGE_H_INCLUDED
#define ORD_BRIDGE_H_INCLUDED

#include <czmq.h>
#include "orderd/plugin.h"

#pragma GCC visibility push(hidden)

/*  Runs a bridge actor until "$TERM" on `pipe`, following plugin.h's
    contract (handshake "" or a one-line reason). `kind` and `name` are the
    descriptor's. */
void ord_bridge_run (zsock_t *pipe, const ord_plugin_args_t *args,
                     const char *kind, const char *name);

#pragma GCC visibility pop

#endif
