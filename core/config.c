/*  config: known keys, defaults and value checks. */
#include <errno.h>
#include <unistd.h>
#include "auth.h"
#include "config.h"
#include "metrics.h"
#include "number.h"

//  S_SIZE: an integer, or one with a K, M or G suffix (as plugins take it);
//  *_OR_AUTO: also "auto" (read as 0: orderd derives the value);
//  S_ADDRESS: HOST:PORT, or empty for off
typedef enum {
    S_STRING, S_OPTIONAL, S_INT, S_INT_OR_AUTO, S_SIZE, S_SIZE_OR_AUTO, S_BOOL, S_SYNC,
    S_ON_STOCK_FAILURE, S_ADDRESS
} s_type_t;

static const struct {
    const char *path;
    const char *fallback;          //  NULL: required
    s_type_t type;
    int64_t min, max;
} s_keys [] = {
    { "orderd/data_dir",         "var/orderd",             S_STRING, 0, 0 },
    { "orderd/service",          "tcp://127.0.0.1:8791",   S_STRING, 0, 0 },
    { "orderd/admin",            "tcp://127.0.0.1:8792",   S_STRING, 0, 0 },
    { "orderd/events",           "tcp://127.0.0.1:8793",   S_STRING, 0, 0 },
    { "orderd/metrics",          "127.0.0.1:8794",         S_ADDRESS, 0, 0 },
    { "orderd/sync",             "full",                   S_SYNC, 0, 0 },
    { "orderd/payment_timeout_ms", "1800000",              S_INT, 1, INT32_MAX },
    { "orderd/max_live_actors",  "auto",                   S_INT_OR_AUTO, 1, 65536 },
    { "orderd/max_body",         "65536",                  S_INT, 64, 64 * 1024 * 1024 },
    { "orderd/max_queue",        "10000",                  S_INT, 0, 10000000 },
    { "orderd/map_size",         "1073741824",             S_SIZE, 1 << 20, INT64_MAX / 2 },
    { "orderd/map_size_max",     "auto",                   S_SIZE_OR_AUTO, 1 << 20, INT64_MAX / 2 },
    { "orderd/actor_idle_ms",    "10000",                  S_INT, 1, INT32_MAX },
    { "orderd/saga_retry_ms",    "2000",                   S_INT, 10, INT32_MAX },
    { "orderd/idem_ttl_ms",      "86400000",               S_INT, 86400000, INT64_MAX / 2 },
    { "orderd/curve",            "0",                      S_BOOL, 0, 0 },
    { "orderd/allow_insecure",   "0",                      S_BOOL, 0, 0 },
    { "orderd/server_cert",      "",                       S_OPTIONAL, 0, 0 },
    { "orderd/service_clients",  "",                       S_OPTIONAL, 0, 0 },
    { "orderd/admin_clients",    "",                       S_OPTIONAL, 0, 0 },
    { "orderd/on_stock_failure", "review",                 S_ON_STOCK_FAILURE, 0, 0 },
    { "payment/plugin",          NULL,                     S_STRING, 0, 0 },
    { "payment/timeout_ms",      "5000",                   S_INT, 1, INT32_MAX },
    { "fulfilment/plugin",       NULL,                     S_STRING, 0, 0 },
    { "fulfilment/timeout_ms",   "5000",                   S_INT, 1, INT32_MAX },
};
#define S_NKEYS (sizeof s_keys / sizeof s_keys [0])

//  Old names still taken, each for its new one (units last in names)
static const struct {
    const char *alias;
    const char *path;
} s_aliases [] = {
    { "orderd/payment_timeout", "orderd/payment_timeout_ms" },
};
#define S_NALIASES (sizeof s_aliases / sizeof s_aliases [0])

//  The old name of the key at `path`, or NULL.
static const char *
s_alias_of (const char *path)
{
    for (size_t i = 0; i < S_NALIASES; i++)
        if (streq (s_aliases [i].path, path))
            return s_aliases [i].alias;
    return NULL;
}

