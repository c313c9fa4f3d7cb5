/*  stats: fixed-memory histograms and rate windows. */
#include <stdlib.h>
#include <string.h>
#include "fatal.h"
#include "stats.h"

#define S_SUB_BITS   4
#define S_SUB        (1 << S_SUB_BITS)
#define S_MAGNITUDES 37            //  up to 2^37 us
#define S_BUCKETS    (S_MAGNITUDES * S_SUB)

typedef struct {
    uint64_t count;
    uint64_t errors;
    uint64_t buckets [S_BUCKETS];
} s_histogram_t;

struct _ord_stats_t {
    s_histogram_t ops [ORD_STATS_OPS];
    uint64_t requests_now;                     //  in the open second
    uint64_t requests [ORD_STATS_WINDOW];      //  closed seconds, ring
    uint64_t transitions [ORD_STATS_WINDOW];
    uint64_t last_transitions;
    unsigned head;                             //  next slot to fill
    unsigned filled;
};

ord_stats_t *
ord_stats_new (void)
{
    return (ord_stats_t *) ord_calloc (1, sizeof (ord_stats_t));
}

void
ord_stats_destroy (ord_stats_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  Bucket of a value: values below S_SUB map linearly, above that each
//  power of two is split into S_SUB equal parts.
static unsigned
s_bucket (uint64_t value)
{
    if (value < S_SUB)
        return (unsigned) value;
    unsigned magnitude = 63 - (unsigned) __builtin_clzll (value);   //  >= S_SUB_BITS
    unsigned sub = (unsigned) (value >> (magnitude - S_SUB_BITS)) & (S_SUB - 1);
    unsigned bucket = (magnitude - S_SUB_BITS + 1) * S_SUB + sub;
    return bucket < S_BUCKETS? bucket: S_BUCKETS - 1;
}

//  The highest value a bucket holds.
static uint64_t
s_bucket_top (unsigned bucket)
{
    if (bucket < S_SUB)
        return bucket;
    unsigned magnitude = bucket / S_SUB + S_SUB_BITS - 1;
    unsigned sub = bucket % S_SUB;
    uint64_t base = (uint64_t) (S_SUB + sub) << (magnitude - S_SUB_BITS);
    return base + ((uint64_t) 1 << (magnitude - S_SUB_BITS)) - 1;
}

void
ord_stats_record (ord_stats_t *self, int op, int64_t latency_us, bool error)
{
    self->requests_now++;
    if (op < 0 || op >= ORD_STATS_OPS)
        return;
    s_histogram_t *histogram = &self->ops [op];
    histogram->count++;
    histogram->errors += error;
    histogram->buckets [s_bucket (latency_us > 0? (uint64_t) latency_us: 0)]++;
}

void
ord_stats_tick (ord_stats_t *self, uint64_t transitions)
{
    self->requests [self->head] = self->requests_now;
    self->transitions [self->head] = transitions - self->last_transitions;
    self->last_transitions = transitions;
    self->requests_now = 0;
    self->head = (self->head + 1) % ORD_STATS_WINDOW;
    if (self->filled < ORD_STATS_WINDOW)
        self->filled++;
}

static double
s_rate (ord_stats_t *self, const uint64_t *ring, int seconds)
{
    if (seconds > ORD_STATS_WINDOW - 1)
        seconds = ORD_STATS_WINDOW - 1;
    if ((unsigned) seconds > self->filled)
        seconds = (int) self->filled;
    if (seconds <= 0)
        return 0;
    uint64_t sum = 0;
    for (int i = 1; i <= seconds; i++)
        sum += ring [(self->head + ORD_STATS_WINDOW - (unsigned) i) % ORD_STATS_WINDOW];
    return (double) sum / seconds;
}

double
ord_stats_request_rate (ord_stats_t *self, int seconds)
{
    return s_rate (self, self->requests, seconds);
}

double
ord_stats_transition_rate (ord_stats_t *self, int seconds)
{
    return s_rate (self, self->transitions, seconds);
}

int
ord_stats_history (ord_stats_t *self, bool transitions, uint64_t *values, int count)
{
    const uint64_t *ring = transitions? self->transitions: self->requests;
    int available = (int) self->filled < count? (int) self->filled: count;
    for (int i = 0; i < available; i++)
        values [i] = ring [(self->head + ORD_STATS_WINDOW - (unsigned) (available - i)) % ORD_STATS_WINDOW];
    return available;
}

uint64_t
ord_stats_count (ord_stats_t *self, int op)
{
    return op >= 0 && op < ORD_STATS_OPS? self->ops [op].count: 0;
}

uint64_t
ord_stats_errors (ord_stats_t *self, int op)
{
    return op >= 0 && op < ORD_STATS_OPS? self->ops [op].errors: 0;
}

int64_t
ord_stats_percentile (ord_stats_t *self, int op, double percentile)
{
    if (op < 0 || op >= ORD_STATS_OPS || self->ops [op].count == 0)
        return 0;
    s_histogram_t *histogram = &self->ops [op];
    uint64_t wanted = (uint64_t) ((percentile / 100.0) * (double) histogram->count + 0.5);
    if (wanted < 1)
        wanted = 1;
    uint64_t seen = 0;
    for (unsigned bucket = 0; bucket < S_BUCKETS; bucket++) {
        seen += histogram->buckets [bucket];
        if (seen >= wanted)
            return (int64_t) s_bucket_top (bucket);
    }
    return (int64_t) s_bucket_top (S_BUCKETS - 1);
}
