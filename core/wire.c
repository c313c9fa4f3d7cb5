/*  wire: msgpack decoding, typed field reading, reply packing, digests. */
#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wire.h"

void
ord_why_set (ord_why_t *why, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (why->text, sizeof why->text, format, args);
    va_end (args);
}

void
ord_why_prefix (ord_why_t *why, const char *format, ...)
{
    char prefix [sizeof why->text];
    va_list args;
    va_start (args, format);
    vsnprintf (prefix, sizeof prefix, format, args);
    va_end (args);
    size_t prefix_len = strlen (prefix);
    size_t text_len = strlen (why->text);
    if (prefix_len + text_len >= sizeof why->text)
        text_len = sizeof why->text - 1 - prefix_len;
    memmove (why->text + prefix_len, why->text, text_len);
    memcpy (why->text, prefix, prefix_len);
    why->text [prefix_len + text_len] = 0;
}

bool
ord_wire_utf8 (const void *data, size_t size)
{
    const uint8_t *text = (const uint8_t *) data;
    size_t at = 0;
    while (at < size) {
        uint8_t byte = text [at];
        if (byte < 0x80) {
            at++;
            continue;
        }
        size_t length;
        uint32_t code, minimum;
        if ((byte & 0xe0) == 0xc0)      { length = 2; code = byte & 0x1f; minimum = 0x80; }
        else if ((byte & 0xf0) == 0xe0) { length = 3; code = byte & 0x0f; minimum = 0x800; }
        else if ((byte & 0xf8) == 0xf0) { length = 4; code = byte & 0x07; minimum = 0x10000; }
        else
            return false;
        if (size - at < length)
            return false;
        for (size_t i = 1; i < length; i++) {
            if ((text [at + i] & 0xc0) != 0x80)
                return false;
            code = (code << 6) | (text [at + i] & 0x3f);
        }
        if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
            return false;
        at += length;
    }
    return true;
}

typedef enum { S_TREE_OK, S_TREE_DEEP, S_TREE_UTF8 } s_tree_t;

//  Checks nesting depth and that every string (keys too) is UTF-8, as the
//  msgpack str type requires: bytes belong in bin. A bad string is named
//  by its path in *why ("cart_data.products[0].name: ...").
static s_tree_t
s_tree_check (const msgpack_object *object, int depth, ord_why_t *why)
{
    if (depth > ORD_WIRE_MAX_DEPTH)
        return S_TREE_DEEP;
    s_tree_t result = S_TREE_OK;
    if (object->type == MSGPACK_OBJECT_STR) {
        if (!ord_wire_utf8 (object->via.str.ptr, object->via.str.size)) {
            ord_why_set (why, ": not valid UTF-8 (send bytes as bin)");
            return S_TREE_UTF8;
        }
    }
    else
    if (object->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; result == S_TREE_OK && i < object->via.array.size; i++) {
            result = s_tree_check (&object->via.array.ptr [i], depth + 1, why);
            if (result == S_TREE_UTF8)
                ord_why_prefix (why, "[%u]", i);
        }
    }
    else
    if (object->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; result == S_TREE_OK && i < object->via.map.size; i++) {
            const msgpack_object_kv *kv = &object->via.map.ptr [i];
            result = s_tree_check (&kv->key, depth + 1, why);
            if (result == S_TREE_OK)
                result = s_tree_check (&kv->val, depth + 1, why);
            if (result == S_TREE_UTF8) {
                ord_str_t key = ord_str_of (&kv->key);
                bool printable = key.ptr && ord_wire_utf8 (key.ptr, key.len)
                              && !memchr (key.ptr, 0, key.len);
                ord_why_prefix (why, "%s%.*s", depth? ".": "", printable? (int) key.len: 5,
                                printable? key.ptr: "(key)");
            }
        }
    }
    return result;
}

static uint64_t
s_be (const uint8_t *at, int bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++)
        value = (value << 8) | at [i];
    return value;
}

//  Where one packed object lies: its type, how many bytes its type byte
//  and length take, how many bytes follow them (a string's, a number's, an
//  ext's type and data), and how many objects follow as its elements.
typedef struct {
    msgpack_object_type type;
    size_t head;
    size_t body;
    uint64_t children;              //  a map's keys and values, an array's items
} s_span_t;