static int
s_key_index (const char *path)
{
    for (size_t i = 0; i < S_NALIASES; i++)
        if (streq (s_aliases [i].alias, path))
            path = s_aliases [i].path;
    for (size_t i = 0; i < S_NKEYS; i++)
        if (streq (s_keys [i].path, path))
            return (int) i;
    return -1;
}

//  Every key under `orderd` must be known, and only our three sections
//  may exist, so a typo is an error, not a silent default.
static int
s_check_known (zconfig_t *root, ord_why_t *why)
{
    for (zconfig_t *section = zconfig_child (root); section; section = zconfig_next (section)) {
        const char *name = zconfig_name (section);
        if (!streq (name, "orderd") && !streq (name, "payment") && !streq (name, "fulfilment")) {
            ord_why_set (why, "%s: unknown section", name);
            return ORD_ECONFIG;
        }
        if (!streq (name, "orderd"))
            continue;
        for (zconfig_t *key = zconfig_child (section); key; key = zconfig_next (key)) {
            char path [256];
            snprintf (path, sizeof path, "orderd/%s", zconfig_name (key));
            if (s_key_index (path) < 0) {
                ord_why_set (why, "%s: unknown key", path);
                return ORD_ECONFIG;
            }
        }
    }
    return 0;
}

static int
s_check_value (ord_config_t *self, size_t index, const char *path, const char *value,
               ord_why_t *why)
{
    int64_t number = 0;
    switch (s_keys [index].type) {
        case S_STRING:
            if (!*value) {
                ord_why_set (why, "%s: must not be empty", path);
                return ORD_ECONFIG;
            }
            break;
        case S_OPTIONAL:
            break;
        case S_INT:
        case S_INT_OR_AUTO:
        case S_SIZE:
        case S_SIZE_OR_AUTO: {
            s_type_t type = s_keys [index].type;
            bool may_be_auto = type == S_INT_OR_AUTO || type == S_SIZE_OR_AUTO;
            bool size = type == S_SIZE || type == S_SIZE_OR_AUTO;
            if (may_be_auto && streq (value, "auto"))
                break;
            if (!ord_number_parse (value, size, &number)
            ||  number < s_keys [index].min || number > s_keys [index].max) {
                ord_why_set (why, "%s: '%s' is not an integer from %" PRId64 " to %" PRId64 "%s%s",
                             path, value, s_keys [index].min, s_keys [index].max,
                             size? " (K, M, G allowed)": "", may_be_auto? ", or auto": "");
                return ORD_ECONFIG;
            }
            break;
        }
        case S_BOOL:
            if (!streq (value, "0") && !streq (value, "1")) {
                ord_why_set (why, "%s: '%s' must be 0 or 1", path, value);
                return ORD_ECONFIG;
            }
            break;
        case S_SYNC:
            if (!streq (value, "full") && !streq (value, "none")) {
                ord_why_set (why, "%s: '%s' must be full or none", path, value);
                return ORD_ECONFIG;
            }
            break;
        case S_ADDRESS: {
            char host [256], port [6];
            if (*value && !ord_metrics_address_parse (value, host, sizeof host, port)) {
                ord_why_set (why, "%s: '%s' must be HOST:PORT (an IPv6 host in brackets), "
                             "or empty for none", path, value);
                return ORD_ECONFIG;
            }
            break;
        }
        case S_ON_STOCK_FAILURE:
            if (!streq (value, "review") && !streq (value, "refund")) {
                ord_why_set (why, "%s: '%s' must be review or refund", path, value);
                return ORD_ECONFIG;
            }
            break;
    }
    path = s_keys [index].path;
    if      (streq (path, "orderd/data_dir"))         self->data_dir = value;
    else if (streq (path, "orderd/service"))          self->service = value;
    else if (streq (path, "orderd/admin"))            self->admin = value;
    else if (streq (path, "orderd/events"))           self->events = value;
    else if (streq (path, "orderd/metrics"))          self->metrics = value;
    else if (streq (path, "orderd/sync"))             self->sync = streq (value, "full");
    else if (streq (path, "orderd/payment_timeout_ms")) self->payment_timeout_ms = number;
    else if (streq (path, "orderd/max_live_actors"))  self->max_live_actors = number;
    else if (streq (path, "orderd/max_body"))         self->max_body = number;
    else if (streq (path, "orderd/max_queue"))        self->max_queue = number;
    else if (streq (path, "orderd/map_size"))         self->map_size = number;
    else if (streq (path, "orderd/map_size_max"))     self->map_size_max = number;
    else if (streq (path, "orderd/actor_idle_ms"))    self->actor_idle_ms = number;
    else if (streq (path, "orderd/saga_retry_ms"))    self->saga_retry_ms = number;
    else if (streq (path, "orderd/idem_ttl_ms"))      self->idem_ttl_ms = number;
    else if (streq (path, "orderd/curve"))            self->curve = streq (value, "1");
    else if (streq (path, "orderd/allow_insecure"))   self->allow_insecure = streq (value, "1");
    else if (streq (path, "orderd/server_cert"))      self->server_cert = value;
    else if (streq (path, "orderd/service_clients"))  self->service_clients = value;
    else if (streq (path, "orderd/admin_clients"))    self->admin_clients = value;
    else if (streq (path, "orderd/on_stock_failure"))
        self->on_stock_failure = streq (value, "refund")? ORD_ON_STOCK_FAILURE_REFUND
                                                         : ORD_ON_STOCK_FAILURE_REVIEW;
    else if (streq (path, "payment/plugin"))          self->payment_plugin = value;
    else if (streq (path, "payment/timeout_ms"))      self->payment_timeout_call_ms = number;
    else if (streq (path, "fulfilment/plugin"))       self->fulfilment_plugin = value;
    else if (streq (path, "fulfilment/timeout_ms"))   self->fulfilment_timeout_call_ms = number;
    return 0;
}

