/*  format: how ordermon shows values to people. Times from ms epochs as
    local "2024-05-01 12:34:56", money from minor units as "12.34 USD" (with
    the currency's own number of decimals), byte counts, durations and
    latencies, and readers for the fields of a decoded reply that never
    fail: an absent or mistyped field reads as its fallback. */
#ifndef OM_FORMAT_H_INCLUDED
#define OM_FORMAT_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  ANSI colours (SGR parameters) used for tables and lines. */
#define OM_RED      "31"
#define OM_GREEN    "32"
#define OM_YELLOW   "33"
#define OM_BLUE     "34"
#define OM_CYAN     "36"
#define OM_DIM      "2"
#define OM_BOLD     "1"

/*  Each writes into buffer (size bytes, always terminated) and returns it. */
char *om_time (int64_t ms, bool millis, char *buffer, size_t size);   /* "-" for 0 */
char *om_money (int64_t minor, const char *currency, char *buffer, size_t size);
char *om_bytes (int64_t bytes, char *buffer, size_t size);           /* "1.5 MiB" */
char *om_duration (int64_t ms, char *buffer, size_t size);           /* "3d 4h", "2m 05s" */
char *om_latency (int64_t us, char *buffer, size_t size);            /* "850us", "3.2ms" */

/*  The number of decimals of an ISO 4217 currency's minor unit (2 unless
    the currency is known to have 0 or 3). */
int om_currency_exponent (const char *currency);

/*  The colour a status is shown in (NULL: none). */
const char *om_status_color (const char *status);

/*  Field readers over a msgpack map. om_field_str copies the string (or
    the number, as text) into buffer, else `fallback`; returns buffer. */
char *om_field_str (const msgpack_object *map, const char *key, const char *fallback,
                    char *buffer, size_t size);
int64_t om_field_int (const msgpack_object *map, const char *key, int64_t fallback);
double om_field_num (const msgpack_object *map, const char *key, double fallback);
bool om_field_bool (const msgpack_object *map, const char *key);
/*  The map (or array) at key, or NULL. */
const msgpack_object *om_field_map (const msgpack_object *map, const char *key);
const msgpack_object *om_field_array (const msgpack_object *map, const char *key);
/*  A map's i-th key as a NUL-terminated copy in buffer ("" if not a string). */
char *om_key (const msgpack_object *map, uint32_t index, char *buffer, size_t size);

/*  Replaces control characters (which could drive the terminal) with '?'
    in place; returns text. */
char *om_sanitize (char *text);

/*  The display width of UTF-8 text: code points, not bytes. */
size_t om_width (const char *text);

/*  True when LC_CTYPE is UTF-8 (after setlocale (LC_CTYPE, "")). */
bool om_utf8 (void);

/*  An ASCII sparkline of the last `width` numbers of a msgpack array
    (oldest first), scaled to their maximum: '_' for zero, then ".:-=+*#@".
    Returns buffer. */
char *om_sparkline (const msgpack_object *array, size_t width, char *buffer, size_t size);

#endif

