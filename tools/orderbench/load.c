/*  load: the client loops. Each worker thread owns a share of the clients
    (the C client library, pipelined: ordc_send and ordc_recv) and runs one
    epoll loop over their sockets; nothing in a loop blocks
    longer than 100 ms, and every request in flight has a deadline (10 s by
    default), after which it counts as error `timeout` and its order is
    abandoned (a late reply is recognised by its tag and dropped).

    An order is a slot: the request in flight (op, sequence number, intended
    send time) and what the lifecycle has learnt so far (order id, provider
    order id). A request's tag (the first frame, and the rid) is
    slot << 32 | sequence, so a reply finds its slot without a lookup table.

    Closed loop: every client keeps `pipeline` slots busy; a slot that
    finishes starts the next order at once. Open loop: orders start on a
    fixed schedule (a timerfd wakes the loop at each intended start, to the
    microsecond), in a fresh slot, round-robin over the clients; latency
    counts from the intended time, so a stalled daemon cannot hide behind a
    stalled generator. */
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "orderbench.h"

#define S_IDLE          (-1)
#define S_MAX_INFLIGHT  200000      /* open loop: orders in flight at most */
#define S_KNOWN_MAX     (4 << 20)   /* orders remembered per worker for reads */
#define S_PRELOAD_DEPTH 16          /* creates in flight per client while preloading */
#define S_TIMER_TAG     UINT32_MAX  /* epoll tag of the timerfd */

typedef enum { S_PHASE_PRELOAD, S_PHASE_RUN } s_phase_t;

typedef struct {
    uint32_t seq;               /* sequence of the request in flight */
    int8_t op;                  /* ob_op_t in flight, or S_IDLE */
    bool in_use;                /* open loop: taken from the free list */
    int16_t gets_left;
    int client;                 /* socket index within the worker */
    uint32_t user;
    int64_t intended;           /* intended send time of the request in flight */
    int64_t started;            /* intended start of the order */
    uint8_t order_len;
    uint8_t provider_len;
    char order_id [32];
    char provider [96];
    //  The order a get reads (a stored one, or this one)
    uint8_t target_len;
    uint32_t target_user;
    char target [32];
} s_slot_t;

typedef struct {
    uint32_t slot;
    uint32_t seq;
    int64_t deadline;
} s_pending_t;

typedef struct {
    char id [24];
    uint8_t len;
    uint32_t user;
} s_known_t;

typedef struct s_worker_t s_worker_t;

struct ob_load_t {
    const ob_options_t *options;
    int nworkers;
    s_worker_t *workers;
    //  Per phase
    s_phase_t phase;
    bool limited;                   /* a budget of orders to start */
    atomic_llong budget;
    int64_t end_us;                 /* no new orders from then on; 0: none */
    atomic_int finished;            /* workers done with the phase */
};

struct s_worker_t {
    ob_load_t *load;
    const ob_options_t *options;
    int index;
    int nclients;
    ordc_client_t **clients;        /* one socket each (the C client library) */
    int epoll_fd;                   /* every socket's ZMQ_FD, and the timer */
    int timer_fd;
    //  Sockets we sent on since we last read them: a send may have eaten
    //  the ZMQ_FD wake-up of a reply that is already queued
    bool *dirty;
    int *dirty_list;
    int ndirty;
    pthread_t thread;
    //  Slots
    s_slot_t *slots;
    uint32_t nslots;
    uint32_t *free_list;
    uint32_t nfree;
    uint64_t inflight;
    //  Deadlines, in send order (every request has the same timeout)
    s_pending_t *ring;
    size_t ring_cap, ring_head, ring_size;
    //  Orders a get may read
    s_known_t *known;
    size_t nknown, known_cap;
    //  Open loop
    double interval_us;
    double next_due;                /* us, CLOCK_MONOTONIC */
    int next_client;
    //  The request being built, the reply being read
    ordc_body_t body;
    ordc_reply_t reply;
    uint64_t rng;
    uint64_t cart_seq;
    //  Results
    ob_result_t *result;
    atomic_ullong orders, requests, errors, inflight_now;
    bool starting;                  /* still starting new orders */
};

static atomic_int s_interrupted;

void
ob_load_interrupt (void)
{
    atomic_fetch_add (&s_interrupted, 1);
}

