#!/usr/bin/python3
"""A PayPal-compatible fake of the REST API that orderd's payment_paypal
adapter uses (Orders v2 + OAuth2 client credentials), for tests.

    /usr/bin/python3 tests/fakes/paypal/fake_paypal.py [PORT] \\
        [--client-id ID] [--secret S | --secret-file F] [--auto-approve] \\
        [--token-ttl SECONDS] [--state-file F] [--verbose]

Listens on 127.0.0.1:PORT (0 or nothing: any free port) and prints the
port on its first stdout line. Standard library only.

What it enforces, as the real API does:
  - POST /v1/oauth2/token: basic auth with the configured client id and
    secret, grant_type=client_credentials; issues bearer tokens that expire
    after --token-ttl seconds (default 32400);
  - every /v2 call needs a live bearer token (else 401 invalid_token);
  - POST bodies must be JSON with Content-Type application/json (415);
  - PayPal-Request-Id: the first successful (2xx) answer for an id is
    replayed for any later request with that id, and nothing is done
    again; failed requests did nothing and are not stored, so a retry after
    a 5xx is processed afresh (PayPal's documented behaviour);
  - amount values must be well-formed for the currency: "12.34" or "12"
    for USD, "1234" for JPY/HUF/TWD, "1.234" for BHD/KWD/... (422
    DECIMAL_PRECISION / DECIMALS_NOT_SUPPORTED / INVALID_PARAMETER_SYNTAX);
  - capture needs the payer's approval (422 ORDER_NOT_APPROVED); capture of
    a captured order is 422 ORDER_ALREADY_CAPTURED; refunds never exceed
    the capture (422 REFUND_AMOUNT_EXCEEDED / CAPTURE_FULLY_REFUNDED).

Magic amounts, like the sandbox adapter (minor units % 100):
  02  capture declined: 422 INSTRUMENT_DECLINED (every attempt);
  03  the first capture attempt of the order answers 503, later ones work.

Test hooks (no token needed):
  POST /test/approve/{id}        the buyer approves order {id}
  POST /test/expire_tokens       every token issued so far is expired
  POST /test/delay {ms, match?, count?}
                                 answer requests whose path contains
                                 `match` (default: all API calls) `ms` late,
                                 AFTER doing what they ask (an answer lost in
                                 flight); count: for that many requests
                                 (default: until reset with ms 0)
  POST /test/fail {status?, match?, count?, retry_after?}
                                 answer `status` (default 500) without doing
                                 anything, for count requests (default 1;
                                 -1: until reset with count 0); with
                                 retry_after (seconds) a Retry-After header
                                 (a 429 then says RATE_LIMIT_REACHED)
  GET  /test/state               counters and every order, as JSON
  GET  /test/orders/{id}         one order, with `calls`: requests on its paths
  GET  /test/requests            every request seen: method, path,
                                 PayPal-Request-Id, status, replayed
  POST /test/reset_log           forget the request log

It serves many requests at once (a thread per connection, HTTP/1.1
keep-alive, TCP_NODELAY, a listen backlog of 1024), so that a test or a
benchmark measures the client, not the fake; counters.token_requests
counts token requests.

--state-file F keeps orders, tokens and stored answers in F (JSON), loaded
at start and written after every change, so the fake can be restarted.
"""
import argparse
import base64
import http.client
import socket
import json
import os
import random
import re
import string
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ZERO_DECIMAL = {'BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF',
                'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF', 'HUF', 'TWD'}
THREE_DECIMAL = {'BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'}


