/*  daemon: a spawned orderd on free loopback ports with a temporary data
    directory; /proc readings of the process under test; the admin client
    (stats, stock seeding) and the health wait. */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include "orderbench.h"

struct ob_daemon_t {
    pid_t pid;
    char tmp [PATH_MAX];        /* temp dir: data/ and orderd.log */
    char log [PATH_MAX + 32];
    bool keep;
};

//  -------------------------------------------------------------------------
//  /proc

int
ob_proc_read (int pid, ob_proc_t *proc)
{
    memset (proc, 0, sizeof *proc);
    if (pid <= 0)
        return -1;
    char path [64], line [512];
    snprintf (path, sizeof path, "/proc/%d/status", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    while (fgets (line, sizeof line, file)) {
        long long value;
        if (sscanf (line, "VmHWM: %lld", &value) == 1)
            proc->hwm_kib = value;
        else
        if (sscanf (line, "VmRSS: %lld", &value) == 1)
            proc->rss_kib = value;
        else
        if (sscanf (line, "Threads: %lld", &value) == 1)
            proc->threads = (int) value;
    }
    fclose (file);
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    file = fopen (path, "r");
    if (!file)
        return -1;
    char stat [2048];
    size_t size = fread (stat, 1, sizeof stat - 1, file);
    fclose (file);
    stat [size] = 0;
    //  The command name may hold spaces and parentheses: fields count from
    //  the last ')'. After it: state (3), ... utime (14), stime (15).
    char *rest = strrchr (stat, ')');
    if (!rest)
        return -1;
    unsigned long long utime = 0, stime = 0;
    if (sscanf (rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                &utime, &stime) != 2)
        return -1;
    double ticks = (double) sysconf (_SC_CLK_TCK);
    proc->cpu_seconds = (double) (utime + stime) / ticks;
    proc->ok = true;
    return 0;
}

double
ob_self_cpu (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) usage.ru_utime.tv_sec + (double) usage.ru_utime.tv_usec / 1e6
         + (double) usage.ru_stime.tv_sec + (double) usage.ru_stime.tv_usec / 1e6;
}

//  -------------------------------------------------------------------------
//  A tiny request/reply over one DEALER, matching replies on rid

//  The reply points into *frame_p, which the caller destroys after use.
static int
s_call (zsock_t *sock, msgpack_sbuffer *body, const char *rid, int timeout_ms,
        msgpack_unpacked *reply, zframe_t **frame_p)
{
    if (zmq_send (zsock_resolve (sock), body->data, body->size, 0) < 0)
        return -1;
    int64_t deadline = ob_now_us () + (int64_t) timeout_ms * 1000;
    while (true) {
        int64_t left = (deadline - ob_now_us ()) / 1000;
        if (left <= 0)
            return -1;
        zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) <= 0)
            continue;
        zframe_t *frame = zframe_recv (sock);
        if (!frame)
            return -1;
        msgpack_unpacked_destroy (reply);
        msgpack_unpacked_init (reply);
        zframe_destroy (frame_p);
        *frame_p = frame;
        ord_why_t why;
        int rc = ord_wire_decode (zframe_data (frame), zframe_size (frame), reply, &why);
        if (rc)
            continue;
        ord_str_t got = ord_str_of (ord_wire_find (&reply->data, "rid"));
        if (got.ptr && ord_str_eq (got, rid))
            return 0;
    }
}

static const char *
s_error_text (const msgpack_object *map, char *text, size_t size)
{
    const msgpack_object *error = ord_wire_find (map, "error");
    ord_str_t code = ord_str_of (ord_wire_find (error, "code"));
    ord_str_t message = ord_str_of (ord_wire_find (error, "message"));
    snprintf (text, size, "%.*s: %.*s", (int) code.len, code.ptr? code.ptr: "",
              (int) message.len, message.ptr? message.ptr: "");
    return text;
}

static bool
s_is_ok (const msgpack_object *map)
{
    const msgpack_object *ok = ord_wire_find (map, "ok");
    return ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
}

