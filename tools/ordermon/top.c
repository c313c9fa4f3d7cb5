/*  top: the live full-screen view (ncurses). Polls `stats` and `health`
    on the admin door once a second and follows the events door:

    - orders per status, needs_review, live actors, queue depth;
    - request and transition rates with sparklines of the last minute;
    - latency percentiles per op;
    - the orders needing review (from `list`, while stats counts any);
    - the latest transitions, scrolling, newest at the bottom.

    Never blocks: one zmq_poll over the DEALER, the SUB and the keyboard,
    with a timeout that keeps the screen redrawn at least once a second. A
    request round unanswered within its timeout marks orderd unreachable on
    screen; the DEALER is then recreated and polling goes on, so the view
    recovers by itself when orderd returns. `q` quits, a resize redraws. */
#include <curses.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include "orderd/client.h"
#include "format.h"
#include "order.h"
#include "ordermon.h"

#define S_EVENTS_KEPT      512     //  transitions remembered for the log
#define S_POLL_MS          1000    //  one stats + health round a second
#define S_REVIEW_POLL_MS   5000    //  the needs_review list, when any
#define S_REVIEW_SCAN      500     //  newest orders scanned for it
#define S_TIMEOUT_MAX_MS   1500    //  a round unanswered this long: unreachable
#define S_LEFT_WIDTH       27      //  the orders column
#define S_MIN_COLS         40
#define S_MIN_ROWS         12

enum { S_PAIR_GREEN = 1, S_PAIR_YELLOW, S_PAIR_RED, S_PAIR_CYAN, S_PAIR_BANNER };

typedef struct {
    char at [16];                  //  "12:34:56.789"
    char id [24];
    char user [48];
    char from [24];
    char to [24];
    char reason [160];
} s_event_t;

typedef struct {
    const om_opts_t *opts;
    ordc_client_t *client;
    zsock_t *sub;
    int timeout_ms;
    ordc_reply_t stats, health, review;
    bool have_stats, have_health, have_review;
    uint64_t stats_tag;            //  0 when no round is out
    uint64_t health_tag;
    uint64_t review_tag;
    uint64_t last_tag;
    int64_t sent_at;               //  monotonic ms of the round out
    int64_t next_poll, next_review, next_draw;
    bool reachable;                //  the last round was answered
    bool timed_out;                //  a round has timed out since the last answer
    int64_t down_since;            //  wall ms it stopped answering
    ordc_handshake_t handshake;      //  with CURVE: what the last timed-out round saw
    int64_t last_answer;           //  wall ms of the last answer
    s_event_t events [S_EVENTS_KEPT];
    size_t event_next, event_count;
    uint64_t events_seen;
    bool colors;
    bool dirty, resized, quit;
} s_top_t;

//  ---------------------------------------------------------------------
//  Drawing helpers

//  Narrow curses shows bytes, not characters: keep the screen to ASCII.
static char *
s_ascii (char *text)
{
    for (unsigned char *at = (unsigned char *) text; *at; at++)
        if (*at < 0x20 || *at >= 0x7f)
            *at = '?';
    return text;
}

static int
s_attr (s_top_t *self, int pair)
{
    return self->colors? COLOR_PAIR (pair): 0;
}

static int
s_status_attr (s_top_t *self, const char *status)
{
    const char *color = om_status_color (status);
    if (!color)
        return 0;
    if (streq (color, OM_RED))
        return s_attr (self, S_PAIR_RED) | A_BOLD;
    if (streq (color, OM_YELLOW))
        return s_attr (self, S_PAIR_YELLOW);
    if (streq (color, OM_GREEN))
        return s_attr (self, S_PAIR_GREEN);
    if (streq (color, OM_CYAN))
        return s_attr (self, S_PAIR_CYAN);
    return A_DIM;
}