//  Lays out the packed object at data [at] (its elements are not looked
//  at): the one table of msgpack's formats here. False when its head or
//  body does not fit in the `size` bytes, or at 0xc1, the one byte msgpack
//  never uses. Inlined: the walks call it for every object.
static inline __attribute__ ((always_inline)) bool
s_span (const uint8_t *data, size_t size, size_t at, s_span_t *span)
{
    if (at >= size)
        return false;
    uint8_t type = data [at];
    size_t length_bytes = 0;        //  a big-endian length of this many bytes
    span->head = 1;
    span->body = 0;
    span->children = 0;
    //  Short strings first: keys are, and most values
    if ((type & 0xe0) == 0xa0) {
        span->type = MSGPACK_OBJECT_STR;
        span->body = type & 0x1f;
    }
    else
    if (type <= 0x7f)
        span->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    else
    if (type >= 0xe0)
        span->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    else
    if (type <= 0x8f) {
        span->type = MSGPACK_OBJECT_MAP;
        span->children = 2 * (uint64_t) (type & 0x0f);
    }
    else
    if (type <= 0x9f) {
        span->type = MSGPACK_OBJECT_ARRAY;
        span->children = type & 0x0f;
    }
    else
    switch (type) {
        case 0xc0: span->type = MSGPACK_OBJECT_NIL; break;
        case 0xc2: case 0xc3: span->type = MSGPACK_OBJECT_BOOLEAN; break;
        case 0xc4: case 0xc5: case 0xc6:
            span->type = MSGPACK_OBJECT_BIN;
            length_bytes = (size_t) 1 << (type - 0xc4);
            break;
        case 0xc7: case 0xc8: case 0xc9:                     //  length, ext type, data
            span->type = MSGPACK_OBJECT_EXT;
            length_bytes = (size_t) 1 << (type - 0xc7);
            span->body = 1;
            break;
        case 0xca: span->type = MSGPACK_OBJECT_FLOAT32; span->body = 4; break;
        case 0xcb: span->type = MSGPACK_OBJECT_FLOAT64; span->body = 8; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            span->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            span->body = (size_t) 1 << (type - 0xcc);
            break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
            span->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;    //  s_object says if it is
            span->body = (size_t) 1 << (type - 0xd0);
            break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:  //  ext type, data
            span->type = MSGPACK_OBJECT_EXT;
            span->body = 1 + ((size_t) 1 << (type - 0xd4));
            break;
        case 0xd9: case 0xda: case 0xdb:
            span->type = MSGPACK_OBJECT_STR;
            length_bytes = (size_t) 1 << (type - 0xd9);
            break;
        case 0xdc: case 0xdd:
            span->type = MSGPACK_OBJECT_ARRAY;
            length_bytes = type == 0xdc? 2: 4;
            break;
        case 0xde: case 0xdf:
            span->type = MSGPACK_OBJECT_MAP;
            length_bytes = type == 0xde? 2: 4;
            break;
        default:
            return false;           //  0xc1
    }
    if (length_bytes) {
        if (size - at - 1 < length_bytes)
            return false;
        uint64_t length = s_be (data + at + 1, (int) length_bytes);
        span->head += length_bytes;
        if (span->type == MSGPACK_OBJECT_MAP)
            span->children = 2 * length;
        else
        if (span->type == MSGPACK_OBJECT_ARRAY)
            span->children = length;
        else
            span->body += length;
    }
    return span->body <= size - at - span->head;
}

