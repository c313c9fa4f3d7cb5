/*  pool: the order actors, bound to orders, passivated when idle. */
#include "pool.h"

#define S_MAX_PER_ORDER   64       //  requests queued on one order's actor
#define S_SPARE_ACTORS    64       //  unbound actors kept for reuse

typedef struct {
    zactor_t *actor;
    char key [ORD_ORDER_ID_SIZE];  //  the order it serves; "" when spare
    size_t inflight;
    void *idle_handle;             //  its place in the idle list
    int64_t idle_since_mono_ms;
    bool fresh;                    //  bound since its last request
} s_slot_t;

struct _ord_pool_t {
    ord_engine_t *engine;
    ord_config_t *config;
    ord_pool_refuse_fn *refuse;
    void *refuse_arg;
    zhashx_t *bound;               //  key -> s_slot_t
    zlistx_t *idle;                //  bound idle slots, least recently used first
    zlistx_t *spare;               //  unbound slots
    size_t live;
    zlistx_t *waiting;             //  requests waiting for an actor
    size_t inflight;
};

ord_pool_t *
ord_pool_new (ord_engine_t *engine, ord_pool_refuse_fn *refuse, void *arg)
{
    ord_pool_t *self = (ord_pool_t *) zmalloc (sizeof (ord_pool_t));
    self->engine = engine;
    self->config = engine->config;
    self->refuse = refuse;
    self->refuse_arg = arg;
    self->bound = zhashx_new ();
    self->idle = zlistx_new ();
    self->spare = zlistx_new ();
    self->waiting = zlistx_new ();
    return self;
}

static void
s_slot_destroy (s_slot_t **slot_p)
{
    s_slot_t *slot = *slot_p;
    zactor_destroy (&slot->actor);
    free (slot);
    *slot_p = NULL;
}

void
ord_pool_destroy (ord_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_pool_t *self = *self_p;
    //  Actors first: they may still hold requests
    s_slot_t *slot;
    zlistx_t *slots = zhashx_values (self->bound);
    while (slots && (slot = (s_slot_t *) zlistx_detach (slots, NULL)))
        s_slot_destroy (&slot);
    zlistx_destroy (&slots);
    while ((slot = (s_slot_t *) zlistx_detach (self->spare, NULL)))
        s_slot_destroy (&slot);
    ord_request_t *request;
    while ((request = (ord_request_t *) zlistx_detach (self->waiting, NULL)))
        ord_request_destroy (&request);
    zhashx_destroy (&self->bound);
    zlistx_destroy (&self->idle);
    zlistx_destroy (&self->spare);
    zlistx_destroy (&self->waiting);
    free (self);
    *self_p = NULL;
}

static void
s_unbind (ord_pool_t *self, s_slot_t *slot)
{
    if (slot->idle_handle) {
        zlistx_delete (self->idle, slot->idle_handle);
        slot->idle_handle = NULL;
    }
    zhashx_delete (self->bound, slot->key);
    slot->key [0] = 0;
}

//  An actor for a new binding: a spare one, else the least recently used
//  idle one (its order passivates: it is read from the store again on its
//  next request), else a new one. Reusing before creating keeps the number
//  of threads near the number of orders actually in flight. NULL when
//  every actor is busy.
static s_slot_t *
s_acquire (ord_pool_t *self)
{
    s_slot_t *slot = (s_slot_t *) zlistx_detach (self->spare, NULL);
    if (slot)
        return slot;
    slot = (s_slot_t *) zlistx_first (self->idle);
    if (slot) {
        s_unbind (self, slot);
        return slot;
    }
    if (self->live < (size_t) self->config->max_live_actors) {
        slot = (s_slot_t *) zmalloc (sizeof (s_slot_t));
        slot->actor = zactor_new (ord_actor, self->engine);
        if (!slot->actor) {
            free (slot);
            return NULL;
        }
        self->live++;
        return slot;
    }
    return NULL;
}

