/*  wire: the msgpack codec every request and reply goes through.

    A newcomer's map: a request body is decoded once with ord_wire_decode
    (which refuses anything that is not one map with string keys), then its
    fields are read with the typed readers (ord_wire_str, ord_wire_int, ...)
    whose messages name the field, so they can go back to the client as
    they are. Replies are packed with ord_reply_begin / ord_reply_error, and
    a request's idempotency check compares ord_wire_digest of two bodies.

    Every test builds its body with msgpack-c's packer in a body_t (below),
    so what goes on the wire is spelled out in the test itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include "wire.h"

//  --------------------------------------------------------------------------
//  A body being built, then decoded

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer pk;
    msgpack_unpacked unpacked;
    ord_why_t why;
} body_t;

static int
setup (void **state)
{
    body_t *body = (body_t *) calloc (1, sizeof *body);
    assert_non_null (body);
    msgpack_sbuffer_init (&body->buffer);
    msgpack_packer_init (&body->pk, &body->buffer, msgpack_sbuffer_write);
    msgpack_unpacked_init (&body->unpacked);
    *state = body;
    return 0;
}

static int
teardown (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_unpacked_destroy (&body->unpacked);
    msgpack_sbuffer_destroy (&body->buffer);
    free (body);
    return 0;
}

//  Decodes what was packed into body->buffer; returns ord_wire_decode's rc
static int
s_decode (body_t *body)
{
    msgpack_unpacked_destroy (&body->unpacked);
    msgpack_unpacked_init (&body->unpacked);
    memset (&body->why, 0, sizeof body->why);
    return ord_wire_decode (body->buffer.data, body->buffer.size, &body->unpacked,
                            &body->why);
}

//  Decodes and insists it worked: the map to read fields from
static const msgpack_object *
s_map (body_t *body)
{
    int rc = s_decode (body);
    if (rc)
        fail_msg ("decode failed: %s", body->why.text);
    return &body->unpacked.data;
}

static void
s_pack_bin_str (msgpack_packer *pk, const char *bytes, size_t size)
{
    msgpack_pack_str (pk, size);
    msgpack_pack_str_body (pk, bytes, size);
}

//  Packs `levels` maps one inside the other, {"a": {"a": ... {"a": 1}}}:
//  the root map is level 1
static void
s_pack_nested (msgpack_packer *pk, int levels)
{
    for (int level = 0; level < levels; level++) {
        msgpack_pack_map (pk, 1);
        ord_pack_cstr (pk, "a");
    }
    msgpack_pack_int (pk, 1);
}


//  --------------------------------------------------------------------------
//  ord_wire_decode

static void
test_decode_accepts_a_map_with_string_keys (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "v", 1);
    ord_pack_kv_cstr (&body->pk, "op", "get");
    assert_int_equal (s_decode (body), 0);
    assert_int_equal (body->unpacked.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal (body->unpacked.data.via.map.size, 2);
}

static void
test_decode_refuses_bytes_that_are_not_msgpack (void **state)
{
    body_t *body = (body_t *) *state;
    //  0xc1 is the one byte msgpack never uses
    msgpack_sbuffer_write (&body->buffer, "\xc1\x01\x02", 3);
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_non_null (strstr (body->why.text, "not valid msgpack"));
}

static void
test_decode_refuses_an_empty_body (void **state)
{
    body_t *body = (body_t *) *state;
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_non_null (strstr (body->why.text, "not valid msgpack"));
}

static void
test_decode_refuses_a_truncated_map (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "v", 1);        //  the second pair never comes
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_non_null (strstr (body->why.text, "not valid msgpack"));
}

static void
test_decode_refuses_trailing_bytes (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_int (&body->pk, "v", 1);
    msgpack_pack_int (&body->pk, 7);            //  a second object: one byte
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_string_equal (body->why.text, "body has 1 bytes after the msgpack map");
}

static void
test_decode_refuses_a_body_that_is_not_a_map (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_array (&body->pk, 2);
    msgpack_pack_int (&body->pk, 1);
    msgpack_pack_int (&body->pk, 2);
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_string_equal (body->why.text, "body must be a msgpack map");
}

static void
test_decode_refuses_a_bare_string (void **state)
{
    body_t *body = (body_t *) *state;
    ord_pack_cstr (&body->pk, "hello");
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_string_equal (body->why.text, "body must be a msgpack map");
}

static void
test_decode_refuses_non_string_keys (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "v", 1);
    msgpack_pack_int (&body->pk, 42);           //  an integer key
    ord_pack_cstr (&body->pk, "value");
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_string_equal (body->why.text, "body map keys must be strings");
}

static void
test_decode_accepts_nesting_up_to_the_limit (void **state)
{
    body_t *body = (body_t *) *state;
    s_pack_nested (&body->pk, ORD_WIRE_MAX_DEPTH);
    assert_int_equal (s_decode (body), 0);
}

static void
test_decode_refuses_nesting_beyond_the_limit (void **state)
{
    body_t *body = (body_t *) *state;
    s_pack_nested (&body->pk, ORD_WIRE_MAX_DEPTH + 1);
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_string_equal (body->why.text, "body is nested deeper than 16 levels");
}

static void
test_decode_refuses_nesting_deeper_than_msgpack_c_can_hold (void **state)
{
    body_t *body = (body_t *) *state;
    //  msgpack-c gives up on its own far below this: still a clean refusal
    msgpack_pack_map (&body->pk, 1);
    ord_pack_cstr (&body->pk, "deep");
    for (int level = 0; level < 10000; level++)
        msgpack_pack_array (&body->pk, 1);
    msgpack_pack_nil (&body->pk);
    assert_int_equal (s_decode (body), ORD_EBADREQ);
    assert_non_null (strstr (body->why.text, "nested"));
}


//  --------------------------------------------------------------------------
//  ord_wire_skip and ord_wire_peek: packed bytes read in place

//  A copy of `size` bytes in a buffer of exactly that size, so that
//  AddressSanitizer sees a read one byte past the end
static char *
s_exact_copy (const void *data, size_t size)
{
    char *copy = (char *) malloc (size? size: 1);
    assert_non_null (copy);
    memcpy (copy, data, size);
    return copy;
}

//  ord_wire_peek of `size` bytes at `data` (held in an exact copy); true
//  when it refused them and left every field not found
static bool
s_peek_refuses (const void *data, size_t size, ord_wire_field_t *fields, size_t count)
{
    char *copy = s_exact_copy (data, size);
    size_t rc = ord_wire_peek (copy, size, fields, count);
    free (copy);
    for (size_t i = 0; i < count; i++)
        if (fields [i].found)
            return false;
    return rc == 0;
}

static void
test_skip_walks_whole_objects (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);            //  three objects: a map,
    ord_pack_cstr (&body->pk, "list");
    msgpack_pack_array (&body->pk, 2);
    msgpack_pack_int (&body->pk, 1);
    ord_pack_cstr (&body->pk, "two");
    size_t first = body->buffer.size;
    msgpack_pack_int (&body->pk, 300);          //  an int,
    size_t second = body->buffer.size;
    ord_pack_cstr (&body->pk, "three");         //  a string
    char *data = s_exact_copy (body->buffer.data, body->buffer.size);
    assert_int_equal (ord_wire_skip (data, body->buffer.size, 1), first);
    assert_int_equal (ord_wire_skip (data, body->buffer.size, 2), second);
    assert_int_equal (ord_wire_skip (data, body->buffer.size, 3), body->buffer.size);
    //  A fourth object is not there; nor is all of the third
    assert_int_equal (ord_wire_skip (data, body->buffer.size, 4), 0);
    assert_int_equal (ord_wire_skip (data, body->buffer.size - 1, 3), 0);
    free (data);
}

static void
test_peek_reads_top_level_fields_in_place (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 4);
    ord_pack_kv_int (&body->pk, "rv", 1);
    ord_pack_cstr (&body->pk, "order_data");
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_cstr (&body->pk, "user_id", "mallory");    //  not top-level: not seen
    ord_pack_kv_cstr (&body->pk, "user_id", "alice");
    ord_pack_cstr (&body->pk, "deleted_at");
    msgpack_pack_nil (&body->pk);
    ord_wire_field_t fields [] = {
        { .key = "user_id" }, { .key = "deleted_at" }, { .key = "status" }
    };
    assert_int_equal (ord_wire_peek (body->buffer.data, body->buffer.size, fields, 3),
                      body->buffer.size);
    assert_true (fields [0].found);
    assert_true (ord_str_eq (ord_str_of (&fields [0].value), "alice"));
    //  The string is the packed bytes themselves, not a copy
    assert_true (fields [0].value.via.str.ptr > body->buffer.data
              && fields [0].value.via.str.ptr < body->buffer.data + body->buffer.size);
    assert_true (fields [1].found);
    assert_int_equal (fields [1].value.type, MSGPACK_OBJECT_NIL);
    assert_false (fields [2].found);
}

static void
test_peek_takes_the_first_string_key_that_matches (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 4);
    msgpack_pack_int (&body->pk, 42);           //  an integer key
    ord_pack_cstr (&body->pk, "not this");
    msgpack_pack_bin (&body->pk, 1);            //  "k" as bin, not str
    msgpack_pack_bin_body (&body->pk, "k", 1);
    ord_pack_cstr (&body->pk, "nor this");
    ord_pack_kv_cstr (&body->pk, "k", "first");
    ord_pack_kv_cstr (&body->pk, "k", "second");
    ord_wire_field_t field = { .key = "k" };
    assert_int_equal (ord_wire_peek (body->buffer.data, body->buffer.size, &field, 1),
                      body->buffer.size);
    assert_true (field.found);
    assert_true (ord_str_eq (ord_str_of (&field.value), "first"));
    //  ...as ord_wire_find has it (ord_wire_decode would refuse these keys)
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&body->unpacked, body->buffer.data,
                                           body->buffer.size, &offset), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *found = ord_wire_find (&body->unpacked.data, "k");
    assert_true (ord_str_eq (ord_str_of (found), "first"));
}

static void
test_peek_gives_a_container_its_type_and_size (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_cstr (&body->pk, "list");
    msgpack_pack_array (&body->pk, 3);
    for (int i = 0; i < 3; i++)
        msgpack_pack_int (&body->pk, i);
    ord_pack_cstr (&body->pk, "costs");
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "subtotal", 100);
    ord_pack_kv_int (&body->pk, "total", 100);
    ord_wire_field_t fields [] = { { .key = "list" }, { .key = "costs" } };
    assert_int_equal (ord_wire_peek (body->buffer.data, body->buffer.size, fields, 2),
                      body->buffer.size);
    assert_int_equal (fields [0].value.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal (fields [0].value.via.array.size, 3);
    assert_null (fields [0].value.via.array.ptr);
    assert_int_equal (fields [1].value.type, MSGPACK_OBJECT_MAP);
    assert_int_equal (fields [1].value.via.map.size, 2);
    assert_null (fields [1].value.via.map.ptr);
}

//  Peeks at {"v": value}, `value` given packed, and checks that it reads
//  as msgpack-c decodes it
static void
s_assert_peeks_as_msgpack_c (const char *value, size_t size)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    ord_pack_cstr (&pk, "v");
    ord_pack_raw (&pk, value, size);
    ord_wire_field_t field = { .key = "v" };
    assert_int_equal (ord_wire_peek (buffer.data, buffer.size, &field, 1), buffer.size);
    assert_true (field.found);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *expected = &unpacked.data.via.map.ptr [0].val;
    if (field.value.type != expected->type || !msgpack_object_equal (field.value, *expected))
        fail_msg ("value packed as 0x%02x (%zu bytes) reads as type %d, msgpack-c has %d",
                  (uint8_t) value [0], size, field.value.type, expected->type);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_peek_reads_scalars_as_msgpack_c_does (void **state)
{
    (void) state;
    msgpack_sbuffer value;
    msgpack_sbuffer_init (&value);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &value, msgpack_sbuffer_write);
    static char text [70000];
    memset (text, 'x', sizeof text);
    int64_t numbers [] = { 0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
                           (int64_t) UINT32_MAX + 1, INT64_MAX, -1, -32, -33, -128,
                           -129, -32768, -32769, INT32_MIN, (int64_t) INT32_MIN - 1,
                           INT64_MIN };
    size_t lengths [] = { 0, 1, 2, 4, 8, 16, 31, 32, 255, 256, 65535, 65536 };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers [0]; i++) {
        msgpack_sbuffer_clear (&value);
        msgpack_pack_int64 (&pk, numbers [i]);
        s_assert_peeks_as_msgpack_c (value.data, value.size);
    }
    for (size_t i = 0; i < sizeof lengths / sizeof lengths [0]; i++) {
        msgpack_sbuffer_clear (&value);
        msgpack_pack_str (&pk, lengths [i]);
        msgpack_pack_str_body (&pk, text, lengths [i]);
        s_assert_peeks_as_msgpack_c (value.data, value.size);
        msgpack_sbuffer_clear (&value);
        msgpack_pack_bin (&pk, lengths [i]);
        msgpack_pack_bin_body (&pk, text, lengths [i]);
        s_assert_peeks_as_msgpack_c (value.data, value.size);
        if (lengths [i] == 0)
            continue;           //  an ext has its type at least
        msgpack_sbuffer_clear (&value);
        msgpack_pack_ext (&pk, lengths [i], 5);
        msgpack_pack_ext_body (&pk, text, lengths [i]);
        s_assert_peeks_as_msgpack_c (value.data, value.size);
    }
    msgpack_sbuffer_clear (&value);
    msgpack_pack_uint64 (&pk, UINT64_MAX);
    s_assert_peeks_as_msgpack_c (value.data, value.size);
    msgpack_sbuffer_destroy (&value);
    //  The rest spelled out: nil, booleans, floats, and the forms a packer
    //  would not pick for a small number (signed ones holding one >= 0)
    const char *packed [] = {
        "\xc0", "\xc2", "\xc3", "\xca\x3f\xc0\x00\x00", "\xcb\xc0\x02\x00\x00\x00\x00\x00\x00",
        "\xcc\x05", "\xcf\x00\x00\x00\x00\x00\x00\x00\x05", "\xd0\x05", "\xd0\xfb",
        "\xd1\x00\x05", "\xd2\x00\x00\x00\x05", "\xd3\x00\x00\x00\x00\x00\x00\x00\x05",
        "\xd3\xff\xff\xff\xff\xff\xff\xff\xfb", "\xd9\x02hi", "\xc7\x01\x09z"
    };
    size_t sizes [] = { 1, 1, 1, 5, 9, 2, 9, 2, 2, 3, 5, 9, 9, 4, 4 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes [0]; i++)
        s_assert_peeks_as_msgpack_c (packed [i], sizes [i]);
}

static void
test_peek_refuses_what_is_not_one_map (void **state)
{
    (void) state;
    ord_wire_field_t field = { .key = "v" };
    assert_true (s_peek_refuses ("", 0, &field, 1));
    assert_true (s_peek_refuses ("\xc1", 1, &field, 1));
    assert_true (s_peek_refuses ("\x91\x01", 2, &field, 1));     //  [1]
    assert_true (s_peek_refuses ("\xa1v", 2, &field, 1));        //  "v"
    assert_true (s_peek_refuses ("\x07", 1, &field, 1));
    assert_true (s_peek_refuses ("\x81\xa1v\xc1", 4, &field, 1));  //  {"v": 0xc1}
}

static void
test_peek_refuses_a_map_cut_short_anywhere (void **state)
{
    body_t *body = (body_t *) *state;
    static char text [300];
    memset (text, 'y', sizeof text);
    msgpack_pack_map (&body->pk, 5);
    ord_pack_kv_cstr (&body->pk, "user_id", "alice");
    ord_pack_cstr (&body->pk, "deleted_at");
    msgpack_pack_int64 (&body->pk, 1700000000000);
    ord_pack_cstr (&body->pk, "order_data");
    msgpack_pack_map (&body->pk, 1);
    ord_pack_cstr (&body->pk, "products");
    msgpack_pack_array (&body->pk, 2);
    msgpack_pack_double (&body->pk, 1.5);
    msgpack_pack_str (&body->pk, sizeof text);
    msgpack_pack_str_body (&body->pk, text, sizeof text);
    ord_pack_cstr (&body->pk, "blob");
    msgpack_pack_ext (&body->pk, 3, 1);
    msgpack_pack_ext_body (&body->pk, "abc", 3);
    ord_pack_kv_bool (&body->pk, "needs_review", false);
    //  Every prefix is refused, as msgpack-c refuses it, fields found
    //  before the cut included
    for (size_t size = 0; size < body->buffer.size; size++) {
        ord_wire_field_t fields [] = { { .key = "user_id" }, { .key = "deleted_at" } };
        if (!s_peek_refuses (body->buffer.data, size, fields, 2))
            fail_msg ("the first %zu of %zu bytes are taken", size, body->buffer.size);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        size_t offset = 0;
        assert_int_not_equal (msgpack_unpack_next (&unpacked, body->buffer.data, size, &offset),
                              MSGPACK_UNPACK_SUCCESS);
        msgpack_unpacked_destroy (&unpacked);
    }
    ord_wire_field_t fields [] = { { .key = "user_id" }, { .key = "deleted_at" } };
    assert_int_equal (ord_wire_peek (body->buffer.data, body->buffer.size, fields, 2),
                      body->buffer.size);
    assert_true (fields [0].found && fields [1].found);
}

static void
test_peek_refuses_lengths_past_the_end (void **state)
{
    (void) state;
    struct { const char *bytes; size_t size; } cases [] = {
        { "\xdf\xff\xff\xff\xff", 5 },                  //  a map of 4 G entries
        { "\xde\x00", 2 },                              //  a map16 without its size
        { "\x81\xd9", 2 },                              //  a str8 key without its length
        { "\x81\xa1v\xdb\xff\xff\xff\xff", 8 },         //  a 4 GiB string
        { "\x81\xa1v\xdd\x3b\x9a\xca\x00", 8 },         //  an array of a billion
        { "\x81\xa1v\xc9\x00\x00\x00\x10\x05", 9 },     //  an ext32 of 16 bytes, none there
        { "\x81\xa1v\xd8\x05", 5 },                     //  a fixext16 without its data
        { "\x81\xa1v\xcb\x00\x00", 6 },                 //  half a float64
        { "\x81\xa1v\xcf\x00", 5 },                     //  part of a uint64
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        ord_wire_field_t field = { .key = "v" };
        if (!s_peek_refuses (cases [i].bytes, cases [i].size, &field, 1))
            fail_msg ("case %zu is taken", i);
        assert_int_equal (ord_wire_skip (cases [i].bytes, cases [i].size, 1), 0);
    }
}

static void
test_peek_returns_the_offset_past_the_map (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_int (&body->pk, "v", 1);
    size_t map_size = body->buffer.size;
    msgpack_pack_int (&body->pk, 7);            //  something after it
    ord_wire_field_t field = { .key = "v" };
    assert_int_equal (ord_wire_peek (body->buffer.data, body->buffer.size, &field, 1), map_size);
    assert_true (field.found);
    assert_int_equal (field.value.via.u64, 1);
}


//  --------------------------------------------------------------------------
//  ord_wire_str

static void
test_str_reads_a_string_field (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_cstr (&body->pk, "user_id", "alice");
    ord_str_t value;
    assert_int_equal (ord_wire_str (s_map (body), "user_id", true, 128, &value, &body->why), 0);
    assert_true (ord_str_eq (value, "alice"));
    assert_int_equal (value.len, 5);
}

static void
test_str_required_and_absent_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 0);
    ord_str_t value;
    assert_int_equal (ord_wire_str (s_map (body), "user_id", true, 128, &value, &body->why),
                      ORD_EBADREQ);
    assert_string_equal (body->why.text, "user_id: required");
}

static void
test_str_required_and_nil_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_cstr (&body->pk, "user_id", NULL);      //  packs nil
    ord_str_t value;
    assert_int_equal (ord_wire_str (s_map (body), "user_id", true, 128, &value, &body->why),
                      ORD_EBADREQ);
    assert_string_equal (body->why.text, "user_id: required");
}

static void
test_str_optional_and_absent_or_nil_gives_null (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_cstr (&body->pk, "rid", NULL);
    const msgpack_object *map = s_map (body);
    ord_str_t value = { "stale", 5 };
    assert_int_equal (ord_wire_str (map, "rid", false, 64, &value, &body->why), 0);
    assert_null (value.ptr);
    assert_int_equal (value.len, 0);
    value.ptr = "stale";
    assert_int_equal (ord_wire_str (map, "idem", false, 64, &value, &body->why), 0);
    assert_null (value.ptr);
}

static void
test_str_of_another_type_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_int (&body->pk, "user_id", 12);
    ord_str_t value;
    assert_int_equal (ord_wire_str (s_map (body), "user_id", false, 128, &value, &body->why),
                      ORD_EBADREQ);
    assert_string_equal (body->why.text, "user_id: must be a string");
}

static void
test_str_empty_is_refused_only_when_required (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_cstr (&body->pk, "name", "");
    const msgpack_object *map = s_map (body);
    ord_str_t value;
    assert_int_equal (ord_wire_str (map, "name", true, 128, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "name: must not be empty");
    assert_int_equal (ord_wire_str (map, "name", false, 128, &value, &body->why), 0);
    assert_non_null (value.ptr);
    assert_int_equal (value.len, 0);
}

static void
test_str_longer_than_the_limit_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_cstr (&body->pk, "exact", "12345678");
    ord_pack_kv_cstr (&body->pk, "long", "123456789");
    const msgpack_object *map = s_map (body);
    ord_str_t value;
    assert_int_equal (ord_wire_str (map, "exact", true, 8, &value, &body->why), 0);
    assert_int_equal (value.len, 8);
    assert_int_equal (ord_wire_str (map, "long", true, 8, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "long: longer than 8 bytes");
}

static void
test_str_with_a_nul_byte_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_cstr (&body->pk, "user_id");
    s_pack_bin_str (&body->pk, "ali\0ce", 6);
    ord_str_t value;
    assert_int_equal (ord_wire_str (s_map (body), "user_id", true, 128, &value, &body->why),
                      ORD_EBADREQ);
    assert_string_equal (body->why.text, "user_id: contains a NUL byte");
}


//  --------------------------------------------------------------------------
//  ord_wire_int

static void
test_int_reads_positive_and_negative_integers (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "up", 10000);
    ord_pack_kv_int (&body->pk, "down", -5);
    const msgpack_object *map = s_map (body);
    int64_t value = 0;
    assert_int_equal (ord_wire_int (map, "up", true, 1, 10000, &value, &body->why), 0);
    assert_int_equal (value, 10000);
    assert_int_equal (ord_wire_int (map, "down", true, -10, 10, &value, &body->why), 0);
    assert_int_equal (value, -5);
}

static void
test_int_optional_and_absent_leaves_the_default (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_cstr (&body->pk, "limit");
    msgpack_pack_nil (&body->pk);
    const msgpack_object *map = s_map (body);
    int64_t value = 50;
    assert_int_equal (ord_wire_int (map, "limit", false, 1, 500, &value, &body->why), 0);
    assert_int_equal (value, 50);
    assert_int_equal (ord_wire_int (map, "other", false, 1, 500, &value, &body->why), 0);
    assert_int_equal (value, 50);
}

static void
test_int_required_and_absent_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 0);
    int64_t value = 0;
    assert_int_equal (ord_wire_int (s_map (body), "v", true, 1, 1, &value, &body->why),
                      ORD_EBADREQ);
    assert_string_equal (body->why.text, "v: required");
}

static void
test_int_of_another_type_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_cstr (&body->pk, "text", "12");
    ord_pack_cstr (&body->pk, "float");
    msgpack_pack_double (&body->pk, 12.0);
    const msgpack_object *map = s_map (body);
    int64_t value = 7;
    assert_int_equal (ord_wire_int (map, "text", true, 0, 100, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "text: must be an integer");
    assert_int_equal (ord_wire_int (map, "float", true, 0, 100, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "float: must be an integer");
    assert_int_equal (value, 7);
}

static void
test_int_out_of_range_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 3);
    ord_pack_kv_int (&body->pk, "zero", 0);
    ord_pack_kv_int (&body->pk, "minus", -1);
    ord_pack_kv_int (&body->pk, "big", 10001);
    const msgpack_object *map = s_map (body);
    int64_t value = 7;
    const char *keys [] = { "zero", "minus", "big" };
    for (int i = 0; i < 3; i++) {
        assert_int_equal (ord_wire_int (map, keys [i], true, 1, 10000, &value, &body->why),
                          ORD_EBADREQ);
        char expected [64];
        snprintf (expected, sizeof expected, "%s: must be from 1 to 10000", keys [i]);
        assert_string_equal (body->why.text, expected);
    }
    assert_int_equal (value, 7);
}

static void
test_int_accepts_the_int64_extremes (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "max", INT64_MAX);
    ord_pack_kv_int (&body->pk, "min", INT64_MIN);
    const msgpack_object *map = s_map (body);
    int64_t value = 0;
    assert_int_equal (ord_wire_int (map, "max", true, INT64_MIN, INT64_MAX, &value, &body->why), 0);
    assert_true (value == INT64_MAX);
    assert_int_equal (ord_wire_int (map, "min", true, INT64_MIN, INT64_MAX, &value, &body->why), 0);
    assert_true (value == INT64_MIN);
}

static void
test_int_refuses_uint64_above_int64_max (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_cstr (&body->pk, "amount");
    msgpack_pack_uint64 (&body->pk, (uint64_t) INT64_MAX + 1);
    int64_t value = 7;
    //  Even with the widest range: it must not wrap to a negative number
    assert_int_equal (ord_wire_int (s_map (body), "amount", true, INT64_MIN, INT64_MAX,
                                    &value, &body->why), ORD_EBADREQ);
    assert_non_null (strstr (body->why.text, "amount: must be from"));
    assert_int_equal (value, 7);
}


//  --------------------------------------------------------------------------
//  ord_wire_bool, ord_wire_map, ord_wire_array

static void
test_bool_reads_true_and_false (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_bool (&body->pk, "yes", true);
    ord_pack_kv_bool (&body->pk, "no", false);
    const msgpack_object *map = s_map (body);
    bool value = false;
    assert_int_equal (ord_wire_bool (map, "yes", &value, &body->why), 0);
    assert_true (value);
    assert_int_equal (ord_wire_bool (map, "no", &value, &body->why), 0);
    assert_false (value);
}

static void
test_bool_absent_leaves_the_default (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 0);
    bool value = true;
    assert_int_equal (ord_wire_bool (s_map (body), "history", &value, &body->why), 0);
    assert_true (value);
}

static void
test_bool_of_another_type_is_refused (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_int (&body->pk, "history", 1);
    bool value = false;
    assert_int_equal (ord_wire_bool (s_map (body), "history", &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "history: must be a boolean");
}

static void
test_map_and_array_readers_check_the_type (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_cstr (&body->pk, "cart_data");
    msgpack_pack_map (&body->pk, 0);
    ord_pack_cstr (&body->pk, "products");
    msgpack_pack_array (&body->pk, 0);
    const msgpack_object *map = s_map (body);
    const msgpack_object *value;
    assert_int_equal (ord_wire_map (map, "cart_data", true, &value, &body->why), 0);
    assert_int_equal (value->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (ord_wire_array (map, "products", true, &value, &body->why), 0);
    assert_int_equal (value->type, MSGPACK_OBJECT_ARRAY);

    assert_int_equal (ord_wire_map (map, "products", true, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "products: must be a map");
    assert_null (value);
    assert_int_equal (ord_wire_array (map, "cart_data", true, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "cart_data: must be an array");
}

static void
test_map_reader_absent_is_null_or_required (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 0);
    const msgpack_object *map = s_map (body);
    const msgpack_object *value = map;
    assert_int_equal (ord_wire_map (map, "user_data", false, &value, &body->why), 0);
    assert_null (value);
    assert_int_equal (ord_wire_map (map, "cart_data", true, &value, &body->why), ORD_EBADREQ);
    assert_string_equal (body->why.text, "cart_data: required");
}

static void
test_find_looks_only_at_the_keys_of_a_map (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 1);
    ord_pack_kv_cstr (&body->pk, "op", "get");
    const msgpack_object *map = s_map (body);
    assert_non_null (ord_wire_find (map, "op"));
    assert_null (ord_wire_find (map, "o"));          //  no prefix matches
    assert_null (ord_wire_find (map, "get"));        //  values are not keys
    assert_null (ord_wire_find (NULL, "op"));
    assert_null (ord_wire_find (ord_wire_find (map, "op"), "op"));   //  not a map
}


//  --------------------------------------------------------------------------
//  Why messages and string helpers

static void
test_why_prefix_puts_the_path_in_front (void **state)
{
    (void) state;
    ord_why_t why;
    ord_why_set (&why, "%s: must be from %d to %d", "quantity", 1, 10000);
    ord_why_prefix (&why, "products[%d].", 1);
    ord_why_prefix (&why, "cart_data.");
    assert_string_equal (why.text, "cart_data.products[1].quantity: must be from 1 to 10000");
}

static void
test_why_prefix_truncates_the_message_not_the_prefix (void **state)
{
    (void) state;
    ord_why_t why;
    char tail [300];
    memset (tail, 'x', sizeof tail - 1);
    tail [sizeof tail - 1] = 0;
    ord_why_set (&why, "%s", tail);
    assert_int_equal (strlen (why.text), sizeof why.text - 1);
    ord_why_prefix (&why, "cart_data.");
    assert_int_equal (strlen (why.text), sizeof why.text - 1);
    assert_memory_equal (why.text, "cart_data.xxx", 13);
}

static void
test_str_helpers (void **state)
{
    (void) state;
    ord_str_t str = { "pending-and-more", 7 };
    assert_true (ord_str_eq (str, "pending"));
    assert_false (ord_str_eq (str, "pend"));
    assert_false (ord_str_eq (str, "pending-"));
    ord_str_t none = { NULL, 0 };
    assert_false (ord_str_eq (none, ""));
    char *copy = ord_str_dup (str);
    assert_string_equal (copy, "pending");
    free (copy);
    assert_null (ord_str_dup (none));
}

static void
test_str_of_is_empty_for_other_types (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_cstr (&body->pk, "s", "text");
    ord_pack_kv_int (&body->pk, "i", 3);
    const msgpack_object *map = s_map (body);
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (map, "s")), "text"));
    ord_str_t other = ord_str_of (ord_wire_find (map, "i"));
    assert_null (other.ptr);
    assert_int_equal (other.len, 0);
    assert_null (ord_str_of (NULL).ptr);
}


//  --------------------------------------------------------------------------
//  Replies

static void
test_reply_begin_packs_v_rid_and_ok (void **state)
{
    body_t *body = (body_t *) *state;
    ord_str_t rid = { "r-17", 4 };
    ord_reply_begin (&body->pk, rid, true, 1);
    ord_pack_kv_int (&body->pk, "count", 3);
    const msgpack_object *map = s_map (body);
    assert_int_equal (map->via.map.size, 4);
    int64_t v = 0, count = 0;
    bool ok = false;
    ord_str_t echoed;
    assert_int_equal (ord_wire_int (map, "v", true, 1, 1, &v, &body->why), 0);
    assert_int_equal (ord_wire_str (map, "rid", true, 64, &echoed, &body->why), 0);
    assert_true (ord_str_eq (echoed, "r-17"));
    assert_int_equal (ord_wire_bool (map, "ok", &ok, &body->why), 0);
    assert_true (ok);
    assert_int_equal (ord_wire_int (map, "count", true, 0, 10, &count, &body->why), 0);
    assert_int_equal (count, 3);
}

static void
test_reply_without_rid_packs_nil (void **state)
{
    body_t *body = (body_t *) *state;
    ord_str_t rid = { NULL, 0 };
    ord_reply_begin (&body->pk, rid, true, 0);
    const msgpack_object *rid_value = ord_wire_find (s_map (body), "rid");
    assert_non_null (rid_value);
    assert_int_equal (rid_value->type, MSGPACK_OBJECT_NIL);
}

static void
test_reply_error_names_the_wire_code (void **state)
{
    body_t *body = (body_t *) *state;
    ord_str_t rid = { "r1", 2 };
    ord_reply_error (&body->pk, rid, ORD_ENOTFOUND, "no such order", 0);
    const msgpack_object *map = s_map (body);
    assert_int_equal (map->via.map.size, 4);
    bool ok = true;
    assert_int_equal (ord_wire_bool (map, "ok", &ok, &body->why), 0);
    assert_false (ok);
    const msgpack_object *error = ord_wire_find (map, "error");
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (error, "code")), "not_found"));
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (error, "message")), "no such order"));
}

static void
test_reply_error_without_message_uses_strerror (void **state)
{
    body_t *body = (body_t *) *state;
    ord_str_t rid = { "r1", 2 };
    ord_reply_error (&body->pk, rid, ORD_ETIMEOUT, NULL, 0);
    const msgpack_object *error = ord_wire_find (s_map (body), "error");
    //  a timeout is `unavailable` on the wire
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (error, "code")), "unavailable"));
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (error, "message")),
                             ord_strerror (ORD_ETIMEOUT)));
}

static void
test_reply_with_rid_replaces_the_rid (void **state)
{
    body_t *body = (body_t *) *state;
    ord_str_t first = { "first", 5 };
    ord_reply_begin (&body->pk, first, true, 1);
    ord_pack_kv_cstr (&body->pk, "status", "pending");
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    ord_str_t retry = { "retry-2", 7 };
    assert_int_equal (ord_reply_with_rid (body->buffer.data, body->buffer.size, retry, &out), 0);
    //  Decode the copy in place of the original
    msgpack_sbuffer_clear (&body->buffer);
    msgpack_sbuffer_write (&body->buffer, out.data, out.size);
    msgpack_sbuffer_destroy (&out);
    const msgpack_object *map = s_map (body);
    assert_int_equal (map->via.map.size, 4);
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (map, "rid")), "retry-2"));
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (map, "status")), "pending"));
}

static void
test_reply_with_rid_adds_a_missing_rid (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_map (&body->pk, 2);
    ord_pack_kv_int (&body->pk, "v", 1);
    ord_pack_kv_bool (&body->pk, "ok", true);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    ord_str_t rid = { "r9", 2 };
    assert_int_equal (ord_reply_with_rid (body->buffer.data, body->buffer.size, rid, &out), 0);
    msgpack_sbuffer_clear (&body->buffer);
    msgpack_sbuffer_write (&body->buffer, out.data, out.size);
    msgpack_sbuffer_destroy (&out);
    const msgpack_object *map = s_map (body);
    assert_int_equal (map->via.map.size, 3);
    assert_true (ord_str_eq (ord_str_of (ord_wire_find (map, "rid")), "r9"));
    assert_non_null (ord_wire_find (map, "ok"));
}

static void
test_reply_with_rid_refuses_what_is_not_a_map (void **state)
{
    body_t *body = (body_t *) *state;
    msgpack_pack_array (&body->pk, 0);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    ord_str_t rid = { "r9", 2 };
    assert_int_equal (ord_reply_with_rid (body->buffer.data, body->buffer.size, rid, &out),
                      ORD_EBADREQ);
    assert_int_equal (ord_reply_with_rid ("\xc1", 1, rid, &out), ORD_EBADREQ);
    msgpack_sbuffer_destroy (&out);
}


//  --------------------------------------------------------------------------
//  ord_wire_digest: the idempotency check's view of a body

//  The digest of a body packed by `pack`, with `variant` passed along
typedef void (s_packer_fn) (msgpack_packer *pk, int variant);

static void
s_digest (s_packer_fn *pack, int variant, uint8_t digest [ORD_DIGEST_SIZE])
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    pack (&pk, variant);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_why_t why;
    assert_int_equal (ord_wire_decode (buffer.data, buffer.size, &unpacked, &why), 0);
    ord_wire_digest (&unpacked.data, digest);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
}

//  A `create`-like body. Variants: 0 the reference; 1 keys in another
//  order (nested too); 2 another rid and an idem; 3 another quantity;
//  4 one more key; 5 a nested key named rid; 6 products in another order;
//  7 no rid at all; 8 a deadline
static void
s_pack_create (msgpack_packer *pk, int variant)
{
    bool reorder = variant == 1;
    bool with_rid = variant != 7;
    msgpack_pack_map (pk, 4 + (variant == 2) + (variant == 4) + (variant == 8) + with_rid - 1);
    if (with_rid && !reorder)
        ord_pack_kv_cstr (pk, "rid", variant == 2? "another-rid": "r1");
    if (variant == 8)
        ord_pack_kv_int (pk, "deadline", 1700000000000);
    if (variant == 2)
        ord_pack_kv_cstr (pk, "idem", "key-1");
    if (!reorder)
        ord_pack_kv_cstr (pk, "op", "create");
    ord_pack_kv_cstr (pk, "user_id", "alice");
    ord_pack_cstr (pk, "cart_data");
    msgpack_pack_map (pk, 1 + (variant == 5));
    if (variant == 5)
        ord_pack_kv_cstr (pk, "rid", "nested");
    ord_pack_cstr (pk, "products");
    msgpack_pack_array (pk, 2);
    for (int i = 0; i < 2; i++) {
        int item = variant == 6? 1 - i: i;
        msgpack_pack_map (pk, 2);
        if (reorder) {
            ord_pack_kv_int (pk, "quantity", item == 0 && variant == 3? 3: 2);
            ord_pack_kv_cstr (pk, "sku", item == 0? "apple": "pear");
        }
        else {
            ord_pack_kv_cstr (pk, "sku", item == 0? "apple": "pear");
            ord_pack_kv_int (pk, "quantity", item == 0 && variant == 3? 3: 2);
        }
    }
    if (reorder) {
        ord_pack_kv_cstr (pk, "op", "create");
        ord_pack_kv_cstr (pk, "rid", "r1");
    }
    if (variant == 4)
        ord_pack_kv_cstr (pk, "currency", "EUR");
}

static void
test_digest_ignores_key_order (void **state)
{
    (void) state;
    uint8_t reference [ORD_DIGEST_SIZE], other [ORD_DIGEST_SIZE];
    s_digest (s_pack_create, 0, reference);
    s_digest (s_pack_create, 1, other);
    assert_memory_equal (reference, other, ORD_DIGEST_SIZE);
}

static void
test_digest_ignores_rid_idem_and_deadline (void **state)
{
    (void) state;
    uint8_t reference [ORD_DIGEST_SIZE], other [ORD_DIGEST_SIZE];
    s_digest (s_pack_create, 0, reference);
    s_digest (s_pack_create, 2, other);
    assert_memory_equal (reference, other, ORD_DIGEST_SIZE);
    s_digest (s_pack_create, 7, other);
    assert_memory_equal (reference, other, ORD_DIGEST_SIZE);
    //  A retry carries a new deadline and is still the same request
    s_digest (s_pack_create, 8, other);
    assert_memory_equal (reference, other, ORD_DIGEST_SIZE);
}

static void
test_digest_changes_with_any_other_change (void **state)
{
    (void) state;
    uint8_t reference [ORD_DIGEST_SIZE], other [ORD_DIGEST_SIZE];
    s_digest (s_pack_create, 0, reference);
    int variants [] = { 3, 4, 5, 6 };       //  value, new key, nested rid, array order
    for (size_t i = 0; i < sizeof variants / sizeof variants [0]; i++) {
        s_digest (s_pack_create, variants [i], other);
        if (memcmp (reference, other, ORD_DIGEST_SIZE) == 0)
            fail_msg ("variant %d digests like the reference", variants [i]);
    }
}

static void
s_pack_typed (msgpack_packer *pk, int variant)
{
    msgpack_pack_map (pk, 1);
    ord_pack_cstr (pk, "amount");
    if (variant == 0)
        msgpack_pack_int (pk, 12);
    else
        ord_pack_cstr (pk, "12");
}

static void
test_digest_tells_types_apart (void **state)
{
    (void) state;
    uint8_t number [ORD_DIGEST_SIZE], text [ORD_DIGEST_SIZE];
    s_digest (s_pack_typed, 0, number);
    s_digest (s_pack_typed, 1, text);
    assert_memory_not_equal (number, text, ORD_DIGEST_SIZE);
}


int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_decode_accepts_a_map_with_string_keys, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_bytes_that_are_not_msgpack, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_an_empty_body, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_a_truncated_map, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_a_body_that_is_not_a_map, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_a_bare_string, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_non_string_keys, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_accepts_nesting_up_to_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_nesting_beyond_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown (test_decode_refuses_nesting_deeper_than_msgpack_c_can_hold, setup, teardown),
        cmocka_unit_test_setup_teardown (test_skip_walks_whole_objects, setup, teardown),
        cmocka_unit_test_setup_teardown (test_peek_reads_top_level_fields_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown (test_peek_takes_the_first_string_key_that_matches, setup, teardown),
        cmocka_unit_test_setup_teardown (test_peek_gives_a_container_its_type_and_size, setup, teardown),
        cmocka_unit_test (test_peek_reads_scalars_as_msgpack_c_does),
        cmocka_unit_test (test_peek_refuses_what_is_not_one_map),
        cmocka_unit_test_setup_teardown (test_peek_refuses_a_map_cut_short_anywhere, setup, teardown),
        cmocka_unit_test (test_peek_refuses_lengths_past_the_end),
        cmocka_unit_test_setup_teardown (test_peek_returns_the_offset_past_the_map, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_reads_a_string_field, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_required_and_absent_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_required_and_nil_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_optional_and_absent_or_nil_gives_null, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_of_another_type_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_empty_is_refused_only_when_required, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_longer_than_the_limit_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_str_with_a_nul_byte_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_reads_positive_and_negative_integers, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_optional_and_absent_leaves_the_default, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_required_and_absent_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_of_another_type_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_out_of_range_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_accepts_the_int64_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_int_refuses_uint64_above_int64_max, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bool_reads_true_and_false, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bool_absent_leaves_the_default, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bool_of_another_type_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_and_array_readers_check_the_type, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_reader_absent_is_null_or_required, setup, teardown),
        cmocka_unit_test_setup_teardown (test_find_looks_only_at_the_keys_of_a_map, setup, teardown),
        cmocka_unit_test (test_why_prefix_puts_the_path_in_front),
        cmocka_unit_test (test_why_prefix_truncates_the_message_not_the_prefix),
        cmocka_unit_test (test_str_helpers),
        cmocka_unit_test_setup_teardown (test_str_of_is_empty_for_other_types, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_begin_packs_v_rid_and_ok, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_without_rid_packs_nil, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_error_names_the_wire_code, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_error_without_message_uses_strerror, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_with_rid_replaces_the_rid, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_with_rid_adds_a_missing_rid, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reply_with_rid_refuses_what_is_not_a_map, setup, teardown),
        cmocka_unit_test (test_digest_ignores_key_order),
        cmocka_unit_test (test_digest_ignores_rid_idem_and_deadline),
        cmocka_unit_test (test_digest_changes_with_any_other_change),
        cmocka_unit_test (test_digest_tells_types_apart),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
