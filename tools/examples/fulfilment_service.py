#!/usr/bin/python3
"""fulfilment_service.py: a fulfilment adapter that lives in its own process.

orderd reaches it through the bridge plugin (build/plugins/bridge_fulfilment.so,
docs/PLUGINS.md "Adapters in other processes: the bridge"):

    fulfilment
        plugin = build/plugins/bridge_fulfilment.so
        endpoint = tcp://127.0.0.1:8795

    /usr/bin/python3 tools/examples/fulfilment_service.py \\
        --endpoint tcp://127.0.0.1:8795 --db var/fulfilment.sqlite \\
        --stock-file config/stock.cfg

It is an example for teams who write their own service, in any language. It
speaks the adapter protocol of PROTOCOL.md §9 over a ZeroMQ ROUTER socket:
every request is [envelope..., body]; the body is a msgpack map
{v: 1, op, rid, ...}; the answer is [the same envelope..., reply] with the
reply {v: 1, rid, ok: true, ...} or {v: 1, rid, ok: false,
error: {code, message}}. It has the semantics of orderd's own
fulfilment_local adapter:

    reserve {order_id, line, sku, quantity, ttl_ms?} -> {available}
    release {order_id, line}
    reduce  {order_id, line, sku, quantity} -> {available}
    restore {order_id, line, sku, quantity}
    stock   {sku, set?} -> {sku, available, reserved}
    ping    -> {name, version, batch: true}
    batch   {calls: [{op, ...}, ...]} -> {results: [...]}  (all lines of an
            order in one message; optional, see op_batch)

The three duties every such service has (docs/PLUGINS.md §3):

  1. Idempotency on (order_id, line, op). orderd repeats any call whose
     answer it did not see (a timeout, a lost connection, a crash), with the
     same fields. Asked twice, an op acts once and answers the same. This
     service keeps one row per (order_id, line) with its state and the
     `available` it answered, and replays that answer.
  2. Durability before the answer. The requests waiting on the socket
     are taken together and run in arrival order in one SQLite transaction
     (WAL, synchronous=FULL), each in a savepoint of its own, committed
     before any of their replies leaves, so an answer orderd saw is never
     forgotten by a crash, and a queue costs one fsync, not one a request.
     Pings are answered before the group runs.
  3. Errors as codes: out_of_stock, unknown_product (a sku with no stock
     record at all), idempotency_mismatch, bad_request,
     unknown_op, unsupported_version, too_large; `unavailable` means "try
     again later" and is the only one orderd retries.

Only Debian's python3-zmq and python3-msgpack, and the standard library.
"""
import argparse
import os
import signal
import sqlite3
import sys
import time
import traceback

import msgpack
import zmq
import zmq.auth

NAME = 'fulfilment_service.py'
VERSION = '1.0.0'

MAX_BODY = 65536            # larger requests: too_large
MAX_RID = 64
MAX_ID = 128                # order_id, sku
MAX_LINE = 64
MAX_QUANTITY = 10 ** 9
MAX_INT = 2 ** 61           # set, ttl_ms
MAX_BATCH_CALLS = 500
GROUP_MAX = 256             # requests taken off the socket at once


class Refusal(Exception):
    """An error answer: {ok: false, error: {code, message}}."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def bad_request(message):
    return Refusal('bad_request', message)


# ---------------------------------------------------------------- fields

def read_str(body, key, required=True, max_len=MAX_ID):
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request('%s: required' % key)
        return None
    if not isinstance(value, str):
        raise bad_request('%s: must be a string' % key)
    size = len(value.encode('utf-8'))
    if required and size == 0:
        raise bad_request('%s: must not be empty' % key)
    if size > max_len:
        raise bad_request('%s: longer than %d bytes' % (key, max_len))
    if '\0' in value:
        raise bad_request('%s: must not hold a NUL byte' % key)
    return value


def read_int(body, key, low, high, required=True):
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request('%s: required' % key)
        return None
    # msgpack booleans are Python bools, which are ints: refuse them
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request('%s: must be an integer' % key)
    if not low <= value <= high:
        raise bad_request('%s: must be from %d to %d' % (key, low, high))
    return value


def read_line(body):
    """(order_id, line): a line is an integer >= 0 or a string; line 1 and
    line "1" are the same line."""
    order_id = read_str(body, 'order_id')
    line = body.get('line')
    if line is None:
        raise bad_request('line: required')
    if isinstance(line, int) and not isinstance(line, bool) and line >= 0:
        return order_id, str(line)
    if isinstance(line, str):
        return order_id, read_str(body, 'line', max_len=MAX_LINE)
    raise bad_request('line: must be an integer >= 0 or a string')


def read_item(body):
    return read_str(body, 'sku'), read_int(body, 'quantity', 1, MAX_QUANTITY)


# ---------------------------------------------------------------- store

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    sku        TEXT PRIMARY KEY,
    available  INTEGER NOT NULL CHECK (available >= 0),
    reserved   INTEGER NOT NULL CHECK (reserved >= 0)
);
-- One row per (order_id, line): what the line holds and the `available`
-- answered when its state was set, replayed to a repeated op.
-- state: reserved | released | lapsed | reduced | restored
CREATE TABLE IF NOT EXISTS lines (
    order_id   TEXT NOT NULL,
    line       TEXT NOT NULL,
    sku        TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,          -- ms since the epoch, when reserved
    answer     INTEGER NOT NULL,
    PRIMARY KEY (order_id, line)
);
CREATE INDEX IF NOT EXISTS held ON lines (expires_at) WHERE state = 'reserved';
"""


