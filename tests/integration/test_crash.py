#!/usr/bin/python3
"""Crash points: for every point `orderd --crash-points` lists, a fresh
daemon started with ORDERD_CRASH_AT=<point> is driven through the flow that
reaches it, must SIGKILL itself there, and after a restart (without the
variable) recovery, which runs behind open doors, must have finished or
compensated the saga once it ends (PROTOCOL.md §4.2): orders in allowed
states, stock conserved, no capture twice, no saga left.

    /usr/bin/python3 tests/integration/test_crash.py [-v] [CrashPoints.test_confirm_paid]
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id, error_code  # noqa: E402
import saga_helpers as sh  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402


def listed_crash_points():
    try:
        out = subprocess.run([h.orderd_binary(), '--crash-points'], capture_output=True,
                             timeout=10, check=True).stdout.decode()
    except Exception as exc:       # reported by test_every_point_has_a_scenario
        return exc
    return [l.strip() for l in out.split('\n') if l.strip()]


CRASH_POINTS = listed_crash_points()

# How each point is reached, and what recovery must make of it.
SCENARIOS = {
    'create.logged': 'create',
    'create.reserved_one': 'create',
    'create.reserved_all': 'create',
    'create.releasing': 'create_out_of_stock',
    'initiate.logged': 'initiate',
    'initiate.created': 'initiate',
    'confirm.logged': 'confirm',
    'confirm.checked': 'confirm',
    'confirm.captured': 'confirm',
    'confirm.paid': 'confirm',
    'confirm.reduced_one': 'confirm',
    'confirm.reduced_all': 'confirm',
    'confirm.compensating': 'confirm_stock_failure',
    'confirm.restored_one': 'confirm_stock_failure',
    'confirm.aborting': 'confirm_abort',
    'cancel.logged': 'cancel',
    'cancel.released': 'cancel',
    'cancel.voided': 'cancel',
}

# Adapter timing the scenario needs (reserve_ttl_ms short so reservations
# lapse; payment latency so a capture is in flight long enough).
OVERRIDES = {
    'confirm_stock_failure': {'fulfilment/reserve_ttl_ms': 300, 'payment/latency_ms': 900,
                              'payment/timeout_ms': 4000},
    'confirm_abort': {'fulfilment/reserve_ttl_ms': 200},
}

DIE_WITHIN = 10.0      # seconds for the daemon to reach the point and die


class CrashPoints(unittest.TestCase):

    def setUp(self):
        self.d = None

    def tearDown(self):
        if self.d is not None:
            if not getattr(self._outcome, 'success', True):
                sys.stderr.write('\n--- daemon log tail (%s) ---\n%s\n'
                                 % (self.id(), self.d.log_tail(40)))
            self.d.cleanup()

    def test_every_point_has_a_scenario(self):
        self.assertIsInstance(CRASH_POINTS, list,
                              'orderd --crash-points failed: %r' % (CRASH_POINTS,))
        self.assertGreater(len(CRASH_POINTS), 0)
        missing = [p for p in CRASH_POINTS if p not in SCENARIOS]
        self.assertEqual(missing, [], 'crash points without a test scenario')

    # ------------------------------------------------------------------
    def start(self, point, scenario):
        ov = {'orderd/saga_retry_ms': 60000}     # recovery alone must do it
        ov.update(OVERRIDES.get(scenario, {}))
        self.d = h.Daemon(overrides=ov)
        sh.start_with_env(self.d, {'ORDERD_CRASH_AT': point})
        self.admin = self.d.admin_client(timeout_ms=3000)
        self.shop = sh.Shop(self.d, client=self.d.client('dealer', timeout_ms=3000),
                            admin=self.admin)
        self.skus = {}

    def sku(self, n):
        s = new_id('SKU-')
        self.shop.set_stock(s, n)
        self.skus[s] = n
        return s

    def crash_with(self, point, body, send=True):
        """Sends body (the request that reaches `point`; already sent when
        send is false) and expects the daemon to die by SIGKILL without
        answering it."""
        if send:
            self.shop.c.send_body(body)
        rc = sh.wait_exit(self.d, DIE_WITHIN)
        reply = None
        if self.shop.c.sock.poll(0):
            reply = self.shop.c.recv(0)
        if rc is None:
            self.fail('%s: the daemon did not die within %.0f s (reply: %r)'
                      % (point, DIE_WITHIN, reply))
        self.assertEqual(rc, -9, '%s: daemon exit status %r (reply: %r)' % (point, rc, reply))
        self.assertTrue(reply is None or reply.get('rid') != body['rid'],
                        '%s: the request was answered before the crash: %r' % (point, reply))
        with open(self.d.log_path, 'rb') as f:
            log = f.read().decode('utf-8', 'replace')
        self.assertIn('crash point %s reached' % point, log,
                      'the daemon died, but not at %s' % point)

    def restart(self):
        """Restarts without the crash variable; fresh sockets; waits for
        recovery to end and checks that it left no saga behind (before any
        background retry)."""
        for c in self.d.clients:
            c.close()
        self.d.clients = []
        sh.start_with_env(self.d, {'ORDERD_CRASH_AT': None})
        self.admin = self.d.admin_client(timeout_ms=5000)
        self.shop = sh.Shop(self.d, user=self.shop.user,
                            client=self.d.client('dealer', timeout_ms=5000), admin=self.admin)
        r = sh.wait_recovered(self.shop.c)
        self.recovered = r.get('sagas_recovered')     # checked by finish()
        orders = h.list_all_orders(self.admin)
        problems = []
        for o in orders:
            if o['status'] not in h.STATUSES:
                problems.append('%s: status %r' % (o['id'], o['status']))
            if o['status'] == 'paid':
                problems.append('%s: left paid by recovery' % o['id'])
        problems += sh.assert_no_unfinished_saga(self.admin, orders)
        self.assertEqual(problems, [], 'after recovery')
        return orders

    def finish(self):
        self.assertIsInstance(self.recovered, int)
        self.assertGreaterEqual(self.recovered, 1, 'health {detailed: true} once recovery'
                                ' ended should count the interrupted saga in sagas_recovered')
        sh.settle_and_check(self.d, self.admin, self.skus, service=self.shop.c,
                            saga_timeout=1.0)
        self.d.stop()

    def idem_body(self, op, **fields):
        b = self.shop.c.body(op, **fields)
        b['idem'] = new_id('idem-')
        return b

    def retry(self, body):
        """The client's retry of a request that never got an answer: the
        same body and idempotency key, a new rid."""
        b = dict(body)
        b['rid'] = new_id('rid-')
        return self.shop.c.call_body(b)

    # ------------------------------------------------------------------
    # scenarios

    def scenario_create(self, point):
        a, b = self.sku(10), self.sku(10)
        body = self.idem_body('create', **create_fields(
            self.shop.user, make_cart([(a, 2, 100), (b, 3, 100)])))
        self.crash_with(point, body)
        orders = self.restart()
        self.assertEqual(orders, [], 'an interrupted create stores nothing')
        self.assertEqual(self.shop.stock(a), (10, 0))
        self.assertEqual(self.shop.stock(b), (10, 0))
        r = self.retry(body)      # the client never got an answer: it tries again
        self.assertIs(r.get('ok'), True, r)
        self.assertEqual(r['order']['status'], 'pending')
        self.assertEqual(self.shop.stock(a), (8, 2))
        self.finish()

    def scenario_create_out_of_stock(self, point):
        a, b, c = self.sku(10), self.sku(10), self.sku(1)
        body = self.idem_body('create', **create_fields(
            self.shop.user, make_cart([(a, 2, 100), (b, 3, 100), (c, 5, 100)])))
        self.crash_with(point, body)
        orders = self.restart()
        self.assertEqual(orders, [])
        self.assertEqual(self.shop.stock(a), (10, 0))
        self.assertEqual(self.shop.stock(b), (10, 0), 'line 1 was still reserved at the crash')
        self.assertEqual(self.shop.stock(c), (1, 0))
        r = self.retry(body)
        self.assertEqual(error_code(r), 'out_of_stock', r)
        self.assertEqual(self.shop.stock(b), (10, 0))
        self.finish()

    def scenario_initiate(self, point):
        a = self.sku(10)
        o = self.shop.create_ok(cart_ending([(a, 2, 400)], 0))
        body = self.idem_body('initiate_payment', order_id=o['id'], user_id=self.shop.user)
        self.crash_with(point, body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'payment_initiated', got)
        p = self.shop.payment(o['id'])
        self.assertEqual(p['provider_order_id'], got['payment']['provider_order_id'], p)
        self.assertEqual((p['status'], p['captures']), ('created', 0), p)
        r = self.retry(body)
        self.assertIs(r.get('ok'), True, r)
        self.assertEqual(r['order']['payment'], got['payment'], 'the same payment again')
        self.assertEqual(self.shop.stock(a), (8, 2))
        # and it can still be paid
        r = self.shop.confirm(got)
        self.assertIs(r.get('ok'), True, r)
        self.assertEqual(r['order']['status'], 'confirmed')
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.finish()

    def scenario_confirm(self, point):
        a, b = self.sku(10), self.sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 300), (b, 1, 300)], 0))
        body = self.shop.confirm_body(o, idem=new_id('idem-'))
        self.crash_with(point, body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'confirmed', 'a confirm is driven forward: %r' % got)
        self.assertIs(got['needs_review'], False)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures'], p['captured_amount']),
                         ('captured', 1, o['total_amount']), p)
        self.assertEqual(self.shop.stock(a), (8, 0))
        self.assertEqual(self.shop.stock(b), (9, 0))
        r = self.retry(body)
        self.assertIs(r.get('ok'), True, r)
        self.assertEqual(r['order'], got)
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.finish()

    def scenario_confirm_stock_failure(self, point):
        a, b = self.sku(10), self.sku(4)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 300), (b, 1, 300)], 0))
        body = self.shop.confirm_body(o, idem=new_id('idem-'))
        self.shop.c.send_body(body)
        time.sleep(0.6)        # reservations (300 ms) lapsed, capture (900 ms) in flight
        self.shop.set_stock(b, 0)
        self.skus[b] = 0
        self.crash_with(point, body, send=False)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'failed', got)
        self.assertIs(got['needs_review'], True, got)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures'], p['refunded_amount']),
                         ('captured', 1, 0), p)
        self.assertEqual(self.shop.stock(a), (10, 0), 'line 0 reduced, must be restored')
        self.assertEqual(self.shop.stock(b), (0, 0))
        r = self.retry(body)
        self.assertIs(r.get('ok'), False, r)
        self.assertIn(error_code(r), ('out_of_stock', 'invalid_transition'), r)
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.assertEqual(self.shop.get(o['id']), got)
        self.finish()

    def scenario_confirm_abort(self, point):
        a, b = self.sku(10), self.sku(4)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 300), (b, 1, 300)], 0))
        time.sleep(0.35)       # reservations (200 ms) lapse
        self.shop.set_stock(b, 0)
        self.skus[b] = 0
        body = self.shop.confirm_body(o, idem=new_id('idem-'))
        self.crash_with(point, body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'failed', got)
        self.assertIs(got['needs_review'], False, got)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures'], p['captured_amount']),
                         ('voided', 0, 0), p)
        self.assertEqual(self.shop.stock(a), (10, 0))
        self.assertEqual(self.shop.stock(b), (0, 0))
        r = self.retry(body)
        self.assertIs(r.get('ok'), False, r)
        self.assertEqual(self.shop.payment(o['id'])['captures'], 0)
        self.finish()

    def scenario_cancel(self, point):
        a, b = self.sku(10), self.sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 300), (b, 1, 300)], 0))
        body = self.idem_body('cancel', order_id=o['id'], user_id=self.shop.user,
                              reason='crash test')
        self.crash_with(point, body)
        self.restart()
        got, hist = self.shop.get(o['id'], history=True)
        self.assertEqual(got['status'], 'cancelled', got)
        self.assertEqual(hist[-1]['reason'], 'crash test', hist)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures']), ('voided', 0), p)
        self.assertEqual(self.shop.stock(a), (10, 0))
        self.assertEqual(self.shop.stock(b), (10, 0))
        r = self.retry(body)
        if r.get('ok') is not True:
            self.assertEqual(error_code(r), 'invalid_transition', r)
        self.assertEqual(self.shop.get(o['id']), got)
        self.finish()


    # -- variants beyond one flow per point

    def scenario_confirm_declined(self, point):
        """A ..02 amount: recovery captures, is declined, releases."""
        a = self.sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 300)], 2))
        body = self.shop.confirm_body(o, idem=new_id('idem-'))
        self.crash_with(point, body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'failed', got)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures'], p['captured_amount']),
                         ('declined', 0, 0), p)
        self.assertEqual(self.shop.stock(a), (10, 0))
        self.finish()

    def scenario_confirm_transient(self, point):
        """A ..03 amount: recovery's capture meets the one-off unavailable
        and retries."""
        a = self.sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 300)], 3))
        body = self.shop.confirm_body(o, idem=new_id('idem-'))
        self.crash_with(point, body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'confirmed', got)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures']), ('captured', 1), p)
        self.assertEqual(self.shop.stock(a), (8, 0))
        self.finish()

    def scenario_cancel_pending(self, point):
        """Cancel of an order with no payment yet."""
        a = self.sku(10)
        o = self.shop.create_ok(make_cart([(a, 3, 300)]))
        body = self.idem_body('cancel', order_id=o['id'], user_id=self.shop.user)
        self.crash_with(point, body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'cancelled', got)
        self.assertEqual(self.shop.stock(a), (10, 0))
        self.finish()


VARIANTS = [('confirm.checked', 'confirm_declined'), ('confirm.logged', 'confirm_transient'),
            ('confirm.checked', 'confirm_transient'), ('cancel.released', 'cancel_pending'),
            ('cancel.voided', 'cancel_pending')]


def _make_test(point, scenario):
    def test(self):
        self.start(point, scenario)
        getattr(self, 'scenario_' + scenario)(point)
    test.__doc__ = 'crash at %s (%s)' % (point, scenario)
    return test


for _point in (CRASH_POINTS if isinstance(CRASH_POINTS, list) else []):
    if _point in SCENARIOS:
        setattr(CrashPoints, 'test_' + _point.replace('.', '_'),
                _make_test(_point, SCENARIOS[_point]))

for _point, _scenario in VARIANTS:
    if isinstance(CRASH_POINTS, list) and _point in CRASH_POINTS:
        setattr(CrashPoints, 'test_%s_%s' % (_point.replace('.', '_'), _scenario),
                _make_test(_point, _scenario))


if __name__ == '__main__':
    unittest.main()
