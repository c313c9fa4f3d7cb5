/*  lifecycle: one order from cart to confirmed with the C client.

        cc lifecycle.c $(pkg-config --cflags --libs orderd-client) -o lifecycle
        ./lifecycle tcp://127.0.0.1:8791 sku-apple [CERT SERVER_KEY]

    CERT is our CURVE pair (from `ordermon keygen`), SERVER_KEY orderd's
    public key, when orderd runs with orderd/curve = 1. Prints the order id
    and its status; exit 0 when it is confirmed. */
#include <stdio.h>
#include <string.h>
#include <orderd/client.h>

static void
s_pack_str (msgpack_packer *pk, const char *text)
{
    msgpack_pack_str_with_body (pk, text, strlen (text));
}

//  Two apples at 150, shipping 500: total 800
static void
s_cart (ordc_body_t *body, const char *sku)
{
    ordc_body_str (body, "user_id", "u1");
    ordc_body_str (body, "cart_id", "c1");
    msgpack_packer *pk = ordc_body_value (body, "cart_data");
    msgpack_pack_map (pk, 3);
    s_pack_str (pk, "products");
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 4);
    s_pack_str (pk, "product_id");  s_pack_str (pk, "p1");
    s_pack_str (pk, "sku");         s_pack_str (pk, sku);
    s_pack_str (pk, "quantity");    msgpack_pack_int (pk, 2);
    s_pack_str (pk, "unit_price");  msgpack_pack_int (pk, 150);
    s_pack_str (pk, "shipping_address");
    msgpack_pack_map (pk, 1);
    s_pack_str (pk, "city");        s_pack_str (pk, "Lyon");
    s_pack_str (pk, "costs");
    msgpack_pack_map (pk, 3);
    s_pack_str (pk, "subtotal");    msgpack_pack_int (pk, 300);
    s_pack_str (pk, "shipping");    msgpack_pack_int (pk, 500);
    s_pack_str (pk, "total");       msgpack_pack_int (pk, 800);
}

//  One step; on a refusal says why and whether a retry could help
static int
s_step (ordc_client_t *client, const char *op, ordc_body_t *body, ordc_reply_t *reply)
{
    ordc_code_t code = ordc_call (client, op, body, NULL, reply);
    ordc_body_destroy (body);
    if (code != ORDC_OK)
        fprintf (stderr, "lifecycle: %s: %s: %s (%s)\n", op, reply->code_text, reply->message,
                 reply->retryable? "retryable": "final");
    return code == ORDC_OK? 0: -1;
}

int
main (int argc, char *argv [])
{
    if (argc != 3 && argc != 5) {
        fprintf (stderr, "usage: lifecycle ENDPOINT SKU [CERT SERVER_KEY]\n");
        return 2;
    }
    ordc_curve_t curve;
    char why [512];
    if (argc == 5 && ordc_curve_load (&curve, argv [3], argv [4], why, sizeof why)) {
        fprintf (stderr, "lifecycle: %s\n", why);
        return 2;
    }
    ordc_client_t *client = ordc_client_new (argv [1], argc == 5? &curve: NULL);
    if (!client) {
        fprintf (stderr, "lifecycle: cannot connect to %s\n", argv [1]);
        return 2;
    }
    ordc_reply_t reply;
    ordc_reply_init (&reply);
    ordc_body_t body;
    char order_id [32], provider [128], status [32];
    int rc = -1;
    ordc_body_init (&body);
    s_cart (&body, argv [2]);
    if (s_step (client, "create", &body, &reply))
        goto done;
    ordc_copy_str (reply.body, "order.id", order_id, sizeof order_id);
    ordc_body_init (&body);
    ordc_body_str (&body, "user_id", "u1");
    ordc_body_str (&body, "order_id", order_id);
    if (s_step (client, "initiate_payment", &body, &reply))
        goto done;
    ordc_copy_str (reply.body, "order.payment.provider_order_id", provider, sizeof provider);
    ordc_body_init (&body);
    ordc_body_str (&body, "user_id", "u1");
    ordc_body_str (&body, "order_id", order_id);
    ordc_body_str (&body, "provider_order_id", provider);
    if (s_step (client, "confirm", &body, &reply))
        goto done;
    ordc_copy_str (reply.body, "order.status", status, sizeof status);
    printf ("%s %s\n", order_id, status);
    rc = strcmp (status, "confirmed") == 0? 0: -1;
done:
    ordc_reply_reset (&reply);
    ordc_client_destroy (&client);
    return rc? 1: 0;
}
