/*  lmdb_env: a bare LMDB environment for tests. See lmdb_env.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "lmdb_env.h"

MDB_env *
lmdb_env_open (const char *dir, size_t map_bytes, unsigned flags, MDB_dbi *dbi)
{
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_mapsize (env, map_bytes), 0);
    assert_int_equal (mdb_env_open (env, dir, flags, 0600), 0);
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, NULL, 0, dbi), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    return env;
}