static int64_t
s_int (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = ord_wire_find (map, key);
    if (!value)
        return 0;
    if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t) value->via.u64;
    if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return value->via.i64;
    if (value->type == MSGPACK_OBJECT_FLOAT64 || value->type == MSGPACK_OBJECT_FLOAT32)
        return (int64_t) value->via.f64;
    return 0;
}

static double
s_double (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = ord_wire_find (map, key);
    if (!value)
        return 0;
    if (value->type == MSGPACK_OBJECT_FLOAT64 || value->type == MSGPACK_OBJECT_FLOAT32)
        return value->via.f64;
    return (double) s_int (map, key);
}

struct ob_admin_t {
    zsock_t *sock;
    int timeout_ms;
    uint64_t sequence;
};

ob_admin_t *
ob_admin_new (const char *endpoint, int timeout_ms)
{
    ob_admin_t *self = (ob_admin_t *) zmalloc (sizeof (ob_admin_t));
    self->sock = zsock_new (ZMQ_DEALER);
    self->timeout_ms = timeout_ms;
    if (!self->sock || zsock_connect (self->sock, "%s", endpoint)) {
        fprintf (stderr, "orderbench: cannot connect to admin door %s\n", endpoint);
        ob_admin_destroy (&self);
        return NULL;
    }
    zsock_set_linger (self->sock, 0);
    return self;
}

void
ob_admin_destroy (ob_admin_t **self_p)
{
    if (*self_p) {
        zsock_destroy (&(*self_p)->sock);
        free (*self_p);
        *self_p = NULL;
    }
}

int
ob_admin_stats (ob_admin_t *self, ob_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    char rid [32];
    snprintf (rid, sizeof rid, "stats-%" PRIu64, ++self->sequence);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    ord_pack_kv_int (&pk, "v", 1);
    ord_pack_kv_cstr (&pk, "op", "stats");
    ord_pack_kv_cstr (&pk, "rid", rid);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    zframe_t *frame = NULL;
    int rc = s_call (self->sock, &body, rid, self->timeout_ms, &reply, &frame);
    msgpack_sbuffer_destroy (&body);
    if (rc == 0 && s_is_ok (&reply.data)) {
        const msgpack_object *map = &reply.data;
        stats->ok = true;
        stats->transitions = s_int (map, "transitions");
        stats->commits = s_int (map, "commits");
        const msgpack_object *batch = ord_wire_find (map, "batch_size");
        stats->batch_mean = s_double (batch, "mean");
        stats->batch_max = s_int (batch, "max");
        const msgpack_object *store = ord_wire_find (map, "store");
        stats->store_orders = s_int (store, "orders");
        stats->store_used = s_int (store, "used_bytes");
    }
    else
        fprintf (stderr, "orderbench: admin stats: %s\n", rc? "no reply": "refused");
    msgpack_unpacked_destroy (&reply);
    zframe_destroy (&frame);
    return stats->ok? 0: -1;
}

int
ob_admin_seed (ob_admin_t *self, int count, int64_t available)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    void *handle = zsock_resolve (self->sock);
    int sent = 0, answered = 0, failed = 0;
    const int window = 64;
    int64_t deadline = ob_now_us () + (int64_t) self->timeout_ms * 1000;
    while (answered < count) {
        while (sent < count && sent - answered < window) {
            char rid [32], sku [32];
            snprintf (rid, sizeof rid, "seed-%d", sent);
            snprintf (sku, sizeof sku, "bench-sku-%05d", sent);
            msgpack_sbuffer_clear (&body);
            msgpack_pack_map (&pk, 5);
            ord_pack_kv_int (&pk, "v", 1);
            ord_pack_kv_cstr (&pk, "op", "stock");
            ord_pack_kv_cstr (&pk, "rid", rid);
            ord_pack_kv_cstr (&pk, "sku", sku);
            ord_pack_kv_int (&pk, "set", available);
            if (zmq_send (handle, body.data, body.size, 0) < 0)
                break;
            sent++;
        }
        zmq_pollitem_t item = { handle, 0, ZMQ_POLLIN, 0 };
        int64_t left = (deadline - ob_now_us ()) / 1000;
        if (left <= 0 || zmq_poll (&item, 1, (long) left) <= 0) {
            if (ob_now_us () >= deadline) {
                fprintf (stderr, "orderbench: seeding stock: no reply within %d ms\n",
                         self->timeout_ms);
                failed++;
                break;
            }
            continue;
        }
        zframe_t *frame;
        while ((frame = zframe_recv_nowait (self->sock))) {
            ord_why_t why;
            msgpack_unpacked_destroy (&reply);
            msgpack_unpacked_init (&reply);
            if (ord_wire_decode (zframe_data (frame), zframe_size (frame), &reply, &why) == 0) {
                ord_str_t rid = ord_str_of (ord_wire_find (&reply.data, "rid"));
                if (rid.ptr && rid.len > 5 && memcmp (rid.ptr, "seed-", 5) == 0) {
                    answered++;
                    deadline = ob_now_us () + (int64_t) self->timeout_ms * 1000;
                    if (!s_is_ok (&reply.data)) {
                        char text [300];
                        if (failed++ == 0)
                            fprintf (stderr, "orderbench: seeding stock: %s\n",
                                     s_error_text (&reply.data, text, sizeof text));
                    }
                }
            }
            zframe_destroy (&frame);
        }
    }
    msgpack_unpacked_destroy (&reply);
    msgpack_sbuffer_destroy (&body);
    return failed? -1: 0;
}

