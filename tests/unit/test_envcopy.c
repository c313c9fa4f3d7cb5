/*  envcopy: a compacting copy of a live LMDB environment on its own
    thread, and the moment its state is fixed.

        ord_envcopy_t *copy;
        ord_envcopy_start (env, "/backups/x", &copy, &why);
        ord_envcopy_wait_fixed (copy, 5000);     //  hold the writers until here
        ...writers go on...
        ord_envcopy_join (&copy, &bytes, &why);  //  the copy has ended

    Every test copies a real environment in a temporary folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "envcopy.h"
#include "lmdb_env.h"
#include "temp_dir.h"

#define S_KEYS        20000        //  enough pages that a copy takes a while
#define S_VALUE_SIZE  200

typedef struct {
    char root [64];
    char source [96];
    char target [96];
    MDB_env *env;
    MDB_dbi dbi;
} fixture_t;

static MDB_env *
s_env_open (const char *dir, MDB_dbi *dbi)
{
    return lmdb_env_open (dir, 64 * 1024 * 1024, MDB_NOTLS | MDB_NOSYNC, dbi);
}

//  Writes keys from..to-1 in one transaction
static void
s_put_keys (fixture_t *fx, int from, int to)
{
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (fx->env, NULL, 0, &txn), 0);
    char value [S_VALUE_SIZE];
    memset (value, 'v', sizeof value);
    for (int i = from; i < to; i++) {
        char key [16];
        MDB_val k = { (size_t) snprintf (key, sizeof key, "%08d", i), key };
        MDB_val v = { sizeof value, value };
        assert_int_equal (mdb_put (txn, fx->dbi, &k, &v, 0), 0);
    }
    assert_int_equal (mdb_txn_commit (txn), 0);
}

static size_t
s_count_keys (const char *dir)
{
    MDB_dbi dbi;
    MDB_env *env = s_env_open (dir, &dbi);
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    MDB_stat stat;
    assert_int_equal (mdb_stat (txn, dbi, &stat), 0);
    mdb_txn_abort (txn);
    mdb_env_close (env);
    return stat.ms_entries;
}

static int
setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    temp_dir_new (fx->root, sizeof fx->root, "test_envcopy");
    snprintf (fx->source, sizeof fx->source, "%s/source", fx->root);
    snprintf (fx->target, sizeof fx->target, "%s/target", fx->root);
    assert_int_equal (mkdir (fx->source, 0700), 0);
    assert_int_equal (mkdir (fx->target, 0700), 0);
    fx->env = s_env_open (fx->source, &fx->dbi);
    s_put_keys (fx, 0, S_KEYS);
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    mdb_env_close (fx->env);
    temp_dir_remove (fx->root);
    free (fx);
    return 0;
}

//  What is committed after wait_fixed returns is not in the copy, however
//  long the copy still takes; what was committed before is.
static void
test_the_copy_holds_the_state_at_the_moment_it_was_fixed (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    int stored = S_KEYS;
    for (int round = 0; round < 5; round++) {
        char target [128];
        snprintf (target, sizeof target, "%s/%d", fx->target, round);
        assert_int_equal (mkdir (target, 0700), 0);
        ord_envcopy_t *copy;
        ord_why_t why;
        s_put_keys (fx, stored, stored + 1);
        stored++;
        int before = stored;
        assert_int_equal (ord_envcopy_start (fx->env, target, &copy, &why), 0);
        assert_int_equal (ord_envcopy_wait_fixed (copy, 10000), 0);
        s_put_keys (fx, stored, stored + 1000);      //  the writers go on at once
        stored += 1000;
        uint64_t bytes = 0;
        assert_int_equal (ord_envcopy_join (&copy, &bytes, &why), 0);
        assert_null (copy);
        assert_true (bytes > (uint64_t) S_KEYS * S_VALUE_SIZE);
        assert_int_equal (s_count_keys (target), before);
    }
}

static void
test_a_copy_into_a_folder_with_a_store_fails_and_says_why (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    MDB_dbi dbi;
    mdb_env_close (s_env_open (fx->target, &dbi));    //  target/data.mdb now exists
    ord_envcopy_t *copy;
    ord_why_t why;
    assert_int_equal (ord_envcopy_start (fx->env, fx->target, &copy, &why), 0);
    //  A copy that ended is fixed too: the caller is never left waiting
    assert_int_equal (ord_envcopy_wait_fixed (copy, 10000), 0);
    assert_int_equal (ord_envcopy_join (&copy, NULL, &why), ORD_ESTORE);
    assert_non_null (strstr (why.text, fx->target));
    ord_envcopy_join (&copy, NULL, &why);           //  twice is harmless
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_the_copy_holds_the_state_at_the_moment_it_was_fixed,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_copy_into_a_folder_with_a_store_fails_and_says_why,
                                         setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
