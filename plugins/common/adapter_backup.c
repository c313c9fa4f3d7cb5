/*  adapter_backup: the adapter side of a hot backup. See adapter_backup.h. */
#include <string.h>
#include "envcopy.h"
#include "fatal.h"
#include "adapter_backup.h"

struct _ord_adapter_backup_t {
    MDB_env *env;                  //  not ours
    char *name;
    ord_envcopy_t *copy;           //  the copy running or ended, not yet joined
    bool holding;                  //  commits held for orderd's barrier
    int64_t hold_until;            //  zclock_mono (): the hold lapses then
    int64_t held_at_us;            //  zclock_usecs () when the hold began
    bool lapsed;                   //  the last hold ended by itself
    bool ended;                    //  the last copy ended, result below
    int result;
    uint64_t bytes;
    ord_why_t why;
};

ord_adapter_backup_t *
ord_adapter_backup_new (MDB_env *env, const char *name)
{
    ord_adapter_backup_t *self = (ord_adapter_backup_t *) zmalloc (sizeof *self);
    self->env = env;
    self->name = ord_strdup (name);
    return self;
}

void
ord_adapter_backup_destroy (ord_adapter_backup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ord_adapter_backup_t *self = *self_p;
    ord_why_t why;
    if (self->copy && ord_envcopy_join (&self->copy, NULL, &why))
        zsys_warning ("%s: backup: %s", self->name, why.text);
    free (self->name);
    free (self);
    *self_p = NULL;
}

bool
ord_adapter_backup_holding (ord_adapter_backup_t *self, int64_t *wait_ms)
{
    if (!self->holding)
        return false;
    int64_t left = self->hold_until - zclock_mono ();
    if (left <= 0) {
        self->holding = false;
        self->lapsed = true;
        zsys_warning ("%s: backup: commits held %d ms without a resume; going on",
                      self->name, ORD_ADAPTER_BACKUP_HOLD_MS);
        return false;
    }
    *wait_ms = left;
    return true;
}

//  Collects the result of a copy that has ended
static void
s_collect (ord_adapter_backup_t *self)
{
    if (self->copy && ord_envcopy_done (self->copy)) {
        self->result = ord_envcopy_join (&self->copy, &self->bytes, &self->why);
        self->ended = true;
    }
}

static int
s_begin (ord_adapter_backup_t *self, const msgpack_object *body, ord_why_t *why)
{
    ord_str_t dir;
    int rc = ord_wire_str (body, "dir", true, 4000, &dir, why);
    if (rc)
        return rc;
    if (dir.len == 0 || dir.ptr [0] != '/' || memchr (dir.ptr, 0, dir.len)) {
        ord_why_set (why, "dir: must be an absolute path");
        return ORD_EBADREQ;
    }
    s_collect (self);
    if (self->copy || self->holding) {
        ord_why_set (why, "a backup of %s is already running", self->name);
        return ORD_EINVALID;
    }
    char path [4001];
    memcpy (path, dir.ptr, dir.len);
    path [dir.len] = 0;
    //  Held from here: the copy's snapshot is then the state of this moment
    self->holding = true;
    self->lapsed = false;
    self->ended = false;
    self->held_at_us = zclock_usecs ();
    self->hold_until = zclock_mono () + ORD_ADAPTER_BACKUP_HOLD_MS;
    rc = ord_envcopy_start (self->env, path, &self->copy, why);
    if (rc == 0 && ord_envcopy_wait_fixed (self->copy, ORD_ADAPTER_BACKUP_FIX_MS)) {
        ord_why_set (why, "the copy's read transaction did not begin within %d ms",
                     ORD_ADAPTER_BACKUP_FIX_MS);
        rc = ORD_EUNAVAILABLE;
    }
    if (rc == 0) {
        s_collect (self);
        if (self->ended && self->result) {
            *why = self->why;
            rc = self->result;
        }
    }
    if (rc)
        self->holding = false;
    return rc;
}

static int
s_resume (ord_adapter_backup_t *self, msgpack_packer *pk, size_t *fields, ord_why_t *why)
{
    if (!self->holding) {
        if (self->lapsed)
            ord_why_set (why, "the hold lapsed after %d ms: the copy may not match orderd's",
                         ORD_ADAPTER_BACKUP_HOLD_MS);
        else
            ord_why_set (why, "no backup is holding commits");
        return ORD_EINVALID;
    }
    self->holding = false;
    ord_pack_kv_int (pk, "held_us", zclock_usecs () - self->held_at_us);
    (*fields)++;
    return 0;
}

