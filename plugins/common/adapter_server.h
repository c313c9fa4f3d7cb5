/*  adapter_server: the plugin side of an adapter actor, shared by every
    adapter plugin, so that an adapter is only its handlers.

    ord_adapter_run () is the whole actor: it reads the common config keys
    (latency_ms, map_size, map_size_max), opens the adapter's LMDB environment in
    args->data_dir, lets the adapter open its databases (spec->open), binds
    the ROUTER to args->endpoint, does the pipe handshake of plugin.h and
    serves requests until "$TERM":

      - every frame before the last is the envelope, handed back unchanged;
        the last is a msgpack map {v, op, rid, ...}. Not msgpack / not a
        map: bad_request; v != 1: unsupported_version; unknown op:
        unknown_op; op "ping" is answered by the server itself with
        {ok: true, name, version}.
      - each request is answered latency_ms after it arrived (a queue with
        due times and a poller timeout; the loop never sleeps).
      - group commit: all requests that are due are handled in ONE LMDB
        write transaction: spec->batch (say, a sweep of lapsed
        reservations), then each handler in its own nested transaction
        (aborted when the handler fails, unless it sets keep_writes), then
        one commit. Replies go out only after the commit; if the commit
        fails every handled request of the batch answers `unavailable`.

    Usage, a whole adapter:

        static const ord_adapter_op_t s_ops [] = {
            { "reserve", s_reserve }, { "release", s_release }, { NULL, NULL }
        };
        static const ord_adapter_spec_t s_spec = {
            "fulfilment_local", "1.0.0", 4, s_open, s_batch, s_ops
        };
        static void
        s_actor (zsock_t *pipe, void *args)
        {
            self_t self = { 0 };
            ord_adapter_run (pipe, (ord_plugin_args_t *) args, &s_spec, &self);
        }
        ORD_PLUGIN_DECLARE ("fulfilment", "fulfilment_local", "1.0.0", s_actor)
*/
#ifndef ORD_ADAPTER_SERVER_H_INCLUDED
#define ORD_ADAPTER_SERVER_H_INCLUDED

#include <czmq.h>
#include <lmdb.h>
#include "orderd/plugin.h"
#include "orderd/errors.h"
#include "wire.h"
#include "adapter_backup.h"

/*  Only ord_plugin_descriptor is meant to leave a plugin: these helpers are
    hidden inside each .so that links them. */
#pragma GCC visibility push(hidden)

#define ORD_ADAPTER_MAP_SIZE     (256 * 1024 * 1024)   /* map_size default */
#define ORD_ADAPTER_MAX_BODY     65536     /* larger requests: too_large */
#define ORD_ADAPTER_MAX_BATCH    1024      /* requests per write txn */
#define ORD_ADAPTER_MAX_RID      64        /* bytes of a rid */
#define ORD_ADAPTER_MAX_BATCH_CALLS 500    /* calls in one `batch` op */

/*  One request, as a handler sees it. */
typedef struct {
    void *state;                  /* the adapter's state (ord_adapter_run) */
    MDB_txn *txn;                 /* this request's nested write txn */
    const msgpack_object *body;   /* the request map; v and op checked */
    int64_t now;                  /* batch time, ms since the epoch: the
                                     same for every request of a batch */
    msgpack_packer *pk;           /* reply fields go here, as key/value
                                     pairs, with the helpers below... */
    size_t fields;                /* ...which count them */
    bool keep_writes;             /* set by a handler that fails but whose
                                     writes must stand (a recorded decline) */
    ord_why_t why;                /* the message of a failure */
} ord_adapter_call_t;

/*  A handler: reads call->body, reads and writes call->txn, packs reply
    fields. Returns 0, or an ORD_E* code with the message in call->why
    (ord_adapter_fail does both). On failure the fields packed so far are
    dropped and, unless keep_writes, so are the request's writes. */
typedef int (ord_adapter_handler_fn) (ord_adapter_call_t *call);

typedef struct {
    const char *op;
    ord_adapter_handler_fn *handler;
} ord_adapter_op_t;

typedef struct {
    const char *name;             /* answered by ping */
    const char *version;          /* answered by ping */
    unsigned int maxdbs;          /* named databases the adapter opens */
    /*  Called once at start, in a write txn, before the handshake: parse
        the adapter's own config keys, open named databases (mdb_dbi_open
        with MDB_CREATE), seed data. Returns 0 or an ORD_E* code with a
        one-line reason in *why (the actor then refuses to start). */
    int (*open) (void *state, MDB_txn *txn, const ord_plugin_args_t *args,
                 ord_why_t *why);
    /*  Optional (NULL): called at the start of every batch, in its write
        txn, before any handler. A failure fails the whole batch
        (`unavailable`). */
    int (*batch) (void *state, MDB_txn *txn, int64_t now, ord_why_t *why);
    const ord_adapter_op_t *ops;  /* ended by { NULL, NULL } */
} ord_adapter_spec_t;

