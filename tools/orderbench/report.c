/*  report: the figures of a run, as text and as JSON. */
#include "orderbench.h"

static double
s_rate (double count, double seconds)
{
    return seconds > 0? count / seconds: 0;
}

bool
ob_handoffs_per_order (const ob_stats_t *before, const ob_stats_t *after, uint64_t orders,
                       ob_handoffs_t *per_order)
{
    memset (per_order, 0, sizeof *per_order);
    if (!before->ok || !after->ok || !before->have_handoffs || !after->have_handoffs
    ||  orders == 0)
        return false;
    double count = (double) orders;
    per_order->actor_messages = (double) (after->actor_messages - before->actor_messages) / count;
    per_order->writer_round_trips
        = (double) (after->writer_round_trips - before->writer_round_trips) / count;
    per_order->payment_calls = (double) (after->payment_calls - before->payment_calls) / count;
    per_order->fulfilment_calls
        = (double) (after->fulfilment_calls - before->fulfilment_calls) / count;
    //  In round trips: an actor message is one way, a request and its reply
    per_order->round_trips = per_order->actor_messages / 2 + per_order->writer_round_trips
                           + per_order->payment_calls + per_order->fulfilment_calls;
    return true;
}

static void
s_print_ms (FILE *out, uint64_t us)
{
    fprintf (out, " %9.3f", (double) us / 1000.0);
}

#define S_MAX_GROUPS 32

//  orderd's threads grouped by name, and the CPU of threads that ended
//  during the run (the process's CPU beyond that of the live threads)
static int
s_thread_groups (const ob_report_t *report, ob_thread_group_t *groups, double *ended_seconds)
{
    *ended_seconds = 0;
    if (!report->have_tasks || !report->proc_after.ok)
        return 0;
    int count = ob_thread_groups (&report->tasks_before, &report->tasks_after, groups,
                                  S_MAX_GROUPS);
    double live = 0;
    for (int i = 0; i < count; i++)
        live += groups [i].cpu_seconds;
    double process = report->proc_after.cpu_seconds - report->proc_before.cpu_seconds;
    *ended_seconds = process > live? process - live: 0;
    return count;
}

//  The group whose busiest thread used the most CPU: the first to saturate
static int
s_busiest_group (const ob_thread_group_t *groups, int count)
{
    int busiest = 0;
    for (int i = 1; i < count; i++)
        if (groups [i].busiest_seconds > groups [busiest].busiest_seconds)
            busiest = i;
    return busiest;
}

//  Orders/s on N cores if each order kept the CPU it took here: all of
//  orderd's CPU spread over N cores, but never more than the busiest
//  single thread can serve (it cannot spread); and Amdahl's law with that
//  thread's share as the serial part (as if it never overlapped the rest)
static void
s_print_projection (const ob_report_t *report, double serial_seconds, FILE *out)
{
    double total_seconds = (report->proc_after.cpu_seconds - report->proc_before.cpu_seconds)
                         / (double) report->run.orders;
    if (total_seconds <= 0 || serial_seconds <= 0)
        return;
    double serial_share = serial_seconds / total_seconds;
    fprintf (out, "  projection, orders/s at this CPU per order (generator elsewhere):\n"
                  "    cores  spread-capped  Amdahl\n");
    static const int cores [] = { 2, 4, 8, 16, 32 };
    for (size_t i = 0; i < sizeof cores / sizeof cores [0]; i++) {
        double spread = (double) cores [i] / total_seconds;
        double capped = spread < 1 / serial_seconds? spread: 1 / serial_seconds;
        double amdahl = 1 / (total_seconds * (serial_share + (1 - serial_share) / cores [i]));
        fprintf (out, "    %5d %14.0f %7.0f\n", cores [i], capped, amdahl);
    }
}