class Store:
    """Stock and lines in SQLite. Every method runs inside the request's
    transaction (see Service.handle)."""

    def __init__(self, path, default_ttl_ms):
        # isolation_level=None: we issue BEGIN / COMMIT ourselves
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute('PRAGMA journal_mode = WAL')
        self.db.execute('PRAGMA synchronous = FULL')
        self.db.executescript(SCHEMA)
        self.default_ttl_ms = default_ttl_ms

    # -- stock rows
    def stock(self, sku):
        row = self.db.execute('SELECT available, reserved FROM stock WHERE sku = ?',
                              (sku,)).fetchone()
        return row if row else (0, 0)        # an unknown sku has nothing

    def known(self, sku):
        return self.db.execute('SELECT 1 FROM stock WHERE sku = ?', (sku,)).fetchone() is not None

    def put_stock(self, sku, available, reserved):
        self.db.execute('INSERT INTO stock (sku, available, reserved) VALUES (?, ?, ?)'
                        ' ON CONFLICT (sku) DO UPDATE SET available = excluded.available,'
                        ' reserved = excluded.reserved', (sku, available, reserved))

    def move(self, sku, to_available, to_reserved):
        available, reserved = self.stock(sku)
        self.put_stock(sku, available + to_available, reserved + to_reserved)
        return available + to_available

    # -- line rows
    def line(self, order_id, line):
        row = self.db.execute('SELECT sku, quantity, state, expires_at, answer FROM lines'
                              ' WHERE order_id = ? AND line = ?', (order_id, line)).fetchone()
        if row is None:
            return None
        return dict(zip(('sku', 'quantity', 'state', 'expires_at', 'answer'), row))

    def put_line(self, order_id, line, sku, quantity, state, expires_at=0, answer=0):
        self.db.execute('INSERT OR REPLACE INTO lines (order_id, line, sku, quantity, state,'
                        ' expires_at, answer) VALUES (?, ?, ?, ?, ?, ?, ?)',
                        (order_id, line, sku, quantity, state, expires_at, answer))

    def set_state(self, order_id, line, state, expires_at=None):
        if expires_at is None:
            self.db.execute('UPDATE lines SET state = ? WHERE order_id = ? AND line = ?',
                            (state, order_id, line))
        else:
            self.db.execute('UPDATE lines SET state = ?, expires_at = ?'
                            ' WHERE order_id = ? AND line = ?',
                            (state, expires_at, order_id, line))

    def sweep(self, now):
        """Lapsed reservations free their stock: run first in every
        transaction, so every op (stock included) sees lapsed stock free."""
        lapsed = self.db.execute("SELECT order_id, line, sku, quantity FROM lines"
                                 " WHERE state = 'reserved' AND expires_at <= ?",
                                 (now,)).fetchall()
        for order_id, line, sku, quantity in lapsed:
            self.move(sku, quantity, -quantity)
            self.set_state(order_id, line, 'lapsed')

    def seed(self, counts):
        """Seeds skus the store has never seen; a restart never resets stock."""
        self.db.execute('BEGIN IMMEDIATE')
        for sku, count in counts.items():
            self.db.execute('INSERT OR IGNORE INTO stock (sku, available, reserved)'
                            ' VALUES (?, ?, 0)', (sku, count))
        self.db.execute('COMMIT')


