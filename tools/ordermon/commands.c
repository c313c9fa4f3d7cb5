/*  commands: ordermon's request/reply commands. Each sends one request to
    the admin door (PROTOCOL.md §5, §6) and shows the reply as tables, or
    with --json prints the reply itself as one JSON document. */
#include <ctype.h>
#include "orderd/client.h"
#include "format.h"
#include "json.h"
#include "order.h"
#include "ordermon.h"
#include "table.h"

#define S_TEXT 256                 //  room for one shown value

//  ---------------------------------------------------------------------
//  Shared plumbing

//  Sends one request and handles every outcome but a successful reply:
//  with --json prints the reply (refusals too), on a refusal prints its
//  code and message on stderr. Returns an exit status; the reply is
//  filled for OM_EXIT_OK and OM_EXIT_ERROR.
static int
s_request (const om_opts_t *opts, const char *op, const ordc_body_t *body, ordc_reply_t *reply)
{
    ordc_client_t *client = ordc_client_new (opts->endpoint, opts->curve);
    if (!client) {
        fprintf (stderr, "ordermon: '%s' is not an endpoint ZeroMQ can connect to "
                 "(e.g. tcp://127.0.0.1:8792)\n", opts->endpoint);
        return OM_EXIT_USAGE;
    }
    ordc_client_set_interrupt (client, &zsys_interrupted);
    //  One attempt: a person at a terminal retries better than we would
    ordc_options_t options = { .timeout_ms = opts->timeout_ms, .retries = -1 };
    ordc_code_t rc = ordc_call (client, op, body, &options, reply);
    ordc_handshake_t handshake = ordc_client_handshake (client);
    ordc_client_destroy (&client);
    if (rc == ORDC_REFUSED) {
        fprintf (stderr, "ordermon: orderd at %s refused the CURVE key of --cert "
                 "(is its public half in orderd/admin_clients?)\n", opts->endpoint);
        return OM_EXIT_UNREACHABLE;
    }
    bool unanswered = rc == ORDC_TIMEOUT || rc == ORDC_SEND;
    if (unanswered && handshake == ORDC_HANDSHAKE_FAILED) {
        fprintf (stderr, "ordermon: the CURVE handshake with %s failed within %g s "
                 "(is --server-key orderd's public key? does orderd run with "
                 "orderd/curve = 1?)\n", opts->endpoint, opts->timeout_ms / 1000.0);
        return OM_EXIT_UNREACHABLE;
    }
    if (unanswered) {
        fprintf (stderr, "ordermon: orderd did not answer at %s within %g s "
                 "(is it running? is -e the admin door?%s)\n",
                 opts->endpoint, opts->timeout_ms / 1000.0,
                 opts->curve? "": " does it need --cert and --server-key?");
        return OM_EXIT_UNREACHABLE;
    }
    if (rc == ORDC_INTERRUPTED) {
        fprintf (stderr, "ordermon: interrupted\n");
        return OM_EXIT_INTERRUPTED;
    }
    if (rc == ORDC_BAD_REPLY) {
        fprintf (stderr, "ordermon: %s: the reply from %s is not a msgpack map\n",
                 op, opts->endpoint);
        return OM_EXIT_ERROR;
    }
    if (!reply->body) {
        fprintf (stderr, "ordermon: %s: %s\n", op, reply->message);
        return OM_EXIT_ERROR;
    }
    if (opts->json && om_json_print (stdout, reply->body, 2))
        return OM_EXIT_ERROR;
    if (!reply->ok) {
        char message [sizeof reply->message];
        snprintf (message, sizeof message, "%s", reply->message);
        fprintf (stderr, "ordermon: %s: %s: %s\n", op, reply->code_text, om_sanitize (message));
        return OM_EXIT_ERROR;
    }
    return OM_EXIT_OK;
}

//  A table of "key  value" lines with no header.
static om_table_t *
s_kv_table (void)
{
    om_table_t *table = om_table_new ();
    om_table_column (table, "", OM_LEFT);
    om_table_column (table, "", OM_LEFT);
    return table;
}

static void
s_kv (om_table_t *table, const char *key, const char *color, const char *value)
{
    om_table_row (table);
    om_table_cell (table, NULL, "%s", key);
    om_table_cell (table, color, "%s", value);
}

static int
s_print_table (const om_opts_t *opts, om_table_t **table_p)
{
    int rc = om_table_print (*table_p, stdout, opts->color);
    om_table_destroy (table_p);
    return rc? OM_EXIT_ERROR: OM_EXIT_OK;
}

