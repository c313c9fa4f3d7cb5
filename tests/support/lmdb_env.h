/*  lmdb_env: a bare LMDB environment with its unnamed database, for the
    cmocka tests of modules that take an MDB_env (envcopy, mapsize).

        MDB_dbi dbi;
        MDB_env *env = lmdb_env_open (dir, 1 << 20, MDB_NOSYNC, &dbi);

    Fails the running cmocka test when LMDB refuses; include cmocka.h
    first. */
#ifndef ORD_TESTS_LMDB_ENV_H
#define ORD_TESTS_LMDB_ENV_H

#include <stddef.h>
#include <lmdb.h>

//  Opens the environment in existing folder `dir` with a map of
//  `map_bytes`, mdb_env_open's `flags`, and opens its unnamed database
MDB_env *lmdb_env_open (const char *dir, size_t map_bytes, unsigned flags, MDB_dbi *dbi);

#endif
