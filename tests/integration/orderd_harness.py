"""Shared harness for the orderd integration tests.

Starts the real daemon ($ORDERD_BUILD/bin/orderd) in a temporary directory
with its own ports, and talks ORDP/1 (PROTOCOL.md) to it with pyzmq and
msgpack. Nothing here knows the daemon's C code: only the wire contract.

    from orderd_harness import Daemon, make_cart

    with Daemon() as d:
        d.seed_stock({'SKU-A': 100})
        c = d.client()                      # DEALER on the service door
        r = c.call('create', user_id='u1', cart_id='c1',
                   cart_data=make_cart([('SKU-A', 2, 1000)]), user_data={})
        assert r['ok'], r

Environment: ORDERD_BUILD (build dir; default <repo>/build), ORDERD_SOURCE
(repo root), ORDERD_VALGRIND=1 (run the daemon under valgrind, with longer
timeouts).
"""
import atexit
import copy
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.environ.get('ORDERD_SOURCE')
                         or os.path.dirname(os.path.dirname(HERE)))
BUILD = os.path.abspath(os.environ.get('ORDERD_BUILD')
                        or os.path.join(SOURCE, 'build'))
VALGRIND = os.environ.get('ORDERD_VALGRIND', '') not in ('', '0')
VALGRIND_CMD = ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
                '--max-threads=8192',  # one thread per live order actor
                '--errors-for-leak-kinds=definite']
# Everything waits this many times longer under valgrind.
SLOW = 10 if VALGRIND else 1

ORDER_ID_RE = re.compile(r'^o[0-9a-f]{16}$')
STATUSES = ('pending', 'payment_initiated', 'paid', 'confirmed', 'processing',
            'shipped', 'delivered', 'cancelled', 'failed')
TERMINAL = ('delivered', 'cancelled', 'failed')
COMMITTED = ('confirmed', 'processing', 'shipped', 'delivered')
OPEN = ('pending', 'payment_initiated')

_live_daemons = set()


def _kill_leftovers():
    for d in list(_live_daemons):
        try:
            d.kill()
        except Exception:
            pass


atexit.register(_kill_leftovers)


def orderd_binary():
    return os.path.join(BUILD, 'bin', 'orderd')


def daemon_argv(*args):
    """argv to run orderd with args, under valgrind when asked."""
    argv = [orderd_binary()] + list(args)
    return (VALGRIND_CMD + argv) if VALGRIND else argv


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def thread_names(pid):
    """The names of a process's threads (orderd names its own, and its
    adapters', for top -H)."""
    names = set()
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                names.add(f.read().strip())
        except OSError:
            pass                # the thread ended meanwhile
    return names


def new_id(prefix=''):
    return prefix + uuid.uuid4().hex[:12]


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------- carts

def make_product(sku, quantity, unit_price, product_id=None, name=None):
    return {'product_id': product_id if product_id is not None else 'p-' + sku,
            'sku': sku,
            'name': name if name is not None else 'Product ' + sku,
            'quantity': quantity,
            'unit_price': unit_price}


def make_cart(products=None, shipping=500, tax=0, discount=0):
    """A valid cart_data with consistent costs.

    products: [(sku, quantity, unit_price), ...] or product dicts.
    subtotal = sum(quantity * unit_price); total = subtotal + shipping + tax
    - discount. Beware the sandbox payment adapter: a total ending in 02 is
    declined at capture, 03 fails once with unavailable."""
    if products is None:
        products = [('SKU-DEFAULT', 1, 1000)]
    plist = []
    for p in products:
        if isinstance(p, dict):
            plist.append(dict(p))
        else:
            plist.append(make_product(*p))
    subtotal = sum(p['quantity'] * p['unit_price'] for p in plist)
    return {
        'products': plist,
        'shipping_address': {'name': 'Ada Lovelace', 'line1': '12 St James Sq',
                             'city': 'London', 'postcode': 'SW1Y 4JH',
                             'country': 'GB'},
        'billing_address': {'name': 'Ada Lovelace', 'line1': '12 St James Sq',
                            'city': 'London', 'postcode': 'SW1Y 4JH',
                            'country': 'GB'},
        'delivery_mode': 'standard',
        'costs': {'subtotal': subtotal, 'shipping': shipping, 'tax': tax,
                  'discount': discount,
                  'total': subtotal + shipping + tax - discount},
    }


