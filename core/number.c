/*  number: integers written by people. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include "number.h"

bool
ord_number_parse (const char *text, bool suffixes, int64_t *value)
{
    if (!text || !*text || isspace ((unsigned char) *text))
        return false;
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text)
        return false;
    int shift = 0;
    if (suffixes && *end && end [1] == 0)
        switch (*end++) {
            case 'K': case 'k': shift = 10; break;
            case 'M': case 'm': shift = 20; break;
            case 'G': case 'g': shift = 30; break;
            default: return false;
        }
    if (*end || (shift && (number < 0 || number > (LLONG_MAX >> shift))))
        return false;
    //  A negative number is never shifted: that is undefined in C
    *value = shift? (int64_t) number << shift: (int64_t) number;
    return true;
}