//  The text of any value: strings as they are, numbers, nil as "-",
//  containers as compact JSON.
static char *
s_value (const msgpack_object *value, char *buffer, size_t size)
{
    buffer [0] = 0;
    if (!value || value->type == MSGPACK_OBJECT_NIL)
        snprintf (buffer, size, "-");
    else
    if (value->type == MSGPACK_OBJECT_STR)
        snprintf (buffer, size, "%.*s", (int) value->via.str.size, value->via.str.ptr);
    else {
        char *text = NULL;
        size_t length = 0;
        FILE *memory = open_memstream (&text, &length);
        if (memory) {
            om_json_write (memory, value, -1, 0);
            if (fclose (memory) == 0 && text)
                snprintf (buffer, size, "%s", text);
            free (text);
        }
    }
    return om_sanitize (buffer);
}

//  "a, b, c" of a map's string values (an address).
static char *
s_joined (const msgpack_object *map, char *buffer, size_t size)
{
    buffer [0] = 0;
    size_t used = 0;
    for (uint32_t i = 0; map && i < map->via.map.size && used < size; i++) {
        const msgpack_object *value = &map->via.map.ptr [i].val;
        if (value->type != MSGPACK_OBJECT_STR || value->via.str.size == 0)
            continue;
        int wrote = snprintf (buffer + used, size - used, "%s%.*s", used? ", ": "",
                              (int) value->via.str.size, value->via.str.ptr);
        if (wrote < 0)
            break;
        used += (size_t) wrote;
    }
    if (!buffer [0])
        snprintf (buffer, size, "-");
    return om_sanitize (buffer);
}

static char *
s_percent (double ratio, char *buffer, size_t size)
{
    snprintf (buffer, size, "%.*f%%", ratio < 0.001? 2: 1, ratio * 100.0);
    return buffer;
}

//  The status in its colour, with the review flag.
static void
s_status_cell (om_table_t *table, const msgpack_object *order)
{
    char status [64];
    om_field_str (order, "status", "?", status, sizeof status);
    om_table_cell (table, om_status_color (status), "%s", status);
}

static char *
s_order_total (const msgpack_object *order, char *buffer, size_t size)
{
    char currency [16];
    om_field_str (order, "currency", "", currency, sizeof currency);
    return om_money (om_field_int (order, "total_amount", 0), currency, buffer, size);
}

static bool
s_valid_status (const char *status)
{
    return ord_status_parse (status, strlen (status)) != ORD_STATUS_NONE;
}

static int
s_bad_status (const char *status)
{
    fprintf (stderr, "ordermon: --status %s: not an order status (pending, payment_initiated, "
             "paid, confirmed, processing, shipped, delivered, cancelled, failed)\n", status);
    return OM_EXIT_USAGE;
}

//  ---------------------------------------------------------------------
//  health

int
om_cmd_health (const om_opts_t *opts)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_bool (&body, "detailed", true);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (opts, "health", &body, &reply);
    ordc_body_destroy (&body);
    if (rc || opts->json) {
        ordc_reply_reset (&reply);
        return rc;
    }
    const msgpack_object *map = reply.body;
    char status [32], text [S_TEXT];
    om_field_str (map, "status", "?", status, sizeof status);
    om_table_t *table = s_kv_table ();
    s_kv (table, "status", om_status_color (status), status);
    s_kv (table, "endpoint", NULL, opts->endpoint);
    s_kv (table, "uptime", NULL, om_duration (om_field_int (map, "uptime_ms", 0), text, sizeof text));
    const char *counters [][2] = {
        { "live actors", "live_actors" }, { "orders", "orders" },
        { "queue depth", "queue_depth" }, { "sagas recovered", "sagas_recovered" },
        { "sagas recovering", "sagas_recovering" }
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters [0]; i++)
        s_kv (table, counters [i][0], NULL, om_field_str (map, counters [i][1], "-", text, sizeof text));
    rc = s_print_table (opts, &table);

    const msgpack_object *checks = om_field_map (map, "checks");
    if (!rc && checks) {
        table = om_table_new ();
        om_table_column (table, "CHECK", OM_LEFT);
        om_table_column (table, "STATUS", OM_LEFT);
        om_table_column (table, "DETAIL", OM_LEFT);
        for (uint32_t i = 0; i < checks->via.map.size; i++) {
            const msgpack_object *check = &checks->via.map.ptr [i].val;
            char name [64], state [32], reason [S_TEXT], detail [S_TEXT * 2];
            om_key (checks, i, name, sizeof name);
            om_field_str (check, "status", "?", state, sizeof state);
            om_field_str (check, "reason", "", reason, sizeof reason);
            if (ord_wire_find (check, "map_bytes")) {
                char used [32], total [32], percent [16];
                int64_t used_bytes = om_field_int (check, "used_bytes", 0);
                int64_t map_bytes = om_field_int (check, "map_bytes", 0);
                snprintf (detail, sizeof detail, "%s of %s map used (%s)%s%s",
                          om_bytes (used_bytes, used, sizeof used),
                          om_bytes (map_bytes, total, sizeof total),
                          s_percent (map_bytes? (double) used_bytes / (double) map_bytes: 0,
                                     percent, sizeof percent),
                          *reason? ": ": "", reason);
            }
            else {
                char plugin [64], version [32];
                om_field_str (check, "name", "", plugin, sizeof plugin);
                om_field_str (check, "version", "", version, sizeof version);
                snprintf (detail, sizeof detail, "%s %s%s%s", plugin, version,
                          *reason? ": ": "", reason);
            }
            om_table_row (table);
            om_table_cell (table, NULL, "%s", name);
            om_table_cell (table, om_status_color (state), "%s", state);
            om_table_cell (table, NULL, "%s", detail);
        }
        fputc ('\n', stdout);
        rc = s_print_table (opts, &table);
    }
    ordc_reply_reset (&reply);
    return rc;
}