static int
s_end (ord_adapter_backup_t *self, msgpack_packer *pk, size_t *fields, ord_why_t *why)
{
    s_collect (self);
    if (self->copy) {
        ord_pack_kv_bool (pk, "done", false);
        (*fields)++;
        return 0;
    }
    if (!self->ended) {
        ord_why_set (why, "no backup of %s was begun", self->name);
        return ORD_EINVALID;
    }
    if (self->result) {
        *why = self->why;
        return self->result;
    }
    ord_pack_kv_bool (pk, "done", true);
    ord_pack_kv_int (pk, "bytes", (int64_t) self->bytes);
    *fields += 2;
    return 0;
}

//  Runs the step named in `body`; reply fields go to `fields_pk`
static int
s_step (ord_adapter_backup_t *self, const msgpack_object *body, msgpack_packer *pk,
        size_t *fields, ord_why_t *why)
{
    int64_t version;
    int rc = ord_wire_int (body, "v", true, INT64_MIN, INT64_MAX, &version, why);
    if (rc)
        return rc;
    if (version != ORD_WIRE_VERSION) {
        ord_why_set (why, "v: %" PRId64 " is not supported (only %d)", version,
                     ORD_WIRE_VERSION);
        return ORD_EVERSION;
    }
    ord_str_t step;
    rc = ord_wire_str (body, "step", true, 16, &step, why);
    if (rc)
        return rc;
    if (ord_str_eq (step, "begin"))
        return s_begin (self, body, why);
    if (ord_str_eq (step, "resume"))
        return s_resume (self, pk, fields, why);
    if (ord_str_eq (step, "end"))
        return s_end (self, pk, fields, why);
    ord_why_set (why, "step: must be begin, resume or end");
    return ORD_EBADREQ;
}

bool
ord_adapter_backup_take (ord_adapter_backup_t *self, zmsg_t **msg_p, zsock_t *router)
{
    zframe_t *frame = zmsg_last (*msg_p);
    //  Most requests are not backups: look for the word before decoding
    if (!frame || zmsg_size (*msg_p) < 2
    ||  !memmem (zframe_data (frame), zframe_size (frame), "backup", 6))
        return false;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    ord_why_t why;
    if (ord_wire_decode (zframe_data (frame), zframe_size (frame), &unpacked, &why)
    ||  !ord_str_eq (ord_str_of (ord_wire_find (&unpacked.data, "op")), "backup")) {
        msgpack_unpacked_destroy (&unpacked);
        return false;
    }
    why.text [0] = 0;
    const msgpack_object *body = &unpacked.data;
    ord_str_t rid;
    int rc = ord_wire_str (body, "rid", false, 64, &rid, &why);
    if (rc)
        rid.ptr = NULL;
    msgpack_sbuffer fields;
    msgpack_sbuffer_init (&fields);
    msgpack_packer fields_pk;
    msgpack_packer_init (&fields_pk, &fields, msgpack_sbuffer_write);
    size_t field_count = 0;
    if (rc == 0)
        rc = s_step (self, body, &fields_pk, &field_count, &why);
    msgpack_sbuffer reply;
    msgpack_sbuffer_init (&reply);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &reply, msgpack_sbuffer_write);
    if (rc)
        ord_reply_error (&pk, rid, rc, why.text [0]? why.text: NULL, 0);
    else {
        ord_reply_begin (&pk, rid, true, field_count);
        ord_pack_raw (&pk, fields.data, fields.size);
    }
    //  The reply points into nothing of the request: the body can go now
    msgpack_unpacked_destroy (&unpacked);
    zmsg_remove (*msg_p, frame);
    zframe_destroy (&frame);
    if (zmsg_addmem (*msg_p, reply.data, reply.size) || zmsg_send (msg_p, router))
        zsys_warning ("%s: backup: could not send a reply", self->name);
    zmsg_destroy (msg_p);
    msgpack_sbuffer_destroy (&fields);
    msgpack_sbuffer_destroy (&reply);
    return true;
}