//  The packed object at data [at], laid out by s_span: a scalar in full
//  (strings, bins and exts point into the bytes), a map or an array with
//  its type and size only, ptr NULL.
static void
s_object (const uint8_t *data, size_t at, const s_span_t *span, msgpack_object *object)
{
    const uint8_t *body = data + at + span->head;
    memset (object, 0, sizeof *object);
    object->type = span->type;
    switch (span->type) {
        case MSGPACK_OBJECT_MAP:
            object->via.map.size = (uint32_t) (span->children / 2);
            break;
        case MSGPACK_OBJECT_ARRAY:
            object->via.array.size = (uint32_t) span->children;
            break;
        case MSGPACK_OBJECT_STR:
        case MSGPACK_OBJECT_BIN:            //  via.str and via.bin are alike
            object->via.str.ptr = (const char *) body;
            object->via.str.size = (uint32_t) span->body;
            break;
        case MSGPACK_OBJECT_EXT:
            object->via.ext.type = (int8_t) body [0];
            object->via.ext.ptr = (const char *) body + 1;
            object->via.ext.size = (uint32_t) (span->body - 1);
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            object->via.boolean = data [at] == 0xc3;
            break;
        case MSGPACK_OBJECT_FLOAT32: {
            uint32_t bits = (uint32_t) s_be (body, 4);
            float value;
            memcpy (&value, &bits, sizeof value);
            object->via.f64 = value;
            break;
        }
        case MSGPACK_OBJECT_FLOAT64: {
            uint64_t bits = s_be (body, 8);
            memcpy (&object->via.f64, &bits, sizeof bits);
            break;
        }
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            object->via.u64 = span->body? s_be (body, (int) span->body): data [at];
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: {
            //  A negative fixint, or an int8..int64 sign-extended: msgpack-c
            //  calls one that is not negative positive
            uint64_t bits = span->body? s_be (body, (int) span->body): data [at];
            size_t bytes = span->body? span->body: 1;
            int64_t value = bytes == 1? (int8_t) bits: bytes == 2? (int16_t) bits:
                            bytes == 4? (int32_t) bits: (int64_t) bits;
            if (value >= 0) {
                object->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
                object->via.u64 = (uint64_t) value;
            }
            else
                object->via.i64 = value;
            break;
        }
        default:
            break;                  //  nil
    }
}

//  Walks `count` objects without allocating, checking that every declared
//  length fits in the bytes that remain, and counts in *elements the
//  objects inside maps and arrays (a map's keys and values). msgpack-c
//  allocates a container's elements before reading them, so a five-byte
//  body that declares a billion elements must be refused before it gets
//  there.
static size_t
s_skip (const uint8_t *data, size_t size, size_t count, uint64_t *elements)
{
    size_t at = 0;
    uint64_t pending = count;       //  objects still to read
    *elements = 0;
    while (pending > 0) {
        //  Every object takes a byte at least
        s_span_t span;
        if (at >= size || pending > size - at || !s_span (data, size, at, &span))
            return 0;
        at += span.head + span.body;
        pending--;
        pending += span.children;
        *elements += span.children;
    }
    return at;
}

size_t
ord_wire_skip (const void *data, size_t size, size_t count)
{
    uint64_t elements;
    return s_skip ((const uint8_t *) data, size, count, &elements);
}

//  Moves *at_p past the object at data [*at_p] that s_span laid out,
//  elements included; false when they do not fit.
static bool
s_pass (const uint8_t *data, size_t size, size_t *at_p, const s_span_t *span)
{
    *at_p += span->head + span->body;
    if (span->children == 0)
        return true;
    uint64_t elements;
    size_t skipped = s_skip (data + *at_p, size - *at_p, span->children, &elements);
    *at_p += skipped;
    return skipped > 0;
}

size_t
ord_wire_peek (const void *bytes, size_t size, ord_wire_field_t *fields, size_t count)
{
    const uint8_t *data = (const uint8_t *) bytes;
    for (size_t i = 0; i < count; i++)
        fields [i].found = false;
    s_span_t map;
    if (!s_span (data, size, 0, &map) || map.type != MSGPACK_OBJECT_MAP)
        return 0;
    //  Every entry is walked, not only up to the last field found, so that
    //  a map cut short anywhere is refused, as msgpack_unpack_next would
    //  refuse it
    size_t at = map.head;
    for (uint64_t entry = 0; entry < map.children / 2; entry++) {
        s_span_t key, value;
        size_t key_at = at;
        if (!s_span (data, size, at, &key) || !s_pass (data, size, &at, &key)
        ||  !s_span (data, size, at, &value))
            goto fail;
        //  As in ord_wire_find: only string keys match, the first one counts
        if (key.type == MSGPACK_OBJECT_STR) {
            ord_str_t name = { (const char *) data + key_at + key.head, (uint32_t) key.body };
            for (size_t i = 0; i < count; i++)
                if (!fields [i].found && ord_str_eq (name, fields [i].key)) {
                    fields [i].found = true;
                    s_object (data, at, &value, &fields [i].value);
                }
        }
        if (!s_pass (data, size, &at, &value))
            goto fail;
    }
    return at;
fail:
    for (size_t i = 0; i < count; i++)
        fields [i].found = false;
    return 0;
}