//  ---------------------------------------------------------------------
//  stats

static void
s_rate_row (om_table_t *table, const msgpack_object *map, const char *label,
            const char *rates_key, const char *history_key)
{
    const msgpack_object *rates = om_field_map (map, rates_key);
    char spark [80];
    om_table_row (table);
    om_table_cell (table, NULL, "%s", label);
    om_table_cell (table, NULL, "%.1f", om_field_num (rates, "10s", 0));
    om_table_cell (table, NULL, "%.1f", om_field_num (rates, "60s", 0));
    om_table_cell (table, OM_CYAN, "%s",
                   om_sparkline (om_field_array (map, history_key), 60, spark, sizeof spark));
}

int
om_cmd_stats (const om_opts_t *opts)
{
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (opts, "stats", NULL, &reply);
    if (rc || opts->json) {
        ordc_reply_reset (&reply);
        return rc;
    }
    const msgpack_object *map = reply.body;
    char text [S_TEXT];

    //  Orders by status, then those needing review
    om_table_t *table = om_table_new ();
    om_table_column (table, "STATUS", OM_LEFT);
    om_table_column (table, "ORDERS", OM_RIGHT);
    const msgpack_object *counts = om_field_map (map, "counts");
    for (uint32_t i = 0; counts && i < counts->via.map.size; i++) {
        char status [64];
        om_key (counts, i, status, sizeof status);
        om_table_row (table);
        om_table_cell (table, om_status_color (status), "%s", status);
        om_table_cell (table, NULL, "%s",
                       s_value (&counts->via.map.ptr [i].val, text, sizeof text));
    }
    int64_t review = om_field_int (map, "needs_review", 0);
    om_table_row (table);
    om_table_cell (table, review? OM_RED: NULL, "needs review");
    om_table_cell (table, review? OM_RED: NULL, "%" PRId64, review);
    rc = s_print_table (opts, &table);

    //  Rates, with the last minute as a sparkline
    table = om_table_new ();
    om_table_column (table, "RATE", OM_LEFT);
    om_table_column (table, "10s", OM_RIGHT);
    om_table_column (table, "60s", OM_RIGHT);
    om_table_column (table, "LAST 60 s, OLDEST FIRST", OM_LEFT);
    s_rate_row (table, map, "requests/s", "requests_per_s", "requests_history");
    s_rate_row (table, map, "transitions/s", "transitions_per_s", "transitions_history");
    fputc ('\n', stdout);
    rc = rc? rc: s_print_table (opts, &table);

    //  Latency per op
    const msgpack_object *latency = om_field_map (map, "latency_us");
    table = om_table_new ();
    om_table_column (table, "OP", OM_LEFT);
    om_table_column (table, "COUNT", OM_RIGHT);
    const char *percentiles [] = { "p50", "p90", "p99", "p99.9" };
    for (size_t p = 0; p < 4; p++) {
        char title [16];
        snprintf (title, sizeof title, "%s", percentiles [p]);
        for (char *c = title; *c; c++)
            *c = (char) toupper ((unsigned char) *c);
        om_table_column (table, title, OM_RIGHT);
    }
    for (uint32_t i = 0; latency && i < latency->via.map.size; i++) {
        const msgpack_object *op = &latency->via.map.ptr [i].val;
        char name [64];
        om_table_row (table);
        om_table_cell (table, NULL, "%s", om_key (latency, i, name, sizeof name));
        om_table_cell (table, NULL, "%" PRId64, om_field_int (op, "count", 0));
        for (size_t p = 0; p < 4; p++)
            om_table_cell (table, NULL, "%s",
                           om_latency (om_field_int (op, percentiles [p], 0), text, sizeof text));
    }
    fputc ('\n', stdout);
    if (om_table_rows (table))
        rc = rc? rc: s_print_table (opts, &table);
    else {
        printf ("no requests answered yet: no latencies\n");
        om_table_destroy (&table);
    }

    //  The engine
    table = s_kv_table ();
    const char *counters [][2] = {
        { "live actors", "live_actors" }, { "queue depth", "queue_depth" },
        { "transitions", "transitions" }, { "commits", "commits" }
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters [0]; i++)
        s_kv (table, counters [i][0], NULL, om_field_str (map, counters [i][1], "-", text, sizeof text));
    const msgpack_object *batch = om_field_map (map, "batch_size");
    snprintf (text, sizeof text, "mean %.2f, max %" PRId64 " transitions per commit",
              om_field_num (batch, "mean", 0), om_field_int (batch, "max", 0));
    s_kv (table, "batch size", NULL, text);
    const msgpack_object *store = om_field_map (map, "store");
    char used [32], total [32], percent [16];
    double usage = om_field_num (store, "map_usage", 0);
    snprintf (text, sizeof text, "%" PRId64 " orders, %s of %s map used (%s)",
              om_field_int (store, "orders", 0),
              om_bytes (om_field_int (store, "used_bytes", 0), used, sizeof used),
              om_bytes (om_field_int (store, "map_bytes", 0), total, sizeof total),
              s_percent (usage, percent, sizeof percent));
    s_kv (table, "store", usage >= 0.95? OM_RED: usage >= 0.8? OM_YELLOW: NULL, text);
    s_kv (table, "sagas recovered", NULL,
          om_field_str (map, "sagas_recovered", "-", text, sizeof text));
    fputc ('\n', stdout);
    rc = rc? rc: s_print_table (opts, &table);

    //  The adapters
    const msgpack_object *adapters = om_field_map (map, "adapters");
    table = om_table_new ();
    om_table_column (table, "ADAPTER", OM_LEFT);
    om_table_column (table, "STATUS", OM_LEFT);
    om_table_column (table, "PLUGIN", OM_LEFT);
    om_table_column (table, "VERSION", OM_LEFT);
    om_table_column (table, "REASON", OM_LEFT);
    for (uint32_t i = 0; adapters && i < adapters->via.map.size; i++) {
        const msgpack_object *adapter = &adapters->via.map.ptr [i].val;
        char kind [64], state [32], plugin [64], version [32], reason [S_TEXT];
        om_key (adapters, i, kind, sizeof kind);
        om_field_str (adapter, "status", "?", state, sizeof state);
        om_table_row (table);
        om_table_cell (table, NULL, "%s", kind);
        om_table_cell (table, om_status_color (state), "%s", state);
        om_table_cell (table, NULL, "%s", om_field_str (adapter, "name", "", plugin, sizeof plugin));
        om_table_cell (table, NULL, "%s", om_field_str (adapter, "version", "", version, sizeof version));
        om_table_cell (table, NULL, "%s", om_field_str (adapter, "reason", "", reason, sizeof reason));
    }
    fputc ('\n', stdout);
    rc = rc? rc: s_print_table (opts, &table);
    ordc_reply_reset (&reply);
    return rc;
}

