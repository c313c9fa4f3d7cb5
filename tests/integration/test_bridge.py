#!/usr/bin/python3
"""The bridge: orderd -> bridge_fulfilment.so -> tools/examples/fulfilment_service.py
over TCP ZeroMQ (docs/PLUGINS.md, "Adapters in other processes: the bridge").

- the full saga through the bridge, stock read and set through it, and the
  stock really kept by the external service (its SQLite file);
- the service killed (SIGKILL) and restarted in the middle of a stream of
  confirms: health degraded while it is away, ok again after; suspended
  sagas finished by the background retry; the invariants of PROTOCOL.md §4.2;
- the service frozen (SIGSTOP): heartbeats notice it, calls fail fast;
- a bridge section that is wrong (kind, unknown key, no endpoint) stops
  orderd with status 2 and the field named;
- CURVE between the bridge and the service;
- bridge_payment, the same bridge for the other kind, in front of a fake
  payment service.

    /usr/bin/python3 tests/integration/test_bridge.py [-v] [Class.test]
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import msgpack
import zmq
import zmq.auth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import new_id, error_code  # noqa: E402
import saga_helpers as sh  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402

SERVICE = os.path.join(h.SOURCE, 'tools', 'examples', 'fulfilment_service.py')
BRIDGE = os.path.join(h.BUILD, 'plugins', 'bridge_fulfilment.so')
BRIDGE_PAYMENT = os.path.join(h.BUILD, 'plugins', 'bridge_payment.so')
PYTHON = '/usr/bin/python3'


class ExternalService:
    """fulfilment_service.py in its own process, on its own port, with its
    own SQLite file (kept across restarts)."""

    def __init__(self, tmp, cert=None):
        self.tmp = tmp
        self.port = h.free_port()
        self.endpoint = 'tcp://127.0.0.1:%d' % self.port
        self.db = os.path.join(tmp, 'fulfilment.sqlite')
        self.log_path = os.path.join(tmp, 'service.log')
        self.cert = cert
        self.proc = None

    def start(self, timeout=10.0):
        argv = [PYTHON, SERVICE, '--endpoint', self.endpoint, '--db', self.db]
        if self.cert:
            argv += ['--cert', self.cert]
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        if self.cert:
            # a plain client cannot ping a CURVE server: wait for the bind
            sh.wait_until(lambda: b'serving' in self.log_bytes()
                          or self.proc.poll() is not None, timeout, what='service up')
            return self
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError('service exited: %s' % self.log_tail())
                s.send(msgpack.packb({'v': 1, 'op': 'ping', 'rid': 'up'}))
                if s.poll(200):
                    s.recv()
                    return self
            raise AssertionError('service did not answer: %s' % self.log_tail())
        finally:
            s.close(linger=0)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_bytes(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read()
        except OSError:
            return b'(no log)'

    def log_tail(self):
        return self.log_bytes()[-2000:].decode('utf-8', 'replace')

    def lines(self):
        """(order_id, line, sku, quantity, state) rows of the service's store."""
        db = sqlite3.connect(self.db)
        try:
            return db.execute('SELECT order_id, line, sku, quantity, state FROM lines'
                              ).fetchall()
        finally:
            db.close()


