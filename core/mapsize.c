/*  mapsize: growing an LMDB map between write transactions. */
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "fatal.h"
#include "mapsize.h"
#include "orderd/errors.h"

#define S_MIB                 (1024.0 * 1024.0)
#define S_STUCK_RETRY_MS      1000      //  a stuck map is tried again after this
#define S_LOCK_WAIT_MS        100       //  one try to hold the readers off
#define S_LOCK_TRIES          20        //  then this growth is given up

struct _ord_mapsize_t {
    MDB_env *env;                  //  not ours
    char *name;
    atomic_int_fast64_t max_bytes; //  0: the disk's limit
    //  Growing moves the map: readers of other threads hold this shared,
    //  the grower takes it alone (LMDB: no transaction may be open)
    pthread_rwlock_t lock;
    atomic_int copies;             //  copies running (they hold `lock` long)
    atomic_bool stuck;
    int64_t stuck_at_ms;           //  zclock_mono () of the last failed growth
    atomic_uint_fast64_t growths;
};

ord_mapsize_t *
ord_mapsize_new (MDB_env *env, const char *name, int64_t max_bytes)
{
    ord_assert (env);
    ord_mapsize_t *self = (ord_mapsize_t *) ord_calloc (1, sizeof (ord_mapsize_t));
    self->env = env;
    self->name = ord_strdup (name);
    atomic_init (&self->max_bytes, max_bytes);
    atomic_init (&self->copies, 0);
    atomic_init (&self->stuck, false);
    atomic_init (&self->growths, 0);
    //  Writer-preferring, so a growth waits only for the reads under way,
    //  not for a stream of new ones
    pthread_rwlockattr_t attributes;
    ord_assert (pthread_rwlockattr_init (&attributes) == 0);
    ord_assert (pthread_rwlockattr_setkind_np (
                    &attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) == 0);
    ord_assert (pthread_rwlock_init (&self->lock, &attributes) == 0);
    pthread_rwlockattr_destroy (&attributes);
    //  So that a copy of the environment (envcopy) finds us
    mdb_env_set_userctx (env, self);
    return self;
}

void
ord_mapsize_destroy (ord_mapsize_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_mapsize_t *self = *self_p;
    if (mdb_env_get_userctx (self->env) == self)
        mdb_env_set_userctx (self->env, NULL);
    pthread_rwlock_destroy (&self->lock);
    free (self->name);
    free (self);
    *self_p = NULL;
}

void
ord_mapsize_set_max (ord_mapsize_t *self, int64_t max_bytes)
{
    atomic_store (&self->max_bytes, max_bytes);
}

int
ord_mapsize_read_begin (ord_mapsize_t *self)
{
    return pthread_rwlock_rdlock (&self->lock)? ORD_ESTORE: 0;
}

void
ord_mapsize_read_end (ord_mapsize_t *self)
{
    pthread_rwlock_unlock (&self->lock);
}

void
ord_mapsize_copy_begin (MDB_env *env)
{
    ord_mapsize_t *self = (ord_mapsize_t *) mdb_env_get_userctx (env);
    if (!self)
        return;
    atomic_fetch_add (&self->copies, 1);
    ord_assert (pthread_rwlock_rdlock (&self->lock) == 0);
}

void
ord_mapsize_copy_end (MDB_env *env)
{
    ord_mapsize_t *self = (ord_mapsize_t *) mdb_env_get_userctx (env);
    if (!self)
        return;
    pthread_rwlock_unlock (&self->lock);
    atomic_fetch_sub (&self->copies, 1);
}

int
ord_mapsize_adopt (MDB_env *env)
{
    size_t used, asked, stored;
    ord_mapsize_usage (env, &used, &asked);
    //  Size 0: the size recorded in the environment by its last commit
    int rc = mdb_env_set_mapsize (env, 0);
    ord_mapsize_usage (env, &used, &stored);
    if (rc == 0 && stored < asked)
        rc = mdb_env_set_mapsize (env, asked);
    return rc;
}

void
ord_mapsize_usage (MDB_env *env, size_t *used_bytes, size_t *map_bytes)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info (env, &info) || mdb_env_stat (env, &stat)) {
        *used_bytes = 0;
        *map_bytes = 0;
        return;
    }
    *used_bytes = (info.me_last_pgno + 1) * (size_t) stat.ms_psize;
    *map_bytes = info.me_mapsize;
}

bool
ord_mapsize_wants_room (ord_mapsize_t *self)
{
    size_t used, map;
    ord_mapsize_usage (self->env, &used, &map);
    return (unsigned __int128) used * 100 >= (unsigned __int128) map * ORD_MAPSIZE_GROW_PERCENT;
}

