/*  payment_paypal: a payment adapter for PayPal's Orders v2 REST API, over
    libcurl, with jansson for JSON and a durable local ledger in the
    adapter's own LMDB environment.

    Many calls are with PayPal at once: paypal_server.c is the actor loop
    (the ROUTER, per-order order, deadlines, group commit), paypal_http.c
    the HTTP engine on libcurl's multi interface (max_in_flight, one token
    for everyone, 429 pauses, keep-alive and HTTP/2). The handlers below
    are PayPal's semantics only: each asks PayPal through s_api, and is run
    again from the start once the answer is in (paypal_server.h).

    Ops (PROTOCOL.md §9):
      create   POST /v2/checkout/orders (intent CAPTURE) -> provider_order_id,
               approval_url (the `payer-action` or `approve` link)
      capture  POST /v2/checkout/orders/{id}/capture -> capture_id
      void     local only: a voided payment is never captured (PayPal expires
               the order on its own); see docs/PLUGINS.md
      refund   POST /v2/payments/captures/{capture_id}/refund -> refund_id
      status   GET /v2/checkout/orders/{id}, combined with the ledger

    Every POST carries PayPal-Request-Id "orderd-<order_id>-<op>", so a
    retried call (a timeout, a crash before our commit) is answered by
    PayPal with the first call's result instead of acting twice. The ledger
    answers a repeated op without calling PayPal when the answer is known.

    Databases (../common/payment_ledger.h, shared with payment_sandbox):
      payments   provider_order_id -> payment record (msgpack map, rv = 1;
                 PayPal's approval_url is kept in it)
      orders     order_id -> provider_order_id
      captures   capture_id -> provider_order_id

    Config (the `payment` section): base_url, client_id, secret_file (or
    the environment variable ORDERD_PAYPAL_SECRET; a `secret` key is
    refused), http_timeout_ms, max_in_flight, plus timeout_ms, latency_ms
    and map_size. The secret and access tokens are never logged. */
#include <ctype.h>
#include <pthread.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <jansson.h>
#include "orderd/plugin.h"
#include "../common/adapter_server.h"
#include "../common/payment_ledger.h"
#include "paypal_http.h"
#include "paypal_server.h"

#define S_NAME              "payment_paypal"
#define S_VERSION           "1.1.0"
#define S_ID_MAX            64          //  PayPal's ids (17 characters today)
#define S_URL_MAX           ORD_LEDGER_URL_MAX
#define S_DEFAULT_BASE_URL  "https://api-m.sandbox.paypal.com"
#define S_SECRET_ENV        "ORDERD_PAYPAL_SECRET"
#define S_HTTP_TIMEOUT_MS   4000
#define S_MAX_IN_FLIGHT     256
#define S_MAX_IN_FLIGHT_MAX 10000
#define S_REQUEST_ID_MAX    108         //  PayPal-Request-Id limit
#define S_CUSTOM_ID_MAX     127         //  purchase_units[].custom_id limit

//  What one HTTP exchange brought back
typedef struct {
    long status;                            //  HTTP status
    json_t *json;                           //  parsed body, or NULL
} s_response_t;

typedef struct {
    ord_ledger_t ledger;
    //  Config
    char *base_url;                         //  without a trailing '/'
    char *client_id;
    char *secret;                           //  never logged; wiped at exit
    int64_t http_timeout_ms;
    int64_t max_in_flight;
    //  HTTP: every exchange with PayPal, the token included
    paypal_http_t *http;
} self_t;


//  --------------------------------------------------------------------------
//  libcurl is initialised once per process, whatever loads us how often

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_init_rc = CURLE_FAILED_INIT;

static void
s_curl_global_init (void)
{
    //  Never cleaned up: another copy of this plugin (or the host) may be
    //  using libcurl; curl_global_cleanup at exit would race with them.
    s_curl_init_rc = curl_global_init (CURL_GLOBAL_DEFAULT);
}


//  --------------------------------------------------------------------------
//  Small helpers

