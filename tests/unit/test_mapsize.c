/*  mapsize: an LMDB map that grows as it fills, on a real environment in
    a temporary folder. The one thread that writes calls it between its
    write transactions:

        ord_mapsize_t *map = ord_mapsize_new (env, "store", 0);
        ...commit...
        if (rc == MDB_MAP_FULL && ord_mapsize_grow (map, &why) == 0)
            ...commit again...
        ord_mapsize_keep_room (map, &why);     //  past 80 %: grow now
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <czmq.h>
#include "mapsize.h"
#include "lmdb_env.h"
#include "temp_dir.h"

#define S_MIB      (1024 * 1024)
#define S_VALUE    (16 * 1024)

typedef struct {
    char dir [64];
    MDB_env *env;
    MDB_dbi dbi;
    ord_mapsize_t *map;
    ord_why_t why;
    int puts;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_non_null (fx);
    temp_dir_new (fx->dir, sizeof fx->dir, "test_mapsize");
    fx->env = lmdb_env_open (fx->dir, S_MIB, MDB_NOSYNC, &fx->dbi);
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    ord_mapsize_destroy (&fx->map);
    mdb_env_close (fx->env);
    temp_dir_remove (fx->dir);
    free (fx);
    return 0;
}

//  Writes one more 16 KiB value in its own transaction: 0 or MDB_MAP_FULL
static int
s_put (fixture_t *fx)
{
    static char value [S_VALUE];
    char key [32];
    snprintf (key, sizeof key, "key-%06d", fx->puts);
    MDB_val k = { strlen (key), key }, v = { S_VALUE, value };
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (fx->env, NULL, 0, &txn), 0);
    int rc = mdb_put (txn, fx->dbi, &k, &v, 0);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else
        mdb_txn_abort (txn);
    fx->puts += rc == 0;
    return rc;
}

static size_t
s_map (fixture_t *fx)
{
    size_t used, map;
    ord_mapsize_usage (fx->env, &used, &map);
    return map;
}

static void
test_a_fresh_map_wants_no_room (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 0);
    size_t used, map;
    ord_mapsize_usage (fx->env, &used, &map);
    assert_int_equal (map, S_MIB);
    assert_true (used > 0 && used < S_MIB / 10);
    assert_false (ord_mapsize_wants_room (fx->map));
    assert_int_equal (ord_mapsize_keep_room (fx->map, &fx->why), 0);
    assert_int_equal (s_map (fx), S_MIB);
    assert_int_equal (ord_mapsize_growths (fx->map), 0);
}

static void
test_past_eighty_percent_it_doubles (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 0);
    while (!ord_mapsize_wants_room (fx->map))
        assert_int_equal (s_put (fx), 0);
    size_t used, map;
    ord_mapsize_usage (fx->env, &used, &map);
    assert_true (used * 100 >= map * ORD_MAPSIZE_GROW_PERCENT);
    assert_int_equal (ord_mapsize_keep_room (fx->map, &fx->why), 0);
    assert_int_equal (s_map (fx), 2 * S_MIB);
    assert_false (ord_mapsize_wants_room (fx->map));
    assert_int_equal (ord_mapsize_growths (fx->map), 1);
}

static void
test_a_full_map_grows_and_the_write_goes_in (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 0);
    int rc;
    while ((rc = s_put (fx)) == 0)
        ;
    assert_int_equal (rc, MDB_MAP_FULL);
    int before = fx->puts;
    assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), 0);
    assert_int_equal (s_put (fx), 0);
    assert_int_equal (fx->puts, before + 1);
    assert_false (ord_mapsize_stuck (fx->map));
}

static void
test_it_stops_at_max_bytes_and_is_stuck (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 3 * S_MIB);
    assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), 0);
    assert_int_equal (s_map (fx), 2 * S_MIB);
    assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), 0);
    assert_int_equal (s_map (fx), 3 * S_MIB);     //  not 4: the limit
    assert_false (ord_mapsize_stuck (fx->map));
    assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), ORD_ESTOREFULL);
    assert_non_null (strstr (fx->why.text, "map_size_max"));
    assert_true (ord_mapsize_stuck (fx->map));
    //  A stuck map is not measured again at once
    assert_false (ord_mapsize_may_grow (fx->map));
    assert_int_equal (s_map (fx), 3 * S_MIB);
}

static void
test_without_max_bytes_the_disk_is_the_limit (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), 0);
    assert_int_equal (s_map (fx), 16 * S_MIB);
    assert_int_equal (ord_mapsize_growths (fx->map), 4);
    //  A reopened environment keeps what was written, and its map
    assert_int_equal (s_put (fx), 0);
    ord_mapsize_destroy (&fx->map);
    mdb_env_close (fx->env);
    assert_int_equal (mdb_env_create (&fx->env), 0);
    assert_int_equal (mdb_env_set_mapsize (fx->env, S_MIB), 0);
    assert_int_equal (mdb_env_open (fx->env, fx->dir, MDB_NOSYNC, 0600), 0);
    //  The map it had grown to, not the 1 MiB asked for
    assert_int_equal (ord_mapsize_adopt (fx->env), 0);
    assert_int_equal (s_map (fx), 16 * S_MIB);
    MDB_txn *txn;
    MDB_stat stat;
    assert_int_equal (mdb_txn_begin (fx->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_stat (txn, fx->dbi, &stat), 0);
    mdb_txn_abort (txn);
    assert_int_equal (stat.ms_entries, 1);
}

static void
test_no_growth_while_a_copy_reads_the_map (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 0);
    ord_mapsize_copy_begin (fx->env);           //  as envcopy's thread does
    assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), ORD_EBUSY);
    assert_non_null (strstr (fx->why.text, "copy"));
    assert_false (ord_mapsize_stuck (fx->map));
    ord_mapsize_copy_end (fx->env);
    assert_int_equal (ord_mapsize_grow (fx->map, &fx->why), 0);
    assert_int_equal (s_map (fx), 2 * S_MIB);
}

static void
test_destroy_is_safe_twice (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->map = ord_mapsize_new (fx->env, "test", 0);
    ord_mapsize_destroy (&fx->map);
    assert_null (fx->map);
    ord_mapsize_destroy (&fx->map);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_fresh_map_wants_no_room, setup, teardown),
        cmocka_unit_test_setup_teardown (test_past_eighty_percent_it_doubles, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_full_map_grows_and_the_write_goes_in, setup, teardown),
        cmocka_unit_test_setup_teardown (test_it_stops_at_max_bytes_and_is_stuck, setup, teardown),
        cmocka_unit_test_setup_teardown (test_without_max_bytes_the_disk_is_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown (test_no_growth_while_a_copy_reads_the_map, setup, teardown),
        cmocka_unit_test_setup_teardown (test_destroy_is_safe_twice, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