int
ob_wait_health (const char *endpoint, int timeout_ms, int pid)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return -1;
    zsock_set_linger (sock, 0);
    if (zsock_connect (sock, "%s", endpoint)) {
        zsock_destroy (&sock);
        return -1;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    zframe_t *frame = NULL;
    int64_t deadline = ob_now_us () + (int64_t) timeout_ms * 1000;
    int rc = -1;
    for (int attempt = 0; ob_now_us () < deadline && !ob_load_interrupted (); attempt++) {
        if (pid > 0 && waitpid (pid, NULL, WNOHANG) == pid) {
            rc = -2;            /* it exited */
            break;
        }
        char rid [32];
        snprintf (rid, sizeof rid, "health-%d", attempt);
        msgpack_sbuffer_clear (&body);
        msgpack_pack_map (&pk, 3);
        ord_pack_kv_int (&pk, "v", 1);
        ord_pack_kv_cstr (&pk, "op", "health");
        ord_pack_kv_cstr (&pk, "rid", rid);
        if (s_call (sock, &body, rid, 200, &reply, &frame) == 0 && s_is_ok (&reply.data)) {
            rc = 0;
            break;
        }
        zclock_sleep (50);
    }
    msgpack_unpacked_destroy (&reply);
    zframe_destroy (&frame);
    msgpack_sbuffer_destroy (&body);
    zsock_destroy (&sock);
    return rc;
}

//  -------------------------------------------------------------------------
//  Spawning

//  Distinct free TCP ports on 127.0.0.1: service, admin, events, metrics
#define S_PORTS 4

static int
s_free_ports (int ports [S_PORTS])
{
    int fds [S_PORTS] = { -1, -1, -1, -1 };
    int rc = 0;
    for (int i = 0; i < S_PORTS && rc == 0; i++) {
        struct sockaddr_in address;
        memset (&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        fds [i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds [i] < 0
        ||  bind (fds [i], (struct sockaddr *) &address, sizeof address)
        ||  getsockname (fds [i], (struct sockaddr *) &address, &length))
            rc = -1;
        else
            ports [i] = ntohs (address.sin_port);
    }
    for (int i = 0; i < S_PORTS; i++)
        if (fds [i] >= 0)
            close (fds [i]);
    return rc;
}

static int
s_remove_entry (const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void) sb; (void) type; (void) ftw;
    remove (path);
    return 0;
}

static void
s_print_log_tail (const char *path, int lines)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return;
    char buffer [8192];
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    long from = size > (long) sizeof buffer - 1? size - (long) sizeof buffer + 1: 0;
    fseek (file, from, SEEK_SET);
    size_t got = fread (buffer, 1, sizeof buffer - 1, file);
    fclose (file);
    buffer [got] = 0;
    char *start = buffer + got;
    int seen = 0;
    while (start > buffer && seen <= lines)
        if (*--start == '\n')
            seen++;
    fprintf (stderr, "---- orderd log (%s) ----\n%s\n----\n", path,
             start == buffer? start: start + 1);
}

