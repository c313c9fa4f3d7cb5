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
//  The admin door, through the C client library

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
    ordc_client_t *client;
    int timeout_ms;
};

ob_admin_t *
ob_admin_new (const char *endpoint, int timeout_ms)
{
    ob_admin_t *self = (ob_admin_t *) zmalloc (sizeof (ob_admin_t));
    self->client = ordc_client_new (endpoint, NULL);
    self->timeout_ms = timeout_ms;
    if (!self->client) {
        fprintf (stderr, "orderbench: cannot connect to admin door %s\n", endpoint);
        ob_admin_destroy (&self);
    }
    return self;
}

void
ob_admin_destroy (ob_admin_t **self_p)
{
    if (*self_p) {
        ordc_client_destroy (&(*self_p)->client);
        free (*self_p);
        *self_p = NULL;
    }
}

int
ob_admin_stats (ob_admin_t *self, ob_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_options_t once = { .timeout_ms = self->timeout_ms, .retries = -1 };
    if (ordc_call (self->client, "stats", NULL, &once, &reply) == ORDC_OK) {
        const msgpack_object *map = reply.body;
        stats->ok = true;
        stats->transitions = s_int (map, "transitions");
        stats->commits = s_int (map, "commits");
        const msgpack_object *batch = ord_wire_find (map, "batch_size");
        stats->batch_mean = s_double (batch, "mean");
        stats->batch_max = s_int (batch, "max");
        const msgpack_object *store = ord_wire_find (map, "store");
        stats->store_orders = s_int (store, "orders");
        stats->store_used = s_int (store, "used_bytes");
        const msgpack_object *handoffs = ord_wire_find (map, "handoffs");
        if (handoffs && handoffs->type == MSGPACK_OBJECT_MAP) {
            stats->have_handoffs = true;
            stats->actor_messages = s_int (handoffs, "actor_messages");
            stats->writer_round_trips = s_int (handoffs, "writer_round_trips");
            const msgpack_object *calls = ord_wire_find (handoffs, "adapter_calls");
            stats->payment_calls = s_int (calls, "payment");
            stats->fulfilment_calls = s_int (calls, "fulfilment");
        }
    }
    else
        fprintf (stderr, "orderbench: admin stats: %s: %s\n", reply.code_text, reply.message);
    ordc_reply_reset (&reply);
    return stats->ok? 0: -1;
}

int
ob_admin_seed (ob_admin_t *self, int count, int64_t available)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int sent = 0, answered = 0, failed = 0;
    const int window = 64;
    int64_t deadline = ob_now_us () + (int64_t) self->timeout_ms * 1000;
    while (answered < count) {
        while (sent < count && sent - answered < window) {
            char sku [32];
            snprintf (sku, sizeof sku, "bench-sku-%05d", sent);
            ordc_body_reset (&body);
            ordc_body_str (&body, "sku", sku);
            ordc_body_int (&body, "set", available);
            if (ordc_send (self->client, "stock", &body, NULL, (uint64_t) sent + 1) != ORDC_OK)
                break;
            sent++;
        }
        zmq_pollitem_t item = { ordc_client_handle (self->client), 0, ZMQ_POLLIN, 0 };
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
        ordc_code_t rc;
        while ((rc = ordc_recv (self->client, &reply)) != ORDC_AGAIN) {
            if (rc != ORDC_OK || reply.tag == 0 || reply.tag > (uint64_t) sent)
                continue;
            answered++;
            deadline = ob_now_us () + (int64_t) self->timeout_ms * 1000;
            if (!reply.ok && failed++ == 0)
                fprintf (stderr, "orderbench: seeding stock: %s: %s\n",
                         reply.code_text, reply.message);
        }
    }
    ordc_reply_reset (&reply);
    ordc_body_destroy (&body);
    return failed? -1: 0;
}

int
ob_wait_health (const char *endpoint, int timeout_ms, int pid)
{
    ordc_client_t *client = ordc_client_new (endpoint, NULL);
    if (!client)
        return -1;
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_options_t quick = { .timeout_ms = 200, .retries = -1 };
    int64_t deadline = ob_now_us () + (int64_t) timeout_ms * 1000;
    int rc = -1;
    while (ob_now_us () < deadline && !ob_load_interrupted ()) {
        if (pid > 0 && waitpid (pid, NULL, WNOHANG) == pid) {
            rc = -2;            /* it exited */
            break;
        }
        if (ordc_call (client, "health", NULL, &quick, &reply) == ORDC_OK) {
            rc = 0;
            break;
        }
        zclock_sleep (50);
    }
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
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
