/*  metrics: orderd's Prometheus metrics. A registry of counters and
    fixed-bucket histograms that the hot paths update with relaxed atomic
    adds (never a lock, never an allocation), its rendering in the
    Prometheus text exposition format 0.0.4, and the HTTP server (GNU
    libmicrohttpd, on its own thread) that answers GET /metrics with it.

    The recording calls below are the hooks of the instrumented places:
    each is one call, and each does nothing when the registry is NULL
    (orderd/metrics empty, or a test that runs a module alone). What is
    cheaper to read than to maintain (orders per status, the map, the
    adapters' health) is read at scrape time through a collect callback.
    docs/OPERATIONS.md lists every metric. */
#ifndef ORD_METRICS_H_INCLUDED
#define ORD_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fsm.h"
#include "wire.h"

typedef struct _ord_metrics_t ord_metrics_t;

/*  What the collect callback fills in at each scrape. Fields left alone
    keep the zeroes they start with; store_ok false leaves out the store's
    gauges, adapters false the adapters'. */
typedef struct {
    bool store_ok;
    uint64_t orders [ORD_STATUS_COUNT];        /* by ord_status_t; NONE unused */
    uint64_t needs_review;
    uint64_t map_used_bytes;
    uint64_t map_size_bytes;
    bool adapters;
    bool payment_up;
    bool fulfilment_up;
} ord_metrics_sample_t;

typedef void (ord_metrics_collect_fn) (void *arg, ord_metrics_sample_t *sample);

ord_metrics_t *ord_metrics_new (void);
void ord_metrics_destroy (ord_metrics_t **self_p);

/*  Serves GET /metrics on `address` ("HOST:PORT"; HOST an IPv4 address,
    localhost, or an IPv6 address in brackets) from a thread of its own,
    calling `collect` with `arg` at each scrape. Other paths answer 404.
    At most 64 connections are served at once and an idle one is closed
    after 10 s, so clients that open connections and send nothing cost
    a bounded number of file descriptors and never reach the doors.
    Errors: ORD_ECONFIG with *why naming orderd/metrics (a bad address, a
    bind that failed, a server that would not start). */
int ord_metrics_listen (ord_metrics_t *self, const char *address,
                        ord_metrics_collect_fn *collect, void *arg, ord_why_t *why);

/*  Stops serving (waits for a scrape in progress); safe when not serving.
    Call it before what `collect` reads goes away. */
void ord_metrics_close (ord_metrics_t *self);

/*  Splits "HOST:PORT" (PORT 0 to 65535; an IPv6 HOST in brackets, which
    are dropped) into `host` and `port`. False when it is not of that form. */
bool ord_metrics_address_parse (const char *address, char *host, size_t host_size,
                                char port [6]);

/*  The TCP port served, or 0 when not serving. */
int ord_metrics_port (ord_metrics_t *self);

/*  The whole exposition as a NUL-terminated string the caller frees. */
char *ord_metrics_render (ord_metrics_t *self, ord_metrics_collect_fn *collect, void *arg);

//  ---------------------------------------------------------------------
//  Hooks. Each takes the registry first and does nothing when it is NULL.

/*  One answered request of `op` (an ord_op_t; ORD_OP_COUNT for a request
    refused before its op was known) whose reply carried `result`: 0 for
    ok, else its ORD_E* code, labelled with the code's wire name ("internal"
    for a code without one). */
void ord_metrics_request (ord_metrics_t *self, int op, int result, int64_t duration_us);

/*  One committed change of an order's status. */
void ord_metrics_transition (ord_metrics_t *self, ord_status_t from, ord_status_t to);

/*  A saga of `kind` (an ord_saga_kind_t) was suspended. */
void ord_metrics_saga_suspended (ord_metrics_t *self, int kind);

/*  A compensation ended: `phase` (an ord_saga_phase_t) is the
    compensating phase (release, compensate, abort, declined; other phases
    are not counted); `needs_review` when it could not put everything back
    and flagged the order. */
void ord_metrics_compensation (ord_metrics_t *self, int phase, bool needs_review);

/*  One attempt of an adapter call: `adapter` is the kind ("payment",
    "fulfilment"), `op` the adapter op, `rc` 0 or its ORD_E* code
    (ORD_ETIMEOUT counts as result "timeout"). */
void ord_metrics_adapter_call (ord_metrics_t *self, const char *adapter, const char *op,
                               int rc, int64_t duration_us);

/*  One store commit (a group of batches in one transaction) that took
    `duration_us` and wrote `transitions` status changes. */
void ord_metrics_commit (ord_metrics_t *self, int64_t duration_us, uint64_t transitions);

/*  The actor pool as the front sees it now. */
void ord_metrics_pool (ord_metrics_t *self, uint64_t live_actors, uint64_t queue_depth);

#endif
