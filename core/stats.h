/*  stats: request counters, per-op latency histograms and per-second rate
    windows, in fixed memory. Used by the front thread only (not
    thread-safe). Histograms are HdrHistogram-style: log-linear buckets,
    16 per power of two, so any percentile is within 1/16 (6%) of the true
    value from 1 microsecond to about 19 hours. */
#ifndef ORD_STATS_H_INCLUDED
#define ORD_STATS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define ORD_STATS_OPS      32      /* op indexes 0 .. ORD_STATS_OPS - 1 */
#define ORD_STATS_WINDOW   64      /* seconds of rate history kept */

typedef struct _ord_stats_t ord_stats_t;

ord_stats_t *ord_stats_new (void);
void ord_stats_destroy (ord_stats_t **self_p);

/*  Records one answered request of op `op`, its latency, and whether it
    was an error. */
void ord_stats_record (ord_stats_t *self, int op, int64_t latency_us, bool error);

/*  Closes the current second: `transitions` is the running total of
    committed transitions, sampled now. Call once a second. */
void ord_stats_tick (ord_stats_t *self, uint64_t transitions);

/*  Requests (or transitions) per second over the last `seconds` closed
    seconds (at most ORD_STATS_WINDOW - 1). */
double ord_stats_request_rate (ord_stats_t *self, int seconds);
double ord_stats_transition_rate (ord_stats_t *self, int seconds);

/*  Per-second request and transition counts, oldest first, for sparklines:
    fills up to `count` values and returns how many. */
int ord_stats_history (ord_stats_t *self, bool transitions, uint64_t *values, int count);

uint64_t ord_stats_count (ord_stats_t *self, int op);
uint64_t ord_stats_errors (ord_stats_t *self, int op);

/*  The latency in microseconds below which `percentile` (0..100) of the
    op's requests fell; 0 when none were recorded. */
int64_t ord_stats_percentile (ord_stats_t *self, int op, double percentile);

#endif