static void
s_print_threads (const ob_report_t *report, FILE *out)
{
    ob_thread_group_t groups [S_MAX_GROUPS];
    double ended;
    int count = s_thread_groups (report, groups, &ended);
    const ob_result_t *run = &report->run;
    if (count == 0 || run->orders == 0)
        return;
    double orders = (double) run->orders;
    fprintf (out, "orderd threads: CPU per confirmed order, %% of one core over the run, "
                  "busiest thread of the group\n");
    for (int i = 0; i < count; i++)
        if (groups [i].cpu_seconds > 0)
            fprintf (out, "  %-16s %4d thread%s %9.1f us %6.1f%%   busiest %5.1f%%\n",
                     groups [i].name, groups [i].threads, groups [i].threads == 1? " ": "s",
                     1e6 * groups [i].cpu_seconds / orders,
                     100.0 * s_rate (groups [i].cpu_seconds, run->seconds),
                     100.0 * s_rate (groups [i].busiest_seconds, run->seconds));
    fprintf (out, "  %-16s %12s %9.1f us %6.1f%%\n", "(ended threads)", "",
             1e6 * ended / orders, 100.0 * s_rate (ended, run->seconds));
    int busiest = s_busiest_group (groups, count);
    fprintf (out, "  busiest single thread: %s, %.1f%% of one core\n", groups [busiest].name,
             100.0 * s_rate (groups [busiest].busiest_seconds, run->seconds));
    s_print_projection (report, groups [busiest].busiest_seconds / orders, out);
}

void
ob_report_print (const ob_report_t *report, FILE *out)
{
    const ob_options_t *options = report->options;
    if (report->have_probe)
        fprintf (out, "fsync probe (%s): %.0f commits/s (single-put LMDB transactions, "
                 "default sync)\n", options->fsync_dir, report->probe_commits_per_s);
    if (report->have_hop) {
        const ob_hop_t *hop = &report->hop;
        double trips = (double) hop->round_trips;
        fprintf (out, "hop probe: %.0f round trips/s, %.1f us wall, %.1f us process CPU, "
                 "%.2f context switches per round trip (64-byte frames, thread <-> zactor, "
                 "inproc PAIR)\n", s_rate (trips, hop->seconds), 1e6 * hop->seconds / trips,
                 1e6 * hop->cpu_seconds / trips, (double) hop->context_switches / trips);
    }
    if (report->have_preload) {
        const ob_result_t *preload = &report->preload;
        fprintf (out, "preload: %" PRIu64 " orders in %.1f s (%.0f creates/s), errors %" PRIu64 "\n",
                 preload->orders, preload->seconds, s_rate ((double) preload->orders, preload->seconds),
                 ob_errors_total (&preload->errors));
    }
    if (!report->have_run)
        return;
    const ob_result_t *run = &report->run;
    if (options->get_only)
        fprintf (out, "mode: reads only (get of stored orders), %d clients, pipeline %d\n",
                 options->clients, options->pipeline);
    else
    if (options->rate > 0)
        fprintf (out, "mode: open loop at %.0f orders/s, %d clients, %d products, get=%d%%\n",
                 options->rate, options->clients, options->products, options->get_pct);
    else
        fprintf (out, "mode: closed loop, %d clients x pipeline %d, %d products, get=%d%%\n",
                 options->clients, options->pipeline, options->products, options->get_pct);
    fprintf (out, "duration: %.2f s\n", run->seconds);
    fprintf (out, "orders:   %" PRIu64 " confirmed, %.1f orders/s\n", run->orders,
             s_rate ((double) run->orders, run->seconds));
    fprintf (out, "requests: %" PRIu64 " answered, %.1f requests/s (%" PRIu64 " sent)\n",
             run->requests, s_rate ((double) run->requests, run->seconds), run->sent);
    if (options->rate > 0)
        fprintf (out, "schedule: worst send lag behind schedule %.3f ms\n",
                 (double) run->late_max_us / 1000.0);
    fprintf (out, "latency (ms)        count       p50       p90       p99     p99.9       max      mean\n");
    for (int op = 0; op < OB_OP_COUNT; op++) {
        const ob_hist_t *hist = &run->hist [op];
        if (hist->total == 0)
            continue;
        fprintf (out, "  %-16s %8" PRIu64, ob_op_name ((ob_op_t) op), hist->total);
        s_print_ms (out, ob_hist_percentile (hist, 50));
        s_print_ms (out, ob_hist_percentile (hist, 90));
        s_print_ms (out, ob_hist_percentile (hist, 99));
        s_print_ms (out, ob_hist_percentile (hist, 99.9));
        s_print_ms (out, hist->max);
        s_print_ms (out, (uint64_t) ob_hist_mean (hist));
        fprintf (out, "\n");
    }
    uint64_t errors = ob_errors_total (&run->errors);
    fprintf (out, "errors:   %" PRIu64, errors);
    for (int i = 0; i < run->errors.size; i++)
        fprintf (out, "%s%s %" PRIu64, i? ", ": " (", run->errors.code [i], run->errors.count [i]);
    fprintf (out, "%s\n", errors? ")": "");
    if (report->before.ok && report->after.ok) {
        double transitions = (double) (report->after.transitions - report->before.transitions);
        double commits = (double) (report->after.commits - report->before.commits);
        //  batch_size.mean is cumulative: batches = mean x commits
        double batches = report->after.batch_mean * (double) report->after.commits
                       - report->before.batch_mean * (double) report->before.commits;
        fprintf (out, "orderd:   %.0f transitions/s, %.0f store commits/s, %.2f transitions per commit, "
                 "%.2f actor batches per commit (largest group %" PRId64 ")\n",
                 s_rate (transitions, run->seconds), s_rate (commits, run->seconds),
                 commits > 0? transitions / commits: 0, commits > 0? batches / commits: 0,
                 report->after.batch_max);
        if (report->have_probe && report->probe_commits_per_s > 0)
            fprintf (out, "          transitions/s = %.1f x the fsync probe's commits/s\n",
                     s_rate (transitions, run->seconds) / report->probe_commits_per_s);
        fprintf (out, "          store: %" PRId64 " orders, %.1f MiB used\n",
                 report->after.store_orders, (double) report->after.store_used / 1048576.0);
        ob_handoffs_t hops;
        if (ob_handoffs_per_order (&report->before, &report->after, run->orders, &hops))
            fprintf (out, "hand-offs per confirmed order: %.2f actor messages, %.2f writer "
                     "round trips, %.2f payment + %.2f fulfilment adapter calls = %.2f round trips\n",
                     hops.actor_messages, hops.writer_round_trips, hops.payment_calls,
                     hops.fulfilment_calls, hops.round_trips);
    }
    if (report->proc_after.ok) {
        double cpu = report->proc_after.cpu_seconds - report->proc_before.cpu_seconds;
        fprintf (out, "orderd process: peak RSS %.1f MiB (VmHWM), RSS now %.1f MiB, "
                 "CPU %.2f s (%.0f%% of one core), %d threads\n",
                 (double) report->proc_after.hwm_kib / 1024.0,
                 (double) report->proc_after.rss_kib / 1024.0, cpu,
                 100.0 * s_rate (cpu, run->seconds), report->proc_after.threads);
    }
    s_print_threads (report, out);
    fprintf (out, "orderbench: CPU %.2f s (%.0f%% of one core), %d thread%s\n",
             run->cpu_seconds, 100.0 * s_rate (run->cpu_seconds, run->seconds),
             options->threads, options->threads == 1? "": "s");
    if (report->have_daemon_status)
        fprintf (out, "orderd exit status after SIGTERM: %d\n", report->daemon_status);
}

