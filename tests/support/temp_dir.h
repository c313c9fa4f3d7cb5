/*  temp_dir: the temporary folder a cmocka test works in.

        char root [64];
        temp_dir_new (root, sizeof root, "test_store");  //  /tmp/test_store-XXXXXX
        ...
        temp_dir_remove (root);                          //  and all it holds

    temp_dir_new fails the running cmocka test when it cannot make the
    folder; include cmocka.h first. */
#ifndef ORD_TESTS_TEMP_DIR_H
#define ORD_TESTS_TEMP_DIR_H

#include <stddef.h>

//  Makes /tmp/<name>-XXXXXX and writes its path into root (size bytes)
void temp_dir_new (char *root, size_t size, const char *name);

//  Removes the folder and everything below it, links not followed
void temp_dir_remove (const char *root);

#endif
