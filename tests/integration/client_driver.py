"""What the tests of the client libraries (test_client_c.py,
test_client_python.py, test_client_node.py) share: two real daemons, and a
way to run a library's own test program against them.

- `main` talks CURVE on its service and admin doors (keys made by
  `ordermon keygen`), with stock seeded: the lifecycle, every error a cart
  can hit, the event feed (the events door is always plain).
- `crash` is plain and armed to SIGKILL itself in the middle of a create
  (crash point create.reserved_all), then, once restarted, in the middle of
  a confirm (confirm.captured); a watcher thread restarts it on the same
  ports and data each time, so the library's retry meets a new orderd.

The program finds everything in its environment (Daemons.env):

    ORDERD_SERVICE, ORDERD_ADMIN, ORDERD_EVENTS    main's doors
    ORDERD_SERVER_KEY                              main's public key (Z85)
    ORDERD_CLIENT_CERT                             the cart's pair (PATH, PATH_secret)
    ORDERD_SKU, ORDERD_SCARCE_SKU                  1000 and 1 in stock
    ORDERD_CRASH_SERVICE, ORDERD_CRASH_SKU, ORDERD_CRASH_USER
    ORDERD_SLOW                                    multiply every timeout by it

In the crash scenario the program creates an order for ORDERD_CRASH_USER
(2 x ORDERD_CRASH_SKU at 1000) with its own idempotency key, initiates and
confirms it, then sends the same create again; check_crash then insists
that orderd died twice, that the user has one confirmed order, captured
once, and that the stock was taken once.
"""
import os
import subprocess
import threading
import time

import msgpack
import zmq

import orderd_harness as h

ORDERMON = os.path.join(h.BUILD, 'bin', 'ordermon')
CRASH_POINTS = ('create.reserved_all', 'confirm.captured')
CRASH_STOCK = 10
CRASH_QUANTITY = 2


def keygen(path):
    """A CURVE pair written by `ordermon keygen`; returns its public key."""
    out = subprocess.run([ORDERMON, 'keygen', path], capture_output=True, check=True,
                         timeout=30)
    return out.stdout.decode().strip()


class CurveAdmin:
    """A pyzmq DEALER on a CURVE admin door (the harness's clients are plain)."""

    def __init__(self, endpoint, cert_path, server_key):
        import zmq.auth
        public, secret = zmq.auth.load_certificate(cert_path + '_secret')
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.curve_publickey = public
        self.sock.curve_secretkey = secret
        self.sock.curve_serverkey = server_key.encode()
        self.sock.connect(endpoint)

    def call_ok(self, op, **fields):
        self.sock.send(msgpack.packb(dict(v=1, op=op, **fields)))
        if not self.sock.poll(10000 * h.SLOW):
            raise AssertionError('no reply to %s from the CURVE admin door' % op)
        reply = msgpack.unpackb(self.sock.recv())
        if reply.get('ok') is not True:
            raise AssertionError('%s: %r' % (op, reply))
        return reply

    def close(self):
        self.sock.close()


