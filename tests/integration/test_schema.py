#!/usr/bin/python3
"""The JSON Schema of docs/schema/ against the real daemon: every op of
both doors and every refusal a cart can provoke, each request validated
against requests.json before it is sent and each reply against
replies.json, and events against event.json. If the daemon and
docs/PROTOCOL.md drift apart, this fails. (Debian's python3-jsonschema.)

    /usr/bin/python3 tests/integration/test_schema.py [-v]
"""
import json
import os
import sys
import time
import unittest

import jsonschema
import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id, error_code  # noqa: E402
from test_bridge import FakePaymentService, BRIDGE_PAYMENT  # noqa: E402

SCHEMA_DIR = os.path.join(h.SOURCE, 'docs', 'schema')
SCHEMA_FILES = ('common', 'requests', 'replies', 'event')
BASE = 'https://orderd.example/schema/'

SERVICE_OPS = {'create', 'initiate_payment', 'confirm', 'cancel', 'delete', 'get', 'list',
               'health'}
ADMIN_OPS = {'advance', 'retry', 'resolve', 'stock', 'payment', 'stats',
             'backup'}   # backup: its replies are checked in test_backup.py
# What a cart can hit with the shipped adapters; `busy` and `unavailable`
# come from BrokenAdapter below, `internal` needs a broken disk
ERRORS = {'bad_request', 'unsupported_version', 'unknown_op', 'too_large', 'not_found',
          'forbidden', 'invalid_transition', 'idempotency_mismatch', 'payment_declined',
          'out_of_stock', 'unknown_product', 'deadline_exceeded'}


def load_schemas():
    store = {}
    for name in SCHEMA_FILES:
        with open(os.path.join(SCHEMA_DIR, name + '.json')) as f:
            doc = json.load(f)
        jsonschema.Draft202012Validator.check_schema(doc)
        store[doc['$id']] = doc
    return store


STORE = load_schemas()


def validator(file, name=None):
    """A validator of docs/schema/<file>.json, or of its $defs/<name>."""
    target = BASE + file + '.json' + ('#/$defs/' + name if name else '')
    resolver = jsonschema.RefResolver(BASE, {}, store=STORE)
    return jsonschema.Draft202012Validator({'$ref': target}, resolver=resolver)


def check(test, file, name, value):
    errors = sorted(validator(file, name).iter_errors(value), key=str)
    if errors:
        test.fail('%s#%s does not match:\n%s\n%s' % (
            file, name, '\n'.join('  %s at %s' % (e.message, list(e.absolute_path))
                                  for e in errors[:5]), value))


