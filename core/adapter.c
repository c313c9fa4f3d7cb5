/*  adapter: plugin loading, checks, and calls. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include "adapter.h"
#include "engine.h"
#include "folder.h"

struct _ord_adapter_t {
    void *library;
    const ord_plugin_descriptor_t *descriptor;
    zactor_t *actor;
    ord_plugin_args_t args;
    char *endpoint;
    char *data_dir;
    char *kind;
    int64_t call_timeout_ms;
    atomic_bool batches;           //  takes the `batch` op (until it says not)
    atomic_uint_fast64_t calls;    //  attempts sent, probes not counted
    pthread_mutex_t lock;          //  guards the health fields
    bool healthy;
    char reason [256];
    zsock_t *probe;                //  the probe's own DEALER
    ord_metrics_t *metrics;
};

struct _ord_adapter_client_t {
    ord_adapter_t *adapter;
    zsock_t *dealer;
    zpoller_t *poller;
    uint64_t sequence;
    msgpack_sbuffer request;
    zframe_t *reply_frame;         //  the bytes the last reply points into
    char rid [48];                 //  of the call sent last
};

static void
s_set_health (ord_adapter_t *self, bool healthy, const char *reason)
{
    pthread_mutex_lock (&self->lock);
    self->healthy = healthy;
    snprintf (self->reason, sizeof self->reason, "%s", reason? reason: "");
    pthread_mutex_unlock (&self->lock);
}

//  Checks every descriptor field before anything else of the plugin runs.
static int
s_check_descriptor (const ord_plugin_descriptor_t *d, const char *kind, ord_why_t *why)
{
    if (d->magic != ORD_PLUGIN_MAGIC)
        ord_why_set (why, "magic: daemon has 0x%08x, plugin has 0x%08x",
                     ORD_PLUGIN_MAGIC, d->magic);
    else
    if (d->abi_major != ORD_PLUGIN_ABI_MAJOR)
        ord_why_set (why, "abi_major: daemon has %d, plugin has %d",
                     ORD_PLUGIN_ABI_MAJOR, d->abi_major);
    else
    if (d->abi_minor > ORD_PLUGIN_ABI_MINOR)
        ord_why_set (why, "abi_minor: daemon has %d, plugin has %d (newer)",
                     ORD_PLUGIN_ABI_MINOR, d->abi_minor);
    else
    if (d->struct_size != sizeof (ord_plugin_descriptor_t))
        ord_why_set (why, "struct_size: daemon has %zu, plugin has %u",
                     sizeof (ord_plugin_descriptor_t), d->struct_size);
    else
    if (!d->kind || !streq (d->kind, kind))
        ord_why_set (why, "kind: daemon expects %s, plugin has %s", kind,
                     d->kind? d->kind: "(null)");
    else
    if (!d->name || !*d->name)
        ord_why_set (why, "name: missing");
    else
    if (!d->version)
        ord_why_set (why, "version: missing");
    else
    if (!d->actor)
        ord_why_set (why, "actor: missing");
    else {
        for (size_t i = 0; i < sizeof d->spare / sizeof d->spare [0]; i++)
            if (d->spare [i]) {
                ord_why_set (why, "spare[%zu]: must be NULL", i);
                return ORD_EPLUGIN;
            }
        return 0;
    }
    return ORD_EPLUGIN;
}

int
ord_adapter_load (const ord_adapter_options_t *options, ord_adapter_t **adapter_p,
                  ord_why_t *why)
{
    ord_adapter_t *self = (ord_adapter_t *) zmalloc (sizeof (ord_adapter_t));
    pthread_mutex_init (&self->lock, NULL);
    self->healthy = true;
    atomic_store (&self->batches, true);
    self->kind = ord_strdup (options->kind);
    self->call_timeout_ms = options->call_timeout_ms;
    dlerror ();
    self->library = dlopen (options->path, RTLD_NOW | RTLD_LOCAL);
    if (!self->library) {
        const char *error = dlerror ();
        ord_why_set (why, "%s", error? error: "dlopen failed");
        goto fail;
    }
    ord_plugin_descriptor_fn *describe;
    *(void **) &describe = dlsym (self->library, ORD_PLUGIN_SYMBOL);
    if (!describe) {
        ord_why_set (why, "symbol %s: missing (not an orderd plugin)", ORD_PLUGIN_SYMBOL);
        goto fail;
    }
    self->descriptor = describe ();
    if (!self->descriptor) {
        ord_why_set (why, "%s: returned no descriptor", ORD_PLUGIN_SYMBOL);
        goto fail;
    }
    if (s_check_descriptor (self->descriptor, options->kind, why))
        goto fail;

    self->data_dir = zsys_sprintf ("%s/%s", options->data_dir, self->descriptor->name);
    if (ord_folder_make (self->data_dir, 0750)) {
        ord_why_set (why, "cannot create %s: %s", self->data_dir, strerror (errno));
        goto fail;
    }
    //  A counter, not an address: a reloaded adapter may get the old one's
    //  address before ZeroMQ has let go of the old endpoint
    static atomic_uint instance;
    self->endpoint = zsys_sprintf ("inproc://orderd-adapter-%s-%u", options->kind,
                                   atomic_fetch_add (&instance, 1));
    self->args.endpoint = self->endpoint;
    self->args.data_dir = self->data_dir;
    self->args.config = options->section;
    self->args.payment_timeout_ms = options->payment_timeout_ms;
    self->args.sync = options->sync;
    self->actor = zactor_new (self->descriptor->actor, &self->args);
    if (!self->actor) {
        ord_why_set (why, "cannot start the plugin's actor");
        goto fail;
    }
    //  The handshake: one string, empty when the plugin is ready
    zsock_set_rcvtimeo (self->actor, 30000);
    char *status = zstr_recv (self->actor);
    zsock_set_rcvtimeo (self->actor, -1);
    if (!status || *status) {
        ord_why_set (why, "%s", status? status: "no answer to the start handshake");
        zstr_free (&status);
        goto fail;
    }
    zstr_free (&status);
    self->probe = zsock_new (ZMQ_DEALER);
    if (!self->probe || zsock_connect (self->probe, "%s", self->endpoint)) {
        ord_why_set (why, "cannot connect to the plugin's endpoint");
        goto fail;
    }
    *adapter_p = self;
    return 0;
fail:
    {
        char reason [sizeof why->text];
        snprintf (reason, sizeof reason, "%s", why->text);
        ord_why_set (why, "%s plugin %s: %s", options->kind, options->path, reason);
    }
    ord_adapter_destroy (&self);
    return ORD_EPLUGIN;
}

void
ord_adapter_destroy (ord_adapter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_adapter_t *self = *self_p;
    zsock_destroy (&self->probe);
    zactor_destroy (&self->actor);
    if (self->library)
        dlclose (self->library);
    pthread_mutex_destroy (&self->lock);
    zstr_free (&self->endpoint);
    zstr_free (&self->data_dir);
    free (self->kind);
    free (self);
    *self_p = NULL;
}

const char *
ord_adapter_name (ord_adapter_t *self)
{
    return self->descriptor->name;
}

const char *
ord_adapter_version (ord_adapter_t *self)
{
    return self->descriptor->version;
}

const char *
ord_adapter_kind (ord_adapter_t *self)
{
    return self->kind;
}

void
ord_adapter_set_metrics (ord_adapter_t *self, ord_metrics_t *metrics)
{
    self->metrics = metrics;
}

uint64_t
ord_adapter_calls (ord_adapter_t *self)
{
    return atomic_load_explicit (&self->calls, memory_order_relaxed);
}

static void
s_count_call (ord_adapter_t *self)
{
    atomic_fetch_add_explicit (&self->calls, 1, memory_order_relaxed);
}

bool
ord_adapter_batches (ord_adapter_t *self)
{
    return atomic_load (&self->batches);
}

void
ord_adapter_no_batches (ord_adapter_t *self)
{
    if (atomic_exchange (&self->batches, false))
        zsys_info ("adapter %s does not take the batch op: one call per line",
                   self->descriptor->name);
}

bool
ord_adapter_healthy (ord_adapter_t *self, char *reason, size_t reason_size)
{
    pthread_mutex_lock (&self->lock);
    bool healthy = self->healthy;
    if (reason)
        snprintf (reason, reason_size, "%s", self->reason);
    pthread_mutex_unlock (&self->lock);
    return healthy;
}

//  Waits for the reply to `rid` on `dealer`; skips replies to other rids
//  (late answers to earlier attempts that timed out).
static int
s_wait_reply (zsock_t *dealer, zpoller_t *poller, const char *rid, int64_t timeout_ms,
              msgpack_unpacked *reply, zframe_t **frame_p, ord_why_t *why)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left)) {
            ord_why_set (why, "no answer within %" PRId64 " ms", timeout_ms);
            return ORD_ETIMEOUT;
        }
        zframe_t *frame = zframe_recv (dealer);
        if (!frame)
            continue;
        msgpack_unpacked_destroy (reply);
        msgpack_unpacked_init (reply);
        //  The decoded reply points into the frame: keep it until the next call
        zframe_destroy (frame_p);
        *frame_p = frame;
        ord_why_t ignored;
        int rc = ord_wire_decode (zframe_data (frame), zframe_size (frame), reply, &ignored);
        if (rc) {
            ord_why_set (why, "the adapter answered something that is not a msgpack map");
            return ORD_EUNAVAILABLE;
        }
        ord_str_t reply_rid = ord_str_of (ord_wire_find (&reply->data, "rid"));
        if (ord_str_eq (reply_rid, rid))
            return 0;
    }
}

//  One request/reply exchange on `dealer`
static int
s_exchange (zsock_t *dealer, zpoller_t *poller, const char *rid, const void *body,
            size_t size, int64_t timeout_ms, msgpack_unpacked *reply, zframe_t **frame_p,
            ord_why_t *why)
{
    if (zsock_send (dealer, "b", body, size)) {
        ord_why_set (why, "cannot send to the adapter");
        return ORD_EUNAVAILABLE;
    }
    return s_wait_reply (dealer, poller, rid, timeout_ms, reply, frame_p, why);
}

int
ord_adapter_reply_status (const msgpack_object *reply, ord_why_t *why)
{
    const msgpack_object *ok = ord_wire_find (reply, "ok");
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean)
        return 0;
    const msgpack_object *error = ord_wire_find (reply, "error");
    ord_str_t code = ord_str_of (ord_wire_find (error, "code"));
    ord_str_t message = ord_str_of (ord_wire_find (error, "message"));
    if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !code.ptr) {
        ord_why_set (why, "the adapter answered a malformed reply");
        return ORD_EUNAVAILABLE;
    }
    ord_why_set (why, "%.*s", (int) (message.ptr? message.len: code.len),
                 message.ptr? message.ptr: code.ptr);
    return ord_error_from_wire (code.ptr, code.len);
}

static void
s_pack_request (msgpack_sbuffer *buffer, const char *op, const char *rid,
                const void *fields, size_t fields_size, uint32_t field_count)
{
    msgpack_sbuffer_clear (buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3 + field_count);
    ord_pack_kv_int (&pk, "v", ORD_WIRE_VERSION);
    ord_pack_kv_cstr (&pk, "op", op);
    ord_pack_kv_cstr (&pk, "rid", rid);
    if (fields_size)
        ord_pack_raw (&pk, fields, fields_size);
}

void
ord_adapter_probe (ord_adapter_t *self)
{
    static _Atomic uint64_t sequence;
    char rid [32];
    snprintf (rid, sizeof rid, "probe-%" PRIu64, ++sequence);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    s_pack_request (&buffer, "ping", rid, NULL, 0, 0);
    zpoller_t *poller = zpoller_new (self->probe, NULL);
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    ord_why_t why;
    int64_t timeout = self->call_timeout_ms < 1000? self->call_timeout_ms: 1000;
    zframe_t *frame = NULL;
    int64_t started_us = zclock_usecs ();
    int rc = s_exchange (self->probe, poller, rid, buffer.data, buffer.size, timeout,
                         &reply, &frame, &why);
    ord_metrics_adapter_call (self->metrics, self->kind, "ping", rc, zclock_usecs () - started_us);
    //  Any answer, even an error, shows the adapter is alive; an adapter
    //  whose own upstream fails says so with `degraded: <reason>`
    ord_str_t degraded = { NULL, 0 };
    if (rc == 0)
        degraded = ord_str_of (ord_wire_find (&reply.data, "degraded"));
    if (degraded.ptr)
        ord_why_set (&why, "%.*s", (int) degraded.len, degraded.ptr);
    s_set_health (self, rc == 0 && !degraded.ptr, rc || degraded.ptr? why.text: NULL);
    zframe_destroy (&frame);
    msgpack_unpacked_destroy (&reply);
    zpoller_destroy (&poller);
    msgpack_sbuffer_destroy (&buffer);
}

ord_adapter_client_t *
ord_adapter_client_new (ord_adapter_t *adapter)
{
    ord_adapter_client_t *self = (ord_adapter_client_t *) zmalloc (sizeof (ord_adapter_client_t));
    self->adapter = adapter;
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer || zsock_connect (self->dealer, "%s", adapter->endpoint)) {
        zsock_destroy (&self->dealer);
        free (self);
        return NULL;
    }
    self->poller = zpoller_new (self->dealer, NULL);
    msgpack_sbuffer_init (&self->request);
    return self;
}

void
ord_adapter_client_destroy (ord_adapter_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_adapter_client_t *self = *self_p;
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->dealer);
    zframe_destroy (&self->reply_frame);
    msgpack_sbuffer_destroy (&self->request);
    free (self);
    *self_p = NULL;
}

int
ord_adapter_call_send (ord_adapter_client_t *self, const char *op, const void *fields,
                       size_t fields_size, uint32_t field_count, ord_why_t *why)
{
    snprintf (self->rid, sizeof self->rid, "%p-%" PRIu64, (void *) self, ++self->sequence);
    s_pack_request (&self->request, op, self->rid, fields, fields_size, field_count);
    if (zsock_send (self->dealer, "b", self->request.data, self->request.size)) {
        ord_why_set (why, "cannot send to the adapter");
        return ORD_EUNAVAILABLE;
    }
    s_count_call (self->adapter);
    return 0;
}

int
ord_adapter_call_wait (ord_adapter_client_t *self, msgpack_unpacked *reply, ord_why_t *why)
{
    int rc = s_wait_reply (self->dealer, self->poller, self->rid,
                           self->adapter->call_timeout_ms, reply, &self->reply_frame, why);
    return rc? rc: ord_adapter_reply_status (&reply->data, why);
}

int
ord_adapter_call (ord_adapter_client_t *self, const char *op, const void *fields,
                  size_t fields_size, uint32_t field_count, int attempts,
                  msgpack_unpacked *reply, ord_why_t *why)
{
    ord_adapter_t *adapter = self->adapter;
    char rid [48];
    snprintf (rid, sizeof rid, "%p-%" PRIu64, (void *) self, ++self->sequence);
    s_pack_request (&self->request, op, rid, fields, fields_size, field_count);
    int64_t backoff = 50;
    int rc = ORD_EUNAVAILABLE;
    for (int attempt = 1; attempt <= attempts; attempt++) {
        int64_t started_us = zclock_usecs ();
        s_count_call (adapter);
        rc = s_exchange (self->dealer, self->poller, rid, self->request.data,
                         self->request.size, adapter->call_timeout_ms, reply,
                         &self->reply_frame, why);
        //  A well-formed answer shows the adapter is alive, unless it says
        //  itself that it is not (a bridge whose peer is away): then the
        //  probes decide
        bool answered = rc == 0;
        if (answered)
            rc = ord_adapter_reply_status (&reply->data, why);
        ord_metrics_adapter_call (adapter->metrics, adapter->kind, op, rc,
                                  zclock_usecs () - started_us);
        if (!answered)
            s_set_health (adapter, false, why->text);
        else
        if (rc != ORD_EUNAVAILABLE)
            s_set_health (adapter, true, NULL);
        if (rc != ORD_ETIMEOUT && rc != ORD_EUNAVAILABLE)
            break;
        if (attempt < attempts) {
            zclock_sleep ((int) backoff);
            backoff = backoff * 2 > 1000? 1000: backoff * 2;
        }
    }
    if (rc && rc != ORD_ETIMEOUT && rc != ORD_EUNAVAILABLE)
        ord_debug ("adapter %s: %s: %s", adapter->descriptor->name, op, why->text);
    return rc;
}