//  ---------------------------------------------------------------------
//  list

int
om_cmd_list (const om_opts_t *opts)
{
    if (opts->status && !s_valid_status (opts->status))
        return s_bad_status (opts->status);
    ordc_body_t body;
    ordc_body_init (&body);
    if (opts->status)
        ordc_body_str (&body, "status", opts->status);
    if (opts->user)
        ordc_body_str (&body, "user_id", opts->user);
    if (opts->limit)
        ordc_body_int (&body, "limit", opts->limit);
    if (opts->after)
        ordc_body_str (&body, "after", opts->after);
    if (opts->deleted)
        ordc_body_bool (&body, "include_deleted", true);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (opts, "list", &body, &reply);
    ordc_body_destroy (&body);
    if (rc || opts->json) {
        ordc_reply_reset (&reply);
        return rc;
    }
    const msgpack_object *orders = om_field_array (reply.body, "orders");
    if (!orders || orders->via.array.size == 0) {
        printf ("no orders\n");
        ordc_reply_reset (&reply);
        return OM_EXIT_OK;
    }
    om_table_t *table = om_table_new ();
    om_table_column (table, "ID", OM_LEFT);
    om_table_column (table, "CREATED", OM_LEFT);
    om_table_column (table, "STATUS", OM_LEFT);
    om_table_column (table, "USER", OM_LEFT);
    om_table_column (table, "ITEMS", OM_RIGHT);
    om_table_column (table, "TOTAL", OM_RIGHT);
    om_table_column (table, "FLAGS", OM_LEFT);
    for (uint32_t i = 0; i < orders->via.array.size; i++) {
        const msgpack_object *order = &orders->via.array.ptr [i];
        char id [64], user [ORD_MAX_ID_LEN + 1], created [32], total [48];
        const msgpack_object *products = om_field_array (om_field_map (order, "order_data"),
                                                         "products");
        int64_t items = 0;
        for (uint32_t p = 0; products && p < products->via.array.size; p++)
            items += om_field_int (&products->via.array.ptr [p], "quantity", 0);
        bool review = om_field_bool (order, "needs_review");
        int64_t deleted_at = om_field_int (order, "deleted_at", 0);
        om_table_row (table);
        om_table_cell (table, NULL, "%s", om_field_str (order, "id", "?", id, sizeof id));
        om_table_cell (table, NULL, "%s",
                       om_time (om_field_int (order, "created_at", 0), false, created, sizeof created));
        s_status_cell (table, order);
        om_table_cell (table, NULL, "%s", om_field_str (order, "user_id", "", user, sizeof user));
        om_table_cell (table, NULL, "%" PRId64, items);
        om_table_cell (table, NULL, "%s", s_order_total (order, total, sizeof total));
        om_table_cell (table, review? OM_RED: OM_DIM, "%s%s%s", review? "needs_review": "",
                       review && deleted_at? ",": "", deleted_at? "deleted": "");
    }
    rc = s_print_table (opts, &table);
    char next [64];
    om_field_str (reply.body, "next", "", next, sizeof next);
    if (*next)
        printf ("more: add --after %s\n", next);
    ordc_reply_reset (&reply);
    return rc;
}

