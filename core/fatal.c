/*  fatal: assertions that stay on, and the allocator that never fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fatal.h"

void
ord_fatal_assert (const char *condition, const char *file, int line, const char *function)
{
    fprintf (stderr, "orderd: %s:%d: %s: invariant broken: %s\n", file, line, function,
             condition);
    fflush (stderr);
    abort ();
}

static void *
s_checked (void *pointer, size_t size)
{
    if (!pointer && size) {
        fprintf (stderr, "orderd: out of memory (%zu bytes)\n", size);
        fflush (stderr);
        abort ();
    }
    return pointer;
}

void *
ord_malloc (size_t size)
{
    return s_checked (malloc (size? size: 1), size? size: 1);
}

void *
ord_calloc (size_t count, size_t size)
{
    return s_checked (calloc (count? count: 1, size? size: 1), 1);
}

void *
ord_realloc (void *pointer, size_t size)
{
    return s_checked (realloc (pointer, size? size: 1), size? size: 1);
}

char *
ord_strdup (const char *text)
{
    return (char *) s_checked (strdup (text), strlen (text) + 1);
}
