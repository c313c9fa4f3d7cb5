"""orderd-client: the official Python client of orderd (docs/CLIENTS.md).

    client = Client("tcp://127.0.0.1:8791")            # the service door
    order = client.create(user_id="u1", cart_id="c1", cart_data=cart)

Every call has a per-attempt timeout and may have a deadline (ms since the
epoch, sent as `deadline`). On a timeout the socket is closed and a new one
connected (Lazy Pirate), and the request sent again when it is a read or a
write with its idempotency key; every write gets a key of its own unless
the caller gives one. Requests go out as [rid, body] and replies are
matched on their first frame, so a refusal whose `rid` is nil still finds
its call. Refusals raise OrderdError (a subclass per code: NotFound,
OutOfStock, Timeout, DeadlineExceeded...) with `code`,
`message`, `retryable` and the `reply`.

A Client is one socket: use it from one thread at a time.
"""
import time
import uuid

import msgpack
import zmq

__all__ = ['Client', 'Events', 'Curve', 'OrderdError', 'RETRYABLE', 'WRITES',
           'error_class']
__version__ = '1.0.0'

DEFAULT_TIMEOUT_MS = 3000
DEFAULT_RETRIES = 3
WRITES = frozenset(('create', 'initiate_payment', 'confirm', 'cancel', 'delete',
                    'advance', 'retry', 'resolve'))
# Codes whose request may succeed later (a write with the same key, after a
# pause): docs/PROTOCOL.md, error codes
RETRYABLE = frozenset(('timeout', 'busy', 'unavailable', 'internal', 'send'))
CODES = ('bad_request', 'unsupported_version', 'unknown_op', 'too_large', 'not_found',
         'forbidden', 'invalid_transition', 'idempotency_mismatch', 'payment_declined',
         'out_of_stock', 'unknown_product', 'unavailable', 'busy', 'internal',
         'deadline_exceeded', 'timeout', 'refused', 'bad_reply', 'send')


class OrderdError(Exception):
    """A call that did not end with an ok reply. `code` is orderd's error
    code or one of ours (timeout, deadline_exceeded, bad_reply); `reply` is
    orderd's reply, None when nothing came back."""

    def __init__(self, code, message, reply=None):
        super().__init__('%s: %s' % (code, message))
        self.code = code
        self.message = message
        self.reply = reply

    @property
    def retryable(self):
        return self.code in RETRYABLE


def _class_name(code):
    return ''.join(part.capitalize() for part in code.split('_'))


_ERRORS = {code: type(_class_name(code), (OrderdError,), {}) for code in CODES}
globals().update({cls.__name__: cls for cls in _ERRORS.values()})
__all__ += [cls.__name__ for cls in _ERRORS.values()]


def error_class(code):
    """OrderdError's subclass for a code (OrderdError itself for a code
    newer than this library): Timeout for 'timeout', OutOfStock for
    'out_of_stock'..."""
    return _ERRORS.get(code, OrderdError)


def _error(code, message, reply=None):
    return error_class(code)(code, message, reply)


def now_ms():
    """Milliseconds since the epoch, the unit of deadlines."""
    return int(time.time() * 1000)


class Curve:
    """CURVE keys (docs/SECURITY.md): orderd's public key and our pair."""

    def __init__(self, server_key, public_key, secret_key):
        for key in (server_key, public_key, secret_key):
            if len(key) != 40:
                raise ValueError('a CURVE key is 40 characters of Z85')
        self.server_key = server_key
        self.public_key = public_key
        self.secret_key = secret_key

    @classmethod
    def load(cls, cert_path, server_key):
        """Our pair from `ordermon keygen`'s files (cert_path and
        cert_path + '_secret'); server_key is orderd's public key in Z85 or
        the path of its certificate."""
        import os
        import zmq.auth
        secret_path = cert_path if cert_path.endswith('_secret') else cert_path + '_secret'
        public, secret = zmq.auth.load_certificate(secret_path)
        if not secret:
            raise ValueError('%s: no secret key' % secret_path)
        if os.path.isfile(server_key):
            server_key = zmq.auth.load_certificate(server_key)[0].decode()
        return cls(server_key, public.decode(), secret.decode())


