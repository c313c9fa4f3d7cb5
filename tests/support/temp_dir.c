/*  temp_dir: the temporary folder a cmocka test works in. See temp_dir.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include "temp_dir.h"

static int
s_remove_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    return remove (path);
}

void
temp_dir_new (char *root, size_t size, const char *name)
{
    int length = snprintf (root, size, "/tmp/%s-XXXXXX", name);
    assert_true (length > 0 && (size_t) length < size);
    assert_non_null (mkdtemp (root));
}

void
temp_dir_remove (const char *root)
{
    nftw (root, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
