/*  fsm: the order state machine of PROTOCOL.md §4.1 as one table. Pure:
    every other module asks it whether a transition is allowed. */
#ifndef ORD_FSM_H_INCLUDED
#define ORD_FSM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ORD_STATUS_NONE = 0,           /* before creation */
    ORD_STATUS_PENDING,
    ORD_STATUS_PAYMENT_INITIATED,
    ORD_STATUS_PAID,
    ORD_STATUS_CONFIRMED,
    ORD_STATUS_PROCESSING,
    ORD_STATUS_SHIPPED,
    ORD_STATUS_DELIVERED,
    ORD_STATUS_CANCELLED,
    ORD_STATUS_FAILED,
    ORD_STATUS_COUNT
} ord_status_t;

/*  What drives a transition. */
typedef enum {
    ORD_TRIGGER_CREATE,
    ORD_TRIGGER_INITIATE_PAYMENT,
    ORD_TRIGGER_CANCEL,            /* a user's cancel */
    ORD_TRIGGER_TIMEOUT,           /* the payment timeout reaper */
    ORD_TRIGGER_CONFIRM,           /* confirm saga: capture, reduce, or failure */
    ORD_TRIGGER_ADVANCE            /* admin advance */
} ord_trigger_t;

/*  The wire name of a status ("pending", ...); NULL for NONE or out of range. */
const char *ord_status_name (ord_status_t status);

/*  The status of a wire name, or ORD_STATUS_NONE when unknown. */
ord_status_t ord_status_parse (const char *name, size_t len);

/*  True if `trigger` may move an order from `from` to `to`. */
bool ord_fsm_allowed (ord_status_t from, ord_status_t to, ord_trigger_t trigger);

/*  True for delivered, cancelled and failed. */
bool ord_status_terminal (ord_status_t status);

/*  True while the order holds stock reservations (pending,
    payment_initiated). */
bool ord_status_holds_stock (ord_status_t status);

#endif
