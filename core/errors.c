/*  The ORD_E* codes and their wire names. */
#include <string.h>
#include "orderd/errors.h"

static const struct {
    int code;
    const char *wire;
    const char *text;
} s_errors [] = {
    { ORD_EBADREQ,      "bad_request",          "bad request" },
    { ORD_EVERSION,     "unsupported_version",  "unsupported protocol version" },
    { ORD_EUNKNOWNOP,   "unknown_op",           "unknown operation" },
    { ORD_ETOOLARGE,    "too_large",            "request body too large" },
    { ORD_ENOTFOUND,    "not_found",            "not found" },
    { ORD_EFORBIDDEN,   "forbidden",            "forbidden" },
    { ORD_EINVALID,     "invalid_transition",   "invalid transition" },
    { ORD_EIDEMPOTENCY, "idempotency_mismatch", "idempotency key reused with another body" },
    { ORD_EDECLINED,    "payment_declined",     "payment declined" },
    { ORD_ESTOCK,       "out_of_stock",         "out of stock" },
    { ORD_EUNAVAILABLE, "unavailable",          "adapter unavailable" },
    { ORD_EBUSY,        "busy",                 "busy, retry later" },
    { ORD_EINTERNAL,    "internal",             "internal error" },
    { ORD_ETIMEOUT,     "unavailable",          "adapter call timed out" },
    { ORD_ESTOREFULL,   "unavailable",          "store is full and its map cannot grow (map_size_max, or the disk)" },
    { ORD_ESTORE,       "internal",             "order store failure" },
    { ORD_ECONFIG,      "internal",             "bad configuration" },
    { ORD_EPLUGIN,      "internal",             "plugin refused" },
    { ORD_ESCHEMA,      "internal",             "data directory is not an orderd store of this version" },
    { ORD_EDEADLINE,    "deadline_exceeded",    "the request's deadline passed before it was taken up" },
    { ORD_EUNKNOWNPRODUCT, "unknown_product",   "no such product" },
};
#define S_NERRORS (sizeof (s_errors) / sizeof (s_errors [0]))
_Static_assert (S_NERRORS == ORD_EBASE - ORD_ELAST, "a row for every ORD_E* code");

const char *
ord_strerror (int code)
{
    if (code == 0)
        return "success";
    for (size_t i = 0; i < S_NERRORS; i++)
        if (s_errors [i].code == code)
            return s_errors [i].text;
    return code > 0? strerror (code): "unknown error";
}

const char *
ord_error_wire_code (int code)
{
    for (size_t i = 0; i < S_NERRORS; i++)
        if (s_errors [i].code == code)
            return s_errors [i].wire;
    return "internal";
}

int
ord_error_from_wire (const char *code, size_t len)
{
    //  First match wins, so the canonical code of a wire name is listed first
    for (size_t i = 0; i < S_NERRORS; i++)
        if (strlen (s_errors [i].wire) == len
        &&  memcmp (s_errors [i].wire, code, len) == 0)
            return s_errors [i].code;
    return ORD_EINTERNAL;
}