/*  Runs an adapter actor until "$TERM" on `pipe`: see above. When it cannot
    start it sends the one-line reason after its signal, then waits for
    "$TERM". Requests still waiting for their latency at $TERM are dropped
    unanswered. */
void ord_adapter_run (zsock_t *pipe, const ord_plugin_args_t *args,
                      const ord_adapter_spec_t *spec, void *state);

/*  Decodes a request body the way ord_adapter_run does, for adapters that
    run their own loop: the size (ORD_ETOOLARGE), a msgpack map, its rid
    (copied into rid_text, *has_rid; read first, so that every later error
    can echo it), v (ORD_EVERSION) and op (pointing into *unpacked, which
    points into frame). Returns 0 or the ORD_E* code with the reason in *why. */
int ord_adapter_decode (zframe_t *frame, msgpack_unpacked *unpacked,
                        char rid_text [ORD_ADAPTER_MAX_RID + 1], bool *has_rid,
                        ord_str_t *op, ord_why_t *why);

/*  Sets call->why and returns `code`: `return ord_adapter_fail (call,
    ORD_ENOTFOUND, "payment %s: not found", id);` */
int ord_adapter_fail (ord_adapter_call_t *call, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  Reply field packers: each packs one key/value pair and counts it. */
void ord_adapter_reply_cstr (ord_adapter_call_t *call, const char *key,
                             const char *value);
void ord_adapter_reply_str (ord_adapter_call_t *call, const char *key,
                            ord_str_t value);
void ord_adapter_reply_int (ord_adapter_call_t *call, const char *key,
                            int64_t value);

/*  Reads an integer config key of the plugin section (NULL config: the
    default). Absent or empty: `fallback`. A value that is not a decimal
    integer from min to max: ORD_ECONFIG with a one-line reason naming the
    key in *why. `suffixes` also allows K, M, G (times 1024^n), for sizes. */
int ord_adapter_config_int (zconfig_t *config, const char *key, int64_t min,
                            int64_t max, int64_t fallback, bool suffixes,
                            int64_t *value, ord_why_t *why);

/*  Opens an LMDB environment in args->data_dir (which must exist): map
    size from config map_size (default ORD_ADAPTER_MAP_SIZE), or the size
    it had grown to if larger (ord_adapter_run grows it), `maxdbs`
    named databases, MDB_NOTLS, and MDB_NOSYNC when !args->sync. Returns 0
    with the environment in *env_p (the caller closes it) or ORD_ECONFIG /
    ORD_ESTORE with a one-line reason in *why. */
int ord_adapter_env_open (const ord_plugin_args_t *args, unsigned int maxdbs,
                          MDB_env **env_p, ord_why_t *why);

/*  ord_adapter_env_open, then spec->open (when set) in a write txn that it
    commits: the store start-up of every adapter loop. 0 or the ORD_E*
    code with a one-line reason in *why; *env_p is the caller's to close
    either way (NULL if it could not be opened). */
int ord_adapter_open (const ord_plugin_args_t *args, const ord_adapter_spec_t *spec,
                      void *state, MDB_env **env_p, ord_why_t *why);

/*  A ROUTER bound to args->endpoint, with no high-water mark (the host
    bounds its calls in flight). 0, or ORD_EINTERNAL / ORD_ECONFIG with a
    one-line reason; *router_p is the caller's to destroy either way. */
int ord_adapter_router_bind (const ord_plugin_args_t *args, zsock_t **router_p,
                             ord_why_t *why);

/*  Destroys the ROUTER, the backup state and the LMDB environment of an
    adapter server (each may be NULL), and sets them to NULL. */
void ord_adapter_close (zsock_t **router_p, ord_adapter_backup_t **backup_p, MDB_env **env_p);

/*  The handler of `op` in spec->ops, or NULL. */
ord_adapter_handler_fn *ord_adapter_find_op (const ord_adapter_spec_t *spec, ord_str_t op);

/*  The ORD_E* code of an LMDB failure (MDB_MAP_FULL: ORD_ESTOREFULL, which
    answers `unavailable`; others: ORD_ESTORE, `internal`), with "what:
    mdb_strerror" in *why. */
int ord_adapter_store_error (int mdb_rc, const char *what, ord_why_t *why);

/*  The pipe side of the actor contract, for adapters that run their own
    loop (the bridge). ord_adapter_handshake signals the pipe and sends ""
    (rc 0) or why's text (ord_strerror (rc) when it is empty); when refusing
    it waits for $TERM. Returns true when
    the adapter should go on to serve. ord_adapter_pipe_says_term reads one
    command from the pipe and is true for $TERM (or a dead pipe). */
bool ord_adapter_handshake (zsock_t *pipe, int rc, const ord_why_t *why);
bool ord_adapter_pipe_says_term (zsock_t *pipe);

/*  Names the calling thread "ad-<name>" (15 bytes kept), as orderd names
    its own threads, so that top -H and perf tell the adapters apart. */
void ord_adapter_thread_name (const char *name);

#pragma GCC visibility pop

#endif