//  ---------------------------------------------------------------------
//  show, history

static int
s_get (const om_opts_t *opts, bool history, ordc_reply_t *reply)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "order_id", opts->argv [0]);
    if (history)
        ordc_body_bool (&body, "history", true);
    if (opts->deleted || history)
        ordc_body_bool (&body, "include_deleted", true);
    int rc = s_request (opts, "get", &body, reply);
    ordc_body_destroy (&body);
    return rc;
}

int
om_cmd_show (const om_opts_t *opts)
{
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_get (opts, false, &reply);
    if (rc || opts->json) {
        ordc_reply_reset (&reply);
        return rc;
    }
    const msgpack_object *order = om_field_map (reply.body, "order");
    const msgpack_object *data = om_field_map (order, "order_data");
    const msgpack_object *costs = om_field_map (data, "costs");
    const msgpack_object *user_data = om_field_map (order, "user_data");
    const msgpack_object *payment = om_field_map (order, "payment");
    char currency [16], text [S_TEXT * 4], a [S_TEXT], b [S_TEXT], c [S_TEXT];
    om_field_str (order, "currency", "", currency, sizeof currency);
    om_table_t *table = s_kv_table ();
    s_kv (table, "order", OM_BOLD, om_field_str (order, "id", "?", text, sizeof text));
    om_field_str (order, "status", "?", a, sizeof a);
    s_kv (table, "status", om_status_color (a), a);
    if (om_field_bool (order, "needs_review"))
        s_kv (table, "needs review", OM_RED,
              "yes: payment captured but the order failed; see `ordermon payment` and `resolve`");
    om_field_str (order, "user_id", "?", a, sizeof a);
    om_field_str (user_data, "name", "", b, sizeof b);
    om_field_str (user_data, "email", "", c, sizeof c);
    //  "u1 (Ada Lovelace <ada@example.com>)", leaving out what is missing
    snprintf (text, sizeof text, "%s%s%s%s%s%s%s", a, *b || *c? " (": "", b, *b && *c? " ": "",
              *c? "<": "", c, *b || *c? (*c? ">)": ")"): "");
    s_kv (table, "user", NULL, text);
    s_kv (table, "cart", NULL, om_field_str (order, "cart_id", "-", text, sizeof text));
    char subtotal [48], shipping [48], tax [48], discount [48];
    snprintf (text, sizeof text, "%s (subtotal %s, shipping %s, tax %s, discount %s)",
              s_order_total (order, a, sizeof a),
              om_money (om_field_int (costs, "subtotal", 0), currency, subtotal, sizeof subtotal),
              om_money (om_field_int (costs, "shipping", 0), currency, shipping, sizeof shipping),
              om_money (om_field_int (costs, "tax", 0), currency, tax, sizeof tax),
              om_money (om_field_int (costs, "discount", 0), currency, discount, sizeof discount));
    s_kv (table, "total", NULL, text);
    if (payment) {
        om_field_str (payment, "provider", "?", a, sizeof a);
        om_field_str (payment, "provider_order_id", "?", b, sizeof b);
        om_field_str (payment, "capture_id", "", c, sizeof c);
        snprintf (text, sizeof text, "%s %s, %s%s", a, b, *c? "captured ": "not captured", c);
        s_kv (table, "payment", NULL, text);
    }
    else
        s_kv (table, "payment", NULL, "-");
    s_kv (table, "delivery", NULL, om_field_str (data, "delivery_mode", "-", text, sizeof text));
    s_kv (table, "ship to", NULL, s_joined (om_field_map (data, "shipping_address"), text, sizeof text));
    s_kv (table, "bill to", NULL, s_joined (om_field_map (data, "billing_address"), text, sizeof text));
    s_kv (table, "created", NULL, om_time (om_field_int (order, "created_at", 0), true, a, sizeof a));
    snprintf (text, sizeof text, "%s (version %" PRId64 ")",
              om_time (om_field_int (order, "updated_at", 0), true, a, sizeof a),
              om_field_int (order, "version", 0));
    s_kv (table, "updated", NULL, text);
    if (om_field_int (order, "deleted_at", 0))
        s_kv (table, "deleted", OM_DIM, om_time (om_field_int (order, "deleted_at", 0), true, a, sizeof a));
    rc = s_print_table (opts, &table);

    const msgpack_object *products = om_field_array (data, "products");
    table = om_table_new ();
    om_table_column (table, "SKU", OM_LEFT);
    om_table_column (table, "PRODUCT", OM_LEFT);
    om_table_column (table, "NAME", OM_LEFT);
    om_table_column (table, "QTY", OM_RIGHT);
    om_table_column (table, "UNIT PRICE", OM_RIGHT);
    om_table_column (table, "AMOUNT", OM_RIGHT);
    for (uint32_t i = 0; products && i < products->via.array.size; i++) {
        const msgpack_object *product = &products->via.array.ptr [i];
        int64_t quantity = om_field_int (product, "quantity", 0);
        int64_t unit = om_field_int (product, "unit_price", 0);
        om_table_row (table);
        om_table_cell (table, NULL, "%s", om_field_str (product, "sku", "", a, sizeof a));
        om_table_cell (table, NULL, "%s", om_field_str (product, "product_id", "", a, sizeof a));
        om_table_cell (table, NULL, "%s", om_field_str (product, "name", "", a, sizeof a));
        om_table_cell (table, NULL, "%" PRId64, quantity);
        om_table_cell (table, NULL, "%s", om_money (unit, currency, a, sizeof a));
        //  Both at most 10^4 and 10^15 by validation: no overflow
        om_table_cell (table, NULL, "%s", om_money (quantity * unit, currency, a, sizeof a));
    }
    fputc ('\n', stdout);
    rc = rc? rc: s_print_table (opts, &table);
    ordc_reply_reset (&reply);
    return rc;
}