//  -------------------------------------------------------------------------

static void
s_json_hist (FILE *out, const ob_hist_t *hist)
{
    fprintf (out, "{\"count\": %" PRIu64 ", \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
             ", \"p99\": %" PRIu64 ", \"p99.9\": %" PRIu64 ", \"max\": %" PRIu64
             ", \"mean\": %.1f}",
             hist->total, ob_hist_percentile (hist, 50), ob_hist_percentile (hist, 90),
             ob_hist_percentile (hist, 99), ob_hist_percentile (hist, 99.9), hist->max,
             ob_hist_mean (hist));
}

static void
s_json_str (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const char *c = text; c && *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf (out, "\\%c", *c);
        else
        if ((unsigned char) *c < 0x20)
            fprintf (out, "\\u%04x", *c);
        else
            fputc (*c, out);
    }
    fputc ('"', out);
}

static void
s_json_threads (const ob_report_t *report, FILE *out)
{
    ob_thread_group_t groups [S_MAX_GROUPS];
    double ended;
    int count = s_thread_groups (report, groups, &ended);
    const ob_result_t *run = &report->run;
    if (count == 0 || run->orders == 0)
        return;
    double orders = (double) run->orders;
    fprintf (out, ",\n  \"threads\": {\"groups\": [");
    for (int i = 0; i < count; i++) {
        fprintf (out, "%s\n    {\"name\": ", i? ",": "");
        s_json_str (out, groups [i].name);
        fprintf (out, ", \"threads\": %d, \"cpu_s\": %.3f, \"us_per_order\": %.2f, "
                 "\"cpu_pct\": %.2f, \"busiest_pct\": %.2f}", groups [i].threads,
                 groups [i].cpu_seconds, 1e6 * groups [i].cpu_seconds / orders,
                 100.0 * s_rate (groups [i].cpu_seconds, run->seconds),
                 100.0 * s_rate (groups [i].busiest_seconds, run->seconds));
    }
    int busiest = s_busiest_group (groups, count);
    fprintf (out, "],\n    \"ended_cpu_s\": %.3f, \"ended_us_per_order\": %.2f, "
             "\"busiest\": {\"name\": ", ended, 1e6 * ended / orders);
    s_json_str (out, groups [busiest].name);
    fprintf (out, ", \"cpu_pct\": %.2f}}",
             100.0 * s_rate (groups [busiest].busiest_seconds, run->seconds));
}


