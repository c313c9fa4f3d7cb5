/*  adapter_backup: the `backup` op of the adapter protocol (optional, see
    docs/PLUGINS.md), answered by the adapter server itself for every
    adapter built on it, as soon as it arrives: never queued behind other
    requests, never delayed by latency_ms.

    It copies the adapter's LMDB environment while orderd holds a write
    barrier across every environment, in three steps:
      {op: "backup", step: "begin", dir}  stop committing (requests are
          still taken, they wait), start a compacting copy into `dir` (an
          absolute path to an existing empty folder), and answer once the
          copy's read transaction has begun: the state copied is fixed;
      {step: "resume"}  commit again; an error if the hold had already
          lapsed (ORD_ADAPTER_BACKUP_HOLD_MS after begin, in case orderd
          never resumes us), then the copy may not match orderd's;
      {step: "end"}  {done: false} while the copy runs, then {done: true,
          bytes}, or the error that ended it.
    One backup at a time: a begin while one runs answers invalid_transition. */
#ifndef ORD_ADAPTER_BACKUP_H_INCLUDED
#define ORD_ADAPTER_BACKUP_H_INCLUDED

#include <czmq.h>
#include <lmdb.h>
#include "wire.h"

#pragma GCC visibility push(hidden)

#define ORD_ADAPTER_BACKUP_HOLD_MS  10000   /* commits held at most this long */
#define ORD_ADAPTER_BACKUP_FIX_MS   5000    /* a copy's snapshot must begin by then */

typedef struct _ord_adapter_backup_t ord_adapter_backup_t;

/*  The backup state of one adapter whose environment is `env` (not ours).
    `name` names the adapter in log lines. */
ord_adapter_backup_t *ord_adapter_backup_new (MDB_env *env, const char *name);

/*  Waits for a copy still running, then frees. Safe on NULL. */
void ord_adapter_backup_destroy (ord_adapter_backup_t **self_p);

/*  If `msg` (envelope + body, as received on `router`) is a backup
    request, answers it on `router`, destroys it and returns true; else
    leaves it alone and returns false. */
bool ord_adapter_backup_take (ord_adapter_backup_t *self, zmsg_t **msg_p, zsock_t *router);

/*  Whether commits are held now. When held, *wait_ms is how long the hold
    may still last (the poller's timeout); a hold that lapsed ends here,
    with a warning. */
bool ord_adapter_backup_holding (ord_adapter_backup_t *self, int64_t *wait_ms);

#pragma GCC visibility pop

#endif
