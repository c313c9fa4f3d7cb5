/*  orderd: the order service daemon. Loads the configuration, opens the
    store, loads the adapters, hands unfinished sagas to recovery, opens
    the doors (recovery goes on behind them), and serves until SIGINT or
    SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "auth.h"
#include "front.h"

#define ORDERD_VERSION "0.1.0"

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: orderd -c FILE [--set PATH=VALUE]... [-v]\n"
        "       orderd --help | --version | --crash-points\n"
        "\n"
        "  -c, --config FILE   configuration file (czmq ZPL), e.g. config/orderd.cfg\n"
        "  --set PATH=VALUE    override one key, e.g. --set orderd/service=tcp://127.0.0.1:9791\n"
        "  -v, --verbose       debug logging\n"
        "  --crash-points      list the ORDERD_CRASH_AT points (for crash tests)\n"
        "\n"
        "Signals: SIGINT or SIGTERM stops taking requests, finishes what is in\n"
        "flight and exits 0; a second signal exits at once.\n");
}

//  Every thread inherits this mask, so signals only ever reach the
//  signalfd that the front polls.
static int
s_signal_fd (void)
{
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGTERM);
    if (pthread_sigmask (SIG_BLOCK, &mask, NULL))
        return -1;
    signal (SIGPIPE, SIG_IGN);
    return signalfd (-1, &mask, SFD_CLOEXEC);
}

//  Each live actor holds six sockets (its pipe's two ends, the reply PUSH,
//  the writer and two adapter DEALERs), each socket a file descriptor;
//  clients need theirs too. `auto` takes what the limit allows, up to
//  S_AUTO_ACTORS_MAX; an explicit cap that does not fit is clamped with a
//  warning, since ops asked for more than they get.
#define S_FDS_PER_ACTOR    6
#define S_FDS_RESERVED     8192
#define S_AUTO_ACTORS_MAX  4096
#define S_ACTORS_MIN       16

static void
s_raise_limits (ord_config_t *config)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &limit))
            ord_debug ("cannot raise the open-file limit: %s", strerror (errno));
    }
    int64_t room = INT64_MAX;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        room = ((int64_t) limit.rlim_cur - S_FDS_RESERVED) / S_FDS_PER_ACTOR;
        if (room < S_ACTORS_MIN)
            room = S_ACTORS_MIN;
    }
    if (config->max_live_actors == 0) {
        config->max_live_actors = room < S_AUTO_ACTORS_MAX? room: S_AUTO_ACTORS_MAX;
        ord_debug ("orderd/max_live_actors: auto, %" PRId64, config->max_live_actors);
    }
    else
    if (config->max_live_actors > room) {
        zsys_warning ("orderd/max_live_actors: %" PRId64 " needs more file descriptors "
                      "than the limit of %llu allows; using %" PRId64,
                      config->max_live_actors, (unsigned long long) limit.rlim_cur, room);
        config->max_live_actors = room;
    }
    zsys_set_max_sockets ((size_t) config->max_live_actors * S_FDS_PER_ACTOR + S_FDS_RESERVED);
}

static int
s_fail (const char *what, const ord_why_t *why)
{
    fprintf (stderr, "orderd: %s%s%s\n", what, why? ": ": "", why? why->text: "");
    return 2;
}

//  What GET /metrics reads at each scrape, on the server's thread: the
//  per-status counts the writer keeps in the store, the map, the
//  adapters' health.
static void
s_collect_metrics (void *arg, ord_metrics_sample_t *sample)
{
    ord_engine_t *engine = (ord_engine_t *) arg;
    MDB_txn *txn;
    if (ord_store_read (engine->store, &txn) == 0) {
        size_t orders, used_bytes, map_bytes;
        ord_store_status_counts (engine->store, txn, sample->orders, &sample->needs_review);
        ord_store_usage (engine->store, txn, &orders, &used_bytes, &map_bytes);
        ord_store_read_end (engine->store, txn);
        sample->map_used_bytes = used_bytes;
        sample->map_size_bytes = map_bytes;
        sample->store_ok = true;
    }
    sample->adapters = true;
    sample->payment_up = ord_adapter_healthy (engine->payment, NULL, 0);
    sample->fulfilment_up = ord_adapter_healthy (engine->fulfilment, NULL, 0);
}

int
main (int argc, char *argv [])
{
    zsys_handler_set (NULL);
    const char *config_path = NULL;
    zlist_t *overrides = zlist_new ();
    bool verbose = false;
    for (int arg = 1; arg < argc; arg++) {
        const char *word = argv [arg];
        if (streq (word, "--help") || streq (word, "-h")) {
            s_usage (stdout);
            zlist_destroy (&overrides);
            return 0;
        }
        if (streq (word, "--version")) {
            printf ("orderd %s (protocol ORDP/%d, plugin ABI %d.%d)\n", ORDERD_VERSION,
                    ORD_WIRE_VERSION, ORD_PLUGIN_ABI_MAJOR, ORD_PLUGIN_ABI_MINOR);
            zlist_destroy (&overrides);
            return 0;
        }
        if (streq (word, "--crash-points")) {
            for (const char *const *point = ord_crash_points (); *point; point++)
                printf ("%s\n", *point);
            zlist_destroy (&overrides);
            return 0;
        }
        if (streq (word, "-v") || streq (word, "--verbose"))
            verbose = true;
        else
        if ((streq (word, "-c") || streq (word, "--config")) && arg + 1 < argc)
            config_path = argv [++arg];
        else
        if (streq (word, "--set") && arg + 1 < argc)
            zlist_append (overrides, argv [++arg]);
        else {
            fprintf (stderr, "orderd: %s: unknown or incomplete option\n", word);
            s_usage (stderr);
            zlist_destroy (&overrides);
            return 2;
        }
    }
    if (!config_path) {
        fprintf (stderr, "orderd: -c FILE is required\n");
        s_usage (stderr);
        zlist_destroy (&overrides);
        return 2;
    }
    ord_why_t why = { "" };
    ord_config_t *config = NULL;
    int rc = ord_config_load (config_path, overrides, &config, &why);
    zlist_destroy (&overrides);
    if (rc)
        return s_fail ("config", &why);
    if (ord_crash_init (&why)) {
        ord_config_destroy (&config);
        return s_fail ("crash point", &why);
    }
    ord_log_set_verbose (verbose);
    zsys_set_logident ("orderd");
    int signal_fd = s_signal_fd ();
    if (signal_fd < 0) {
        ord_config_destroy (&config);
        return s_fail ("cannot set up signal handling", NULL);
    }
    s_raise_limits (config);

    ord_engine_t *engine = NULL;
    zactor_t *auth = NULL;
    ord_front_t *front = NULL;
    int status = 2;
    if (ord_engine_new (config, &engine, &why)) {
        s_fail (why.text, NULL);
        goto done;
    }
    if (ord_front_new (engine, &front, &why)) {
        s_fail ("front", &why);
        goto done;
    }
    //  Served from here on, so that ops can watch a long recovery
    if (engine->metrics && ord_metrics_listen (engine->metrics, config->metrics,
                                               s_collect_metrics, engine, &why)) {
        s_fail ("doors", &why);
        goto done;
    }
    size_t recovering = ord_front_recover (front);
    if (recovering)
        zsys_info ("recovery: %zu unfinished sagas handed to their actors; the doors open meanwhile",
                   recovering);
    if (config->curve) {
        auth = ord_auth_new (config->service_clients, config->admin_clients, &why);
        if (!auth) {
            s_fail ("orderd/curve", &why);
            goto done;
        }
    }
    if (ord_front_open (front, &why)) {
        s_fail ("doors", &why);
        goto done;
    }
    zsys_info ("ready: service %s, admin %s, events %s, metrics %s, data %s (payment %s, "
               "fulfilment %s)", config->service, config->admin, config->events,
               *config->metrics? config->metrics: "off", config->data_dir,
               ord_adapter_name (engine->payment), ord_adapter_name (engine->fulfilment));
    status = ord_front_run (front, signal_fd);
    zsys_info ("stopped");
done:
    //  The scrapes read the store and the adapters: they end first
    if (engine)
        ord_metrics_close (engine->metrics);
    ord_front_destroy (&front);
    zactor_destroy (&auth);
    ord_engine_destroy (&engine);
    close (signal_fd);
    zsys_shutdown ();
    return status;
}
