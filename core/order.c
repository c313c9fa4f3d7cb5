/*  order: validation, record codec and transitions of one order. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "order.h"

static int
s_raw_from (const msgpack_object *object, ord_raw_t *raw)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    if (object)
        msgpack_pack_object (&pk, *object);
    else
        msgpack_pack_map (&pk, 0);
    raw->size = buffer.size;
    raw->data = msgpack_sbuffer_release (&buffer);
    return raw->data? 0: ORD_EINTERNAL;
}

static char *
s_dup (ord_str_t str)
{
    if (!str.ptr) {
        ord_str_t empty = { "", 0 };
        return ord_str_dup (empty);
    }
    return ord_str_dup (str);
}

static int
s_product_from (const msgpack_object *item, ord_product_t *product, ord_why_t *why)
{
    ord_str_t product_id, sku, name;
    int rc = ord_wire_str (item, "product_id", true, ORD_MAX_TEXT_LEN, &product_id, why);
    if (!rc)
        rc = ord_wire_str (item, "sku", true, ORD_MAX_TEXT_LEN, &sku, why);
    if (!rc)
        rc = ord_wire_str (item, "name", false, ORD_MAX_TEXT_LEN, &name, why);
    if (!rc)
        rc = ord_wire_int (item, "quantity", true, 1, ORD_MAX_QUANTITY, &product->quantity, why);
    if (!rc)
        rc = ord_wire_int (item, "unit_price", true, 0, ORD_MAX_MONEY, &product->unit_price, why);
    if (rc)
        return rc;
    product->product_id = s_dup (product_id);
    product->sku = s_dup (sku);
    product->name = s_dup (name);
    return product->product_id && product->sku && product->name? 0: ORD_EINTERNAL;
}

static int
s_costs_from (const msgpack_object *costs, ord_order_t *order, ord_why_t *why)
{
    order->shipping = order->tax = order->discount = 0;
    int rc = ord_wire_int (costs, "subtotal", true, 0, ORD_MAX_MONEY, &order->subtotal, why);
    if (!rc)
        rc = ord_wire_int (costs, "shipping", false, 0, ORD_MAX_MONEY, &order->shipping, why);
    if (!rc)
        rc = ord_wire_int (costs, "tax", false, 0, ORD_MAX_MONEY, &order->tax, why);
    if (!rc)
        rc = ord_wire_int (costs, "discount", false, 0, ORD_MAX_MONEY, &order->discount, why);
    if (!rc)
        rc = ord_wire_int (costs, "total", true, 0, ORD_MAX_MONEY, &order->total, why);
    if (rc)
        return rc;
    //  10^4 × 10^15 does not fit in int64: every step is checked
    int64_t sum = 0;
    for (size_t i = 0; i < order->product_count; i++) {
        int64_t line;
        if (__builtin_mul_overflow (order->products [i].quantity,
                                    order->products [i].unit_price, &line)
        ||  __builtin_add_overflow (sum, line, &sum) || sum > ORD_MAX_MONEY) {
            ord_why_set (why, "subtotal: the products add up to more than %lld",
                         (long long) ORD_MAX_MONEY);
            return ORD_EBADREQ;
        }
    }
    if (order->subtotal != sum) {
        ord_why_set (why, "subtotal: is %" PRId64 ", but the products add up to %" PRId64,
                     order->subtotal, sum);
        return ORD_EBADREQ;
    }
    int64_t total = order->subtotal + order->shipping + order->tax - order->discount;
    if (order->total != total) {
        ord_why_set (why, "total: is %" PRId64 ", but subtotal + shipping + tax - discount is %" PRId64,
                     order->total, total);
        return ORD_EBADREQ;
    }
    return 0;
}

static int
s_currency_from (const msgpack_object *request, char currency [4], ord_why_t *why)
{
    ord_str_t value;
    int rc = ord_wire_str (request, "currency", false, 3, &value, why);
    if (rc)
        return rc;
    if (!value.ptr) {
        strcpy (currency, "USD");
        return 0;
    }
    if (value.len != 3 || !isupper ((unsigned char) value.ptr [0])
    ||  !isupper ((unsigned char) value.ptr [1]) || !isupper ((unsigned char) value.ptr [2])) {
        ord_why_set (why, "currency: must be 3 upper-case letters (ISO 4217)");
        return ORD_EBADREQ;
    }
    memcpy (currency, value.ptr, 3);
    currency [3] = 0;
    return 0;
}

int
ord_order_from_request (const msgpack_object *request, ord_order_t **order_p,
                        ord_why_t *why)
{
    ord_order_t *order = (ord_order_t *) ord_calloc (1, sizeof *order);
    ord_str_t user_id, cart_id, delivery_mode;
    const msgpack_object *cart, *products, *shipping, *billing, *costs, *user_data;
    int rc = ord_wire_str (request, "user_id", true, ORD_MAX_ID_LEN, &user_id, why);
    if (!rc)
        rc = ord_wire_str (request, "cart_id", true, ORD_MAX_ID_LEN, &cart_id, why);
    if (!rc)
        rc = ord_wire_map (request, "cart_data", true, &cart, why);
    if (!rc)
        rc = ord_wire_map (request, "user_data", false, &user_data, why);
    if (!rc)
        rc = s_currency_from (request, order->currency, why);
    if (rc)
        goto fail;

    rc = ord_wire_array (cart, "products", true, &products, why);
    if (!rc && (products->via.array.size < 1 || products->via.array.size > ORD_MAX_PRODUCTS)) {
        ord_why_set (why, "products: must have from 1 to %d items", ORD_MAX_PRODUCTS);
        rc = ORD_EBADREQ;
    }
    if (!rc)
        rc = ord_wire_map (cart, "shipping_address", true, &shipping, why);
    if (!rc)
        rc = ord_wire_map (cart, "billing_address", false, &billing, why);
    if (!rc)
        rc = ord_wire_str (cart, "delivery_mode", false, ORD_MAX_TEXT_LEN, &delivery_mode, why);
    if (!rc)
        rc = ord_wire_map (cart, "costs", true, &costs, why);
    if (rc) {
        ord_why_prefix (why, "cart_data.");
        goto fail;
    }
    order->product_count = products->via.array.size;
    order->products = (ord_product_t *) ord_calloc (order->product_count, sizeof (ord_product_t));
    for (size_t i = 0; i < order->product_count; i++) {
        if (products->via.array.ptr [i].type != MSGPACK_OBJECT_MAP) {
            ord_why_set (why, "cart_data.products[%zu]: must be a map", i);
            rc = ORD_EBADREQ;
            goto fail;
        }
        rc = s_product_from (&products->via.array.ptr [i], &order->products [i], why);
        if (rc) {
            ord_why_prefix (why, "cart_data.products[%zu].", i);
            goto fail;
        }
    }
    rc = s_costs_from (costs, order, why);
    if (rc) {
        ord_why_prefix (why, "cart_data.costs.");
        goto fail;
    }
    int64_t total_amount = order->total;
    rc = ord_wire_int (request, "total_amount", false, 0, ORD_MAX_MONEY, &total_amount, why);
    if (!rc && total_amount != order->total) {
        ord_why_set (why, "total_amount: must equal cart_data.costs.total (%" PRId64 ")",
                     order->total);
        rc = ORD_EBADREQ;
    }
    if (rc)
        goto fail;
    order->total_amount = order->total;
    order->user_id = s_dup (user_id);
    order->cart_id = s_dup (cart_id);
    if (!delivery_mode.ptr) {
        delivery_mode.ptr = "standard";
        delivery_mode.len = 8;
    }
    order->delivery_mode = s_dup (delivery_mode);
    if (!order->user_id || !order->cart_id || !order->delivery_mode
    ||  s_raw_from (shipping, &order->shipping_address)
    ||  s_raw_from (billing? billing: shipping, &order->billing_address)
    ||  s_raw_from (user_data, &order->user_data)) {
        rc = ORD_EINTERNAL;
        goto fail;
    }
    *order_p = order;
    return 0;
fail:
    ord_order_destroy (&order);
    return rc;
}

void
ord_order_destroy (ord_order_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_order_t *self = *self_p;
    for (size_t i = 0; self->products && i < self->product_count; i++) {
        free (self->products [i].product_id);
        free (self->products [i].sku);
        free (self->products [i].name);
    }
    free (self->products);
    free (self->user_id);
    free (self->cart_id);
    free (self->delivery_mode);
    free (self->shipping_address.data);
    free (self->billing_address.data);
    free (self->user_data.data);
    free (self->payment_provider);
    free (self->provider_order_id);
    free (self->approval_url);
    free (self->capture_id);
    free (self);
    *self_p = NULL;
}

void
ord_order_set (char **field, const char *value)
{
    char *copy = value? ord_strdup (value): NULL;
    free (*field);
    *field = copy;
}

static void
s_pack_time (msgpack_packer *pk, const char *key, int64_t value)
{
    ord_pack_cstr (pk, key);
    if (value)
        msgpack_pack_int64 (pk, value);
    else
        msgpack_pack_nil (pk);
}

void
ord_order_pack (const ord_order_t *order, msgpack_packer *pk, bool record)
{
    msgpack_pack_map (pk, 15 + (record? 2: 0));
    if (record) {
        ord_pack_kv_int (pk, "rv", ORD_RECORD_VERSION);
        ord_pack_kv_int (pk, "timer_at", order->timer_at);
    }
    ord_pack_kv_cstr (pk, "id", order->id);
    ord_pack_kv_cstr (pk, "user_id", order->user_id);
    ord_pack_kv_cstr (pk, "cart_id", order->cart_id);
    ord_pack_kv_cstr (pk, "status", ord_status_name (order->status));
    ord_pack_kv_int (pk, "total_amount", order->total_amount);
    ord_pack_kv_cstr (pk, "currency", order->currency);

    ord_pack_cstr (pk, "order_data");
    msgpack_pack_map (pk, 5);
    ord_pack_cstr (pk, "products");
    msgpack_pack_array (pk, order->product_count);
    for (size_t i = 0; i < order->product_count; i++) {
        const ord_product_t *product = &order->products [i];
        msgpack_pack_map (pk, 5);
        ord_pack_kv_cstr (pk, "product_id", product->product_id);
        ord_pack_kv_cstr (pk, "sku", product->sku);
        ord_pack_kv_cstr (pk, "name", product->name);
        ord_pack_kv_int (pk, "quantity", product->quantity);
        ord_pack_kv_int (pk, "unit_price", product->unit_price);
    }
    ord_pack_cstr (pk, "shipping_address");
    ord_pack_raw (pk, order->shipping_address.data, order->shipping_address.size);
    ord_pack_cstr (pk, "billing_address");
    ord_pack_raw (pk, order->billing_address.data, order->billing_address.size);
    ord_pack_kv_cstr (pk, "delivery_mode", order->delivery_mode);
    ord_pack_cstr (pk, "costs");
    msgpack_pack_map (pk, 5);
    ord_pack_kv_int (pk, "subtotal", order->subtotal);
    ord_pack_kv_int (pk, "shipping", order->shipping);
    ord_pack_kv_int (pk, "tax", order->tax);
    ord_pack_kv_int (pk, "discount", order->discount);
    ord_pack_kv_int (pk, "total", order->total);

    ord_pack_cstr (pk, "user_data");
    ord_pack_raw (pk, order->user_data.data, order->user_data.size);
    ord_pack_kv_cstr (pk, "payment_id", order->provider_order_id);
    ord_pack_cstr (pk, "payment");
    if (order->provider_order_id) {
        msgpack_pack_map (pk, 4);
        ord_pack_kv_cstr (pk, "provider", order->payment_provider);
        ord_pack_kv_cstr (pk, "provider_order_id", order->provider_order_id);
        ord_pack_kv_cstr (pk, "approval_url", order->approval_url);
        ord_pack_kv_cstr (pk, "capture_id", order->capture_id);
    }
    else
        msgpack_pack_nil (pk);
    ord_pack_kv_bool (pk, "needs_review", order->needs_review);
    ord_pack_kv_int (pk, "version", order->version);
    s_pack_time (pk, "created_at", order->created_at);
    s_pack_time (pk, "updated_at", order->updated_at);
    s_pack_time (pk, "deleted_at", order->deleted_at);
}

//  Record decoding: the record was written by ord_order_pack, so any
//  deviation means corruption and the whole record is refused.
static int
s_record_str (const msgpack_object *map, const char *key, bool required, char **value)
{
    ord_why_t why;
    ord_str_t str;
    if (ord_wire_str (map, key, false, SIZE_MAX, &str, &why))
        return ORD_ESTORE;
    if (!str.ptr)
        return required? ORD_ESTORE: 0;     //  an empty string is fine
    *value = ord_str_dup (str);
    return *value? 0: ORD_ESTORE;
}

static int
s_record_int (const msgpack_object *map, const char *key, bool required, int64_t *value)
{
    ord_why_t why;
    *value = 0;
    return ord_wire_int (map, key, required, INT64_MIN, INT64_MAX, value, &why)? ORD_ESTORE: 0;
}

static int
s_record_raw (const msgpack_object *map, const char *key, ord_raw_t *raw)
{
    const msgpack_object *value = ord_wire_find (map, key);
    if (!value)
        return ORD_ESTORE;
    return s_raw_from (value, raw)? ORD_ESTORE: 0;
}

int
ord_order_unpack (const void *data, size_t size, ord_order_t **order_p)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_why_t why;
    ord_order_t *order = (ord_order_t *) ord_calloc (1, sizeof *order);
    int rc = ORD_ESTORE;
    if (ord_wire_decode (data, size, &unpacked, &why))
        goto fail;
    const msgpack_object *map = &unpacked.data;
    int64_t rv, number;
    char *text = NULL;
    if (s_record_int (map, "rv", true, &rv) || rv != ORD_RECORD_VERSION)
        goto fail;
    if (s_record_str (map, "id", true, &text) || strlen (text) != ORD_ORDER_ID_SIZE - 1) {
        free (text);
        goto fail;
    }
    memcpy (order->id, text, ORD_ORDER_ID_SIZE);
    free (text);
    text = NULL;
    //  No status: the order a create saga carries before it is stored
    if (s_record_str (map, "status", false, &text))
        goto fail;
    if (text) {
        order->status = ord_status_parse (text, strlen (text));
        free (text);
        text = NULL;
        if (order->status == ORD_STATUS_NONE)
            goto fail;
    }
    if (s_record_str (map, "currency", true, &text) || strlen (text) != 3) {
        free (text);
        goto fail;
    }
    memcpy (order->currency, text, 4);
    free (text);

    const msgpack_object *order_data = ord_wire_find (map, "order_data");
    const msgpack_object *products = ord_wire_find (order_data, "products");
    const msgpack_object *costs = ord_wire_find (order_data, "costs");
    if (!products || products->type != MSGPACK_OBJECT_ARRAY || !costs)
        goto fail;
    order->product_count = products->via.array.size;
    order->products = (ord_product_t *) ord_calloc (order->product_count + 1, sizeof (ord_product_t));
    for (size_t i = 0; i < order->product_count; i++) {
        const msgpack_object *item = &products->via.array.ptr [i];
        ord_product_t *product = &order->products [i];
        if (s_record_str (item, "product_id", true, &product->product_id)
        ||  s_record_str (item, "sku", true, &product->sku)
        ||  s_record_str (item, "name", true, &product->name)
        ||  s_record_int (item, "quantity", true, &product->quantity)
        ||  s_record_int (item, "unit_price", true, &product->unit_price))
            goto fail;
    }
    const msgpack_object *payment = ord_wire_find (map, "payment");
    if (payment && payment->type == MSGPACK_OBJECT_MAP) {
        if (s_record_str (payment, "provider", true, &order->payment_provider)
        ||  s_record_str (payment, "provider_order_id", true, &order->provider_order_id)
        ||  s_record_str (payment, "approval_url", false, &order->approval_url)
        ||  s_record_str (payment, "capture_id", false, &order->capture_id))
            goto fail;
    }
    bool needs_review = false;
    if (s_record_str (map, "user_id", true, &order->user_id)
    ||  s_record_str (map, "cart_id", true, &order->cart_id)
    ||  s_record_int (map, "total_amount", true, &order->total_amount)
    ||  s_record_str (order_data, "delivery_mode", true, &order->delivery_mode)
    ||  s_record_raw (order_data, "shipping_address", &order->shipping_address)
    ||  s_record_raw (order_data, "billing_address", &order->billing_address)
    ||  s_record_raw (map, "user_data", &order->user_data)
    ||  s_record_int (costs, "subtotal", true, &order->subtotal)
    ||  s_record_int (costs, "shipping", true, &order->shipping)
    ||  s_record_int (costs, "tax", true, &order->tax)
    ||  s_record_int (costs, "discount", true, &order->discount)
    ||  s_record_int (costs, "total", true, &order->total)
    ||  ord_wire_bool (map, "needs_review", &needs_review, &why)
    ||  s_record_int (map, "version", true, &number)
    ||  s_record_int (map, "created_at", false, &order->created_at)
    ||  s_record_int (map, "updated_at", false, &order->updated_at)
    ||  s_record_int (map, "deleted_at", false, &order->deleted_at)
    ||  s_record_int (map, "timer_at", true, &order->timer_at))
        goto fail;
    order->needs_review = needs_review;
    order->version = (uint32_t) number;
    msgpack_unpacked_destroy (&unpacked);
    *order_p = order;
    return 0;
fail:
    msgpack_unpacked_destroy (&unpacked);
    ord_order_destroy (&order);
    return rc;
}

int
ord_order_pack_from_record (const void *record, size_t size, msgpack_packer *pk)
{
    //  ord_order_pack wrote a map16 of 17 entries starting with rv and
    //  timer_at; the 15 after them are the wire form
    const uint8_t *bytes = (const uint8_t *) record;
    if (size < 6 || bytes [0] != 0xde || bytes [1] != 0 || bytes [2] != 17
    ||  bytes [3] != 0xa2 || bytes [4] != 'r' || bytes [5] != 'v')
        return ORD_ESTORE;
    size_t skipped = ord_wire_skip (bytes + 3, size - 3, 4);
    if (!skipped)
        return ORD_ESTORE;
    msgpack_pack_map (pk, 15);
    ord_pack_raw (pk, bytes + 3 + skipped, size - 3 - skipped);
    return 0;
}

int
ord_order_peek (const void *record, size_t size, ord_str_t *user_id, bool *deleted)
{
    ord_wire_field_t fields [2] = { { .key = "user_id" }, { .key = "deleted_at" } };
    if (!ord_wire_peek (record, size, fields, 2))
        return ORD_ESTORE;
    *user_id = ord_str_of (fields [0].found? &fields [0].value: NULL);
    *deleted = fields [1].found && fields [1].value.type != MSGPACK_OBJECT_NIL;
    return 0;
}

ord_order_t *
ord_order_dup (const ord_order_t *order)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    ord_order_pack (order, &pk, true);
    ord_order_t *copy = NULL;
    if (ord_order_unpack (buffer.data, buffer.size, &copy))
        copy = NULL;
    msgpack_sbuffer_destroy (&buffer);
    return copy;
}

int
ord_order_transition (ord_order_t *order, ord_status_t to, ord_trigger_t trigger,
                      int64_t now, const char *reason, ord_transition_t *transition)
{
    if (!ord_fsm_allowed (order->status, to, trigger))
        return ORD_EINVALID;
    transition->from = order->status;
    transition->to = to;
    transition->at = now;
    transition->seq = order->version + 1;
    snprintf (transition->reason, sizeof transition->reason, "%s", reason? reason: "");
    order->status = to;
    order->version++;
    order->updated_at = now;
    if (trigger == ORD_TRIGGER_CREATE)
        order->created_at = now;
    return 0;
}

void
ord_transition_pack (const ord_transition_t *transition, const ord_order_t *order,
                     msgpack_packer *pk)
{
    msgpack_pack_map (pk, 5 + (order? 2: 0));
    if (order) {
        ord_pack_kv_cstr (pk, "order_id", order->id);
        ord_pack_kv_cstr (pk, "user_id", order->user_id);
    }
    ord_pack_kv_int (pk, "seq", transition->seq);
    ord_pack_kv_cstr (pk, "from", ord_status_name (transition->from));
    ord_pack_kv_cstr (pk, "to", ord_status_name (transition->to));
    ord_pack_kv_int (pk, "at", transition->at);
    ord_pack_kv_cstr (pk, "reason", transition->reason);
}

int
ord_transition_unpack (const void *data, size_t size, ord_transition_t *transition)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_why_t why;
    int rc = ORD_ESTORE;
    ord_str_t from, to, reason;
    int64_t seq = 0;
    if (ord_wire_decode (data, size, &unpacked, &why)
    ||  ord_wire_int (&unpacked.data, "seq", true, 1, UINT32_MAX, &seq, &why)
    ||  ord_wire_str (&unpacked.data, "from", false, 64, &from, &why)
    ||  ord_wire_str (&unpacked.data, "to", true, 64, &to, &why)
    ||  ord_wire_int (&unpacked.data, "at", true, 0, INT64_MAX, &transition->at, &why)
    ||  ord_wire_str (&unpacked.data, "reason", false, ORD_MAX_TEXT_LEN, &reason, &why))
        goto done;
    transition->seq = (uint32_t) seq;
    transition->from = from.ptr? ord_status_parse (from.ptr, from.len): ORD_STATUS_NONE;
    transition->to = ord_status_parse (to.ptr, to.len);
    snprintf (transition->reason, sizeof transition->reason, "%.*s",
              (int) reason.len, reason.ptr? reason.ptr: "");
    rc = transition->to == ORD_STATUS_NONE? ORD_ESTORE: 0;
done:
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}