int
ob_report_json (const ob_report_t *report, const char *path)
{
    const ob_options_t *options = report->options;
    FILE *out = streq (path, "-")? stdout: fopen (path, "w");
    if (!out) {
        fprintf (stderr, "orderbench: --json %s: %s\n", path, strerror (errno));
        return -1;
    }
    fprintf (out, "{\n  \"options\": {\"clients\": %d, \"pipeline\": %d, \"products\": %d, "
             "\"skus\": %d, \"users\": %d, \"threads\": %d, \"get_pct\": %d, \"get_only\": %s, "
             "\"rate\": %.1f, \"duration\": %.1f, \"orders\": %" PRId64 ", \"preload\": %" PRId64
             ", \"spawn\": %s, \"sync\": ",
             options->clients, options->pipeline, options->products, options->skus,
             options->users, options->threads, options->get_pct,
             options->get_only? "true": "false", options->rate, options->duration,
             options->orders, options->preload, options->spawn? "true": "false");
    s_json_str (out, options->spawn? (options->sync_full? "full": "none"): "");
    fprintf (out, ", \"service\": ");
    s_json_str (out, options->service);
    fprintf (out, "}");
    if (report->have_probe) {
        fprintf (out, ",\n  \"fsync_probe\": {\"dir\": ");
        s_json_str (out, options->fsync_dir);
        fprintf (out, ", \"commits_per_s\": %.1f}", report->probe_commits_per_s);
    }
    if (report->have_hop) {
        const ob_hop_t *hop = &report->hop;
        double trips = (double) hop->round_trips;
        fprintf (out, ",\n  \"hop_probe\": {\"round_trips\": %" PRIu64 ", \"seconds\": %.3f, "
                 "\"round_trips_per_s\": %.1f, \"wall_us_per_round_trip\": %.2f, "
                 "\"cpu_us_per_round_trip\": %.2f, \"context_switches_per_round_trip\": %.3f}",
                 hop->round_trips, hop->seconds, s_rate (trips, hop->seconds),
                 1e6 * hop->seconds / trips, 1e6 * hop->cpu_seconds / trips,
                 (double) hop->context_switches / trips);
    }
    if (report->have_preload) {
        const ob_result_t *preload = &report->preload;
        fprintf (out, ",\n  \"preload\": {\"orders\": %" PRIu64 ", \"seconds\": %.3f, "
                 "\"creates_per_s\": %.1f, \"errors\": %" PRIu64 "}",
                 preload->orders, preload->seconds,
                 s_rate ((double) preload->orders, preload->seconds),
                 ob_errors_total (&preload->errors));
    }
    if (report->have_run) {
        const ob_result_t *run = &report->run;
        fprintf (out, ",\n  \"mode\": \"%s\"", options->get_only? "reads":
                 options->rate > 0? "open": "closed");
        fprintf (out, ",\n  \"seconds\": %.3f,\n  \"orders\": %" PRIu64 ",\n  \"orders_per_s\": %.1f"
                 ",\n  \"requests\": %" PRIu64 ",\n  \"requests_per_s\": %.1f,\n  \"sent\": %" PRIu64,
                 run->seconds, run->orders, s_rate ((double) run->orders, run->seconds),
                 run->requests, s_rate ((double) run->requests, run->seconds), run->sent);
        if (options->rate > 0)
            fprintf (out, ",\n  \"schedule_lag_max_us\": %" PRIu64, run->late_max_us);
        fprintf (out, ",\n  \"latency_us\": {");
        bool first = true;
        for (int op = 0; op < OB_OP_COUNT; op++) {
            if (run->hist [op].total == 0)
                continue;
            fprintf (out, "%s\n    \"%s\": ", first? "": ",", ob_op_name ((ob_op_t) op));
            s_json_hist (out, &run->hist [op]);
            first = false;
        }
        fprintf (out, "\n  },\n  \"errors_total\": %" PRIu64 ",\n  \"errors\": {",
                 ob_errors_total (&run->errors));
        for (int i = 0; i < run->errors.size; i++) {
            fprintf (out, "%s", i? ", ": "");
            s_json_str (out, run->errors.code [i]);
            fprintf (out, ": %" PRIu64, run->errors.count [i]);
        }
        fprintf (out, "}");
        if (report->before.ok && report->after.ok) {
            double transitions = (double) (report->after.transitions - report->before.transitions);
            double commits = (double) (report->after.commits - report->before.commits);
            double batches = report->after.batch_mean * (double) report->after.commits
                           - report->before.batch_mean * (double) report->before.commits;
            fprintf (out, ",\n  \"store\": {\"batches_per_commit\": %.3f, ",
                     commits > 0? batches / commits: 0);
            fprintf (out, "\"transitions\": %.0f, \"commits\": %.0f, "
                     "\"transitions_per_s\": %.1f, \"commits_per_s\": %.1f, "
                     "\"transitions_per_commit\": %.3f, \"batch_max\": %" PRId64
                     ", \"orders\": %" PRId64 ", \"used_bytes\": %" PRId64,
                     transitions, commits, s_rate (transitions, run->seconds),
                     s_rate (commits, run->seconds), commits > 0? transitions / commits: 0,
                     report->after.batch_max, report->after.store_orders,
                     report->after.store_used);
            if (report->have_probe && report->probe_commits_per_s > 0)
                fprintf (out, ", \"transitions_per_probe_commit\": %.2f",
                         s_rate (transitions, run->seconds) / report->probe_commits_per_s);
            fprintf (out, "}");
            ob_handoffs_t hops;
            if (ob_handoffs_per_order (&report->before, &report->after, run->orders, &hops))
                fprintf (out, ",\n  \"handoffs_per_order\": {\"actor_messages\": %.3f, "
                         "\"writer_round_trips\": %.3f, \"payment_calls\": %.3f, "
                         "\"fulfilment_calls\": %.3f, \"round_trips\": %.3f}",
                         hops.actor_messages, hops.writer_round_trips, hops.payment_calls,
                         hops.fulfilment_calls, hops.round_trips);
        }
        if (report->proc_after.ok) {
            double cpu = report->proc_after.cpu_seconds - report->proc_before.cpu_seconds;
            fprintf (out, ",\n  \"orderd\": {\"pid\": %d, \"peak_rss_kib\": %" PRId64
                     ", \"rss_kib\": %" PRId64 ", \"cpu_s\": %.3f, \"cpu_pct\": %.1f, "
                     "\"threads\": %d}",
                     options->pid, report->proc_after.hwm_kib, report->proc_after.rss_kib, cpu,
                     100.0 * s_rate (cpu, run->seconds), report->proc_after.threads);
        }
        s_json_threads (report, out);
        fprintf (out, ",\n  \"orderbench\": {\"cpu_s\": %.3f, \"cpu_pct\": %.1f}",
                 run->cpu_seconds, 100.0 * s_rate (run->cpu_seconds, run->seconds));
    }
    if (report->have_daemon_status)
        fprintf (out, ",\n  \"orderd_exit_status\": %d", report->daemon_status);
    fprintf (out, "\n}\n");
    if (out != stdout)
        fclose (out);
    else
        fflush (out);
    return 0;
}
