/*  number: the one parser of integers written by people (configuration
    values), shared by orderd and its plugins. */
#ifndef ORD_NUMBER_H_INCLUDED
#define ORD_NUMBER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

/*  Parses all of `text` as a decimal integer into *value; with `suffixes`,
    one trailing K, M or G (either case) multiplies it by 2^10, 2^20 or
    2^30. Refuses (returns false, *value untouched) empty text, leading
    space, trailing bytes, a suffix on a negative number and any
    overflow. */
bool ord_number_parse (const char *text, bool suffixes, int64_t *value);

#endif
