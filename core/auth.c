/*  auth: the ZAP handler and CURVE server set-up. */
#include <dirent.h>
#include <unistd.h>
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

//  True when a public certificate in `folder` carries `public_txt`. The
//  folder is read on every handshake (it holds a few files, handshakes are
//  rare), so adding, swapping or deleting a file takes effect at once.
static bool
s_allowed (const char *folder, const char *public_txt)
{
    DIR *dir = opendir (folder);
    if (!dir)
        return false;
    bool allowed = false;
    struct dirent *entry;
    while (!allowed && (entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == '.'
        ||  (length > 7 && streq (entry->d_name + length - 7, "_secret")))
            continue;
        //  Parsed from a copy: zconfig_load leaks its file on a parse error
        char *path = zsys_sprintf ("%s/%s", folder, entry->d_name);
        zchunk_t *text = path? zchunk_slurp (path, 65536): NULL;
        zconfig_t *cert = text? zconfig_chunk_load (text): NULL;
        zchunk_destroy (&text);
        const char *key = cert? zconfig_get (cert, "curve/public-key", NULL): NULL;
        allowed = key && streq (key, public_txt);
        zconfig_destroy (&cert);
        zstr_free (&path);
    }
    closedir (dir);
    return allowed;
}

//  Answers one ZAP request: 200 for a CURVE key in the domain's folder.
static void
s_answer (zsock_t *handler, const char *service, const char *admin)
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
        const char *folder = streq (domain, ORD_AUTH_SERVICE)? service
                           : streq (domain, ORD_AUTH_ADMIN)? admin: NULL;
        allowed = folder && s_allowed (folder, public_txt);
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
    //  Copies: args lives on the caller's stack only until the signal
    char *service = ord_strdup (args->service);
    char *admin = ord_strdup (args->admin);
    zsock_t *handler = zsock_new (ZMQ_REP);
    bool failed = true;
    if (!s_folder_readable (service) || !s_folder_readable (admin))
        ord_why_set (args->why, "cannot read the client key folders %s and %s",
                     service, admin);
    else
    if (!handler || zsock_bind (handler, S_ZAP_ENDPOINT))
        ord_why_set (args->why, "cannot bind the ZAP handler");
    else
        failed = false;
    args->failed = failed;
    zsock_signal (pipe, 0);
    zpoller_t *poller = failed? NULL: zpoller_new (pipe, handler, NULL);
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
    zsock_destroy (&handler);
    free (service);
    free (admin);
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
    //  zcert_load falls back to the public half, with a secret of zeros
    char *secret_file = zsys_sprintf ("%s_secret", cert_file);
    bool readable = secret_file && access (secret_file, R_OK) == 0;
    zstr_free (&secret_file);
    zcert_t *cert = readable? zcert_load (cert_file): NULL;
    if (!cert || streq (zcert_secret_txt (cert), "0000000000000000000000000000000000000000")) {
        ord_why_set (why, "orderd/server_cert: no secret key in %s_secret", cert_file);
        zcert_destroy (&cert);
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
