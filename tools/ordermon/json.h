/*  json: prints a decoded msgpack object as JSON (RFC 8259), for
    `ordermon --json`. Strings are escaped (quote, backslash, every control
    character; invalid UTF-8 becomes U+FFFD), nil is null, bin is a base64
    string, ext is {"ext": type, "base64": data}, floats that are not finite
    are null, a float always shows as one (5.0, not 5), and a map key that
    is not a string is written as a string of its JSON.

        om_json_print (stdout, &reply.unpacked.data, 2);   //  pretty
        om_json_print (stdout, &event, -1);                //  one line
*/
#ifndef OM_JSON_H_INCLUDED
#define OM_JSON_H_INCLUDED

#include <msgpack.h>
#include <stdio.h>

/*  Writes `object` and a newline. indent < 0: compact, on one line; else
    that many spaces per level. Returns 0, or -1 on a write error. */
int om_json_print (FILE *out, const msgpack_object *object, int indent);

/*  Writes `object` with no newline (the building block of the above). */
void om_json_write (FILE *out, const msgpack_object *object, int indent, int depth);

/*  Writes size bytes as a JSON string. */
void om_json_string (FILE *out, const char *data, size_t size);

#endif
