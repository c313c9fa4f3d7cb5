/*  client: ORDP/1 request/reply over a DEALER, with timeouts. */
#include <errno.h>
#include <unistd.h>
#include "client.h"

struct _om_client_t {
    char *endpoint;
    const om_curve_t *curve;       //  NULL: plain
    zsock_t *sock;
    zsock_t *monitor;              //  with CURVE: handshake events of sock
    om_handshake_t handshake;      //  the latest the monitor said
    uint64_t sequence;             //  makes each rid unique in this process
};

//  ---------------------------------------------------------------------
//  Request bodies

void
om_body_init (om_body_t *self)
{
    msgpack_sbuffer_init (&self->buffer);
    msgpack_packer_init (&self->pk, &self->buffer, msgpack_sbuffer_write);
    self->count = 0;
}

void
om_body_destroy (om_body_t *self)
{
    msgpack_sbuffer_destroy (&self->buffer);
    self->count = 0;
}

void
om_body_str (om_body_t *self, const char *key, const char *value)
{
    ord_pack_kv_cstr (&self->pk, key, value);
    self->count++;
}

void
om_body_int (om_body_t *self, const char *key, int64_t value)
{
    ord_pack_kv_int (&self->pk, key, value);
    self->count++;
}

void
om_body_bool (om_body_t *self, const char *key, bool value)
{
    ord_pack_kv_bool (&self->pk, key, value);
    self->count++;
}

//  ---------------------------------------------------------------------
//  Replies

void
om_reply_init (om_reply_t *self)
{
    memset (self, 0, sizeof *self);
    msgpack_unpacked_init (&self->unpacked);
}

void
om_reply_reset (om_reply_t *self)
{
    msgpack_unpacked_destroy (&self->unpacked);
    zframe_destroy (&self->frame);
    om_reply_init (self);
}

void
om_reply_move (om_reply_t *dest, om_reply_t *src)
{
    om_reply_reset (dest);
    *dest = *src;
    //  body points at the unpacked data, which moved with the struct
    if (dest->body)
        dest->body = &dest->unpacked.data;
    om_reply_init (src);
}

static void
s_copy_str (const msgpack_object *map, const char *key, char *buffer, size_t size)
{
    ord_str_t str = ord_str_of (ord_wire_find (map, key));
    snprintf (buffer, size, "%.*s", (int) str.len, str.ptr? str.ptr: "");
}

//  Takes ownership of the frame. Returns 0 or OM_EBADREPLY.
static int
s_reply_decode (om_reply_t *reply, zframe_t **frame_p)
{
    om_reply_reset (reply);
    reply->frame = *frame_p;
    *frame_p = NULL;
    size_t offset = 0;
    //  Not ord_wire_decode: its depth limit is for requests, and an order
    //  inside a list reply sits a few levels deeper than in its create
    if (msgpack_unpack_next (&reply->unpacked, (const char *) zframe_data (reply->frame),
                             zframe_size (reply->frame), &offset) != MSGPACK_UNPACK_SUCCESS
    ||  reply->unpacked.data.type != MSGPACK_OBJECT_MAP) {
        om_reply_reset (reply);
        return OM_EBADREPLY;
    }
    reply->body = &reply->unpacked.data;
    const msgpack_object *ok = ord_wire_find (reply->body, "ok");
    reply->ok = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    s_copy_str (reply->body, "rid", reply->rid, sizeof reply->rid);
    const msgpack_object *error = ord_wire_find (reply->body, "error");
    if (error && error->type == MSGPACK_OBJECT_MAP) {
        s_copy_str (error, "code", reply->code, sizeof reply->code);
        s_copy_str (error, "message", reply->message, sizeof reply->message);
    }
    if (!reply->ok && !reply->code [0])
        snprintf (reply->code, sizeof reply->code, "%s", "internal");
    return 0;
}

//  ---------------------------------------------------------------------
//  The client

//  Watches the handshakes of a CURVE socket, so that a refused key can
//  be told apart from a daemon that is not there. Returns the PAIR end, or
//  NULL (then nobody says why a call timed out; the call still works).
static zsock_t *
s_monitor (zsock_t *sock)
{
    static int sequence = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://ordermon-monitor-%d-%d",
              (int) getpid (), ++sequence);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                          | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                          | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
        return NULL;
    zsock_t *monitor = zsock_new (ZMQ_PAIR);
    if (monitor) {
        zsock_set_linger (monitor, 0);
        if (zsock_connect (monitor, "%s", endpoint) != 0)
            zsock_destroy (&monitor);
    }
    if (!monitor)
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
    return monitor;
}

static void
s_disconnect (om_client_t *self)
{
    if (self->monitor && self->sock)
        zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->sock);
    self->handshake = OM_HANDSHAKE_UNKNOWN;
}

