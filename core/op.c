/*  op: the table of operations. */
#include "op.h"
#include "reads.h"
#include "stats.h"

#define W   ORD_OPF_WRITE
#define A   ORD_OPF_ADMIN
#define O   ORD_OPF_NEEDS_ORDER

static const ord_op_spec_t s_ops [] = {
    [ORD_OP_CREATE]   = { "create",           W | ORD_OPF_NEW_ORDER | ORD_OPF_USER, NULL, NULL },
    [ORD_OP_INITIATE] = { "initiate_payment", W | O,         NULL, NULL },
    [ORD_OP_CONFIRM]  = { "confirm",          W | O,         NULL, NULL },
    [ORD_OP_CANCEL]   = { "cancel",           W | O,         NULL, NULL },
    [ORD_OP_DELETE]   = { "delete",           W | O,         NULL, NULL },
    [ORD_OP_ADVANCE]  = { "advance",          W | O | A,     NULL, NULL },
    [ORD_OP_RETRY]    = { "retry",            W | O | A,     NULL, NULL },
    [ORD_OP_RESOLVE]  = { "resolve",          W | O | A,     NULL, NULL },
    [ORD_OP_TIMEOUT]  = { "$timeout",         O | ORD_OPF_INTERNAL, NULL, NULL },
    [ORD_OP_DRIVE]    = { "$drive",           O | ORD_OPF_INTERNAL, NULL, NULL },
    [ORD_OP_GET]      = { "get",              O,             ord_reads_get, NULL },
    [ORD_OP_LIST]     = { "list",             0,             ord_reads_list, NULL },
    [ORD_OP_HEALTH]   = { "health",           ORD_OPF_ANONYMOUS, ord_reads_health, NULL },
    [ORD_OP_STATS]    = { "stats",            A,             ord_reads_stats, NULL },
    [ORD_OP_STOCK]    = { "stock",            A,             NULL, "$stock" },
    [ORD_OP_PAYMENT]  = { "payment",          O | A,         NULL, NULL },
    [ORD_OP_BACKUP]   = { "backup",           A | ORD_OPF_BACKUP, NULL, NULL },
};

_Static_assert (sizeof s_ops / sizeof s_ops [0] == ORD_OP_COUNT,
                "every op has its row in the op table");
_Static_assert (ORD_OP_COUNT <= ORD_STATS_OPS, "stats keeps a histogram for every op");

const ord_op_spec_t *
ord_op_spec (ord_op_t op)
{
    ord_assert ((unsigned) op < ORD_OP_COUNT);
    return &s_ops [op];
}

bool
ord_op_is (ord_op_t op, unsigned flags)
{
    return (ord_op_spec (op)->flags & flags) == flags;
}

const char *
ord_op_name (ord_op_t op)
{
    return (unsigned) op < ORD_OP_COUNT? s_ops [op].name: "unknown";
}

ord_op_t
ord_op_parse (ord_str_t name)
{
    for (int op = 0; op < ORD_OP_COUNT; op++)
        if (!(s_ops [op].flags & ORD_OPF_INTERNAL) && ord_str_eq (name, s_ops [op].name))
            return (ord_op_t) op;
    return ORD_OP_COUNT;
}
