/*  envcopy: a compacting copy of a live LMDB environment (mdb_env_copy2
    with MDB_CP_COMPACT) on a thread of its own, which says when the state
    it copies is fixed. Shared by orderd's backup and the adapters'.

    mdb_env_copy2 opens its own read transaction when it starts; LMDB 0.9
    has no way to copy from a transaction of the caller's. The state copied
    is the last commit before that read transaction began, so a caller that
    must know the instant (a write barrier held across several
    environments) holds its writers until ord_envcopy_wait_fixed returns,
    and only until then, not for the whole copy. It sees the read
    transaction begin in LMDB's reader table (mdb_reader_list): the slot
    of this process taken by the copy's thread with a transaction id at
    least the last committed one when the copy started. A copy that has
    already ended is fixed too.

        ord_envcopy_t *copy;
        if (ord_envcopy_start (env, "/backups/x", &copy, &why) == 0) {
            rc = ord_envcopy_wait_fixed (copy, 5000);   //  writers held
            ...resume the writers...
            rc = ord_envcopy_join (&copy, &bytes, &why);
        }
*/
#ifndef ORD_ENVCOPY_H_INCLUDED
#define ORD_ENVCOPY_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include "wire.h"

typedef struct _ord_envcopy_t ord_envcopy_t;

/*  Starts copying `env` into `dir` (an existing folder without a data.mdb;
    LMDB writes dir/data.mdb). Errors: ORD_ESTORE (no thread could be
    started; reason in *why). On 0 the copy runs; the caller must end it
    with ord_envcopy_join. */
int ord_envcopy_start (MDB_env *env, const char *dir, ord_envcopy_t **copy_p,
                       ord_why_t *why);

/*  Waits until the copy's read transaction has begun (or the copy has
    ended), at most `timeout_ms`. Returns 0, or ORD_ETIMEOUT. */
int ord_envcopy_wait_fixed (ord_envcopy_t *self, int64_t timeout_ms);

/*  True once the copy has ended, well or not. Never waits. */
bool ord_envcopy_done (ord_envcopy_t *self);

/*  Waits for the copy to end, frees it and nulls *self_p (safe on NULL).
    Returns 0 with the size of the copy in *bytes (may be NULL), or
    ORD_ESTORE with LMDB's reason in *why. */
int ord_envcopy_join (ord_envcopy_t **self_p, uint64_t *bytes, ord_why_t *why);

#endif