bool
ob_load_interrupted (void)
{
    return atomic_load (&s_interrupted) != 0;
}

//  xorshift64*: quick and good enough to pick skus and users
static inline uint64_t
s_rand (s_worker_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint32_t
s_below (s_worker_t *self, uint32_t bound)
{
    return bound? (uint32_t) ((s_rand (self) >> 32) % bound): 0;
}

//  -------------------------------------------------------------------------
//  Bookkeeping

static void
s_error (s_worker_t *self, const char *code, size_t len)
{
    ob_errors_add (&self->result->errors, code, len, 1);
    atomic_fetch_add_explicit (&self->errors, 1, memory_order_relaxed);
}

static void
s_remember (s_worker_t *self, const char *id, size_t len, uint32_t user)
{
    if (len >= sizeof self->known [0].id)
        return;
    s_known_t *entry;
    if (self->nknown < self->known_cap)
        entry = &self->known [self->nknown++];
    else
    if (self->known_cap < S_KNOWN_MAX) {
        size_t cap = self->known_cap? self->known_cap * 2: 4096;
        s_known_t *known = (s_known_t *) realloc (self->known, cap * sizeof (s_known_t));
        if (!known)
            return;
        self->known = known;
        self->known_cap = cap;
        entry = &self->known [self->nknown++];
    }
    else
        entry = &self->known [s_below (self, (uint32_t) self->nknown)];
    memcpy (entry->id, id, len);
    entry->len = (uint8_t) len;
    entry->user = user;
}

static void
s_push_deadline (s_worker_t *self, uint32_t slot, uint32_t seq, int64_t deadline)
{
    if (self->ring_size == self->ring_cap) {
        size_t cap = self->ring_cap? self->ring_cap * 2: 1024;
        s_pending_t *ring = (s_pending_t *) malloc (cap * sizeof (s_pending_t));
        assert (ring);
        for (size_t i = 0; i < self->ring_size; i++)
            ring [i] = self->ring [(self->ring_head + i) % self->ring_cap];
        free (self->ring);
        self->ring = ring;
        self->ring_cap = cap;
        self->ring_head = 0;
    }
    self->ring [(self->ring_head + self->ring_size) % self->ring_cap] =
        (s_pending_t) { slot, seq, deadline };
    self->ring_size++;
}

//  Grows the slot arrays to at least `cap` slots; the new ones go on the
//  free list
static void
s_grow (s_worker_t *self, uint32_t cap)
{
    if (cap <= self->nslots)
        return;
    s_slot_t *slots = (s_slot_t *) realloc (self->slots, cap * sizeof (s_slot_t));
    uint32_t *free_list = (uint32_t *) realloc (self->free_list, cap * sizeof (uint32_t));
    assert (slots && free_list);
    self->slots = slots;
    self->free_list = free_list;
    memset (&self->slots [self->nslots], 0, (cap - self->nslots) * sizeof (s_slot_t));
    for (uint32_t i = cap; i > self->nslots; i--) {
        self->slots [i - 1].op = S_IDLE;
        self->free_list [self->nfree++] = i - 1;
    }
    self->nslots = cap;
}

//  Every slot free, lowest index on top; no deadlines pending
static void
s_reset_slots (s_worker_t *self)
{
    self->nfree = 0;
    for (uint32_t i = self->nslots; i > 0; i--) {
        self->slots [i - 1].op = S_IDLE;
        self->slots [i - 1].in_use = false;
        self->free_list [self->nfree++] = i - 1;
    }
    self->ring_head = 0;
    self->ring_size = 0;
}

static uint32_t
s_take_slot (s_worker_t *self)
{
    if (self->nfree == 0)
        s_grow (self, self->nslots? self->nslots * 2: 1024);
    uint32_t index = self->free_list [--self->nfree];
    self->slots [index].in_use = true;
    return index;
}

//  -------------------------------------------------------------------------
//  Requests

static void s_finish (s_worker_t *self, uint32_t index, int64_t now);

static void
s_body_user (s_worker_t *self, uint32_t user)
{
    char text [32];
    int len = snprintf (text, sizeof text, "bench-user-%05u", user);
    ordc_body_strn (&self->body, "user_id", text, (size_t) len);
}

static void
s_pack_key (msgpack_packer *pk, const char *key)
{
    ord_pack_cstr (pk, key);
}

static void
s_pack_sku (s_worker_t *self, const char *prefix, uint32_t sku)
{
    char text [40];
    int len = snprintf (text, sizeof text, "%s%05u", prefix, sku);
    msgpack_pack_str (&self->body.pk, (size_t) len);
    msgpack_pack_str_body (&self->body.pk, text, (size_t) len);
}

static void
s_pack_address (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 5);
    ord_pack_kv_cstr (pk, "name", "Ada Lovelace");
    ord_pack_kv_cstr (pk, "line1", "12 St James Sq");
    ord_pack_kv_cstr (pk, "city", "London");
    ord_pack_kv_cstr (pk, "postcode", "SW1Y 4JH");
    ord_pack_kv_cstr (pk, "country", "GB");
}

