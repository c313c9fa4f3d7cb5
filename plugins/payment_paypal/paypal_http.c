/*  paypal_http: many HTTP exchanges with PayPal at once. See paypal_http.h. */
#include <sys/epoll.h>
#include <curl/curl.h>
#include "paypal_http.h"

#define S_RESPONSE_MAX      (1024 * 1024)
#define S_TOKEN_MAX         4096
#define S_URL_MAX           2400
#define S_PAUSE_DEFAULT_MS  1000            //  a 429 without Retry-After
#define S_PAUSE_MAX_MS      600000          //  we wait at most that long
#define S_EVENTS_MAX        256             //  socket events taken per wait
#define S_SOCKS_MAX         4               //  ZeroMQ sockets waited on

//  A response body being read
typedef struct {
    char *data;
    size_t size;
    size_t capacity;
    bool too_large;
} s_buffer_t;

//  One HTTP request on the wire
typedef struct s_transfer_t s_transfer_t;
struct s_transfer_t {
    s_transfer_t *prev, *next;              //  every transfer
    CURL *easy;
    struct curl_slist *headers;             //  may hold the bearer token
    s_buffer_t body;
    paypal_exchange_t *exchange;            //  NULL: the token request
    int64_t timeout_ms;                     //  curl's limit for it
    bool deadline_bound;                    //  that limit is the deadline
};

struct _paypal_http_t {
    char *base_url;
    char *client_id;
    char *secret;                           //  never logged; wiped
    char *user_agent;
    int64_t http_timeout_ms;
    int64_t max_in_flight;
    paypal_done_fn *done;
    CURLM *multi;
    //  libcurl's sockets, as its socket callback names them, and the
    //  caller's ZeroMQ sockets, in one epoll set: a wait costs what is
    //  ready, not what is open
    int epoll_fd;
    int zmq_fds [S_SOCKS_MAX];
    int zmq_fd_count;
    struct epoll_event events [S_EVENTS_MAX];
    int event_count;                        //  taken by the last wait
    int64_t curl_timer_mono;                //  when libcurl wants its timeout
    CURL **idle;                            //  easy handles to use again
    size_t idle_count;
    size_t idle_max;
    s_transfer_t *transfers;                //  on the wire, token included
    paypal_exchange_t *head, *tail;         //  queued, FIFO
    int64_t on_wire;                        //  exchanges on the wire
    int64_t queue_deadline_mono;            //  earliest deadline queued (or later)
    //  The access token: one for everyone
    char *token;                            //  never logged; wiped
    int64_t token_expires_mono;
    uint64_t token_generation;              //  +1 for every new token
    s_transfer_t *token_transfer;           //  the one token request, if any
    uint64_t token_requests;
    //  What PayPal asked and how it is doing
    int64_t paused_until_mono;              //  429 Retry-After
    bool failing;
    char failure [256];
};


//  --------------------------------------------------------------------------
//  Small helpers

static void
s_wipe (char **secret_p)
{
    if (*secret_p) {
        explicit_bzero (*secret_p, strlen (*secret_p));
        free (*secret_p);
        *secret_p = NULL;
    }
}

static size_t
s_write_body (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buffer_t *buffer = (s_buffer_t *) userdata;
    size_t bytes = size * nmemb;
    if (buffer->size + bytes > S_RESPONSE_MAX) {
        buffer->too_large = true;
        return 0;                       //  curl stops with CURLE_WRITE_ERROR
    }
    if (buffer->size + bytes + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity? buffer->capacity: 4096;
        while (capacity < buffer->size + bytes + 1)
            capacity *= 2;
        char *data = (char *) realloc (buffer->data, capacity);
        if (!data)
            return 0;
        buffer->data = data;
        buffer->capacity = capacity;
    }
    memcpy (buffer->data + buffer->size, ptr, bytes);
    buffer->size += bytes;
    buffer->data [buffer->size] = 0;
    return bytes;
}

static void
s_set_failing (paypal_http_t *self, const char *reason)
{
    self->failing = true;
    snprintf (self->failure, sizeof self->failure, "%s", reason);
}

static bool
s_token_live (paypal_http_t *self, int64_t now)
{
    return self->token && now < self->token_expires_mono;
}


//  --------------------------------------------------------------------------
//  The queue