class Schema(unittest.TestCase):
    """One daemon with the sandbox adapters."""

    @classmethod
    def setUpClass(cls):
        cls.d = h.start_daemon()

    @classmethod
    def tearDownClass(cls):
        h.stop_daemon(cls.d)

    def setUp(self):
        self.service = self.d.client()
        self.admin = self.d.admin_client()
        self.ok_ops = set()
        self.codes = set()

    # -- one exchange, both sides checked
    def call(self, client, op, expect=None, valid=True, **fields):
        """Sends op; validates the request (unless valid=False: a request
        meant to be refused) and the reply. expect: None for ok, else the
        error code."""
        body = client.body(op, **fields)
        if valid:
            form = ('admin_' + op) if client is self.admin and op in SERVICE_OPS else op
            check(self, 'requests', form, body)
        reply = client.call_body(body)
        return self.checked(op, reply, expect)

    def checked(self, op, reply, expect):
        if expect is None:
            self.assertIs(reply.get('ok'), True, reply)
            check(self, 'replies', op, reply)
            self.ok_ops.add(op)
        else:
            self.assertEqual(error_code(reply), expect, reply)
            check(self, 'replies', 'error', reply)
            self.codes.add(expect)
        check(self, 'replies', None, reply)          # the union, too
        return reply

    def sku(self, n=100):
        s = new_id('SKU-')
        self.d.seed_stock({s: n})
        return s

    def order(self, user, products=None, **extra):
        cart = make_cart(products or [(self.sku(), 1, 1000)])
        return self.call(self.service, 'create', **create_fields(user, cart, **extra))['order']

    # -- the tests
    def test_schemas_are_well_formed_and_list_every_code(self):
        for doc in STORE.values():
            jsonschema.Draft202012Validator.check_schema(doc)
        codes = set(STORE[BASE + 'common.json']['$defs']['error_code']['enum'])
        self.assertEqual(codes, ERRORS | {'busy', 'unavailable', 'internal'})
        ops = set(STORE[BASE + 'requests.json']['$defs'])
        self.assertEqual({o for o in ops if not o.startswith('admin_')}, SERVICE_OPS | ADMIN_OPS)

    def test_a_lifecycle_on_both_doors(self):
        user = new_id('u-')
        s, a = self.service, self.admin
        o = self.order(user, user_data={'email': 'ada@example.com'}, currency='EUR')
        self.call(s, 'get', user_id=user, order_id=o['id'], history=True)
        o = self.call(s, 'initiate_payment', user_id=user, order_id=o['id'], idem='pay-1',
                      return_url='https://shop.example/ok',
                      cancel_url='https://shop.example/no')['order']
        self.call(a, 'payment', order_id=o['id'])
        self.call(s, 'confirm', user_id=user, order_id=o['id'], deadline=h.now_ms() + 600000,
                  provider_order_id=o['payment']['provider_order_id'])
        for to in ('processing', 'shipped', 'delivered'):
            self.call(a, 'advance', order_id=o['id'], to=to, reason='by the schema test')
        self.call(s, 'delete', user_id=user, order_id=o['id'], idem='del-1')
        r = self.call(a, 'get', order_id=o['id'], include_deleted=True, history=True)
        self.assertEqual([e['to'] for e in r['history']][-1], 'delivered')
        o2 = self.order(user)
        self.call(s, 'cancel', user_id=user, order_id=o2['id'], reason='changed my mind')
        self.order(user)
        r = self.call(s, 'list', user_id=user, limit=1)
        self.assertIsNotNone(r['next'])
        self.call(s, 'list', user_id=user, after=r['next'], status='cancelled')
        self.call(a, 'list', include_deleted=True, limit=5)
        self.call(s, 'health')
        self.call(s, 'health', detailed=True)
        self.call(a, 'stats')
        self.call(a, 'stock', sku=self.sku(), set=7)
        self.assertEqual(self.ok_ops, SERVICE_OPS | {'advance', 'stock', 'payment', 'stats'})

    def test_every_refusal_a_cart_can_hit(self):
        s, a = self.service, self.admin
        user = new_id('u-')
        # framing and the envelope
        s.send_body({'v': 1, 'op': 'health', 'rid': 'x' * 65})   # its reply has rid nil
        r = s.recv()
        self.assertIsNone(r['rid'], r)
        self.checked('health', r, 'bad_request')
        self.call(s, 'health', 'unsupported_version', valid=False, v=2)
        self.call(s, 'stats', 'unknown_op', valid=False)
        self.call(s, 'health', 'bad_request', valid=False, deadline='tomorrow')
        self.call(s, 'health', 'deadline_exceeded', deadline=1)
        big = {'v': 1, 'op': 'health', 'pad': 'x' * 70000}
        self.checked('health', s.call_body(big), 'too_large')
        # create's rules
        cart = make_cart([(self.sku(), 2, 100)])
        cart['costs']['total'] += 1
        self.call(s, 'create', 'bad_request', valid=False, **create_fields(user, cart))
        self.call(s, 'create', 'out_of_stock', **create_fields(user, make_cart([(self.sku(1), 2, 100)])))
        self.call(s, 'create', 'unknown_product',
                  **create_fields(user, make_cart([(new_id('SKU-NEVER-'), 1, 100)])))
        # one order, refused in every way
        o = self.order(user)
        self.call(s, 'get', 'not_found', user_id=user, order_id='o' + '0' * 16)
        self.call(s, 'get', 'forbidden', user_id=new_id('u-'), order_id=o['id'])
        self.call(s, 'confirm', 'invalid_transition', user_id=user, order_id=o['id'],
                  provider_order_id='nothing yet')
        self.call(s, 'delete', 'invalid_transition', user_id=user, order_id=o['id'])
        self.call(a, 'retry', 'invalid_transition', order_id=o['id'])
        self.call(a, 'resolve', 'invalid_transition', order_id=o['id'], note='nothing to resolve')
        self.call(a, 'payment', 'not_found', order_id=o['id'])
        self.call(s, 'cancel', user_id=user, order_id=o['id'], idem='c-1')
        self.call(s, 'cancel', 'idempotency_mismatch', user_id=user, order_id=o['id'],
                  idem='c-1', reason='another body')
        # a declined capture: the sandbox declines totals ending in 02
        cart = make_cart([(self.sku(), 1, 2)], shipping=0)
        declined = self.call(s, 'create', **create_fields(user, cart))['order']
        declined = self.call(s, 'initiate_payment', user_id=user,
                             order_id=declined['id'])['order']
        r = self.call(s, 'confirm', 'payment_declined', user_id=user, order_id=declined['id'],
                      provider_order_id=declined['payment']['provider_order_id'])
        self.assertEqual(r['order']['status'], 'failed')
        self.assertEqual(self.codes, ERRORS)

    def test_two_frames_match_a_refusal_without_rid(self):
        sock = self.d.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.d.service)
        try:
            sock.send_multipart([b'my-rid-1', b'\xc1 not msgpack'])
            sock.send_multipart([b'my-rid-2', msgpack.packb(['not', 'a', 'map'])])
            got = {}
            for _ in range(2):
                self.assertTrue(sock.poll(5000 * h.SLOW), 'no reply')
                frame, body = sock.recv_multipart()
                got[frame] = msgpack.unpackb(body, raw=False)
            for rid in (b'my-rid-1', b'my-rid-2'):
                self.assertIsNone(got[rid]['rid'], got)
                self.checked('health', got[rid], 'bad_request')
        finally:
            sock.close()

    def test_events_match(self):
        sub = self.d.subscriber()
        try:
            user = new_id('u-')
            o = self.order(user)
            self.call(self.service, 'cancel', user_id=user, order_id=o['id'])
            seen = []
            while len(seen) < 2 and sub.poll(5000 * h.SLOW):
                topic, body = sub.recv_multipart()
                event = msgpack.unpackb(body, raw=False)
                if event.get('order_id') == o['id']:
                    check(self, 'event', None, event)
                    self.assertEqual(topic.decode(), 'order.' + event['to'])
                    seen.append(event['to'])
            self.assertEqual(seen, ['pending', 'cancelled'])
        finally:
            sub.close()