static void
s_pack_create (s_worker_t *self, s_slot_t *slot)
{
    ordc_body_t *body = &self->body;
    msgpack_packer *pk = &body->pk;
    const ob_options_t *options = self->options;
    int products = options->products;
    s_body_user (self, slot->user);
    char cart [48];
    snprintf (cart, sizeof cart, "cart-%d-%" PRIu64, self->index, ++self->cart_seq);
    ordc_body_str (body, "cart_id", cart);
    ordc_body_value (body, "cart_data");
    msgpack_pack_map (pk, 5);
    s_pack_key (pk, "products");
    msgpack_pack_array (pk, (size_t) products);
    //  Distinct skus while the pool allows: a random start, a random odd step
    uint32_t pool = (uint32_t) options->skus;
    uint32_t sku = s_below (self, pool);
    uint32_t step = pool > 1? 1 + 2 * s_below (self, pool / 2): 0;
    if (step && pool % 2 == 0 && step % 2 == 0)
        step++;
    int64_t subtotal = 0;
    for (int line = 0; line < products; line++) {
        //  Prices are whole units, so totals never end in 02 or 03 cents
        //  (the sandbox's decline and retry cards)
        int64_t quantity = 1 + s_below (self, 3);
        int64_t price = 100 * (1 + s_below (self, 50));
        subtotal += quantity * price;
        msgpack_pack_map (pk, 5);
        s_pack_key (pk, "product_id");
        s_pack_sku (self, "p-", sku);
        s_pack_key (pk, "sku");
        s_pack_sku (self, "bench-sku-", sku);
        s_pack_key (pk, "name");
        s_pack_sku (self, "Bench product ", sku);
        ord_pack_kv_int (pk, "quantity", quantity);
        ord_pack_kv_int (pk, "unit_price", price);
        sku = pool? (sku + step) % pool: 0;
    }
    s_pack_key (pk, "shipping_address");
    s_pack_address (pk);
    s_pack_key (pk, "billing_address");
    s_pack_address (pk);
    ord_pack_kv_cstr (pk, "delivery_mode", "standard");
    s_pack_key (pk, "costs");
    msgpack_pack_map (pk, 5);
    ord_pack_kv_int (pk, "subtotal", subtotal);
    ord_pack_kv_int (pk, "shipping", 500);
    ord_pack_kv_int (pk, "tax", 0);
    ord_pack_kv_int (pk, "discount", 0);
    ord_pack_kv_int (pk, "total", subtotal + 500);
    ordc_body_value (body, "user_data");
    msgpack_pack_map (pk, 2);
    char email [48];
    snprintf (email, sizeof email, "bench-user-%05u@example.com", slot->user);
    ord_pack_kv_cstr (pk, "email", email);
    ord_pack_kv_cstr (pk, "name", "Bench User");
    ordc_body_str (body, "currency", "USD");
}