# ---------------------------------------------------------------- ops

def same_item(held, sku, quantity):
    """A repeat of an op on a line must name the same sku and quantity."""
    if held['sku'] != sku or held['quantity'] != quantity:
        raise Refusal('idempotency_mismatch', 'line is %s for %d x %s, not %d x %s' % (
            held['state'], held['quantity'], held['sku'], quantity, sku))


def out_of_stock(store, sku, available, quantity):
    """A sku never stocked is no product of this shop: a cart tells that
    apart from one that sold out."""
    if not store.known(sku):
        return Refusal('unknown_product', '%s: no such product' % sku)
    return Refusal('out_of_stock', '%s: out of stock (%d available, %d asked)'
                   % (sku, available, quantity))


def op_reserve(store, body, now):
    order_id, line = read_line(body)
    sku, quantity = read_item(body)
    ttl = read_int(body, 'ttl_ms', 0, MAX_INT, required=False) or 0
    expires_at = now + (ttl if ttl > 0 else store.default_ttl_ms)
    held = store.line(order_id, line)
    if held and held['state'] in ('reserved', 'reduced'):
        # Asked again: no stock moves. A live reservation is pushed to
        # now + ttl if that is later (confirm reserves again before it
        # captures, so the stock holds through the capture).
        same_item(held, sku, quantity)
        if held['state'] == 'reserved' and expires_at > held['expires_at']:
            store.set_state(order_id, line, 'reserved', expires_at)
        return {'available': held['answer']}
    # No line yet, or one that holds nothing (released, lapsed, restored)
    available, reserved = store.stock(sku)
    if available < quantity or not store.known(sku):
        raise out_of_stock(store, sku, available, quantity)
    store.put_stock(sku, available - quantity, reserved + quantity)
    store.put_line(order_id, line, sku, quantity, 'reserved', expires_at,
                   available - quantity)
    return {'available': available - quantity}


def op_release(store, body, now):
    order_id, line = read_line(body)
    held = store.line(order_id, line)
    if held and held['state'] == 'reserved':
        store.move(held['sku'], held['quantity'], -held['quantity'])
        store.set_state(order_id, line, 'released')
    return {}                               # nothing held: nothing to do


def op_reduce(store, body, now):
    """Consumes the line's reservation if it holds one, else takes free stock."""
    order_id, line = read_line(body)
    sku, quantity = read_item(body)
    held = store.line(order_id, line)
    if held and held['state'] in ('reserved', 'reduced'):
        same_item(held, sku, quantity)
        if held['state'] == 'reduced':
            return {'available': held['answer']}
    available, reserved = store.stock(sku)
    if held and held['state'] == 'reserved':
        reserved -= quantity
    elif available < quantity or not store.known(sku):
        raise out_of_stock(store, sku, available, quantity)
    else:
        available -= quantity
    store.put_stock(sku, available, reserved)
    store.put_line(order_id, line, sku, quantity, 'reduced', 0, available)
    return {'available': available}


def op_restore(store, body, now):
    """Puts a reduced line's quantity back; any other line is left alone."""
    order_id, line = read_line(body)
    sku, quantity = read_item(body)
    held = store.line(order_id, line)
    if held and held['state'] == 'reduced':
        same_item(held, sku, quantity)
        store.move(sku, quantity, 0)
        store.set_state(order_id, line, 'restored')
    return {}


def op_stock(store, body, now):
    sku = read_str(body, 'sku')
    new_available = read_int(body, 'set', 0, MAX_INT, required=False)
    available, reserved = store.stock(sku)
    if new_available is not None:
        available = new_available
        store.put_stock(sku, available, reserved)
    return {'sku': sku, 'available': available, 'reserved': reserved}


OPS = {'reserve': op_reserve, 'release': op_release, 'reduce': op_reduce,
       'restore': op_restore, 'stock': op_stock}


def attempt(store, handler, body, now):
    """Runs one op inside a savepoint: an op that is refused leaves no write
    behind, whatever it did before it found out."""
    store.db.execute('SAVEPOINT op')
    try:
        fields = handler(store, body, now)
    except sqlite3.Error:
        raise           # the store failed: the whole group is rolled back
    except BaseException:
        # A refusal or a bug: this op's writes go, the group's others stay
        store.db.execute('ROLLBACK TO op')
        store.db.execute('RELEASE op')
        raise
    store.db.execute('RELEASE op')
    return fields


