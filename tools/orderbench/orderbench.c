/*  orderbench: plays many cart services at once against orderd and reports
    throughput, latency per op, errors, the store's group-commit figures and
    orderd's own memory and CPU. docs/BENCHMARKS.md shows how it is used. */
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include "orderbench.h"

#define S_STOCK     2000000000LL        /* stock per sku: never the limit */

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: orderbench [--spawn | -e ENDPOINT -a ENDPOINT] [options]\n"
        "       orderbench --fsync-probe DIR | --hop-probe\n"
        "\n"
        "Load (each order: create -> initiate_payment -> confirm):\n"
        "  --clients N         DEALER sockets (default 32)\n"
        "  --pipeline P        closed loop: orders in flight per client (default 1)\n"
        "  --rate R            open loop: start R orders/s on a fixed schedule; latency\n"
        "                      counts from the intended send time\n"
        "  --products K        lines per order (default 3)\n"
        "  --skus S            sku pool, seeded through the admin door (default 1000)\n"
        "  --users U           user pool (default 10000)\n"
        "  --mix get=PCT       PCT%% extra gets per order (get=250: 2.5 gets per order),\n"
        "                      each of a random order stored earlier\n"
        "  --mix get=only      reads only: gets of random stored orders (preloads 1000\n"
        "                      orders unless --preload says otherwise)\n"
        "  --idem              an idempotency key on every write\n"
        "  --duration S        stop starting orders after S seconds (default 10)\n"
        "  --orders N          stop after N orders (without --duration: no time limit)\n"
        "  --preload N         first create N orders, pipelined, creates only\n"
        "  --threads T         generator threads, the clients shared out (default 1)\n"
        "  --timeout MS        a request unanswered this long is error `timeout` (10000)\n"
        "  --seed N            random seed (default 1)\n"
        "\n"
        "Target:\n"
        "  -e, --service EP    service door (default tcp://127.0.0.1:8791)\n"
        "  -a, --admin EP      admin door (default tcp://127.0.0.1:8792)\n"
        "  --pid PID           orderd process to watch (peak RSS, CPU)\n"
        "  --spawn             start orderd on free loopback ports with a temporary\n"
        "                      data directory, stop it at the end\n"
        "  --orderd PATH       binary to spawn (default: orderd next to orderbench)\n"
        "  --config FILE       its configuration (default config/orderd.cfg)\n"
        "  --sync full|none    orderd/sync of the spawned orderd (default full)\n"
        "  -s, --set P=V       extra --set for the spawned orderd (repeatable)\n"
        "  --keep              keep the spawned orderd's temp dir and log\n"
        "\n"
        "Output:\n"
        "  --fsync-probe DIR   single-put LMDB commits/s with fsync in DIR (~3 s); alone\n"
        "                      it only probes, with load options it probes, then runs\n"
        "  --hop-probe         what one message hand-off between two threads costs: a\n"
        "                      ping-pong of 64-byte frames with a zactor over inproc\n"
        "                      ZeroMQ (~3 s); round trips/s, wall and process CPU us and\n"
        "                      context switches per round trip; alone or before a run,\n"
        "                      like --fsync-probe\n"
        "  --probe-seconds S   length of each probe (default 3)\n"
        "  --json FILE         the figures as JSON (- for stdout)\n"
        "  -q, --quiet         no progress lines\n"
        "\n"
        "Exit status: 0 done without errors, 1 done with errors, 2 could not run.\n");
}

static void
s_on_signal (int signal)
{
    (void) signal;
    ob_load_interrupt ();
}

static bool
s_number (const char *text, double min, double max, double *value)
{
    char *end;
    errno = 0;
    double number = strtod (text, &end);
    if (errno || end == text || *end || number < min || number > max)
        return false;
    *value = number;
    return true;
}

static void
s_default_orderd (char *path, size_t size)
{
    char self [PATH_MAX - 16];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        snprintf (path, size, "build/bin/orderd");
        return;
    }
    self [len] = 0;
    char *slash = strrchr (self, '/');
    if (slash)
        *slash = 0;
    snprintf (path, size, "%s/orderd", self);
}