static void
s_queue_unlink (paypal_http_t *self, paypal_exchange_t *exchange)
{
    if (exchange->prev)
        exchange->prev->next = exchange->next;
    else
        self->head = exchange->next;
    if (exchange->next)
        exchange->next->prev = exchange->prev;
    else
        self->tail = exchange->prev;
    exchange->prev = exchange->next = NULL;
}

static void
s_queue_push (paypal_http_t *self, paypal_exchange_t *exchange, bool at_head)
{
    exchange->state = PAYPAL_EXCHANGE_QUEUED;
    exchange->prev = exchange->next = NULL;
    if (!self->head)
        self->head = self->tail = exchange;
    else
    if (at_head) {
        exchange->next = self->head;
        self->head->prev = exchange;
        self->head = exchange;
    }
    else {
        exchange->prev = self->tail;
        self->tail->next = exchange;
        self->tail = exchange;
    }
    if (exchange->deadline_mono < self->queue_deadline_mono)
        self->queue_deadline_mono = exchange->deadline_mono;
}

//  Ends an exchange with ORD_EUNAVAILABLE and tells its owner
static void
s_fail (paypal_http_t *self, paypal_exchange_t *exchange, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_fail (paypal_http_t *self, paypal_exchange_t *exchange, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (exchange->why.text, sizeof exchange->why.text, format, args);
    va_end (args);
    exchange->rc = ORD_EUNAVAILABLE;
    exchange->state = PAYPAL_EXCHANGE_DONE;
    self->done (exchange, exchange->owner);
}


//  --------------------------------------------------------------------------
//  Transfers

static void
s_transfer_destroy (paypal_http_t *self, s_transfer_t **transfer_p)
{
    s_transfer_t *transfer = *transfer_p;
    if (!transfer)
        return;
    if (transfer->prev)
        transfer->prev->next = transfer->next;
    else
    if (self->transfers == transfer)
        self->transfers = transfer->next;
    if (transfer->next)
        transfer->next->prev = transfer->prev;
    if (transfer->easy) {
        curl_multi_remove_handle (self->multi, transfer->easy);
        //  Kept for the next transfer: a reset handle holds no option of
        //  this one (no credentials), and setting one up anew costs more
        if (self->idle && self->idle_count < self->idle_max) {
            curl_easy_reset (transfer->easy);
            self->idle [self->idle_count++] = transfer->easy;
        }
        else
            curl_easy_cleanup (transfer->easy);
    }
    curl_slist_free_all (transfer->headers);
    free (transfer->body.data);
    free (transfer);
    *transfer_p = NULL;
}

//  A transfer to base_url + path; `auth` is a header line, or NULL for
//  basic auth with the client credentials
static s_transfer_t *
s_transfer_new (paypal_http_t *self, const char *method, const char *path,
                const char *content_type, const char *payload, const char *auth,
                const char *request_id, int64_t timeout_ms)
{
    s_transfer_t *transfer = (s_transfer_t *) calloc (1, sizeof *transfer);
    if (!transfer)
        return NULL;
    transfer->easy = self->idle_count? self->idle [--self->idle_count]: curl_easy_init ();
    if (!transfer->easy) {
        free (transfer);
        return NULL;
    }
    transfer->timeout_ms = timeout_ms;
    CURL *curl = transfer->easy;
    char url [S_URL_MAX];
    snprintf (url, sizeof url, "%s%s", self->base_url, path);
    char line [S_TOKEN_MAX + 64];
    struct curl_slist *headers = curl_slist_append (NULL, "Accept: application/json");
    if (content_type) {
        snprintf (line, sizeof line, "Content-Type: %s", content_type);
        headers = curl_slist_append (headers, line);
    }
    if (auth)
        headers = curl_slist_append (headers, auth);
    if (request_id && *request_id) {
        snprintf (line, sizeof line, "PayPal-Request-Id: %s", request_id);
        headers = curl_slist_append (headers, line);
        headers = curl_slist_append (headers, "Prefer: return=representation");
    }
    //  curl would send "Expect: 100-continue" for larger bodies: a wasted
    //  round trip
    headers = curl_slist_append (headers, "Expect:");
    explicit_bzero (line, sizeof line);
    transfer->headers = headers;

    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, self->user_agent);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &transfer->body);
    curl_easy_setopt (curl, CURLOPT_PRIVATE, transfer);
    curl_easy_setopt (curl, CURLOPT_TCP_NODELAY, 1L);
    //  HTTP/2 over TLS when PayPal offers it; a new request then waits for
    //  a connection being set up rather than opening one more, so that
    //  many calls share one multiplexed connection
    curl_easy_setopt (curl, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt (curl, CURLOPT_PIPEWAIT, 1L);
    if (!auth) {
        curl_easy_setopt (curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        curl_easy_setopt (curl, CURLOPT_USERNAME, self->client_id);
        curl_easy_setopt (curl, CURLOPT_PASSWORD, self->secret);
    }
    if (streq (method, "POST")) {
        curl_easy_setopt (curl, CURLOPT_POST, 1L);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, payload? payload: "");
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) (payload? strlen (payload): 0));
    }
    else
        curl_easy_setopt (curl, CURLOPT_HTTPGET, 1L);
    transfer->next = self->transfers;
    if (self->transfers)
        self->transfers->prev = transfer;
    self->transfers = transfer;
    if (!headers || curl_multi_add_handle (self->multi, curl) != CURLM_OK) {
        s_transfer_destroy (self, &transfer);
        return NULL;
    }
    return transfer;
}

