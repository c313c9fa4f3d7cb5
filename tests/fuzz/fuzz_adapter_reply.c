/*  Fuzz target: an adapter's reply as the plugin host reads it. */
#include "adapter.h"
#include "order.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    ord_why_t why;
    if (ord_wire_decode (data, size, &reply, &why) == 0) {
        ord_adapter_reply_status (&reply.data, &why);
        ord_str_t text;
        ord_wire_str (&reply.data, "rid", false, 64, &text, &why);
        ord_wire_str (&reply.data, "provider_order_id", true, ORD_MAX_TEXT_LEN, &text, &why);
        ord_wire_str (&reply.data, "capture_id", true, ORD_MAX_TEXT_LEN, &text, &why);
        int64_t number;
        ord_wire_int (&reply.data, "available", true, INT64_MIN, INT64_MAX, &number, &why);
    }
    msgpack_unpacked_destroy (&reply);
    //  Stored records are read with the same codec
    ord_order_t *order = NULL;
    if (ord_order_unpack (data, size, &order) == 0)
        ord_order_destroy (&order);
    ord_transition_t transition;
    ord_transition_unpack (data, size, &transition);
    return 0;
}