int
om_cmd_history (const om_opts_t *opts)
{
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_get (opts, true, &reply);
    if (rc || opts->json) {
        ordc_reply_reset (&reply);
        return rc;
    }
    const msgpack_object *order = om_field_map (reply.body, "order");
    const msgpack_object *history = om_field_array (reply.body, "history");
    char id [64], user [ORD_MAX_ID_LEN + 1], status [32];
    printf ("%s of %s: %s%s\n", om_field_str (order, "id", "?", id, sizeof id),
            om_field_str (order, "user_id", "?", user, sizeof user),
            om_field_str (order, "status", "?", status, sizeof status),
            om_field_bool (order, "needs_review")? ", needs review": "");
    om_table_t *table = om_table_new ();
    om_table_column (table, "SEQ", OM_RIGHT);
    om_table_column (table, "AT", OM_LEFT);
    om_table_column (table, "FROM", OM_LEFT);
    om_table_column (table, "", OM_LEFT);
    om_table_column (table, "TO", OM_LEFT);
    om_table_column (table, "REASON", OM_LEFT);
    for (uint32_t i = 0; history && i < history->via.array.size; i++) {
        const msgpack_object *entry = &history->via.array.ptr [i];
        char at [40], from [32], to [32], reason [ORD_MAX_TEXT_LEN + 1];
        om_field_str (entry, "from", "-", from, sizeof from);
        om_field_str (entry, "to", "-", to, sizeof to);
        om_table_row (table);
        om_table_cell (table, NULL, "%" PRId64, om_field_int (entry, "seq", 0));
        om_table_cell (table, NULL, "%s", om_time (om_field_int (entry, "at", 0), true, at, sizeof at));
        om_table_cell (table, om_status_color (from), "%s", from);
        om_table_cell (table, NULL, "%s", om_arrow (opts));
        om_table_cell (table, om_status_color (to), "%s", to);
        om_table_cell (table, NULL, "%s", om_field_str (entry, "reason", "", reason, sizeof reason));
    }
    rc = s_print_table (opts, &table);
    ordc_reply_reset (&reply);
    return rc;
}

