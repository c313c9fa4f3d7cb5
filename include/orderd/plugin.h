/*  The adapter plugin ABI.

    A plugin is a shared object that exports exactly one function,
    ORD_PLUGIN_SYMBOL, returning a pointer to a static descriptor. orderd
    checks every field of the descriptor before it calls anything else in
    the plugin, then starts descriptor->actor as a czmq actor (zactor_new)
    with an ord_plugin_args_t.

    The actor must:
      1. bind a ROUTER socket to args->endpoint (inproc);
      2. zsock_signal (pipe, 0), then send one string frame on the pipe:
         "" when it is ready, or a one-line reason when it cannot start
         (it then returns after reading $TERM);
      3. answer adapter requests (PROTOCOL.md §9) on that ROUTER: every
         frame before the last is the envelope, handed back unchanged; the
         last is a msgpack map {v, op, rid, ...}; the reply is
         {v: 1, rid, ok: true, ...} or {v: 1, rid, ok: false,
         error: {code, message}};
      4. return when it reads "$TERM" on its pipe.

    Compatibility: a daemon loads a plugin whose abi_major equals its own
    and whose abi_minor is not newer than its own. Fields are only ever
    added at the end, taken from `spare`, with a minor bump. */
#ifndef ORDERD_PLUGIN_H_INCLUDED
#define ORDERD_PLUGIN_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define ORD_PLUGIN_MAGIC      0x4f524450u   /* "ORDP" */
#define ORD_PLUGIN_ABI_MAJOR  1
#define ORD_PLUGIN_ABI_MINOR  0
#define ORD_PLUGIN_SYMBOL     "ord_plugin_descriptor"

typedef struct {
    const char *endpoint;     /* inproc endpoint to bind the ROUTER to */
    const char *data_dir;     /* the adapter's own folder; it exists */
    zconfig_t *config;        /* the plugin's section ("payment" or
                                 "fulfilment"); read-only, owned by orderd,
                                 valid until the actor returns */
    int64_t payment_timeout_ms;   /* orderd/payment_timeout */
    bool sync;                /* false with orderd/sync = none: adapters
                                 may then skip fsync too (benchmarks) */
} ord_plugin_args_t;

typedef struct {
    uint32_t magic;           /* ORD_PLUGIN_MAGIC */
    uint16_t abi_major;       /* ORD_PLUGIN_ABI_MAJOR it was built with */
    uint16_t abi_minor;       /* ORD_PLUGIN_ABI_MINOR it was built with */
    uint32_t struct_size;     /* sizeof (ord_plugin_descriptor_t) */
    const char *kind;         /* "payment" or "fulfilment" */
    const char *name;         /* unique among loaded plugins */
    const char *version;      /* the plugin's own version, free form */
    zactor_fn *actor;         /* started with an ord_plugin_args_t * */
    void *spare [8];          /* room to grow; must be NULL */
} ord_plugin_descriptor_t;

typedef const ord_plugin_descriptor_t *(ord_plugin_descriptor_fn) (void);

/*  Declares the exported descriptor function of a plugin. */
#define ORD_PLUGIN_DECLARE(kind_, name_, version_, actor_)                  \
    const ord_plugin_descriptor_t *ord_plugin_descriptor (void);            \
    const ord_plugin_descriptor_t *ord_plugin_descriptor (void) {           \
        static const ord_plugin_descriptor_t descriptor = {                 \
            ORD_PLUGIN_MAGIC, ORD_PLUGIN_ABI_MAJOR, ORD_PLUGIN_ABI_MINOR,   \
            sizeof (ord_plugin_descriptor_t), kind_, name_, version_,       \
            actor_, { NULL } };                                             \
        return &descriptor;                                                 \
    }

#endif
