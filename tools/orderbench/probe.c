/*  probe: this disk's ceiling for durable commits. One LMDB environment
    with LMDB's default durability (fsync of the data file and the meta page
    on every commit), one small put per write transaction, for a few
    seconds. Group commit has to beat this number by a wide margin: every
    durable transition that orderd acknowledges costs at most one of these,
    shared with every other transition in the same batch. */
#include <lmdb.h>
#include <sys/stat.h>
#include "orderbench.h"

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
