/*  order: the order record of docs/PROTOCOL.md §4, its validation from a
    `create` request (§4.5), its msgpack form (the same map on the wire and in
    the store, where it also carries its record version `rv`), and its
    transitions. */
#ifndef ORD_ORDER_H_INCLUDED
#define ORD_ORDER_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include "fsm.h"
#include "wire.h"

#define ORD_ORDER_ID_SIZE     18       /* "o" + 16 hex digits + NUL */
#define ORD_RECORD_VERSION    1
#define ORD_MAX_PRODUCTS      500
#define ORD_MAX_QUANTITY      10000
#define ORD_MAX_ID_LEN        128      /* user_id, cart_id */
#define ORD_MAX_TEXT_LEN      1024     /* product fields, reasons, notes */
#define ORD_MAX_MONEY         1000000000000000LL   /* 10^15 minor units */

typedef struct {
    char *product_id;
    char *sku;
    char *name;
    int64_t quantity;
    int64_t unit_price;
} ord_product_t;

/*  Pre-encoded msgpack, kept as the client sent it (addresses, user_data). */
typedef struct {
    char *data;
    size_t size;
} ord_raw_t;

typedef struct {
    char id [ORD_ORDER_ID_SIZE];
    char *user_id;
    char *cart_id;
    ord_status_t status;
    int64_t total_amount;
    char currency [4];
    size_t product_count;
    ord_product_t *products;
    ord_raw_t shipping_address;
    ord_raw_t billing_address;
    char *delivery_mode;
    int64_t subtotal, shipping, tax, discount, total;
    ord_raw_t user_data;
    char *payment_provider;        /* NULL until payment is initiated */
    char *provider_order_id;
    char *approval_url;
    char *capture_id;              /* NULL until captured */
    bool needs_review;
    uint32_t version;              /* number of transitions so far */
    int64_t created_at, updated_at, deleted_at;   /* deleted_at 0: nil */
    int64_t timer_at;              /* payment timeout deadline, 0: none;
                                      kept in the record, not on the wire */
} ord_order_t;

/*  One history entry: also the body of an event. */
typedef struct {
    uint32_t seq;
    ord_status_t from;             /* NONE for the creation */
    ord_status_t to;
    int64_t at;
    char reason [ORD_MAX_TEXT_LEN + 1];
} ord_transition_t;

/*  Validates a `create` request (PROTOCOL.md §4.5) and builds an order from
    it, with no id, status or times yet. Returns 0 and a new order the
    caller owns, or ORD_EBADREQ with the offending field named in *why. */
int ord_order_from_request (const msgpack_object *request, ord_order_t **order_p,
                            ord_why_t *why);

/*  Decodes a stored record. Returns 0 and a new order the caller owns, or
    ORD_ESTORE if the bytes are not an order record of a version we read. */
int ord_order_unpack (const void *data, size_t size, ord_order_t **order_p);

/*  Packs the order map; with `record`, also the record version (store form). */
void ord_order_pack (const ord_order_t *order, msgpack_packer *pk, bool record);

/*  Packs the wire form of an order straight from its stored record,
    without decoding it (the record is the wire map with its record-only
    entries first). Returns 0 or ORD_ESTORE for a record of another layout. */
int ord_order_pack_from_record (const void *record, size_t size, msgpack_packer *pk);

/*  Reads a stored record's owner and deletion mark in place, without
    decoding the record or allocating: *user_id points into `record`
    ({NULL, 0} when it has none or not as a string), *deleted is true when
    it has a deleted_at that is not nil. Returns 0, or ORD_ESTORE when the
    bytes are not one whole msgpack map. */
int ord_order_peek (const void *record, size_t size, ord_str_t *user_id, bool *deleted);

/*  A deep copy, or NULL when out of memory. */
ord_order_t *ord_order_dup (const ord_order_t *order);

void ord_order_destroy (ord_order_t **self_p);

/*  Replaces a string field with a copy of `value` (NULL clears it). */
void ord_order_set (char **field, const char *value);

/*  Moves the order to `to` if the state machine allows it for `trigger`,
    bumping version and updated_at, and describes the move in *transition.
    Returns 0 or ORD_EINVALID (the order is then unchanged). */
int ord_order_transition (ord_order_t *order, ord_status_t to,
                          ord_trigger_t trigger, int64_t now,
                          const char *reason, ord_transition_t *transition);

/*  Packs a history entry {seq, from, to, at, reason}; with the order given,
    the event form that also has order_id and user_id. */
void ord_transition_pack (const ord_transition_t *transition,
                          const ord_order_t *order, msgpack_packer *pk);

/*  Decodes a history entry. Returns 0 or ORD_ESTORE. */
int ord_transition_unpack (const void *data, size_t size, ord_transition_t *transition);

#endif
