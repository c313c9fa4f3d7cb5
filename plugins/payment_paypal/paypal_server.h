/*  paypal_server: the actor loop of payment_paypal, for handlers that wait
    on PayPal. It is adapter_server's contract (adapter_server.h: ROUTER,
    envelopes, rid, ping, latency_ms, group commit, replies after the
    commit), with these differences:

      - a handler may ask PayPal (paypal_server_api). When the answer is
        not there yet, paypal_server_api returns PAYPAL_PENDING, which the
        handler hands back at once; its nested transaction is then
        dropped, whatever keep_writes says, and the handler is run again
        from the start, in a later batch, once the answer is in. A
        handler's run is therefore a pure function of the ledger and of
        PayPal's answers: it may write only what it would write anyway.
        The run that returns something else than PAYPAL_PENDING is the one
        whose writes are committed and whose reply leaves;
      - the loop waits on the actor pipe, the ROUTER and libcurl's sockets
        at once (paypal_http_wait: one epoll set), so every other call, and
        `ping`, is served while PayPal thinks;
      - calls of one order (order_id; or the order of the payment its
        provider_order_id or capture_id names) run one after the other, in
        arrival order; calls of different orders overlap;
      - every call is answered within its budget: orderd's timeout_ms less
        a margin (a quarter of it, at most 500 ms). A call still waiting
        behind another of its order, or for PayPal, at its deadline is
        answered `unavailable`;
      - `ping` is answered when it arrives (after latency_ms), with
        `degraded: <reason>` when PayPal is failing (paypal_http_healthy);
      - the `batch` op is not taken (unknown_op; ping says batch: false). */
#ifndef PAYPAL_SERVER_H_INCLUDED
#define PAYPAL_SERVER_H_INCLUDED

#include "paypal_http.h"

#pragma GCC visibility push(hidden)

#define PAYPAL_PENDING      1           //  not an ORD_E* code: those are < 0

//  What the server needs from the adapter besides adapter_server's spec
typedef struct {
    const ord_adapter_spec_t *spec;     //  name, version, maxdbs, open, ops
    //  The adapter's HTTP engine, made by spec->open with
    //  paypal_server_exchange_done as its `done`
    paypal_http_t *(*http) (void *state);
    //  The key of the order a request is about, into key (size bytes;
    //  "" when it has none), in a read txn of the adapter's environment
    //  (NULL if none could be opened)
    void (*order_key) (void *state, MDB_txn *txn, const msgpack_object *body,
                       char *key, size_t size);
} paypal_server_spec_t;

//  Runs the actor until $TERM, like ord_adapter_run
void
    paypal_server_run (zsock_t *pipe, const ord_plugin_args_t *args,
                       const paypal_server_spec_t *spec, void *state);

//  The engine's `done`: the call that waits for `exchange` runs again
void
    paypal_server_exchange_done (paypal_exchange_t *exchange, void *owner);

//  One exchange with PayPal for the running handler: the n-th call of a
//  run is the n-th exchange of the call. `payload` is JSON text or NULL
//  (copied). Returns PAYPAL_PENDING (hand it back), 0 with the HTTP
//  status and the body (*json, a reference the caller drops; NULL when
//  not JSON), or ORD_EUNAVAILABLE / ORD_EINTERNAL with call->why set
//  (through `why`).
int
    paypal_server_api (ord_adapter_call_t *call, const char *method, const char *path,
                       const char *payload, const char *request_id, const char *what,
                       long *status, json_t **json, ord_why_t *why);

#pragma GCC visibility pop

#endif