def op_batch(store, body, now):
    """batch {calls: [{op, ...fields}, ...]} -> {results: [...]}: an optional
    extension that orderd uses to send every line of an order in one
    message (a service without it answers unknown_op, and orderd then sends
    one call per line). The calls run in order, in this one transaction,
    each as if it came alone; the first refusal ends the batch. Every call
    that ran has a result: {ok: true, ...} or {ok: false, error}."""
    calls = body.get('calls')
    if not isinstance(calls, list):
        raise bad_request('calls: required, an array')
    if not 1 <= len(calls) <= MAX_BATCH_CALLS:
        raise bad_request('calls: must have from 1 to %d items' % MAX_BATCH_CALLS)
    # Check every call before running any, so that a bad batch changes nothing
    for i, call in enumerate(calls):
        if not isinstance(call, dict):
            raise bad_request('calls[%d]: must be a map' % i)
        try:
            op = read_str(call, 'op', max_len=64)
        except Refusal as refusal:
            raise Refusal(refusal.code, 'calls[%d].%s' % (i, refusal.message))
        if op not in OPS:
            raise Refusal('unknown_op', "calls[%d].op: '%s' is not an operation of %s"
                          % (i, op, NAME))
    results = []
    for call in calls:
        try:
            result = {'ok': True}
            result.update(attempt(store, OPS[call['op']], call, now))
            results.append(result)
        except Refusal as refusal:
            results.append({'ok': False,
                            'error': {'code': refusal.code, 'message': refusal.message}})
            break
    return {'results': results}


# ---------------------------------------------------------------- service

def describe(data):
    """A request body for the log: the map if it decodes, else the bytes."""
    try:
        return repr(msgpack.unpackb(data, raw=False))[:300]
    except Exception:
        return repr(data[:100])


def reply_ok(rid, fields):
    reply = {'v': 1, 'rid': rid, 'ok': True}
    reply.update(fields)
    return reply


def reply_error(rid, code, message):
    return {'v': 1, 'rid': rid, 'ok': False,
            'error': {'code': code, 'message': message}}


class Service:
    def __init__(self, store, verbose=False):
        self.store = store
        self.verbose = verbose

    def parse(self, data):
        """(reply, None) for a request answered without the store (a ping, a
        malformed one), else (None, (rid, op, body))."""
        if len(data) > MAX_BODY:
            return reply_error(None, 'too_large', 'body larger than %d bytes' % MAX_BODY), None
        try:
            body = msgpack.unpackb(data, raw=False)
        except Exception:
            return reply_error(None, 'bad_request', 'body is not msgpack (or not UTF-8)'), None
        if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
            return reply_error(None, 'bad_request', 'body must be a map with string keys'), None
        rid = None
        try:
            rid = read_str(body, 'rid', required=False, max_len=MAX_RID)
            version = read_int(body, 'v', -2 ** 63, 2 ** 64 - 1)
            if version != 1:
                raise Refusal('unsupported_version', 'v: %d is not supported (only 1)'
                              % version)
            op = read_str(body, 'op', max_len=64)
            if op == 'ping':
                return reply_ok(rid, {'name': NAME, 'version': VERSION, 'batch': True}), None
            if op != 'batch' and op not in OPS:
                raise Refusal('unknown_op', "op: '%s' is not an operation of %s" % (op, NAME))
        except Refusal as refusal:
            return reply_error(rid, refusal.code, refusal.message), None
        return None, (rid, op, body)

    def answer(self, data):
        """The reply map to one request body (bytes)."""
        reply, work = self.parse(data)
        return reply if reply is not None else self.run_group([work])[0]

    def run_group(self, works):
        """Replies to requests [(rid, op, body), ...] run in this order in ONE
        transaction, committed before any answer leaves: one fsync for the
        group instead of one per request. Each op runs in a savepoint of its
        own, exactly as if it came alone; the sweep of lapsed reservations
        comes first and stands even when ops are refused. If the store
        fails, nothing of the group is committed and every request of it
        answers `unavailable` (orderd tries again)."""
        db = self.store.db
        replies = []
        try:
            db.execute('BEGIN IMMEDIATE')
            try:
                now = int(time.time() * 1000)
                self.store.sweep(now)
                for rid, op, body in works:
                    replies.append(self.run_one(rid, op, body, now))
            except BaseException:
                db.execute('ROLLBACK')
                raise
            db.execute('COMMIT')
        except sqlite3.Error as exc:
            return [reply_error(rid, 'unavailable', 'store: %s' % exc) for rid, _, _ in works]
        return replies

    def run_one(self, rid, op, body, now):
        try:
            handler = op_batch if op == 'batch' else OPS[op]
            return reply_ok(rid, attempt(self.store, handler, body, now))
        except Refusal as refusal:
            return reply_error(rid, refusal.code, refusal.message)
        except sqlite3.Error:
            raise
        except Exception as exc:
            # A bug here: say so, keep serving (its writes were rolled back)
            traceback.print_exc()
            return reply_error(rid, 'internal', '%s: %s' % (type(exc).__name__, exc))

    def serve(self, socket):
        """Answers requests until Ctrl-C or SIGTERM. It takes every request
        waiting (up to GROUP_MAX) at once: pings and malformed requests are
        answered first, then the others run in arrival order in one
        transaction (run_group). Arrival order keeps the requests of an
        order in the order orderd sent them; the group makes a queue cost
        one fsync rather than one per request, and a ping never waits
        behind it."""
        try:
            while True:
                frames = [socket.recv_multipart()]
                while len(frames) < GROUP_MAX:
                    try:
                        frames.append(socket.recv_multipart(zmq.NOBLOCK))
                    except zmq.Again:
                        break
                works, waiting = [], []
                for request in frames:
                    # [envelope..., body]: the envelope goes back unchanged
                    reply, work = self.parse(request[-1])
                    if reply is not None:
                        self.send(socket, request, reply)
                    else:
                        works.append(work)
                        waiting.append(request)
                if works:
                    for request, reply in zip(waiting, self.run_group(works)):
                        self.send(socket, request, reply)
        except (KeyboardInterrupt, zmq.ContextTerminated):
            return

    def send(self, socket, request, reply):
        if self.verbose:
            sys.stderr.write('%s -> %r\n' % (describe(request[-1]), reply))
        socket.send_multipart(request[:-1] + [msgpack.packb(reply, use_bin_type=True)])


