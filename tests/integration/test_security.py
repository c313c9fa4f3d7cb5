#!/usr/bin/python3
"""CURVE access control and the loopback rule (docs/SECURITY.md).

One orderd with orderd/curve = 1 and keys made by `ordermon keygen`:
server, cart (in the service door's folder), ops (in the admin door's).
Shows that an allowed key is answered on its own door (pyzmq and ordermon
--cert/--server-key), that an unknown key, a plain client and a cart key
on the admin door are never answered (nothing within 1.5 s; the socket
monitor says why), and that keys are added and revoked by copying and
deleting files, without a restart. Then the start-up checks: with
curve = 0 a non-loopback door stops orderd unless allow_insecure = 1, and
curve = 1 needs orderd/server_cert.

    /usr/bin/python3 tests/integration/test_security.py [-v] [Class.test]
"""
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import zmq
import zmq.auth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id  # noqa: E402

ORDERMON = os.path.join(h.BUILD, 'bin', 'ordermon')
SLOW = h.SLOW
SILENCE_MS = 1500          # "never answered": nothing within this long
ZEROES = b'0' * 40


def keygen(name, *extra):
    """`ordermon keygen name`: (exit status, stdout, stderr)."""
    p = subprocess.run([ORDERMON] + list(extra) + ['keygen', name], capture_output=True,
                       timeout=10 * SLOW, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def load_pair(name):
    """(public, secret) Z85 bytes of a pair written by keygen."""
    return zmq.auth.load_certificate(name + '_secret')


class CurveClient(h.Client):
    """The harness client, as a CURVE client (pair=None: plain). Watches
    its handshakes with a socket monitor, so a refusal can be told from a
    door that is not there."""

    def __init__(self, endpoint, pair, server_key, timeout_ms=5000, ctx=None):
        self.pair = pair
        self.server_key = server_key
        self.monitor = None
        super().__init__(endpoint, 'dealer', timeout_ms, ctx)

    def _open(self):
        if self.sock is not None:
            self.close()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if self.pair is not None:
            self.sock.curve_publickey, self.sock.curve_secretkey = self.pair
            self.sock.curve_serverkey = self.server_key
        self.monitor = self.sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        self.sock.connect(self.endpoint)

    def close(self):
        if self.monitor is not None:
            self.sock.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None
        super().close()

    def handshakes(self):
        """[(event, value)] the monitor has seen so far."""
        seen = []
        while self.monitor is not None and self.monitor.poll(0):
            head, _ = self.monitor.recv_multipart()
            seen.append(struct.unpack('=HI', head[:6]))
        return seen


class SecurityCase(unittest.TestCase):
    """One CURVE orderd for every test; its keys in a temp folder."""

    @classmethod
    def setUpClass(cls):
        if not os.access(ORDERMON, os.X_OK):
            raise AssertionError('%s is not built (scons)' % ORDERMON)
        cls.keys = tempfile.mkdtemp(prefix='orderd-keys-')
        cls.d = None
        try:
            cls.make_keys()
            cls.start_daemon()
        except Exception:
            cls.tearDownClass()
            raise
        cls.sku = new_id('SKU-')
        r = cls.client('admin', cls.ops).call_ok('stock', sku=cls.sku, set=100)
        assert r['available'] == 100, r

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.d is not None:
                if cls.d.running():
                    cls.d.stop()
                cls.d.cleanup()
        finally:
            shutil.rmtree(cls.keys, ignore_errors=True)

    @classmethod
    def key(cls, name):
        return os.path.join(cls.keys, name)

    @classmethod
    def make_keys(cls):
        cls.public = {}
        for name in ('server', 'cart', 'ops', 'stranger', 'cart2'):
            rc, out, err = keygen(cls.key(name))
            assert rc == 0, (name, rc, out, err)
            cls.public[name] = out.strip()
        cls.service_clients = cls.key('service_clients')
        cls.admin_clients = cls.key('admin_clients')
        os.mkdir(cls.service_clients)
        os.mkdir(cls.admin_clients)
        # public halves only: orderd never needs a client's secret
        shutil.copy(cls.key('cart'), cls.service_clients)
        shutil.copy(cls.key('ops'), cls.admin_clients)
        cls.server = load_pair(cls.key('server'))
        cls.cart = load_pair(cls.key('cart'))
        cls.ops = load_pair(cls.key('ops'))
        cls.stranger = load_pair(cls.key('stranger'))
        cls.cart2 = load_pair(cls.key('cart2'))

    @classmethod
    def start_daemon(cls):
        cls.d = h.Daemon(overrides={
            'orderd/curve': 1,
            'orderd/server_cert': cls.key('server'),
            'orderd/service_clients': cls.service_clients,
            'orderd/admin_clients': cls.admin_clients,
        })
        # The harness waits for a plain `health` on the service door, which
        # a CURVE door never answers: start it here and probe with CURVE
        with open(cls.d.log_path, 'ab') as log:
            cls.d.proc = subprocess.Popen(cls.d.argv(), stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL, cwd=cls.d.tmp)
        h._live_daemons.add(cls.d)
        deadline = time.monotonic() + 15 * SLOW
        probe = cls.client('service', cls.cart, timeout_ms=200)
        try:
            while time.monotonic() < deadline:
                if cls.d.proc.poll() is not None:
                    raise AssertionError('orderd exited with %d while starting:\n%s'
                                         % (cls.d.proc.returncode, cls.d.log_tail()))
                try:
                    if probe.call('health', _timeout_ms=200 * SLOW).get('ok') is True:
                        cls.d.starts += 1
                        return
                except h.ReplyTimeout:
                    pass
            seen = probe.handshakes()
            why = ('' if seen else
                   '\nNo handshake ever finished or failed: the ZAP handler is not '
                   'answering (a stuck core/auth.c actor?)')
            raise AssertionError('CURVE orderd did not answer health; handshake events %r%s'
                                 '\nlog tail:\n%s' % (seen, why, cls.d.log_tail()))
        finally:
            probe.close()

    @classmethod
    def client(cls, door, pair, server_key=None, timeout_ms=5000):
        endpoint = {'service': cls.d.service, 'admin': cls.d.admin}[door]
        c = CurveClient(endpoint, pair, server_key or cls.server[0], timeout_ms, cls.d.ctx)
        cls.d.clients.append(c)
        return c

    def ordermon(self, *args, cert=None, server_key=None, timeout=3, env=None):
        argv = [ORDERMON, '-e', self.d.admin, '-E', self.d.events,
                '--timeout', str(timeout * SLOW)]
        if cert is not None:
            argv += ['--cert', cert]
        if server_key is not None:
            argv += ['--server-key', server_key]
        p = subprocess.run(argv + list(args), capture_output=True, timeout=(timeout + 10) * SLOW,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def assertNeverAnswered(self, c, op='health', **fields):
        """c's request gets no reply within SILENCE_MS; returns the
        handshake events its monitor saw meanwhile."""
        c.send_body(c.body(op, **fields))
        self.assertFalse(c.sock.poll(SILENCE_MS * SLOW, zmq.POLLIN),
                         'answered: %r' % (c.sock.poll(0) and c.recv(0)))
        events = c.handshakes()
        self.assertNotIn(zmq.EVENT_HANDSHAKE_SUCCEEDED, [e for e, _ in events], events)
        return events

    def assertRefusedByZap(self, events):
        """The handshake got as far as the ZAP handler, which said 400."""
        self.assertIn((zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400), events)

    def create_and_get(self, c, user):
        r = c.call_ok('create', **create_fields(user, make_cart([(self.sku, 1, 1000)])))
        order = r['order']
        got = c.call_ok('get', order_id=order['id'], user_id=user)
        self.assertEqual(got['order']['id'], order['id'])
        self.assertEqual(got['order']['status'], 'pending')
        return order

    # ------------------------------------------------------------ keygen

    def test_keygen_writes_a_pair_and_never_overwrites(self):
        name = self.key('server')
        st = os.stat(name + '_secret')
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, 'secret half readable by others')
        public, secret = load_pair(name)
        self.assertEqual(public.decode(), self.public['server'])     # printed = written
        self.assertEqual(len(public), 40)
        self.assertNotEqual(secret, ZEROES)
        self.assertEqual(zmq.auth.load_certificate(name), (public, None))
        # the same key in a file from `cp` is the same public half
        self.assertEqual(zmq.auth.load_certificate(os.path.join(self.service_clients, 'cart')),
                         (self.cart[0], None))
        before = read(name + '_secret')
        rc, out, err = keygen(name)
        self.assertEqual(rc, 2, err)
        self.assertIn('exists', err)
        self.assertEqual(out, '')
        self.assertEqual(read(name + '_secret'), before)
        # a stray secret half alone is enough to refuse
        lone = self.key('lone')
        open(lone + '_secret', 'w').close()
        rc, out, err = keygen(lone)
        self.assertEqual(rc, 2, err)
        self.assertFalse(os.path.exists(lone))
        # folders are made; --json says where the halves went
        rc, out, err = keygen(self.key('new/dir/k'), '--json')
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc['secret'], self.key('new/dir/k_secret'))
        self.assertEqual(load_pair(self.key('new/dir/k'))[0].decode(), doc['public_key'])

    # ------------------------------------------------------------ allowed

    def test_cart_key_works_on_the_service_door(self):
        c = self.client('service', self.cart)
        self.create_and_get(c, new_id('u-'))
        self.assertIn(zmq.EVENT_HANDSHAKE_SUCCEEDED, [e for e, _ in c.handshakes()])

    def test_ops_key_works_on_the_admin_door_with_pyzmq(self):
        c = self.client('admin', self.ops)
        c.call_ok('stats')
        r = c.call_ok('stock', sku=self.sku)
        self.assertEqual(r['sku'], self.sku)

    def test_ops_key_works_with_ordermon(self):
        ops = self.key('ops')
        # --server-key as the server's certificate file
        rc, out, err = self.ordermon('--json', 'stats', cert=ops, server_key=self.key('server'))
        self.assertEqual(rc, 0, err)
        self.assertIs(json.loads(out)['ok'], True)
        # --server-key as the Z85 key itself (any order of the options)
        rc, out, err = self.ordermon('health', '--server-key', self.public['server'],
                                     '--cert', ops)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.ordermon('stock', self.sku, cert=ops, server_key=self.public['server'])
        self.assertEqual(rc, 0, err)
        self.assertIn(self.sku, out)
        # or from the environment
        rc, out, err = self.ordermon('health', env={'ORDERMON_CERT': ops,
                                                    'ORDERMON_SERVER_KEY': self.key('server')})
        self.assertEqual(rc, 0, err)
        # one without the other is a usage error, as are keys that are not keys
        server = self.key('server')
        for args in (['--cert', ops], ['--server-key', server],
                     ['--cert', ops, '--server-key', 'not-a-key'],
                     ['--cert', os.path.join(self.admin_clients, 'ops'), '--server-key', server],
                     ['--cert', self.key('nonesuch'), '--server-key', server]):
            rc, out, err = self.ordermon('health', *args)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn('--', err)

    # ------------------------------------------------------------ refused

    def test_unknown_key_is_never_answered(self):
        for door in ('service', 'admin'):
            events = self.assertNeverAnswered(self.client(door, self.stranger))
            self.assertRefusedByZap(events)
        # the same door still answers a known key meanwhile
        self.client('service', self.cart).call_ok('health')

    def test_plain_client_is_never_answered(self):
        for door in ('service', 'admin'):
            events = self.assertNeverAnswered(self.client(door, None))
            self.assertTrue(events, 'no handshake failure seen: is the door there?')
        rc, out, err = self.ordermon('health', timeout=1)
        self.assertEqual(rc, 3, err)

    def test_cart_key_on_the_admin_door_is_never_answered(self):
        events = self.assertNeverAnswered(self.client('admin', self.cart), 'stock',
                                          sku=self.sku, set=0)
        self.assertRefusedByZap(events)
        r = self.client('admin', self.ops).call_ok('stock', sku=self.sku)
        self.assertNotEqual(r['available'], 0, 'a refused request changed stock')
        # and the ops key on the service door: each door checks its own folder
        self.assertRefusedByZap(self.assertNeverAnswered(self.client('service', self.ops)))
        # ordermon with the cart key: refused, said at once, exit 3
        started = time.monotonic()
        rc, out, err = self.ordermon('stats', cert=self.key('cart'),
                                     server_key=self.key('server'), timeout=5)
        self.assertEqual(rc, 3, err)
        self.assertIn('refused', err)
        self.assertLess(time.monotonic() - started, 4 * SLOW)

    def test_wrong_server_key_is_never_answered(self):
        # the client's key is fine, but it trusts another server key
        c = self.client('admin', self.ops, server_key=self.stranger[0])
        self.assertNeverAnswered(c)
        rc, out, err = self.ordermon('health', cert=self.key('ops'),
                                     server_key=self.key('stranger'), timeout=1)
        self.assertEqual(rc, 3, err)
        self.assertIn('handshake', err)

    # ------------------------------------------------------------ rotation

    def test_key_rotation_without_restart(self):
        pid = self.d.proc.pid
        user = new_id('u-')
        self.assertRefusedByZap(self.assertNeverAnswered(self.client('service', self.cart2)))
        # 1. the new public half goes in: the new key works at once, the
        #    old one still does
        installed = os.path.join(self.service_clients, 'cart2')
        shutil.copy(self.key('cart2'), installed)
        live = self.client('service', self.cart2)
        self.create_and_get(live, user)
        self.client('service', self.cart).call_ok('health')
        # 2. the old half goes out: refused from its next connection
        os.unlink(installed)
        self.assertRefusedByZap(self.assertNeverAnswered(self.client('service', self.cart2)))
        self.client('service', self.cart).call_ok('health')
        # a connection made before the revocation stays open (CURVE checks
        # keys at the handshake): SECURITY.md says so
        live.call_ok('health')
        self.assertEqual(self.d.proc.pid, pid)
        self.assertTrue(self.d.running())

    def test_revocation_by_same_size_replacement(self):
        """Regression (core/auth.c once used czmq zcertstore): a folder is re-read
        only when its file count, total size or newest mtime (seconds)
        changes. Replacing one public cert by another (all keygen certs have
        the same size) with an mtime no newer than the newest file, e.g.
        `mv` of a key made earlier, changes none of them: the old key stays
        allowed and the new one stays refused."""
        folder = self.service_clients
        # the folder's store has just been (re)read: this handshake looks it up
        self.client('service', self.cart).call_ok('health')
        old = os.path.join(folder, 'cart3')
        shutil.copy(self.key('stranger'), old)
        os.utime(old, (1, 1))                       # older than cart's file
        self.client('service', self.stranger).call_ok('health')
        # rotate: cart2's half (made earlier, mtime kept) replaces stranger's
        replacement = os.path.join(self.keys, 'cart3.new')
        shutil.copy2(self.key('cart2'), replacement)
        os.utime(replacement, (1, 1))
        os.replace(replacement, old)
        try:
            self.assertNeverAnswered(self.client('service', self.stranger))
        finally:
            os.unlink(old)


