/*  wire: the msgpack codec shared by the daemon, the tools and the adapter
    plugins. Decodes a request body into a map, reads typed fields with the
    validation messages clients see ("cart_data.products[2].quantity: must
    be from 1 to 10000"), packs replies, and digests a body for the
    idempotency check. */
#ifndef ORD_WIRE_H_INCLUDED
#define ORD_WIRE_H_INCLUDED

#include <inttypes.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "orderd/errors.h"
#include "fatal.h"

#define ORD_WIRE_VERSION     1
#define ORD_WIRE_MAX_DEPTH   16      /* nesting of maps and arrays in a body */
#define ORD_DIGEST_SIZE      20
/*  The most units of one sku a stock count holds, wherever it is set: the
    admin `stock` op, a stock file, an adapter's own `stock` op. */
#define ORD_STOCK_MAX        INT32_MAX

/*  A string inside a decoded body: not NUL-terminated, valid as long as the
    msgpack_unpacked it came from. */
typedef struct {
    const char *ptr;
    uint32_t len;
} ord_str_t;

/*  Why a request was refused: the message that goes back to the client. */
typedef struct {
    char text [256];
} ord_why_t;

void ord_why_set (ord_why_t *why, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
/*  Puts "prefix" in front of the current message ("cart_data." + ...). */
void ord_why_prefix (ord_why_t *why, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Decodes one msgpack map with string keys, nested at most
    ORD_WIRE_MAX_DEPTH deep, filling *unpacked (which the caller
    initialises with msgpack_unpacked_init and destroys; it points into
    `data`, which must outlive it). Errors: ORD_EBADREQ (not msgpack, a
    declared length past the end, trailing bytes, not a map, a non-string
    key, too deep, a string that is not UTF-8), with the reason in *why. */
int ord_wire_decode (const void *data, size_t size,
                     msgpack_unpacked *unpacked, ord_why_t *why);

/*  True for strict UTF-8: no overlong forms, no surrogates, nothing past
    U+10FFFF. */
bool ord_wire_utf8 (const void *data, size_t size);

/*  Walks `count` msgpack objects at `data` without allocating, checking
    that every declared length fits in what remains. Returns the offset just
    past them, or 0 when the bytes end first or are not msgpack. */
size_t ord_wire_skip (const void *data, size_t size, size_t count);

/*  One top-level entry of a packed map, looked up by ord_wire_peek. */
typedef struct {
    const char *key;               /* the key to look for */
    bool found;                    /* set when the map has it */
    msgpack_object value;          /* its value: a scalar in full (strings,
                                      bins and exts point into the bytes);
                                      a map or an array has its type and
                                      size only, ptr NULL */
} ord_wire_field_t;

/*  Looks up the `count` fields' keys among the top-level keys of the
    packed msgpack map at `data`, in place: nothing is decoded beyond the
    entries found and nothing is allocated. As with ord_wire_find, only
    string keys match and the first entry of a key counts. The whole map is
    walked, so every declared length is checked to fit. Returns the offset
    just past the map, or 0 when the bytes are not one msgpack map (another
    type, 0xc1, or bytes that end first); the fields are then not found. */
size_t ord_wire_peek (const void *data, size_t size, ord_wire_field_t *fields,
                      size_t count);

/*  The value of `key` in `map`, or NULL when absent. */
const msgpack_object *ord_wire_find (const msgpack_object *map, const char *key);

/*  Typed field readers. A field that is absent or nil is an error when
    `required`, else the reader returns 0 and leaves a default: NULL string,
    NULL object, *value untouched. All return 0 or ORD_EBADREQ with the
    field named in *why. Strings are refused when empty (if required),
    longer than max_len bytes, or holding a NUL byte. */
int ord_wire_str (const msgpack_object *map, const char *key, bool required,
                  size_t max_len, ord_str_t *value, ord_why_t *why);
int ord_wire_int (const msgpack_object *map, const char *key, bool required,
                  int64_t min, int64_t max, int64_t *value, ord_why_t *why);
int ord_wire_bool (const msgpack_object *map, const char *key, bool *value,
                   ord_why_t *why);
int ord_wire_map (const msgpack_object *map, const char *key, bool required,
                  const msgpack_object **value, ord_why_t *why);
int ord_wire_array (const msgpack_object *map, const char *key, bool required,
                    const msgpack_object **value, ord_why_t *why);

/*  A string helper set. */
bool ord_str_eq (ord_str_t str, const char *cstr);
/*  A malloc'd NUL-terminated copy (NULL for a NULL string); caller frees. */
char *ord_str_dup (ord_str_t str);
ord_str_t ord_str_of (const msgpack_object *object);   /* {NULL, 0} if not str */

/*  Packing helpers over msgpack-c's packer. */
void ord_pack_cstr (msgpack_packer *pk, const char *str);  /* nil if NULL */
void ord_pack_str (msgpack_packer *pk, ord_str_t str);     /* nil if NULL */
void ord_pack_kv_cstr (msgpack_packer *pk, const char *key, const char *value);
void ord_pack_kv_int (msgpack_packer *pk, const char *key, int64_t value);
void ord_pack_kv_bool (msgpack_packer *pk, const char *key, bool value);
/*  Appends bytes that are already msgpack (one whole object). */
void ord_pack_raw (msgpack_packer *pk, const void *data, size_t size);

/*  Starts a reply map {v: 1, rid, ok, ...}: `extra` more entries follow. */
void ord_reply_begin (msgpack_packer *pk, ord_str_t rid, bool ok, size_t extra);
/*  Starts an error reply {v, rid, ok: false, error: {code, message}, ...};
    `extra` more entries follow (an `order`, say). */
void ord_reply_error (msgpack_packer *pk, ord_str_t rid, int code,
                      const char *message, size_t extra);

/*  Copies a packed reply, replacing its top-level `rid` with `rid` (for an
    idempotent replay). Returns 0 or ORD_EBADREQ if `reply` is not a map. */
int ord_reply_with_rid (const void *reply, size_t size, ord_str_t rid,
                        msgpack_sbuffer *out);

/*  SHA-1 of the canonical form of a request map: top-level `rid`, `idem`
    and `deadline` left out, every map's keys sorted, so two bodies that
    differ only in key order or in those fields digest alike. */
void ord_wire_digest (const msgpack_object *map, uint8_t digest [ORD_DIGEST_SIZE]);

#endif
