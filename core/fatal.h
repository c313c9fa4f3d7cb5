/*  fatal: the two ways orderd stops itself on purpose, shared by the
    daemon, the tools and the plugins.
      - ord_assert: an invariant of our own state is broken (a phase not of
        its saga, a count below zero). It stays on in release builds
        (NDEBUG does not remove it), names the file, line, function and
        the condition, and aborts: better a loud stop and a core than a
        corrupted order. Never for input from a socket or a disk: that
        gets an error reply.
      - the allocator: ord_malloc, ord_calloc, ord_realloc, ord_strdup
        never return NULL; out of memory they report it and abort. That is
        orderd's one out-of-memory policy (czmq's zmalloc aborts too). */
#ifndef ORD_FATAL_H_INCLUDED
#define ORD_FATAL_H_INCLUDED

#include <stddef.h>

#define ord_assert(condition) \
    ((condition)? (void) 0: ord_fatal_assert (#condition, __FILE__, __LINE__, __func__))

/*  Reports a broken invariant and aborts. Called by ord_assert. */
void ord_fatal_assert (const char *condition, const char *file, int line,
                       const char *function) __attribute__ ((noreturn));

void *ord_malloc (size_t size);
void *ord_calloc (size_t count, size_t size);
void *ord_realloc (void *pointer, size_t size);
char *ord_strdup (const char *text);

#endif
