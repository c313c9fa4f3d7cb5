/*  auth: the ZAP handler and CURVE server set-up. */
#include <dirent.h>
#include "auth.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct {
    const char *service;
    const char *admin;
    ord_why_t *why;
    bool failed;
} s_auth_args_t;

static bool
s_folder_readable (const char *folder)
{
    DIR *dir = opendir (folder);
    if (!dir)
        return false;
    closedir (dir);
    return true;
}

//  Answers one ZAP request: 200 for a CURVE key in the domain's list.
static void
s_answer (zsock_t *handler, zcertstore_t *service, zcertstore_t *admin)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    bool allowed = false;
    char public_txt [41] = "";
    if (version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE")
    &&  key && zframe_size (key) == 32 && domain) {
        zmq_z85_encode (public_txt, zframe_data (key), 32);
        zcertstore_t *store = streq (domain, ORD_AUTH_SERVICE)? service
                            : streq (domain, ORD_AUTH_ADMIN)? admin: NULL;
        allowed = store && zcertstore_lookup (store, public_txt) != NULL;
    }
    if (!allowed)
        zsys_info ("auth: refused %s client %s on %s door", mechanism? mechanism: "?",
                   address? address: "?", domain? domain: "?");
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id? request_id: "");
    zmsg_addstr (reply, allowed? "200": "400");
    zmsg_addstr (reply, allowed? "OK": "key not allowed on this door");
    zmsg_addstr (reply, allowed? public_txt: "");
    zmsg_addmem (reply, NULL, 0);
    if (zmsg_send (&reply, handler))
        zmsg_destroy (&reply);
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&request);
}

static void
s_auth_actor (zsock_t *pipe, void *args_)
{
    s_auth_args_t *args = (s_auth_args_t *) args_;
    zsock_t *handler = zsock_new (ZMQ_REP);
    zcertstore_t *service = NULL, *admin = NULL;
    if (!s_folder_readable (args->service) || !s_folder_readable (args->admin))
        ord_why_set (args->why, "cannot read the client key folders %s and %s",
                     args->service, args->admin);
    else
    if (!handler || zsock_bind (handler, S_ZAP_ENDPOINT))
        ord_why_set (args->why, "cannot bind the ZAP handler");
    else {
        service = zcertstore_new (args->service);
        admin = zcertstore_new (args->admin);
    }
    args->failed = !service || !admin;
    zsock_signal (pipe, 0);
    zpoller_t *poller = args->failed? NULL: zpoller_new (pipe, handler, NULL);
    while (poller) {
        void *which = zpoller_wait (poller, -1);
        if (which == handler)
            s_answer (handler, service, admin);
        else
            break;      //  $TERM on the pipe, or interrupted
    }
    if (!poller) {
        char *command = zstr_recv (pipe);
        zstr_free (&command);
    }
    zpoller_destroy (&poller);
    zcertstore_destroy (&service);
    zcertstore_destroy (&admin);
    zsock_destroy (&handler);
}

zactor_t *
ord_auth_new (const char *service_clients, const char *admin_clients, ord_why_t *why)
{
    s_auth_args_t args = { service_clients, admin_clients, why, false };
    zactor_t *auth = zactor_new (s_auth_actor, &args);
    if (auth && args.failed)
        zactor_destroy (&auth);
    return auth;
}

int
ord_auth_server (zsock_t *socket, const char *cert_file, const char *domain, ord_why_t *why)
{
    zcert_t *cert = zcert_load (cert_file);
    if (!cert) {
        ord_why_set (why, "orderd/server_cert: cannot load the secret certificate %s", cert_file);
        return ORD_ECONFIG;
    }
    zcert_apply (cert, zsock_resolve (socket));
    zcert_destroy (&cert);
    zsock_set_curve_server (socket, 1);
    zsock_set_zap_domain (socket, domain);
    return 0;
}

bool
ord_auth_endpoint_is_local (const char *endpoint)
{
    static const char *local [] = {
        "tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://", NULL
    };
    for (int i = 0; local [i]; i++)
        if (strncmp (endpoint, local [i], strlen (local [i])) == 0)
            return true;
    return false;
}