//  Why a transfer ended without an answer
static void
s_transport_why (const s_transfer_t *transfer, CURLcode code, const char *what,
                 ord_why_t *why)
{
    if (transfer->body.too_large)
        ord_why_set (why, "PayPal %s: answer larger than %d bytes", what, S_RESPONSE_MAX);
    else
    if (code == CURLE_OPERATION_TIMEDOUT)
        ord_why_set (why, "PayPal %s: no answer within %" PRId64 " ms%s", what,
                     transfer->timeout_ms, transfer->deadline_bound
                     ? " (the call's deadline, below orderd's timeout_ms)"
                     : " (http_timeout_ms)");
    else
        ord_why_set (why, "PayPal %s: cannot reach PayPal: %s", what,
                     curl_easy_strerror (code));
}


//  --------------------------------------------------------------------------
//  The token: one request for everyone

static void
s_token_start (paypal_http_t *self)
{
    if (self->token_transfer)
        return;                         //  already asked: wait for it
    s_wipe (&self->token);
    self->token_transfer = s_transfer_new (self, "POST", "/v1/oauth2/token",
                                           "application/x-www-form-urlencoded",
                                           "grant_type=client_credentials", NULL, NULL,
                                           self->http_timeout_ms);
    self->token_requests++;
    if (!self->token_transfer) {
        //  Nothing to wait for: fail the waiters now
        while (self->head) {
            paypal_exchange_t *exchange = self->head;
            s_queue_unlink (self, exchange);
            s_fail (self, exchange, "PayPal token: cannot start a request (out of memory)");
        }
    }
}

//  Reads the token out of a 200 answer: 0, or the reason in *why
static int
s_token_take (paypal_http_t *self, const json_t *json, ord_why_t *why)
{
    const char *token = json_string_value (json_object_get (json, "access_token"));
    json_t *expires_in = json_object_get (json, "expires_in");
    if (!token || !*token || strlen (token) > S_TOKEN_MAX - 32 || !json_is_integer (expires_in)) {
        ord_why_set (why, "PayPal token: answer without a usable access_token/expires_in");
        return ORD_EUNAVAILABLE;
    }
    int64_t lifetime = (int64_t) json_integer_value (expires_in) * 1000;
    //  Renew before it lapses: a quarter of its life, at most a minute early
    int64_t margin = lifetime / 4 < 60000? lifetime / 4: 60000;
    self->token = strdup (token);
    if (!self->token) {
        ord_why_set (why, "out of memory");
        return ORD_EUNAVAILABLE;
    }
    self->token_expires_mono = zclock_mono () + lifetime - margin;
    self->token_generation++;
    return 0;
}

static void s_pause (paypal_http_t *self, CURL *easy);