//  ---------------------------------------------------------------------
//  advance, retry, resolve

//  One write on one order; on success prints `what` and the new state.
static int
s_order_write (const om_opts_t *opts, const char *op, ordc_body_t *body, const char *what)
{
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (opts, op, body, &reply);
    if (rc == OM_EXIT_OK && !opts->json) {
        const msgpack_object *order = om_field_map (reply.body, "order");
        char id [64], status [32];
        om_field_str (order, "id", opts->argv [0], id, sizeof id);
        om_field_str (order, "status", "?", status, sizeof status);
        printf ("%s: %s; now ", id, what);
        om_print_colored (stdout, opts->color, om_status_color (status), status);
        printf (" (version %" PRId64 ")%s\n", om_field_int (order, "version", 0),
                om_field_bool (order, "needs_review")? ", needs review": "");
    }
    ordc_reply_reset (&reply);
    return rc;
}

int
om_cmd_advance (const om_opts_t *opts)
{
    const char *to = opts->argv [1];
    if (!streq (to, "processing") && !streq (to, "shipped") && !streq (to, "delivered")) {
        fprintf (stderr, "ordermon: advance: TO must be processing, shipped or delivered, not '%s'\n", to);
        return OM_EXIT_USAGE;
    }
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "order_id", opts->argv [0]);
    ordc_body_str (&body, "to", to);
    if (opts->reason)
        ordc_body_str (&body, "reason", opts->reason);
    char what [64];
    snprintf (what, sizeof what, "advanced to %s", to);
    int rc = s_order_write (opts, "advance", &body, what);
    ordc_body_destroy (&body);
    return rc;
}

int
om_cmd_retry (const om_opts_t *opts)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "order_id", opts->argv [0]);
    int rc = s_order_write (opts, "retry", &body, "saga re-driven");
    ordc_body_destroy (&body);
    return rc;
}

int
om_cmd_resolve (const om_opts_t *opts)
{
    //  The note is every word after the id, so quoting is optional
    char *note = NULL;
    size_t size = 0;
    FILE *memory = open_memstream (&note, &size);
    if (!memory)
        return OM_EXIT_ERROR;
    for (int i = 1; i < opts->argc; i++)
        fprintf (memory, "%s%s", i > 1? " ": "", opts->argv [i]);
    if (fclose (memory) || !note) {
        free (note);
        return OM_EXIT_ERROR;
    }
    int rc = OM_EXIT_USAGE;
    if (!*note)
        fprintf (stderr, "ordermon: resolve: NOTE must not be empty\n");
    else {
        ordc_body_t body;
        ordc_body_init (&body);
        ordc_body_str (&body, "order_id", opts->argv [0]);
        ordc_body_str (&body, "note", note);
        rc = s_order_write (opts, "resolve", &body, "resolved, needs_review cleared, note kept in the history");
        ordc_body_destroy (&body);
    }
    free (note);
    return rc;
}

//  ---------------------------------------------------------------------
//  stock, payment