//  fulfilment/reserve_ttl_ms belongs to the plugin, but orderd sends it
//  with every reserve, whatever the plugin: parsed here too, by the same
//  rules as the plugin's, so that `5s` stops orderd instead of making
//  every reservation lapse after 5 ms.
static int
s_take_reserve_ttl (ord_config_t *self, ord_why_t *why)
{
    const char *path = "fulfilment/reserve_ttl_ms";
    const char *value = zconfig_get (self->root, path, NULL);
    self->reserve_ttl_ms = self->payment_timeout_ms;
    if (!value)
        return 0;
    if (!ord_number_parse (value, false, &self->reserve_ttl_ms)
    ||  self->reserve_ttl_ms < 1 || self->reserve_ttl_ms > INT32_MAX) {
        ord_why_set (why, "%s: '%s' is not an integer from 1 to %d", path, value, INT32_MAX);
        return ORD_ECONFIG;
    }
    return 0;
}

//  Without CURVE anyone who reaches a door can use it, so every door must
//  be loopback-only unless ops say otherwise.
static int
s_check_security (ord_config_t *self, ord_why_t *why)
{
    if (self->curve) {
        const char *paths [3] = { "orderd/server_cert", "orderd/service_clients",
                                  "orderd/admin_clients" };
        const char *values [3] = { self->server_cert, self->service_clients,
                                   self->admin_clients };
        for (int i = 0; i < 3; i++)
            if (!*values [i]) {
                ord_why_set (why, "%s: required with orderd/curve = 1", paths [i]);
                return ORD_ECONFIG;
            }
    }
    if (self->allow_insecure)
        return 0;
    const char *paths [3] = { "orderd/service", "orderd/admin", "orderd/events" };
    const char *endpoints [3] = { self->service, self->admin, self->events };
    for (int i = 0; i < 3; i++) {
        //  With CURVE the request doors are authenticated; the events door never is
        if (self->curve && i < 2)
            continue;
        if (!ord_auth_endpoint_is_local (endpoints [i])) {
            ord_why_set (why, "%s: %s is not a loopback endpoint; %s binds only loopback "
                         "unless orderd/allow_insecure = 1", paths [i], endpoints [i],
                         i < 2? "without CURVE (orderd/curve = 1) orderd": "the events door");
            return ORD_ECONFIG;
        }
    }
    //  Metrics are read-only but tell a stranger how busy the shop is
    char endpoint [300];
    snprintf (endpoint, sizeof endpoint, "tcp://%s", self->metrics);
    if (*self->metrics && !ord_auth_endpoint_is_local (endpoint)) {
        ord_why_set (why, "orderd/metrics: %s is not a loopback address; the metrics door "
                     "binds only loopback unless orderd/allow_insecure = 1", self->metrics);
        return ORD_ECONFIG;
    }
    return 0;
}