//  Sends `op` for slot `index`; the latency of the reply counts from
//  `intended`. Returns 0, or -1 when the socket refused (the order is then
//  finished with error `send`).
static int
s_send (s_worker_t *self, uint32_t index, ob_op_t op, int64_t intended, int64_t now)
{
    s_slot_t *slot = &self->slots [index];
    slot->seq++;
    slot->op = (int8_t) op;
    slot->intended = intended;
    ordc_body_t *body = &self->body;
    ordc_body_reset (body);
    //  The reply comes back with this tag: the slot finds itself at once
    uint64_t tag = (uint64_t) index << 32 | slot->seq;
    bool idem = self->options->idem && op != OB_OP_GET;
    char key [48];
    ordc_options_t keyed = { .idem = key };
    if (idem)
        snprintf (key, sizeof key, "k%d-%x.%x-%d", self->index, index, slot->seq, (int) op);
    if (op == OB_OP_CREATE)
        s_pack_create (self, slot);
    else
    if (op == OB_OP_GET) {
        ordc_body_strn (body, "order_id", slot->target, slot->target_len);
        s_body_user (self, slot->target_user);
    }
    else {
        ordc_body_strn (body, "order_id", slot->order_id, slot->order_len);
        s_body_user (self, slot->user);
        if (op == OB_OP_CONFIRM)
            ordc_body_strn (body, "provider_order_id", slot->provider, slot->provider_len);
    }
    if (ordc_send (self->clients [slot->client], ob_op_name (op), body, idem? &keyed: NULL,
                   tag) != ORDC_OK) {
        //  Abandoned without a restart here (no recursion into s_send): a
        //  closed-loop slot stays idle for the rest of the phase
        (void) now;
        slot->op = S_IDLE;
        self->inflight--;
        if (slot->in_use && self->options->rate > 0 && self->load->phase == S_PHASE_RUN) {
            slot->in_use = false;
            self->free_list [self->nfree++] = index;
        }
        s_error (self, "send", 4);
        return -1;
    }
    self->result->sent++;
    if (!self->dirty [slot->client]) {
        self->dirty [slot->client] = true;
        self->dirty_list [self->ndirty++] = slot->client;
    }
    s_push_deadline (self, index, slot->seq, now + (int64_t) self->options->timeout_ms * 1000);
    return 0;
}

static void
s_pick_target (s_worker_t *self, s_slot_t *slot)
{
    if (self->nknown) {
        s_known_t *known = &self->known [s_below (self, (uint32_t) self->nknown)];
        memcpy (slot->target, known->id, known->len);
        slot->target_len = known->len;
        slot->target_user = known->user;
    }
    else {
        memcpy (slot->target, slot->order_id, slot->order_len);
        slot->target_len = slot->order_len;
        slot->target_user = slot->user;
    }
}

//  May a new order start now? Takes one from the budget.
static bool
s_may_start (s_worker_t *self, int64_t now)
{
    ob_load_t *load = self->load;
    if (!self->starting)
        return false;
    if (ob_load_interrupted () || (load->end_us && now >= load->end_us)) {
        self->starting = false;
        return false;
    }
    if (load->limited && atomic_fetch_sub (&load->budget, 1) <= 0) {
        self->starting = false;
        return false;
    }
    return true;
}

static void
s_start (s_worker_t *self, uint32_t index, int64_t intended, int64_t now)
{
    s_slot_t *slot = &self->slots [index];
    const ob_options_t *options = self->options;
    slot->started = intended;
    slot->user = s_below (self, (uint32_t) options->users);
    slot->order_len = 0;
    slot->provider_len = 0;
    self->inflight++;
    if (self->load->phase == S_PHASE_RUN && options->get_only) {
        slot->gets_left = 1;
        s_pick_target (self, slot);
        s_send (self, index, OB_OP_GET, intended, now);
        return;
    }
    slot->gets_left = 0;
    if (self->load->phase == S_PHASE_RUN && options->get_pct > 0) {
        int gets = options->get_pct / 100;
        if ((int) s_below (self, 100) < options->get_pct % 100)
            gets++;
        slot->gets_left = (int16_t) gets;
    }
    s_send (self, index, OB_OP_CREATE, intended, now);
}

//  The order of slot `index` is over (done or abandoned): the slot starts
//  the next one (closed loop) or goes back to the free list (open loop).
static void
s_finish (s_worker_t *self, uint32_t index, int64_t now)
{
    s_slot_t *slot = &self->slots [index];
    slot->op = S_IDLE;
    self->inflight--;
    if (self->options->rate > 0 && self->load->phase == S_PHASE_RUN) {
        slot->in_use = false;
        self->free_list [self->nfree++] = index;
        return;
    }
    if (s_may_start (self, now))
        s_start (self, index, now, now);
}

//  -------------------------------------------------------------------------
//  Replies

static ord_str_t
s_path_str (const msgpack_object *map, const char *a, const char *b)
{
    const msgpack_object *inner = ord_wire_find (map, a);
    return ord_str_of (b? ord_wire_find (inner, b): inner);
}