//  What the disk can hold: the data file as it is plus the free space
//  (without MDB_WRITEMAP, LMDB extends the file only as it writes pages).
static int
s_disk_limit (ord_mapsize_t *self, size_t *limit, ord_why_t *why)
{
    const char *dir;
    if (mdb_env_get_path (self->env, &dir)) {
        ord_why_set (why, "%s: the environment has no path", self->name);
        return ORD_ESTORE;
    }
    char *data = zsys_sprintf ("%s/data.mdb", dir);
    struct stat file;
    struct statvfs disk;
    int rc = stat (data, &file) || statvfs (dir, &disk)? errno: 0;
    zstr_free (&data);
    if (rc) {
        ord_why_set (why, "%s: cannot measure the disk under %s: %s", self->name, dir,
                     strerror (rc));
        return ORD_ESTORE;
    }
    *limit = (size_t) file.st_size + (size_t) disk.f_bavail * (size_t) disk.f_frsize;
    return 0;
}

//  Takes the lock alone, waiting at most S_LOCK_TRIES times S_LOCK_WAIT_MS
static bool
s_lock_alone (ord_mapsize_t *self)
{
    for (int attempt = 0; attempt < S_LOCK_TRIES; attempt++) {
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_nsec += S_LOCK_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_rwlock_clockwrlock (&self->lock, CLOCK_MONOTONIC, &until) == 0)
            return true;
    }
    return false;
}

//  The growth itself, with the lock held alone
static int
s_grow_locked (ord_mapsize_t *self, int64_t max_bytes, ord_why_t *why)
{
    size_t used, map, limit = (size_t) max_bytes;
    ord_mapsize_usage (self->env, &used, &map);
    if (max_bytes == 0) {
        int rc = s_disk_limit (self, &limit, why);
        if (rc)
            return rc;
    }
    size_t page = (size_t) sysconf (_SC_PAGESIZE);
    size_t wanted = map <= limit / 2? map * 2: limit;
    wanted -= wanted % page;
    if (wanted <= map) {
        ord_why_set (why, "%s: the map (%.1f MiB) cannot grow: %s", self->name, map / S_MIB,
                     max_bytes? "map_size_max reached": "the disk is full");
        if (!atomic_exchange (&self->stuck, true))
            zsys_warning ("%s", why->text);
        self->stuck_at_ms = zclock_mono ();
        return ORD_ESTOREFULL;
    }
    int64_t started_us = zclock_usecs ();
    int mdb_rc = mdb_env_set_mapsize (self->env, wanted);
    if (mdb_rc) {
        ord_why_set (why, "%s: cannot grow the map to %.1f MiB: %s", self->name,
                     wanted / S_MIB, mdb_strerror (mdb_rc));
        return ORD_ESTORE;
    }
    atomic_store (&self->stuck, false);
    atomic_fetch_add (&self->growths, 1);
    zsys_info ("%s: map grown from %.1f to %.1f MiB (%.1f MiB in use, limit %.1f MiB) in %" PRId64
               " us", self->name, map / S_MIB, wanted / S_MIB, used / S_MIB, limit / S_MIB,
               zclock_usecs () - started_us);
    return 0;
}

int
ord_mapsize_grow (ord_mapsize_t *self, ord_why_t *why)
{
    //  A copy reads the map for seconds: wait for it, not here
    if (atomic_load (&self->copies)) {
        ord_why_set (why, "%s: the map grows after the copy under way", self->name);
        return ORD_EBUSY;
    }
    int64_t wait_started_us = zclock_usecs ();
    if (!s_lock_alone (self)) {
        ord_why_set (why, "%s: reads held the map for %d ms: it could not grow", self->name,
                     S_LOCK_WAIT_MS * S_LOCK_TRIES);
        zsys_warning ("%s", why->text);
        return ORD_EBUSY;
    }
    int64_t waited_us = zclock_usecs () - wait_started_us;
    int rc = s_grow_locked (self, atomic_load (&self->max_bytes), why);
    pthread_rwlock_unlock (&self->lock);
    if (rc == 0 && waited_us > 1000)
        zsys_info ("%s: the growth waited %" PRId64 " us for the reads under way", self->name,
                   waited_us);
    return rc;
}

int
ord_mapsize_keep_room (ord_mapsize_t *self, ord_why_t *why)
{
    if (!ord_mapsize_wants_room (self)) {
        atomic_store (&self->stuck, false);
        return 0;
    }
    return ord_mapsize_grow (self, why);
}

bool
ord_mapsize_may_grow (ord_mapsize_t *self)
{
    return !atomic_load (&self->stuck) || zclock_mono () - self->stuck_at_ms >= S_STUCK_RETRY_MS;
}

bool
ord_mapsize_stuck (ord_mapsize_t *self)
{
    return atomic_load (&self->stuck);
}

uint64_t
ord_mapsize_growths (ord_mapsize_t *self)
{
    return atomic_load (&self->growths);
}
