/*  format: times, money, sizes and reply fields for people. */
#include <czmq.h>
#include <langinfo.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "format.h"
#include "wire.h"

char *
om_time (int64_t ms, bool millis, char *buffer, size_t size)
{
    if (ms <= 0) {
        snprintf (buffer, size, "-");
        return buffer;
    }
    time_t seconds = (time_t) (ms / 1000);
    struct tm local;
    if (!localtime_r (&seconds, &local)
    ||  strftime (buffer, size, "%Y-%m-%d %H:%M:%S", &local) == 0) {
        snprintf (buffer, size, "%" PRId64, ms);
        return buffer;
    }
    if (millis) {
        size_t used = strlen (buffer);
        snprintf (buffer + used, size - used, ".%03d", (int) (ms % 1000));
    }
    return buffer;
}

int
om_currency_exponent (const char *currency)
{
    //  ISO 4217 currencies whose minor unit is not the hundredth
    static const char *zero [] = {
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
        "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF", NULL
    };
    static const char *three [] = {
        "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND", NULL
    };
    if (!currency)
        return 2;
    for (int i = 0; zero [i]; i++)
        if (strcasecmp (currency, zero [i]) == 0)
            return 0;
    for (int i = 0; three [i]; i++)
        if (strcasecmp (currency, three [i]) == 0)
            return 3;
    return 2;
}

char *
om_money (int64_t minor, const char *currency, char *buffer, size_t size)
{
    int exponent = om_currency_exponent (currency);
    int64_t scale = exponent == 0? 1: exponent == 3? 1000: 100;
    //  Work on the magnitude as unsigned so INT64_MIN does not overflow
    uint64_t magnitude = minor < 0? (uint64_t) 0 - (uint64_t) minor: (uint64_t) minor;
    const char *sign = minor < 0? "-": "";
    const char *space = currency && *currency? " ": "";
    if (exponent == 0)
        snprintf (buffer, size, "%s%" PRIu64 "%s%s", sign, magnitude, space,
                  currency? currency: "");
    else
        snprintf (buffer, size, "%s%" PRIu64 ".%0*" PRIu64 "%s%s", sign,
                  magnitude / (uint64_t) scale, exponent, magnitude % (uint64_t) scale,
                  space, currency? currency: "");
    return buffer;
}

char *
om_bytes (int64_t bytes, char *buffer, size_t size)
{
    static const char *units [] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double value = (double) bytes;
    int unit = 0;
    while (value >= 1024 && unit < 5) {
        value /= 1024;
        unit++;
    }
    if (unit == 0)
        snprintf (buffer, size, "%" PRId64 " B", bytes);
    else
        snprintf (buffer, size, "%.1f %s", value, units [unit]);
    return buffer;
}

