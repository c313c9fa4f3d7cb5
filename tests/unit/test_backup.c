/*  backup: the checks on a backup's folder, and the store's write barrier
    that makes copies of several environments agree.

        if (ord_backup_check_dir (dir, &why) == 0)   //  absolute, missing or empty
            ...
        ord_store_barrier (client, fn, arg);  //  fn runs on the writer: no commit meanwhile

    The whole backup (orderd and its adapters, then a restore) is tested
    against the real daemon in tests/integration/test_backup.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <czmq.h>
#include "backup.h"
#include "temp_dir.h"

typedef struct {
    char root [64];
} fixture_t;

static int
setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    temp_dir_new (fx->root, sizeof fx->root, "test_backup");
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    temp_dir_remove (fx->root);
    free (fx);
    return 0;
}

static void
test_a_missing_or_empty_absolute_folder_may_take_a_backup (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    ord_why_t why;
    char path [128];
    assert_int_equal (ord_backup_check_dir (fx->root, &why), 0);
    snprintf (path, sizeof path, "%s/not/yet", fx->root);
    assert_int_equal (ord_backup_check_dir (path, &why), 0);
}

static void
test_anything_else_is_refused_and_left_alone (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    ord_why_t why;
    assert_int_equal (ord_backup_check_dir ("relative/dir", &why), ORD_EBADREQ);
    assert_non_null (strstr (why.text, "absolute"));
    assert_int_equal (ord_backup_check_dir ("", &why), ORD_EBADREQ);
    char file [128];
    snprintf (file, sizeof file, "%s/file", fx->root);
    FILE *handle = fopen (file, "w");
    assert_non_null (handle);
    fclose (handle);
    assert_int_equal (ord_backup_check_dir (file, &why), ORD_EBADREQ);
    assert_non_null (strstr (why.text, "not a folder"));
    //  The root now holds a file: not empty
    assert_int_equal (ord_backup_check_dir (fx->root, &why), ORD_EBADREQ);
    assert_non_null (strstr (why.text, "not empty"));
    struct stat info;
    assert_int_equal (stat (file, &info), 0);
    assert_int_equal (info.st_size, 0);
}

//  ---------------------------------------------------------------------
//  The write barrier

typedef struct {
    ord_store_t *store;
    zsock_t *other;                //  another thread's writer client
    ord_batch_t *batch;
    size_t txnid_before, txnid_after;
} s_barrier_check_t;

static size_t
s_last_txnid (ord_store_t *store)
{
    MDB_envinfo info;
    assert_int_equal (mdb_env_info (ord_store_env (store), &info), 0);
    return info.me_last_txnid;
}

//  On the writer: a batch sent meanwhile is not committed while we run
static int
s_barrier_fn (void *arg)
{
    s_barrier_check_t *check = (s_barrier_check_t *) arg;
    check->txnid_before = s_last_txnid (check->store);
    assert_int_equal (ord_store_commit_send (check->other, check->batch), 0);
    zclock_sleep (100);
    check->txnid_after = s_last_txnid (check->store);
    return 42;
}

static void
test_nothing_commits_while_a_barrier_runs (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char dir [128];
    snprintf (dir, sizeof dir, "%s/store", fx->root);
    ord_store_t *store = NULL;
    ord_why_t why;
    assert_int_equal (ord_store_open (dir, 16 << 20, false, 126, &store, &why), 0);
    char events [64];
    snprintf (events, sizeof events, "inproc://test-backup-events-%p", (void *) fx);
    zactor_t *writer = ord_store_writer_new (store, events, &why);
    assert_non_null (writer);
    zsock_t *client = ord_store_client_new (store);
    s_barrier_check_t check = { store, ord_store_client_new (store), ord_batch_new (), 0, 0 };
    assert_non_null (client);
    assert_non_null (check.other);
    ord_batch_put (check.batch, ORD_DB_META, "k", 1, "v", 1);

    assert_int_equal (ord_store_barrier (client, s_barrier_fn, &check), 42);
    assert_int_equal (check.txnid_after, check.txnid_before);
    //  ...and it is committed once the barrier is over
    assert_int_equal (ord_store_commit_wait (check.other), 0);
    assert_int_equal (s_last_txnid (store), check.txnid_before + 1);

    ord_batch_destroy (&check.batch);
    zsock_destroy (&check.other);
    zsock_destroy (&client);
    zactor_destroy (&writer);
    ord_store_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_missing_or_empty_absolute_folder_may_take_a_backup,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_anything_else_is_refused_and_left_alone,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_nothing_commits_while_a_barrier_runs,
                                         setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
