/*  orderbench: the load generator that plays many cart services at once.
    Shared declarations of its modules: hist (latency histograms), load
    (the client loops), daemon (a spawned orderd and /proc readings), probe
    (the fsync and hop ceilings) and report (text and JSON). */
#ifndef OB_ORDERBENCH_H_INCLUDED
#define OB_ORDERBENCH_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "orderd/client.h"
#include "wire.h"

#define OB_TIMEOUT_US      10000000     /* a request unanswered this long is `timeout` */
#define OB_MAX_CODES       32           /* distinct error codes counted */
#define OB_CODE_LEN        32

//  -------------------------------------------------------------------------
//  hist: an HdrHistogram-style log-linear histogram of microseconds. Values
//  below 128 are exact; above, each power of two is cut into 64 buckets, so
//  a reported percentile is within 1.6% of the true value.

#define OB_HIST_SUB_BITS   7
#define OB_HIST_BUCKETS    (128 + 40 * 64)

typedef struct {
    uint64_t counts [OB_HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;
    double sum;
} ob_hist_t;

void ob_hist_reset (ob_hist_t *self);
void ob_hist_record (ob_hist_t *self, int64_t value_us);
void ob_hist_merge (ob_hist_t *self, const ob_hist_t *other);
/*  The highest value equivalent to the q-th percentile (0 < q <= 100), 0
    when empty. */
uint64_t ob_hist_percentile (const ob_hist_t *self, double q);
double ob_hist_mean (const ob_hist_t *self);

//  -------------------------------------------------------------------------
//  Operations measured. ORDER is the whole lifecycle of one order, from the
//  intended send of its create to the reply of its confirm.

typedef enum {
    OB_OP_CREATE, OB_OP_INITIATE, OB_OP_CONFIRM, OB_OP_GET, OB_OP_ORDER,
    OB_OP_COUNT
} ob_op_t;

const char *ob_op_name (ob_op_t op);

//  Errors by code: the protocol's codes, plus `timeout` (no reply within
//  10 s), `send` (the socket refused the message), `unexpected` (an ok
//  reply that does not say what the lifecycle needs).
typedef struct {
    int size;
    char code [OB_MAX_CODES][OB_CODE_LEN];
    uint64_t count [OB_MAX_CODES];
} ob_errors_t;

void ob_errors_add (ob_errors_t *self, const char *code, size_t len, uint64_t count);
void ob_errors_merge (ob_errors_t *self, const ob_errors_t *other);
uint64_t ob_errors_total (const ob_errors_t *self);

//  -------------------------------------------------------------------------
//  Options

typedef struct {
    int clients;                /* DEALER sockets */
    int pipeline;               /* closed loop: orders in flight per client */
    int products;               /* lines per order */
    int skus;                   /* sku pool */
    int users;                  /* user pool */
    int threads;                /* generator threads */
    int get_pct;                /* extra gets per order, percent */
    bool get_only;              /* --mix get=only: reads of stored orders only */
    bool idem;                  /* send an idempotency key with every write */
    double rate;                /* open loop orders/s; 0: closed loop */
    double duration;            /* seconds; 0: until --orders */
    int64_t orders;             /* orders to start; 0: until --duration */
    int64_t preload;            /* orders created before measuring */
    const char *json;           /* file, "-" for stdout, or NULL */
    const char *fsync_dir;      /* --fsync-probe DIR */
    bool hop_probe;             /* --hop-probe */
    double probe_seconds;
    bool spawn;
    const char *orderd;         /* binary to spawn */
    const char *config;         /* its configuration */
    bool sync_full;             /* --sync full|none */
    zlist_t *sets;              /* extra PATH=VALUE for the spawned orderd */
    bool keep;                  /* keep the temp dir of a spawned orderd */
    char service [256];
    char admin [256];
    int pid;                    /* orderd to watch in /proc; 0: none */
    int timeout_ms;             /* per request */
    bool quiet;                 /* no progress lines */
    uint64_t seed;
} ob_options_t;

//  -------------------------------------------------------------------------
//  load: the generator. A run has one phase or two (preload, then measure);
//  each phase runs `threads` workers, each owning a share of the clients.

typedef struct ob_load_t ob_load_t;

typedef struct {
    double seconds;             /* wall time of the phase */
    uint64_t orders;            /* orders that went all the way to confirmed */
    uint64_t requests;          /* replies received (ok or not) */
    uint64_t sent;              /* requests sent */
    uint64_t late_max_us;       /* open loop: worst lag of a send behind schedule */
    ob_hist_t hist [OB_OP_COUNT];
    ob_errors_t errors;
    double cpu_seconds;         /* orderbench's own utime + stime */
} ob_result_t;

/*  Connects the clients. Returns NULL with a reason on stderr. */
ob_load_t *ob_load_new (const ob_options_t *options);
void ob_load_destroy (ob_load_t **self_p);
/*  Creates `count` orders as fast as pipelining allows (creates only);
    they become the targets of later reads. */
int ob_load_preload (ob_load_t *self, int64_t count, ob_result_t *result);
/*  The measured run. */
int ob_load_run (ob_load_t *self, ob_result_t *result);
/*  Asks a running phase to stop early (SIGINT). */
void ob_load_interrupt (void);
bool ob_load_interrupted (void);

//  -------------------------------------------------------------------------
//  admin: one DEALER on the admin door, request/reply with a timeout.

typedef struct {
    bool ok;
    int64_t transitions, commits, batch_max, store_orders, store_used;
    double batch_mean;
    /* `handoffs` (orderd since issue 14; false from an older daemon) */
    bool have_handoffs;
    int64_t actor_messages, writer_round_trips, payment_calls, fulfilment_calls;
} ob_stats_t;

/*  The hand-offs between orderd's threads per order confirmed in a run:
    the counters' growth from `before` to `after` over `orders` (gets and
    orders that failed count in the growth, not in `orders`). */
typedef struct {
    double actor_messages, writer_round_trips, payment_calls, fulfilment_calls;
    double round_trips;             /* actor_messages / 2 + the rest */
} ob_handoffs_t;

/*  False when a count is missing or no order was confirmed. */
bool ob_handoffs_per_order (const ob_stats_t *before, const ob_stats_t *after,
                            uint64_t orders, ob_handoffs_t *per_order);

typedef struct ob_admin_t ob_admin_t;
ob_admin_t *ob_admin_new (const char *endpoint, int timeout_ms);
void ob_admin_destroy (ob_admin_t **self_p);
int ob_admin_stats (ob_admin_t *self, ob_stats_t *stats);
/*  Sets `count` skus "bench-sku-NNNNN" to `available`, pipelined. Returns 0
    or -1 with the reason printed. */
int ob_admin_seed (ob_admin_t *self, int count, int64_t available);
/*  Sends health to `endpoint` until ok or `timeout_ms` passes. */
int ob_wait_health (const char *endpoint, int timeout_ms, int pid);

//  -------------------------------------------------------------------------
//  daemon: a spawned orderd, and /proc readings of any process.

typedef struct ob_daemon_t ob_daemon_t;
/*  Starts orderd on free loopback ports with a temporary data directory,
    and waits until it answers health. Fills options->service, ->admin and
    ->pid. Returns NULL with the reason (and the log tail) on stderr. */
ob_daemon_t *ob_daemon_start (ob_options_t *options);
/*  SIGTERM, wait, remove the temp dir. Returns the exit status (-1 when it
    had to be killed). */
int ob_daemon_stop (ob_daemon_t **self_p);

typedef struct {
    bool ok;
    int64_t hwm_kib, rss_kib;       /* VmHWM, VmRSS */
    double cpu_seconds;             /* utime + stime */
    int threads;
} ob_proc_t;

int ob_proc_read (int pid, ob_proc_t *proc);
double ob_self_cpu (void);          /* this process, every thread */

//  threads: each thread's CPU (/proc/PID/task), grouped by thread name.
typedef struct {
    int tid;
    char name [16];                 /* as the thread named itself (15 bytes at most) */
    double cpu_seconds;             /* utime + stime */
} ob_task_t;

typedef struct {
    ob_task_t *tasks;
    int count;
} ob_tasks_t;

/*  Every live thread of `pid`. Returns 0, or -1 (and no tasks). */
int ob_tasks_read (int pid, ob_tasks_t *tasks);
void ob_tasks_free (ob_tasks_t *tasks);

typedef struct {
    char name [16];                 /* thread name; the ZMQbg/IO/N threads share one */
    int threads;                    /* alive at the end */
    double cpu_seconds;             /* used between the two readings */
    double busiest_seconds;         /* by the group's busiest thread */
} ob_thread_group_t;

/*  The CPU each group of the threads alive in `after` used since `before`,
    largest first; returns how many groups (at most `max_groups`). */
int ob_thread_groups (const ob_tasks_t *before, const ob_tasks_t *after,
                      ob_thread_group_t *groups, int max_groups);

//  -------------------------------------------------------------------------
//  probe: single-put LMDB commits per second with fsync, in DIR.

int ob_fsync_probe (const char *dir, double seconds, double *commits_per_s,
                    uint64_t *commits);

//  hop: a ping-pong of 64-byte frames between this thread and a zactor over
//  its inproc PAIR pipe, each side blocked until the other answers, for
//  about `seconds`. CPU and context switches are the whole process's
//  (getrusage RUSAGE_SELF), over the ping-pong only.
typedef struct {
    uint64_t round_trips;
    double seconds;                 /* wall time */
    double cpu_seconds;             /* utime + stime */
    uint64_t context_switches;      /* voluntary + involuntary */
} ob_hop_t;

/*  Returns 0, or -1 with the reason on stderr. */
int ob_hop_probe (double seconds, ob_hop_t *hop);

//  -------------------------------------------------------------------------
//  report

typedef struct {
    const ob_options_t *options;
    bool have_probe;
    double probe_commits_per_s;
    bool have_hop;
    ob_hop_t hop;
    bool have_preload;
    ob_result_t preload;
    bool have_run;
    ob_result_t run;
    ob_stats_t before, after;
    ob_proc_t proc_before, proc_after;
    bool have_tasks;
    ob_tasks_t tasks_before, tasks_after;
    int daemon_status;              /* exit status of a spawned orderd */
    bool have_daemon_status;
} ob_report_t;

void ob_report_print (const ob_report_t *report, FILE *out);
int ob_report_json (const ob_report_t *report, const char *path);

//  Time
int64_t ob_now_us (void);           /* CLOCK_MONOTONIC */

#endif