int
ord_wire_decode (const void *data, size_t size, msgpack_unpacked *unpacked,
                 ord_why_t *why)
{
    uint64_t elements;
    if (s_skip ((const uint8_t *) data, size, 1, &elements) == 0) {
        ord_why_set (why, "body is not valid msgpack");
        return ORD_EBADREQ;
    }
    //  The zone is made here, just the size the maps' and arrays' elements
    //  take, and msgpack_unpack decodes into it: msgpack_unpack_next would
    //  make one of 8 KiB for any body, which costs a small request more
    //  than decoding it (a malloc that size goes the slow way in glibc and
    //  sweeps the fast bins the small ones come from)
    msgpack_unpacked_destroy (unpacked);
    msgpack_zone *zone = msgpack_zone_new ((size_t) elements * sizeof (msgpack_object));
    size_t offset = 0;
    msgpack_unpack_return rc = zone? msgpack_unpack (data, size, &offset, zone, &unpacked->data)
                                   : MSGPACK_UNPACK_NOMEM_ERROR;
    if (rc == MSGPACK_UNPACK_EXTRA_BYTES)
        rc = MSGPACK_UNPACK_SUCCESS;       //  the offset tells, below
    if (rc != MSGPACK_UNPACK_SUCCESS) {
        msgpack_zone_free (zone);
        ord_why_set (why, "body is not valid msgpack%s",
                     rc == MSGPACK_UNPACK_NOMEM_ERROR? " (nested too deep)": "");
        return ORD_EBADREQ;
    }
    unpacked->zone = zone;
    if (offset != size) {
        ord_why_set (why, "body has %zu bytes after the msgpack map", size - offset);
        return ORD_EBADREQ;
    }
    const msgpack_object *root = &unpacked->data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        ord_why_set (why, "body must be a msgpack map");
        return ORD_EBADREQ;
    }
    for (uint32_t i = 0; i < root->via.map.size; i++)
        if (root->via.map.ptr [i].key.type != MSGPACK_OBJECT_STR) {
            ord_why_set (why, "body map keys must be strings");
            return ORD_EBADREQ;
        }
    s_tree_t tree = s_tree_check (root, 0, why);
    if (tree == S_TREE_DEEP) {
        ord_why_set (why, "body is nested deeper than %d levels", ORD_WIRE_MAX_DEPTH);
        return ORD_EBADREQ;
    }
    if (tree == S_TREE_UTF8)
        return ORD_EBADREQ;
    return 0;
}

const msgpack_object *
ord_wire_find (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t key_len = strlen (key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr [i].key;
        if (k->type == MSGPACK_OBJECT_STR
        &&  k->via.str.size == key_len
        &&  memcmp (k->via.str.ptr, key, key_len) == 0)
            return &map->via.map.ptr [i].val;
    }
    return NULL;
}

//  Looks a field up; returns NULL (and 0 in *rc) when it is absent or nil
//  and optional, NULL with ORD_EBADREQ when it is absent and required.
static const msgpack_object *
s_field (const msgpack_object *map, const char *key, bool required, int *rc,
         ord_why_t *why)
{
    const msgpack_object *value = ord_wire_find (map, key);
    *rc = 0;
    if (!value || value->type == MSGPACK_OBJECT_NIL) {
        if (required) {
            ord_why_set (why, "%s: required", key);
            *rc = ORD_EBADREQ;
        }
        return NULL;
    }
    return value;
}

int
ord_wire_str (const msgpack_object *map, const char *key, bool required,
              size_t max_len, ord_str_t *value, ord_why_t *why)
{
    int rc;
    value->ptr = NULL;
    value->len = 0;
    const msgpack_object *field = s_field (map, key, required, &rc, why);
    if (!field)
        return rc;
    if (field->type != MSGPACK_OBJECT_STR) {
        ord_why_set (why, "%s: must be a string", key);
        return ORD_EBADREQ;
    }
    if (required && field->via.str.size == 0) {
        ord_why_set (why, "%s: must not be empty", key);
        return ORD_EBADREQ;
    }
    if (field->via.str.size > max_len) {
        ord_why_set (why, "%s: longer than %zu bytes", key, max_len);
        return ORD_EBADREQ;
    }
    if (memchr (field->via.str.ptr, 0, field->via.str.size)) {
        ord_why_set (why, "%s: contains a NUL byte", key);
        return ORD_EBADREQ;
    }
    value->ptr = field->via.str.ptr;
    value->len = field->via.str.size;
    return 0;
}

