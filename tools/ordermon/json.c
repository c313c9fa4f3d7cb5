/*  json: msgpack to JSON. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

//  The length of the valid UTF-8 sequence at data (1 to 4), or 0 when the
//  bytes there are not one: overlong forms, surrogates and code points
//  above U+10FFFF are refused as RFC 3629 says.
static size_t
s_utf8_length (const unsigned char *data, size_t size)
{
    unsigned char c = data [0];
    size_t length;
    uint32_t point;
    if (c < 0x80)
        return 1;
    else
    if ((c & 0xe0) == 0xc0) {
        length = 2;
        point = c & 0x1f;
    }
    else
    if ((c & 0xf0) == 0xe0) {
        length = 3;
        point = c & 0x0f;
    }
    else
    if ((c & 0xf8) == 0xf0) {
        length = 4;
        point = c & 0x07;
    }
    else
        return 0;
    if (length > size)
        return 0;
    for (size_t i = 1; i < length; i++) {
        if ((data [i] & 0xc0) != 0x80)
            return 0;
        point = (point << 6) | (data [i] & 0x3f);
    }
    static const uint32_t minimum [5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (point < minimum [length] || point > 0x10ffff
    ||  (point >= 0xd800 && point <= 0xdfff))
        return 0;
    return length;
}

void
om_json_string (FILE *out, const char *data, size_t size)
{
    const unsigned char *at = (const unsigned char *) data;
    fputc ('"', out);
    size_t i = 0;
    while (i < size) {
        unsigned char c = at [i];
        if (c == '"' || c == '\\') {
            fputc ('\\', out);
            fputc (c, out);
            i++;
        }
        else
        if (c < 0x20 || c == 0x7f) {
            switch (c) {
                case '\b': fputs ("\\b", out); break;
                case '\f': fputs ("\\f", out); break;
                case '\n': fputs ("\\n", out); break;
                case '\r': fputs ("\\r", out); break;
                case '\t': fputs ("\\t", out); break;
                default:   fprintf (out, "\\u%04x", c); break;
            }
            i++;
        }
        else {
            size_t length = s_utf8_length (at + i, size - i);
            if (length == 0) {
                fputs ("\\ufffd", out);   //  one invalid byte, replaced
                i++;
            }
            else {
                fwrite (at + i, 1, length, out);
                i += length;
            }
        }
    }
    fputc ('"', out);
}

static void
s_base64 (FILE *out, const unsigned char *data, size_t size)
{
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc ('"', out);
    for (size_t i = 0; i < size; i += 3) {
        uint32_t triple = (uint32_t) data [i] << 16;
        if (i + 1 < size)
            triple |= (uint32_t) data [i + 1] << 8;
        if (i + 2 < size)
            triple |= data [i + 2];
        fputc (alphabet [(triple >> 18) & 63], out);
        fputc (alphabet [(triple >> 12) & 63], out);
        fputc (i + 1 < size? alphabet [(triple >> 6) & 63]: '=', out);
        fputc (i + 2 < size? alphabet [triple & 63]: '=', out);
    }
    fputc ('"', out);
}

//  The shortest text that reads back as the same double, always with a
//  '.' or an exponent so that it stays a float for the reader.
static void
s_double (FILE *out, double value)
{
    if (!isfinite (value)) {
        fputs ("null", out);
        return;
    }
    char text [40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf (text, sizeof text, "%.*g", precision, value);
        if (strtod (text, NULL) == value)
            break;
    }
    fputs (text, out);
    if (!strpbrk (text, ".eE"))
        fputs (".0", out);
}

static void
s_newline (FILE *out, int indent, int depth)
{
    if (indent < 0)
        return;
    fputc ('\n', out);
    fprintf (out, "%*s", indent * depth, "");
}

static void
s_key (FILE *out, const msgpack_object *key)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        om_json_string (out, key->via.str.ptr, key->via.str.size);
        return;
    }
    //  JSON keys are strings: write the key's own JSON as one
    char *text = NULL;
    size_t size = 0;
    FILE *memory = open_memstream (&text, &size);
    if (!memory) {
        fputs ("\"?\"", out);
        return;
    }
    om_json_write (memory, key, -1, 0);
    if (fclose (memory) == 0 && text)
        om_json_string (out, text, size);
    else
        fputs ("\"?\"", out);
    free (text);
}

void
om_json_write (FILE *out, const msgpack_object *object, int indent, int depth)
{
    switch (object->type) {
        case MSGPACK_OBJECT_NIL:
            fputs ("null", out);
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            fputs (object->via.boolean? "true": "false", out);
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            fprintf (out, "%" PRIu64, object->via.u64);
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            fprintf (out, "%" PRId64, object->via.i64);
            break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            s_double (out, object->via.f64);
            break;
        case MSGPACK_OBJECT_STR:
            om_json_string (out, object->via.str.ptr, object->via.str.size);
            break;
        case MSGPACK_OBJECT_BIN:
            s_base64 (out, (const unsigned char *) object->via.bin.ptr, object->via.bin.size);
            break;
        case MSGPACK_OBJECT_EXT:
            fprintf (out, "{\"ext\":%s%d,%s\"base64\":%s", indent < 0? "": " ",
                     (int) object->via.ext.type, indent < 0? "": " ", indent < 0? "": " ");
            s_base64 (out, (const unsigned char *) object->via.ext.ptr, object->via.ext.size);
            fputc ('}', out);
            break;
        case MSGPACK_OBJECT_ARRAY:
            if (object->via.array.size == 0) {
                fputs ("[]", out);
                break;
            }
            fputc ('[', out);
            for (uint32_t i = 0; i < object->via.array.size; i++) {
                if (i)
                    fputc (',', out);
                s_newline (out, indent, depth + 1);
                om_json_write (out, &object->via.array.ptr [i], indent, depth + 1);
            }
            s_newline (out, indent, depth);
            fputc (']', out);
            break;
        case MSGPACK_OBJECT_MAP:
            if (object->via.map.size == 0) {
                fputs ("{}", out);
                break;
            }
            fputc ('{', out);
            for (uint32_t i = 0; i < object->via.map.size; i++) {
                if (i)
                    fputc (',', out);
                s_newline (out, indent, depth + 1);
                s_key (out, &object->via.map.ptr [i].key);
                fputs (indent < 0? ":": ": ", out);
                om_json_write (out, &object->via.map.ptr [i].val, indent, depth + 1);
            }
            s_newline (out, indent, depth);
            fputc ('}', out);
            break;
        default:
            fputs ("null", out);
            break;
    }
}

int
om_json_print (FILE *out, const msgpack_object *object, int indent)
{
    om_json_write (out, object, indent, 0);
    fputc ('\n', out);
    return ferror (out)? -1: 0;
}