static void
s_token_finish (paypal_http_t *self, CURLcode code)
{
    s_transfer_t *transfer = self->token_transfer;
    self->token_transfer = NULL;
    ord_why_t why;
    why.text [0] = 0;
    int rc = ORD_EUNAVAILABLE;
    if (code != CURLE_OK)
        s_transport_why (transfer, code, "token", &why);
    else {
        long status = 0;
        curl_easy_getinfo (transfer->easy, CURLINFO_RESPONSE_CODE, &status);
        json_error_t error;
        json_t *json = transfer->body.size
                     ? json_loadb (transfer->body.data, transfer->body.size, 0, &error): NULL;
        if (status == 200)
            rc = s_token_take (self, json, &why);
        else {
            //  Never the secret, only what PayPal said
            const char *name = json_string_value (json_object_get (json, "error"));
            const char *text = json_string_value (json_object_get (json, "error_description"));
            if (status == 400 || status == 401 || status == 403)
                ord_why_set (&why, "PayPal token: refused the client credentials of "
                             "client_id '%.40s': HTTP %ld %.60s: %.100s", self->client_id,
                             status, name? name: "", text? text: "");
            else
                ord_why_set (&why, "PayPal token: HTTP %ld %.60s", status, name? name: "");
            if (status == 429)
                s_pause (self, transfer->easy);
        }
        if (transfer->body.data)
            explicit_bzero (transfer->body.data, transfer->body.size);
        json_decref (json);
    }
    s_transfer_destroy (self, &transfer);
    if (rc == 0) {
        if (self->paused_until_mono <= zclock_mono ())
            self->failing = false;
        return;
    }
    //  Wrong credentials are fixed by an operator, not by the saga:
    //  unavailable, so the saga waits and retries meanwhile
    s_set_failing (self, why.text);
    while (self->head) {
        paypal_exchange_t *exchange = self->head;
        s_queue_unlink (self, exchange);
        s_fail (self, exchange, "%s", why.text);
    }
}


//  --------------------------------------------------------------------------
//  Sending and answers

//  A 429: hold new exchanges for what PayPal asked
static void
s_pause (paypal_http_t *self, CURL *easy)
{
    curl_off_t retry_after_s = 0;
    int64_t pause_ms = S_PAUSE_DEFAULT_MS;
    if (curl_easy_getinfo (easy, CURLINFO_RETRY_AFTER, &retry_after_s) == CURLE_OK
    &&  retry_after_s > 0)
        pause_ms = retry_after_s > S_PAUSE_MAX_MS / 1000? S_PAUSE_MAX_MS
                                                        : (int64_t) retry_after_s * 1000;
    int64_t until = zclock_mono () + pause_ms;
    if (until > self->paused_until_mono)
        self->paused_until_mono = until;
    char reason [128];
    snprintf (reason, sizeof reason, "PayPal answered 429 (too many requests): calls to "
              "PayPal paused for %" PRId64 " ms (Retry-After)", pause_ms);
    s_set_failing (self, reason);
}

static void
s_send (paypal_http_t *self, paypal_exchange_t *exchange, int64_t now)
{
    int64_t left = exchange->deadline_mono - now;
    if (left <= 0) {
        s_fail (self, exchange, "PayPal %s: not sent: the call's deadline passed while "
                "it waited (%" PRId64 " calls on the wire)", exchange->what, self->on_wire);
        return;
    }
    char auth [S_TOKEN_MAX + 32];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", self->token);
    int64_t timeout = left < self->http_timeout_ms? left: self->http_timeout_ms;
    s_transfer_t *transfer = s_transfer_new (self, exchange->method, exchange->path,
                                             exchange->payload? "application/json": NULL,
                                             exchange->payload, auth, exchange->request_id,
                                             timeout);
    explicit_bzero (auth, sizeof auth);
    if (!transfer) {
        s_fail (self, exchange, "PayPal %s: cannot start a request (out of memory)",
                exchange->what);
        return;
    }
    transfer->exchange = exchange;
    transfer->deadline_bound = left < self->http_timeout_ms;
    exchange->transfer = transfer;
    exchange->token_generation = self->token_generation;
    exchange->state = PAYPAL_EXCHANGE_ON_WIRE;
    self->on_wire++;
}

//  Sends queued exchanges while there is room, a live token and no pause
static void
s_dispatch (paypal_http_t *self)
{
    int64_t now = zclock_mono ();
    if (now < self->paused_until_mono)
        return;
    while (self->head && self->on_wire < self->max_in_flight) {
        if (!s_token_live (self, now)) {
            s_token_start (self);
            return;
        }
        paypal_exchange_t *exchange = self->head;
        s_queue_unlink (self, exchange);
        s_send (self, exchange, now);
    }
}