static void
s_on_reply (s_worker_t *self, const ordc_reply_t *reply, int64_t now)
{
    uint64_t index = reply->tag >> 32;
    if (index >= self->nslots)
        return;                 /* not ours to judge: no slot to charge it to */
    s_slot_t *slot = &self->slots [index];
    if (slot->op == S_IDLE || slot->seq != (uint32_t) reply->tag)
        return;                 /* the late reply of a request that timed out */
    ob_op_t op = (ob_op_t) slot->op;
    slot->op = S_IDLE;
    self->result->requests++;
    atomic_fetch_add_explicit (&self->requests, 1, memory_order_relaxed);
    if (!reply->ok) {
        s_error (self, reply->code_text, strlen (reply->code_text));
        s_finish (self, (uint32_t) index, now);
        return;
    }
    bool preload = self->load->phase == S_PHASE_PRELOAD;
    if (!preload)
        ob_hist_record (&self->result->hist [op], now - slot->intended);
    const msgpack_object *order = ord_wire_find (reply->body, "order");
    switch (op) {
        case OB_OP_CREATE: {
            ord_str_t id = ord_str_of (ord_wire_find (order, "id"));
            if (!id.ptr || id.len >= sizeof slot->order_id) {
                s_error (self, "unexpected", 10);
                break;
            }
            memcpy (slot->order_id, id.ptr, id.len);
            slot->order_len = (uint8_t) id.len;
            if (preload) {
                s_remember (self, slot->order_id, slot->order_len, slot->user);
                self->result->orders++;
                atomic_fetch_add_explicit (&self->orders, 1, memory_order_relaxed);
                break;
            }
            s_send (self, (uint32_t) index, OB_OP_INITIATE, now, now);
            return;
        }
        case OB_OP_INITIATE: {
            ord_str_t provider = s_path_str (order, "payment", "provider_order_id");
            if (!provider.ptr || provider.len >= sizeof slot->provider) {
                s_error (self, "unexpected", 10);
                break;
            }
            memcpy (slot->provider, provider.ptr, provider.len);
            slot->provider_len = (uint8_t) provider.len;
            s_send (self, (uint32_t) index, OB_OP_CONFIRM, now, now);
            return;
        }
        case OB_OP_CONFIRM: {
            ord_str_t status = ord_str_of (ord_wire_find (order, "status"));
            if (!status.ptr || !ord_str_eq (status, "confirmed")) {
                s_error (self, "unexpected", 10);
                break;
            }
            ob_hist_record (&self->result->hist [OB_OP_ORDER], now - slot->started);
            self->result->orders++;
            atomic_fetch_add_explicit (&self->orders, 1, memory_order_relaxed);
            s_remember (self, slot->order_id, slot->order_len, slot->user);
            if (slot->gets_left > 0) {
                s_pick_target (self, slot);
                s_send (self, (uint32_t) index, OB_OP_GET, now, now);
                return;
            }
            break;
        }
        case OB_OP_GET: {
            ord_str_t id = ord_str_of (ord_wire_find (order, "id"));
            if (!id.ptr || id.len != slot->target_len
            ||  memcmp (id.ptr, slot->target, id.len) != 0) {
                s_error (self, "unexpected", 10);
                break;
            }
            if (--slot->gets_left > 0) {
                s_pick_target (self, slot);
                s_send (self, (uint32_t) index, OB_OP_GET, now, now);
                return;
            }
            break;
        }
        default:
            break;
    }
    s_finish (self, (uint32_t) index, now);
}

//  Requests past their deadline: error `timeout`, the order abandoned.
static void
s_expire (s_worker_t *self, int64_t now)
{
    while (self->ring_size) {
        s_pending_t *head = &self->ring [self->ring_head];
        s_slot_t *slot = &self->slots [head->slot];
        bool waiting = slot->op != S_IDLE && slot->seq == head->seq;
        if (waiting && head->deadline > now)
            break;
        uint32_t index = head->slot;
        self->ring_head = (self->ring_head + 1) % self->ring_cap;
        self->ring_size--;
        if (waiting) {
            slot->op = S_IDLE;
            slot->seq++;
            s_error (self, "timeout", 7);
            s_finish (self, index, now);
        }
    }
}