int
om_cmd_stock (const om_opts_t *opts)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "sku", opts->argv [0]);
    if (opts->set >= 0)
        ordc_body_int (&body, "set", opts->set);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (opts, "stock", &body, &reply);
    ordc_body_destroy (&body);
    if (rc == OM_EXIT_OK && !opts->json) {
        char sku [ORD_MAX_TEXT_LEN + 1];
        om_table_t *table = om_table_new ();
        om_table_column (table, "SKU", OM_LEFT);
        om_table_column (table, "AVAILABLE", OM_RIGHT);
        om_table_column (table, "RESERVED", OM_RIGHT);
        om_table_row (table);
        om_table_cell (table, NULL, "%s", om_field_str (reply.body, "sku", opts->argv [0], sku, sizeof sku));
        om_table_cell (table, NULL, "%" PRId64, om_field_int (reply.body, "available", 0));
        om_table_cell (table, NULL, "%" PRId64, om_field_int (reply.body, "reserved", 0));
        rc = s_print_table (opts, &table);
    }
    ordc_reply_reset (&reply);
    return rc;
}

int
om_cmd_payment (const om_opts_t *opts)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "order_id", opts->argv [0]);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (opts, "payment", &body, &reply);
    ordc_body_destroy (&body);
    if (rc == OM_EXIT_OK && !opts->json) {
        //  Every field the payment adapter gave, amounts as money
        const msgpack_object *map = reply.body;
        char currency [16];
        om_field_str (map, "currency", "", currency, sizeof currency);
        om_table_t *table = s_kv_table ();
        for (uint32_t i = 0; i < map->via.map.size; i++) {
            char key [64], text [S_TEXT];
            om_key (map, i, key, sizeof key);
            if (streq (key, "v") || streq (key, "rid") || streq (key, "ok"))
                continue;
            const msgpack_object *value = &map->via.map.ptr [i].val;
            size_t length = strlen (key);
            bool amount = streq (key, "amount")
                       || (length > 7 && streq (key + length - 7, "_amount"));
            if (amount && (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                       ||  value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER))
                om_money (om_field_int (map, key, 0), currency, text, sizeof text);
            else
                s_value (value, text, sizeof text);
            s_kv (table, key, streq (key, "status")? om_status_color (text): NULL, text);
        }
        rc = s_print_table (opts, &table);
    }
    ordc_reply_reset (&reply);
    return rc;
}

//  ---------------------------------------------------------------------
//  backup

int
om_cmd_backup (const om_opts_t *opts)
{
    const char *dir = opts->argv [0];
    if (dir [0] != '/') {
        char shown [256];
        snprintf (shown, sizeof shown, "%s", dir);
        fprintf (stderr, "ordermon: backup: %s: DIR must be an absolute path "
                 "(orderd writes it, from its own working folder)\n", om_sanitize (shown));
        return OM_EXIT_USAGE;
    }
    om_opts_t patient = *opts;
    if (!opts->timeout_set)
        patient.timeout_ms = OM_BACKUP_TIMEOUT;
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_str (&body, "dir", dir);
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    int rc = s_request (&patient, "backup", &body, &reply);
    ordc_body_destroy (&body);
    if (rc == OM_EXIT_ERROR && streq (reply.code_text, "bad_request"))
        rc = OM_EXIT_USAGE;         //  DIR refused: nothing was written
    if (rc == OM_EXIT_OK && !opts->json) {
        om_table_t *table = s_kv_table ();
        char text [S_TEXT], name [64], kind [32];
        snprintf (text, sizeof text, "%" PRId64 " bytes", om_field_int (reply.body, "bytes", 0));
        s_kv (table, "orderd", NULL, text);
        const msgpack_object *adapters = om_field_array (reply.body, "adapters");
        for (uint32_t i = 0; adapters && i < adapters->via.array.size; i++) {
            const msgpack_object *adapter = &adapters->via.array.ptr [i];
            om_field_str (adapter, "kind", "?", kind, sizeof kind);
            om_field_str (adapter, "name", "?", name, sizeof name);
            if (om_field_bool (adapter, "copied"))
                snprintf (text, sizeof text, "%s, %" PRId64 " bytes", name,
                          om_field_int (adapter, "bytes", 0));
            else
                snprintf (text, sizeof text, "%s: NOT copied (out of process: back up its "
                          "service yourself)", name);
            s_kv (table, kind, NULL, text);
        }
        snprintf (text, sizeof text, "%.3f ms",
                  (double) om_field_int (reply.body, "write_stall_us", 0) / 1000.0);
        s_kv (table, "writers held", NULL, text);
        char restore [S_TEXT];
        snprintf (restore, sizeof restore, "orderd --set orderd/data_dir=%s",
                  om_field_str (reply.body, "dir", dir, text, sizeof text));
        s_kv (table, "restore with", NULL, om_sanitize (restore));
        rc = s_print_table (opts, &table);
    }
    ordc_reply_reset (&reply);
    return rc;
}
