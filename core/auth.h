/*  auth: CURVE access control for the request doors. A ZAP handler
    (RFC 27) on inproc://zeromq.zap.01 that allows a CURVE client only when
    its public key is in the allow-list folder of the door it connects to
    (ZAP domain "service" or "admin"). Each folder holds public certificate
    files as written by zcert_save_public (or `ordermon keygen`); the
    folder is read at every handshake, so keys can be added or revoked
    without a restart. */
#ifndef ORD_AUTH_H_INCLUDED
#define ORD_AUTH_H_INCLUDED

#include <czmq.h>
#include "wire.h"

#define ORD_AUTH_SERVICE  "service"
#define ORD_AUTH_ADMIN    "admin"

/*  Starts the ZAP handler with one allow-list folder per door. Returns
    NULL and says why when a folder cannot be read or the ZAP endpoint is
    taken. */
zactor_t *ord_auth_new (const char *service_clients, const char *admin_clients,
                        ord_why_t *why);

/*  Makes `socket` a CURVE server with the secret certificate in
    `cert_file`, authenticated in ZAP domain `domain`. Errors: ORD_ECONFIG
    with *why. */
int ord_auth_server (zsock_t *socket, const char *cert_file, const char *domain,
                     ord_why_t *why);

/*  True when `endpoint` is only reachable from this machine (loopback
    TCP, ipc, inproc). */
bool ord_auth_endpoint_is_local (const char *endpoint);

#endif
