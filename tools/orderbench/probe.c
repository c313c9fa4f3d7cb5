/*  probe: two ceilings of this machine, measured without orderd.

    fsync: this disk's ceiling for durable commits. One LMDB environment
    with LMDB's default durability (fsync of the data file and the meta page
    on every commit), one small put per write transaction, for a few
    seconds. Group commit has to beat this number by a wide margin: every
    durable transition that orderd acknowledges costs at most one of these,
    shared with every other transition in the same batch.

    hop: what one message hand-off between two threads costs. orderd pays
    it many times per order (each saga step goes front -> actor -> store
    writer -> actor -> adapter -> actor -> front over inproc ZeroMQ), so
    hops x this cost is a floor under its CPU per order. */
#include <lmdb.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "orderbench.h"

#define S_HOP_FRAME     64          /* bytes: about a small internal message */

static void
s_remove_env (const char *path)
{
    char file [PATH_MAX + 16];
    snprintf (file, sizeof file, "%s/data.mdb", path);
    unlink (file);
    snprintf (file, sizeof file, "%s/lock.mdb", path);
    unlink (file);
    rmdir (path);
}

int
ob_fsync_probe (const char *dir, double seconds, double *commits_per_s,
                uint64_t *commits)
{
    *commits_per_s = 0;
    *commits = 0;
    if (mkdir (dir, 0700) && errno != EEXIST) {
        fprintf (stderr, "orderbench: fsync probe: cannot create %s: %s\n", dir, strerror (errno));
        return -1;
    }
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/orderbench-probe-XXXXXX", dir);
    if (!mkdtemp (path)) {
        fprintf (stderr, "orderbench: fsync probe: cannot create a directory in %s: %s\n",
                 dir, strerror (errno));
        return -1;
    }
    MDB_env *env = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create (&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize (env, (size_t) 256 << 20);
    if (rc == 0)
        rc = mdb_env_open (env, path, 0, 0600);   /* default: fully synchronous */
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, NULL, 0, &dbi);
    if (rc == 0) {
        rc = mdb_txn_commit (txn);
        txn = NULL;
    }
    if (rc) {
        fprintf (stderr, "orderbench: fsync probe: LMDB in %s: %s\n", path, mdb_strerror (rc));
        goto done;
    }
    char value [128];
    memset (value, 'x', sizeof value);
    int64_t start = ob_now_us ();
    int64_t end = start + (int64_t) (seconds * 1e6);
    int64_t now = start;
    uint64_t count = 0;
    while (now < end) {
        //  Keys cycle over 4096 slots so the file stays small
        uint64_t key_value = count % 4096;
        MDB_val key = { sizeof key_value, &key_value };
        MDB_val data = { sizeof value, value };
        rc = mdb_txn_begin (env, NULL, 0, &txn);
        if (rc == 0)
            rc = mdb_put (txn, dbi, &key, &data, 0);
        if (rc == 0)
            rc = mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
        txn = NULL;
        if (rc) {
            fprintf (stderr, "orderbench: fsync probe: commit: %s\n", mdb_strerror (rc));
            goto done;
        }
        count++;
        now = ob_now_us ();
    }
    *commits = count;
    *commits_per_s = (double) count / ((double) (now - start) / 1e6);
done:
    if (txn)
        mdb_txn_abort (txn);
    if (env)
        mdb_env_close (env);
    s_remove_env (path);
    return rc? -1: 0;
}

//  -------------------------------------------------------------------------
//  hop probe

//  Echoes every frame back until $TERM. It blocks in zmq_recv (a poll on
//  the socket's mailbox) between frames, exactly as an order actor sleeps
//  on its pipe, so each hop pays a real wake-up of a sleeping thread.
static void
s_hop_echo (zsock_t *pipe, void *args)
{
    (void) args;
    void *handle = zsock_resolve (pipe);
    char frame [S_HOP_FRAME];
    zsock_signal (pipe, 0);
    while (true) {
        int size = zmq_recv (handle, frame, sizeof frame, 0);
        if (size == -1 && errno == EINTR)
            continue;                   //  a signal meant for the main thread
        if (size == -1 || (size == 5 && memcmp (frame, "$TERM", 5) == 0))
            break;
        //  The caller blocks until this answer comes: on a failed send stop,
        //  and the shim's end-of-actor signal reaches it as a short answer
        int rc;
        do
            rc = zmq_send (handle, frame, (size_t) size, 0);
        while (rc == -1 && errno == EINTR);
        if (rc == -1) {
            fprintf (stderr, "orderbench: hop probe: echo: %s\n", zmq_strerror (errno));
            break;
        }
    }
}

static int
s_usage_now (struct rusage *usage)
{
    if (getrusage (RUSAGE_SELF, usage)) {
        fprintf (stderr, "orderbench: hop probe: getrusage: %s\n", strerror (errno));
        return -1;
    }
    return 0;
}

static double
s_usage_cpu (const struct rusage *usage)
{
    return (double) usage->ru_utime.tv_sec + (double) usage->ru_utime.tv_usec / 1e6
         + (double) usage->ru_stime.tv_sec + (double) usage->ru_stime.tv_usec / 1e6;
}

int
ob_hop_probe (double seconds, ob_hop_t *hop)
{
    memset (hop, 0, sizeof *hop);
    //  The actor's pipe is the PAIR pair over inproc that orderd's front
    //  uses to reach its actors: the same path a real hop takes
    zactor_t *actor = zactor_new (s_hop_echo, NULL);
    if (!actor) {
        fprintf (stderr, "orderbench: hop probe: cannot start the echo actor\n");
        return -1;
    }
    void *handle = zsock_resolve (zactor_sock (actor));
    char frame [S_HOP_FRAME];
    memset (frame, 'x', sizeof frame);
    int rc = 0;
    struct rusage before, after;
    if (s_usage_now (&before)) {
        rc = -1;
        goto done;
    }
    int64_t start = ob_now_us ();
    int64_t end = start + (int64_t) (seconds * 1e6);
    int64_t now = start;
    uint64_t count = 0;
    //  Ctrl-C ends the probe early, with the figures so far
    while (now < end && !ob_load_interrupted ()) {
        int size;
        do
            size = zmq_send (handle, frame, sizeof frame, 0);
        while (size == -1 && errno == EINTR);
        if (size != -1)
            do
                size = zmq_recv (handle, frame, sizeof frame, 0);
            while (size == -1 && errno == EINTR);
        if (size != (int) sizeof frame) {
            fprintf (stderr, "orderbench: hop probe: round trip: %s\n",
                     size == -1? zmq_strerror (errno): "short answer");
            rc = -1;
            goto done;
        }
        count++;
        now = ob_now_us ();
    }
    if (s_usage_now (&after)) {
        rc = -1;
        goto done;
    }
    hop->round_trips = count;
    hop->seconds = (double) (now - start) / 1e6;
    hop->cpu_seconds = s_usage_cpu (&after) - s_usage_cpu (&before);
    hop->context_switches = (uint64_t) ((after.ru_nvcsw - before.ru_nvcsw)
                                      + (after.ru_nivcsw - before.ru_nivcsw));
    if (count == 0) {
        fprintf (stderr, "orderbench: hop probe: no round trip completed\n");
        rc = -1;
    }
done:
    zactor_destroy (&actor);
    return rc;
}