static void
s_arm_timer (s_worker_t *self)
{
    struct itimerspec spec;
    memset (&spec, 0, sizeof spec);
    int64_t due = (int64_t) self->next_due;
    if (due <= 0)
        due = 1;
    spec.it_value.tv_sec = due / 1000000;
    spec.it_value.tv_nsec = (due % 1000000) * 1000;
    timerfd_settime (self->timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

//  Open loop: starts every order whose time has come
static void
s_start_due (s_worker_t *self, int64_t now)
{
    while (self->starting && self->next_due <= (double) now) {
        int64_t due = (int64_t) self->next_due;
        self->next_due += self->interval_us;
        if (!s_may_start (self, now))
            break;
        if ((uint64_t) (now - due) > self->result->late_max_us)
            self->result->late_max_us = (uint64_t) (now - due);
        if (self->inflight >= S_MAX_INFLIGHT) {
            s_error (self, "backlog", 7);
            continue;
        }
        uint32_t index = s_take_slot (self);
        self->slots [index].client = self->next_client;
        self->next_client = (self->next_client + 1) % self->nclients;
        s_start (self, index, due, now);
    }
    if (self->starting)
        s_arm_timer (self);
}

//  Reads every reply queued on one client's socket
static void
s_drain (s_worker_t *self, int client, int64_t now)
{
    ordc_code_t rc;
    while ((rc = ordc_recv (self->clients [client], &self->reply)) != ORDC_AGAIN)
        if (rc == ORDC_OK)
            s_on_reply (self, &self->reply, now);
}

static void *
s_worker_run (void *arg)
{
    s_worker_t *self = (s_worker_t *) arg;
    ob_load_t *load = self->load;
    const ob_options_t *options = self->options;
    bool open_loop = load->phase == S_PHASE_RUN && options->rate > 0;
    int64_t now = ob_now_us ();
    self->starting = true;
    self->inflight = 0;
    self->ndirty = 0;
    memset (self->dirty, 0, (size_t) self->nclients * sizeof (bool));
    if (open_loop) {
        s_reset_slots (self);
        self->interval_us = 1e6 / (options->rate / load->nworkers);
        //  Stagger the workers' schedules
        self->next_due = (double) now + self->interval_us * self->index / load->nworkers;
        s_start_due (self, now);
    }
    else {
        int depth = load->phase == S_PHASE_PRELOAD? S_PRELOAD_DEPTH: options->pipeline;
        //  Closed loop: client c owns slots [c * depth, (c + 1) * depth)
        uint32_t need = (uint32_t) (self->nclients * depth);
        s_grow (self, need);
        s_reset_slots (self);
        for (uint32_t i = 0; i < need; i++) {
            uint32_t index = s_take_slot (self);
            self->slots [index].client = (int) (index / (uint32_t) depth);
        }
        for (uint32_t i = 0; i < need && s_may_start (self, now); i++)
            s_start (self, i, now, now);
    }
    struct epoll_event events [64];
    while (self->starting || self->inflight > 0) {
        //  Read what our own sends may have hidden, then wait for more
        while (self->ndirty) {
            int client = self->dirty_list [--self->ndirty];
            self->dirty [client] = false;
            s_drain (self, client, now);
        }
        int count = epoll_wait (self->epoll_fd, events, 64, 100);
        now = ob_now_us ();
        if (count < 0 && errno != EINTR)
            break;
        bool timer = false;
        for (int i = 0; i < count; i++) {
            if (events [i].data.u32 == S_TIMER_TAG)
                timer = true;
            else
                s_drain (self, (int) events [i].data.u32, now);
        }
        if (open_loop) {
            uint64_t expirations;
            if (timer && read (self->timer_fd, &expirations, sizeof expirations) < 0)
                expirations = 0;
            s_start_due (self, now);
        }
        s_expire (self, now);
        atomic_store_explicit (&self->inflight_now, self->inflight, memory_order_relaxed);
        //  Closed loop: at the end of the run, stop starting (slots drain)
        if (!open_loop && self->starting
        &&  (ob_load_interrupted () || (load->end_us && now >= load->end_us)))
            self->starting = false;
        if (!self->starting && ob_load_interrupted () && self->inflight > 0
        &&  atomic_load (&s_interrupted) > 1)
            break;              /* second ^C: leave the rest in flight */
    }
    self->starting = false;
    atomic_store (&self->inflight_now, 0);
    atomic_fetch_add (&load->finished, 1);
    return NULL;
}

//  -------------------------------------------------------------------------

ob_load_t *
ob_load_new (const ob_options_t *options)
{
    ob_load_t *self = (ob_load_t *) zmalloc (sizeof (ob_load_t));
    self->options = options;
    self->nworkers = options->threads < options->clients? options->threads: options->clients;
    if (self->nworkers < 1)
        self->nworkers = 1;
    self->workers = (s_worker_t *) zmalloc ((size_t) self->nworkers * sizeof (s_worker_t));
    for (int w = 0; w < self->nworkers; w++) {
        s_worker_t *worker = &self->workers [w];
        worker->load = self;
        worker->options = options;
        worker->index = w;
        int first = options->clients * w / self->nworkers;
        int last = options->clients * (w + 1) / self->nworkers;
        worker->nclients = last - first;
        worker->clients = (ordc_client_t **) zmalloc ((size_t) worker->nclients
                                                      * sizeof (ordc_client_t *));
        worker->dirty = (bool *) zmalloc ((size_t) worker->nclients * sizeof (bool));
        worker->dirty_list = (int *) zmalloc ((size_t) worker->nclients * sizeof (int));
        worker->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        worker->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
        struct epoll_event event = { .events = EPOLLIN, .data.u32 = S_TIMER_TAG };
        if (worker->timer_fd < 0 || worker->epoll_fd < 0
        ||  epoll_ctl (worker->epoll_fd, EPOLL_CTL_ADD, worker->timer_fd, &event)) {
            fprintf (stderr, "orderbench: timerfd/epoll: %s\n", strerror (errno));
            ob_load_destroy (&self);
            return NULL;
        }
        worker->rng = (options->seed + 0x9E3779B97F4A7C15ULL * (uint64_t) (w + 1)) | 1;
        ordc_body_init (&worker->body);
        ordc_reply_init (&worker->reply);
        worker->result = (ob_result_t *) zmalloc (sizeof (ob_result_t));
        for (int c = 0; c < worker->nclients; c++) {
            ordc_client_t *client = ordc_client_new (options->service, NULL);
            if (!client) {
                fprintf (stderr, "orderbench: cannot open client %d on %s: %s (raise the "
                         "open-files limit?)\n", first + c, options->service,
                         zmq_strerror (zmq_errno ()));
                ob_load_destroy (&self);
                return NULL;
            }
            worker->clients [c] = client;
            //  Bounded by S_MAX_INFLIGHT instead; applies from the reconnection
            ordc_client_set_sndhwm (client, 0);
            if (ordc_client_reset (client) != ORDC_OK) {
                fprintf (stderr, "orderbench: cannot connect to %s\n", options->service);
                ob_load_destroy (&self);
                return NULL;
            }
            //  ZMQ_FD wakes us when the socket has news; we then read it
            //  until EAGAIN (see s_drain and the dirty list)
            int fd = ordc_client_fd (client);
            struct epoll_event wake = { .events = EPOLLIN, .data.u32 = (uint32_t) c };
            if (epoll_ctl (worker->epoll_fd, EPOLL_CTL_ADD, fd, &wake)) {
                fprintf (stderr, "orderbench: epoll: %s\n", strerror (errno));
                ob_load_destroy (&self);
                return NULL;
            }
        }
    }
    return self;
}

void
ob_load_destroy (ob_load_t **self_p)
{
    ob_load_t *self = *self_p;
    if (!self)
        return;
    for (int w = 0; w < self->nworkers; w++) {
        s_worker_t *worker = &self->workers [w];
        for (int c = 0; c < worker->nclients; c++)
            ordc_client_destroy (&worker->clients [c]);
        free (worker->clients);
        free (worker->dirty);
        free (worker->dirty_list);
        if (worker->timer_fd > 0)
            close (worker->timer_fd);
        if (worker->epoll_fd > 0)
            close (worker->epoll_fd);
        free (worker->slots);
        free (worker->free_list);
        free (worker->ring);
        free (worker->known);
        free (worker->result);
        ordc_body_destroy (&worker->body);
        ordc_reply_reset (&worker->reply);
    }
    free (self->workers);
    free (self);
    *self_p = NULL;
}

static void
s_progress (ob_load_t *self, const char *what, int64_t start, int64_t now,
            uint64_t *last_orders, uint64_t *last_requests, int64_t *last_at)
{
    uint64_t orders = 0, requests = 0, errors = 0, inflight = 0;
    for (int w = 0; w < self->nworkers; w++) {
        s_worker_t *worker = &self->workers [w];
        orders += atomic_load_explicit (&worker->orders, memory_order_relaxed);
        requests += atomic_load_explicit (&worker->requests, memory_order_relaxed);
        errors += atomic_load_explicit (&worker->errors, memory_order_relaxed);
        inflight += atomic_load_explicit (&worker->inflight_now, memory_order_relaxed);
    }
    double total = (double) (now - start) / 1e6;
    double interval = (double) (now - *last_at) / 1e6;
    if (interval <= 0)
        interval = 1;
    fprintf (stderr, "%s %5.1fs: orders %" PRIu64 " (%.0f/s, last %.0f/s)  requests %.0f/s"
             "  errors %" PRIu64 "  in flight %" PRIu64 "\n",
             what, total, orders, total > 0? (double) orders / total: 0,
             (double) (orders - *last_orders) / interval,
             (double) (requests - *last_requests) / interval, errors, inflight);
    *last_orders = orders;
    *last_requests = requests;
    *last_at = now;
}

static int
s_run_phase (ob_load_t *self, s_phase_t phase, int64_t budget, double duration,
             ob_result_t *result)
{
    const ob_options_t *options = self->options;
    self->phase = phase;
    self->limited = budget > 0;
    atomic_store (&self->budget, budget);
    atomic_store (&self->finished, 0);
    double cpu_start = ob_self_cpu ();
    int64_t start = ob_now_us ();
    self->end_us = duration > 0? start + (int64_t) (duration * 1e6): 0;
    for (int w = 0; w < self->nworkers; w++) {
        s_worker_t *worker = &self->workers [w];
        memset (worker->result, 0, sizeof (ob_result_t));
        atomic_store (&worker->orders, 0);
        atomic_store (&worker->requests, 0);
        atomic_store (&worker->errors, 0);
        atomic_store (&worker->inflight_now, 0);
        if (pthread_create (&worker->thread, NULL, s_worker_run, worker)) {
            fprintf (stderr, "orderbench: cannot start a thread\n");
            ob_load_interrupt ();
            for (int j = 0; j < w; j++)
                pthread_join (self->workers [j].thread, NULL);
            return -1;
        }
    }
    const char *what = phase == S_PHASE_PRELOAD? "preload": "run";
    uint64_t last_orders = 0, last_requests = 0;
    int64_t last_at = start;
    int64_t next_tick = start + 1000000;
    while (atomic_load (&self->finished) < self->nworkers) {
        zclock_sleep (20);
        int64_t now = ob_now_us ();
        if (now >= next_tick) {
            if (!options->quiet)
                s_progress (self, what, start, now, &last_orders, &last_requests, &last_at);
            next_tick += 1000000;
            if (next_tick <= now)
                next_tick = now + 1000000;
        }
    }
    int64_t end = ob_now_us ();
    memset (result, 0, sizeof *result);
    for (int w = 0; w < self->nworkers; w++) {
        s_worker_t *worker = &self->workers [w];
        pthread_join (worker->thread, NULL);
        ob_result_t *part = worker->result;
        result->orders += part->orders;
        result->requests += part->requests;
        result->sent += part->sent;
        if (part->late_max_us > result->late_max_us)
            result->late_max_us = part->late_max_us;
        for (int op = 0; op < OB_OP_COUNT; op++)
            ob_hist_merge (&result->hist [op], &part->hist [op]);
        ob_errors_merge (&result->errors, &part->errors);
    }
    result->seconds = (double) (end - start) / 1e6;
    result->cpu_seconds = ob_self_cpu () - cpu_start;
    return 0;
}

int
ob_load_preload (ob_load_t *self, int64_t count, ob_result_t *result)
{
    return s_run_phase (self, S_PHASE_PRELOAD, count, 0, result);
}

int
ob_load_run (ob_load_t *self, ob_result_t *result)
{
    const ob_options_t *options = self->options;
    return s_run_phase (self, S_PHASE_RUN, options->orders, options->duration, result);
}
