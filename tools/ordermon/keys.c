/*  keys: CURVE certificates for ordermon and orderd (SECURITY.md).
    `keygen NAME` writes a pair with czmq: NAME, the public half to hand
    out (into orderd/service_clients or orderd/admin_clients, or to every
    client for orderd's own pair), and NAME_secret, both keys, mode 0600.
    om_curve_load reads --cert and --server-key for the client. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "folder.h"
#include "json.h"
#include "ordermon.h"

//  czmq builds "<path>_secret" in a 256-byte buffer and silently cuts a
//  longer name: refuse those instead of reading or writing the wrong file
#define S_PATH_MAX  (255 - 7)

static bool
s_ends_with (const char *text, const char *suffix)
{
    size_t length = strlen (text), suffix_length = strlen (suffix);
    return length >= suffix_length && streq (text + length - suffix_length, suffix);
}

//  mkdir -p of the folder part of `path`. Returns 0 or -1 (errno set).
static int
s_make_parents (const char *path)
{
    const char *slash = strrchr (path, '/');
    if (!slash || slash == path)
        return 0;
    char *folder = strndup (path, (size_t) (slash - path));
    if (!folder)
        return -1;
    int rc = ord_folder_make (folder, 0755);
    int saved = errno;
    free (folder);
    errno = saved;
    return rc;
}

//  Creates `path` empty with `mode`, failing when anything is there
//  already (a file, a dangling link): no key is ever overwritten, and the
//  secret half is never readable by others, not even for a moment.
static int
s_create (const char *path, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (fchmod (fd, mode) != 0) {        //  the umask may have added nothing, but be sure
        int saved = errno;
        close (fd);
        unlink (path);
        errno = saved;
        return -1;
    }
    close (fd);
    return 0;
}

int
om_cmd_keygen (const om_opts_t *opts)
{
    const char *name = opts->argv [0];
    char secret [256];
    if (!*name || s_ends_with (name, "/")) {
        fprintf (stderr, "ordermon: keygen: '%s' is not a file name\n", name);
        return OM_EXIT_USAGE;
    }
    if (strlen (name) > S_PATH_MAX) {
        fprintf (stderr, "ordermon: keygen: '%s' is longer than %d bytes\n", name, S_PATH_MAX);
        return OM_EXIT_USAGE;
    }
    if (s_ends_with (name, "_secret")) {
        fprintf (stderr, "ordermon: keygen: '%s' ends in _secret; give the name of the "
                 "public half (NAME and NAME_secret are written)\n", name);
        return OM_EXIT_USAGE;
    }
    snprintf (secret, sizeof secret, "%s_secret", name);
    const char *files [2] = { name, secret };
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (lstat (files [i], &st) == 0) {
            fprintf (stderr, "ordermon: keygen: %s already exists; not overwriting a key "
                     "(remove it first, or choose another NAME)\n", files [i]);
            return OM_EXIT_USAGE;
        }
    }
    if (s_make_parents (name) != 0) {
        fprintf (stderr, "ordermon: keygen: cannot create the folder of %s: %s\n",
                 name, strerror (errno));
        return OM_EXIT_ERROR;
    }
    //  The secret half first: if the public one then fails, nothing
    //  half-written is left behind
    if (s_create (secret, 0600) != 0) {
        int saved = errno;
        fprintf (stderr, "ordermon: keygen: cannot create %s: %s\n", secret, strerror (saved));
        return saved == EEXIST? OM_EXIT_USAGE: OM_EXIT_ERROR;
    }
    if (s_create (name, 0644) != 0) {
        int saved = errno;
        unlink (secret);
        fprintf (stderr, "ordermon: keygen: cannot create %s: %s\n", name, strerror (saved));
        return saved == EEXIST? OM_EXIT_USAGE: OM_EXIT_ERROR;
    }
    zcert_t *cert = zcert_new ();
    if (cert)
        zcert_set_meta (cert, "created-by", "ordermon keygen");
    //  zcert_save truncates the two files we made, keeping their modes
    if (!cert || zcert_save (cert, name) != 0) {
        fprintf (stderr, "ordermon: keygen: cannot write %s and %s: %s\n", name, secret,
                 strerror (errno));
        unlink (name);
        unlink (secret);
        zcert_destroy (&cert);
        return OM_EXIT_ERROR;
    }
    if (opts->json) {
        printf ("{\"public_key\": ");
        om_json_string (stdout, zcert_public_txt (cert), strlen (zcert_public_txt (cert)));
        printf (", \"public\": ");
        om_json_string (stdout, name, strlen (name));
        printf (", \"secret\": ");
        om_json_string (stdout, secret, strlen (secret));
        printf ("}\n");
    }
    else {
        printf ("%s\n", zcert_public_txt (cert));
        fprintf (stderr, "ordermon: wrote %s (public: hand it out) and %s (secret: keep it "
                 "here, mode 0600)\n", name, secret);
    }
    zcert_destroy (&cert);
    return OM_EXIT_OK;
}

int
om_curve_load (const char *cert_path, const char *server_key, ordc_curve_t *curve)
{
    memset (curve, 0, sizeof *curve);
    if (!cert_path && !server_key)
        return OM_EXIT_OK;
    if (!cert_path != !server_key) {
        fprintf (stderr, "ordermon: --cert and --server-key go together: CURVE needs our "
                 "own pair and orderd's public key\ntry: ordermon --help\n");
        return OM_EXIT_USAGE;
    }
    if (strlen (cert_path) > S_PATH_MAX) {
        fprintf (stderr, "ordermon: --cert %s: longer than %d bytes\n", cert_path, S_PATH_MAX);
        return OM_EXIT_USAGE;
    }
    char why [S_PATH_MAX + 256];
    if (ordc_curve_load (curve, cert_path, server_key, why, sizeof why) != ORDC_OK) {
        //  The client library starts with the file or key it could not use
        size_t cert_len = strlen (cert_path);
        bool cert = strncmp (why, cert_path, cert_len) == 0 && why [cert_len] == ':';
        fprintf (stderr, "ordermon: --%s %s\n", cert? "cert": "server-key", why);
        return OM_EXIT_USAGE;
    }
    return OM_EXIT_OK;
}