# ---------------------------------------------------------------- start-up

def read_stock_file(path):
    """{sku: count} of a ZPL file with a `stock` section:

        stock
            sku-apple = 500
    """
    counts = {}
    section = None
    seen_stock = False
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            text = raw.split('#', 1)[0].rstrip()
            if not text.strip():
                continue
            if not text[0].isspace():
                section = text.strip()
                seen_stock = seen_stock or section == 'stock'
                continue
            if section != 'stock':
                continue
            name, equals, value = text.strip().partition('=')
            name, value = name.strip(), value.strip().strip('"\'')
            if not equals or not name or not value.isdigit():
                raise SystemExit("%s:%d: stock/%s: '%s' is not a count >= 0"
                                 % (path, number, name, value))
            counts[name] = int(value)
    if not seen_stock:
        raise SystemExit('%s: no stock section' % path)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--endpoint', default='tcp://127.0.0.1:8795',
                        help='where to bind the ROUTER (default %(default)s)')
    parser.add_argument('--db', default='fulfilment.sqlite',
                        help='SQLite file of the stock (default %(default)s)')
    parser.add_argument('--stock-file',
                        help='ZPL file (like config/stock.cfg) seeding skus never seen')
    parser.add_argument('--reserve-ttl-ms', type=int, default=30 * 60 * 1000,
                        help='how long a reservation holds when a request has no'
                        ' ttl_ms (default %(default)s)')
    parser.add_argument('--cert',
                        help='CURVE: this service\'s certificate (czmq format, with'
                        ' its secret key); clients then need its public key')
    parser.add_argument('--verbose', action='store_true', help='log every request')
    args = parser.parse_args()

    store = Store(args.db, args.reserve_ttl_ms)
    if args.stock_file:
        store.seed(read_stock_file(args.stock_file))

    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    if args.cert:
        public, secret = zmq.auth.load_certificate(args.cert)
        if not secret:
            raise SystemExit('%s: no secret key (give the _secret file)' % args.cert)
        socket.curve_server = True
        socket.curve_secretkey = secret
        socket.curve_publickey = public
    socket.bind(args.endpoint)

    def stop(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, stop)     # SIGTERM ends the loop like Ctrl-C
    sys.stderr.write('%s %s: serving %s, stock in %s\n'
                     % (NAME, VERSION, args.endpoint, os.path.abspath(args.db)))
    sys.stderr.flush()
    try:
        Service(store, args.verbose).serve(socket)
    finally:
        socket.close(linger=0)
        context.term()
        store.db.close()


if __name__ == '__main__':
    main()
