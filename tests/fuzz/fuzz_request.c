/*  Fuzz target: a request body as the front reads it, then the create
    validator, then the order record round trip. */
#include "actor.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    msgpack_unpacked body;
    msgpack_unpacked_init (&body);
    ord_why_t why;
    if (ord_wire_decode (data, size, &body, &why) == 0) {
        const msgpack_object *map = &body.data;
        ord_str_t text;
        int64_t number;
        bool flag;
        ord_wire_str (map, "rid", false, 64, &text, &why);
        ord_wire_int (map, "v", true, INT64_MIN, INT64_MAX, &number, &why);
        ord_wire_str (map, "op", true, 64, &text, &why);
        ord_op_parse (text);
        ord_wire_str (map, "user_id", true, ORD_MAX_ID_LEN, &text, &why);
        ord_wire_bool (map, "history", &flag, &why);
        ord_wire_int (map, "limit", false, 1, 500, &number, &why);
        //  The deadline is read off the request as the front does
        ord_request_t *request = ord_request_new (ORD_DOOR_SERVICE);
        assert (request);
        if (ord_wire_decode (data, size, &request->body, &why) == 0)
            ord_request_take_deadline (request, 1700000000000, &why);
        ord_request_destroy (&request);
        uint8_t digest [ORD_DIGEST_SIZE];
        ord_wire_digest (map, digest);
        ord_order_t *order = NULL;
        if (ord_order_from_request (map, &order, &why) == 0) {
            snprintf (order->id, sizeof order->id, "o%016x", 1u);
            order->status = ORD_STATUS_PENDING;    //  as create stores it
            ord_order_t *copy = ord_order_dup (order);
            assert (copy);
            assert (copy->product_count == order->product_count);
            assert (copy->total_amount == order->total_amount);
            ord_order_destroy (&copy);
            ord_order_destroy (&order);
        }
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        ord_str_t rid = { "r", 1 };
        ord_reply_with_rid (data, size, rid, &buffer);
        msgpack_sbuffer_destroy (&buffer);
    }
    msgpack_unpacked_destroy (&body);
    return 0;
}