//  Writes at (row, col), at most `width` columns, clipped to the screen.
static void
s_put (int row, int col, int width, int attr, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

static void
s_put (int row, int col, int width, int attr, const char *format, ...)
{
    if (row < 0 || row >= LINES || col >= COLS || width <= 0)
        return;
    if (col + width > COLS)
        width = COLS - col;
    char text [512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    s_ascii (text);
    attron (attr);
    mvaddnstr (row, col, text, width);
    attroff (attr);
}

//  A whole line in one attribute, padded to the screen width.
static void
s_bar (int row, int attr, const char *text)
{
    if (row < 0 || row >= LINES)
        return;
    attron (attr);
    mvhline (row, 0, ' ', COLS);
    attroff (attr);
    s_put (row, 0, COLS, attr, "%s", text);
}

//  ---------------------------------------------------------------------
//  Sections

static void
s_draw_title (s_top_t *self)
{
    char status [32] = "connecting";
    int attr = A_REVERSE;
    if (self->reachable && self->have_health) {
        om_field_str (self->health.body, "status", "?", status, sizeof status);
        attr |= s_status_attr (self, status);
    }
    else
    if (self->timed_out) {
        snprintf (status, sizeof status, "UNREACHABLE");
        attr |= s_attr (self, S_PAIR_RED) | A_BOLD;
    }
    char uptime [32] = "-", clock [40];
    if (self->have_health && self->reachable)
        om_duration (om_field_int (self->health.body, "uptime_ms", 0), uptime, sizeof uptime);
    om_time (zclock_time (), false, clock, sizeof clock);
    char title [512];
    snprintf (title, sizeof title, " ordermon top  %s  orderd %s  up %s", self->opts->endpoint,
              status, uptime);
    s_bar (0, A_REVERSE, title);
    //  The status word again, in its colour, over the plain one
    int at = (int) (strlen (" ordermon top  ") + strlen (self->opts->endpoint) + strlen ("  orderd "));
    s_put (0, at, (int) strlen (status), attr, "%s", status);
    //  Then, room allowing, the clock and the one key to know
    char right [64];
    snprintf (right, sizeof right, "%s   q: quit ", clock);
    int right_col = COLS - (int) strlen (right);
    if (right_col <= (int) strlen (title) + 1) {
        snprintf (right, sizeof right, "q: quit ");
        right_col = COLS - (int) strlen (right);
    }
    if (right_col > (int) strlen (title) + 1)
        s_put (0, right_col, (int) strlen (right), A_REVERSE, "%s", right);
}

static void
s_draw_banner (s_top_t *self, int row)
{
    char text [512];
    char since [40], last [40];
    if (self->timed_out) {
        om_time (self->down_since, false, since, sizeof since);
        if (self->last_answer)
            om_time (self->last_answer, false, last, sizeof last);
        else
            snprintf (last, sizeof last, "never");
        const char *why = self->handshake == ORDC_HANDSHAKE_REFUSED? " (it refuses our CURVE key)"
                        : self->handshake == ORDC_HANDSHAKE_FAILED? " (the CURVE handshake fails)": "";
        snprintf (text, sizeof text, " orderd at %s is not answering%s (since %s, last answer %s);"
                  " retrying every second. Figures below are stale.",
                  self->opts->endpoint, why, since + 11, self->last_answer? last + 11: last);
        s_bar (row, s_attr (self, S_PAIR_BANNER) | A_BOLD | (self->colors? 0: A_REVERSE), text);
        return;
    }
    if (!self->have_stats) {
        snprintf (text, sizeof text, " connecting to %s ...", self->opts->endpoint);
        s_bar (row, A_DIM, text);
        return;
    }
    //  Store and adapters, from health
    const msgpack_object *checks = self->have_health? om_field_map (self->health.body, "checks"): NULL;
    int col = 1;
    for (uint32_t i = 0; checks && i < checks->via.map.size && col < COLS; i++) {
        const msgpack_object *check = &checks->via.map.ptr [i].val;
        char name [32], state [32], detail [96] = "";
        om_key (checks, i, name, sizeof name);
        om_field_str (check, "status", "?", state, sizeof state);
        if (ord_wire_find (check, "map_bytes")) {
            int64_t map = om_field_int (check, "map_bytes", 0);
            snprintf (detail, sizeof detail, " %.1f%% of map",
                      map? 100.0 * (double) om_field_int (check, "used_bytes", 0) / (double) map: 0);
        }
        else {
            //  The plugin when it is fine; why not, when it is not
            detail [0] = ' ';
            om_field_str (check, streq (state, "ok")? "name": "reason", "", detail + 1,
                          sizeof detail - 1);
        }
        s_put (row, col, COLS - col, A_BOLD, "%s ", name);
        col += (int) strlen (name) + 1;
        s_put (row, col, COLS - col, s_status_attr (self, state), "%s", state);
        col += (int) strlen (state);
        s_put (row, col, COLS - col, A_DIM, "%s   ", detail);
        col += (int) strlen (detail) + 3;
    }
}

//  Orders by status; returns the row after the section.
static int
s_draw_orders (s_top_t *self, int row, int col, int width, int stale)
{
    s_put (row++, col, width, A_BOLD | A_UNDERLINE, "ORDERS");
    const msgpack_object *counts = self->have_stats? om_field_map (self->stats.body, "counts"): NULL;
    for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++) {
        const char *name = ord_status_name ((ord_status_t) status);
        char count [32] = "-";
        if (counts)
            om_field_str (counts, name, "0", count, sizeof count);
        s_put (row, col, width, s_status_attr (self, name) | stale, "%-18s", name);
        s_put (row++, col + 18, width - 18, stale, "%7s", count);
    }
    if (self->have_stats) {
        int64_t review = om_field_int (self->stats.body, "needs_review", 0);
        s_put (row++, col, width, (review? s_attr (self, S_PAIR_RED) | A_BOLD: 0) | stale,
               "%-18s%7" PRId64, "needs review", review);
    }
    else
        s_put (row++, col, width, stale, "%-18s%7s", "needs review", "-");
    row++;
    const char *engine [][2] = {
        { "live actors", "live_actors" }, { "queue depth", "queue_depth" },
    };
    for (size_t i = 0; i < 2; i++) {
        char value [32] = "-";
        if (self->have_stats)
            om_field_str (self->stats.body, engine [i][1], "-", value, sizeof value);
        s_put (row++, col, width, stale, "%-18s%7s", engine [i][0], value);
    }
    return row;
}

//  Rates with sparklines, then latency per op; returns the row after.
static int
s_draw_rates (s_top_t *self, int row, int col, int width, int max_row, int stale)
{
    const msgpack_object *stats = self->have_stats? self->stats.body: NULL;
    s_put (row++, col, width, A_BOLD | A_UNDERLINE, "RATES per second (10 s / 60 s), last minute");
    const char *rates [][3] = {
        { "requests", "requests_per_s", "requests_history" },
        { "transitions", "transitions_per_s", "transitions_history" },
    };
    for (size_t i = 0; i < 2; i++) {
        const msgpack_object *rate = stats? om_field_map (stats, rates [i][1]): NULL;
        s_put (row, col, width, stale, "%-12s %8.1f / %-8.1f", rates [i][0],
               om_field_num (rate, "10s", 0), om_field_num (rate, "60s", 0));
        char spark [128];
        size_t spark_width = width > 2? (size_t) width - 2: 0;
        if (spark_width > 60)
            spark_width = 60;
        om_sparkline (stats? om_field_array (stats, rates [i][2]): NULL, spark_width,
                      spark, sizeof spark);
        s_put (row + 1, col + 1, width - 1, s_attr (self, S_PAIR_CYAN) | stale, "%s", spark);
        row += 2;
    }
    row++;
    //  A narrow column leaves p99.9 out rather than cut the table
    bool wide = width >= 56;
    s_put (row++, col, width, A_BOLD | A_UNDERLINE, "%-16s %6s %8s %8s %8s%s%s",
           "LATENCY", "count", "p50", "p90", "p99", wide? " ": "", wide? "   p99.9": "");
    const msgpack_object *latency = stats? om_field_map (stats, "latency_us"): NULL;
    uint32_t ops = latency? latency->via.map.size: 0;
    for (uint32_t i = 0; i < ops; i++) {
        if (row >= max_row) {
            s_put (row - 1, col, width, A_DIM, "  ... %u more ops: ordermon stats", ops - i + 1);
            break;
        }
        const msgpack_object *op = &latency->via.map.ptr [i].val;
        char name [32], p50 [16], p90 [16], p99 [16], p999 [16];
        om_key (latency, i, name, sizeof name);
        om_latency (om_field_int (op, "p99.9", 0), p999, sizeof p999);
        s_put (row++, col, width, stale, "%-16.16s %6" PRId64 " %8s %8s %8s%s%8s", name,
               om_field_int (op, "count", 0),
               om_latency (om_field_int (op, "p50", 0), p50, sizeof p50),
               om_latency (om_field_int (op, "p90", 0), p90, sizeof p90),
               om_latency (om_field_int (op, "p99", 0), p99, sizeof p99),
               wide? " ": "", wide? p999: "");
    }
    if (ops == 0)
        s_put (row++, col, width, A_DIM, "no requests answered yet");
    return row;
}

//  The orders needing review; returns the row after (unchanged if none).
static int
s_draw_review (s_top_t *self, int row, int max_rows)
{
    int64_t wanted = self->have_stats? om_field_int (self->stats.body, "needs_review", 0): 0;
    if (wanted <= 0 || max_rows < 2)
        return row;
    s_put (row++, 0, COLS, s_attr (self, S_PAIR_RED) | A_BOLD | A_UNDERLINE,
           "NEEDS REVIEW (%" PRId64 "): check `ordermon payment ID`, refund or `ordermon resolve ID NOTE`",
           wanted);
    const msgpack_object *orders = self->have_review? om_field_array (self->review.body, "orders"): NULL;
    int shown = 0;
    for (uint32_t i = 0; orders && i < orders->via.array.size; i++) {
        const msgpack_object *order = &orders->via.array.ptr [i];
        if (!om_field_bool (order, "needs_review"))
            continue;
        if (shown + 1 >= max_rows)
            break;
        char id [24], user [48], status [24], currency [8], total [48], updated [40];
        om_field_str (order, "currency", "", currency, sizeof currency);
        s_put (row++, 1, COLS - 1, 0, "%-17s  %-14s  %-10s %14s  updated %s",
               om_field_str (order, "id", "?", id, sizeof id),
               om_field_str (order, "user_id", "?", user, sizeof user),
               om_field_str (order, "status", "?", status, sizeof status),
               om_money (om_field_int (order, "total_amount", 0), currency, total, sizeof total),
               om_time (om_field_int (order, "updated_at", 0), false, updated, sizeof updated));
        shown++;
    }
    if (shown < wanted && shown + 1 < max_rows)
        s_put (row++, 1, COLS - 1, A_DIM, "%s%" PRId64 " more: ordermon list --status failed",
               shown? "+": "", wanted - shown);
    return row;
}

static void
s_draw_events (s_top_t *self, int row)
{
    if (row >= LINES)
        return;
    char title [160];
    snprintf (title, sizeof title, "LATEST TRANSITIONS (%" PRIu64 " seen on %s)",
              self->events_seen, self->opts->events);
    s_put (row++, 0, COLS, A_BOLD | A_UNDERLINE, "%s", title);
    int room = LINES - row;
    if (room <= 0)
        return;
    if (self->event_count == 0) {
        s_put (row, 1, COLS - 1, A_DIM, "waiting for transitions ...");
        return;
    }
    //  Newest at the bottom: the log scrolls up as events come
    size_t count = self->event_count < (size_t) room? self->event_count: (size_t) room;
    for (size_t i = 0; i < count; i++) {
        size_t index = (self->event_next + S_EVENTS_KEPT - count + i) % S_EVENTS_KEPT;
        s_event_t *event = &self->events [index];
        int r = row + (int) i;
        //  Narrow screens leave the user out to keep the states in view
        int col = 14;
        s_put (r, 1, COLS - 1, A_DIM, "%s", event->at);
        s_put (r, col, COLS - col, 0, "%-17s", event->id);
        col += 19;
        if (COLS >= 100) {
            s_put (r, col, COLS - col, 0, "%-12.12s", event->user);
            col += 14;
        }
        s_put (r, col, COLS - col, s_status_attr (self, event->from), "%s", event->from);
        s_put (r, col + 18, COLS - col - 18, 0, "->");
        s_put (r, col + 21, COLS - col - 21, s_status_attr (self, event->to), "%s", event->to);
        s_put (r, col + 39, COLS - col - 39, A_DIM, "%s", event->reason);
    }
}

static void
s_draw (s_top_t *self)
{
    if (self->resized) {
        //  Forget what curses thinks is on screen: repaint all of it
        clear ();
        self->resized = false;
    }
    else
        erase ();
    if (COLS < S_MIN_COLS || LINES < S_MIN_ROWS) {
        s_put (0, 0, COLS, A_BOLD, "ordermon top: the window is too small");
        s_put (1, 0, COLS, 0, "(%dx%d; need %dx%d)", COLS, LINES, S_MIN_COLS, S_MIN_ROWS);
        s_put (2, 0, COLS, 0, "q quits");
        refresh ();
        return;
    }
    int stale = self->timed_out? A_DIM: 0;
    s_draw_title (self);
    s_draw_banner (self, 1);
    int top = 3, bottom;
    if (COLS >= S_LEFT_WIDTH + 50) {
        //  Two columns: orders on the left, rates and latency on the right
        int left_end = s_draw_orders (self, top, 1, S_LEFT_WIDTH - 2, stale);
        int max_row = LINES - 6;
        if (max_row < left_end)
            max_row = left_end;
        int right_end = s_draw_rates (self, top, S_LEFT_WIDTH + 1, COLS - S_LEFT_WIDTH - 2,
                                      max_row, stale);
        bottom = left_end > right_end? left_end: right_end;
    }
    else {
        int left_end = s_draw_orders (self, top, 1, COLS - 2, stale);
        bottom = s_draw_rates (self, left_end + 1, 1, COLS - 2, LINES - 4, stale);
    }
    bottom++;
    bottom = s_draw_review (self, bottom, (LINES - bottom) / 2);
    if (bottom > top)
        bottom++;
    s_draw_events (self, bottom);
    refresh ();
}

//  ---------------------------------------------------------------------
//  Talking to orderd

static void
s_send_round (s_top_t *self, int64_t now)
{
    ordc_body_t body;
    ordc_body_init (&body);
    ordc_body_bool (&body, "detailed", true);
    self->stats_tag = ++self->last_tag;
    self->health_tag = ++self->last_tag;
    if (ordc_send (self->client, "stats", NULL, NULL, self->stats_tag)
    ||  ordc_send (self->client, "health", &body, NULL, self->health_tag))
        self->stats_tag = self->health_tag = 0;
    ordc_body_destroy (&body);
    self->sent_at = now;
    self->next_poll = now + S_POLL_MS;
    //  The review list, only while there is something to review
    if (self->have_stats && now >= self->next_review && !self->review_tag
    &&  om_field_int (self->stats.body, "needs_review", 0) > 0) {
        ordc_body_init (&body);
        ordc_body_int (&body, "limit", S_REVIEW_SCAN);
        self->review_tag = ++self->last_tag;
        if (ordc_send (self->client, "list", &body, NULL, self->review_tag))
            self->review_tag = 0;
        ordc_body_destroy (&body);
        self->next_review = now + S_REVIEW_POLL_MS;
    }
}

static void
s_on_timeout (s_top_t *self)
{
    if (!self->timed_out)
        self->down_since = zclock_time ();
    self->timed_out = true;
    self->reachable = false;
    self->handshake = ordc_client_handshake (self->client);
    self->stats_tag = self->health_tag = self->review_tag = 0;
    //  A fresh DEALER: nothing queued for the old connection lingers
    ordc_client_reset (self->client);
    self->dirty = true;
}

static void
s_on_replies (s_top_t *self)
{
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    while (true) {
        ordc_code_t rc = ordc_recv (self->client, &reply);
        if (rc == ORDC_AGAIN)
            break;
        if (rc)
            continue;              //  unreadable: dropped
        if (self->stats_tag && reply.tag == self->stats_tag) {
            self->stats_tag = 0;
            self->reachable = true;
            self->timed_out = false;
            self->last_answer = zclock_time ();
            if (reply.ok) {
                ordc_reply_move (&self->stats, &reply);
                self->have_stats = true;
            }
        }
        else
        if (self->health_tag && reply.tag == self->health_tag) {
            self->health_tag = 0;
            if (reply.ok) {
                ordc_reply_move (&self->health, &reply);
                self->have_health = true;
            }
        }
        else
        if (self->review_tag && reply.tag == self->review_tag) {
            self->review_tag = 0;
            if (reply.ok) {
                ordc_reply_move (&self->review, &reply);
                self->have_review = true;
            }
        }
        ordc_reply_reset (&reply);
        self->dirty = true;
    }
    ordc_reply_reset (&reply);
}

static void
s_on_events (s_top_t *self)
{
    while (zsock_events (self->sub) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->sub);
        if (!msg)
            break;
        zframe_t *topic = zmsg_pop (msg);
        zframe_t *body = zmsg_pop (msg);
        msgpack_unpacked event;
        msgpack_unpacked_init (&event);
        size_t offset = 0;
        if (body
        &&  msgpack_unpack_next (&event, (const char *) zframe_data (body), zframe_size (body),
                                 &offset) == MSGPACK_UNPACK_SUCCESS
        &&  event.data.type == MSGPACK_OBJECT_MAP) {
            s_event_t *entry = &self->events [self->event_next];
            const msgpack_object *map = &event.data;
            char at [40];
            om_time (om_field_int (map, "at", 0), true, at, sizeof at);
            snprintf (entry->at, sizeof entry->at, "%.15s", strlen (at) > 11? at + 11: at);
            om_field_str (map, "order_id", "?", entry->id, sizeof entry->id);
            om_field_str (map, "user_id", "?", entry->user, sizeof entry->user);
            om_field_str (map, "from", "-", entry->from, sizeof entry->from);
            om_field_str (map, "to", "?", entry->to, sizeof entry->to);
            om_field_str (map, "reason", "", entry->reason, sizeof entry->reason);
            self->event_next = (self->event_next + 1) % S_EVENTS_KEPT;
            if (self->event_count < S_EVENTS_KEPT)
                self->event_count++;
            self->events_seen++;
            self->dirty = true;
        }
        msgpack_unpacked_destroy (&event);
        zframe_destroy (&topic);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
}

static void
s_on_keys (s_top_t *self)
{
    int key;
    while ((key = getch ()) != ERR) {
        if (key == 'q' || key == 'Q')
            self->quit = true;
        else
        if (key == KEY_RESIZE) {
            self->resized = true;
            self->dirty = true;
        }
        else
        if (key == 'r' || key == 'R' || key == 12) {   //  12: Ctrl-L
            self->resized = true;
            self->dirty = true;
            self->next_poll = 0;
        }
    }
}

//  ---------------------------------------------------------------------

static void
s_curses_start (s_top_t *self)
{
    cbreak ();
    noecho ();
    nonl ();
    keypad (stdscr, TRUE);
    nodelay (stdscr, TRUE);
    curs_set (0);
    self->colors = has_colors () && !getenv ("NO_COLOR");
    if (self->colors && start_color () == OK) {
        use_default_colors ();
        init_pair (S_PAIR_GREEN, COLOR_GREEN, -1);
        init_pair (S_PAIR_YELLOW, COLOR_YELLOW, -1);
        init_pair (S_PAIR_RED, COLOR_RED, -1);
        init_pair (S_PAIR_CYAN, COLOR_CYAN, -1);
        init_pair (S_PAIR_BANNER, COLOR_WHITE, COLOR_RED);
    }
    else
        self->colors = false;
}

int
om_cmd_top (const om_opts_t *opts)
{
    if (!isatty (STDIN_FILENO) || !isatty (STDOUT_FILENO)) {
        fprintf (stderr, "ordermon: top needs a terminal; for scripts use stats --json\n");
        return OM_EXIT_USAGE;
    }
    s_top_t *self = (s_top_t *) zmalloc (sizeof (s_top_t));
    self->opts = opts;
    self->timeout_ms = opts->timeout_ms < S_TIMEOUT_MAX_MS? opts->timeout_ms: S_TIMEOUT_MAX_MS;
    ordc_reply_init (&self->stats);
    ordc_reply_init (&self->health);
    ordc_reply_init (&self->review);
    int rc = OM_EXIT_OK;
    //  Sockets first: czmq's SIGINT handler is then in place, and curses
    //  leaves a handler that is not the default alone
    self->client = ordc_client_new (opts->endpoint, opts->curve);
    if (!self->client) {
        fprintf (stderr, "ordermon: '%s' is not an endpoint ZeroMQ can connect to\n", opts->endpoint);
        rc = OM_EXIT_USAGE;
        goto done;
    }
    self->sub = zsock_new (ZMQ_SUB);
    if (self->sub) {
        zsock_set_linger (self->sub, 0);
        zsock_set_subscribe (self->sub, "order.");
    }
    if (!self->sub || zsock_connect (self->sub, "%s", opts->events) != 0) {
        fprintf (stderr, "ordermon: '%s' is not an endpoint ZeroMQ can connect to\n", opts->events);
        rc = OM_EXIT_USAGE;
        goto done;
    }
    SCREEN *screen = newterm (NULL, stdout, stdin);
    if (!screen) {
        fprintf (stderr, "ordermon: top: cannot drive this terminal (TERM=%s)\n",
                 getenv ("TERM")? getenv ("TERM"): "");
        rc = OM_EXIT_USAGE;
        goto done;
    }
    set_term (screen);
    s_curses_start (self);
    self->down_since = zclock_time ();
    self->dirty = true;
    while (!self->quit && !zsys_interrupted) {
        int64_t now = zclock_mono ();
        if (self->stats_tag && now - self->sent_at >= self->timeout_ms)
            s_on_timeout (self);
        if (!self->stats_tag && now >= self->next_poll)
            s_send_round (self, now);
        if (self->dirty || now >= self->next_draw) {
            s_draw (self);
            self->dirty = false;
            self->next_draw = now + 1000;
        }
        //  Sleep until the next thing due, at most a quarter second
        int64_t wait = self->next_draw - now;
        if (self->stats_tag && self->sent_at + self->timeout_ms - now < wait)
            wait = self->sent_at + self->timeout_ms - now;
        if (!self->stats_tag && self->next_poll - now < wait)
            wait = self->next_poll - now;
        wait = wait < 0? 0: wait > 250? 250: wait;
        zmq_pollitem_t items [3];
        int count = 0;
        void *handle = ordc_client_handle (self->client);
        if (handle)
            items [count++] = (zmq_pollitem_t) { handle, 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 };
        //  EINTR (a resize, a signal) is fine: everything is checked below
        zmq_poll (items, count, (long) wait);
        s_on_replies (self);
        s_on_events (self);
        s_on_keys (self);
    }
    endwin ();
    delscreen (screen);
done:
    ordc_reply_reset (&self->stats);
    ordc_reply_reset (&self->health);
    ordc_reply_reset (&self->review);
    zsock_destroy (&self->sub);
    ordc_client_destroy (&self->client);
    free (self);
    return rc;
}
