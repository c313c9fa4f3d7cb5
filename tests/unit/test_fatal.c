/*  fatal: assertions that stay on in release builds, and the allocator
    that never returns NULL.

        ord_assert (slot->inflight > 0);        //  aborts, naming this line
        char *copy = ord_strdup (text);         //  never NULL
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "fatal.h"

//  Runs `fn` in a child; returns its stderr and whether it aborted.
static bool
s_child_aborts (void (*fn) (void), char *output, size_t size)
{
    int pipe_fds [2];
    assert_int_equal (pipe (pipe_fds), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        dup2 (pipe_fds [1], 2);
        close (pipe_fds [0]);
        fn ();
        _exit (0);
    }
    close (pipe_fds [1]);
    size_t used = 0;
    ssize_t got;
    while (used < size - 1 && (got = read (pipe_fds [0], output + used, size - 1 - used)) > 0)
        used += (size_t) got;
    output [used] = 0;
    close (pipe_fds [0]);
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    return WIFSIGNALED (status) && WTERMSIG (status) == SIGABRT;
}

static void
s_break_an_invariant (void)
{
    int inflight = 0;
    ord_assert (inflight > 0);
}

static void
s_keep_an_invariant (void)
{
    int inflight = 1;
    ord_assert (inflight > 0);
}

static void
test_a_broken_invariant_aborts_naming_where (void **state)
{
    (void) state;
    char output [512];
    assert_true (s_child_aborts (s_break_an_invariant, output, sizeof output));
    assert_non_null (strstr (output, "test_fatal.c:"));
    assert_non_null (strstr (output, "s_break_an_invariant"));
    assert_non_null (strstr (output, "inflight > 0"));
}

static void
test_a_kept_invariant_does_nothing (void **state)
{
    (void) state;
    char output [512];
    assert_false (s_child_aborts (s_keep_an_invariant, output, sizeof output));
    assert_string_equal (output, "");
}

static void
s_allocate_too_much (void)
{
    void *pointer = ord_malloc (SIZE_MAX / 2);
    free (pointer);
}

static void
test_out_of_memory_aborts_instead_of_returning_null (void **state)
{
    (void) state;
#ifdef __SANITIZE_ADDRESS__
    skip ();        //  ASan stops a too-large allocation itself, its own way
#endif
    char output [512];
    assert_true (s_child_aborts (s_allocate_too_much, output, sizeof output));
    assert_non_null (strstr (output, "out of memory"));
}

static void
test_the_allocator_gives_usable_memory (void **state)
{
    (void) state;
    char *copy = ord_strdup ("order");
    assert_string_equal (copy, "order");
    copy = (char *) ord_realloc (copy, 64);
    assert_string_equal (copy, "order");
    free (copy);
    int *zeros = (int *) ord_calloc (4, sizeof (int));
    assert_int_equal (zeros [0] + zeros [3], 0);
    free (zeros);
    free (ord_malloc (0));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_broken_invariant_aborts_naming_where),
        cmocka_unit_test (test_a_kept_invariant_does_nothing),
        cmocka_unit_test (test_out_of_memory_aborts_instead_of_returning_null),
        cmocka_unit_test (test_the_allocator_gives_usable_memory),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