class FakePaymentService(threading.Thread):
    """A payment service in a thread of the test, behind bridge_payment: a
    ROUTER that keeps payments in a dict, idempotent on order_id."""

    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.endpoint = 'tcp://127.0.0.1:%d' % h.free_port()
        self.payments = {}
        self.ops = []
        self.stopping = False
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(self.endpoint)

    def answer(self, body):
        op = body.get('op')
        self.ops.append(op)
        if op == 'ping':
            return {'name': 'fake-payments', 'version': '0'}
        if op == 'create':
            p = self.payments.setdefault(body['order_id'], {
                'provider_order_id': 'FAKE-' + body['order_id'], 'order_id': body['order_id'],
                'status': 'created', 'amount': body['amount'], 'currency': body['currency'],
                'captures': 0, 'captured_amount': 0, 'refunded_amount': 0,
                'capture_id': None, 'refund_id': None})
            return {'provider_order_id': p['provider_order_id'],
                    'approval_url': 'https://pay.example/' + p['provider_order_id']}
        p = self.payments.get(body.get('order_id')) or next(
            (q for q in self.payments.values()
             if q['provider_order_id'] == body.get('provider_order_id')), None)
        if p is None:
            raise KeyError('no such payment')
        if op == 'capture':
            if p['status'] == 'created':
                p.update(status='captured', captures=1, captured_amount=p['amount'],
                         capture_id='CAP-' + p['order_id'])
            return {'capture_id': p['capture_id']}
        if op == 'void':
            if p['status'] == 'created':
                p['status'] = 'voided'
            return {}
        if op == 'status':
            return dict(p)
        raise KeyError('op %s' % op)

    def run(self):
        while not self.stopping:
            if not self.sock.poll(50):
                continue
            frames = self.sock.recv_multipart()
            body = msgpack.unpackb(frames[-1], raw=False)
            try:
                reply = {'v': 1, 'rid': body.get('rid'), 'ok': True}
                reply.update(self.answer(body))
            except KeyError as exc:
                reply = {'v': 1, 'rid': body.get('rid'), 'ok': False,
                         'error': {'code': 'not_found', 'message': str(exc)}}
            self.sock.send_multipart(frames[:-1] + [msgpack.packb(reply)])
        self.sock.close(linger=0)

    def stop(self):
        self.stopping = True
        self.join(5)


def bridge_overrides(endpoint, **extra):
    ov = {'fulfilment/plugin': BRIDGE,
          'fulfilment/kind': 'fulfilment',
          'fulfilment/endpoint': endpoint,
          'fulfilment/stock_file': None,       # the bridge refuses unknown keys
          'fulfilment/call_timeout_ms': 1000,
          'fulfilment/heartbeat_ms': 500,
          'fulfilment/reconnect_max_ms': 500,
          'fulfilment/timeout_ms': 2000,
          'orderd/saga_retry_ms': 300}
    ov.update(extra)
    return ov


def health(client):
    r = client.call_ok('health', detailed=True)
    return r['status'], r['checks']['fulfilment']['status']


