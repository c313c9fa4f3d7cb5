/*  backup: hot backup of orderd and its in-process adapters. See backup.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include "actor.h"
#include "envcopy.h"
#include "folder.h"
#include "backup.h"

#define S_FIX_TIMEOUT_MS  5000     //  a copy's read txn must begin by then
#define S_END_POLL_MS     20       //  how often an adapter's copy is asked if done
#define S_PARTS           2        //  payment, fulfilment

//  One adapter's part of a backup
typedef struct {
    ord_adapter_t *adapter;        //  not ours
    ord_adapter_client_t *client;
    bool copyable;                 //  in-process: its ping says backup: true
    bool begun;
    char dir [PATH_MAX];
    int64_t held_us;
    uint64_t bytes;
} s_part_t;

//  One backup
typedef struct {
    ord_engine_t *engine;          //  not ours
    char dir [PATH_MAX];
    s_part_t parts [S_PARTS];
    ord_envcopy_t *copy;           //  orderd's own
    uint64_t bytes;
    int64_t stall_us;              //  how long the writer stood still
    int rc;
    ord_why_t why;
} s_run_t;

int
ord_backup_check_dir (const char *dir, ord_why_t *why)
{
    if (!dir || dir [0] != '/') {
        ord_why_set (why, "dir: must be an absolute path");
        return ORD_EBADREQ;
    }
    if (strlen (dir) > PATH_MAX - 64) {
        ord_why_set (why, "dir: longer than %d bytes", PATH_MAX - 64);
        return ORD_EBADREQ;
    }
    struct stat info;
    if (stat (dir, &info)) {
        if (errno == ENOENT)
            return 0;
        ord_why_set (why, "dir: %s: %s", dir, strerror (errno));
        return ORD_EBADREQ;
    }
    if (!S_ISDIR (info.st_mode)) {
        ord_why_set (why, "dir: %s exists and is not a folder", dir);
        return ORD_EBADREQ;
    }
    DIR *folder = opendir (dir);
    if (!folder) {
        ord_why_set (why, "dir: %s: %s", dir, strerror (errno));
        return ORD_EBADREQ;
    }
    struct dirent *entry;
    bool empty = true;
    while (empty && (entry = readdir (folder)))
        empty = streq (entry->d_name, ".") || streq (entry->d_name, "..");
    closedir (folder);
    if (!empty) {
        ord_why_set (why, "dir: %s is not empty", dir);
        return ORD_EBADREQ;
    }
    return 0;
}

//  Sends one `backup` (or `ping`: step NULL) request to an adapter
static int
s_send (s_part_t *part, const char *op, const char *step, const char *dir, ord_why_t *why)
{
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &fields, msgpack_sbuffer_write);
    uint32_t count = 0;
    if (step) {
        ord_pack_kv_cstr (&pk, "step", step);
        count++;
    }
    if (dir) {
        ord_pack_kv_cstr (&pk, "dir", dir);
        count++;
    }
    int rc = ord_adapter_call_send (part->client, op, fields.data, fields.size, count, why);
    msgpack_sbuffer_destroy (&fields);
    return rc;
}

//  Waits for the answer to what s_send sent
static int
s_wait (s_part_t *part, const char *step, msgpack_unpacked *reply, ord_why_t *why)
{
    int rc = ord_adapter_call_wait (part->client, reply, why);
    if (rc)
        ord_why_prefix (why, "%s: backup %s: ", ord_adapter_name (part->adapter),
                        step? step: "ping");
    return rc;
}

static int
s_call (s_part_t *part, const char *op, const char *step, const char *dir,
        msgpack_unpacked *reply, ord_why_t *why)
{
    int rc = s_send (part, op, step, dir, why);
    return rc? rc: s_wait (part, step, reply, why);
}

static bool
s_reply_bool (msgpack_unpacked *reply, const char *key)
{
    const msgpack_object *value = ord_wire_find (&reply->data, key);
    return value && value->type == MSGPACK_OBJECT_BOOLEAN && value->via.boolean;
}

static int64_t
s_reply_int (msgpack_unpacked *reply, const char *key)
{
    const msgpack_object *value = ord_wire_find (&reply->data, key);
    return value && value->type == MSGPACK_OBJECT_POSITIVE_INTEGER
         ? (int64_t) value->via.u64: 0;
}

//  Sets up each adapter's part: a client, and whether it can be copied
static int
s_prepare (s_run_t *run)
{
    ord_adapter_t *adapters [S_PARTS] = { run->engine->payment, run->engine->fulfilment };
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < S_PARTS; i++) {
        s_part_t *part = &run->parts [i];
        part->adapter = adapters [i];
        part->client = ord_adapter_client_new (part->adapter);
        if (!part->client) {
            ord_why_set (&run->why, "cannot reach the %s adapter", ord_adapter_kind (part->adapter));
            rc = ORD_EINTERNAL;
            break;
        }
        rc = s_call (part, "ping", NULL, NULL, &reply, &run->why);
        part->copyable = rc == 0 && s_reply_bool (&reply, "backup");
        int size = snprintf (part->dir, sizeof part->dir, "%s/%s", run->dir,
                             ord_adapter_name (part->adapter));
        if (size < 0 || (size_t) size >= sizeof part->dir) {
            ord_why_set (&run->why, "dir: too long");
            rc = ORD_EBADREQ;
        }
    }
    msgpack_unpacked_destroy (&reply);
    return rc;
}

//  The barrier, on the writer's thread: nothing commits to orderd's store
//  while this runs, nor to an adapter's between its begin and its resume.
//  The adapters are asked at once, not one after the other: each finishes
//  the batch it is committing before it takes the begin, and the barrier
//  lasts the longest of those, not their sum.
static int
s_hold (void *arg)
{
    s_run_t *run = (s_run_t *) arg;
    int64_t started_us = zclock_usecs ();
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    bool sent [S_PARTS] = { false };
    //  envcopy holds the map still for the copy (ord_mapsize_copy_begin)
    int rc = ord_envcopy_start (ord_store_env (run->engine->store), run->dir, &run->copy,
                                &run->why);
    for (size_t i = 0; rc == 0 && i < S_PARTS; i++)
        if (run->parts [i].copyable) {
            rc = s_send (&run->parts [i], "backup", "begin", run->parts [i].dir, &run->why);
            sent [i] = rc == 0;
        }
    if (rc == 0 && ord_envcopy_wait_fixed (run->copy, S_FIX_TIMEOUT_MS)) {
        ord_why_set (&run->why, "orderd's copy did not begin within %d ms", S_FIX_TIMEOUT_MS);
        rc = ORD_EUNAVAILABLE;
    }
    for (size_t i = 0; i < S_PARTS; i++) {
        ord_why_t why;
        int begin_rc = sent [i]? s_wait (&run->parts [i], "begin", &reply, &why): 0;
        run->parts [i].begun = sent [i] && begin_rc == 0;
        if (begin_rc == ORD_EUNKNOWNOP) {
            //  Its ping said backup, but it is not ours to copy (a bridge)
            run->parts [i].copyable = false;
            begin_rc = 0;
        }
        if (begin_rc && rc == 0) {
            run->why = why;
            rc = begin_rc;
        }
    }
    //  Every snapshot is fixed (or we failed): let every writer go on. An
    //  adapter whose begin failed is told too: it may hold all the same
    //  (its answer came too late), and would only let go after its lapse
    for (size_t i = 0; i < S_PARTS; i++) {
        ord_why_t why;
        sent [i] = sent [i] && s_send (&run->parts [i], "backup", "resume", NULL, &why) == 0;
    }
    for (size_t i = 0; i < S_PARTS; i++) {
        s_part_t *part = &run->parts [i];
        ord_why_t why;
        why.text [0] = 0;
        int resume_rc = sent [i]? s_wait (part, "resume", &reply, &why): ORD_EUNAVAILABLE;
        if (resume_rc == 0)
            part->held_us = s_reply_int (&reply, "held_us");
        else
        if (part->begun && rc == 0) {
            //  Its hold lapsed: its copy may be of a later instant
            run->why = why;
            rc = ORD_EUNAVAILABLE;
        }
    }
    //  The writer goes on when this returns
    run->stall_us = zclock_usecs () - started_us;
    msgpack_unpacked_destroy (&reply);
    return rc;
}

//  Waits for every copy to end; the first error is kept
static int
s_finish_copies (s_run_t *run, int rc)
{
    ord_why_t why;
    int copy_rc = ord_envcopy_join (&run->copy, &run->bytes, &why);
    if (copy_rc && rc == 0) {
        run->why = why;
        rc = copy_rc;
    }
    msgpack_unpacked reply;
    msgpack_unpacked_init (&reply);
    for (size_t i = 0; i < S_PARTS; i++) {
        s_part_t *part = &run->parts [i];
        //  An adapter answers `end` at once: done or not yet
        while (part->begun) {
            int end_rc = s_call (part, "backup", "end", NULL, &reply, &why);
            if (end_rc == 0 && !s_reply_bool (&reply, "done")) {
                zclock_sleep (S_END_POLL_MS);
                continue;
            }
            if (end_rc && rc == 0) {
                run->why = why;
                rc = end_rc;
            }
            part->bytes = (uint64_t) s_reply_int (&reply, "bytes");
            part->begun = false;
        }
    }
    msgpack_unpacked_destroy (&reply);
    return rc;
}

static int
s_write_manifest (s_run_t *run)
{
    char path [PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/%s", run->dir, ORD_BACKUP_MANIFEST);
    FILE *file = fopen (path, "wx");
    if (!file) {
        ord_why_set (&run->why, "cannot create %s: %s", path, strerror (errno));
        return ORD_ESTORE;
    }
    fprintf (file, "orderd backup, restore with orderd/data_dir = %s\n", run->dir);
    fprintf (file, "taken_at_ms %" PRId64 "\nwrite_stall_us %" PRId64 "\n",
             ord_engine_now (), run->stall_us);
    fprintf (file, "orderd %" PRIu64 " bytes\n", run->bytes);
    for (size_t i = 0; i < S_PARTS; i++) {
        s_part_t *part = &run->parts [i];
        if (part->copyable)
            fprintf (file, "%s %s %" PRIu64 " bytes\n", ord_adapter_kind (part->adapter),
                     ord_adapter_name (part->adapter), part->bytes);
        else
            fprintf (file, "%s %s not copied (out of process)\n",
                     ord_adapter_kind (part->adapter), ord_adapter_name (part->adapter));
    }
    bool failed = fflush (file) || fsync (fileno (file));
    if (fclose (file) || failed) {
        ord_why_set (&run->why, "cannot write %s", path);
        return ORD_ESTORE;
    }
    return 0;
}

static int
s_run (s_run_t *run, zsock_t *writer)
{
    int rc = ord_backup_check_dir (run->dir, &run->why);
    if (rc == 0)
        rc = s_prepare (run);
    if (rc == 0 && ord_folder_make (run->dir, 0750)) {
        ord_why_set (&run->why, "cannot create %s: %s", run->dir, strerror (errno));
        rc = ORD_ESTORE;
    }
    for (size_t i = 0; rc == 0 && i < S_PARTS; i++)
        if (run->parts [i].copyable && mkdir (run->parts [i].dir, 0750)) {
            ord_why_set (&run->why, "cannot create %s: %s", run->parts [i].dir, strerror (errno));
            rc = ORD_ESTORE;
        }
    if (rc == 0) {
        //  The adapter clients are used on the writer's thread while this
        //  one waits in ord_store_barrier (its send and receive fence them)
        rc = ord_store_barrier (writer, s_hold, run);
        rc = s_finish_copies (run, rc);
    }
    if (rc == 0)
        rc = s_write_manifest (run);
    for (size_t i = 0; i < S_PARTS; i++)
        ord_adapter_client_destroy (&run->parts [i].client);
    return rc;
}

static void
s_pack_parts (s_run_t *run, msgpack_packer *pk)
{
    ord_pack_cstr (pk, "adapters");
    msgpack_pack_array (pk, S_PARTS);
    for (size_t i = 0; i < S_PARTS; i++) {
        s_part_t *part = &run->parts [i];
        msgpack_pack_map (pk, 5);
        ord_pack_kv_cstr (pk, "kind", ord_adapter_kind (part->adapter));
        ord_pack_kv_cstr (pk, "name", ord_adapter_name (part->adapter));
        ord_pack_kv_bool (pk, "copied", part->copyable);
        ord_pack_kv_int (pk, "bytes", (int64_t) part->bytes);
        ord_pack_kv_int (pk, "held_us", part->held_us);
    }
}

//  Runs the backup a request asks for and packs its reply
static void
s_serve (ord_engine_t *engine, ord_request_t *request, zsock_t *writer)
{
    s_run_t *run = (s_run_t *) zmalloc (sizeof *run);
    run->engine = engine;
    ord_str_t dir;
    run->rc = ord_wire_str (&request->body.data, "dir", true, PATH_MAX - 64, &dir, &run->why);
    if (run->rc == 0) {
        memcpy (run->dir, dir.ptr, dir.len);
        run->dir [dir.len] = 0;
        if (memchr (dir.ptr, 0, dir.len)) {
            ord_why_set (&run->why, "dir: must not hold a NUL byte");
            run->rc = ORD_EBADREQ;
        }
    }
    if (run->rc == 0)
        run->rc = s_run (run, writer);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    if (run->rc) {
        zsys_warning ("backup into %s failed: %s", run->dir, run->why.text);
        ord_reply_error (&pk, request->rid, run->rc, run->why.text, 0);
    }
    else {
        zsys_info ("backup into %s: %" PRIu64 " bytes of orderd, writers held %" PRId64 " us",
                   run->dir, run->bytes, run->stall_us);
        ord_reply_begin (&pk, request->rid, true, 4);
        ord_pack_kv_cstr (&pk, "dir", run->dir);
        ord_pack_kv_int (&pk, "bytes", (int64_t) run->bytes);
        ord_pack_kv_int (&pk, "write_stall_us", run->stall_us);
        s_pack_parts (run, &pk);
    }
    request->reply = zframe_new (buffer.data, buffer.size);
    request->result = run->rc;
    msgpack_sbuffer_destroy (&buffer);
    free (run);
}

static void
s_backup_actor (zsock_t *pipe, void *args)
{
    ord_engine_t *engine = (ord_engine_t *) args;
    ord_thread_name ("ord-backup");
    zsock_t *replies = zsock_new (ZMQ_PUSH);
    zsock_t *writer = ord_store_client_new (engine->store);
    if (replies && zsock_connect (replies, "%s", engine->replies))
        zsock_destroy (&replies);
    zsock_signal (pipe, 0);
    while (true) {
        char *command = NULL;
        void *pointer = NULL;
        if (zsock_recv (pipe, "sp", &command, &pointer))
            break;
        bool term = !command || streq (command, "$TERM");
        if (command && streq (command, "REQ") && pointer) {
            ord_request_t *request = ord_request_check (pointer);
            if (replies && writer)
                s_serve (engine, request, writer);
            else
                ord_request_answer (request, ORD_EINTERNAL, "the backup actor has no sockets",
                                    NULL);
            if (!replies || zsock_send (replies, "p", request))
                ord_request_destroy (&request);
        }
        zstr_free (&command);
        if (term)
            break;
    }
    zsock_destroy (&writer);
    zsock_destroy (&replies);
}

zactor_t *
ord_backup_new (ord_engine_t *engine)
{
    return zactor_new (s_backup_actor, engine);
}