class LoopbackRule(unittest.TestCase):
    """Start-up checks: nothing here needs keys that work."""

    def setUp(self):
        self.d = h.Daemon()       # for its config file and temp dir

    def tearDown(self):
        self.d.cleanup()

    def run_orderd(self, *sets):
        args = ['-c', self.d.cfg_path]
        for s in sets:
            args += ['--set', s]
        p = subprocess.run(h.daemon_argv(*args), capture_output=True, timeout=15 * SLOW,
                           stdin=subprocess.DEVNULL, cwd=self.d.tmp)
        return p.returncode, p.stdout.decode() + p.stderr.decode()

    def test_plain_non_loopback_door_is_refused(self):
        port = h.free_port()
        for key in ('orderd/service', 'orderd/admin', 'orderd/events'):
            rc, out = self.run_orderd('%s=tcp://0.0.0.0:%d' % (key, port))
            self.assertEqual(rc, 2, out)
            self.assertIn(key, out)
            self.assertIn('loopback', out)
            self.assertIn('orderd/allow_insecure', out)

    def test_allow_insecure_starts_on_any_address(self):
        self.d.overrides.update({'orderd/allow_insecure': 1,
                                 'orderd/service': 'tcp://0.0.0.0:%d' % self.d.ports[0]})
        self.d.write_config()
        self.d.start()
        self.assertEqual(self.d.client().call_ok('health')['ok'], True)
        # a CURVE ordermon on a plain door: the handshake fails, exit 3
        ops = os.path.join(self.d.tmp, 'ops')
        self.assertEqual(keygen(ops)[0], 0)
        p = subprocess.run([ORDERMON, '-e', self.d.admin, '--timeout', str(SLOW),
                            '--cert', ops, '--server-key', ops, 'health'],
                           capture_output=True, timeout=15 * SLOW, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b'handshake', p.stderr)
        self.d.stop()

    def test_curve_needs_the_server_cert(self):
        folder = os.path.join(self.d.tmp, 'clients')
        os.mkdir(folder)
        rc, out = self.run_orderd('orderd/curve=1', 'orderd/service_clients=' + folder,
                                  'orderd/admin_clients=' + folder)
        self.assertEqual(rc, 2, out)
        self.assertIn('orderd/server_cert', out)

    def test_events_door_stays_loopback_with_curve(self):
        folder = os.path.join(self.d.tmp, 'clients')
        os.mkdir(folder)
        rc, out, err = keygen(os.path.join(self.d.tmp, 'server'))
        self.assertEqual(rc, 0, err)
        rc, out = self.run_orderd('orderd/curve=1', 'orderd/service_clients=' + folder,
                                  'orderd/admin_clients=' + folder,
                                  'orderd/server_cert=' + os.path.join(self.d.tmp, 'server'),
                                  'orderd/events=tcp://0.0.0.0:%d' % h.free_port())
        self.assertEqual(rc, 2, out)
        self.assertIn('orderd/events', out)

    def test_public_only_server_cert_is_refused(self):
        """Regression (core/auth.c ord_auth_server): zcert_load falls back
        to the public file when <path>_secret is missing, with a secret key
        of all zeros; orderd takes that and starts, and no client can ever
        complete a handshake. It should stop with exit 2 naming
        orderd/server_cert."""
        folder = os.path.join(self.d.tmp, 'clients')
        os.mkdir(folder)
        server = os.path.join(self.d.tmp, 'server')
        rc, out, err = keygen(server)
        self.assertEqual(rc, 0, err)
        os.unlink(server + '_secret')
        argv = h.daemon_argv('-c', self.d.cfg_path, '--set', 'orderd/curve=1',
                             '--set', 'orderd/server_cert=' + server,
                             '--set', 'orderd/service_clients=' + folder,
                             '--set', 'orderd/admin_clients=' + folder)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=self.d.tmp)
        try:
            out, _ = p.communicate(timeout=3 * SLOW)
        except subprocess.TimeoutExpired:
            p.terminate()
            out, _ = p.communicate()
        self.assertEqual(p.returncode, 2, out.decode())
        self.assertIn('orderd/server_cert', out.decode())


if __name__ == '__main__':
    unittest.main()
