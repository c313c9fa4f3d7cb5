/*  engine: what the actors share, the clock and the crash points. */
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "engine.h"

//  Every crash point, in saga order; docs/SAGAS.md explains each.
static const char *const s_crash_points [] = {
    "create.logged",               //  create saga intent durable, no stock reserved yet
    "create.reserved_one",         //  first product reserved
    "create.reserved_all",         //  every product reserved, order not yet stored
    "create.releasing",            //  out of stock: first release done
    "initiate.logged",             //  initiate intent durable, provider not called
    "initiate.created",            //  provider order created, not yet recorded
    "confirm.logged",              //  confirm intent durable
    "confirm.checked",             //  reservations checked, capture not sent
    "confirm.captured",            //  capture done at the provider, not yet recorded
    "confirm.paid",                //  paid durable and every product reduced (both ran together), confirmed not yet recorded
    "confirm.reduced_one",         //  first product reduced
    "confirm.reduced_all",         //  every product reduced, confirmed not yet recorded
    "confirm.compensating",        //  compensation logged, nothing restored yet
    "confirm.restored_one",        //  first restore done
    "confirm.aborting",            //  abort (stock gone before capture) logged
    "cancel.logged",               //  cancel intent durable
    "cancel.released",             //  reservations released, payment not voided
    "cancel.voided",               //  payment voided, cancelled not yet recorded
    NULL
};

static int
s_load_adapter (ord_config_t *config, const char *kind, const char *path,
                int64_t call_timeout_ms, ord_adapter_t **adapter_p, ord_why_t *why)
{
    ord_adapter_options_t options = {
        kind, path, ord_config_section (config, kind), config->data_dir,
        config->payment_timeout_ms, config->sync, call_timeout_ms
    };
    return ord_adapter_load (&options, adapter_p, why);
}

//  The store's reader table: a slot for every actor, and some for the
//  front, the writer, the prober and the adapters' own threads.
#define S_READERS_SPARE  128

int
ord_engine_new (ord_config_t *config, ord_engine_t **engine_p, ord_why_t *why)
{
    ord_engine_t *self = (ord_engine_t *) zmalloc (sizeof (ord_engine_t));
    self->config = config;
    self->started_at = ord_engine_now ();
    self->reserve_ttl_ms = config->reserve_ttl_ms;
    if (*config->metrics)
        self->metrics = ord_metrics_new ();
    int rc = ord_store_open (config->data_dir, (size_t) config->map_size, config->sync,
                             (unsigned) config->max_live_actors + S_READERS_SPARE,
                             &self->store, why);
    if (rc) {
        ord_why_prefix (why, "%s: ", config->data_dir);
        goto fail;
    }
    ord_store_set_metrics (self->store, self->metrics);
    ord_store_set_map_size_max (self->store, config->map_size_max);
    self->writer = ord_store_writer_new (self->store, config->events, why);
    if (!self->writer) {
        ord_why_prefix (why, "orderd/events: ");
        rc = ORD_ECONFIG;
        goto fail;
    }
    rc = s_load_adapter (config, "payment", config->payment_plugin,
                         config->payment_timeout_call_ms, &self->payment, why);
    if (!rc)
        rc = s_load_adapter (config, "fulfilment", config->fulfilment_plugin,
                             config->fulfilment_timeout_call_ms, &self->fulfilment, why);
    if (!rc && streq (ord_adapter_name (self->payment), ord_adapter_name (self->fulfilment))) {
        ord_why_set (why, "name: two plugins are both called %s", ord_adapter_name (self->payment));
        rc = ORD_EPLUGIN;
    }
    if (rc) {
        ord_why_prefix (why, "plugin: ");
        goto fail;
    }
    ord_adapter_set_metrics (self->payment, self->metrics);
    ord_adapter_set_metrics (self->fulfilment, self->metrics);
    *engine_p = self;
    return 0;
fail:
    ord_engine_destroy (&self);
    return rc;
}

void
ord_engine_destroy (ord_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_engine_t *self = *self_p;
    ord_adapter_destroy (&self->payment);
    ord_adapter_destroy (&self->fulfilment);
    zactor_destroy (&self->writer);
    ord_store_destroy (&self->store);
    ord_metrics_destroy (&self->metrics);
    ord_config_destroy (&self->config);
    free (self);
    *self_p = NULL;
}

static const char *s_armed;
static bool s_verbose;

void
ord_log_set_verbose (bool verbose)
{
    s_verbose = verbose;
}

bool
ord_log_verbose (void)
{
    return s_verbose;
}

void
ord_thread_name (const char *name)
{
    char truncated [16];
    snprintf (truncated, sizeof truncated, "%s", name);
    prctl (PR_SET_NAME, truncated, 0, 0, 0);
}

int64_t
ord_engine_now (void)
{
    return zclock_time ();
}

int
ord_crash_init (ord_why_t *why)
{
    const char *wanted = getenv ("ORDERD_CRASH_AT");
    s_armed = NULL;
    if (!wanted || !*wanted)
        return 0;
    for (size_t i = 0; s_crash_points [i]; i++)
        if (streq (s_crash_points [i], wanted))
            s_armed = s_crash_points [i];
    if (!s_armed) {
        ord_why_set (why, "ORDERD_CRASH_AT: '%s' is not a crash point (see orderd --crash-points)",
                     wanted);
        return ORD_ECONFIG;
    }
    return 0;
}

void
ord_crash (const char *point)
{
    if (s_armed && streq (s_armed, point)) {
        zsys_warning ("crash point %s reached: killing orderd", point);
        kill (getpid (), SIGKILL);
    }
}

const char *const *
ord_crash_points (void)
{
    return s_crash_points;
}