static void
s_exchange_finish (paypal_http_t *self, s_transfer_t *transfer, CURLcode code)
{
    paypal_exchange_t *exchange = transfer->exchange;
    exchange->transfer = NULL;
    self->on_wire--;
    ord_assert (self->on_wire >= 0);
    long status = 0;
    if (code == CURLE_OK)
        curl_easy_getinfo (transfer->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK && status == 401 && exchange->round == 0) {
        //  Expired or revoked early: one new token for everyone that got
        //  this 401, then one more try each
        if (exchange->token_generation == self->token_generation)
            s_wipe (&self->token);
        exchange->round = 1;
        s_transfer_destroy (self, &transfer);
        s_queue_push (self, exchange, true);
        return;
    }
    if (code != CURLE_OK) {
        s_transport_why (transfer, code, exchange->what, &exchange->why);
        exchange->rc = ORD_EUNAVAILABLE;
        //  Slowness is not failure: only a limit of our own, or no
        //  connection at all, says PayPal is not working
        if (!(code == CURLE_OPERATION_TIMEDOUT && transfer->deadline_bound))
            s_set_failing (self, exchange->why.text);
    }
    else {
        exchange->rc = 0;
        exchange->status = status;
        if (transfer->body.size) {
            json_error_t error;
            exchange->json = json_loadb (transfer->body.data, transfer->body.size, 0, &error);
        }
        if (status == 429)
            s_pause (self, transfer->easy);
        else
        if (status >= 500) {
            char reason [128];
            snprintf (reason, sizeof reason, "PayPal %s: HTTP %ld", exchange->what, status);
            s_set_failing (self, reason);
        }
        else
        if (zclock_mono () >= self->paused_until_mono)
            self->failing = false;
    }
    s_transfer_destroy (self, &transfer);
    exchange->state = PAYPAL_EXCHANGE_DONE;
    self->done (exchange, exchange->owner);
}

//  Ends queued exchanges whose deadline passed, or that a pause would
//  hold past their deadline
static void
s_expire_queued (paypal_http_t *self, int64_t now)
{
    int64_t hold_until = now > self->paused_until_mono? now: self->paused_until_mono;
    if (hold_until < self->queue_deadline_mono)
        return;
    self->queue_deadline_mono = INT64_MAX;
    paypal_exchange_t *exchange = self->head;
    while (exchange) {
        paypal_exchange_t *next = exchange->next;
        if (exchange->deadline_mono <= hold_until) {
            s_queue_unlink (self, exchange);
            if (now < self->paused_until_mono)
                s_fail (self, exchange, "PayPal %s: not sent: PayPal asked us to wait "
                        "%" PRId64 " ms more (429 Retry-After), past the call's deadline",
                        exchange->what, self->paused_until_mono - now);
            else
                s_fail (self, exchange, "PayPal %s: not sent: the call's deadline passed "
                        "while it waited%s", exchange->what,
                        self->token_transfer? " for an access token": " for a free slot");
        }
        else
        if (exchange->deadline_mono < self->queue_deadline_mono)
            self->queue_deadline_mono = exchange->deadline_mono;
        exchange = next;
    }
}


//  --------------------------------------------------------------------------
//  libcurl's sockets and timer

//  CURLMOPT_SOCKETFUNCTION: keeps the epoll set as libcurl asks
static int
s_on_socket (CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void) easy;
    paypal_http_t *self = (paypal_http_t *) userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event event;
    memset (&event, 0, sizeof event);
    event.data.fd = fd;
    event.events = ((what & CURL_POLL_IN)? EPOLLIN: 0u) | ((what & CURL_POLL_OUT)? EPOLLOUT: 0u);
    int op = socketp? EPOLL_CTL_MOD: EPOLL_CTL_ADD;
    if (epoll_ctl (self->epoll_fd, op, fd, &event) == -1)
        epoll_ctl (self->epoll_fd, op == EPOLL_CTL_ADD? EPOLL_CTL_MOD: EPOLL_CTL_ADD, fd, &event);
    if (!socketp)
        curl_multi_assign (self->multi, fd, self);     //  known from now on
    return 0;
}

