#!/usr/bin/python3
"""Sagas: every outcome of create / initiate_payment / confirm / cancel /
payment timeout (PROTOCOL.md §4, §5, §6, §9), each ending with the §4.2
invariants checked over the admin door.

    /usr/bin/python3 tests/integration/test_sagas.py [-v] [Class.test]
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, new_id, error_code, error_message  # noqa: E402
import saga_helpers as sh  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402


class SagaCase(unittest.TestCase):
    """One daemon per class; every test seeds its own skus, and ends with
    settle() which cancels what it left open and checks the invariants over
    every sku the class has seeded."""
    overrides = {}

    @classmethod
    def setUpClass(cls):
        ov = {'orderd/saga_retry_ms': 100}
        ov.update(cls.overrides)
        cls.d = h.start_daemon(overrides=ov)
        cls.admin = cls.d.admin_client()
        cls.skus = {}

    @classmethod
    def tearDownClass(cls):
        h.stop_daemon(cls.d)

    def setUp(self):
        self.shop = sh.Shop(self.d, admin=self.admin)

    def tearDown(self):
        # On failure, show what the daemon said last.
        if not getattr(self._outcome, 'success', True):
            sys.stderr.write('\n--- daemon log tail (%s) ---\n%s\n'
                             % (self.id(), self.d.log_tail(30)))

    def new_sku(self, n=100):
        sku = new_id('SKU-')
        self.shop.set_stock(sku, n)
        type(self).skus[sku] = n
        return sku

    def set_stock(self, sku, n):
        """Sets a sku's available count; the invariant's "what was set"
        becomes n + what is held or committed now (only called when nothing
        of this sku is held or committed, so that is n)."""
        self.shop.set_stock(sku, n)
        type(self).skus[sku] = n

    def settle(self):
        return sh.settle_and_check(self.d, self.admin, type(self).skus,
                                   service=self.shop.c)

    # -- assertions
    def assertOk(self, r):
        self.assertIsInstance(r, dict, r)
        self.assertIs(r.get('ok'), True, r)
        return r

    def assertError(self, r, code):
        self.assertIsInstance(r, dict, r)
        self.assertIs(r.get('ok'), False, r)
        self.assertEqual(error_code(r), code, r)
        return r

    def assertStock(self, sku, available, reserved):
        self.assertEqual(self.shop.stock(sku), (available, reserved), 'stock of %s' % sku)


class BasicSagas(SagaCase):
    """Default adapters, no latency."""

    def test_success(self):
        a, b = self.new_sku(50), self.new_sku(50)
        cart = cart_ending([(a, 2, 1000), (b, 3, 250)], 0)
        o = self.shop.create_ok(cart)
        self.assertStock(a, 48, 2)
        self.assertStock(b, 47, 3)
        o = self.shop.initiate_ok(o['id'])
        pay = o['payment']
        self.assertTrue(pay['provider_order_id'])
        self.assertEqual(o['payment_id'], pay['provider_order_id'])
        self.assertIsNone(pay.get('capture_id'))
        r = self.assertOk(self.shop.confirm(o))
        o = r['order']
        self.assertEqual(o['status'], 'confirmed')
        self.assertIs(o['needs_review'], False)
        self.assertTrue(o['payment']['capture_id'])
        self.assertStock(a, 48, 0)
        self.assertStock(b, 47, 0)
        p = self.shop.payment(o['id'])
        self.assertEqual(p['status'], 'captured', p)
        self.assertEqual(p['captures'], 1, p)
        self.assertEqual(p['captured_amount'], o['total_amount'], p)
        self.assertEqual(p['refunded_amount'], 0, p)
        self.assertEqual(p['capture_id'], o['payment']['capture_id'], p)
        _, hist = self.shop.get(o['id'], history=True)
        self.assertEqual([e['to'] for e in hist],
                         ['pending', 'payment_initiated', 'paid', 'confirmed'], hist)
        self.assertEqual(o['version'], len(hist))
        self.settle()

    def test_declined_capture(self):
        a, b = self.new_sku(20), self.new_sku(20)
        cart = cart_ending([(a, 1, 700), (b, 2, 300)], 2)
        o = self.shop.flow_to_initiated(cart)
        r = self.assertError(self.shop.confirm(o), 'payment_declined')
        self.assertIsInstance(r.get('order'), dict, 'a declined confirm carries the failed order')
        self.assertEqual(r['order']['status'], 'failed', r)
        self.assertIs(r['order']['needs_review'], False, r)
        self.assertEqual(self.shop.get(o['id'])['status'], 'failed')
        self.assertStock(a, 20, 0)
        self.assertStock(b, 20, 0)
        p = self.shop.payment(o['id'])
        self.assertEqual(p['captures'], 0, p)
        self.assertEqual(p['captured_amount'], 0, p)
        self.assertEqual(p['status'], 'declined', p)
        # asking again changes nothing and captures nothing
        r = self.shop.confirm(o)
        self.assertIs(r.get('ok'), False, r)
        self.assertEqual(self.shop.get(o['id'])['status'], 'failed')
        self.assertEqual(self.shop.payment(o['id'])['captures'], 0)
        self.settle()

    def test_transient_capture_failure_is_retried(self):
        a = self.new_sku(20)
        cart = cart_ending([(a, 1, 1000)], 3)
        o = self.shop.flow_to_initiated(cart)
        r = self.assertOk(self.shop.confirm(o))
        self.assertEqual(r['order']['status'], 'confirmed', r)
        p = self.shop.payment(o['id'])
        self.assertEqual(p['captures'], 1, p)
        self.assertEqual(p['captured_amount'], cart['costs']['total'], p)
        self.assertStock(a, 19, 0)
        self.settle()

    def test_out_of_stock_at_create_names_product(self):
        a, b = self.new_sku(10), self.new_sku(1)
        pa = h.make_product(a, 2, 100, product_id='prod-plenty-' + a)
        pb = h.make_product(b, 5, 100, product_id='prod-short-' + b)
        user_orders_before = self.assertOk(self.shop.c.call('list', user_id=self.shop.user))
        r = self.assertError(self.shop.create(make_cart([pa, pb])), 'out_of_stock')
        msg = error_message(r)
        self.assertIn('prod-short-' + b, msg, 'out_of_stock should name the product: %r' % r)
        self.assertNotIn('order', r, 'nothing stored, so no order in the reply: %r' % r)
        self.assertStock(a, 10, 0)
        self.assertStock(b, 1, 0)
        r = self.assertOk(self.shop.c.call('list', user_id=self.shop.user))
        self.assertEqual(r['orders'], user_orders_before['orders'])
        r = self.assertOk(self.admin.call('list', user_id=self.shop.user, include_deleted=True))
        self.assertEqual(r['orders'], [])
        self.settle()

    def test_cancel_after_initiate(self):
        a, b = self.new_sku(30), self.new_sku(30)
        o = self.shop.flow_to_initiated(cart_ending([(a, 4, 100), (b, 1, 900)], 0))
        self.assertStock(a, 26, 4)
        r = self.assertOk(self.shop.cancel(o['id'], reason='changed my mind'))
        self.assertEqual(r['order']['status'], 'cancelled', r)
        self.assertStock(a, 30, 0)
        self.assertStock(b, 30, 0)
        p = self.shop.payment(o['id'])
        self.assertEqual(p['status'], 'voided', p)
        self.assertEqual(p['captures'], 0, p)
        _, hist = self.shop.get(o['id'], history=True)
        self.assertEqual(hist[-1]['to'], 'cancelled', hist)
        self.assertEqual(hist[-1]['reason'], 'changed my mind', hist)
        # a confirm after the cancel captures nothing
        r = self.shop.confirm(o)
        self.assertError(r, 'invalid_transition')
        self.assertEqual(self.shop.payment(o['id'])['captures'], 0)
        self.settle()

    def test_cancel_pending(self):
        a = self.new_sku(30)
        o = self.shop.create_ok(make_cart([(a, 4, 100)]))
        r = self.assertOk(self.shop.cancel(o['id']))
        self.assertEqual(r['order']['status'], 'cancelled', r)
        self.assertStock(a, 30, 0)
        self.assertError(self.admin.call('payment', order_id=o['id']), 'not_found')
        self.settle()

    def test_confirm_twice_returns_confirmed_unchanged(self):
        a = self.new_sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        first = self.assertOk(self.shop.confirm(o))['order']
        self.assertEqual(first['status'], 'confirmed')
        second = self.assertOk(self.shop.confirm(o))['order']
        self.assertEqual(second, first)
        self.assertEqual(self.shop.get(o['id']), first)
        p = self.shop.payment(o['id'])
        self.assertEqual(p['captures'], 1, p)
        self.assertEqual(p['captured_amount'], first['total_amount'], p)
        self.assertStock(a, 9, 0)
        self.settle()

    def test_wrong_provider_order_id_changes_nothing(self):
        a = self.new_sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        before = self.shop.get(o['id'])
        _, hist_before = self.shop.get(o['id'], history=True)
        r = self.assertError(self.shop.confirm(o, provider_order_id='SBX-0000000000000000'),
                             'bad_request')
        self.assertIn('provider_order_id', error_message(r), r)
        r = self.assertError(self.shop.confirm(o, key='paypal_order_id',
                                               provider_order_id='nope'), 'bad_request')
        self.assertEqual(self.shop.get(o['id']), before)
        self.assertEqual(self.shop.get(o['id'], history=True)[1], hist_before)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures']), ('created', 0), p)
        self.assertStock(a, 9, 1)
        self.settle()         # cancels it
        self.assertEqual(self.shop.payment(o['id'])['status'], 'voided')

    def test_confirm_pending_is_invalid_transition(self):
        a = self.new_sku(10)
        o = self.shop.create_ok(make_cart([(a, 1, 1000)]))
        r = self.shop.c.call('confirm', order_id=o['id'], user_id=self.shop.user,
                             provider_order_id='SBX-0000000000000000')
        self.assertError(r, 'invalid_transition')
        self.assertEqual(self.shop.get(o['id']), o)
        self.assertStock(a, 9, 1)
        self.settle()

    def test_paypal_order_id_alias(self):
        a = self.new_sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 450)], 0))
        r = self.assertOk(self.shop.confirm(o, key='paypal_order_id'))
        self.assertEqual(r['order']['status'], 'confirmed', r)
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.assertStock(a, 8, 0)
        self.settle()

    def test_admin_advance_and_refusals(self):
        a = self.new_sku(10)
        pending = self.shop.create_ok(make_cart([(a, 1, 100)]))
        r = self.assertError(self.admin.call('advance', order_id=pending['id'], to='shipped'),
                             'invalid_transition')
        self.assertEqual(self.shop.get(pending['id']), pending)
        r = self.assertError(self.admin.call('advance', order_id=pending['id'], to='processing'),
                             'invalid_transition')
        self.assertEqual(self.shop.get(pending['id']), pending)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 1000)], 0))
        o = self.assertOk(self.shop.confirm(o))['order']
        # skipping a step is refused
        self.assertError(self.admin.call('advance', order_id=o['id'], to='shipped'),
                         'invalid_transition')
        self.assertError(self.admin.call('advance', order_id=o['id'], to='delivered'),
                         'invalid_transition')
        # not a target of advance
        r = self.admin.call('advance', order_id=o['id'], to='cancelled')
        self.assertIs(r.get('ok'), False, r)
        self.assertEqual(self.shop.get(o['id']), o)
        # advance is an admin op: the service door does not do it
        r = self.shop.c.call('advance', order_id=o['id'], user_id=self.shop.user,
                             to='processing')
        self.assertIs(r.get('ok'), False, r)
        self.assertEqual(self.shop.get(o['id'])['status'], 'confirmed')
        for to in ('processing', 'shipped', 'delivered'):
            r = self.assertOk(self.admin.call('advance', order_id=o['id'], to=to,
                                              reason='ops: ' + to))
            self.assertEqual(r['order']['status'], to, r)
            self.assertEqual(self.shop.get(o['id'])['status'], to)
            self.settle()    # committed quantities of every committed state count
        # nothing after delivered
        for to in ('processing', 'shipped', 'delivered'):
            self.assertError(self.admin.call('advance', order_id=o['id'], to=to),
                             'invalid_transition')
        _, hist = self.shop.get(o['id'], history=True)
        self.assertEqual([e['to'] for e in hist][-3:], ['processing', 'shipped', 'delivered'])
        self.assertEqual(hist[-1]['reason'], 'ops: delivered')
        self.assertStock(a, 8, 0)       # 10 - 2 delivered (the pending one was cancelled)
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.settle()

    def test_resolve_refused_when_not_needed(self):
        a = self.new_sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        o = self.assertOk(self.shop.confirm(o))['order']
        self.assertError(self.admin.call('resolve', order_id=o['id'], note='nothing to do'),
                         'invalid_transition')
        self.assertEqual(self.shop.get(o['id']), o)
        self.settle()

    def test_retry_without_saga_is_invalid_transition(self):
        a = self.new_sku(10)
        pending = self.shop.create_ok(make_cart([(a, 1, 100)]))
        self.assertError(self.admin.call('retry', order_id=pending['id']), 'invalid_transition')
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        self.assertError(self.admin.call('retry', order_id=o['id']), 'invalid_transition')
        o = self.assertOk(self.shop.confirm(o))['order']
        self.assertError(self.admin.call('retry', order_id=o['id']), 'invalid_transition')
        self.assertEqual(self.shop.get(o['id']), o)
        self.assertEqual(self.shop.get(pending['id']), pending)
        self.assertError(self.admin.call('retry', order_id='o' + '0' * 16), 'not_found')
        self.settle()


class StockGoneBeforeCapture(SagaCase):
    """Reservations lapse quickly; the stock is taken away before confirm."""
    overrides = {'fulfilment/reserve_ttl_ms': 300}

    def test_stock_gone_at_confirm_voids_and_captures_nothing(self):
        a, b = self.new_sku(10), self.new_sku(5)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 100), (b, 1, 800)], 0))
        time.sleep(0.5)                       # both reservations lapse
        self.assertStock(a, 10, 0)
        self.assertStock(b, 5, 0)
        self.set_stock(b, 0)
        r = self.assertError(self.shop.confirm(o), 'out_of_stock')
        self.assertIn(b, error_message(r), r)
        self.assertIsInstance(r.get('order'), dict, r)
        self.assertEqual(r['order']['status'], 'failed', r)
        self.assertIs(r['order']['needs_review'], False, r)
        self.assertEqual(self.shop.get(o['id'])['status'], 'failed')
        p = self.shop.payment(o['id'])
        self.assertEqual(p['status'], 'voided', p)
        self.assertEqual((p['captures'], p['captured_amount']), (0, 0), p)
        self.assertStock(a, 10, 0)
        self.assertStock(b, 0, 0)
        self.settle()

    def test_lapsed_reservation_is_taken_again(self):
        a = self.new_sku(10)
        o = self.shop.flow_to_initiated(cart_ending([(a, 3, 100)], 0))
        time.sleep(0.5)
        self.assertStock(a, 10, 0)
        r = self.assertOk(self.shop.confirm(o))
        self.assertEqual(r['order']['status'], 'confirmed', r)
        self.assertStock(a, 7, 0)
        self.settle()


class StockFailureAfterCapture(SagaCase):
    """A slow payment adapter: the reservations lapse while the capture is
    in flight, and one sku is emptied meanwhile."""
    overrides = {'fulfilment/reserve_ttl_ms': 300, 'payment/latency_ms': 1000,
                 'payment/timeout_ms': 4000}
    refund = False

    def fail_after_capture(self):
        a, b = self.new_sku(10), self.new_sku(4)
        cart = cart_ending([(a, 2, 100), (b, 1, 800)], 0)
        o = self.shop.flow_to_initiated(cart)
        body = self.shop.confirm_body(o)
        self.shop.c.send_body(body)
        time.sleep(0.65)              # check done, reservations lapsed, capture in flight
        self.assertStock(b, 4, 0)
        self.set_stock(b, 0)
        deadline = time.monotonic() + 10
        while True:
            r = self.shop.c.recv(int((deadline - time.monotonic()) * 1000))
            if r.get('rid') == body['rid']:
                break
        self.assertError(r, 'out_of_stock')
        self.assertIn(b, error_message(r), r)
        self.assertIsInstance(r.get('order'), dict, r)
        self.assertEqual(r['order']['status'], 'failed', r)
        self.assertStock(a, 10, 0)            # reduced, then restored
        self.assertStock(b, 0, 0)
        return o, r['order']

    def test_stock_failure_after_capture(self):
        o, failed = self.fail_after_capture()
        p = self.shop.payment(o['id'])
        self.assertEqual(p['captures'], 1, p)
        self.assertEqual(p['captured_amount'], o['total_amount'], p)
        if self.refund:
            self.assertIs(failed['needs_review'], False, failed)
            self.assertEqual(p['status'], 'refunded', p)
            self.assertEqual(p['refunded_amount'], o['total_amount'], p)
        else:
            self.assertIs(failed['needs_review'], True, failed)
            self.assertEqual(p['status'], 'captured', p)
            self.assertEqual(p['refunded_amount'], 0, p)
        got, hist = self.shop.get(o['id'], history=True)
        self.assertEqual(got['status'], 'failed')
        self.assertEqual(got['needs_review'], failed['needs_review'])
        self.assertEqual([e['to'] for e in hist],
                         ['pending', 'payment_initiated', 'paid', 'failed'], hist)
        self.assertEqual(self.admin.call('stats').get('ok'), True)
        summary = self.settle()
        if not self.refund:
            self.assertIn(o['id'], summary['needs_review'])

    def test_resolve_needs_review(self):
        if self.refund:
            self.skipTest('refund variant: nothing to review')
        o, failed = self.fail_after_capture()
        self.assertIs(failed['needs_review'], True)
        r = self.assertOk(self.admin.call('resolve', order_id=o['id'],
                                          note='refunded by hand, ticket 42'))
        self.assertIs(r['order']['needs_review'], False, r)
        self.assertEqual(r['order']['status'], 'failed', r)
        got, hist = self.shop.get(o['id'], history=True)
        self.assertIs(got['needs_review'], False)
        self.assertTrue(any('refunded by hand, ticket 42' in (e.get('reason') or '')
                            for e in hist), hist)
        self.assertEqual(hist[-1]['from'], hist[-1]['to'], hist)   # a note, no transition
        self.assertError(self.admin.call('resolve', order_id=o['id'], note='again'),
                         'invalid_transition')
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.settle()


class StockFailureAfterCaptureRefund(StockFailureAfterCapture):
    overrides = dict(StockFailureAfterCapture.overrides,
                     **{'orderd/on_stock_failure': 'refund'})
    refund = True


class PaymentTimeout(SagaCase):
    overrides = {'orderd/payment_timeout': 1500}

    def test_payment_timeout_cancels_pending_and_initiated(self):
        a, b = self.new_sku(10), self.new_sku(10)
        pending = self.shop.create_ok(make_cart([(a, 2, 100)]))
        initiated = self.shop.flow_to_initiated(cart_ending([(a, 1, 100), (b, 3, 100)], 0))
        self.assertStock(a, 7, 3)
        self.assertStock(b, 7, 3)

        def both_cancelled():
            got = [self.shop.get(pending['id']), self.shop.get(initiated['id'])]
            return got if all(o['status'] == 'cancelled' for o in got) else None
        sh.wait_until(both_cancelled, 6.0, 0.1, 'both orders cancelled by the payment timeout')
        for o in (pending, initiated):
            _, hist = self.shop.get(o['id'], history=True)
            self.assertEqual(hist[-1]['to'], 'cancelled', hist)
            self.assertEqual(hist[-1]['reason'], 'payment timeout', hist)
        p = self.shop.payment(initiated['id'])
        self.assertEqual(p['status'], 'voided', p)
        self.assertEqual(p['captures'], 0, p)
        self.assertStock(a, 10, 0)
        self.assertStock(b, 10, 0)
        # a confirm after the timeout captures nothing
        self.assertError(self.shop.confirm(initiated), 'invalid_transition')
        self.assertEqual(self.shop.payment(initiated['id'])['captures'], 0)
        self.settle()

    def test_initiate_restarts_the_clock(self):
        """Initiated just before its pending deadline, the order gets a full
        payment_timeout again (§5: 'left payment_initiated longer than')."""
        a = self.new_sku(10)
        o = self.shop.create_ok(make_cart([(a, 1, 100)]))
        time.sleep(1.0)
        o = self.shop.initiate_ok(o['id'])
        time.sleep(0.9)     # past the create deadline, well within the initiate one
        self.assertEqual(self.shop.get(o['id'])['status'], 'payment_initiated')
        r = self.assertOk(self.shop.confirm(o))
        self.assertEqual(r['order']['status'], 'confirmed', r)
        self.settle()


if __name__ == '__main__':
    unittest.main()