int
main (int argc, char *argv [])
{
    zsys_handler_set (NULL);
    static ob_options_t options;
    options.clients = 32;
    options.pipeline = 1;
    options.products = 3;
    options.skus = 1000;
    options.users = 10000;
    options.threads = 1;
    options.config = "config/orderd.cfg";
    options.sync_full = true;
    options.timeout_ms = OB_TIMEOUT_US / 1000;
    options.probe_seconds = 3;
    options.seed = 1;
    options.sets = zlist_new ();
    snprintf (options.service, sizeof options.service, "tcp://127.0.0.1:8791");
    snprintf (options.admin, sizeof options.admin, "tcp://127.0.0.1:8792");
    static char orderd_path [PATH_MAX];
    s_default_orderd (orderd_path, sizeof orderd_path);
    options.orderd = orderd_path;
    bool load_asked = false, preload_given = false;
    int status = 2;
    static ob_report_t report;
    ob_daemon_t *daemon = NULL;
    ob_admin_t *admin = NULL;
    ob_load_t *load = NULL;

    for (int arg = 1; arg < argc; arg++) {
        const char *word = argv [arg];
        const char *value = arg + 1 < argc? argv [arg + 1]: NULL;
        double number = 0;
        #define S_NUMBER(min, max) \
            if (!value || !s_number (value, (min), (max), &number)) { \
                fprintf (stderr, "orderbench: %s needs a number from %g to %g\n", word, \
                         (double) (min), (double) (max)); \
                goto done; \
            } \
            arg++;
        if (streq (word, "-h") || streq (word, "--help")) {
            s_usage (stdout);
            status = 0;
            goto done;
        }
        else
        if (streq (word, "--clients")) {
            S_NUMBER (1, 100000);
            options.clients = (int) number;
            load_asked = true;
        }
        else
        if (streq (word, "--pipeline")) {
            S_NUMBER (1, 10000);
            options.pipeline = (int) number;
            load_asked = true;
        }
        else
        if (streq (word, "--products")) {
            S_NUMBER (1, 500);
            options.products = (int) number;
            load_asked = true;
        }
        else
        if (streq (word, "--skus")) {
            S_NUMBER (1, 99999);
            options.skus = (int) number;
        }
        else
        if (streq (word, "--users")) {
            S_NUMBER (1, 99999);
            options.users = (int) number;
        }
        else
        if (streq (word, "--threads")) {
            S_NUMBER (1, 64);
            options.threads = (int) number;
        }
        else
        if (streq (word, "--rate")) {
            S_NUMBER (0.001, 10000000);
            options.rate = number;
            load_asked = true;
        }
        else
        if (streq (word, "--duration")) {
            S_NUMBER (0.001, 1e7);
            options.duration = number;
            load_asked = true;
        }
        else
        if (streq (word, "--orders")) {
            S_NUMBER (1, 1e15);
            options.orders = (int64_t) number;
            load_asked = true;
        }
        else
        if (streq (word, "--preload")) {
            S_NUMBER (0, 1e12);
            options.preload = (int64_t) number;
            preload_given = true;
            load_asked = true;
        }
        else
        if (streq (word, "--timeout")) {
            S_NUMBER (1, 3600000);
            options.timeout_ms = (int) number;
        }
        else
        if (streq (word, "--seed")) {
            S_NUMBER (0, 1e18);
            options.seed = (uint64_t) number;
        }
        else
        if (streq (word, "--probe-seconds")) {
            S_NUMBER (0.1, 3600);
            options.probe_seconds = number;
        }
        else
        if (streq (word, "--mix") && value) {
            arg++;
            load_asked = true;
            if (streq (value, "get=only"))
                options.get_only = true;
            else
            if (strncmp (value, "get=", 4) == 0 && s_number (value + 4, 0, 100000, &number))
                options.get_pct = (int) number;
            else {
                fprintf (stderr, "orderbench: --mix: get=PERCENT or get=only, not '%s'\n", value);
                goto done;
            }
        }
        else
        if (streq (word, "--idem"))
            options.idem = true;
        else
        if (streq (word, "--json") && value) {
            options.json = value;
            arg++;
        }
        else
        if (streq (word, "--fsync-probe") && value) {
            options.fsync_dir = value;
            arg++;
        }
        else
        if (streq (word, "--hop-probe"))
            options.hop_probe = true;
        else
        if (streq (word, "--spawn")) {
            options.spawn = true;
            load_asked = true;
        }
        else
        if (streq (word, "--orderd") && value) {
            options.orderd = value;
            arg++;
        }
        else
        if (streq (word, "--config") && value) {
            options.config = value;
            arg++;
        }
        else
        if (streq (word, "--sync") && value && (streq (value, "full") || streq (value, "none"))) {
            options.sync_full = streq (value, "full");
            arg++;
        }
        else
        if ((streq (word, "-s") || streq (word, "--set")) && value && strchr (value, '=')) {
            zlist_append (options.sets, (void *) value);
            arg++;
        }
        else
        if (streq (word, "--keep"))
            options.keep = true;
        else
        if ((streq (word, "-e") || streq (word, "--service")) && value) {
            snprintf (options.service, sizeof options.service, "%s", value);
            load_asked = true;
            arg++;
        }
        else
        if ((streq (word, "-a") || streq (word, "--admin")) && value) {
            snprintf (options.admin, sizeof options.admin, "%s", value);
            arg++;
        }
        else
        if (streq (word, "--pid")) {
            S_NUMBER (1, 1e9);
            options.pid = (int) number;
        }
        else
        if (streq (word, "-q") || streq (word, "--quiet"))
            options.quiet = true;
        else {
            fprintf (stderr, "orderbench: %s: unknown or incomplete option\n", word);
            s_usage (stderr);
            goto done;
        }
        #undef S_NUMBER
    }
    if (options.duration == 0 && options.orders == 0)
        options.duration = 10;
    if (options.get_only && !preload_given)
        options.preload = 1000;
    if (options.get_only && options.preload == 0) {
        fprintf (stderr, "orderbench: --mix get=only needs stored orders: --preload N > 0\n");
        goto done;
    }
    if (options.threads > options.clients)
        options.threads = options.clients;

    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
    //  Every client is a socket and a file descriptor or two
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    zsys_set_max_sockets ((size_t) options.clients + 64);

    report.options = &options;

    if (options.fsync_dir) {
        double rate;
        uint64_t commits;
        if (!options.quiet)
            fprintf (stderr, "fsync probe: %.1f s of single-put commits in %s ...\n",
                     options.probe_seconds, options.fsync_dir);
        if (ob_fsync_probe (options.fsync_dir, options.probe_seconds, &rate, &commits))
            goto done;
        report.have_probe = true;
        report.probe_commits_per_s = rate;
    }
    if (options.hop_probe) {
        if (!options.quiet)
            fprintf (stderr, "hop probe: %.1f s of 64-byte round trips with a zactor ...\n",
                     options.probe_seconds);
        if (ob_hop_probe (options.probe_seconds, &report.hop))
            goto done;
        report.have_hop = true;
    }
    if ((options.fsync_dir || options.hop_probe) && !load_asked) {
        ob_report_print (&report, options.json && streq (options.json, "-")? stderr: stdout);
        status = options.json? (ob_report_json (&report, options.json)? 2: 0): 0;
        goto done;
    }

    if (options.spawn) {
        daemon = ob_daemon_start (&options);
        if (!daemon)
            goto done;
        if (!options.quiet)
            fprintf (stderr, "spawned orderd pid %d on %s (admin %s), sync=%s\n", options.pid,
                     options.service, options.admin, options.sync_full? "full": "none");
    }
    else
    if (ob_wait_health (options.service, 5000, 0)) {
        fprintf (stderr, "orderbench: no healthy orderd at %s\n", options.service);
        goto done;
    }
    admin = ob_admin_new (options.admin, options.timeout_ms);
    if (!admin)
        goto done;
    if (!options.quiet)
        fprintf (stderr, "seeding %d skus with %lld each ...\n", options.skus, S_STOCK);
    if (ob_admin_seed (admin, options.skus, S_STOCK))
        goto done;
    load = ob_load_new (&options);
    if (!load)
        goto done;
    if (options.preload > 0) {
        if (ob_load_preload (load, options.preload, &report.preload))
            goto done;
        report.have_preload = true;
        if (!options.quiet)
            fprintf (stderr, "preloaded %" PRIu64 " orders in %.1f s\n",
                     report.preload.orders, report.preload.seconds);
    }
    if (!ob_load_interrupted ()) {
        ob_admin_stats (admin, &report.before);
        ob_proc_read (options.pid, &report.proc_before);
        bool tasks = ob_tasks_read (options.pid, &report.tasks_before) == 0;
        if (ob_load_run (load, &report.run))
            goto done;
        report.have_run = true;
        ob_admin_stats (admin, &report.after);
        ob_proc_read (options.pid, &report.proc_after);
        report.have_tasks = tasks && ob_tasks_read (options.pid, &report.tasks_after) == 0;
    }
    ob_load_destroy (&load);
    ob_admin_destroy (&admin);
    if (daemon) {
        report.daemon_status = ob_daemon_stop (&daemon);
        report.have_daemon_status = true;
    }
    //  With --json -, stdout is for the JSON alone
    ob_report_print (&report, options.json && streq (options.json, "-")? stderr: stdout);
    if (options.json && ob_report_json (&report, options.json))
        goto done;
    status = report.have_run && ob_errors_total (&report.run.errors) == 0
          && ob_errors_total (&report.preload.errors) == 0
          && (!report.have_daemon_status || report.daemon_status == 0)? 0: 1;
done:
    ob_tasks_free (&report.tasks_before);
    ob_tasks_free (&report.tasks_after);
    ob_load_destroy (&load);
    ob_admin_destroy (&admin);
    ob_daemon_stop (&daemon);
    zlist_destroy (&options.sets);
    return status;
}
