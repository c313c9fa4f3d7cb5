/*  orderd error contract, in the style of lmdb.h: every function that can
    fail returns 0 or one ORD_E* code from this private range, and
    ord_strerror() describes it. Each code that can reach a client maps to
    one wire code of docs/PROTOCOL.md (ord_error_wire_code). */
#ifndef ORDERD_ERRORS_H_INCLUDED
#define ORDERD_ERRORS_H_INCLUDED

#define ORD_EBASE           (-32100)
#define ORD_EBADREQ         (ORD_EBASE - 1)   /* bad_request */
#define ORD_EVERSION        (ORD_EBASE - 2)   /* unsupported_version */
#define ORD_EUNKNOWNOP      (ORD_EBASE - 3)   /* unknown_op */
#define ORD_ETOOLARGE       (ORD_EBASE - 4)   /* too_large */
#define ORD_ENOTFOUND       (ORD_EBASE - 5)   /* not_found */
#define ORD_EFORBIDDEN      (ORD_EBASE - 6)   /* forbidden */
#define ORD_EINVALID        (ORD_EBASE - 7)   /* invalid_transition */
#define ORD_EIDEMPOTENCY    (ORD_EBASE - 8)   /* idempotency_mismatch */
#define ORD_EDECLINED       (ORD_EBASE - 9)   /* payment_declined */
#define ORD_ESTOCK          (ORD_EBASE - 10)  /* out_of_stock */
#define ORD_EUNAVAILABLE    (ORD_EBASE - 11)  /* unavailable */
#define ORD_EBUSY           (ORD_EBASE - 12)  /* busy */
#define ORD_EINTERNAL       (ORD_EBASE - 13)  /* internal */
#define ORD_ETIMEOUT        (ORD_EBASE - 14)  /* an adapter call timed out: unavailable */
#define ORD_ESTOREFULL      (ORD_EBASE - 15)  /* LMDB map full: unavailable */
#define ORD_ESTORE          (ORD_EBASE - 16)  /* any other store failure: internal */
#define ORD_ECONFIG         (ORD_EBASE - 17)  /* bad configuration */
#define ORD_EPLUGIN         (ORD_EBASE - 18)  /* plugin refused at load */
#define ORD_ESCHEMA         (ORD_EBASE - 19)  /* data directory not ours / other version */
#define ORD_EDEADLINE       (ORD_EBASE - 20)  /* deadline_exceeded */
#define ORD_EUNKNOWNPRODUCT (ORD_EBASE - 21)  /* unknown_product */
#define ORD_ELAST           (ORD_EBASE - 21)

/*  A short description of any ORD_E* code (or errno-style value). */
const char *ord_strerror (int code);

/*  The wire code of docs/PROTOCOL.md for an ORD_E* code ("internal" for codes
    that have no wire meaning). */
const char *ord_error_wire_code (int code);

/*  The ORD_E* code of a wire code string, or ORD_EINTERNAL if unknown. */
int ord_error_from_wire (const char *code, size_t len);

#endif
