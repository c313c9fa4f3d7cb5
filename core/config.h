/*  config: orderd's configuration, a czmq ZPL file plus --set overrides,
    checked against the list of known keys. Every key of the `orderd`
    section is known here; the `payment` and `fulfilment` sections belong
    to their plugins, except `plugin` and `timeout_ms`. */
#ifndef ORD_CONFIG_H_INCLUDED
#define ORD_CONFIG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "wire.h"

typedef enum { ORD_ON_STOCK_FAILURE_REVIEW, ORD_ON_STOCK_FAILURE_REFUND } ord_on_stock_failure_t;

typedef struct {
    zconfig_t *root;               /* the whole tree, plugin sections included */
    const char *data_dir;
    const char *service;
    const char *admin;
    const char *events;
    const char *metrics;           /* HOST:PORT of GET /metrics; "" for none */
    bool sync;
    int64_t payment_timeout_ms;
    int64_t max_live_actors;       /* 0: auto, from the open-file limit */
    int64_t max_body;
    int64_t max_queue;
    int64_t map_size;
    int64_t map_size_max;          /* 0: auto, what the disk can hold */
    int64_t actor_idle_ms;
    int64_t saga_retry_ms;
    int64_t idem_ttl_ms;
    bool curve;
    bool allow_insecure;
    const char *server_cert;       /* "" unless curve */
    const char *service_clients;
    const char *admin_clients;
    ord_on_stock_failure_t on_stock_failure;
    const char *payment_plugin;
    int64_t payment_timeout_call_ms;
    const char *fulfilment_plugin;
    int64_t fulfilment_timeout_call_ms;
    int64_t reserve_ttl_ms;        /* fulfilment/reserve_ttl_ms, else payment_timeout_ms */
} ord_config_t;

/*  Loads `path` (NULL: defaults only) and applies each "PATH=VALUE" string
    of `overrides` (may be NULL). Returns 0 and a config the caller owns,
    or ORD_ECONFIG with a one-line reason in *why that names the key. */
int ord_config_load (const char *path, zlist_t *overrides, ord_config_t **config_p,
                     ord_why_t *why);
void ord_config_destroy (ord_config_t **self_p);

/*  The section of a plugin kind ("payment", "fulfilment"), or NULL. */
zconfig_t *ord_config_section (ord_config_t *self, const char *kind);

#endif