//  PayPal's ids go into URL paths: only letters, digits, '-' and '_'
static bool
s_id_ok (const char *id, size_t len)
{
    if (len == 0 || len > S_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id [i];
        if (!(isalnum ((unsigned char) c) || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static void
s_wipe (char *secret)
{
    if (secret) {
        explicit_bzero (secret, strlen (secret));
        free (secret);
    }
}


//  --------------------------------------------------------------------------
//  Amounts: orderd counts minor units; PayPal wants a decimal string with
//  the currency's number of decimals.

typedef struct {
    const char *code;
    int decimals;               //  decimals PayPal takes for the currency
    int iso_exponent;           //  minor units per unit = 10^iso_exponent
} s_currency_t;

static const s_currency_t s_currencies [] = {
    //  No minor unit
    { "BIF", 0, 0 }, { "CLP", 0, 0 }, { "DJF", 0, 0 }, { "GNF", 0, 0 },
    { "ISK", 0, 0 }, { "JPY", 0, 0 }, { "KMF", 0, 0 }, { "KRW", 0, 0 },
    { "PYG", 0, 0 }, { "RWF", 0, 0 }, { "UGX", 0, 0 }, { "VND", 0, 0 },
    { "VUV", 0, 0 }, { "XAF", 0, 0 }, { "XOF", 0, 0 }, { "XPF", 0, 0 },
    //  Cents in ISO 4217, but PayPal takes whole units only: an amount
    //  that is not a whole number of units is refused
    { "HUF", 0, 2 }, { "TWD", 0, 2 },
    //  Three decimals
    { "BHD", 3, 3 }, { "IQD", 3, 3 }, { "JOD", 3, 3 }, { "KWD", 3, 3 },
    { "LYD", 3, 3 }, { "OMR", 3, 3 }, { "TND", 3, 3 },
    { NULL, 2, 2 }              //  everything else: two
};

static const s_currency_t *
s_currency (const char *code)
{
    const s_currency_t *entry = s_currencies;
    for (; entry->code; entry++)
        if (streq (entry->code, code))
            break;
    return entry;
}

static int64_t
s_pow10 (int n)
{
    int64_t value = 1;
    while (n-- > 0)
        value *= 10;
    return value;
}

//  Formats `amount` minor units of `code` as PayPal's value string
static int
s_amount_format (int64_t amount, const char *code, char *text, size_t size,
                 ord_why_t *why)
{
    const s_currency_t *currency = s_currency (code);
    int64_t unit = s_pow10 (currency->iso_exponent);
    if (amount < 0) {
        ord_why_set (why, "amount: must not be negative");
        return ORD_EBADREQ;
    }
    if (currency->decimals == 0) {
        if (amount % unit) {
            ord_why_set (why, "amount: %" PRId64 " is not a whole number of %s "
                         "(PayPal takes no decimals for %s)", amount, code, code);
            return ORD_EBADREQ;
        }
        snprintf (text, size, "%" PRId64, amount / unit);
    }
    else
        snprintf (text, size, "%" PRId64 ".%0*" PRId64, amount / unit,
                  currency->decimals, amount % unit);
    return 0;
}

//  Reads PayPal's value string back into minor units; -1 if unreadable
static int64_t
s_amount_parse (const char *value, const char *code)
{
    const s_currency_t *currency = s_currency (code);
    if (!value || !*value)
        return -1;
    int64_t whole = 0, fraction = 0;
    int digits = 0;
    const char *p = value;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > INT64_MAX / 100000)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits >= currency->iso_exponent)
                return -1;
            fraction = fraction * 10 + (*p - '0');
        }
    if (*p)
        return -1;
    return whole * s_pow10 (currency->iso_exponent)
         + fraction * s_pow10 (currency->iso_exponent - digits);
}


//  --------------------------------------------------------------------------
//  PayPal-Request-Id: "orderd-<order_id>-<op>", or a digest of the order id
//  when it is long or holds characters that do not belong in a header

static void
s_request_id (const char *order_id, const char *op, char *text, size_t size)
{
    size_t len = strlen (order_id);
    bool plain = len > 0
              && len + strlen ("orderd--") + strlen (op) <= S_REQUEST_ID_MAX;
    for (size_t i = 0; plain && i < len; i++)
        plain = isalnum ((unsigned char) order_id [i])
             || order_id [i] == '-' || order_id [i] == '_' || order_id [i] == '.';
    if (plain)
        snprintf (text, size, "orderd-%s-%s", order_id, op);
    else {
        zdigest_t *digest = zdigest_new ();
        zdigest_update (digest, (const byte *) order_id, len);
        snprintf (text, size, "orderd-h%s-%s", zdigest_string (digest), op);
        zdigest_destroy (&digest);
    }
}


//  --------------------------------------------------------------------------
//  HTTP

static void
s_response_reset (s_response_t *response)
{
    if (response->json)
        json_decref (response->json);
    response->json = NULL;
    response->status = 0;
}

static const char *
s_json_str (const json_t *object, const char *key)
{
    return json_string_value (json_object_get (object, key));
}

//  "STATUS NAME: message (ISSUE: description) debug_id X", from PayPal's
//  error body
static void
s_error_text (const s_response_t *response, char *text, size_t size)
{
    const json_t *json = response->json;
    const char *name = s_json_str (json, "name");
    const char *message = s_json_str (json, "message");
    const char *debug_id = s_json_str (json, "debug_id");
    const json_t *detail = json_array_get (json_object_get (json, "details"), 0);
    const char *issue = s_json_str (detail, "issue");
    const char *description = s_json_str (detail, "description");
    if (!name && !message) {
        //  OAuth errors: {error, error_description}
        name = s_json_str (json, "error");
        message = s_json_str (json, "error_description");
    }
    size_t len = (size_t) snprintf (text, size, "HTTP %ld", response->status);
    if (name && len < size)
        len += (size_t) snprintf (text + len, size - len, " %.60s", name);
    if (message && len < size)
        len += (size_t) snprintf (text + len, size - len, ": %.100s", message);
    if (issue && len < size)
        len += (size_t) snprintf (text + len, size - len, " (%.60s%s%.80s)", issue,
                                  description? ": ": "", description? description: "");
    if (debug_id && len < size)
        snprintf (text + len, size - len, " debug_id %.40s", debug_id);
}

//  The first issue of a PayPal error body, or ""
static const char *
s_issue (const s_response_t *response)
{
    const json_t *detail = json_array_get (json_object_get (response->json, "details"), 0);
    const char *issue = s_json_str (detail, "issue");
    return issue? issue: "";
}

static bool
s_issue_in (const char *issue, const char *const *list)
{
    for (; *list; list++)
        if (streq (issue, *list))
            return true;
    return false;
}

//  Issues that mean the buyer's money will not come
static const char *const s_declines [] = {
    "INSTRUMENT_DECLINED", "TRANSACTION_REFUSED", "PAYER_CANNOT_PAY",
    "PAYER_ACCOUNT_RESTRICTED", "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
    "PAYEE_BLOCKED_TRANSACTION", "TRANSACTION_BLOCKED_BY_PAYEE",
    "COMPLIANCE_VIOLATION", "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING", "CARD_EXPIRED",
    "TRANSACTION_LIMIT_EXCEEDED", "PAYER_COUNTRY_NOT_SUPPORTED", NULL
};

//  Issues that mean the buyer has not (yet) approved
static const char *const s_not_approved [] = {
    "ORDER_NOT_APPROVED", "PAYER_ACTION_REQUIRED", NULL
};

//  Maps a non-2xx answer to an adapter error
static int
s_http_error (const s_response_t *response, const char *what, ord_why_t *why)
{
    char text [sizeof why->text];
    s_error_text (response, text, sizeof text);
    long status = response->status;
    const char *issue = s_issue (response);
    if (status >= 500 || status == 408 || status == 429 || status == 409) {
        ord_why_set (why, "PayPal %s: %s", what, text);
        return ORD_EUNAVAILABLE;
    }
    if (status == 401) {
        ord_why_set (why, "PayPal %s: refused a fresh access token: %s", what, text);
        return ORD_EUNAVAILABLE;
    }
    if (status == 404) {
        ord_why_set (why, "PayPal %s: not found: %s", what, text);
        return ORD_ENOTFOUND;
    }
    if (s_issue_in (issue, s_not_approved)) {
        ord_why_set (why, "PayPal %s: the payer has not approved the payment (%s)",
                     what, issue);
        return ORD_EDECLINED;
    }
    if (s_issue_in (issue, s_declines)) {
        ord_why_set (why, "PayPal %s: payment declined: %s", what, text);
        return ORD_EDECLINED;
    }
    ord_why_set (why, "PayPal %s: %s", what, text);
    return ORD_EBADREQ;
}

//  An API call with the bearer token (paypal_http gets it, once for
//  everyone, and a new one after a 401). PAYPAL_PENDING while PayPal has
//  not answered (the handler hands it back, and runs again later); else 0
//  with any HTTP status in *response, or a transport/token error.
static int
s_api (ord_adapter_call_t *call, const char *method, const char *path, json_t *payload,
       const char *request_id, const char *what, s_response_t *response,
       ord_why_t *why)
{
    char *text = payload? json_dumps (payload, JSON_COMPACT): NULL;
    if (payload && !text) {
        ord_why_set (why, "PayPal %s: cannot encode the request", what);
        return ORD_EINTERNAL;
    }
    s_response_reset (response);
    int rc = paypal_server_api (call, method, path, text, request_id, what,
                                &response->status, &response->json, why);
    free (text);
    return rc;
}


//  --------------------------------------------------------------------------
//  Reading PayPal's order representation

//  The approval link: `payer-action` (newer flows) or `approve`
static const char *
s_approval_link (const json_t *order)
{
    const char *approve = NULL;
    size_t index;
    json_t *link;
    json_array_foreach (json_object_get (order, "links"), index, link) {
        const char *rel = s_json_str (link, "rel");
        const char *href = s_json_str (link, "href");
        if (!rel || !href)
            continue;
        if (streq (rel, "payer-action"))
            return href;
        if (streq (rel, "approve") && !approve)
            approve = href;
    }
    return approve;
}

//  purchase_units[0].payments.captures[0]
static const json_t *
s_first_capture (const json_t *order)
{
    const json_t *unit = json_array_get (json_object_get (order, "purchase_units"), 0);
    const json_t *payments = json_object_get (unit, "payments");
    return json_array_get (json_object_get (payments, "captures"), 0);
}

//  The sum of a capture's refunds in the order, in minor units
static int64_t
s_refunded_of (const json_t *order, const char *currency)
{
    const json_t *unit = json_array_get (json_object_get (order, "purchase_units"), 0);
    const json_t *payments = json_object_get (unit, "payments");
    int64_t total = 0;
    size_t index;
    json_t *refund;
    json_array_foreach (json_object_get (payments, "refunds"), index, refund) {
        const char *status = s_json_str (refund, "status");
        if (status && (streq (status, "FAILED") || streq (status, "CANCELLED")))
            continue;
        int64_t value = s_amount_parse (s_json_str (json_object_get (refund, "amount"), "value"),
                                        currency);
        if (value > 0)
            total += value;
    }
    return total;
}


//  --------------------------------------------------------------------------
//  Field readers shared by the handlers

static void
s_reply_payment_ids (ord_adapter_call_t *call, const ord_ledger_payment_t *payment)
{
    ord_adapter_reply_cstr (call, "provider_order_id", payment->id);
    ord_adapter_reply_cstr (call, "approval_url",
                            *payment->approval_url? payment->approval_url: NULL);
}

//  --------------------------------------------------------------------------
//  create {order_id, amount, currency, return_url?, cancel_url?}
//      -> {provider_order_id, approval_url}

static int
s_create (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    ord_str_t return_url, cancel_url;
    bool done;
    int rc = ord_ledger_create_begin (&self->ledger, call, &payment,
                                      &return_url, &cancel_url, &done);
    if (rc)
        return rc;
    if (done) {
        //  Created before: the same payment, nothing new, no call
        s_reply_payment_ids (call, &payment);
        return 0;
    }
    char value [32];
    rc = s_amount_format (payment.amount, payment.currency, value, sizeof value, &call->why);
    if (rc)
        return rc;
    char custom_id [S_CUSTOM_ID_MAX + 1];
    if (strlen (payment.order_id) <= S_CUSTOM_ID_MAX)
        snprintf (custom_id, sizeof custom_id, "%.*s", S_CUSTOM_ID_MAX, payment.order_id);
    else
        s_request_id (payment.order_id, "order", custom_id, sizeof custom_id);

    json_t *body = json_pack ("{s:s, s:[{s:s, s:{s:s, s:s}}]}",
                              "intent", "CAPTURE",
                              "purchase_units",
                              "custom_id", custom_id,
                              "amount", "currency_code", payment.currency, "value", value);
    if (!body)
        return ord_adapter_fail (call, ORD_EBADREQ, "order_id: cannot be sent to PayPal");
    if ((return_url.ptr && return_url.len) || (cancel_url.ptr && cancel_url.len)) {
        json_t *context = json_object ();
        if (return_url.ptr && return_url.len)
            json_object_set_new (context, "return_url",
                                 json_stringn (return_url.ptr, return_url.len));
        if (cancel_url.ptr && cancel_url.len)
            json_object_set_new (context, "cancel_url",
                                 json_stringn (cancel_url.ptr, cancel_url.len));
        //  The shop captures as soon as the buyer is back: "Pay Now"
        json_object_set_new (context, "user_action", json_string ("PAY_NOW"));
        json_object_set_new (body, "application_context", context);
    }
    char request_id [S_REQUEST_ID_MAX + 16];
    s_request_id (payment.order_id, "create", request_id, sizeof request_id);
    s_response_t response = { 0, NULL };
    rc = s_api (call, "POST", "/v2/checkout/orders", body, request_id, "create",
                &response, &call->why);
    json_decref (body);
    if (rc)
        return rc;
    if (response.status != 200 && response.status != 201) {
        rc = s_http_error (&response, "create", &call->why);
        s_response_reset (&response);
        return rc;
    }
    const char *id = s_json_str (response.json, "id");
    const char *link = s_approval_link (response.json);
    if (!id || !s_id_ok (id, strlen (id))) {
        s_response_reset (&response);
        return ord_adapter_fail (call, ORD_EUNAVAILABLE,
                                 "PayPal create: answer without a usable order id");
    }
    snprintf (payment.id, sizeof payment.id, "%s", id);
    if (link && strlen (link) <= S_URL_MAX)
        snprintf (payment.approval_url, sizeof payment.approval_url, "%s", link);
    s_response_reset (&response);

    rc = ord_ledger_insert (&self->ledger, call->txn, &payment, &call->why);
    if (rc)
        return rc;
    s_reply_payment_ids (call, &payment);
    return 0;
}


//  --------------------------------------------------------------------------
//  capture {order_id, provider_order_id, amount, currency} -> {capture_id}

//  Reads a completed capture out of PayPal's order: 0 and the capture id,
//  ORD_EDECLINED for a declined/failed one, ORD_EUNAVAILABLE if there is
//  none to read
static int
s_read_capture (const json_t *order, const ord_ledger_payment_t *payment, char *capture_id,
                size_t size, int64_t *amount, ord_why_t *why)
{
    const json_t *capture = s_first_capture (order);
    const char *id = s_json_str (capture, "id");
    const char *status = s_json_str (capture, "status");
    if (!id || !s_id_ok (id, strlen (id)) || !status) {
        ord_why_set (why, "PayPal capture: answer without a capture of order %s", payment->id);
        return ORD_EUNAVAILABLE;
    }
    if (streq (status, "DECLINED") || streq (status, "FAILED")) {
        ord_why_set (why, "PayPal capture: payment declined (capture %s is %s)", id, status);
        return ORD_EDECLINED;
    }
    //  COMPLETED, or PENDING (PayPal holds the funds for review: the money
    //  is captured, it may still land later), or already (partly) refunded
    snprintf (capture_id, size, "%s", id);
    int64_t value = s_amount_parse (s_json_str (json_object_get (capture, "amount"), "value"),
                                    payment->currency);
    *amount = value >= 0? value: payment->amount;
    return 0;
}

//  The PayPal order as it is now
static int
s_get_order (ord_adapter_call_t *call, const ord_ledger_payment_t *payment, s_response_t *response,
             ord_why_t *why)
{
    char path [64 + S_ID_MAX];
    snprintf (path, sizeof path, "/v2/checkout/orders/%s", payment->id);
    int rc = s_api (call, "GET", path, NULL, NULL, "status", response, why);
    if (rc == 0 && response->status != 200) {
        rc = s_http_error (response, "status", why);
        s_response_reset (response);
    }
    return rc;
}

static int
s_capture (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    bool done;
    //  Captured before: the same capture, no call, no money moves (done)
    int rc = ord_ledger_capture_begin (&self->ledger, call, &payment, &done);
    if (rc || done)
        return rc;

    //  An attempt: counted whatever comes of it (a void then asks PayPal
    //  first, in case an attempt whose answer was lost did capture)
    payment.attempts++;
    call->keep_writes = true;
    rc = ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
    if (rc)
        return rc;

    char path [64 + S_ID_MAX];
    snprintf (path, sizeof path, "/v2/checkout/orders/%s/capture", payment.id);
    char request_id [S_REQUEST_ID_MAX + 16];
    s_request_id (payment.order_id, "capture", request_id, sizeof request_id);
    json_t *body = json_object ();
    s_response_t response = { 0, NULL };
    rc = s_api (call, "POST", path, body, request_id, "capture", &response, &call->why);
    json_decref (body);
    if (rc)
        return rc;

    char capture_id [S_ID_MAX + 1] = "";
    int64_t captured = 0;
    if (response.status == 200 || response.status == 201)
        rc = s_read_capture (response.json, &payment, capture_id, sizeof capture_id,
                             &captured, &call->why);
    else
    if (response.status == 422 && streq (s_issue (&response), "ORDER_ALREADY_CAPTURED")) {
        //  Captured by an attempt whose answer we lost (under another
        //  request id): read the capture off the order
        s_response_reset (&response);
        rc = s_get_order (call, &payment, &response, &call->why);
        if (rc == 0)
            rc = s_read_capture (response.json, &payment, capture_id, sizeof capture_id,
                                 &captured, &call->why);
    }
    else {
        rc = s_http_error (&response, "capture", &call->why);
        if (rc == ORD_EDECLINED && !s_issue_in (s_issue (&response), s_not_approved)) {
            //  A decline is an outcome: recorded, asking again answers it
            payment.status = ORD_LEDGER_DECLINED;
            int store_rc = ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
            if (store_rc)
                rc = store_rc;
        }
        if (rc == ORD_ENOTFOUND)
            //  PayPal forgot the order (expired before capture): for orderd
            //  that is a payment that will not come
            rc = ord_adapter_fail (call, ORD_EDECLINED,
                                   "PayPal capture: order %s is gone at PayPal "
                                   "(expired unapproved?)", payment.id);
        s_response_reset (&response);
        return rc;
    }
    s_response_reset (&response);
    if (rc == ORD_EDECLINED) {
        payment.status = ORD_LEDGER_DECLINED;
        int store_rc = ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
        return store_rc? store_rc: rc;
    }
    if (rc)
        return rc;
    call->keep_writes = false;
    rc = ord_ledger_captured (&self->ledger, call->txn, &payment, capture_id, captured, &call->why);
    if (rc)
        return rc;
    ord_adapter_reply_cstr (call, "capture_id", payment.capture_id);
    return 0;
}


//  --------------------------------------------------------------------------
//  void {provider_order_id}: local. PayPal has no void for an uncaptured
//  order of intent CAPTURE; the order expires there on its own, and the
//  ledger makes sure we never capture it.

static int
s_void (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    bool done;
    int rc = ord_ledger_void_begin (&self->ledger, call, &payment, &done);
    if (rc || done)
        return rc;                      //  done: voided or declined, nothing held
    if (payment.attempts > 0) {
        //  A capture was sent and its outcome is not in the ledger (its
        //  answer was lost): ask PayPal before promising it never happened
        s_response_t response = { 0, NULL };
        rc = s_get_order (call, &payment, &response, &call->why);
        if (rc == ORD_ENOTFOUND)
            rc = 0;                     //  gone at PayPal: nothing captured
        else
        if (rc)
            return rc;
        else {
            const char *status = s_json_str (response.json, "status");
            char capture_id [S_ID_MAX + 1];
            int64_t captured = 0;
            if (status && streq (status, "COMPLETED")
            &&  s_read_capture (response.json, &payment, capture_id, sizeof capture_id,
                                &captured, &call->why) == 0) {
                s_response_reset (&response);
                call->keep_writes = true;
                rc = ord_ledger_captured (&self->ledger, call->txn, &payment, capture_id, captured,
                                         &call->why);
                return rc? rc: ord_adapter_fail (call, ORD_EINVALID,
                                                 "captured payments are refunded, not voided "
                                                 "(PayPal captured %s)", capture_id);
            }
            s_response_reset (&response);
        }
    }
    payment.status = ORD_LEDGER_VOIDED;
    return ord_ledger_store (&self->ledger, call->txn, &payment, &call->why);
}


//  --------------------------------------------------------------------------
//  refund {capture_id, amount} -> {refund_id}: one refund per capture

static int
s_refund (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    int64_t amount;
    bool done;
    //  Refunded before: the same answer, no call, no money moves (done)
    int rc = ord_ledger_refund_begin (&self->ledger, call, &payment, &amount, &done);
    if (rc || done)
        return rc;
    char value [32];
    rc = s_amount_format (amount, payment.currency, value, sizeof value, &call->why);
    if (rc)
        return rc;
    json_t *body = json_pack ("{s:{s:s, s:s}}", "amount",
                              "value", value, "currency_code", payment.currency);
    char path [64 + S_ID_MAX];
    snprintf (path, sizeof path, "/v2/payments/captures/%s/refund", payment.capture_id);
    char request_id [S_REQUEST_ID_MAX + 16];
    s_request_id (payment.order_id, "refund", request_id, sizeof request_id);
    s_response_t response = { 0, NULL };
    rc = s_api (call, "POST", path, body, request_id, "refund", &response, &call->why);
    json_decref (body);
    if (rc)
        return rc;
    if (response.status != 200 && response.status != 201) {
        rc = s_http_error (&response, "refund", &call->why);
        s_response_reset (&response);
        return rc;
    }
    const char *refund_id = s_json_str (response.json, "id");
    const char *status = s_json_str (response.json, "status");
    if (!refund_id || !s_id_ok (refund_id, strlen (refund_id))) {
        s_response_reset (&response);
        return ord_adapter_fail (call, ORD_EUNAVAILABLE,
                                 "PayPal refund: answer without a refund id");
    }
    if (status && (streq (status, "FAILED") || streq (status, "CANCELLED"))) {
        rc = ord_adapter_fail (call, ORD_EBADREQ, "PayPal refund: refund %s is %s",
                               refund_id, status);
        s_response_reset (&response);
        return rc;
    }
    //  COMPLETED, or PENDING (PayPal completes it later)
    rc = ord_ledger_refunded (&self->ledger, call->txn, &payment, refund_id, amount,
                              &call->why);
    s_response_reset (&response);
    if (rc)
        return rc;
    ord_adapter_reply_cstr (call, "refund_id", payment.refund_id);
    return 0;
}


//  --------------------------------------------------------------------------
//  status {provider_order_id | order_id}: the ledger, with PayPal's own
//  view of the order when PayPal answers (paypal_status: CREATED, APPROVED,
//  COMPLETED, ...; nil when it could not be asked)

static int
s_status (ord_adapter_call_t *call)
{
    self_t *self = (self_t *) call->state;
    ord_ledger_payment_t payment;
    int rc = ord_ledger_find (&self->ledger, call, true, &payment);
    if (rc)
        return rc;

    char paypal_status [32] = "";
    char paypal_error [sizeof call->why.text] = "";
    s_response_t response = { 0, NULL };
    ord_why_t why;
    why.text [0] = 0;
    rc = s_get_order (call, &payment, &response, &why);
    if (rc == PAYPAL_PENDING)
        return rc;
    if (rc)
        snprintf (paypal_error, sizeof paypal_error, "%s", why.text);
    else {
        const char *status = s_json_str (response.json, "status");
        snprintf (paypal_status, sizeof paypal_status, "%s", status? status: "");
        //  The ledger knows every outcome we saw; PayPal may know one we
        //  did not (a capture whose answer was lost): report it, as it is
        if (payment.status == ORD_LEDGER_CREATED && status && streq (status, "COMPLETED")) {
            char capture_id [S_ID_MAX + 1];
            int64_t captured = 0;
            if (s_read_capture (response.json, &payment, capture_id, sizeof capture_id,
                                &captured, &why) == 0) {
                payment.status = ORD_LEDGER_CAPTURED;
                payment.captures = 1;
                payment.captured_amount = captured;
                snprintf (payment.capture_id, sizeof payment.capture_id, "%s", capture_id);
                payment.refunded_amount = s_refunded_of (response.json, payment.currency);
                if (payment.refunded_amount)
                    payment.status = ORD_LEDGER_REFUNDED;
            }
        }
        else
        if (payment.status == ORD_LEDGER_CREATED && status && streq (status, "VOIDED"))
            payment.status = ORD_LEDGER_VOIDED;
    }
    s_response_reset (&response);

    ord_ledger_reply_status (call, &payment);
    ord_adapter_reply_cstr (call, "approval_url",
                            *payment.approval_url? payment.approval_url: NULL);
    ord_adapter_reply_int (call, "capture_attempts", payment.attempts);
    ord_adapter_reply_cstr (call, "paypal_status", *paypal_status? paypal_status: NULL);
    ord_adapter_reply_cstr (call, "paypal_error", *paypal_error? paypal_error: NULL);
    return 0;
}


//  --------------------------------------------------------------------------
//  Config and start

//  Reads the secret: secret_file, else $ORDERD_PAYPAL_SECRET
static int
s_read_secret (self_t *self, zconfig_t *config, ord_why_t *why)
{
    const char *path = zconfig_get (config, "secret_file", NULL);
    if (path && *path) {
        FILE *file = fopen (path, "r");
        if (!file) {
            ord_why_set (why, "secret_file: cannot read '%.150s': %s", path, strerror (errno));
            return ORD_ECONFIG;
        }
        struct stat st;
        if (fstat (fileno (file), &st) == 0 && (st.st_mode & 077))
            zsys_warning ("%s: secret_file '%s' can be read by others (mode %03o): "
                          "chmod 600 it", S_NAME, path, (unsigned) (st.st_mode & 0777));
        char buffer [1024];
        size_t size = fread (buffer, 1, sizeof buffer - 1, file);
        bool more = size == sizeof buffer - 1 && fgetc (file) != EOF;
        fclose (file);
        buffer [size] = 0;
        while (size && isspace ((unsigned char) buffer [size - 1]))
            buffer [--size] = 0;
        if (more || size == 0 || strchr (buffer, '\n')) {
            explicit_bzero (buffer, sizeof buffer);
            ord_why_set (why, "secret_file: '%.150s' must hold the secret alone, on one line",
                         path);
            return ORD_ECONFIG;
        }
        self->secret = strdup (buffer);
        explicit_bzero (buffer, sizeof buffer);
    }
    else {
        const char *secret = getenv (S_SECRET_ENV);
        if (!secret || !*secret) {
            ord_why_set (why, "no PayPal secret: set secret_file, or the environment "
                         "variable " S_SECRET_ENV);
            return ORD_ECONFIG;
        }
        self->secret = strdup (secret);
    }
    if (!self->secret) {
        ord_why_set (why, "out of memory");
        return ORD_EINTERNAL;
    }
    return 0;
}

static int
s_configure (self_t *self, const ord_plugin_args_t *args, ord_why_t *why)
{
    zconfig_t *config = args->config;
    if (zconfig_locate (config, "secret")) {
        ord_why_set (why, "secret: the PayPal secret never goes in the config file; "
                     "put it in a file named by secret_file (mode 600), or in the "
                     "environment variable " S_SECRET_ENV);
        return ORD_ECONFIG;
    }
    const char *base_url = zconfig_get (config, "base_url", NULL);
    if (!base_url || !*base_url)
        base_url = S_DEFAULT_BASE_URL;
    if ((strncmp (base_url, "https://", 8) && strncmp (base_url, "http://", 7))
    ||  strlen (base_url) > 512 || strchr (base_url, '@')) {
        ord_why_set (why, "base_url: '%.100s' must be an http(s) URL without credentials",
                     base_url);
        return ORD_ECONFIG;
    }
    self->base_url = strdup (base_url);
    if (self->base_url) {
        size_t len = strlen (self->base_url);
        while (len && self->base_url [len - 1] == '/')
            self->base_url [--len] = 0;
    }
    const char *client_id = zconfig_get (config, "client_id", NULL);
    if (!client_id || !*client_id) {
        ord_why_set (why, "client_id: required (the REST app's client id)");
        return ORD_ECONFIG;
    }
    if (strchr (client_id, ':')) {
        ord_why_set (why, "client_id: must not hold ':'");
        return ORD_ECONFIG;
    }
    self->client_id = strdup (client_id);
    if (!self->base_url || !self->client_id) {
        ord_why_set (why, "out of memory");
        return ORD_EINTERNAL;
    }
    //  Below orderd's own call timeout, so that orderd hears `unavailable`
    //  from us rather than nothing
    int64_t call_timeout;
    int rc = ord_adapter_config_int (config, "timeout_ms", 1, INT32_MAX, 5000, false,
                                     &call_timeout, why);
    if (rc)
        return rc;
    int64_t fallback = call_timeout * 3 / 4 < S_HTTP_TIMEOUT_MS
                     ? call_timeout * 3 / 4: S_HTTP_TIMEOUT_MS;
    if (fallback < 1)
        fallback = 1;
    rc = ord_adapter_config_int (config, "http_timeout_ms", 1, 600000, fallback, false,
                                 &self->http_timeout_ms, why);
    if (rc)
        return rc;
    if (self->http_timeout_ms >= call_timeout)
        zsys_warning ("%s: http_timeout_ms %" PRId64 " is not below timeout_ms %" PRId64
                      ": orderd will time out before PayPal does", S_NAME,
                      self->http_timeout_ms, call_timeout);
    rc = ord_adapter_config_int (config, "max_in_flight", 1, S_MAX_IN_FLIGHT_MAX,
                                 S_MAX_IN_FLIGHT, false, &self->max_in_flight, why);
    if (rc)
        return rc;
    rc = s_read_secret (self, config, why);
    if (rc)
        return rc;

    pthread_once (&s_curl_once, s_curl_global_init);
    if (s_curl_init_rc != CURLE_OK) {
        ord_why_set (why, "curl_global_init: %s", curl_easy_strerror (s_curl_init_rc));
        return ORD_EINTERNAL;
    }
    paypal_http_config_t http = {
        self->base_url, self->client_id, self->secret, self->http_timeout_ms,
        self->max_in_flight, "orderd-" S_NAME "/" S_VERSION, paypal_server_exchange_done
    };
    self->http = paypal_http_new (&http, why);
    return self->http? 0: ORD_EINTERNAL;
}

static int
s_open (void *state, MDB_txn *txn, const ord_plugin_args_t *args, ord_why_t *why)
{
    self_t *self = (self_t *) state;
    int rc = s_configure (self, args, why);
    if (rc)
        return rc;
    return ord_ledger_open (&self->ledger, txn, S_ID_MAX, why);
}

static void
s_self_free (self_t *self)
{
    paypal_http_destroy (&self->http);
    free (self->base_url);
    free (self->client_id);
    s_wipe (self->secret);
    memset (self, 0, sizeof *self);
}

static paypal_http_t *
s_http_of (void *state)
{
    return ((self_t *) state)->http;
}

//  Calls of one order run in arrival order: the order is the request's
//  order_id, or the order of the payment its provider_order_id or
//  capture_id names (the ledger knows), or that id itself
static void
s_order_key (void *state, MDB_txn *txn, const msgpack_object *body, char *key, size_t size)
{
    self_t *self = (self_t *) state;
    ord_str_t order_id = ord_str_of (ord_wire_find (body, "order_id"));
    ord_str_t id = ord_str_of (ord_wire_find (body, "provider_order_id"));
    ord_str_t capture_id = ord_str_of (ord_wire_find (body, "capture_id"));
    key [0] = 0;
    if (order_id.ptr) {
        snprintf (key, size, "o:%.*s", (int) order_id.len, order_id.ptr);
        return;
    }
    if (!id.ptr && capture_id.ptr) {
        snprintf (key, size, "c:%.*s", (int) capture_id.len, capture_id.ptr);
        MDB_val name = { capture_id.len, (void *) capture_id.ptr }, data;
        if (!txn || capture_id.len == 0 || mdb_get (txn, self->ledger.captures, &name, &data))
            return;
        id.ptr = (const char *) data.mv_data;
        id.len = (uint32_t) data.mv_size;
    }
    if (!id.ptr)
        return;
    snprintf (key, size, "p:%.*s", (int) id.len, id.ptr);
    ord_ledger_payment_t payment;
    ord_why_t why;
    if (txn && id.len > 0 && id.len <= S_ID_MAX
    &&  ord_ledger_load (&self->ledger, txn, id, &payment, &why) == 0)
        snprintf (key, size, "o:%s", payment.order_id);
}

static const ord_adapter_op_t s_ops [] = {
    { "create", s_create },
    { "capture", s_capture },
    { "void", s_void },
    { "refund", s_refund },
    { "status", s_status },
    { NULL, NULL }
};

static const ord_adapter_spec_t s_spec = {
    S_NAME, S_VERSION, 4, s_open, NULL, s_ops
};

static const paypal_server_spec_t s_server_spec = {
    &s_spec, s_http_of, s_order_key
};

static void
s_actor (zsock_t *pipe, void *args)
{
    self_t self;
    memset (&self, 0, sizeof self);
    paypal_server_run (pipe, (const ord_plugin_args_t *) args, &s_server_spec, &self);
    s_self_free (&self);
}

ORD_PLUGIN_DECLARE ("payment", S_NAME, S_VERSION, s_actor)
