/*  reads: the ops the front answers itself, straight from LMDB read
    transactions (which never wait for the writer): get, list, health and
    stats. Each packs its whole reply into `pk` and returns 0, or returns
    an error code with the message for the client in *why (empty: the
    code's own message); what it packed then is to be dropped.

    Used by the front thread only. */
#ifndef ORD_READS_H_INCLUDED
#define ORD_READS_H_INCLUDED

#include "pool.h"
#include "stats.h"

typedef struct _ord_reads_t ord_reads_t;

/*  `stats` and `pool` are the front's, read by health and stats. */
ord_reads_t *ord_reads_new (ord_engine_t *engine, ord_stats_t *stats, ord_pool_t *pool);
void ord_reads_destroy (ord_reads_t **self_p);

/*  The four are the ord_read_fn handlers of the op table (op.h). */

/*  `get`: the order (of request->user_id on the service door), with its
    history when asked. Errors: ORD_EBADREQ, ORD_ENOTFOUND, ORD_EFORBIDDEN,
    ORD_ESTORE. */
int ord_reads_get (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                   ord_why_t *why);

/*  `list`: orders newest first, by user and status, a page at a time.
    Errors: ORD_EBADREQ, ORD_ESTORE. */
int ord_reads_list (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                    ord_why_t *why);

/*  `health`: ok, degraded or down, with the checks when `detailed`.
    Errors: ORD_EBADREQ. */
int ord_reads_health (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                      ord_why_t *why);

/*  `stats`: counts, rates, latencies, the store and the adapters. No
    errors. */
int ord_reads_stats (ord_reads_t *self, const ord_request_t *request, msgpack_packer *pk,
                     ord_why_t *why);

#endif
