/*  envcopy: a compacting LMDB copy on its own thread. See envcopy.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "orderd/errors.h"
#include "fatal.h"
#include "envcopy.h"
#include "mapsize.h"

#define S_POLL_NS 50000            //  50 us between looks at the reader table

struct _ord_envcopy_t {
    MDB_env *env;                  //  not ours
    char *dir;
    pthread_t thread;
    size_t last_txnid;             //  the last commit when the copy started
    atomic_bool done;
    int mdb_rc;                    //  the copy's result, once done
};

static void *
s_copy_thread (void *arg)
{
    ord_envcopy_t *self = (ord_envcopy_t *) arg;
    //  The copy reads the map for its whole length: it must not move
    ord_mapsize_copy_begin (self->env);
    self->mdb_rc = mdb_env_copy2 (self->env, self->dir, MDB_CP_COMPACT);
    ord_mapsize_copy_end (self->env);
    atomic_store (&self->done, true);
    return NULL;
}

int
ord_envcopy_start (MDB_env *env, const char *dir, ord_envcopy_t **copy_p, ord_why_t *why)
{
    *copy_p = NULL;
    MDB_envinfo info;
    int rc = mdb_env_info (env, &info);
    if (rc) {
        ord_why_set (why, "cannot read the environment's info: %s", mdb_strerror (rc));
        return ORD_ESTORE;
    }
    ord_envcopy_t *self = (ord_envcopy_t *) ord_calloc (1, sizeof *self);
    self->dir = ord_strdup (dir);
    self->env = env;
    self->last_txnid = info.me_last_txnid;
    atomic_init (&self->done, false);
    rc = pthread_create (&self->thread, NULL, s_copy_thread, self);
    if (rc) {
        ord_why_set (why, "cannot start the copy's thread: %s", strerror (rc));
        free (self->dir);
        free (self);
        return ORD_ESTORE;
    }
    *copy_p = self;
    return 0;
}

typedef struct {
    pid_t pid;
    size_t thread;
    size_t min_txnid;
    bool seen;
} s_reader_query_t;

//  mdb_reader_list calls this with its header, then one line a reader:
//  "%10d %zx %zu\n" (pid, thread, txnid), or "-" for a txnid when idle
static int
s_reader_line (const char *line, void *arg)
{
    s_reader_query_t *query = (s_reader_query_t *) arg;
    int pid;
    size_t thread, txnid;
    if (sscanf (line, "%d %zx %zu", &pid, &thread, &txnid) == 3
    &&  pid == (int) query->pid && thread == query->thread && txnid >= query->min_txnid)
        query->seen = true;
    return 0;
}

static bool
s_fixed (ord_envcopy_t *self)
{
    if (atomic_load (&self->done))
        return true;
    s_reader_query_t query = { getpid (), (size_t) self->thread, self->last_txnid, false };
    mdb_reader_list (self->env, s_reader_line, &query);
    return query.seen;
}

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int
ord_envcopy_wait_fixed (ord_envcopy_t *self, int64_t timeout_ms)
{
    int64_t deadline = s_mono_ms () + timeout_ms;
    const struct timespec pause = { 0, S_POLL_NS };
    while (!s_fixed (self)) {
        if (s_mono_ms () >= deadline)
            return ORD_ETIMEOUT;
        nanosleep (&pause, NULL);
    }
    return 0;
}

bool
ord_envcopy_done (ord_envcopy_t *self)
{
    return atomic_load (&self->done);
}

int
ord_envcopy_join (ord_envcopy_t **self_p, uint64_t *bytes, ord_why_t *why)
{
    if (!self_p || !*self_p)
        return 0;
    ord_envcopy_t *self = *self_p;
    int rc = pthread_join (self->thread, NULL);
    ord_assert (rc == 0);
    if (self->mdb_rc) {
        ord_why_set (why, "copy into %s: %s", self->dir, mdb_strerror (self->mdb_rc));
        rc = ORD_ESTORE;
    }
    if (bytes) {
        char path [4096];
        struct stat info;
        snprintf (path, sizeof path, "%s/data.mdb", self->dir);
        *bytes = rc == 0 && stat (path, &info) == 0? (uint64_t) info.st_size: 0;
    }
    free (self->dir);
    free (self);
    *self_p = NULL;
    return rc;
}