int
ord_wire_int (const msgpack_object *map, const char *key, bool required,
              int64_t min, int64_t max, int64_t *value, ord_why_t *why)
{
    int rc;
    const msgpack_object *field = s_field (map, key, required, &rc, why);
    if (!field)
        return rc;
    int64_t number;
    if (field->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (field->via.u64 > INT64_MAX) {
            ord_why_set (why, "%s: must be from %" PRId64 " to %" PRId64, key, min, max);
            return ORD_EBADREQ;
        }
        number = (int64_t) field->via.u64;
    }
    else
    if (field->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        number = field->via.i64;
    else {
        ord_why_set (why, "%s: must be an integer", key);
        return ORD_EBADREQ;
    }
    if (number < min || number > max) {
        ord_why_set (why, "%s: must be from %" PRId64 " to %" PRId64, key, min, max);
        return ORD_EBADREQ;
    }
    *value = number;
    return 0;
}

int
ord_wire_bool (const msgpack_object *map, const char *key, bool *value,
               ord_why_t *why)
{
    int rc;
    const msgpack_object *field = s_field (map, key, false, &rc, why);
    if (!field)
        return rc;
    if (field->type != MSGPACK_OBJECT_BOOLEAN) {
        ord_why_set (why, "%s: must be a boolean", key);
        return ORD_EBADREQ;
    }
    *value = field->via.boolean;
    return 0;
}

static int
s_wire_typed (const msgpack_object *map, const char *key, bool required,
              msgpack_object_type type, const char *type_name,
              const msgpack_object **value, ord_why_t *why)
{
    int rc;
    *value = NULL;
    const msgpack_object *field = s_field (map, key, required, &rc, why);
    if (!field)
        return rc;
    if (field->type != type) {
        ord_why_set (why, "%s: must be %s", key, type_name);
        return ORD_EBADREQ;
    }
    *value = field;
    return 0;
}

int
ord_wire_map (const msgpack_object *map, const char *key, bool required,
              const msgpack_object **value, ord_why_t *why)
{
    return s_wire_typed (map, key, required, MSGPACK_OBJECT_MAP, "a map", value, why);
}

int
ord_wire_array (const msgpack_object *map, const char *key, bool required,
                const msgpack_object **value, ord_why_t *why)
{
    return s_wire_typed (map, key, required, MSGPACK_OBJECT_ARRAY, "an array", value, why);
}

bool
ord_str_eq (ord_str_t str, const char *cstr)
{
    if (!str.ptr || !cstr)
        return false;
    //  Byte by byte, not strlen then memcmp: most strings compared are
    //  short keys that differ at once (ord_wire_peek tries every key)
    for (uint32_t i = 0; i < str.len; i++)
        if (cstr [i] == 0 || cstr [i] != str.ptr [i])
            return false;
    return cstr [str.len] == 0;
}

char *
ord_str_dup (ord_str_t str)
{
    if (!str.ptr)
        return NULL;
    char *copy = (char *) ord_malloc (str.len + 1);
    memcpy (copy, str.ptr, str.len);
    copy [str.len] = 0;
    return copy;
}

ord_str_t
ord_str_of (const msgpack_object *object)
{
    ord_str_t str = { NULL, 0 };
    if (object && object->type == MSGPACK_OBJECT_STR) {
        str.ptr = object->via.str.ptr;
        str.len = object->via.str.size;
    }
    return str;
}

void
ord_pack_str (msgpack_packer *pk, ord_str_t str)
{
    if (!str.ptr)
        msgpack_pack_nil (pk);
    else {
        msgpack_pack_str (pk, str.len);
        msgpack_pack_str_body (pk, str.ptr, str.len);
    }
}

void
ord_pack_cstr (msgpack_packer *pk, const char *str)
{
    ord_str_t value = { str, str? (uint32_t) strlen (str): 0 };
    ord_pack_str (pk, value);
}

void
ord_pack_kv_cstr (msgpack_packer *pk, const char *key, const char *value)
{
    ord_pack_cstr (pk, key);
    ord_pack_cstr (pk, value);
}

void
ord_pack_kv_int (msgpack_packer *pk, const char *key, int64_t value)
{
    ord_pack_cstr (pk, key);
    msgpack_pack_int64 (pk, value);
}

void
ord_pack_kv_bool (msgpack_packer *pk, const char *key, bool value)
{
    ord_pack_cstr (pk, key);
    if (value)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
}

void
ord_pack_raw (msgpack_packer *pk, const void *data, size_t size)
{
    pk->callback (pk->data, (const char *) data, size);
}

void
ord_reply_begin (msgpack_packer *pk, ord_str_t rid, bool ok, size_t extra)
{
    msgpack_pack_map (pk, 3 + extra);
    ord_pack_kv_int (pk, "v", ORD_WIRE_VERSION);
    ord_pack_cstr (pk, "rid");
    ord_pack_str (pk, rid);
    ord_pack_kv_bool (pk, "ok", ok);
}

void
ord_reply_error (msgpack_packer *pk, ord_str_t rid, int code,
                 const char *message, size_t extra)
{
    ord_reply_begin (pk, rid, false, 1 + extra);
    ord_pack_cstr (pk, "error");
    msgpack_pack_map (pk, 2);
    ord_pack_kv_cstr (pk, "code", ord_error_wire_code (code));
    ord_pack_kv_cstr (pk, "message", message? message: ord_strerror (code));
}

int
ord_reply_with_rid (const void *reply, size_t size, ord_str_t rid,
                    msgpack_sbuffer *out)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    int rc = ORD_EBADREQ;
    if (msgpack_unpack_next (&unpacked, reply, size, &offset) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *map = &unpacked.data;
        msgpack_packer pk;
        msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
        bool had_rid = ord_wire_find (map, "rid") != NULL;
        msgpack_pack_map (&pk, map->via.map.size + (had_rid? 0: 1));
        if (!had_rid) {
            ord_pack_cstr (&pk, "rid");
            ord_pack_str (&pk, rid);
        }
        for (uint32_t i = 0; i < map->via.map.size; i++) {
            const msgpack_object_kv *kv = &map->via.map.ptr [i];
            msgpack_pack_object (&pk, kv->key);
            if (ord_str_eq (ord_str_of (&kv->key), "rid"))
                ord_pack_str (&pk, rid);
            else
                msgpack_pack_object (&pk, kv->val);
        }
        rc = 0;
    }
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}

