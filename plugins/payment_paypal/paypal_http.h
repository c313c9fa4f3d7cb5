/*  paypal_http: many HTTP exchanges with PayPal at once, over libcurl's
    multi socket interface, driven from the adapter actor's own loop (no
    thread per call): libcurl's sockets (CURLMOPT_SOCKETFUNCTION) and the
    actor's ZeroMQ sockets share one epoll set; paypal_http_wait waits on
    it (and on libcurl's timer), paypal_http_work hands the ready sockets
    to curl_multi_socket_action.

    The caller (payment_paypal.c) owns each paypal_exchange_t, fills its
    request fields and submits it; the engine queues it in arrival order,
    puts it on the wire when fewer than max_in_flight exchanges are there,
    with a bearer token, and calls `done` once with the outcome in the
    exchange. What the engine takes care of for every exchange:

      - one access token for everyone: when no live token is cached,
        exactly one token request goes out and every exchange waits for it
        (single flight); an exchange answered 401 waits for a token newer
        than the one it was sent with (one new token for a burst of 401s)
        and is sent once more; a second 401 is its outcome;
      - 429: the exchange's outcome is the 429; new exchanges are held for
        the Retry-After PayPal asked (1 s when it named none), and those
        whose deadline comes before the end of that pause end at once as
        ORD_EUNAVAILABLE;
      - the deadline: an exchange that cannot finish before its
        deadline_mono ends ORD_EUNAVAILABLE at the deadline, queued or on
        the wire (paypal_http_expire);
      - keep-alive connections in the multi handle's cache, HTTP/2
        multiplexing where PayPal offers it (https);
      - PayPal's health: failing (with the reason) after a transport
        failure, a 5xx, a refused token or a 429 pause; well again at the
        next exchange PayPal answers. Slowness alone is not failure.

    Outcome: rc 0 with the HTTP status and the parsed body (json, NULL when
    not JSON) of the answer, or rc ORD_EUNAVAILABLE (a transport failure,
    the deadline, a token PayPal would not give) with the reason in why. */
#ifndef PAYPAL_HTTP_H_INCLUDED
#define PAYPAL_HTTP_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include "orderd/errors.h"
#include "../common/adapter_server.h"

#pragma GCC visibility push(hidden)

#define PAYPAL_PATH_MAX         192
#define PAYPAL_REQUEST_ID_MAX   124

typedef struct _paypal_http_t paypal_http_t;
typedef struct _paypal_exchange_t paypal_exchange_t;

typedef enum {
    PAYPAL_EXCHANGE_IDLE,       //  not submitted (or reset)
    PAYPAL_EXCHANGE_QUEUED,     //  waiting for a slot, a token or a pause
    PAYPAL_EXCHANGE_ON_WIRE,    //  sent, no answer yet
    PAYPAL_EXCHANGE_DONE        //  outcome in rc, why, status, json
} paypal_exchange_state_t;

struct _paypal_exchange_t {
    //  The request, set by the caller before paypal_http_submit
    const char *method;                     //  "GET" or "POST"
    char path [PAYPAL_PATH_MAX];            //  after base_url
    char *payload;                          //  JSON text or NULL; ours after submit
    char request_id [PAYPAL_REQUEST_ID_MAX];    //  PayPal-Request-Id or ""
    const char *what;                       //  "create", ...: for messages
    int64_t deadline_mono;                  //  zclock_mono () ms
    void *owner;                            //  handed to `done`
    //  The outcome, when state is DONE
    paypal_exchange_state_t state;
    int rc;
    ord_why_t why;
    long status;
    json_t *json;
    //  The engine's
    int round;                              //  1 after a 401
    uint64_t token_generation;              //  of the token it was sent with
    paypal_exchange_t *prev, *next;         //  in the queue
    void *transfer;                         //  on the wire
};

typedef void (paypal_done_fn) (paypal_exchange_t *exchange, void *owner);

typedef struct {
    const char *base_url;                   //  no trailing '/'
    const char *client_id;
    const char *secret;                     //  copied; wiped at destroy
    int64_t http_timeout_ms;                //  one exchange at most
    int64_t max_in_flight;                  //  exchanges on the wire at once
    const char *user_agent;
    paypal_done_fn *done;
} paypal_http_config_t;

//  A new engine; NULL with the reason in *why
paypal_http_t *
    paypal_http_new (const paypal_http_config_t *config, ord_why_t *why);

//  Ends every exchange (without calling done), frees everything
void
    paypal_http_destroy (paypal_http_t **self_p);

//  Queues `exchange` (state IDLE, request fields set); may end it at once
//  (DONE, done called) when it cannot be sent in time
void
    paypal_http_submit (paypal_http_t *self, paypal_exchange_t *exchange);

//  Ends an exchange that is queued or on the wire, without calling done:
//  for a caller that is going away
void
    paypal_http_abandon (paypal_http_t *self, paypal_exchange_t *exchange);

//  Frees an exchange's payload and outcome and makes it IDLE again
void
    paypal_exchange_reset (paypal_exchange_t *exchange);

//  Waits until one of `socks` (ZeroMQ sockets) may be readable, a
//  transfer needs work, or timeout_ms passed
void
    paypal_http_wait (paypal_http_t *self, zsock_t **socks, int sock_count,
                      int timeout_ms);

//  Moves every transfer on, ends exchanges that are answered or past
//  their deadline (done is called for each), and sends what may go
void
    paypal_http_work (paypal_http_t *self);

//  The next time (zclock_mono ms) the engine needs paypal_http_work even
//  if nothing happens: a deadline or the end of a pause; INT64_MAX if none
int64_t
    paypal_http_next_mono (paypal_http_t *self);

//  True when PayPal works as far as we know; else the reason in `reason`
bool
    paypal_http_healthy (paypal_http_t *self, char *reason, size_t size);

//  Token requests made since start
uint64_t
    paypal_http_token_requests (paypal_http_t *self);

#pragma GCC visibility pop

#endif
