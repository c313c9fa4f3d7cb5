/*  backup: a hot, consistent copy of a running orderd (the admin `backup`
    op; docs/OPERATIONS.md "Backup and restore" has the argument).

    Into DIR (absolute; missing, or an empty folder) go orderd's LMDB
    environment (DIR/data.mdb) and that of every in-process adapter
    (DIR/<plugin>/data.mdb), each a compacting mdb_env_copy2, and last a
    manifest, DIR/BACKUP, whose presence says the copy is whole. Starting
    orderd with data_dir = DIR restores it.

    Consistency across the environments comes from one write barrier:
    orderd's writer runs the barrier (ord_store_barrier), during which it
    starts orderd's copy and each adapter's (the adapter `backup` op,
    step begin, which holds that adapter's commits too), waits until every
    copy's read transaction has begun, then lets the adapters and itself go
    on. Every copy is then the state of one instant, when all writers stood
    still: the state a kill -9 at that instant would have left, which
    recovery already finishes. The copies themselves run after the barrier,
    on their own threads. Out-of-process (bridge) adapters cannot be copied:
    their state lives with their own service; the reply lists them.

    The backup runs on an actor of its own, so the front never waits for
    it: the front hands it an admin request ("REQ" + ord_request_t *, as to
    an order actor) and the reply comes back through the engine's reply
    socket when the copy is done. One backup at a time: requests sent while
    one runs wait their turn (the front refuses them first). */
#ifndef ORD_BACKUP_H_INCLUDED
#define ORD_BACKUP_H_INCLUDED

#include "engine.h"

#define ORD_BACKUP_MANIFEST  "BACKUP"

/*  Starts the backup actor of `engine` (zactor_destroy stops it, after
    the backup running if any). */
zactor_t *ord_backup_new (ord_engine_t *engine);

/*  Checks that `dir` may receive a backup: an absolute path naming nothing
    or an empty folder. Returns 0, or ORD_EBADREQ with the reason in *why;
    changes nothing either way. */
int ord_backup_check_dir (const char *dir, ord_why_t *why);

#endif
