/*  mapsize: an LMDB environment whose map grows as it fills, shared by
    orderd's store writer and the adapters' servers (plugins link it the
    way they link number).

    LMDB fixes the map size at open, but lets the process grow it between
    write transactions (mdb_env_set_mapsize). The one thread that writes
    an environment owns that moment: after a commit that leaves the map
    past ORD_MAPSIZE_GROW_PERCENT full, or when a commit failed with
    MDB_MAP_FULL (then it retries the commit), it calls ord_mapsize_grow.
    LMDB's rule for that call: no transaction of this process may be open,
    read-only ones in other threads included (the map moves). So a reader
    in another thread holds the map's lock shared while its transaction is
    open (ord_mapsize_read_begin / _end: orderd's store does it for every
    read), and the growth takes it alone. A copy of the environment
    (envcopy, for backups) holds it for the whole copy; a growth then
    waits for the copy's end instead (ORD_EBUSY). An adapter server reads
    on its one thread, so only its copies take the lock.

    Each growth doubles the map, up to the limit: `max_bytes`, or when 0,
    what the disk holding the environment can take (the data file's size
    plus the free space). A map that needs to grow but cannot is `stuck`
    until a later growth succeeds: health says degraded then. */
#ifndef ORD_MAPSIZE_H_INCLUDED
#define ORD_MAPSIZE_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wire.h"

#define ORD_MAPSIZE_GROW_PERCENT  80

typedef struct _ord_mapsize_t ord_mapsize_t;

/*  Watches the open environment `env` (not owned; its userctx is set to
    the new object, for ord_mapsize_copy_*). `name` names it in log lines
    ("store", "payment_sandbox"); `max_bytes` 0 means the disk's limit. */
ord_mapsize_t *ord_mapsize_new (MDB_env *env, const char *name, int64_t max_bytes);
void ord_mapsize_destroy (ord_mapsize_t **self_p);

/*  Changes the limit (0: the disk's), for the growths to come. */
void ord_mapsize_set_max (ord_mapsize_t *self, int64_t max_bytes);

/*  Around a read transaction of a thread that does not grow the map: the
    map stays where it is in between. Not twice in one thread at once.
    Errors: ORD_ESTORE (too many readers). */
int ord_mapsize_read_begin (ord_mapsize_t *self);
void ord_mapsize_read_end (ord_mapsize_t *self);

/*  Around a copy of `env` on the copy's own thread (envcopy): holds the
    map where it is for the whole copy. Nothing when no ord_mapsize_t
    watches `env`. */
void ord_mapsize_copy_begin (MDB_env *env);
void ord_mapsize_copy_end (MDB_env *env);

/*  Right after mdb_env_open: keeps the map the environment had grown to
    when that is larger than the size it was opened with (LMDB would take
    only what is in use). Returns 0 or an LMDB error. */
int ord_mapsize_adopt (MDB_env *env);

/*  Bytes in use (up to the highest page ever written) and the map size. */
void ord_mapsize_usage (MDB_env *env, size_t *used_bytes, size_t *map_bytes);

/*  True when the map is past ORD_MAPSIZE_GROW_PERCENT full. */
bool ord_mapsize_wants_room (ord_mapsize_t *self);

/*  Doubles the map, at most to the limit. Only on the thread that writes,
    between its write transactions; it waits (up to 2 s) for the reads under
    way in other threads and holds new ones off. Returns 0 when it grew;
    ORD_ESTOREFULL when it cannot (limit reached, disk full: *why says
    which, and the map is stuck); ORD_EBUSY when a copy is running or the
    reads did not end (try again later); ORD_ESTORE when LMDB refused. */
int ord_mapsize_grow (ord_mapsize_t *self, ord_why_t *why);

/*  ord_mapsize_grow when ord_mapsize_wants_room, else 0 (and the map is
    not stuck). */
int ord_mapsize_keep_room (ord_mapsize_t *self, ord_why_t *why);

/*  False for a second after a growth failed (at the limit, the disk full),
    so that a full map is not measured again on every commit. */
bool ord_mapsize_may_grow (ord_mapsize_t *self);

/*  True when the map needed to grow and could not; any thread may ask. */
bool ord_mapsize_stuck (ord_mapsize_t *self);

/*  Growths since start, for stats and tests; any thread may ask. */
uint64_t ord_mapsize_growths (ord_mapsize_t *self);

#endif