//  CURLMOPT_TIMERFUNCTION: when libcurl wants curl_multi_socket_action
//  with CURL_SOCKET_TIMEOUT (never called from here: not allowed)
static int
s_on_timer (CURLM *multi, long timeout_ms, void *userp)
{
    (void) multi;
    paypal_http_t *self = (paypal_http_t *) userp;
    self->curl_timer_mono = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;
    return 0;
}

static void
s_watch_zmq_fd (paypal_http_t *self, int fd)
{
    for (int i = 0; i < self->zmq_fd_count; i++)
        if (self->zmq_fds [i] == fd)
            return;
    ord_assert (self->zmq_fd_count < S_SOCKS_MAX);
    struct epoll_event event;
    memset (&event, 0, sizeof event);
    event.data.fd = fd;
    event.events = EPOLLIN;
    if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0)
        self->zmq_fds [self->zmq_fd_count++] = fd;
}

static bool
s_is_zmq_fd (paypal_http_t *self, int fd)
{
    for (int i = 0; i < self->zmq_fd_count; i++)
        if (self->zmq_fds [i] == fd)
            return true;
    return false;
}


//  --------------------------------------------------------------------------
//  Public

paypal_http_t *
paypal_http_new (const paypal_http_config_t *config, ord_why_t *why)
{
    paypal_http_t *self = (paypal_http_t *) calloc (1, sizeof *self);
    if (!self) {
        ord_why_set (why, "out of memory");
        return NULL;
    }
    self->epoll_fd = -1;
    self->base_url = strdup (config->base_url);
    self->client_id = strdup (config->client_id);
    self->secret = strdup (config->secret);
    self->user_agent = strdup (config->user_agent);
    self->http_timeout_ms = config->http_timeout_ms;
    self->max_in_flight = config->max_in_flight;
    self->done = config->done;
    self->queue_deadline_mono = INT64_MAX;
    self->curl_timer_mono = INT64_MAX;
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    self->multi = curl_multi_init ();
    self->idle_max = (size_t) self->max_in_flight + 1;
    self->idle = (CURL **) calloc (self->idle_max, sizeof (CURL *));
    if (!self->base_url || !self->client_id || !self->secret || !self->user_agent
    ||  !self->multi || !self->idle || self->epoll_fd == -1) {
        ord_why_set (why, "curl_multi_init failed (out of memory?)");
        paypal_http_destroy (&self);
        return NULL;
    }
    //  Keep a connection alive for every call that may be in flight, and
    //  multiplex where the server speaks HTTP/2
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long) self->max_in_flight + 1);
    curl_multi_setopt (self->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    return self;
}

void
paypal_http_destroy (paypal_http_t **self_p)
{
    paypal_http_t *self = *self_p;
    if (!self)
        return;
    while (self->head) {
        paypal_exchange_t *exchange = self->head;
        s_queue_unlink (self, exchange);
        exchange->state = PAYPAL_EXCHANGE_IDLE;
    }
    if (self->multi) {
        //  Exchanges still on the wire: their transfers die with us
        while (self->transfers) {
            s_transfer_t *transfer = self->transfers;
            if (transfer->exchange) {
                transfer->exchange->transfer = NULL;
                transfer->exchange->state = PAYPAL_EXCHANGE_IDLE;
            }
            s_transfer_destroy (self, &transfer);
        }
        self->token_transfer = NULL;
        curl_multi_cleanup (self->multi);
    }
    while (self->idle_count)
        curl_easy_cleanup (self->idle [--self->idle_count]);
    free (self->idle);
    if (self->epoll_fd != -1)
        close (self->epoll_fd);
    free (self->base_url);
    free (self->client_id);
    free (self->user_agent);
    s_wipe (&self->secret);
    s_wipe (&self->token);
    free (self);
    *self_p = NULL;
}

void
paypal_http_submit (paypal_http_t *self, paypal_exchange_t *exchange)
{
    exchange->round = 0;
    exchange->rc = 0;
    exchange->status = 0;
    exchange->why.text [0] = 0;
    int64_t now = zclock_mono ();
    if (now < self->paused_until_mono && exchange->deadline_mono <= self->paused_until_mono) {
        s_fail (self, exchange, "PayPal %s: not sent: PayPal asked us to wait %" PRId64
                " ms more (429 Retry-After), past the call's deadline", exchange->what,
                self->paused_until_mono - now);
        return;
    }
    s_queue_push (self, exchange, false);
    s_dispatch (self);
}