def cart_total(cart):
    return cart['costs']['total']


def create_fields(user_id, cart=None, cart_id=None, user_data=None, **extra):
    """Fields of a valid create request (without v/op/rid)."""
    f = {'user_id': user_id,
         'cart_id': cart_id if cart_id is not None else new_id('cart-'),
         'cart_data': cart if cart is not None else make_cart(),
         'user_data': user_data if user_data is not None
         else {'email': user_id + '@example.com', 'name': 'Test ' + user_id}}
    f.update(extra)
    return f


# ---------------------------------------------------------------- client

class ReplyTimeout(AssertionError):
    pass


class Client:
    """A REQ or DEALER client of one orderd door.

    call(op, **fields) sends {v: 1, op, rid: <uuid>, **fields} and returns the
    decoded reply; a DEALER skips replies whose rid does not match (stale
    replies of earlier timed-out requests). A field given as rid=... replaces
    the generated rid; _timeout_ms=... sets this call's timeout. The
    constructor's timeout_ms is multiplied by SLOW under valgrind; a timeout
    given to a single call is taken as it is."""

    def __init__(self, endpoint, kind='dealer', timeout_ms=5000, ctx=None):
        if kind not in ('dealer', 'req'):
            raise ValueError('kind must be dealer or req')
        self.endpoint = endpoint
        self.kind = kind
        self.timeout_ms = timeout_ms * SLOW
        self.ctx = ctx or zmq.Context.instance()
        self.sock = None
        self._open()

    def _open(self):
        if self.sock is not None:
            self.sock.close(linger=0)
        self.sock = self.ctx.socket(zmq.DEALER if self.kind == 'dealer' else zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def close(self):
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- bodies
    @staticmethod
    def pack(body):
        return msgpack.packb(body, use_bin_type=True)

    @staticmethod
    def unpack(data):
        return msgpack.unpackb(data, raw=False, strict_map_key=False)

    def body(self, op, **fields):
        b = {'v': 1, 'op': op, 'rid': uuid.uuid4().hex}
        b.update(fields)
        return b

    # -- raw frames
    def send_raw(self, frames):
        """Send raw bytes (one frame) or a list of frames as they are."""
        if isinstance(frames, (bytes, bytearray)):
            frames = [bytes(frames)]
        self.sock.send_multipart(frames)

    def recv_raw(self, timeout_ms=None):
        """The next reply's frames (REQ: just the body frame); raises
        ReplyTimeout when nothing comes in time."""
        t = self.timeout_ms if timeout_ms is None else timeout_ms
        if not self.sock.poll(t, zmq.POLLIN):
            if self.kind == 'req':
                self._open()       # a REQ socket is stuck after a lost reply
            raise ReplyTimeout('no reply from %s within %d ms'
                               % (self.endpoint, t))
        return self.sock.recv_multipart()

    def recv(self, timeout_ms=None):
        """The next reply body, decoded."""
        return self.unpack(self.recv_raw(timeout_ms)[-1])

    def drain(self):
        n = 0
        while self.sock.poll(0, zmq.POLLIN):
            self.sock.recv_multipart()
            n += 1
        return n

    # -- requests
    def send_body(self, body):
        self.sock.send(self.pack(body))

    def call_body(self, body, timeout_ms=None):
        """Send an arbitrary body (any msgpack-able value) and return the
        decoded reply. With a DEALER, replies whose rid differs from the
        body's rid (or from nil when it has none) are skipped."""
        self.send_body(body)
        want = body.get('rid') if isinstance(body, dict) else None
        if not isinstance(want, str):
            want = None
        t = self.timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + t / 1000.0
        while True:
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                if self.kind == 'req':
                    self._open()
                op = body.get('op') if isinstance(body, dict) else None
                raise ReplyTimeout('no reply to %r (rid %r) from %s within %d ms'
                                   % (op, want, self.endpoint, t))
            try:
                reply = self.recv(left)
            except ReplyTimeout:
                continue
            if self.kind == 'req':
                return reply
            if isinstance(reply, dict) and reply.get('rid') == want:
                return reply
            # a stale reply to an earlier request: skip it

    def call(self, op, **fields):
        timeout_ms = fields.pop('_timeout_ms', None)
        return self.call_body(self.body(op, **fields), timeout_ms)

    def call_ok(self, op, **fields):
        """call() and insist on ok: true."""
        r = self.call(op, **fields)
        if not (isinstance(r, dict) and r.get('ok') is True):
            raise AssertionError('%s %r failed: %r' % (op, _short(fields), r))
        return r

    def pipeline(self, bodies, window=None, timeout_ms=None):
        """DEALER only: send bodies (each with a unique rid), at most window
        in flight, and return {rid: reply}."""
        assert self.kind == 'dealer'
        t = (self.timeout_ms if timeout_ms is None else timeout_ms)
        window = window or len(bodies) or 1
        replies = {}
        pending = set()
        todo = list(bodies)
        while todo or pending:
            while todo and len(pending) < window:
                b = todo.pop(0)
                pending.add(b['rid'])
                self.send_body(b)
            r = self.recv(t)
            rid = r.get('rid') if isinstance(r, dict) else None
            if rid in pending:
                pending.discard(rid)
                replies[rid] = r
        return replies


def _short(fields):
    s = repr(fields)
    return s if len(s) < 300 else s[:300] + '...'


def error_code(reply):
    if isinstance(reply, dict) and isinstance(reply.get('error'), dict):
        return reply['error'].get('code')
    return None


def error_message(reply):
    if isinstance(reply, dict) and isinstance(reply.get('error'), dict):
        return reply['error'].get('message') or ''
    return ''


# ---------------------------------------------------------------- daemon

def base_config(tmp, ports):
    return {
        'orderd': {
            'data_dir': os.path.join(tmp, 'data'),
            'service': 'tcp://127.0.0.1:%d' % ports[0],
            'admin': 'tcp://127.0.0.1:%d' % ports[1],
            'events': 'tcp://127.0.0.1:%d' % ports[2],
            # Every daemon gets its own: 8794 may be anybody's
            'metrics': '127.0.0.1:%d' % ports[3],
            'sync': 'full',
        },
        'payment': {
            'plugin': os.path.join(BUILD, 'plugins', 'payment_sandbox.so'),
            'timeout_ms': 2000,
        },
        'fulfilment': {
            'plugin': os.path.join(BUILD, 'plugins', 'fulfilment_local.so'),
            'stock_file': os.path.join(SOURCE, 'config', 'stock.cfg'),
            'timeout_ms': 2000,
        },
    }


def apply_overrides(tree, overrides):
    """overrides: {"section/key": value}; value None removes the key."""
    for path, value in (overrides or {}).items():
        parts = [p for p in path.split('/') if p]
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return tree


def _zpl_value(v):
    if isinstance(v, bool):
        v = 1 if v else 0
    s = str(v)
    if s == '' or re.search(r'[\s#"\'=]', s):
        if '"' in s:
            return "'" + s + "'"
        return '"' + s + '"'
    return s


def zpl(tree, indent=0):
    """czmq ZPL text of a nested dict: sections unindented, keys 4 spaces."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out.append(' ' * indent + key)
            out.append(zpl(value, indent + 4))
        else:
            out.append(' ' * indent + '%s = %s' % (key, _zpl_value(value)))
    return '\n'.join(l for l in out if l != '')


class DaemonError(AssertionError):
    pass


class Daemon:
    """One orderd process with its own temp dir, data dir and ports.

    Daemon(overrides={"orderd/max_body": 1000}, args=["--set", "x/y=1"])
    start() / stop() (SIGTERM, expects exit 0) / kill() (SIGKILL) /
    restart() (same data dir, same ports) / log_tail() / cleanup().
    As a context manager: starts on enter, stops and cleans up on exit."""

    def __init__(self, overrides=None, args=None, tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix='orderd-test-')
        self.overrides = dict(overrides or {})
        self.args = list(args or [])
        self.ports = free_ports(4)    # service, admin, events, metrics
        self.proc = None
        self.log_path = os.path.join(self.tmp, 'orderd.log')
        self.cfg_path = os.path.join(self.tmp, 'orderd.cfg')
        self.clients = []
        self.starts = 0
        self.ctx = zmq.Context.instance()
        self.write_config()

    # -- configuration
    def config_tree(self):
        return apply_overrides(base_config(self.tmp, self.ports), self.overrides)

    def write_config(self):
        self.config = self.config_tree()
        with open(self.cfg_path, 'w') as f:
            f.write('# written by tests/integration/orderd_harness.py\n')
            f.write(zpl(self.config) + '\n')
        return self.cfg_path

    @property
    def data_dir(self):
        return self.config['orderd']['data_dir']

    @property
    def service(self):
        return self.config['orderd']['service']

    @property
    def admin(self):
        return self.config['orderd']['admin']

    @property
    def events(self):
        return self.config['orderd']['events']

    @property
    def metrics_url(self):
        """http://HOST:PORT/metrics, or None when metrics are off."""
        address = self.config['orderd'].get('metrics')
        return 'http://%s/metrics' % address if address else None

    # -- process
    def argv(self):
        return daemon_argv('-c', self.cfg_path, *self.args)

    def start(self, timeout=None):
        if self.proc is not None and self.proc.poll() is None:
            raise DaemonError('daemon already running')
        timeout = (timeout or 15) * SLOW
        for attempt in range(3):
            try:
                self._spawn_and_wait(timeout)
                return self
            except DaemonError:
                # A port grabbed by someone else between free_port() and the
                # bind: on the very first start only, pick new ports and retry.
                if self.starts == 0 and attempt < 2 and self.proc is not None \
                        and self.proc.poll() is not None \
                        and re.search(r'in use|EADDRINUSE', self.log_tail(20), re.I):
                    self.ports = free_ports(4)
                    self.write_config()
                    continue
                raise

    def _spawn_and_wait(self, timeout):
        binary = orderd_binary()
        if not os.path.exists(binary):
            raise DaemonError('no daemon binary at %s (ORDERD_BUILD=%s)'
                              % (binary, BUILD))
        with open(self.log_path, 'ab') as log:
            log.write(('==== start %d: %s\n' % (self.starts + 1,
                                                ' '.join(self.argv()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=self.tmp)
        _live_daemons.add(self)
        deadline = time.monotonic() + timeout
        probe = Client(self.service, 'dealer', timeout_ms=200, ctx=self.ctx)
        try:
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    _live_daemons.discard(self)
                    raise DaemonError('orderd exited with status %d while starting;'
                                      ' log tail:\n%s' % (rc, self.log_tail()))
                try:
                    r = probe.call('health', _timeout_ms=200 * SLOW)
                    if isinstance(r, dict) and r.get('ok') is True:
                        self.starts += 1
                        return
                except ReplyTimeout:
                    pass
                time.sleep(0.05)
        finally:
            probe.close()
        self.kill()
        raise DaemonError('orderd did not answer health within %d s; log tail:\n%s'
                          % (timeout, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True, timeout=None):
        """SIGTERM and wait; with check, insist on exit status 0."""
        if self.proc is None:
            return None
        timeout = (timeout or 20) * SLOW
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            _live_daemons.discard(self)
            raise DaemonError('orderd did not exit within %d s of SIGTERM; log tail:\n%s'
                              % (timeout, self.log_tail()))
        _live_daemons.discard(self)
        if check and rc != 0:
            raise DaemonError('orderd exited with status %d after SIGTERM; log tail:\n%s'
                              % (rc, self.log_tail()))
        return rc

    def kill(self):
        """SIGKILL and wait."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        _live_daemons.discard(self)
        return rc

    def restart(self, kill=False):
        """Stop (SIGTERM, or SIGKILL with kill=True) and start again with the
        same data dir and ports."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, 'rb') as f:
                data = f.read()
        except OSError:
            return '(no log)'
        text = data.decode('utf-8', 'replace').rstrip('\n').split('\n')
        return '\n'.join(text[-lines:])

    def cleanup(self):
        for c in self.clients:
            c.close()
        self.clients = []
        if self.running():
            self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.running():
                if exc_type is None:
                    self.stop()
                else:
                    self.kill()
        finally:
            self.cleanup()

    # -- talking to it
    def client(self, kind='dealer', door='service', timeout_ms=5000):
        endpoint = {'service': self.service, 'admin': self.admin}[door]
        c = Client(endpoint, kind, timeout_ms, ctx=self.ctx)
        self.clients.append(c)
        return c

    def admin_client(self, kind='dealer', timeout_ms=5000):
        return self.client(kind, 'admin', timeout_ms)

    def subscriber(self, prefix='order.', settle=0.5):
        """A SUB socket on the events door, subscribed to prefix. Sleeps
        settle seconds so the subscription reaches the publisher."""
        s = self.ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, prefix.encode() if isinstance(prefix, str) else prefix)
        s.connect(self.events)
        time.sleep(settle * (2 if VALGRIND else 1))
        return s

    def stock(self, sku, set=None):
        admin = self._admin()
        fields = {'sku': sku}
        if set is not None:
            fields['set'] = set
        return admin.call_ok('stock', **fields)

    def seed_stock(self, skus):
        """skus: {sku: available}; sets each through the admin door."""
        for sku, n in skus.items():
            r = self.stock(sku, set=n)
            if r.get('available') != n or r.get('sku') != sku:
                raise DaemonError('stock set %s=%d answered %r' % (sku, n, r))
        return skus

    def _admin(self):
        if not hasattr(self, '_admin_c') or self._admin_c.sock is None:
            self._admin_c = self.admin_client()
        return self._admin_c


def start_daemon(**kwargs):
    """Daemon(**kwargs), started; cleaned up when it does not start. For a
    test class's setUpClass, with stop_daemon in its tearDownClass."""
    d = Daemon(**kwargs)
    try:
        d.start()
    except Exception:
        d.cleanup()
        raise
    return d


def stop_daemon(d):
    """Stops d (SIGTERM, insists on exit 0) and cleans up, even when the
    stop fails."""
    try:
        d.stop()
    finally:
        d.cleanup()


# ---------------------------------------------------------------- invariants

def list_all_orders(admin, user_id=None, include_deleted=True, limit=500):
    """Every order through the admin door, following next cursors."""
    orders = []
    seen = set()
    after = None
    for _ in range(100000):
        fields = {'limit': limit, 'include_deleted': include_deleted}
        if user_id is not None:
            fields['user_id'] = user_id
        if after is not None:
            fields['after'] = after
        r = admin.call('list', **fields)
        if r.get('ok') is not True:
            raise AssertionError('admin list %r failed: %r' % (fields, r))
        page = r.get('orders')
        if not isinstance(page, list):
            raise AssertionError('admin list: orders is not a list: %r' % r)
        for o in page:
            if o['id'] in seen:
                raise AssertionError('admin list returned %s twice' % o['id'])
            seen.add(o['id'])
            orders.append(o)
        nxt = r.get('next')
        if nxt is None:
            return orders
        if nxt == after:
            raise AssertionError('admin list: next cursor did not move (%r)' % nxt)
        after = nxt
    raise AssertionError('admin list never ended')


def check_invariants(admin, skus_initial, allow_open=False, check_payments=True,
                     exact_reserved=True):
    """Check PROTOCOL.md §4.2 over the admin door; raise AssertionError
    listing every violation, else return a summary.

    admin: a Client on the admin door. skus_initial: {sku: count set}.
    - no order is `paid` (captured but neither confirmed nor failed: a saga
      stuck in between); unless allow_open, none is `pending` or
      `payment_initiated` either (then every `reserved` must be 0);
    - for every sku: available + reserved + the quantities of that sku in
      confirmed/processing/shipped/delivered orders == the count set;
      reserved == the quantities in open (pending, payment_initiated)
      orders (with exact_reserved; else <=, for lapsed reservations);
    - every sku in an order holding or having taken stock is in skus_initial;
    - with check_payments, the payment adapter's ledger (admin `payment`):
      at most one capture per order; committed orders captured exactly
      total_amount, nothing refunded; cancelled orders never captured; a
      failed order with a capture is needs_review or fully refunded.
    """
    problems = []
    orders = list_all_orders(admin)
    by_status = {}
    committed = {}
    held = {}
    for o in orders:
        st = o.get('status')
        by_status[st] = by_status.get(st, 0) + 1
        if st not in STATUSES:
            problems.append('%s: unknown status %r' % (o.get('id'), st))
            continue
        if st == 'paid':
            problems.append('%s: stuck in paid (captured, neither confirmed nor failed)'
                            % o['id'])
        if st in OPEN and not allow_open:
            problems.append('%s: still %s' % (o['id'], st))
        try:
            if o['total_amount'] != o['order_data']['costs']['total']:
                problems.append('%s: total_amount %r != costs.total %r' % (
                    o['id'], o['total_amount'], o['order_data']['costs']['total']))
        except (KeyError, TypeError):
            problems.append('%s: malformed order %r' % (o.get('id'), o))
            continue
        target = committed if st in COMMITTED else held if st in OPEN else None
        if target is not None:
            for p in o['order_data']['products']:
                target[p['sku']] = target.get(p['sku'], 0) + p['quantity']
                if p['sku'] not in skus_initial:
                    problems.append('%s (%s): sku %r not among the checked skus'
                                    % (o['id'], st, p['sku']))
    for sku, initial in skus_initial.items():
        r = admin.call('stock', sku=sku)
        if r.get('ok') is not True:
            problems.append('stock %s: %r' % (sku, r))
            continue
        avail, reserved = r.get('available'), r.get('reserved')
        if not isinstance(avail, int) or not isinstance(reserved, int):
            problems.append('stock %s: bad reply %r' % (sku, r))
            continue
        c, h = committed.get(sku, 0), held.get(sku, 0)
        if avail + reserved + c != initial:
            problems.append('sku %s: available %d + reserved %d + committed %d = %d, set %d'
                            % (sku, avail, reserved, c, avail + reserved + c, initial))
        if avail < 0 or reserved < 0:
            problems.append('sku %s: negative stock %r' % (sku, r))
        if exact_reserved and reserved != h:
            problems.append('sku %s: reserved %d but open orders hold %d'
                            % (sku, reserved, h))
        elif not exact_reserved and reserved > h:
            problems.append('sku %s: reserved %d > open orders hold %d'
                            % (sku, reserved, h))
    payments = {}
    if check_payments:
        for o in orders:
            if o.get('payment') is None:
                if o.get('status') in COMMITTED:
                    problems.append('%s: %s without a payment' % (o['id'], o['status']))
                continue
            r = admin.call('payment', order_id=o['id'])
            if r.get('ok') is not True:
                problems.append('payment %s: %r' % (o['id'], r))
                continue
            rec = r.get('payment') if isinstance(r.get('payment'), dict) else r
            payments[o['id']] = rec
            caps = rec.get('captures', 0)
            got = rec.get('captured_amount', 0)
            refunded = rec.get('refunded_amount', 0)
            st = o['status']
            if caps > 1:
                problems.append('%s: captured %d times' % (o['id'], caps))
            if st in COMMITTED and (caps != 1 or got != o['total_amount'] or refunded):
                problems.append('%s: %s but payment record %r (total %d)'
                                % (o['id'], st, rec, o['total_amount']))
            if st in ('cancelled', 'pending', 'payment_initiated') and got:
                problems.append('%s: %s but captured %r' % (o['id'], st, rec))
            if st == 'failed' and got and not o.get('needs_review') and refunded != got:
                problems.append('%s: failed with %d captured, %d refunded and no needs_review'
                                % (o['id'], got, refunded))
    if problems:
        raise AssertionError('invariants violated:\n  ' + '\n  '.join(problems))
    return {'orders': len(orders), 'by_status': by_status,
            'needs_review': [o['id'] for o in orders if o.get('needs_review')],
            'payments': payments}


def deep_copy(x):
    return copy.deepcopy(x)