char *
om_duration (int64_t ms, char *buffer, size_t size)
{
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf (buffer, size, "%" PRId64 "s", s);
    else
    if (s < 3600)
        snprintf (buffer, size, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
    else
    if (s < 86400)
        snprintf (buffer, size, "%" PRId64 "h %02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf (buffer, size, "%" PRId64 "d %02" PRId64 "h", s / 86400, (s % 86400) / 3600);
    return buffer;
}

char *
om_latency (int64_t us, char *buffer, size_t size)
{
    if (us < 1000)
        snprintf (buffer, size, "%" PRId64 "us", us);
    else
    if (us < 1000000)
        snprintf (buffer, size, "%.1fms", (double) us / 1000.0);
    else
        snprintf (buffer, size, "%.2fs", (double) us / 1e6);
    return buffer;
}

const char *
om_status_color (const char *status)
{
    if (!status)
        return NULL;
    if (streq (status, "failed") || streq (status, "down"))
        return OM_RED;
    if (streq (status, "pending") || streq (status, "payment_initiated")
    ||  streq (status, "degraded"))
        return OM_YELLOW;
    if (streq (status, "paid") || streq (status, "confirmed") || streq (status, "processing")
    ||  streq (status, "shipped"))
        return OM_CYAN;
    if (streq (status, "delivered") || streq (status, "ok"))
        return OM_GREEN;
    if (streq (status, "cancelled"))
        return OM_DIM;
    return NULL;
}

char *
om_field_str (const msgpack_object *map, const char *key, const char *fallback,
              char *buffer, size_t size)
{
    const msgpack_object *value = ord_wire_find (map, key);
    if (value && value->type == MSGPACK_OBJECT_STR)
        snprintf (buffer, size, "%.*s", (int) value->via.str.size, value->via.str.ptr);
    else
    if (value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf (buffer, size, "%" PRIu64, value->via.u64);
    else
    if (value && value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf (buffer, size, "%" PRId64, value->via.i64);
    else
    if (value && value->type == MSGPACK_OBJECT_BOOLEAN)
        snprintf (buffer, size, "%s", value->via.boolean? "true": "false");
    else
        snprintf (buffer, size, "%s", fallback? fallback: "");
    return om_sanitize (buffer);
}

int64_t
om_field_int (const msgpack_object *map, const char *key, int64_t fallback)
{
    const msgpack_object *value = ord_wire_find (map, key);
    if (value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return value->via.u64 > INT64_MAX? INT64_MAX: (int64_t) value->via.u64;
    if (value && value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return value->via.i64;
    if (value && (value->type == MSGPACK_OBJECT_FLOAT64 || value->type == MSGPACK_OBJECT_FLOAT32))
        return (int64_t) value->via.f64;
    return fallback;
}

double
om_field_num (const msgpack_object *map, const char *key, double fallback)
{
    const msgpack_object *value = ord_wire_find (map, key);
    if (value && (value->type == MSGPACK_OBJECT_FLOAT64 || value->type == MSGPACK_OBJECT_FLOAT32))
        return value->via.f64;
    if (value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (double) value->via.u64;
    if (value && value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return (double) value->via.i64;
    return fallback;
}

bool
om_field_bool (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = ord_wire_find (map, key);
    return value && value->type == MSGPACK_OBJECT_BOOLEAN && value->via.boolean;
}

const msgpack_object *
om_field_map (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = ord_wire_find (map, key);
    return value && value->type == MSGPACK_OBJECT_MAP? value: NULL;
}

const msgpack_object *
om_field_array (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = ord_wire_find (map, key);
    return value && value->type == MSGPACK_OBJECT_ARRAY? value: NULL;
}

char *
om_key (const msgpack_object *map, uint32_t index, char *buffer, size_t size)
{
    buffer [0] = 0;
    if (map && map->type == MSGPACK_OBJECT_MAP && index < map->via.map.size) {
        ord_str_t key = ord_str_of (&map->via.map.ptr [index].key);
        if (key.ptr)
            snprintf (buffer, size, "%.*s", (int) key.len, key.ptr);
    }
    return om_sanitize (buffer);
}

char *
om_sanitize (char *text)
{
    for (unsigned char *at = (unsigned char *) text; *at; at++)
        if (*at < 0x20 || *at == 0x7f)
            *at = '?';
        else
        if (*at == 0xc2 && at [1] >= 0x80 && at [1] <= 0x9f) {
            //  A C1 control (U+0080..U+009F, CSI among them) in UTF-8
            at [0] = '?';
            at [1] = '?';
            at++;
        }
    return text;
}

size_t
om_width (const char *text)
{
    size_t width = 0;
    for (const unsigned char *at = (const unsigned char *) text; *at; at++)
        if ((*at & 0xc0) != 0x80)
            width++;
    return width;
}

bool
om_utf8 (void)
{
    const char *codeset = nl_langinfo (CODESET);
    return codeset && (strcasecmp (codeset, "UTF-8") == 0 || strcasecmp (codeset, "utf8") == 0);
}

char *
om_sparkline (const msgpack_object *array, size_t width, char *buffer, size_t size)
{
    static const char levels [] = "_.:-=+*#@";
    buffer [0] = 0;
    if (!array || array->type != MSGPACK_OBJECT_ARRAY || size == 0)
        return buffer;
    uint32_t count = array->via.array.size;
    uint32_t first = count > width? count - (uint32_t) width: 0;
    double highest = 0;
    for (uint32_t i = first; i < count; i++) {
        const msgpack_object *item = &array->via.array.ptr [i];
        double value = item->type == MSGPACK_OBJECT_POSITIVE_INTEGER? (double) item->via.u64
                     : item->type == MSGPACK_OBJECT_FLOAT64? item->via.f64: 0;
        if (value > highest)
            highest = value;
    }
    size_t used = 0;
    for (uint32_t i = first; i < count && used + 1 < size; i++) {
        const msgpack_object *item = &array->via.array.ptr [i];
        double value = item->type == MSGPACK_OBJECT_POSITIVE_INTEGER? (double) item->via.u64
                     : item->type == MSGPACK_OBJECT_FLOAT64? item->via.f64: 0;
        int level = 0;
        if (value > 0 && highest > 0) {
            level = (int) ((value / highest) * 8.0 + 0.999);
            level = level < 1? 1: level > 8? 8: level;
        }
        buffer [used++] = levels [level];
    }
    buffer [used] = 0;
    return buffer;
}