class HeldPayments(FakePaymentService):
    """The bridge test's payment service, which answers `unavailable` to
    captures while `held`: orderd's confirm is then suspended, and driven
    again only when ops ask (the background retry is set far away)."""

    held = False

    def answer(self, body):
        if self.held and body.get('op') == 'capture':
            return {'ok': False, 'error': {'code': 'unavailable', 'message': 'held'}}
        return super().answer(body)


class SuspendedSaga(unittest.TestCase):
    """retry and resolve answer the schema's replies: a confirm suspended
    five times needs review; retried once the payment service is back, it
    ends, and ops resolve the review."""

    def test_retry_and_resolve(self):
        if not os.path.exists(BRIDGE_PAYMENT):
            self.skipTest('%s not built' % BRIDGE_PAYMENT)
        payments = HeldPayments()
        payments.start()
        self.addCleanup(payments.stop)
        d = h.Daemon(overrides={'payment/plugin': BRIDGE_PAYMENT, 'payment/kind': 'payment',
                                'payment/endpoint': payments.endpoint,
                                'payment/call_timeout_ms': 1000,
                                'orderd/saga_retry_ms': 3600000})
        self.addCleanup(d.cleanup)
        d.start()
        s, a = d.client(timeout_ms=20000), d.admin_client(timeout_ms=20000)
        sku = new_id('SKU-')
        d.seed_stock({sku: 10})
        user = new_id('u-')
        o = s.call_ok('create', **create_fields(user, make_cart([(sku, 1, 100)])))['order']
        o = s.call_ok('initiate_payment', user_id=user, order_id=o['id'])['order']
        payments.held = True
        r = s.call('confirm', user_id=user, order_id=o['id'],
                   provider_order_id=o['payment']['provider_order_id'])
        self.assertEqual(error_code(r), 'unavailable', r)
        for _ in range(4):                  # suspensions 2 to 5: review
            r = a.call('retry', order_id=o['id'])
            self.assertEqual(error_code(r), 'unavailable', r)
            check(self, 'replies', 'error', r)
        r = a.call_ok('get', order_id=o['id'])
        self.assertIs(r['order']['needs_review'], True, r)
        # A confirm stuck before its capture: flagged while payment_initiated,
        # which the runbook's search (every status) finds
        self.assertEqual(r['order']['status'], 'payment_initiated', r)
        listed = a.call_ok('list', limit=500)['orders']
        self.assertIn(o['id'], [x['id'] for x in listed if x.get('needs_review')])
        r = a.call('resolve', order_id=o['id'], note='too early')
        self.assertEqual(error_code(r), 'invalid_transition', r)
        payments.held = False
        r = a.call_ok('retry', order_id=o['id'])
        check(self, 'replies', 'retry', r)
        self.assertEqual(r['order']['status'], 'confirmed', r)
        # The saga finished on its own: the flag it set for being stuck heals,
        # and the history says so (saga.h, docs/OPERATIONS.md section 7)
        self.assertIs(r['order']['needs_review'], False, r)
        history = a.call_ok('get', order_id=o['id'], history=True)['history']
        self.assertTrue(any((e.get('reason') or '').startswith('healed: ') for e in history),
                        history)
        r = a.call('resolve', order_id=o['id'], note='payment service was down')
        self.assertEqual(error_code(r), 'invalid_transition', r)
        check(self, 'replies', 'error', r)
        d.stop()