int
ord_config_load (const char *path, zlist_t *overrides, ord_config_t **config_p,
                 ord_why_t *why)
{
    ord_config_t *self = (ord_config_t *) zmalloc (sizeof (ord_config_t));
    int rc = ORD_ECONFIG;
    if (path) {
        if (access (path, R_OK) != 0) {
            ord_why_set (why, "%s: cannot read the config file: %s", path, strerror (errno));
            goto fail;
        }
        //  zconfig_load leaks its file on a parse error; parse a copy instead
        zchunk_t *text = zchunk_slurp (path, 16 * 1024 * 1024);
        self->root = text? zconfig_chunk_load (text): NULL;
        zchunk_destroy (&text);
        if (!self->root) {
            ord_why_set (why, "%s: not a valid ZPL config file", path);
            goto fail;
        }
    }
    else
        self->root = zconfig_new ("root", NULL);
    for (const char *item = overrides? (const char *) zlist_first (overrides): NULL; item;
         item = (const char *) zlist_next (overrides)) {
        const char *equals = strchr (item, '=');
        if (!equals || equals == item) {
            ord_why_set (why, "--set %s: must be PATH=VALUE", item);
            goto fail;
        }
        char *key = strndup (item, (size_t) (equals - item));
        if (!strchr (key, '/') || (strncmp (key, "orderd/", 7) == 0 && s_key_index (key) < 0)) {
            ord_why_set (why, "%s: unknown key", key);
            free (key);
            goto fail;
        }
        zconfig_put (self->root, key, equals + 1);
        free (key);
    }
    if (s_check_known (self->root, why))
        goto fail;
    for (size_t i = 0; i < S_NKEYS; i++) {
        //  A key given by its old name is checked, and named, as given
        const char *path = s_keys [i].path;
        const char *alias = s_alias_of (path);
        const char *value = zconfig_get (self->root, path, NULL);
        const char *old = alias? zconfig_get (self->root, alias, NULL): NULL;
        if (value && old) {
            ord_why_set (why, "%s: the old name of %s; set only one of them", alias, path);
            goto fail;
        }
        if (old) {
            zconfig_put (self->root, path, old);
            value = zconfig_get (self->root, path, NULL);
            path = alias;
        }
        if (!value) {
            if (!s_keys [i].fallback) {
                ord_why_set (why, "%s: required key missing", s_keys [i].path);
                goto fail;
            }
            zconfig_put (self->root, s_keys [i].path, s_keys [i].fallback);
            value = zconfig_get (self->root, s_keys [i].path, NULL);
        }
        if (s_check_value (self, i, path, value, why))
            goto fail;
    }
    if (self->map_size_max && self->map_size_max < self->map_size) {
        ord_why_set (why, "orderd/map_size_max: %" PRId64 " is less than orderd/map_size (%"
                     PRId64 ")", self->map_size_max, self->map_size);
        goto fail;
    }
    if (s_take_reserve_ttl (self, why) || s_check_security (self, why))
        goto fail;
    *config_p = self;
    return 0;
fail:
    ord_config_destroy (&self);
    return rc;
}

void
ord_config_destroy (ord_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zconfig_destroy (&(*self_p)->root);
    free (*self_p);
    *self_p = NULL;
}

zconfig_t *
ord_config_section (ord_config_t *self, const char *kind)
{
    return zconfig_locate (self->root, kind);
}