void
paypal_http_abandon (paypal_http_t *self, paypal_exchange_t *exchange)
{
    if (exchange->state == PAYPAL_EXCHANGE_QUEUED)
        s_queue_unlink (self, exchange);
    else
    if (exchange->state == PAYPAL_EXCHANGE_ON_WIRE) {
        s_transfer_t *transfer = (s_transfer_t *) exchange->transfer;
        s_transfer_destroy (self, &transfer);
        exchange->transfer = NULL;
        self->on_wire--;
        ord_assert (self->on_wire >= 0);
    }
    exchange->state = PAYPAL_EXCHANGE_IDLE;
}

void
paypal_exchange_reset (paypal_exchange_t *exchange)
{
    free (exchange->payload);
    exchange->payload = NULL;
    if (exchange->json)
        json_decref (exchange->json);
    exchange->json = NULL;
    exchange->state = PAYPAL_EXCHANGE_IDLE;
    exchange->rc = 0;
    exchange->status = 0;
    exchange->round = 0;
}

void
paypal_http_wait (paypal_http_t *self, zsock_t **socks, int sock_count, int timeout_ms)
{
    for (int i = 0; i < sock_count; i++)
        s_watch_zmq_fd (self, zsock_fd (socks [i]));
    int64_t curl_wait = self->curl_timer_mono - zclock_mono ();
    if (curl_wait < timeout_ms)
        timeout_ms = curl_wait < 0? 0: (int) curl_wait;
    int count = epoll_wait (self->epoll_fd, self->events, S_EVENTS_MAX, timeout_ms);
    self->event_count = count < 0? 0: count;
}

void
paypal_http_work (paypal_http_t *self)
{
    int running = 0;
    for (int i = 0; i < self->event_count; i++) {
        int fd = self->events [i].data.fd;
        uint32_t events = self->events [i].events;
        if (s_is_zmq_fd (self, fd))
            continue;               //  the caller reads its sockets itself
        int flags = ((events & EPOLLIN)? CURL_CSELECT_IN: 0)
                  | ((events & EPOLLOUT)? CURL_CSELECT_OUT: 0)
                  | ((events & (EPOLLERR | EPOLLHUP))? CURL_CSELECT_ERR: 0);
        curl_multi_socket_action (self->multi, fd, flags, &running);
    }
    self->event_count = 0;
    if (zclock_mono () >= self->curl_timer_mono) {
        self->curl_timer_mono = INT64_MAX;
        curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *message;
    int left = 0;
    while ((message = curl_multi_info_read (self->multi, &left))) {
        if (message->msg != CURLMSG_DONE)
            continue;
        s_transfer_t *transfer = NULL;
        curl_easy_getinfo (message->easy_handle, CURLINFO_PRIVATE, (char **) &transfer);
        CURLcode code = message->data.result;
        if (!transfer)
            continue;
        if (transfer == self->token_transfer)
            s_token_finish (self, code);
        else
            s_exchange_finish (self, transfer, code);
    }
    s_expire_queued (self, zclock_mono ());
    s_dispatch (self);
}

int64_t
paypal_http_next_mono (paypal_http_t *self)
{
    int64_t next = self->queue_deadline_mono;
    if (self->curl_timer_mono < next)
        next = self->curl_timer_mono;
    int64_t now = zclock_mono ();
    if (self->head && self->paused_until_mono > now && self->paused_until_mono < next)
        next = self->paused_until_mono;
    return next;
}

bool
paypal_http_healthy (paypal_http_t *self, char *reason, size_t size)
{
    int64_t now = zclock_mono ();
    if (now < self->paused_until_mono) {
        snprintf (reason, size, "PayPal answered 429 (too many requests): calls to PayPal "
                  "paused for %" PRId64 " ms more (Retry-After)", self->paused_until_mono - now);
        return false;
    }
    if (self->failing)
        snprintf (reason, size, "%s", self->failure);
    return !self->failing;
}

uint64_t
paypal_http_token_requests (paypal_http_t *self)
{
    return self->token_requests;
}
