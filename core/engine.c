/*  engine: clock and crash points. */
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
    "confirm.paid",                //  paid recorded, no stock reduced
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