class BridgeCase(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(BRIDGE):
            self.skipTest('%s not built' % BRIDGE)
        self.tmp = tempfile.mkdtemp(prefix='orderd-bridge-')
        if not os.environ.get('ORDERD_KEEP_TMP'):     # set it to look at logs after
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.service = ExternalService(self.tmp)
        self.addCleanup(self.service.kill)

    def daemon_dir(self):
        return tempfile.mkdtemp(prefix='orderd-', dir=self.tmp)

    def start_daemon(self, **extra):
        d = h.Daemon(overrides=bridge_overrides(self.service.endpoint, **extra),
                     tmp=self.daemon_dir())
        self.addCleanup(d.cleanup)
        d.start()
        # a clean stop (exit status 0; under valgrind, no leak) ends each test
        self.addCleanup(lambda: d.running() and d.stop())
        self.d = d
        self.shop = sh.Shop(d)
        return d

    def failed(self):
        result = getattr(self._outcome, 'result', None)
        if result is None:
            return not getattr(self._outcome, 'success', True)
        return any(test is self for test, _ in result.failures + result.errors)

    def tearDown(self):
        if self.failed():
            if getattr(self, 'd', None):
                sys.stderr.write('\n--- daemon log tail ---\n%s\n' % self.d.log_tail(30))
            sys.stderr.write('--- service log tail ---\n%s\n' % self.service.log_tail())

    def wait_health(self, overall, fulfilment, timeout=10.0, interval=0.1):
        return sh.wait_until(lambda: health(self.shop.c) == (overall, fulfilment),
                             timeout, interval, 'health %s/%s' % (overall, fulfilment))


class Saga(BridgeCase):

    def test_full_saga_through_the_bridge(self):
        self.service.start()
        self.start_daemon()
        self.assertEqual(health(self.shop.c), ('ok', 'ok'))
        self.assertIn('ad-bridge_fulfi', h.thread_names(self.d.proc.pid),
                      'the bridge thread is named like any adapter')
        a, b = new_id('SKU-'), new_id('SKU-')
        skus = {a: 40, b: 40}
        for sku, n in skus.items():
            self.shop.set_stock(sku, n)
        # the stock lives in the service: an unknown sku has nothing
        self.assertEqual(self.shop.stock(new_id('SKU-')), (0, 0))

        o = self.shop.create_ok(cart_ending([(a, 2, 1000), (b, 3, 250)], 0))
        self.assertEqual(self.shop.stock(a), (38, 2))
        o = self.shop.initiate_ok(o['id'])
        r = sh.ok(self.shop.confirm(o), 'confirm')
        self.assertEqual(r['order']['status'], 'confirmed', r)
        self.assertEqual(self.shop.stock(a), (38, 0))
        self.assertEqual(self.shop.stock(b), (37, 0))
        self.assertEqual(sorted((l[2], l[3], l[4]) for l in self.service.lines()
                                if l[0] == o['id']),
                         sorted([(a, 2, 'reduced'), (b, 3, 'reduced')]))

        # out of stock comes back through the bridge as a permanent error
        r = self.shop.create(cart_ending([(a, 1000, 10)], 0))
        self.assertEqual(error_code(r), 'out_of_stock', r)

        # a cancelled order gives its reservation back
        o2 = self.shop.flow_to_initiated(cart_ending([(b, 5, 100)], 0))
        self.assertEqual(self.shop.stock(b), (32, 5))
        sh.ok(self.shop.cancel(o2['id']), 'cancel')
        self.assertEqual(self.shop.stock(b), (37, 0))

        sh.settle_and_check(self.d, self.shop.admin, skus, service=self.shop.c)

        # a stock set survives a restart of the service (its SQLite file)
        self.service.kill()
        self.service.start()
        self.wait_health('ok', 'ok')
        sh.wait_until(lambda: self.shop.admin.call('stock', sku=a).get('ok'), 10,
                      what='stock through the bridge after the restart')
        self.assertEqual(self.shop.stock(a), (38, 0))

    def test_backup_copies_orderd_and_says_the_service_is_not_copied(self):
        # The service's state is its own (another process, its own files):
        # orderd's backup copies orderd and the in-process payment adapter,
        # and says so
        self.service.start()
        self.start_daemon()
        target = os.path.join(self.tmp, 'backup')
        r = sh.ok(self.shop.admin.call('backup', dir=target), 'backup')
        copied = {a['kind']: a['copied'] for a in r['adapters']}
        self.assertEqual(copied, {'payment': True, 'fulfilment': False}, r)
        self.assertEqual(sorted(os.listdir(target)), ['BACKUP', 'data.mdb', 'payment_sandbox'])
        with open(os.path.join(target, 'BACKUP')) as f:
            self.assertIn('bridge_fulfilment not copied', f.read())

    def test_service_killed_and_restarted_during_confirms(self):
        self.service.start()
        self.start_daemon()
        sku = new_id('SKU-')
        skus = {sku: 1000}
        self.shop.set_stock(sku, 1000)
        orders = [self.shop.flow_to_initiated(cart_ending([(sku, 1 + i % 3, 700)], 0))
                  for i in range(36)]
        held = sum(1 + i % 3 for i in range(36))
        self.assertEqual(self.shop.stock(sku), (1000 - held, held))

        replies = {}
        confirmed = threading.Event()

        def confirm_all():
            client = self.d.client('dealer')
            shop = sh.Shop(self.d, user=self.shop.user, client=client,
                           admin=self.shop.admin)
            for n, o in enumerate(orders):
                replies[o['id']] = shop.confirm(o, timeout_ms=20000)
                if n == 5:
                    confirmed.set()
                time.sleep(0.15)
            confirmed.set()

        thread = threading.Thread(target=confirm_all)
        thread.start()
        try:
            self.assertTrue(confirmed.wait(30))
            self.service.kill()
            away = time.monotonic()
            # While the service is away the bridge leaves orderd's pings
            # unanswered, so health turns degraded (and stays so: an
            # `unavailable` answer does not count as alive; see
            # test_health_stays_degraded_while_calls_come).
            self.wait_health('degraded', 'down', timeout=6, interval=0.01)
            r = self.shop.admin.call('stock', sku=sku)
            self.assertEqual(error_code(r), 'unavailable', r)
            self.assertIn('away', r['error']['message'])
            time.sleep(max(0.0, 2.0 - (time.monotonic() - away)))
            self.service.start()
            self.wait_health('ok', 'ok', timeout=10)
        finally:
            thread.join(60)
        self.assertFalse(thread.is_alive())

        codes = {}
        for r in replies.values():
            code = 'ok' if r.get('ok') else error_code(r)
            codes[code] = codes.get(code, 0) + 1
        self.assertLessEqual(set(codes), {'ok', 'unavailable'}, codes)
        self.assertGreater(codes.get('unavailable', 0), 0,
                           'no confirm met the outage: %r' % codes)

        # the background retry finishes every suspended confirm saga
        def all_confirmed():
            statuses = [self.shop.admin_get(o['id'])['status'] for o in orders]
            return all(s == 'confirmed' for s in statuses) or None
        sh.wait_until(all_confirmed, 20, 0.2, 'every order confirmed')
        sh.settle_and_check(self.d, self.shop.admin, skus, service=self.shop.c)
        self.assertEqual(self.shop.stock(sku), (1000 - held, 0))
        # the service reduced each line exactly once, whatever was repeated
        lines = [l for l in self.service.lines() if l[2] == sku]
        self.assertEqual(len(lines), len(orders))
        self.assertEqual({l[4] for l in lines}, {'reduced'})
        for o in orders:
            p = self.shop.payment(o['id'])
            self.assertEqual(p['captures'], 1, p)

    def test_frozen_service_is_noticed_by_heartbeats(self):
        self.service.start()
        self.start_daemon(**{'fulfilment/call_timeout_ms': 5000})
        sku = new_id('SKU-')
        self.shop.set_stock(sku, 10)
        self.service.proc.send_signal(signal.SIGSTOP)
        try:
            # TCP stays up, but heartbeats go unanswered: the link is cut
            # within heartbeat_ms (500), long before call_timeout_ms (5000)
            time.sleep(1.0 * min(h.SLOW, 3))
            started = time.monotonic()
            r = self.shop.admin.call('stock', sku=sku)
            self.assertEqual(error_code(r), 'unavailable', r)
            self.assertLess(time.monotonic() - started, 1.5 * h.SLOW)
            self.wait_health('degraded', 'down', timeout=6)
        finally:
            self.service.proc.send_signal(signal.SIGCONT)
        self.wait_health('ok', 'ok', timeout=10)
        self.assertEqual(self.shop.stock(sku), (10, 0))


    def test_health_stays_degraded_while_calls_come(self):
        self.service.start()
        self.start_daemon()
        self.service.kill()
        self.wait_health('degraded', 'down', timeout=6)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            r = self.shop.admin.call('stock', sku='sku-x')
            self.assertEqual(error_code(r), 'unavailable', r)
            self.assertEqual(health(self.shop.c), ('degraded', 'down'))
            time.sleep(0.1)


class Payment(BridgeCase):
    """bridge_payment, the same bridge for the other kind, in front of a
    payment service that lives in a thread of this test."""

    def test_saga_through_bridge_payment(self):
        if not os.path.exists(BRIDGE_PAYMENT):
            self.skipTest('%s not built' % BRIDGE_PAYMENT)
        fake = FakePaymentService()
        fake.start()
        self.addCleanup(fake.stop)
        d = h.Daemon(overrides={'payment/plugin': BRIDGE_PAYMENT,
                                'payment/kind': 'payment',
                                'payment/endpoint': fake.endpoint,
                                'payment/call_timeout_ms': 1000},
                     tmp=self.daemon_dir())
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(lambda: d.running() and d.stop())
        self.d = d
        self.shop = sh.Shop(d)
        sku = new_id('SKU-')
        self.shop.set_stock(sku, 10)
        o = self.shop.flow_to_initiated(cart_ending([(sku, 2, 1000)], 0))
        self.assertEqual(o['payment']['provider_order_id'], 'FAKE-' + o['id'])
        r = sh.ok(self.shop.confirm(o), 'confirm')
        self.assertEqual(r['order']['status'], 'confirmed', r)
        self.assertEqual(r['order']['payment']['capture_id'], 'CAP-' + o['id'])
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.assertEqual(self.shop.stock(sku), (8, 0))
        self.assertIn('ping', fake.ops)
        sh.settle_and_check(d, self.shop.admin, {sku: 10}, service=self.shop.c)

    def test_kind_must_match(self):
        d = h.Daemon(overrides={'payment/plugin': BRIDGE_PAYMENT,
                                'payment/kind': 'fulfilment',
                                'payment/endpoint': 'tcp://127.0.0.1:1'},
                     tmp=self.daemon_dir())
        self.addCleanup(d.cleanup)
        with self.assertRaises(h.DaemonError):
            d.start(timeout=10)
        self.assertEqual(d.proc.returncode, 2)
        self.assertIn("kind: 'fulfilment' does not match this plugin: bridge_payment",
                      d.log_tail())


class ExampleService(unittest.TestCase):
    """The example service alone: requests that queue up run as one group
    (one transaction, a savepoint each), with every answer as if each had
    come alone, and the requests of an order in the order they came."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='orderd-example-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.service = ExternalService(self.tmp).start()
        self.addCleanup(self.service.kill)
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.service.endpoint)
        self.addCleanup(self.socket.close, 0)

    def test_a_burst_keeps_each_answer_and_the_order_of_an_order(self):
        sku = new_id('SKU-')
        sent = [{'op': 'stock', 'sku': sku, 'set': 5}]
        for i in range(60):
            sent.append({'op': 'reserve', 'order_id': 'o-%d' % i, 'line': 0, 'sku': sku,
                         'quantity': 1, 'ttl_ms': 600000})
        sent.append({'op': 'release', 'order_id': 'o-0', 'line': 0})
        sent.append({'op': 'reserve', 'order_id': 'o-0', 'line': 0, 'sku': sku,
                     'quantity': 2, 'ttl_ms': 600000})          # after the release: anew
        sent.append({'op': 'ping'})
        sent.append({'op': 'stock', 'sku': sku})
        for n, body in enumerate(sent):
            self.socket.send(msgpack.packb(dict(body, v=1, rid='r%d' % n)))
        replies = {}
        order = []
        for _ in sent:
            self.assertTrue(self.socket.poll(10000), 'no answer')
            reply = msgpack.unpackb(self.socket.recv(), raw=False)
            replies[reply['rid']] = reply
            order.append(reply['rid'])
        oks = [replies['r%d' % n]['ok'] for n in range(1, 61)]
        self.assertEqual(oks, [True] * 5 + [False] * 55)
        self.assertEqual({error_code(replies['r%d' % n]) for n in range(6, 61)},
                         {'out_of_stock'})
        self.assertIs(replies['r61']['ok'], True, replies['r61'])          # the release
        self.assertLess(order.index('r1'), order.index('r61'))            # after its reserve
        # ran after the release (before it, it would be idempotency_mismatch)
        self.assertEqual(error_code(replies['r62']), 'out_of_stock', replies['r62'])
        self.assertIn('1 available', replies['r62']['error']['message'])
        self.assertIs(replies['r63']['ok'], True, replies['r63'])            # the ping
        stock = replies['r64']
        self.assertEqual((stock['available'], stock['reserved']), (1, 4), stock)


class Config(BridgeCase):

    def refused(self, **extra):
        d = h.Daemon(overrides=bridge_overrides(self.service.endpoint, **extra),
                     tmp=self.daemon_dir())
        self.addCleanup(d.cleanup)
        with self.assertRaises(h.DaemonError):
            d.start(timeout=10)
        self.assertEqual(d.proc.returncode, 2, d.log_tail())
        return d.log_tail()

    def test_wrong_kind(self):
        log = self.refused(**{'fulfilment/kind': 'payment'})
        self.assertRegex(log, r'kind: .payment. does not match')

    def test_bad_kind(self):
        log = self.refused(**{'fulfilment/kind': 'warehouse'})
        self.assertRegex(log, r"kind: 'warehouse' is not payment or fulfilment")

    def test_unknown_key(self):
        log = self.refused(**{'fulfilment/stock_file': 'config/stock.cfg'})
        self.assertIn('stock_file: not a key of the bridge_fulfilment plugin', log)

    def test_no_endpoint(self):
        log = self.refused(**{'fulfilment/endpoint': None})
        self.assertIn('endpoint: required', log)

    def test_bad_heartbeat(self):
        log = self.refused(**{'fulfilment/heartbeat_ms': 'often'})
        self.assertIn("heartbeat_ms: 'often' is not an integer", log)

    def test_bridge_fulfilment_in_the_payment_section(self):
        d = h.Daemon(overrides={'payment/plugin': BRIDGE,
                                'payment/endpoint': self.service.endpoint},
                     tmp=self.daemon_dir())
        self.addCleanup(d.cleanup)
        with self.assertRaises(h.DaemonError):
            d.start(timeout=10)
        self.assertEqual(d.proc.returncode, 2)
        self.assertIn('kind: daemon expects payment, plugin has fulfilment', d.log_tail())

    def test_service_not_there_at_start(self):
        # orderd starts anyway; calls answer unavailable until it comes
        self.start_daemon()
        r = self.shop.admin.call('stock', sku='sku-x')
        self.assertEqual(error_code(r), 'unavailable', r)
        self.wait_health('degraded', 'down', timeout=6)
        self.service.start()
        self.wait_health('ok', 'ok', timeout=10)
        self.assertEqual(self.shop.stock('sku-x'), (0, 0))


class Curve(BridgeCase):

    def setUp(self):
        BridgeCase.setUp(self)
        keys = os.path.join(self.tmp, 'keys')
        os.mkdir(keys)
        self.server_public, self.server_secret = zmq.auth.create_certificates(keys, 'server')
        self.client_public, self.client_secret = zmq.auth.create_certificates(keys, 'client')
        self.service = ExternalService(self.tmp, cert=self.server_secret)
        self.addCleanup(self.service.kill)

    def test_curve(self):
        self.service.start()
        server_key, _ = zmq.auth.load_certificate(self.server_public)
        self.start_daemon(**{'fulfilment/server_key': server_key.decode(),
                             'fulfilment/cert': self.client_public})
        self.wait_health('ok', 'ok', timeout=6)
        self.shop.set_stock('sku-curve', 7)
        self.assertEqual(self.shop.stock('sku-curve'), (7, 0))

    def test_curve_server_key_from_a_certificate_file(self):
        self.service.start()
        self.start_daemon(**{'fulfilment/server_key': self.server_public})
        self.shop.set_stock('sku-curve', 3)
        self.assertEqual(self.shop.stock('sku-curve'), (3, 0))

    def test_wrong_server_key_never_connects(self):
        self.service.start()
        wrong, _ = zmq.curve_keypair()
        self.start_daemon(**{'fulfilment/server_key': wrong.decode(),
                             'fulfilment/cert': self.client_secret})
        r = self.shop.admin.call('stock', sku='sku-curve')
        self.assertEqual(error_code(r), 'unavailable', r)
        self.wait_health('degraded', 'down', timeout=6)

    def test_cert_without_secret_is_refused(self):
        os.remove(self.client_secret)
        d = h.Daemon(overrides=bridge_overrides(
            self.service.endpoint, **{'fulfilment/server_key': self.server_public,
                                      'fulfilment/cert': self.client_public}),
            tmp=self.daemon_dir())
        self.addCleanup(d.cleanup)
        with self.assertRaises(h.DaemonError):
            d.start(timeout=10)
        self.assertEqual(d.proc.returncode, 2)
        self.assertIn('cert:', d.log_tail())


if __name__ == '__main__':
    unittest.main()