class Daemons:
    """Both daemons, started on enter and stopped on exit."""

    def __init__(self):
        self.main = None
        self.crash = None
        self.deaths = 0
        self.watch_error = None
        self._stop = threading.Event()
        self._watcher = None

    def __enter__(self):
        try:
            self._start_main()
            self._start_crash()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._watcher:
            self._watcher.join(30)
        for d in (self.main, self.crash):
            if d:
                d.kill()
                d.cleanup()
        if getattr(self, 'admin', None):
            self.admin.close()

    def _start_main(self):
        self.main = h.Daemon()
        keys = os.path.join(self.main.tmp, 'keys')
        self.server_key = keygen(os.path.join(keys, 'server'))
        keygen(os.path.join(keys, 'cart'))
        keygen(os.path.join(keys, 'ops'))
        for door, who in (('service_clients', 'cart'), ('admin_clients', 'ops')):
            os.makedirs(os.path.join(keys, door))
            with open(os.path.join(keys, who)) as src, \
                    open(os.path.join(keys, door, who), 'w') as dst:
                dst.write(src.read())
        self.main.overrides.update({
            'orderd/curve': 1,
            'orderd/server_cert': os.path.join(keys, 'server'),
            'orderd/service_clients': os.path.join(keys, 'service_clients'),
            'orderd/admin_clients': os.path.join(keys, 'admin_clients'),
        })
        self.main.write_config()
        self.cart_cert = os.path.join(keys, 'cart')
        self._start_curve(self.main, os.path.join(keys, 'ops'))
        self.sku = h.new_id('sku-')
        self.scarce_sku = h.new_id('scarce-')
        for sku, n in ((self.sku, 1000), (self.scarce_sku, 1)):
            self.admin.call_ok('stock', sku=sku, set=n)

    def _start_curve(self, daemon, ops_cert):
        """Daemon.start probes health on a plain socket, which a CURVE door
        never answers: start the process alone and probe over CURVE."""
        with open(daemon.log_path, 'ab') as log:
            daemon.proc = subprocess.Popen(daemon.argv(), stdout=log, stderr=log,
                                           stdin=subprocess.DEVNULL, cwd=daemon.tmp)
        h._live_daemons.add(daemon)
        self.admin = CurveAdmin(daemon.admin, ops_cert, self.server_key)
        deadline = time.monotonic() + 15 * h.SLOW
        while True:
            if daemon.proc.poll() is not None:
                raise h.DaemonError('orderd exited while starting:\n' + daemon.log_tail())
            try:
                self.admin.call_ok('health')
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise h.DaemonError('orderd (CURVE) did not answer:\n' + daemon.log_tail())

    def _start_crash(self):
        self.crash = h.Daemon()
        self._start_armed(None)
        self.crash_sku = h.new_id('crash-')
        self.crash_user = h.new_id('crash-user-')
        self.crash.seed_stock({self.crash_sku: CRASH_STOCK})
        self.crash.stop()
        self._start_armed(CRASH_POINTS[0])

    def _start_armed(self, point):
        if point:
            os.environ['ORDERD_CRASH_AT'] = point
        try:
            self.crash.start()
        finally:
            os.environ.pop('ORDERD_CRASH_AT', None)

    def _watch(self):
        """Restarts the crash daemon each time it kills itself, armed with
        the next point, then plain."""
        try:
            while not self._stop.is_set() and self.deaths < len(CRASH_POINTS):
                if self.crash.proc.poll() is None:
                    time.sleep(0.02)
                    continue
                self.deaths += 1
                later = CRASH_POINTS[self.deaths] if self.deaths < len(CRASH_POINTS) else None
                self._start_armed(later)
        except Exception as exc:          # reported by check_crash
            self.watch_error = exc

    def env(self):
        env = dict(os.environ)
        env.update({
            'ORDERD_SERVICE': self.main.service,
            'ORDERD_ADMIN': self.main.admin,
            'ORDERD_EVENTS': self.main.events,
            'ORDERD_SERVER_KEY': self.server_key,
            'ORDERD_CLIENT_CERT': self.cart_cert,
            'ORDERD_SKU': self.sku,
            'ORDERD_SCARCE_SKU': self.scarce_sku,
            'ORDERD_CRASH_SERVICE': self.crash.service,
            'ORDERD_CRASH_SKU': self.crash_sku,
            'ORDERD_CRASH_USER': self.crash_user,
            'ORDERD_SLOW': str(h.SLOW),
        })
        return env

    def run(self, argv, timeout=120, cwd=None):
        """Runs the program with the watcher on; returns (status, output)."""
        if not self._watcher:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        proc = subprocess.run(argv, env=self.env(), cwd=cwd or h.SOURCE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout * h.SLOW)
        return proc.returncode, proc.stdout.decode('utf-8', 'replace')

    def check_crash(self, test):
        """After the program: what orderd holds of the crash scenario."""
        test.assertIsNone(self.watch_error)
        test.assertEqual(self.deaths, len(CRASH_POINTS),
                         'orderd must have died at %s; log:\n%s'
                         % (', '.join(CRASH_POINTS), self.crash.log_tail()))
        admin = self.crash.admin_client()
        orders = h.list_all_orders(admin, user_id=self.crash_user)
        test.assertEqual(len(orders), 1, 'one order, not a duplicate: %r' % orders)
        test.assertEqual(orders[0]['status'], 'confirmed', orders[0])
        payment = admin.call_ok('payment', order_id=orders[0]['id'])
        test.assertEqual(payment['captures'], 1, payment)
        stock = self.crash.stock(self.crash_sku)
        test.assertEqual((stock['available'], stock['reserved']),
                         (CRASH_STOCK - CRASH_QUANTITY, 0), stock)