static int
s_connect (om_client_t *self)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return -1;
    //  Never keep the process alive for requests nobody will read
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 1000);
    if (self->curve) {
        //  Before connecting: the handshake uses what is set at connect time
        zcert_apply (self->curve->cert, zsock_resolve (sock));
        zsock_set_curve_serverkey (sock, self->curve->server_key);
        self->monitor = s_monitor (sock);
    }
    self->sock = sock;
    if (zsock_connect (sock, "%s", self->endpoint) != 0) {
        s_disconnect (self);
        return -1;
    }
    return 0;
}

om_client_t *
om_client_new_curve (const char *endpoint, const om_curve_t *curve)
{
    assert (endpoint);
    om_client_t *self = (om_client_t *) zmalloc (sizeof (om_client_t));
    self->endpoint = strdup (endpoint);
    self->curve = curve;
    if (!self->endpoint || s_connect (self))
        om_client_destroy (&self);
    return self;
}

om_client_t *
om_client_new (const char *endpoint)
{
    return om_client_new_curve (endpoint, NULL);
}

void
om_client_destroy (om_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    om_client_t *self = *self_p;
    s_disconnect (self);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int
om_client_reset (om_client_t *self)
{
    s_disconnect (self);
    return s_connect (self);
}

om_handshake_t
om_client_handshake (om_client_t *self)
{
    while (self->monitor && (zsock_events (self->monitor) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->monitor);
        zframe_t *head = msg? zmsg_first (msg): NULL;
        if (head && zframe_size (head) >= 2) {
            uint16_t event;
            memcpy (&event, zframe_data (head), sizeof event);
            self->handshake = event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED? OM_HANDSHAKE_OK
                            : event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH? OM_HANDSHAKE_REFUSED
                            : OM_HANDSHAKE_FAILED;
        }
        zmsg_destroy (&msg);
    }
    return self->handshake;
}

void *
om_client_handle (om_client_t *self)
{
    return self->sock? zsock_resolve (self->sock): NULL;
}

const char *
om_client_endpoint (om_client_t *self)
{
    return self->endpoint;
}

int
om_client_send (om_client_t *self, const char *op, const om_body_t *body,
                char rid [OM_RID_SIZE])
{
    if (!self->sock)
        return OM_ESEND;
    snprintf (rid, OM_RID_SIZE, "om-%ld-%" PRIu64, (long) getpid (), ++self->sequence);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3 + (body? body->count: 0));
    ord_pack_kv_int (&pk, "v", ORD_WIRE_VERSION);
    ord_pack_kv_cstr (&pk, "op", op);
    ord_pack_kv_cstr (&pk, "rid", rid);
    if (body && body->count)
        ord_pack_raw (&pk, body->buffer.data, body->buffer.size);
    //  A DEALER queues for a peer that is not there yet; DONTWAIT only
    //  fails when that queue is full
    int rc = zmq_send (zsock_resolve (self->sock), buffer.data, buffer.size, ZMQ_DONTWAIT);
    msgpack_sbuffer_destroy (&buffer);
    return rc < 0? OM_ESEND: 0;
}

int
om_client_recv (om_client_t *self, om_reply_t *reply)
{
    if (!self->sock)
        return OM_EAGAIN;
    zmsg_t *msg = NULL;
    if (zsock_events (self->sock) & ZMQ_POLLIN)
        msg = zmsg_recv (self->sock);
    if (!msg)
        return OM_EAGAIN;
    //  A DEALER sees the body alone; anything in front of it is ignored
    zframe_t *frame = zmsg_last (msg);
    zmsg_remove (msg, frame);
    zmsg_destroy (&msg);
    if (!frame)
        return OM_EBADREPLY;
    return s_reply_decode (reply, &frame);
}

int
om_client_call (om_client_t *self, const char *op, const om_body_t *body,
                int timeout_ms, om_reply_t *reply)
{
    char rid [OM_RID_SIZE];
    int rc = om_client_send (self, op, body, rid);
    if (rc)
        return rc;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return OM_ETIMEOUT;
        zmq_pollitem_t items [2] = {
            { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 },
            { self->monitor? zsock_resolve (self->monitor): NULL, 0, ZMQ_POLLIN, 0 }
        };
        int ready = zmq_poll (items, self->monitor? 2: 1, (long) left);
        if (ready < 0) {
            if (errno == EINTR && !zsys_interrupted)
                continue;
            return OM_EINTR;
        }
        if (ready == 0)
            continue;
        //  A refused key stays refused: no need to wait out the timeout
        if (items [1].revents && om_client_handshake (self) == OM_HANDSHAKE_REFUSED)
            return OM_EREFUSED;
        if (!items [0].revents)
            continue;
        rc = om_client_recv (self, reply);
        if (rc == OM_EAGAIN)
            continue;
        //  An unreadable reply cannot be matched to us; if it was ours, the
        //  timeout says so soon enough, but say what we saw instead
        if (rc == OM_EBADREPLY)
            return rc;
        if (streq (reply->rid, rid))
            return 0;
        om_reply_reset (reply);        //  a stale reply of an earlier request
    }
}
