/*  folder: mkdir -p. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "folder.h"

static int
s_make_one (const char *path, mode_t mode)
{
    if (mkdir (path, mode) == 0)
        return 0;
    int saved = errno;
    struct stat info;
    //  EEXIST may be a file; another errno (EACCES on a parent we only
    //  traverse) does not matter when the folder is there already
    if (stat (path, &info) == 0) {
        if (S_ISDIR (info.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    errno = saved;
    return -1;
}

int
ord_folder_make (const char *path, mode_t mode)
{
    if (!path || !*path) {
        errno = ENOENT;
        return -1;
    }
    char *copy = strdup (path);
    if (!copy)
        return -1;
    int rc = 0;
    //  Each parent in turn; a leading '/' is not a folder to make
    for (char *slash = strchr (copy + 1, '/'); slash && rc == 0; slash = strchr (slash + 1, '/')) {
        if (slash [-1] == '/')
            continue;           //  "a//b"
        *slash = 0;
        rc = s_make_one (copy, mode);
        *slash = '/';
    }
    if (rc == 0)
        rc = s_make_one (copy, mode);
    int saved = errno;
    free (copy);
    errno = saved;
    return rc;
}