//  The directory orderd should run in: the config's plugin paths are
//  usually relative to the source tree (build/plugins/...). Keep our own
//  working directory if they resolve from here, else walk up from the
//  orderd binary until they do.
static void
s_pick_workdir (const char *config, const char *orderd, char *workdir, size_t size)
{
    if (!getcwd (workdir, size))
        snprintf (workdir, size, ".");
    zconfig_t *root = zconfig_load (config);
    if (!root)
        return;
    const char *plugin = zconfig_get (root, "payment/plugin", NULL);
    if (plugin && *plugin != '/' && access (plugin, R_OK) != 0) {
        char dir [PATH_MAX];
        if (realpath (orderd, dir)) {
            for (int up = 0; up < 4; up++) {
                char *slash = strrchr (dir, '/');
                if (!slash || slash == dir)
                    break;
                *slash = 0;
                char candidate [PATH_MAX * 2];
                snprintf (candidate, sizeof candidate, "%s/%s", dir, plugin);
                if (access (candidate, R_OK) == 0) {
                    snprintf (workdir, size, "%s", dir);
                    break;
                }
            }
        }
    }
    zconfig_destroy (&root);
}

ob_daemon_t *
ob_daemon_start (ob_options_t *options)
{
    ob_daemon_t *self = (ob_daemon_t *) zmalloc (sizeof (ob_daemon_t));
    self->keep = options->keep;
    const char *tmpdir = getenv ("TMPDIR");
    snprintf (self->tmp, sizeof self->tmp, "%s/orderbench-XXXXXX",
              tmpdir && *tmpdir? tmpdir: "/tmp");
    if (!mkdtemp (self->tmp)) {
        fprintf (stderr, "orderbench: mkdtemp %s: %s\n", self->tmp, strerror (errno));
        free (self);
        return NULL;
    }
    snprintf (self->log, sizeof self->log, "%s/orderd.log", self->tmp);
    char orderd [PATH_MAX], config [PATH_MAX], workdir [PATH_MAX];
    if (!realpath (options->orderd, orderd)) {
        fprintf (stderr, "orderbench: orderd binary %s: %s\n", options->orderd, strerror (errno));
        goto fail;
    }
    if (!realpath (options->config, config)) {
        fprintf (stderr, "orderbench: config %s: %s\n", options->config, strerror (errno));
        goto fail;
    }
    s_pick_workdir (config, orderd, workdir, sizeof workdir);

    for (int attempt = 0; attempt < 3; attempt++) {
        int ports [S_PORTS];
        if (s_free_ports (ports)) {
            fprintf (stderr, "orderbench: cannot find free ports\n");
            goto fail;
        }
        snprintf (options->service, sizeof options->service, "tcp://127.0.0.1:%d", ports [0]);
        snprintf (options->admin, sizeof options->admin, "tcp://127.0.0.1:%d", ports [1]);
        zlist_t *args = zlist_new ();
        zlist_autofree (args);
        zlist_append (args, orderd);
        zlist_append (args, "-c");
        zlist_append (args, config);
        char set [PATH_MAX + 64];
        snprintf (set, sizeof set, "orderd/data_dir=%s/data", self->tmp);
        zlist_append (args, "--set");
        zlist_append (args, set);
        snprintf (set, sizeof set, "orderd/service=%s", options->service);
        zlist_append (args, "--set");
        zlist_append (args, set);
        snprintf (set, sizeof set, "orderd/admin=%s", options->admin);
        zlist_append (args, "--set");
        zlist_append (args, set);
        snprintf (set, sizeof set, "orderd/events=tcp://127.0.0.1:%d", ports [2]);
        zlist_append (args, "--set");
        zlist_append (args, set);
        snprintf (set, sizeof set, "orderd/metrics=127.0.0.1:%d", ports [3]);
        zlist_append (args, "--set");
        zlist_append (args, set);
        snprintf (set, sizeof set, "orderd/sync=%s", options->sync_full? "full": "none");
        zlist_append (args, "--set");
        zlist_append (args, set);
        for (const char *extra = (const char *) zlist_first (options->sets); extra;
             extra = (const char *) zlist_next (options->sets)) {
            zlist_append (args, "--set");
            zlist_append (args, (void *) extra);
        }
        size_t argc = zlist_size (args);
        char **argv = (char **) zmalloc ((argc + 1) * sizeof (char *));
        size_t index = 0;
        for (char *arg = (char *) zlist_first (args); arg; arg = (char *) zlist_next (args))
            argv [index++] = arg;
        int log = open (self->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log < 0) {
            fprintf (stderr, "orderbench: %s: %s\n", self->log, strerror (errno));
            free (argv);
            zlist_destroy (&args);
            goto fail;
        }
        dprintf (log, "==== orderbench starts:");
        for (size_t i = 0; i < argc; i++)
            dprintf (log, " %s", argv [i]);
        dprintf (log, "\n==== in %s\n", workdir);
        fflush (stdout);
        fflush (stderr);
        pid_t parent = getpid ();
        pid_t pid = fork ();
        if (pid == 0) {
            //  The child: dies with us, logs to the temp dir
            prctl (PR_SET_PDEATHSIG, SIGTERM);
            if (getppid () != parent)
                _exit (127);
            sigset_t none;
            sigemptyset (&none);
            sigprocmask (SIG_SETMASK, &none, NULL);
            setpgid (0, 0);         /* ^C reaches us only; we stop it cleanly */
            dup2 (log, 1);
            dup2 (log, 2);
            int null = open ("/dev/null", O_RDONLY);
            if (null >= 0)
                dup2 (null, 0);
            if (chdir (workdir))
                _exit (127);
            execv (argv [0], argv);
            dprintf (2, "orderbench: exec %s: %s\n", argv [0], strerror (errno));
            _exit (127);
        }
        close (log);
        free (argv);
        zlist_destroy (&args);
        if (pid < 0) {
            fprintf (stderr, "orderbench: fork: %s\n", strerror (errno));
            goto fail;
        }
        self->pid = pid;
        options->pid = pid;
        int rc = ob_wait_health (options->service, 30000, pid);
        if (rc == 0)
            return self;
        if (rc == -2) {
            self->pid = 0;
            //  A port taken between the probe and the bind: try new ones
            char text [16384] = "";
            FILE *file = fopen (self->log, "r");
            if (file) {
                size_t got = fread (text, 1, sizeof text - 1, file);
                text [got] = 0;
                fclose (file);
            }
            if (attempt < 2 && (strstr (text, "in use") || strstr (text, "EADDRINUSE")))
                continue;
            fprintf (stderr, "orderbench: orderd exited while starting\n");
        }
        else
            fprintf (stderr, "orderbench: orderd did not answer health within 30 s\n");
        break;
    }
    s_print_log_tail (self->log, 30);
fail:
    self->keep = false;
    ob_daemon_stop (&self);
    return NULL;
}

int
ob_daemon_stop (ob_daemon_t **self_p)
{
    ob_daemon_t *self = *self_p;
    if (!self)
        return 0;
    int result = 0;
    if (self->pid > 0) {
        kill (self->pid, SIGTERM);
        int status = 0;
        int64_t deadline = ob_now_us () + 30 * 1000000LL;
        pid_t got = 0;
        while ((got = waitpid (self->pid, &status, WNOHANG)) == 0 && ob_now_us () < deadline)
            zclock_sleep (20);
        if (got == self->pid)
            result = WIFEXITED (status)? WEXITSTATUS (status): 128 + WTERMSIG (status);
        else {
            fprintf (stderr, "orderbench: orderd did not stop within 30 s of SIGTERM: killed\n");
            kill (self->pid, SIGKILL);
            waitpid (self->pid, &status, 0);
            result = -1;
        }
        if (result != 0)
            s_print_log_tail (self->log, 20);
        self->pid = 0;
    }
    if (self->keep)
        fprintf (stderr, "orderbench: kept %s (data and orderd.log)\n", self->tmp);
    else
        nftw (self->tmp, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free (self);
    *self_p = NULL;
    return result;
}
