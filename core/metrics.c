/*  metrics: the registry, its text exposition and its HTTP server. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "actor.h"
#include "fatal.h"
#include "metrics.h"
#include "number.h"
#include "saga.h"

#define S_CONNECTIONS_MAX  64      //  served at once; more wait in the backlog
#define S_IDLE_S           10      //  a connection silent this long is closed

//  Every count is a relaxed atomic: each one is a total of its own, no
//  reader needs it ordered against another, and on x86-64 a relaxed add
//  is one locked instruction on a line that is rarely shared.
typedef atomic_uint_fast64_t s_counter_t;

static inline void
s_add (s_counter_t *counter, uint64_t amount)
{
    atomic_fetch_add_explicit (counter, amount, memory_order_relaxed);
}

static inline uint64_t
s_get (s_counter_t *counter)
{
    return atomic_load_explicit (counter, memory_order_relaxed);
}

//  ---------------------------------------------------------------------
//  Histograms: fixed upper bounds, one counter per bucket (not cumulative:
//  an observation touches one bucket), summed up when rendered.

typedef struct {
    uint64_t bound;                //  in the recorded unit (us, or a count)
    const char *le;                //  the bound as the `le` label shows it
} s_bound_t;

//  Seconds, recorded in microseconds: 100 us to 10 s
static const s_bound_t s_seconds [] = {
    { 100, "0.0001" }, { 250, "0.00025" }, { 500, "0.0005" }, { 1000, "0.001" },
    { 2500, "0.0025" }, { 5000, "0.005" }, { 10000, "0.01" }, { 25000, "0.025" },
    { 50000, "0.05" }, { 100000, "0.1" }, { 250000, "0.25" }, { 500000, "0.5" },
    { 1000000, "1" }, { 2500000, "2.5" }, { 5000000, "5" }, { 10000000, "10" }
};
#define S_SECONDS_BOUNDS (sizeof s_seconds / sizeof s_seconds [0])

//  Transitions in one commit: powers of two up to the largest group
static const s_bound_t s_group [] = {
    { 0, "0" }, { 1, "1" }, { 2, "2" }, { 4, "4" }, { 8, "8" }, { 16, "16" }, { 32, "32" },
    { 64, "64" }, { 128, "128" }, { 256, "256" }, { 512, "512" }, { 1024, "1024" }
};
#define S_GROUP_BOUNDS (sizeof s_group / sizeof s_group [0])

#define S_BOUNDS_MAX 16
_Static_assert (S_SECONDS_BOUNDS <= S_BOUNDS_MAX && S_GROUP_BOUNDS <= S_BOUNDS_MAX,
                "a histogram has more bounds than S_BOUNDS_MAX");

typedef struct {
    s_counter_t buckets [S_BOUNDS_MAX + 1];    //  the last after the bounds is +Inf
    s_counter_t sum;
} s_histogram_t;

static void
s_observe (s_histogram_t *histogram, const s_bound_t *bounds, size_t count, uint64_t value)
{
    size_t bucket = 0;
    while (bucket < count && value > bounds [bucket].bound)
        bucket++;
    s_add (&histogram->buckets [bucket], 1);
    s_add (&histogram->sum, value);
}

static uint64_t
s_duration (int64_t duration_us)
{
    return duration_us > 0? (uint64_t) duration_us: 0;
}

//  ---------------------------------------------------------------------
//  Label values

//  Results: "ok", "timeout" (an adapter attempt that got no answer), then
//  each wire error code once (several ORD_E* codes share one).
#define S_RESULT_OK       0
#define S_RESULT_TIMEOUT  1
#define S_RESULTS         (2 + ORD_EBASE - ORD_ELAST)

static const char *s_adapter_ops [] = {
    "create", "capture", "void", "refund", "status",
    "reserve", "release", "reduce", "restore", "stock", "batch", "ping", "other"
};
#define S_ADAPTER_OPS (sizeof s_adapter_ops / sizeof s_adapter_ops [0])

static const char *s_adapters [] = { "payment", "fulfilment" };
#define S_ADAPTERS 2

#define S_SAGA_KINDS ORD_SAGA_CANCEL            //  kinds 1 .. ORD_SAGA_CANCEL

//  The phases that compensate; the rest do what was asked
static const ord_saga_phase_t s_compensations [] = {
    ORD_PHASE_RELEASE, ORD_PHASE_COMPENSATE, ORD_PHASE_ABORT, ORD_PHASE_DECLINED
};
#define S_COMPENSATIONS (sizeof s_compensations / sizeof s_compensations [0])

#define S_OPS (ORD_OP_COUNT + 1)   //  the last: refused before its op was known

struct _ord_metrics_t {
    const char *results [S_RESULTS];
    size_t result_count;
    size_t result_internal;
    s_counter_t requests [S_OPS][S_RESULTS];
    s_histogram_t request_seconds [S_OPS];
    s_counter_t transitions [ORD_STATUS_COUNT][ORD_STATUS_COUNT];
    s_counter_t sagas_suspended [S_SAGA_KINDS];
    s_counter_t compensations [S_COMPENSATIONS][2];
    s_counter_t adapter_calls [S_ADAPTERS][S_ADAPTER_OPS][S_RESULTS];
    s_histogram_t adapter_seconds [S_ADAPTERS][S_ADAPTER_OPS];
    s_counter_t commits;
    s_histogram_t commit_seconds;
    s_histogram_t commit_transitions;
    s_counter_t live_actors;       //  gauges: set, not added
    s_counter_t queue_depth;
    struct MHD_Daemon *daemon;
    ord_metrics_collect_fn *collect;
    void *collect_arg;
    int port;
};

static size_t
s_result_index (ord_metrics_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->result_count; i++)
        if (strlen (self->results [i]) == len && memcmp (self->results [i], name, len) == 0)
            return i;
    return self->result_internal;
}

//  The result a reply of rc shows on the wire (a timeout is "unavailable")
static size_t
s_wire_result_of (ord_metrics_t *self, int rc)
{
    if (rc == 0)
        return S_RESULT_OK;
    const char *code = ord_error_wire_code (rc);
    return s_result_index (self, code, strlen (code));
}

//  An adapter attempt's result: its timeouts are told apart
static size_t
s_result_of (ord_metrics_t *self, int rc)
{
    return rc == ORD_ETIMEOUT? S_RESULT_TIMEOUT: s_wire_result_of (self, rc);
}

ord_metrics_t *
ord_metrics_new (void)
{
    ord_metrics_t *self = (ord_metrics_t *) zmalloc (sizeof (ord_metrics_t));
    self->results [self->result_count++] = "ok";
    self->results [self->result_count++] = "timeout";
    for (int code = ORD_EBADREQ; code >= ORD_ELAST; code--) {
        const char *name = ord_error_wire_code (code);
        size_t known = 0;
        while (known < self->result_count && !streq (self->results [known], name))
            known++;
        if (known == self->result_count)
            self->results [self->result_count++] = name;
    }
    ord_assert (self->result_count <= S_RESULTS);
    self->result_internal = s_result_index (self, "internal", 8);
    ord_assert (streq (self->results [self->result_internal], "internal"));
    return self;
}

void
ord_metrics_destroy (ord_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_metrics_close (*self_p);
    free (*self_p);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Hooks

void
ord_metrics_request (ord_metrics_t *self, int op, int result, int64_t duration_us)
{
    if (!self)
        return;
    size_t index = op >= 0 && op < ORD_OP_COUNT? (size_t) op: ORD_OP_COUNT;
    s_add (&self->requests [index][s_wire_result_of (self, result)], 1);
    s_observe (&self->request_seconds [index], s_seconds, S_SECONDS_BOUNDS,
               s_duration (duration_us));
}

void
ord_metrics_transition (ord_metrics_t *self, ord_status_t from, ord_status_t to)
{
    if (!self || from >= ORD_STATUS_COUNT || to >= ORD_STATUS_COUNT)
        return;
    s_add (&self->transitions [from][to], 1);
}

void
ord_metrics_saga_suspended (ord_metrics_t *self, int kind)
{
    if (self && kind >= 1 && kind <= S_SAGA_KINDS)
        s_add (&self->sagas_suspended [kind - 1], 1);
}

void
ord_metrics_compensation (ord_metrics_t *self, int phase, bool needs_review)
{
    if (!self)
        return;
    for (size_t i = 0; i < S_COMPENSATIONS; i++)
        if ((int) s_compensations [i] == phase)
            s_add (&self->compensations [i][needs_review], 1);
}

void
ord_metrics_adapter_call (ord_metrics_t *self, const char *adapter, const char *op, int rc,
                          int64_t duration_us)
{
    if (!self)
        return;
    size_t which = streq (adapter, "payment")? 0: 1;
    size_t index = 0;
    while (index < S_ADAPTER_OPS - 1 && !streq (s_adapter_ops [index], op))
        index++;
    s_add (&self->adapter_calls [which][index][s_result_of (self, rc)], 1);
    s_observe (&self->adapter_seconds [which][index], s_seconds, S_SECONDS_BOUNDS,
               s_duration (duration_us));
}

void
ord_metrics_commit (ord_metrics_t *self, int64_t duration_us, uint64_t transitions)
{
    if (!self)
        return;
    s_add (&self->commits, 1);
    s_observe (&self->commit_seconds, s_seconds, S_SECONDS_BOUNDS, s_duration (duration_us));
    s_observe (&self->commit_transitions, s_group, S_GROUP_BOUNDS, transitions);
}

void
ord_metrics_pool (ord_metrics_t *self, uint64_t live_actors, uint64_t queue_depth)
{
    if (!self)
        return;
    atomic_store_explicit (&self->live_actors, live_actors, memory_order_relaxed);
    atomic_store_explicit (&self->queue_depth, queue_depth, memory_order_relaxed);
}

//  ---------------------------------------------------------------------
//  The exposition

typedef struct {
    char *data;
    size_t size, max;
} s_text_t;

static void
s_printf (s_text_t *text, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_printf (s_text_t *text, const char *format, ...)
{
    while (true) {
        va_list args;
        va_start (args, format);
        int wanted = vsnprintf (text->data + text->size, text->max - text->size, format, args);
        va_end (args);
        ord_assert (wanted >= 0);
        if ((size_t) wanted < text->max - text->size) {
            text->size += (size_t) wanted;
            return;
        }
        text->max = text->max * 2 + (size_t) wanted;
        text->data = (char *) ord_realloc (text->data, text->max);
    }
}

static void
s_family (s_text_t *text, const char *name, const char *type, const char *help)
{
    s_printf (text, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  One histogram's series; `labels` is "" or `a="x",b="y"`. Sums of
//  durations are kept in microseconds and shown in seconds.
static void
s_histogram (s_text_t *text, const char *name, const char *labels, s_histogram_t *histogram,
             const s_bound_t *bounds, size_t count, bool seconds)
{
    const char *comma = *labels? ",": "";
    uint64_t total = 0;
    for (size_t i = 0; i <= count; i++) {
        total += s_get (&histogram->buckets [i]);
        s_printf (text, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels, comma,
                  i < count? bounds [i].le: "+Inf", total);
    }
    uint64_t sum = s_get (&histogram->sum);
    const char *open = *labels? "{": "", *close = *labels? "}": "";
    if (seconds)
        s_printf (text, "%s_sum%s%s%s %.6f\n", name, open, labels, close, (double) sum / 1e6);
    else
        s_printf (text, "%s_sum%s%s%s %" PRIu64 "\n", name, open, labels, close, sum);
    s_printf (text, "%s_count%s%s%s %" PRIu64 "\n", name, open, labels, close, total);
}

static uint64_t
s_histogram_count (s_histogram_t *histogram)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= S_BOUNDS_MAX; i++)
        total += s_get (&histogram->buckets [i]);
    return total;
}

static const char *
s_op_label (size_t op)
{
    return op < ORD_OP_COUNT? ord_op_name ((ord_op_t) op): "unknown";
}

static void
s_render_requests (ord_metrics_t *self, s_text_t *text)
{
    s_family (text, "orderd_requests_total", "counter",
              "Requests answered on the service and admin doors, by op and result "
              "(ok or the protocol's error code).");
    for (size_t op = 0; op < S_OPS; op++)
        for (size_t result = 0; result < self->result_count; result++) {
            uint64_t value = s_get (&self->requests [op][result]);
            if (value)
                s_printf (text, "orderd_requests_total{op=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                          s_op_label (op), self->results [result], value);
        }
    s_family (text, "orderd_request_duration_seconds", "histogram",
              "Time from a request's arrival to its reply, by op.");
    for (size_t op = 0; op < S_OPS; op++) {
        if (s_histogram_count (&self->request_seconds [op]) == 0)
            continue;
        char labels [64];
        snprintf (labels, sizeof labels, "op=\"%s\"", s_op_label (op));
        s_histogram (text, "orderd_request_duration_seconds", labels, &self->request_seconds [op],
                     s_seconds, S_SECONDS_BOUNDS, true);
    }
}

static void
s_render_orders (ord_metrics_t *self, s_text_t *text, const ord_metrics_sample_t *sample)
{
    if (sample->store_ok) {
        s_family (text, "orderd_orders", "gauge", "Orders stored, by status.");
        for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++)
            s_printf (text, "orderd_orders{status=\"%s\"} %" PRIu64 "\n",
                      ord_status_name ((ord_status_t) status), sample->orders [status]);
        s_family (text, "orderd_orders_needs_review", "gauge",
                  "Orders flagged for review by ops (ordermon review).");
        s_printf (text, "orderd_orders_needs_review %" PRIu64 "\n", sample->needs_review);
    }
    s_family (text, "orderd_transitions_total", "counter",
              "Committed changes of an order's status, by status before and after "
              "(from \"none\" for a created order).");
    for (int from = 0; from < ORD_STATUS_COUNT; from++)
        for (int to = 0; to < ORD_STATUS_COUNT; to++) {
            uint64_t value = s_get (&self->transitions [from][to]);
            const char *from_name = ord_status_name ((ord_status_t) from);
            if (value)
                s_printf (text, "orderd_transitions_total{from=\"%s\",to=\"%s\"} %" PRIu64 "\n",
                          from_name? from_name: "none", ord_status_name ((ord_status_t) to),
                          value);
        }
    s_family (text, "orderd_sagas_suspended_total", "counter",
              "Saga drives suspended because an adapter stayed unavailable, by saga kind.");
    for (size_t kind = 0; kind < S_SAGA_KINDS; kind++)
        s_printf (text, "orderd_sagas_suspended_total{kind=\"%s\"} %" PRIu64 "\n",
                  ord_saga_kind_name ((ord_saga_kind_t) (kind + 1)), s_get (&self->sagas_suspended [kind]));
    s_family (text, "orderd_compensations_total", "counter",
              "Compensations finished, by compensating phase and result (ok, or "
              "needs_review when the order was flagged).");
    for (size_t kind = 0; kind < S_COMPENSATIONS; kind++)
        for (int review = 0; review < 2; review++)
            s_printf (text, "orderd_compensations_total{kind=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                      ord_saga_phase_name (s_compensations [kind]), review? "needs_review": "ok",
                      s_get (&self->compensations [kind][review]));
}

static void
s_render_adapters (ord_metrics_t *self, s_text_t *text, const ord_metrics_sample_t *sample)
{
    if (sample->adapters) {
        s_family (text, "orderd_adapter_up", "gauge",
                  "1 when the adapter's last call or health probe was answered in time.");
        s_printf (text, "orderd_adapter_up{adapter=\"payment\"} %d\n", sample->payment_up);
        s_printf (text, "orderd_adapter_up{adapter=\"fulfilment\"} %d\n", sample->fulfilment_up);
    }
    s_family (text, "orderd_adapter_calls_total", "counter",
              "Adapter call attempts (retries each count), by adapter, op and result.");
    for (size_t which = 0; which < S_ADAPTERS; which++)
        for (size_t op = 0; op < S_ADAPTER_OPS; op++)
            for (size_t result = 0; result < self->result_count; result++) {
                uint64_t value = s_get (&self->adapter_calls [which][op][result]);
                if (value)
                    s_printf (text, "orderd_adapter_calls_total{adapter=\"%s\",op=\"%s\","
                              "result=\"%s\"} %" PRIu64 "\n", s_adapters [which],
                              s_adapter_ops [op], self->results [result], value);
            }
    s_family (text, "orderd_adapter_call_duration_seconds", "histogram",
              "Time of one adapter call attempt, by adapter and op.");
    for (size_t which = 0; which < S_ADAPTERS; which++)
        for (size_t op = 0; op < S_ADAPTER_OPS; op++) {
            if (s_histogram_count (&self->adapter_seconds [which][op]) == 0)
                continue;
            char labels [64];
            snprintf (labels, sizeof labels, "adapter=\"%s\",op=\"%s\"", s_adapters [which],
                      s_adapter_ops [op]);
            s_histogram (text, "orderd_adapter_call_duration_seconds", labels,
                         &self->adapter_seconds [which][op], s_seconds, S_SECONDS_BOUNDS, true);
        }
}

static void
s_render_store (ord_metrics_t *self, s_text_t *text, const ord_metrics_sample_t *sample)
{
    if (sample->store_ok) {
        s_family (text, "orderd_store_map_used_bytes", "gauge",
                  "Bytes of the LMDB map in use (last page written).");
        s_printf (text, "orderd_store_map_used_bytes %" PRIu64 "\n", sample->map_used_bytes);
        s_family (text, "orderd_store_map_size_bytes", "gauge", "Size of the LMDB map.");
        s_printf (text, "orderd_store_map_size_bytes %" PRIu64 "\n", sample->map_size_bytes);
    }
    s_family (text, "orderd_store_commits_total", "counter",
              "Write transactions committed by the store writer (each a group of batches).");
    s_printf (text, "orderd_store_commits_total %" PRIu64 "\n", s_get (&self->commits));
    s_family (text, "orderd_store_commit_duration_seconds", "histogram",
              "Time of one group commit, from its first write to its durable commit.");
    s_histogram (text, "orderd_store_commit_duration_seconds", "", &self->commit_seconds,
                 s_seconds, S_SECONDS_BOUNDS, true);
    s_family (text, "orderd_store_transitions_per_commit", "histogram",
              "Order status changes written by one group commit.");
    s_histogram (text, "orderd_store_transitions_per_commit", "", &self->commit_transitions,
                 s_group, S_GROUP_BOUNDS, false);
    s_family (text, "orderd_live_actors", "gauge",
              "Order actors (threads) alive, bound or spare; updated every second.");
    s_printf (text, "orderd_live_actors %" PRIu64 "\n", s_get (&self->live_actors));
    s_family (text, "orderd_queue_depth", "gauge",
              "Requests waiting for an order actor; updated every second.");
    s_printf (text, "orderd_queue_depth %" PRIu64 "\n", s_get (&self->queue_depth));
}

//  Seconds since the epoch at which this process started: its start in
//  clock ticks after boot (/proc/self/stat, field 22) plus the boot time.
static bool
s_start_time (double *seconds)
{
    FILE *file = fopen ("/proc/self/stat", "r");
    char line [1024];
    bool read = file && fgets (line, sizeof line, file);
    if (file)
        fclose (file);
    //  The command name (field 2) may hold spaces: count from its ')'
    char *at = read? strrchr (line, ')'): NULL;
    unsigned long long ticks = 0;
    for (int field = 2; at && field < 22; field++)
        at = strchr (at + 1, ' ');
    if (!at || sscanf (at + 1, "%llu", &ticks) != 1)
        return false;
    file = fopen ("/proc/stat", "r");
    unsigned long long boot = 0;
    bool found = false;
    while (file && !found && fgets (line, sizeof line, file))
        found = sscanf (line, "btime %llu", &boot) == 1;
    if (file)
        fclose (file);
    long hertz = sysconf (_SC_CLK_TCK);
    if (!found || hertz <= 0)
        return false;
    *seconds = (double) boot + (double) ticks / (double) hertz;
    return true;
}

static void
s_render_process (s_text_t *text)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage) == 0) {
        double cpu = (double) usage.ru_utime.tv_sec + (double) usage.ru_stime.tv_sec
                   + ((double) usage.ru_utime.tv_usec + (double) usage.ru_stime.tv_usec) / 1e6;
        s_family (text, "process_cpu_seconds_total", "counter",
                  "Total user and system CPU time spent in seconds.");
        s_printf (text, "process_cpu_seconds_total %.6f\n", cpu);
    }
    FILE *file = fopen ("/proc/self/statm", "r");
    unsigned long long pages = 0, resident = 0;
    long page_size = sysconf (_SC_PAGESIZE);
    if (file && fscanf (file, "%llu %llu", &pages, &resident) == 2 && page_size > 0) {
        s_family (text, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        s_printf (text, "process_virtual_memory_bytes %llu\n", pages * (unsigned long long) page_size);
        s_family (text, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        s_printf (text, "process_resident_memory_bytes %llu\n",
                  resident * (unsigned long long) page_size);
    }
    if (file)
        fclose (file);
    DIR *fds = opendir ("/proc/self/fd");
    if (fds) {
        uint64_t open = 0;
        struct dirent *entry;
        while ((entry = readdir (fds)))
            open += entry->d_name [0] != '.';
        closedir (fds);
        s_family (text, "process_open_fds", "gauge", "Number of open file descriptors.");
        s_printf (text, "process_open_fds %" PRIu64 "\n", open - 1);    //  less opendir's own
    }
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        s_family (text, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        s_printf (text, "process_max_fds %llu\n", (unsigned long long) limit.rlim_cur);
    }
    double start;
    if (s_start_time (&start)) {
        s_family (text, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.");
        s_printf (text, "process_start_time_seconds %.2f\n", start);
    }
}

char *
ord_metrics_render (ord_metrics_t *self, ord_metrics_collect_fn *collect, void *arg)
{
    ord_assert (self);
    ord_metrics_sample_t sample;
    memset (&sample, 0, sizeof sample);
    if (collect)
        collect (arg, &sample);
    s_text_t text = { (char *) ord_malloc (16384), 0, 16384 };
    text.data [0] = 0;
    s_render_requests (self, &text);
    s_render_orders (self, &text, &sample);
    s_render_adapters (self, &text, &sample);
    s_render_store (self, &text, &sample);
    s_render_process (&text);
    return text.data;
}

//  ---------------------------------------------------------------------
//  The HTTP server

bool
ord_metrics_address_parse (const char *address, char *host, size_t host_size, char port [6])
{
    const char *colon = strrchr (address, ':');
    int64_t number;
    if (!colon || colon == address || !ord_number_parse (colon + 1, false, &number)
    ||  number < 0 || number > 65535)
        return false;
    const char *start = address;
    size_t length = (size_t) (colon - address);
    if (*start == '[') {
        if (length < 3 || start [length - 1] != ']')
            return false;
        start++;
        length -= 2;
    }
    else
    if (memchr (start, ':', length))
        return false;           //  an IPv6 address needs its brackets
    if (length >= host_size)
        return false;
    memcpy (host, start, length);
    host [length] = 0;
    snprintf (port, 6, "%d", (int) number);
    return true;
}

static enum MHD_Result
s_queue (struct MHD_Connection *connection, unsigned status, char *body, const char *type)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *response =
        MHD_create_response_from_buffer (strlen (body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) state;
    ord_metrics_t *self = (ord_metrics_t *) cls;
    const char *plain = "text/plain; charset=utf-8";
    if (!streq (url, "/metrics"))
        return s_queue (connection, MHD_HTTP_NOT_FOUND, ord_strdup ("not found: try /metrics\n"),
                        plain);
    if (!streq (method, MHD_HTTP_METHOD_GET) && !streq (method, MHD_HTTP_METHOD_HEAD))
        return s_queue (connection, MHD_HTTP_METHOD_NOT_ALLOWED, ord_strdup ("GET only\n"), plain);
    return s_queue (connection, MHD_HTTP_OK,
                    ord_metrics_render (self, self->collect, self->collect_arg),
                    "text/plain; version=0.0.4; charset=utf-8");
}

static void
s_log (void *arg, const char *format, va_list args)
{
    (void) arg;
    char line [512];
    vsnprintf (line, sizeof line, format, args);
    size_t length = strlen (line);
    if (length && line [length - 1] == '\n')
        line [length - 1] = 0;
    zsys_warning ("metrics: %s", line);
}

//  A listening socket on the address, or -1 with *why set.
static int
s_listen (const char *address, bool *ipv6, int *port, ord_why_t *why)
{
    char host [256], service [6];
    if (!ord_metrics_address_parse (address, host, sizeof host, service)) {
        ord_why_set (why, "orderd/metrics: '%s' is not HOST:PORT", address);
        return -1;
    }
    struct addrinfo hints, *found = NULL;
    memset (&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo (host, service, &hints, &found);
    if (rc) {
        ord_why_set (why, "orderd/metrics: %s: %s", host, gai_strerror (rc));
        return -1;
    }
    int fd = socket (found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    //  SO_REUSEADDR lets a restarted orderd bind while old connections
    //  linger in TIME_WAIT; on Linux it never lets two servers share a port
    if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on)
    ||  bind (fd, found->ai_addr, found->ai_addrlen) || listen (fd, 128)) {
        ord_why_set (why, "orderd/metrics: cannot bind %s: %s", address, strerror (errno));
        if (fd >= 0)
            close (fd);
        freeaddrinfo (found);
        return -1;
    }
    *ipv6 = found->ai_family == AF_INET6;
    freeaddrinfo (found);
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    *port = 0;
    if (getsockname (fd, (struct sockaddr *) &bound, &length) == 0)
        *port = ntohs (bound.ss_family == AF_INET6? ((struct sockaddr_in6 *) &bound)->sin6_port
                                                  : ((struct sockaddr_in *) &bound)->sin_port);
    return fd;
}

int
ord_metrics_listen (ord_metrics_t *self, const char *address, ord_metrics_collect_fn *collect,
                    void *arg, ord_why_t *why)
{
    ord_assert (self);
    ord_assert (!self->daemon);
    bool ipv6 = false;
    int port = 0;
    int fd = s_listen (address, &ipv6, &port, why);
    if (fd < 0)
        return ORD_ECONFIG;
    self->collect = collect;
    self->collect_arg = arg;
    //  One thread polls every connection with epoll: a scrape never runs
    //  on a thread of the doors, and a crowd of idle clients costs at most
    //  S_CONNECTIONS_MAX descriptors, each closed after S_IDLE_S
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG
                   | (ipv6? MHD_USE_IPv6: 0);
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_answer, self,
                                     MHD_OPTION_EXTERNAL_LOGGER, s_log, NULL,
                                     MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned) S_CONNECTIONS_MAX,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) S_IDLE_S,
                                     MHD_OPTION_END);
    if (!self->daemon) {
        close (fd);
        ord_why_set (why, "orderd/metrics: the HTTP server for %s did not start", address);
        return ORD_ECONFIG;
    }
    self->port = port;
    return 0;
}

void
ord_metrics_close (ord_metrics_t *self)
{
    if (!self || !self->daemon)
        return;
    MHD_stop_daemon (self->daemon);
    self->daemon = NULL;
    self->port = 0;
}

int
ord_metrics_port (ord_metrics_t *self)
{
    return self && self->daemon? self->port: 0;
}