class Client:
    """A DEALER on orderd's service (or admin) door."""

    def __init__(self, endpoint, timeout_ms=DEFAULT_TIMEOUT_MS, retries=DEFAULT_RETRIES,
                 curve=None, context=None):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.curve = curve
        self._context = context or zmq.Context.instance()
        self._sequence = 0
        self._sock = None
        self._open()

    now_ms = staticmethod(now_ms)

    def _open(self):
        sock = self._context.socket(zmq.DEALER)
        # Never keep the process alive for requests nobody will read
        sock.setsockopt(zmq.LINGER, 0)
        if self.curve:
            sock.curve_serverkey = self.curve.server_key.encode()
            sock.curve_publickey = self.curve.public_key.encode()
            sock.curve_secretkey = self.curve.secret_key.encode()
        sock.connect(self.endpoint)
        self._sock = sock

    def reset(self):
        """Closes the socket and connects a new one: whatever was queued
        for an orderd that is gone is dropped."""
        if self._sock is not None:
            self._sock.close(0)
        self._open()

    def close(self):
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the one way to talk

    def call(self, op, timeout_ms=None, deadline_ms=None, idem=None, no_idem=False,
             retries=None, **fields):
        """Sends {v: 1, op, rid, idem?, deadline?, **fields} and returns the
        ok reply (a dict); raises OrderdError otherwise."""
        timeout_ms = timeout_ms or self.timeout_ms
        retries = self.retries if retries is None else max(0, retries)
        write = op in WRITES
        if not write or no_idem:
            idem = None
        elif idem is None:
            idem = uuid.uuid4().hex     # one key for every attempt of this call
        body = dict(fields, v=1, op=op)
        if idem is not None:
            body['idem'] = idem
        if deadline_ms is not None:
            body['deadline'] = int(deadline_ms)
        # A write without its key is sent once: orderd may have carried it out
        may_retry = not write or idem is not None
        attempt = 0
        while True:
            attempt += 1
            wait_ms = timeout_ms
            if deadline_ms is not None:
                left = deadline_ms - now_ms()
                if left <= 0:
                    raise _error('deadline_exceeded', 'the deadline passed with no reply '
                                 '(%d attempts)' % (attempt - 1))
                wait_ms = min(wait_ms, left)
            self._sequence += 1
            rid = '%x' % self._sequence
            body['rid'] = rid
            reply = self._attempt(rid, msgpack.packb(body), wait_ms)
            if reply is not None:
                return self._judge(reply)
            # Lazy Pirate: a new socket, then maybe the same request again
            self.reset()
            if deadline_ms is not None and now_ms() >= deadline_ms:
                raise _error('deadline_exceeded',
                             'the deadline passed with no reply (%d attempts)' % attempt)
            if not may_retry or attempt > retries:
                raise _error('timeout', 'no reply from %s within %d ms (%d attempt%s%s)'
                             % (self.endpoint, timeout_ms, attempt, 's' if attempt > 1 else '',
                                '' if may_retry else
                                '; a write without a key is not retried'))

    def _attempt(self, rid, packed, wait_ms):
        """One send and the wait for its reply: the reply dict, or None."""
        rid_frame = rid.encode()
        try:
            self._sock.send_multipart([rid_frame, packed], zmq.NOBLOCK)
        except zmq.Again:
            raise _error('send', 'the request could not be queued for %s' % self.endpoint)
        until = time.monotonic() + wait_ms / 1000.0
        while True:
            left = until - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000) + 1):
                if time.monotonic() >= until:
                    return None
                continue
            frames = self._sock.recv_multipart()
            try:
                reply = msgpack.unpackb(frames[-1])
            except Exception:
                raise _error('bad_reply', 'the reply is not msgpack')
            if not isinstance(reply, dict):
                raise _error('bad_reply', 'the reply is not a map')
            # Ours by the first frame; a body that names another rid is stale
            named = reply.get('rid')
            if len(frames) >= 2 and frames[0] == rid_frame and named in (None, rid):
                return reply

    @staticmethod
    def _judge(reply):
        if reply.get('ok') is True:
            return reply
        error = reply.get('error') if isinstance(reply.get('error'), dict) else {}
        code = error.get('code') or 'internal'
        raise _error(code, error.get('message') or '', reply)

    # -- the cart's ops: each returns the order (get: the whole reply)

    def create(self, user_id, cart_id, cart_data, **fields):
        return self.call('create', user_id=user_id, cart_id=cart_id, cart_data=cart_data,
                         **fields)['order']

    def initiate_payment(self, user_id, order_id, **fields):
        return self.call('initiate_payment', user_id=user_id, order_id=order_id,
                         **fields)['order']

    def confirm(self, user_id, order_id, provider_order_id, **fields):
        return self.call('confirm', user_id=user_id, order_id=order_id,
                         provider_order_id=provider_order_id, **fields)['order']

    def cancel(self, user_id, order_id, **fields):
        return self.call('cancel', user_id=user_id, order_id=order_id, **fields)['order']

    def delete(self, user_id, order_id, **fields):
        return self.call('delete', user_id=user_id, order_id=order_id, **fields)

    def get(self, user_id, order_id, history=False, **fields):
        return self.call('get', user_id=user_id, order_id=order_id, history=history,
                         **fields)

    def list(self, user_id, **fields):
        return self.call('list', user_id=user_id, **fields)

    def health(self, **fields):
        return self.call('health', **fields)


class Events:
    """A SUB on the events door (always plain). Like any SUB socket it sees
    only what is published after it has connected."""

    def __init__(self, endpoint, prefix='order.', context=None):
        self._sock = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self._sock.connect(endpoint)

    def recv(self, timeout_ms=None):
        """The next event {topic, order_id, user_id, seq, from, to, at,
        reason}, or None when none came within timeout_ms."""
        while True:
            if timeout_ms is not None and not self._sock.poll(timeout_ms):
                return None
            frames = self._sock.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                event = msgpack.unpackb(frames[1])
            except Exception:
                continue
            if isinstance(event, dict):
                event['topic'] = frames[0].decode('utf-8', 'replace')
                return event

    def close(self):
        self._sock.close(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