//  Hands a request to the actor of its order. Returns false when no actor
//  can take it now (the caller queues it).
static bool
s_dispatch (ord_pool_t *self, ord_request_t *request)
{
    const char *key = request->order_id;
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, key);
    if (!slot) {
        slot = s_acquire (self);
        if (!slot)
            return false;
        snprintf (slot->key, sizeof slot->key, "%s", key);
        slot->fresh = true;
        zhashx_insert (self->bound, slot->key, slot);
    }
    else
    if (slot->inflight >= S_MAX_PER_ORDER) {
        self->refuse (self->refuse_arg, request, ORD_EBUSY,
                      "too many requests queued for this order");
        return true;
    }
    if (slot->idle_handle) {
        zlistx_delete (self->idle, slot->idle_handle);
        slot->idle_handle = NULL;
    }
    request->fresh = slot->fresh;
    slot->fresh = false;
    slot->inflight++;
    self->inflight++;
    if (zsock_send (slot->actor, "sp", "REQ", request)) {
        slot->inflight--;
        self->inflight--;
        if (slot->inflight == 0) {
            //  An actor that cannot be reached serves nobody: it stops
            //  instead of staying bound, and busy, for ever
            s_unbind (self, slot);
            s_slot_destroy (&slot);
            self->live--;
        }
        self->refuse (self->refuse_arg, request, ORD_EINTERNAL, "cannot reach the order actor");
    }
    return true;
}

void
ord_pool_dispatch (ord_pool_t *self, ord_request_t *request, const char *key)
{
    //  The key goes with the request, so that a request that waits is
    //  still bound to its own order's actor when its turn comes
    if (key != request->order_id)
        snprintf (request->order_id, sizeof request->order_id, "%s", key);
    if (s_dispatch (self, request))
        return;
    if (zlistx_size (self->waiting) >= (size_t) self->config->max_queue) {
        self->refuse (self->refuse_arg, request, ORD_EBUSY,
                      "every order actor is busy and the queue is full");
        return;
    }
    zlistx_add_end (self->waiting, request);
}

void
ord_pool_dispatch_each (ord_pool_t *self, zlist_t *ids, ord_op_t op)
{
    for (const char *id = (const char *) zlist_first (ids); id;
         id = (const char *) zlist_next (ids))
        if (!ord_pool_busy (self, id)) {
            ord_request_t *request = ord_request_new (ORD_DOOR_INTERNAL);
            request->op = op;
            ord_pool_dispatch (self, request, id);
        }
}

void
ord_pool_replied (ord_pool_t *self, const ord_request_t *request)
{
    //  An actor stays bound to its order while it holds requests of it
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, request->order_id);
    ord_assert (slot && slot->inflight > 0 && self->inflight > 0);
    if (--slot->inflight == 0) {
        slot->idle_since_mono_ms = zclock_mono ();
        slot->idle_handle = zlistx_add_end (self->idle, slot);
    }
    self->inflight--;
}

void
ord_pool_drain (ord_pool_t *self)
{
    ord_request_t *request;
    while ((request = (ord_request_t *) zlistx_first (self->waiting))) {
        if (!s_dispatch (self, request))
            break;
        zlistx_detach (self->waiting, NULL);
    }
}

void
ord_pool_refuse_waiting (ord_pool_t *self, int rc, const char *message)
{
    ord_request_t *request;
    while ((request = (ord_request_t *) zlistx_detach (self->waiting, NULL))) {
        if (request->door == ORD_DOOR_INTERNAL)
            ord_request_destroy (&request);
        else
            self->refuse (self->refuse_arg, request, rc, message);
    }
}

size_t
ord_pool_passivate (ord_pool_t *self, int64_t now_mono_ms, size_t max_stops)
{
    s_slot_t *slot;
    size_t stopped = 0;
    while ((slot = (s_slot_t *) zlistx_first (self->idle))
       &&  now_mono_ms - slot->idle_since_mono_ms >= self->config->actor_idle_ms
       &&  stopped < max_stops) {
        s_unbind (self, slot);
        if (zlistx_size (self->spare) < S_SPARE_ACTORS)
            zlistx_add_end (self->spare, slot);
        else {
            s_slot_destroy (&slot);
            ord_assert (self->live > 0);
            self->live--;
            stopped++;
        }
    }
    return stopped;
}

bool
ord_pool_busy (ord_pool_t *self, const char *id)
{
    s_slot_t *slot = (s_slot_t *) zhashx_lookup (self->bound, id);
    return slot && slot->inflight > 0;
}

size_t
ord_pool_live (ord_pool_t *self)
{
    return self->live;
}

size_t
ord_pool_inflight (ord_pool_t *self)
{
    return self->inflight;
}

size_t
ord_pool_waiting (ord_pool_t *self)
{
    return zlistx_size (self->waiting);
}
