/*  engine: what every order actor shares: the configuration, the store
    and its writer, the two adapters, and the atomic counters. ord_engine_new
    builds it whole and ord_engine_destroy takes it down; the front fills in
    `replies` once, before any actor starts, and nothing else changes after
    that except the counters. Also the clock and the named crash points used
    by the crash tests. */
#ifndef ORD_ENGINE_H_INCLUDED
#define ORD_ENGINE_H_INCLUDED

#include <stdatomic.h>
#include "adapter.h"
#include "config.h"
#include "metrics.h"
#include "store.h"

typedef struct {
    ord_config_t *config;
    ord_store_t *store;
    zactor_t *writer;              /* the store's writer, with the events door */
    ord_adapter_t *payment;
    ord_adapter_t *fulfilment;
    ord_metrics_t *metrics;        /* NULL when orderd/metrics is empty */
    char replies [64];             /* the front's PULL endpoint for actors */
    int64_t started_at;
    int64_t reserve_ttl_ms;        /* fulfilment/reserve_ttl_ms, else the payment timeout */
    atomic_uint_fast64_t transitions;
    atomic_uint_fast64_t sagas_recovered;  /* finished or compensated by start-up recovery */
    atomic_uint_fast64_t sagas_recovering; /* handed to actors by it, not yet ended */
    atomic_uint_fast64_t actor_messages;   /* requests into order actors + replies out */
} ord_engine_t;

/*  Opens the store in config->data_dir, starts its writer (which binds
    config->events) and loads the payment and fulfilment plugins; unless
    config->metrics is empty, also makes the metrics registry that the
    writer, the adapters and the front count into (orderd serves it with
    ord_metrics_listen, and closes it before the engine goes). The engine
    owns `config` from the call on, also when it fails. Errors, with *why
    beginning with what failed (the data_dir, "orderd/events: ",
    "plugin: "): ORD_ESCHEMA, ORD_ESTORE, ORD_ECONFIG, ORD_EPLUGIN. */
int ord_engine_new (ord_config_t *config, ord_engine_t **engine_p, ord_why_t *why);

/*  Unloads the adapters, stops the writer, closes the store and frees the
    configuration. Safe to call twice. */
void ord_engine_destroy (ord_engine_t **self_p);

/*  Debug logging, on with orderd -v. */
void ord_log_set_verbose (bool verbose);
bool ord_log_verbose (void);
#define ord_debug(...) do { if (ord_log_verbose ()) zsys_debug (__VA_ARGS__); } while (0)

/*  Names the calling thread (at most 15 bytes are kept), so that top -H
    and perf tell the writer, the actors and the adapters apart. */
void ord_thread_name (const char *name);

/*  Milliseconds since the Unix epoch. */
int64_t ord_engine_now (void);

/*  Reads ORDERD_CRASH_AT once; returns ORD_ECONFIG (and says why) if it
    names no known crash point. */
int ord_crash_init (ord_why_t *why);

/*  Kills the process with SIGKILL if `point` is the armed crash point. */
void ord_crash (const char *point);

/*  The NULL-terminated list of crash point names. */
const char *const *ord_crash_points (void);

#endif