//  Canonical form: maps with keys in sorted order of their packed bytes
static int
s_kv_compare (const void *a, const void *b, void *scratch)
{
    (void) scratch;
    const msgpack_object *ka = &((const msgpack_object_kv *) a)->key;
    const msgpack_object *kb = &((const msgpack_object_kv *) b)->key;
    ord_str_t sa = ord_str_of (ka), sb = ord_str_of (kb);
    if (sa.ptr && sb.ptr) {
        int cmp = memcmp (sa.ptr, sb.ptr, sa.len < sb.len? sa.len: sb.len);
        return cmp? cmp: (int) sa.len - (int) sb.len;
    }
    //  Non-string keys sort after strings, by type then not further
    return (sa.ptr? 0: 1) - (sb.ptr? 0: 1);
}

static void
s_pack_canonical (msgpack_packer *pk, const msgpack_object *object, bool top)
{
    if (object->type == MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array (pk, object->via.array.size);
        for (uint32_t i = 0; i < object->via.array.size; i++)
            s_pack_canonical (pk, &object->via.array.ptr [i], false);
        return;
    }
    if (object->type != MSGPACK_OBJECT_MAP) {
        msgpack_pack_object (pk, *object);
        return;
    }
    uint32_t size = object->via.map.size;
    msgpack_object_kv *sorted = (msgpack_object_kv *) ord_malloc (size * sizeof *sorted);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < size; i++) {
        ord_str_t key = ord_str_of (&object->via.map.ptr [i].key);
        //  A retry carries its own rid and deadline: it is the same request
        if (top && (ord_str_eq (key, "rid") || ord_str_eq (key, "idem")
                    || ord_str_eq (key, "deadline")))
            continue;
        sorted [kept++] = object->via.map.ptr [i];
    }
    qsort_r (sorted, kept, sizeof *sorted, s_kv_compare, NULL);
    msgpack_pack_map (pk, kept);
    for (uint32_t i = 0; i < kept; i++) {
        s_pack_canonical (pk, &sorted [i].key, false);
        s_pack_canonical (pk, &sorted [i].val, false);
    }
    free (sorted);
}

void
ord_wire_digest (const msgpack_object *map, uint8_t digest [ORD_DIGEST_SIZE])
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    s_pack_canonical (&pk, map, true);
    zdigest_t *sha = zdigest_new ();
    ord_assert (sha);
    zdigest_update (sha, (const byte *) buffer.data, buffer.size);
    memcpy (digest, zdigest_data (sha), ORD_DIGEST_SIZE);
    zdigest_destroy (&sha);
    msgpack_sbuffer_destroy (&buffer);
}
