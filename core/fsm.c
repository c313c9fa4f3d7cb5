/*  fsm: the transition table. */
#include <string.h>
#include "fsm.h"

static const char *s_names [] = {
    NULL, "pending", "payment_initiated", "paid", "confirmed", "processing",
    "shipped", "delivered", "cancelled", "failed"
};
_Static_assert (sizeof s_names / sizeof s_names [0] == ORD_STATUS_COUNT,
                "a name for every order status");

static const struct {
    ord_status_t from;
    ord_status_t to;
    ord_trigger_t trigger;
} s_transitions [] = {
    { ORD_STATUS_NONE,              ORD_STATUS_PENDING,           ORD_TRIGGER_CREATE },
    { ORD_STATUS_PENDING,           ORD_STATUS_PAYMENT_INITIATED, ORD_TRIGGER_INITIATE_PAYMENT },
    { ORD_STATUS_PENDING,           ORD_STATUS_CANCELLED,         ORD_TRIGGER_CANCEL },
    { ORD_STATUS_PENDING,           ORD_STATUS_CANCELLED,         ORD_TRIGGER_TIMEOUT },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_CANCELLED,         ORD_TRIGGER_CANCEL },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_CANCELLED,         ORD_TRIGGER_TIMEOUT },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_PAID,              ORD_TRIGGER_CONFIRM },
    { ORD_STATUS_PAYMENT_INITIATED, ORD_STATUS_FAILED,            ORD_TRIGGER_CONFIRM },
    { ORD_STATUS_PAID,              ORD_STATUS_CONFIRMED,         ORD_TRIGGER_CONFIRM },
    { ORD_STATUS_PAID,              ORD_STATUS_FAILED,            ORD_TRIGGER_CONFIRM },
    { ORD_STATUS_CONFIRMED,         ORD_STATUS_PROCESSING,        ORD_TRIGGER_ADVANCE },
    { ORD_STATUS_PROCESSING,        ORD_STATUS_SHIPPED,           ORD_TRIGGER_ADVANCE },
    { ORD_STATUS_SHIPPED,           ORD_STATUS_DELIVERED,         ORD_TRIGGER_ADVANCE },
};

const char *
ord_status_name (ord_status_t status)
{
    return status > ORD_STATUS_NONE && status < ORD_STATUS_COUNT? s_names [status]: NULL;
}

ord_status_t
ord_status_parse (const char *name, size_t len)
{
    for (int status = ORD_STATUS_PENDING; status < ORD_STATUS_COUNT; status++)
        if (strlen (s_names [status]) == len && memcmp (s_names [status], name, len) == 0)
            return (ord_status_t) status;
    return ORD_STATUS_NONE;
}

bool
ord_fsm_allowed (ord_status_t from, ord_status_t to, ord_trigger_t trigger)
{
    for (size_t i = 0; i < sizeof s_transitions / sizeof s_transitions [0]; i++)
        if (s_transitions [i].from == from
        &&  s_transitions [i].to == to
        &&  s_transitions [i].trigger == trigger)
            return true;
    return false;
}

bool
ord_status_terminal (ord_status_t status)
{
    return status == ORD_STATUS_DELIVERED
        || status == ORD_STATUS_CANCELLED
        || status == ORD_STATUS_FAILED;
}

bool
ord_status_holds_stock (ord_status_t status)
{
    return status == ORD_STATUS_PENDING || status == ORD_STATUS_PAYMENT_INITIATED;
}
