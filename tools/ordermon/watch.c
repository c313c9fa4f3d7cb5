/*  watch: follows the events door (PROTOCOL.md §7) and prints one line per
    order transition as it is published, until SIGINT (or --count events).
    With --json each event is one JSON object on its own line. */
#include <errno.h>
#include "format.h"
#include "json.h"
#include "order.h"
#include "ordermon.h"
#include "table.h"

//  Prints one event; returns 0, or -1 when it was not a transition.
static int
s_print_event (const om_opts_t *opts, const msgpack_object *event)
{
    if (opts->json)
        return om_json_print (stdout, event, -1);
    char at [40], id [64], user [ORD_MAX_ID_LEN + 1], from [32], to [32];
    char reason [ORD_MAX_TEXT_LEN + 1];
    om_time (om_field_int (event, "at", 0), true, at, sizeof at);
    om_field_str (event, "order_id", "?", id, sizeof id);
    om_field_str (event, "user_id", "?", user, sizeof user);
    om_field_str (event, "from", "-", from, sizeof from);
    om_field_str (event, "to", "?", to, sizeof to);
    om_field_str (event, "reason", "", reason, sizeof reason);
    //  Pad by hand: colour codes must not count in the width
    printf ("%s  %s  %-12s  ", at, id, user);
    om_print_colored (stdout, opts->color, om_status_color (from), from);
    printf ("%*s %s ", (int) (17 - (strlen (from) < 17? strlen (from): 17)), "", om_arrow (opts));
    om_print_colored (stdout, opts->color, om_status_color (to), to);
    printf ("%*s  %s\n", (int) (17 - (strlen (to) < 17? strlen (to): 17)), "", reason);
    return ferror (stdout)? -1: 0;
}

int
om_cmd_watch (const om_opts_t *opts)
{
    char topic [64];
    if (opts->status) {
        if (ord_status_parse (opts->status, strlen (opts->status)) == ORD_STATUS_NONE) {
            fprintf (stderr, "ordermon: watch: --status %s: not an order status\n", opts->status);
            return OM_EXIT_USAGE;
        }
        snprintf (topic, sizeof topic, "order.%s", opts->status);
    }
    else
        snprintf (topic, sizeof topic, "order.");
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub) {
        fprintf (stderr, "ordermon: watch: cannot create a socket\n");
        return OM_EXIT_ERROR;
    }
    zsock_set_linger (sub, 0);
    zsock_set_subscribe (sub, topic);
    if (zsock_connect (sub, "%s", opts->events) != 0) {
        fprintf (stderr, "ordermon: '%s' is not an endpoint ZeroMQ can connect to "
                 "(e.g. tcp://127.0.0.1:8793)\n", opts->events);
        zsock_destroy (&sub);
        return OM_EXIT_USAGE;
    }
    if (isatty (STDERR_FILENO))
        fprintf (stderr, "watching %s* at %s (Ctrl-C to stop)\n", topic, opts->events);
    //  Every line reaches a pipe as it happens
    setvbuf (stdout, NULL, _IOLBF, 0);
    int rc = OM_EXIT_OK;
    int64_t seen = 0;
    while (!zsys_interrupted && (opts->count == 0 || seen < opts->count)) {
        zmq_pollitem_t item = { zsock_resolve (sub), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 500) <= 0)
            continue;                  //  timeout, or EINTR: the loop checks
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            continue;
        char *name = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        //  A prefix subscription: "order.paid" must not take another topic
        bool wanted = name && body && (!opts->status || streq (name, topic));
        msgpack_unpacked event;
        msgpack_unpacked_init (&event);
        size_t offset = 0;
        if (wanted
        &&  msgpack_unpack_next (&event, (const char *) zframe_data (body), zframe_size (body),
                                 &offset) == MSGPACK_UNPACK_SUCCESS
        &&  event.data.type == MSGPACK_OBJECT_MAP) {
            if (s_print_event (opts, &event.data))
                rc = OM_EXIT_ERROR;
            seen++;
        }
        else
        if (wanted)
            fprintf (stderr, "ordermon: watch: an event on %s is not a msgpack map; skipped\n", name);
        msgpack_unpacked_destroy (&event);
        zstr_free (&name);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
        if (rc)
            break;
    }
    zsock_destroy (&sub);
    return rc;
}
