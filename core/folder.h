/*  folder: creating the folders orderd keeps its data in, with their
    missing parents (mkdir -p), so a fresh checkout starts as it is.
    Shared by orderd, its plugins and ordermon. */
#ifndef ORD_FOLDER_H_INCLUDED
#define ORD_FOLDER_H_INCLUDED

#include <sys/types.h>

/*  Creates folder `path` and each missing parent with `mode` (less the
    umask). An existing folder is fine. Returns 0, or -1 with errno set
    (ENOTDIR when a part of the path is a file). */
int ord_folder_make (const char *path, mode_t mode);

#endif
