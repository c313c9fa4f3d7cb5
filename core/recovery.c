/*  recovery: the unfinished sagas of the store, driven behind open doors. */
#include "recovery.h"

#define S_PAGE_SIZE  256           //  sagas handed to actors at a time

struct _ord_recovery_t {
    ord_engine_t *engine;
    ord_pool_t *pool;
    zhashx_t *drives;              //  order id -> its recovery drive (not owned)
    bool handing_out;              //  a page is being dispatched
    size_t page_size;              //  sagas the current page found
    size_t page_finished;          //  ...whose drive finished or compensated them
    size_t finished;               //  over every page
    int64_t started_at_mono_ms;
    bool over;
};

ord_recovery_t *
ord_recovery_new (ord_engine_t *engine, ord_pool_t *pool)
{
    ord_recovery_t *self = (ord_recovery_t *) zmalloc (sizeof (ord_recovery_t));
    self->engine = engine;
    self->pool = pool;
    self->drives = zhashx_new ();
    return self;
}

void
ord_recovery_destroy (ord_recovery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_recovery_t *self = *self_p;
    zhashx_destroy (&self->drives);
    free (self);
    *self_p = NULL;
}

static void
s_end (ord_recovery_t *self)
{
    self->over = true;
    if (self->page_size == 0 && self->finished == 0)
        return;                    //  nothing was left to recover
    zsys_info ("recovery: over in %" PRId64 " ms; %zu sagas finished or compensated, "
               "any left are suspended and retried every saga_retry_ms",
               zclock_mono () - self->started_at_mono_ms, self->finished);
}

//  Hands the next page of unfinished sagas to their actors. Sagas whose
//  order is busy already (the saga retry drives them) are left to it.
static size_t
s_hand_out_page (ord_recovery_t *self)
{
    MDB_txn *txn;
    zlist_t *ids = NULL;
    int rc = ord_store_read (self->engine->store, &txn);
    if (rc == 0) {
        rc = ord_store_saga_ids (self->engine->store, txn, S_PAGE_SIZE, &ids);
        ord_store_read_end (self->engine->store, txn);
    }
    if (rc)
        zsys_error ("recovery: cannot read the sagas (%s); the saga retry will drive them",
                    ord_strerror (rc));
    self->page_size = ids? zlist_size (ids): 0;
    self->page_finished = 0;
    size_t handed = 0;
    //  A drive the pool refuses at once ends inside ord_pool_dispatch:
    //  the page is judged once it is all handed out
    self->handing_out = true;
    for (const char *id = ids? (const char *) zlist_first (ids): NULL; id;
         id = (const char *) zlist_next (ids)) {
        if (ord_pool_busy (self->pool, id) || zhashx_lookup (self->drives, id))
            continue;
        ord_request_t *drive = ord_request_new (ORD_DOOR_INTERNAL);
        drive->op = ORD_OP_DRIVE;
        zhashx_insert (self->drives, id, drive);
        atomic_fetch_add (&self->engine->sagas_recovering, 1);
        handed++;
        ord_pool_dispatch (self->pool, drive, id);
    }
    self->handing_out = false;
    zlist_destroy (&ids);
    return handed;
}

//  When the page's last drive has ended: the next page, or the end. A
//  page whose drives were all refused at once finished none, and ends it.
static void
s_page_ended (ord_recovery_t *self)
{
    if (self->over || zhashx_size (self->drives) > 0)
        return;
    if (self->page_size == S_PAGE_SIZE && self->page_finished > 0
    &&  s_hand_out_page (self) > 0 && zhashx_size (self->drives) > 0)
        return;
    s_end (self);
}

size_t
ord_recovery_start (ord_recovery_t *self)
{
    ord_assert (!self->over && self->started_at_mono_ms == 0);
    self->started_at_mono_ms = zclock_mono ();
    size_t handed = s_hand_out_page (self);
    s_page_ended (self);
    return handed;
}

void
ord_recovery_request_ended (ord_recovery_t *self, const ord_request_t *request)
{
    if (request->op != ORD_OP_DRIVE
    ||  zhashx_lookup (self->drives, request->order_id) != request)
        return;                    //  not one of recovery's drives
    zhashx_delete (self->drives, request->order_id);
    //  Each drive was counted once, when it went into `drives`
    uint_fast64_t running = atomic_fetch_sub (&self->engine->sagas_recovering, 1);
    ord_assert (running > 0);
    if (request->internal_done) {
        self->page_finished++;
        self->finished++;
        atomic_fetch_add (&self->engine->sagas_recovered, 1);
    }
    if (!self->handing_out)
        s_page_ended (self);
}