class BrokenAdapter(unittest.TestCase):
    """A payment adapter that never answers: `unavailable`, then `busy` for
    other ops on the order, and a degraded health, all as the schema says."""

    def test_unavailable_busy_and_degraded_health(self):
        plugin = os.path.join(h.BUILD, 'tests', 'plugins', 'hangs.so')
        if not os.path.exists(plugin):
            self.skipTest('%s not built' % plugin)
        d = h.Daemon(overrides={'payment/plugin': plugin, 'payment/timeout_ms': 100,
                                'orderd/saga_retry_ms': 60000})
        self.addCleanup(d.cleanup)
        d.start()
        s = d.client()
        sku = new_id('SKU-')
        d.seed_stock({sku: 10})
        user = new_id('u-')
        o = s.call_ok('create', **create_fields(user, make_cart([(sku, 1, 100)])))['order']
        r = s.call('initiate_payment', user_id=user, order_id=o['id'], _timeout_ms=15000 * h.SLOW)
        self.assertEqual(error_code(r), 'unavailable', r)
        check(self, 'replies', 'error', r)
        r = s.call('cancel', user_id=user, order_id=o['id'])
        self.assertEqual(error_code(r), 'busy', r)
        check(self, 'replies', 'error', r)
        # the probe notices within a few seconds; no fixed wait
        for _ in range(100):
            r = s.call_ok('health', detailed=True)
            check(self, 'replies', 'health', r)
            if r['status'] == 'degraded':
                break
            time.sleep(0.1 * h.SLOW)
        self.assertEqual(r['checks']['payment']['status'], 'down', r)
        self.assertIsInstance(r['checks']['payment']['reason'], str, r)
        d.kill()


if __name__ == '__main__':
    unittest.main()
