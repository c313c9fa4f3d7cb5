/*  op: the table of operations, as Redis's command table: for each op its
    wire name, its flags and, for the ops the front answers itself, its
    handler. Everything that asks "is this op a write, admin-only, about
    one order?" asks here. Adding an op is adding a row (and, for a change,
    its case in the actor). */
#ifndef ORD_OP_H_INCLUDED
#define ORD_OP_H_INCLUDED

#include "wire.h"

typedef enum {
    ORD_OP_CREATE, ORD_OP_INITIATE, ORD_OP_CONFIRM, ORD_OP_CANCEL, ORD_OP_DELETE,
    ORD_OP_ADVANCE, ORD_OP_RETRY, ORD_OP_RESOLVE,
    ORD_OP_TIMEOUT,                /* internal: the payment timeout reaper */
    ORD_OP_DRIVE,                  /* internal: recovery and background retry */
    ORD_OP_GET, ORD_OP_LIST, ORD_OP_HEALTH, ORD_OP_STATS, ORD_OP_STOCK, ORD_OP_PAYMENT,
    ORD_OP_BACKUP,
    ORD_OP_COUNT
} ord_op_t;

//  Flags of an op
#define ORD_OPF_WRITE        0x01  /* changes an order; may carry `idem` */
#define ORD_OPF_ADMIN        0x02  /* admin door only */
#define ORD_OPF_NEEDS_ORDER  0x04  /* `order_id` is required */
#define ORD_OPF_INTERNAL     0x08  /* started by orderd itself; no wire name */
#define ORD_OPF_NEW_ORDER    0x10  /* the front validates the order and gives it its id */
#define ORD_OPF_USER         0x20  /* `user_id` is required on the admin door too */
#define ORD_OPF_ANONYMOUS    0x40  /* `user_id` is optional on the service door too */
#define ORD_OPF_BACKUP       0x80  /* run by the backup actor (backup.h), one at a time */

typedef struct _ord_request_t ord_request_t;
typedef struct _ord_reads_t ord_reads_t;

/*  A handler of an op answered on the front (see reads.h): packs the reply
    into `pk` and returns 0, or returns an error with the message in *why. */
typedef int (ord_read_fn) (ord_reads_t *reads, const ord_request_t *request,
                           msgpack_packer *pk, ord_why_t *why);

typedef struct {
    const char *name;              /* on the wire; "$..." for internal ops */
    unsigned flags;                /* ORD_OPF_* */
    ord_read_fn *read;             /* answered on the front; NULL: by an actor */
    const char *actor;             /* the actor that serves it, when not the
                                      order's own ("$stock": the stock op) */
} ord_op_spec_t;

/*  The row of `op` (which must be below ORD_OP_COUNT). */
const ord_op_spec_t *ord_op_spec (ord_op_t op);

/*  Whether `op` has every flag in `flags`. */
bool ord_op_is (ord_op_t op, unsigned flags);

/*  The wire name of an op ("unknown" past the table), and the op of a
    wire name (ORD_OP_COUNT if unknown or internal). */
const char *ord_op_name (ord_op_t op);
ord_op_t ord_op_parse (ord_str_t name);

#endif