def decimals(currency):
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def new_id(n=17):
    return ''.join(random.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def now_iso():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


class ApiError(Exception):
    def __init__(self, status, name, message, issue=None, description=None, field=None,
                 value=None):
        super().__init__(message)
        self.status = status
        self.body = {'name': name, 'message': message, 'debug_id': new_id(13).lower(),
                     'links': [{'href': 'https://developer.paypal.com/docs/api/orders/v2/',
                                'rel': 'information_link', 'method': 'GET'}]}
        if issue:
            detail = {'issue': issue, 'description': description or issue}
            if field:
                detail['field'] = field
                detail['location'] = 'body'
            if value is not None:
                detail['value'] = value
            self.body['details'] = [detail]


def unprocessable(issue, description, field=None, value=None):
    return ApiError(422, 'UNPROCESSABLE_ENTITY',
                    'The requested action could not be performed, semantically incorrect, '
                    'or failed business validation.', issue, description, field, value)


def invalid_request(issue, description, field=None, value=None):
    return ApiError(400, 'INVALID_REQUEST',
                    'Request is not well-formed, syntactically incorrect, or violates '
                    'schema.', issue, description, field, value)


def not_found(what):
    return ApiError(404, 'RESOURCE_NOT_FOUND',
                    'The specified resource does not exist.', 'INVALID_RESOURCE_ID',
                    'Specified resource ID does not exist. Please check the resource ID '
                    'and try again. (%s)' % what)


def check_amount(amount, field):
    """{currency_code, value} -> minor units, or ApiError."""
    if not isinstance(amount, dict):
        raise invalid_request('MISSING_REQUIRED_PARAMETER', 'A required field / parameter '
                              'is missing.', field)
    currency = amount.get('currency_code')
    value = amount.get('value')
    if not isinstance(currency, str) or not re.fullmatch(r'[A-Z]{3}', currency):
        raise invalid_request('INVALID_PARAMETER_SYNTAX', 'currency_code must be an '
                              'ISO 4217 code.', field + '/currency_code', currency)
    if not isinstance(value, str) or len(value) > 32 \
            or not re.fullmatch(r'[0-9]+(\.[0-9]+)?', value):
        raise invalid_request('INVALID_PARAMETER_SYNTAX', 'The value of a field does not '
                              'conform to the expected format.', field + '/value', value)
    whole, _, frac = value.partition('.')
    d = decimals(currency)
    if frac and d == 0:
        raise unprocessable('DECIMALS_NOT_SUPPORTED', 'Currency does not support decimals.',
                            field + '/value', value)
    if len(frac) > d:
        raise unprocessable('DECIMAL_PRECISION', 'If the currency supports decimals, only '
                            'two decimal place precision is supported.', field + '/value',
                            value)
    if len(whole) > 1 and whole[0] == '0':
        raise invalid_request('INVALID_PARAMETER_SYNTAX', 'Leading zeros.', field + '/value',
                              value)
    minor = int(whole) * 10 ** d + (int(frac.ljust(d, '0')) if d else 0)
    return currency, minor


def money(currency, minor):
    d = decimals(currency)
    if d == 0:
        return str(minor)
    return '%d.%0*d' % (minor // 10 ** d, d, minor % 10 ** d)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.tokens = {}            # token -> expiry (time.time())
        self.orders = {}            # id -> order dict (our own form)
        self.captures = {}          # capture id -> order id
        self.stored = {}            # PayPal-Request-Id -> [status, body]
        self.requests = []          # the request log
        self.counters = {'token_requests': 0, 'captures': 0, 'capture_attempts': 0,
                         'refunds': 0, 'unauthorized': 0, 'replays': 0}
        self.delay = {'ms': 0, 'match': '', 'count': -1}
        self.fail = {'status': 500, 'match': '', 'count': 0}
        self.load()

    # -- persistence
    def load(self):
        path = self.args.state_file
        if not path or not os.path.exists(path):
            return
        with open(path) as f:
            data = json.load(f)
        self.tokens = data.get('tokens', {})
        self.orders = data.get('orders', {})
        self.captures = data.get('captures', {})
        self.stored = data.get('stored', {})
        self.counters.update(data.get('counters', {}))

    def save(self):
        path = self.args.state_file
        if not path:
            return
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump({'tokens': self.tokens, 'orders': self.orders,
                       'captures': self.captures, 'stored': self.stored,
                       'counters': self.counters}, f)
        os.replace(tmp, path)


class Headers(dict):
    """Request headers, read the fast way: the standard library's email
    parser costs more than the rest of a request, which caps how many
    requests a second the fake can serve a benchmark."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


def parse_headers(fp, _class=None):
    headers = Headers()
    for _ in range(100):
        line = fp.readline(65537)
        if line in (b'\r\n', b'\n', b''):
            break
        name, _, value = line.decode('iso-8859-1').partition(':')
        headers[name.strip().lower()] = value.strip()
    return headers


http.client.parse_headers = parse_headers      # what http.server calls


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'FakePayPal/1.0'

    # -- plumbing
    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle
        # and the client's delayed ACK hold every answer ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write('fake_paypal: ' + (fmt % args) + '\n')

    _date = (0, '')

    def date_time_string(self, timestamp=None):
        # Formatted once a second, not once an answer
        now = int(time.time())
        if Handler._date[0] != now:
            Handler._date = (now, super().date_time_string(now))
        return Handler._date[1]

    @property
    def state(self):
        return self.server.state

    def base(self):
        return 'http://127.0.0.1:%d' % self.server.server_address[1]

    def read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n > 0 else b''

    def send(self, status, body, headers=None):
        data = json.dumps(body).encode() if body is not None else b''
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Paypal-Debug-Id', new_id(13).lower())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.dispatch('GET')

    def do_POST(self):
        self.dispatch('POST')

    def do_PATCH(self):
        self.dispatch('PATCH')

    def dispatch(self, method):
        raw = self.read_body()
        path = urllib.parse.urlparse(self.path).path
        if path.startswith('/test/'):
            return self.test_hook(method, path, raw)
        request_id = self.headers.get('PayPal-Request-Id')
        entry = {'method': method, 'path': path, 'request_id': request_id,
                 'time': time.time()}
        status, body, replayed = self.api(method, path, raw, request_id)
        headers = body.pop('_headers', None) if isinstance(body, dict) else None
        entry['status'] = status
        entry['replayed'] = replayed
        with self.state.lock:
            self.state.requests.append(entry)
            delay = 0
            d = self.state.delay
            if d['ms'] and d['count'] != 0 and d['match'] in path \
                    and path != '/v1/oauth2/token':
                delay = d['ms']
                if d['count'] > 0:
                    d['count'] -= 1
        if delay:
            time.sleep(delay / 1000.0)
        try:
            self.send(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass            # the client gave up waiting: the answer is lost

    # -- the API
    def api(self, method, path, raw, request_id):
        st = self.state
        with st.lock:
            f = st.fail
            if f['count'] != 0 and f['match'] in path:
                if f['count'] > 0:
                    f['count'] -= 1
                body = {'name': 'INTERNAL_SERVER_ERROR',
                        'message': 'An internal server error occurred.',
                        'debug_id': new_id(13).lower()}
                if f['status'] == 429:
                    body.update(name='RATE_LIMIT_REACHED',
                                message='Too many requests. Blocked due to rate limiting.')
                if f.get('retry_after') is not None:
                    body['_headers'] = {'Retry-After': str(f['retry_after'])}
                return f['status'], body, False
        if path == '/v1/oauth2/token' and method == 'POST':
            return self.token(raw) + (False,)
        if not path.startswith('/v2/'):
            return 404, {'name': 'RESOURCE_NOT_FOUND', 'message': 'no such path'}, False
        auth = self.headers.get('Authorization') or ''
        with st.lock:
            expiry = st.tokens.get(auth[7:]) if auth.startswith('Bearer ') else None
            if expiry is None or expiry < time.time():
                st.counters['unauthorized'] += 1
                return 401, {'error': 'invalid_token',
                             'error_description': 'Token signature verification failed'
                             if expiry is None else 'Access Token not found in cache'}, False
        body = None
        if method == 'POST':
            ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
            if ctype != 'application/json':
                return 415, {'name': 'UNSUPPORTED_MEDIA_TYPE',
                             'message': 'The server does not support the request payload'
                                        ' media type.'}, False
            try:
                body = json.loads(raw.decode('utf-8')) if raw else {}
            except (UnicodeDecodeError, ValueError):
                e = invalid_request('MALFORMED_REQUEST_JSON', 'The request JSON is not well '
                                    'formed.')
                return e.status, e.body, False
            if not isinstance(body, dict):
                e = invalid_request('MALFORMED_REQUEST_JSON', 'The request JSON is not an '
                                    'object.')
                return e.status, e.body, False
        # One request at a time: the state, the replay store and the effect
        # change together.
        with st.lock:
            if method == 'POST' and request_id:
                if len(request_id) > 108:
                    e = invalid_request('INVALID_PARAMETER_SYNTAX', 'PayPal-Request-Id is '
                                        'longer than 108 characters.', 'PayPal-Request-Id')
                    return e.status, e.body, False
                if request_id in st.stored:
                    st.counters['replays'] += 1
                    status, stored = st.stored[request_id]
                    return status, stored, True
            try:
                status, out = self.route(method, path, body)
            except ApiError as e:
                return e.status, e.body, False
            if method == 'POST' and request_id and 200 <= status < 300:
                st.stored[request_id] = [status, out]
            st.save()
            return status, out, False

    def token(self, raw):
        st = self.state
        auth = self.headers.get('Authorization') or ''
        ok = False
        if auth.startswith('Basic '):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(':')
                ok = user == st.args.client_id and password == st.args.secret
            except Exception:
                ok = False
        form = urllib.parse.parse_qs(raw.decode('utf-8', 'replace'))
        with st.lock:
            st.counters['token_requests'] += 1
            if not ok:
                return 401, {'error': 'invalid_client',
                             'error_description': 'Client Authentication failed'}
            if form.get('grant_type') != ['client_credentials']:
                return 400, {'error': 'unsupported_grant_type',
                             'error_description': 'Grant Type is NULL'}
            token = 'A21AA' + new_id(60)
            st.tokens[token] = time.time() + st.args.token_ttl
            st.save()
            return 200, {'scope': 'https://uri.paypal.com/services/payments/payment',
                         'access_token': token, 'token_type': 'Bearer',
                         'app_id': 'APP-80W284485P519543T',
                         'expires_in': st.args.token_ttl, 'nonce': now_iso() + new_id(20)}

    def route(self, method, path, body):
        m = re.fullmatch(r'/v2/checkout/orders', path)
        if m and method == 'POST':
            return self.create(body)
        m = re.fullmatch(r'/v2/checkout/orders/([A-Za-z0-9_-]+)', path)
        if m and method == 'GET':
            return 200, self.order_view(self.order(m.group(1)))
        m = re.fullmatch(r'/v2/checkout/orders/([A-Za-z0-9_-]+)/capture', path)
        if m and method == 'POST':
            return self.capture(self.order(m.group(1)))
        m = re.fullmatch(r'/v2/payments/captures/([A-Za-z0-9_-]+)/refund', path)
        if m and method == 'POST':
            return self.refund(m.group(1), body)
        m = re.fullmatch(r'/v2/payments/captures/([A-Za-z0-9_-]+)', path)
        if m and method == 'GET':
            cid = m.group(1)
            if cid not in self.state.captures:
                raise not_found(cid)
            o = self.state.orders[self.state.captures[cid]]
            return 200, self.capture_view(o)
        raise not_found(path)

    def order(self, oid):
        o = self.state.orders.get(oid)
        if o is None:
            raise not_found(oid)
        return o

    def create(self, body):
        intent = body.get('intent')
        if intent not in ('CAPTURE', 'AUTHORIZE'):
            raise invalid_request('INVALID_PARAMETER_VALUE' if intent else
                                  'MISSING_REQUIRED_PARAMETER', 'intent must be CAPTURE or'
                                  ' AUTHORIZE.', '/intent', intent)
        units = body.get('purchase_units')
        if not isinstance(units, list) or not units or not isinstance(units[0], dict):
            raise invalid_request('MISSING_REQUIRED_PARAMETER', 'A required field / '
                                  'parameter is missing.', '/purchase_units')
        unit = units[0]
        currency, minor = check_amount(unit.get('amount'), '/purchase_units/@reference_id'
                                       '==\'default\'/amount')
        custom_id = unit.get('custom_id')
        if custom_id is not None and (not isinstance(custom_id, str) or len(custom_id) > 127):
            raise invalid_request('INVALID_STRING_MAX_LENGTH', 'custom_id is too long.',
                                  '/purchase_units/@reference_id==\'default\'/custom_id')
        context = body.get('application_context') or {}
        for key in ('return_url', 'cancel_url'):
            url = context.get(key)
            if url is not None and (not isinstance(url, str)
                                    or not re.match(r'https?://', url)):
                raise invalid_request('INVALID_PARAMETER_SYNTAX', key + ' must be a URL.',
                                      '/application_context/' + key, url)
        oid = new_id()
        st = self.state
        st.orders[oid] = {
            'id': oid, 'intent': intent,
            'status': 'APPROVED' if st.args.auto_approve else 'CREATED',
            'currency': currency, 'minor': minor, 'custom_id': custom_id,
            'return_url': context.get('return_url'), 'cancel_url': context.get('cancel_url'),
            'payer_action': bool(body.get('payment_source')),
            'create_time': now_iso(), 'capture_attempts': 0, 'capture': None,
            'refunds': [],
        }
        return 201, self.order_view(st.orders[oid])

    def capture(self, o):
        st = self.state
        st.counters['capture_attempts'] += 1
        o['capture_attempts'] += 1
        if o['status'] == 'COMPLETED':
            raise unprocessable('ORDER_ALREADY_CAPTURED', 'Order already captured.If '
                                'intent=CAPTURE only one capture per order is allowed.')
        if o['status'] != 'APPROVED':
            raise unprocessable('ORDER_NOT_APPROVED', 'Payer has not yet approved the Order '
                                'for payment. Please redirect the payer to the \'rel\':'
                                '\'approve\' url returned as part of the HATEOAS links '
                                'within the Create Order call or provide a valid '
                                'payment_source in the request.')
        if o['minor'] % 100 == 2:
            raise unprocessable('INSTRUMENT_DECLINED', 'The instrument presented  was either '
                                'declined by the processor or bank, or it can\'t be used '
                                'for this payment.')
        if o['minor'] % 100 == 3 and o['capture_attempts'] == 1:
            raise ApiError(503, 'SERVICE_UNAVAILABLE', 'Service Unavailable.')
        cid = new_id()
        o['status'] = 'COMPLETED'
        o['capture'] = {'id': cid, 'status': 'COMPLETED', 'create_time': now_iso()}
        st.captures[cid] = o['id']
        st.counters['captures'] += 1
        return 201, self.order_view(o)

    def refund(self, cid, body):
        st = self.state
        if cid not in st.captures:
            raise not_found(cid)
        o = st.orders[st.captures[cid]]
        refunded = sum(r['minor'] for r in o['refunds'])
        left = o['minor'] - refunded
        if left <= 0:
            raise unprocessable('CAPTURE_FULLY_REFUNDED', 'The capture has already been fully'
                                ' refunded')
        if body.get('amount') is not None:
            currency, minor = check_amount(body['amount'], '/amount')
            if currency != o['currency']:
                raise unprocessable('REFUND_CURRENCY_MISMATCH', 'Refund must be in the same '
                                    'currency as the capture.', '/amount/currency_code',
                                    currency)
        else:
            minor = left
        if minor <= 0 or minor > left:
            raise unprocessable('REFUND_AMOUNT_EXCEEDED', 'The refund amount must be less '
                                'than or equal to the capture amount that has not yet been '
                                'refunded.')
        rid = new_id()
        o['refunds'].append({'id': rid, 'minor': minor, 'status': 'COMPLETED',
                             'create_time': now_iso()})
        o['capture']['status'] = 'REFUNDED' if minor == left else 'PARTIALLY_REFUNDED'
        st.counters['refunds'] += 1
        return 201, {'id': rid, 'status': 'COMPLETED',
                     'links': [{'href': self.base() + '/v2/payments/refunds/' + rid,
                                'rel': 'self', 'method': 'GET'},
                               {'href': self.base() + '/v2/payments/captures/' + cid,
                                'rel': 'up', 'method': 'GET'}]}

    # -- representations
    def capture_view(self, o):
        c = o['capture']
        return {'id': c['id'], 'status': c['status'],
                'amount': {'currency_code': o['currency'],
                           'value': money(o['currency'], o['minor'])},
                'final_capture': True, 'custom_id': o['custom_id'],
                'create_time': c['create_time'], 'update_time': c['create_time'],
                'links': [{'href': self.base() + '/v2/payments/captures/' + c['id'],
                           'rel': 'self', 'method': 'GET'},
                          {'href': self.base() + '/v2/payments/captures/' + c['id']
                           + '/refund', 'rel': 'refund', 'method': 'POST'}]}

    def order_view(self, o):
        unit = {'reference_id': 'default',
                'amount': {'currency_code': o['currency'],
                           'value': money(o['currency'], o['minor'])}}
        if o['custom_id'] is not None:
            unit['custom_id'] = o['custom_id']
        if o['capture']:
            unit['payments'] = {'captures': [self.capture_view(o)]}
            if o['refunds']:
                unit['payments']['refunds'] = [
                    {'id': r['id'], 'status': r['status'],
                     'amount': {'currency_code': o['currency'],
                                'value': money(o['currency'], r['minor'])}}
                    for r in o['refunds']]
        base = self.base()
        links = [{'href': base + '/v2/checkout/orders/' + o['id'], 'rel': 'self',
                  'method': 'GET'}]
        if o['status'] in ('CREATED', 'PAYER_ACTION_REQUIRED'):
            links.append({'href': base + '/checkoutnow?token=' + o['id'],
                          'rel': 'payer-action' if o['payer_action'] else 'approve',
                          'method': 'GET'})
        if o['status'] in ('CREATED', 'APPROVED'):
            links.append({'href': base + '/v2/checkout/orders/' + o['id'], 'rel': 'update',
                          'method': 'PATCH'})
            links.append({'href': base + '/v2/checkout/orders/' + o['id'] + '/capture',
                          'rel': 'capture', 'method': 'POST'})
        view = {'id': o['id'], 'intent': o['intent'], 'status': o['status'],
                'purchase_units': [unit], 'create_time': o['create_time'], 'links': links}
        if o['status'] in ('APPROVED', 'COMPLETED'):
            view['payer'] = {'name': {'given_name': 'John', 'surname': 'Doe'},
                             'email_address': 'buyer@example.com', 'payer_id': 'QYR5Z8XDVJNXQ'}
        return view

    # -- test hooks
    def test_hook(self, method, path, raw):
        st = self.state
        try:
            body = json.loads(raw.decode()) if raw else {}
        except ValueError:
            return self.send(400, {'error': 'bad json'})
        with st.lock:
            m = re.fullmatch(r'/test/approve/([A-Za-z0-9_-]+)', path)
            if m and method == 'POST':
                o = st.orders.get(m.group(1))
                if o is None:
                    return self.send(404, {'error': 'no such order'})
                if o['status'] == 'CREATED':
                    o['status'] = 'APPROVED'
                    st.save()
                return self.send(200, {'id': o['id'], 'status': o['status']})
            if path == '/test/expire_tokens' and method == 'POST':
                for t in st.tokens:
                    st.tokens[t] = 0
                st.save()
                return self.send(200, {'expired': len(st.tokens)})
            if path == '/test/delay' and method == 'POST':
                st.delay = {'ms': int(body.get('ms', 0)), 'match': body.get('match', ''),
                            'count': int(body.get('count', -1))}
                return self.send(200, st.delay)
            if path == '/test/fail' and method == 'POST':
                st.fail = {'status': int(body.get('status', 500)),
                           'match': body.get('match', ''), 'count': int(body.get('count', 1)),
                           'retry_after': body.get('retry_after')}
                return self.send(200, st.fail)
            if path == '/test/state' and method == 'GET':
                return self.send(200, {'counters': st.counters, 'orders': st.orders,
                                       'tokens': len(st.tokens)})
            m = re.fullmatch(r'/test/orders/([A-Za-z0-9_-]+)', path)
            if m and method == 'GET':
                o = st.orders.get(m.group(1))
                if o is None:
                    return self.send(404, {'error': 'no such order'})
                calls = sum(1 for r in st.requests if m.group(1) in r['path'])
                return self.send(200, dict(o, calls=calls))
            if path == '/test/requests' and method == 'GET':
                return self.send(200, {'requests': st.requests})
            if path == '/test/reset_log' and method == 'POST':
                st.requests = []
                return self.send(200, {})
        return self.send(404, {'error': 'no such test hook'})


def main(argv=None):
    ap = argparse.ArgumentParser(description='A fake of the PayPal REST API for tests.')
    ap.add_argument('port', nargs='?', type=int, default=0)
    ap.add_argument('--client-id', default='orderd-test-client')
    ap.add_argument('--secret', default=None)
    ap.add_argument('--secret-file', default=None)
    ap.add_argument('--auto-approve', action='store_true',
                    help='orders are approved at creation (no buyer step)')
    ap.add_argument('--token-ttl', type=int, default=32400)
    ap.add_argument('--state-file', default=None)
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args(argv)
    if args.secret_file:
        with open(args.secret_file) as f:
            args.secret = f.read().strip()
    if args.secret is None:
        args.secret = 'orderd-test-secret'
    ThreadingHTTPServer.request_queue_size = 1024     # many clients connect at once
    server = ThreadingHTTPServer(('127.0.0.1', args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
