/*  hist: log-linear latency histograms (HdrHistogram's bucket layout with
    two significant binary digits more than a power of two: 64 sub-buckets
    per octave), and the error-code tally. */
#include "orderbench.h"

#define S_SUB       (1u << OB_HIST_SUB_BITS)        /* 128 */
#define S_HALF      (S_SUB / 2)                     /* 64 */

static const char *s_op_names [OB_OP_COUNT] = {
    "create", "initiate_payment", "confirm", "get", "order"
};

const char *
ob_op_name (ob_op_t op)
{
    return op < OB_OP_COUNT? s_op_names [op]: "?";
}

void
ob_hist_reset (ob_hist_t *self)
{
    memset (self, 0, sizeof *self);
}

static int
s_index (uint64_t value)
{
    if (value < S_SUB)
        return (int) value;
    int msb = 63 - __builtin_clzll (value);
    int shift = msb - (OB_HIST_SUB_BITS - 1);       /* value >> shift in [64, 128) */
    int index = (int) S_SUB + (shift - 1) * (int) S_HALF
              + (int) ((value >> shift) - S_HALF);
    return index < OB_HIST_BUCKETS? index: OB_HIST_BUCKETS - 1;
}

//  The largest value that falls into bucket `index`
static uint64_t
s_highest (int index)
{
    if (index < (int) S_SUB)
        return (uint64_t) index;
    int shift = (index - (int) S_SUB) / (int) S_HALF + 1;
    uint64_t sub = (uint64_t) ((index - (int) S_SUB) % (int) S_HALF) + S_HALF;
    return ((sub + 1) << shift) - 1;
}

void
ob_hist_record (ob_hist_t *self, int64_t value_us)
{
    uint64_t value = value_us < 0? 0: (uint64_t) value_us;
    self->counts [s_index (value)]++;
    if (self->total == 0 || value < self->min)
        self->min = value;
    if (value > self->max)
        self->max = value;
    self->total++;
    self->sum += (double) value;
}

void
ob_hist_merge (ob_hist_t *self, const ob_hist_t *other)
{
    if (other->total == 0)
        return;
    for (int i = 0; i < OB_HIST_BUCKETS; i++)
        self->counts [i] += other->counts [i];
    if (self->total == 0 || other->min < self->min)
        self->min = other->min;
    if (other->max > self->max)
        self->max = other->max;
    self->total += other->total;
    self->sum += other->sum;
}

uint64_t
ob_hist_percentile (const ob_hist_t *self, double q)
{
    if (self->total == 0)
        return 0;
    uint64_t target = (uint64_t) ((q / 100.0) * (double) self->total + 0.999999);
    if (target < 1)
        target = 1;
    if (target > self->total)
        target = self->total;
    uint64_t seen = 0;
    for (int i = 0; i < OB_HIST_BUCKETS; i++) {
        seen += self->counts [i];
        if (seen >= target) {
            uint64_t value = s_highest (i);
            return value > self->max? self->max: value;
        }
    }
    return self->max;
}

double
ob_hist_mean (const ob_hist_t *self)
{
    return self->total? self->sum / (double) self->total: 0;
}

//  -------------------------------------------------------------------------

void
ob_errors_add (ob_errors_t *self, const char *code, size_t len, uint64_t count)
{
    if (len >= OB_CODE_LEN)
        len = OB_CODE_LEN - 1;
    int slot;
    for (slot = 0; slot < self->size; slot++)
        if (strlen (self->code [slot]) == len && memcmp (self->code [slot], code, len) == 0)
            break;
    if (slot == self->size) {
        if (self->size == OB_MAX_CODES) {
            code = "other";
            len = 5;
            slot = OB_MAX_CODES - 1;
        }
        else {
            self->size++;
            memcpy (self->code [slot], code, len);
            self->code [slot][len] = 0;
        }
    }
    self->count [slot] += count;
}

void
ob_errors_merge (ob_errors_t *self, const ob_errors_t *other)
{
    for (int i = 0; i < other->size; i++)
        ob_errors_add (self, other->code [i], strlen (other->code [i]), other->count [i]);
}

uint64_t
ob_errors_total (const ob_errors_t *self)
{
    uint64_t total = 0;
    for (int i = 0; i < self->size; i++)
        total += self->count [i];
    return total;
}

int64_t
ob_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
