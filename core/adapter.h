/*  adapter: the plugin host. Loads an adapter plugin (dlopen), checks its
    descriptor field by field, runs it as an actor on an inproc ROUTER, and
    gives each order actor a client that calls it with a timeout and retries
    `unavailable` and timeouts with capped exponential backoff. Permanent
    errors (payment_declined, out_of_stock, ...) are returned at once. */
#ifndef ORD_ADAPTER_H_INCLUDED
#define ORD_ADAPTER_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include "orderd/plugin.h"
#include "metrics.h"
#include "wire.h"

typedef struct _ord_adapter_t ord_adapter_t;
typedef struct _ord_adapter_client_t ord_adapter_client_t;

typedef struct {
    const char *kind;              /* "payment" or "fulfilment" */
    const char *path;              /* the .so file */
    zconfig_t *section;            /* the plugin's config section */
    const char *data_dir;          /* orderd's data_dir; the plugin gets a subfolder */
    int64_t payment_timeout_ms;
    bool sync;
    int64_t call_timeout_ms;       /* one attempt's timeout */
} ord_adapter_options_t;

/*  Loads and starts a plugin. Errors: ORD_EPLUGIN with *why naming the
    file and the field that differed ("abi_major: daemon has 1, plugin has
    2"), or the plugin's own reason for not starting. On any error the
    library is dlclose'd. */
int ord_adapter_load (const ord_adapter_options_t *options, ord_adapter_t **adapter_p,
                      ord_why_t *why);

/*  Stops the plugin's actor and unloads it. */
void ord_adapter_destroy (ord_adapter_t **self_p);

/*  The registry every call and probe of this adapter is counted in
    (NULL: none). Set it before the first call. */
void ord_adapter_set_metrics (ord_adapter_t *self, ord_metrics_t *metrics);

const char *ord_adapter_name (ord_adapter_t *self);
const char *ord_adapter_version (ord_adapter_t *self);
const char *ord_adapter_kind (ord_adapter_t *self);

/*  Calls sent to the adapter since it was loaded, each retry counted
    (the hand-offs of admin stats); health probes are not counted. */
uint64_t ord_adapter_calls (ord_adapter_t *self);

/*  Whether the adapter takes the `batch` op (docs/PLUGINS.md): assumed
    until it answers unknown_op, then ord_adapter_no_batches records it. */
bool ord_adapter_batches (ord_adapter_t *self);
void ord_adapter_no_batches (ord_adapter_t *self);

/*  Health as seen from calls and probes: true when the last call or probe
    got an answer in time; otherwise false and the reason is copied out. */
bool ord_adapter_healthy (ord_adapter_t *self, char *reason, size_t reason_size);

/*  Sends a `ping` with a short timeout and records the outcome. Call it
    from one thread only (orderd's prober): it uses the adapter's own probe
    socket. */
void ord_adapter_probe (ord_adapter_t *self);

/*  A client for one thread. */
ord_adapter_client_t *ord_adapter_client_new (ord_adapter_t *adapter);
void ord_adapter_client_destroy (ord_adapter_client_t **self_p);

/*  Calls `op` with `field_count` key/value pairs already packed in
    `fields`. Retries timeouts and `unavailable` up to `attempts` times in
    all, sleeping 50 ms, 100 ms, ... (at most 1 s) between attempts. On 0,
    *reply holds the reply map (the caller initialised and destroys it).
    Errors: the ORD_E* of the adapter's error code (ORD_EDECLINED,
    ORD_ESTOCK, ORD_EBADREQ, ORD_ENOTFOUND, ORD_EINVALID, ...),
    ORD_EUNAVAILABLE or ORD_ETIMEOUT when retries ran out; the adapter's
    message or the reason is in *why. */
int ord_adapter_call (ord_adapter_client_t *self, const char *op,
                      const void *fields, size_t fields_size, uint32_t field_count,
                      int attempts, msgpack_unpacked *reply, ord_why_t *why);

/*  One attempt of ord_adapter_call in two halves, for a caller that calls
    several adapters at once: send, then wait for the reply to what was
    sent (at most the call timeout). Errors as ord_adapter_call's; health
    is left alone. */
int ord_adapter_call_send (ord_adapter_client_t *self, const char *op, const void *fields,
                           size_t fields_size, uint32_t field_count, ord_why_t *why);
int ord_adapter_call_wait (ord_adapter_client_t *self, msgpack_unpacked *reply,
                           ord_why_t *why);

/*  Reads the {ok, error: {code, message}} of a decoded adapter reply:
    0 when ok, else the ORD_E* of its error code with the message in *why;
    ORD_EUNAVAILABLE for a reply that is not of that shape. */
int ord_adapter_reply_status (const msgpack_object *reply, ord_why_t *why);

#endif
