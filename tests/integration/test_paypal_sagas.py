#!/usr/bin/python3
"""The shared saga and crash tests (test_sagas.py, test_crash.py), run again
with payment_paypal against the PayPal fake (--auto-approve, so orders are
approved at creation, standing in for the buyer). The fake's magic amounts
match the sandbox's (..02 declined, ..03 fails once), so every scenario
means the same. Nothing in those files is changed: each class here
subclasses one of theirs and only swaps the payment adapter.

    /usr/bin/python3 tests/integration/test_paypal_sagas.py [-v] [Class.test]

To keep the run near 40 s, the crash tests run one scenario per kind of
recovery (CRASH_SUBSET); ORDERD_PAYPAL_CRASH=all runs every crash point and
variant of test_crash.py (about 15 s more).
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'fakes', 'paypal'))
import orderd_harness as h  # noqa: E402
import test_sagas as ts  # noqa: E402
import test_crash as tc  # noqa: E402
from paypal_fixture import FakePayPal  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402

PLUGIN = os.path.join(h.BUILD, 'plugins', 'payment_paypal.so')


def _need_plugin():
    if not os.path.exists(PLUGIN):
        raise unittest.SkipTest('no %s (build it first)' % PLUGIN)


class PayPalSagaMixin:
    """Starts the fake before the class's daemon and points the daemon's
    payment section at it; the class's own overrides (latency, timeouts)
    still apply on top."""

    @classmethod
    def setUpClass(cls):
        _need_plugin()
        cls.pp = FakePayPal(auto_approve=True)
        base = super(PayPalSagaMixin, cls).overrides     # the test_sagas class's own
        cls.overrides = dict(cls.pp.overrides(), **base)
        try:
            super().setUpClass()
        except Exception:
            cls.pp.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.pp.stop()


class PayPalBasicSagas(PayPalSagaMixin, ts.BasicSagas):
    pass


class PayPalStockGoneBeforeCapture(PayPalSagaMixin, ts.StockGoneBeforeCapture):
    pass


class PayPalStockFailureAfterCapture(PayPalSagaMixin, ts.StockFailureAfterCapture):
    pass


class PayPalStockFailureAfterCaptureRefund(PayPalSagaMixin,
                                           ts.StockFailureAfterCaptureRefund):

    def test_refund_reaches_paypal(self):
        o, failed = self.fail_after_capture()
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['refunded_amount']), ('refunded', o['total_amount']), p)
        fake = self.pp.order(p['provider_order_id'])
        self.assertEqual([r['minor'] for r in fake['refunds']], [o['total_amount']])
        self.assertEqual(fake['capture']['status'], 'REFUNDED')
        refunds = [r for r in self.pp.requests()
                   if r['path'] == '/v2/payments/captures/%s/refund' % p['capture_id']]
        self.assertEqual([r['request_id'] for r in refunds], ['orderd-%s-refund' % o['id']])
        self.settle()


class PayPalPaymentTimeout(PayPalSagaMixin, ts.PaymentTimeout):
    pass


# The crash tests run by default: one per kind of recovery
CRASH_SUBSET = ('test_every_point_has_a_scenario',
                'test_initiate_created', 'test_confirm_checked', 'test_confirm_captured',
                'test_confirm_paid', 'test_confirm_compensating', 'test_confirm_aborting',
                'test_cancel_released', 'test_cancel_voided',
                'test_confirm_checked_confirm_declined',
                'test_confirm_logged_confirm_transient',
                'test_initiate_logged_keeps_the_urls')


class PayPalCrashPoints(tc.CrashPoints):
    """The crash scenarios of test_crash.py with payment_paypal (CRASH_SUBSET,
    or all with ORDERD_PAYPAL_CRASH=all): the fake lives for the class,
    daemons come and go."""

    @classmethod
    def setUpClass(cls):
        _need_plugin()
        cls.pp = FakePayPal(auto_approve=True)

    @classmethod
    def tearDownClass(cls):
        cls.pp.stop()

    def setUp(self):
        super().setUp()
        if os.environ.get('ORDERD_PAYPAL_CRASH') != 'all' \
                and self._testMethodName not in CRASH_SUBSET:
            self.skipTest('not in the PayPal crash subset (ORDERD_PAYPAL_CRASH=all runs it)')

    def test_initiate_logged_keeps_the_urls(self):
        """A crash at initiate.logged: the resumed create sends PayPal the
        URLs of the interrupted request (they used to be logged only after
        the saga's first record, so PayPal got none)."""
        self.start('initiate.logged', 'initiate')
        a = self.sku(10)
        o = self.shop.create_ok(cart_ending([(a, 2, 400)], 0))
        body = self.idem_body('initiate_payment', order_id=o['id'], user_id=self.shop.user,
                              return_url='https://shop.example/back/' + o['id'],
                              cancel_url='https://shop.example/cancel/' + o['id'])
        self.crash_with('initiate.logged', body)
        self.restart()
        got = self.shop.get(o['id'])
        self.assertEqual(got['status'], 'payment_initiated', got)
        fake = self.pp.order(got['payment']['provider_order_id'])
        self.assertEqual((fake['return_url'], fake['cancel_url']),
                         (body['return_url'], body['cancel_url']), fake)
        self.finish()

    def start(self, point, scenario):
        # test_crash's start(), with the payment section swapped
        saved = tc.OVERRIDES.get(scenario)
        tc.OVERRIDES[scenario] = dict(self.pp.overrides(), **(saved or {}))
        try:
            super().start(point, scenario)
        finally:
            if saved is None:
                tc.OVERRIDES.pop(scenario, None)
            else:
                tc.OVERRIDES[scenario] = saved


if __name__ == '__main__':
    unittest.main()
