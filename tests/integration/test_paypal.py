#!/usr/bin/python3
"""payment_paypal against tests/fakes/paypal/fake_paypal.py: the order flow
with the buyer's approval, PayPal's errors as orderd sees them, token
refresh, PayPal-Request-Id dedupe, the local void, secrets kept out of logs,
and the config refusals.

    /usr/bin/python3 tests/integration/test_paypal.py [-v] [Class.test]
"""
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'fakes', 'paypal'))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, error_code, error_message  # noqa: E402
import saga_helpers as sh  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402
from paypal_fixture import FakePayPal  # noqa: E402

HTTP_TIMEOUT_MS = 1000          # below the harness's payment/timeout_ms (2000)


def paypal_so():
    return os.path.join(h.BUILD, 'plugins', 'payment_paypal.so')


class PayPalCase(unittest.TestCase):
    """One fake and one daemon per class."""
    auto_approve = False
    overrides = {}

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(paypal_so()):
            raise unittest.SkipTest('no %s (build it first)' % paypal_so())
        cls.pp = FakePayPal(auto_approve=cls.auto_approve)
        ov = cls.pp.overrides(**{'payment/http_timeout_ms': HTTP_TIMEOUT_MS,
                                 'orderd/saga_retry_ms': 100})
        ov.update(cls.overrides)
        cls.d = h.Daemon(overrides=ov)
        try:
            cls.d.start()
        except Exception:
            cls.d.cleanup()
            cls.pp.stop()
            raise
        cls.admin = cls.d.admin_client()
        cls.skus = {}

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()
            cls.pp.stop()

    def setUp(self):
        self.shop = sh.Shop(self.d, admin=self.admin)

    def tearDown(self):
        if not getattr(self._outcome, 'success', True):
            sys.stderr.write('\n--- daemon log tail (%s) ---\n%s\n'
                             % (self.id(), self.d.log_tail(30)))

    def new_sku(self, n=100):
        sku = h.new_id('SKU-')
        self.shop.set_stock(sku, n)
        type(self).skus[sku] = n
        return sku

    def settle(self):
        return sh.settle_and_check(self.d, self.admin, type(self).skus,
                                   service=self.shop.c)

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

    def pid(self, order):
        return order['payment']['provider_order_id']

    def calls(self, paypal_id, what='capture'):
        """The fake's log of requests on one PayPal order's path."""
        suffix = {'capture': '/v2/checkout/orders/%s/capture' % paypal_id,
                  'order': '/v2/checkout/orders/%s' % paypal_id}[what]
        return [r for r in self.pp.requests() if r['path'] == suffix]


class Flows(PayPalCase):
    """The buyer approves at the fake's approve endpoint, as on PayPal."""

    def test_full_flow_with_approval(self):
        a = self.new_sku(20)
        cart = cart_ending([(a, 2, 1000)], 0)
        o = self.shop.flow_to_initiated(cart)
        pay = o['payment']
        pid = pay['provider_order_id']
        self.assertEqual(pay['provider'], 'payment_paypal')
        self.assertEqual(pay['approval_url'], self.pp.base_url + '/checkoutnow?token=' + pid)
        fake = self.pp.order(pid)
        self.assertEqual((fake['status'], fake['intent']), ('CREATED', 'CAPTURE'))
        self.assertEqual((fake['currency'], fake['minor']), ('USD', cart['costs']['total']))
        self.assertEqual(fake['custom_id'], o['id'])
        self.assertEqual(fake['return_url'], 'https://shop.example/ok')
        self.assertEqual(fake['cancel_url'], 'https://shop.example/cancel')
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['paypal_status'], p['captures']),
                         ('created', 'CREATED', 0), p)

        self.pp.approve(pid)                    # the buyer, at PayPal
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['paypal_status']), ('created', 'APPROVED'), p)
        o = self.assertOk(self.shop.confirm(o))['order']
        self.assertEqual(o['status'], 'confirmed')
        self.assertTrue(o['payment']['capture_id'])
        fake = self.pp.order(pid)
        self.assertEqual(fake['status'], 'COMPLETED')
        self.assertEqual(fake['capture']['id'], o['payment']['capture_id'])
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['paypal_status'], p['captures'], p['captured_amount'],
                          p['refunded_amount'], p['capture_id']),
                         ('captured', 'COMPLETED', 1, o['total_amount'], 0,
                          o['payment']['capture_id']), p)
        # every mutating call carried its (order_id, op) request id
        ids = [r['request_id'] for r in self.pp.requests()
               if r['method'] == 'POST' and r['path'].startswith('/v2/')
               and (pid in r['path'] or r['path'] == '/v2/checkout/orders')]
        self.assertIn('orderd-%s-create' % o['id'], ids)
        self.assertIn('orderd-%s-capture' % o['id'], ids)
        # a second confirm answers from the ledger: no call to PayPal
        before = len(self.calls(pid))
        self.assertOk(self.shop.confirm(o))
        self.assertEqual(len(self.calls(pid)), before)
        self.assertStock(a, 18, 0)
        self.settle()

    def test_confirm_before_approval_fails_the_order(self):
        a = self.new_sku(20)
        o = self.shop.flow_to_initiated(cart_ending([(a, 3, 100)], 0))
        self.assertStock(a, 17, 3)
        r = self.assertError(self.shop.confirm(o), 'payment_declined')
        self.assertIn('payer has not approved', error_message(r))
        self.assertEqual(r['order']['status'], 'failed', r)
        self.assertIs(r['order']['needs_review'], False, r)
        self.assertStock(a, 20, 0)               # released
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures'], p['captured_amount']),
                         ('created', 0, 0), p)
        self.assertEqual(self.pp.order(self.pid(o))['status'], 'CREATED')
        self.settle()

    def test_declined_capture(self):
        a = self.new_sku(20)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 700)], 2))
        self.pp.approve(self.pid(o))
        r = self.assertError(self.shop.confirm(o), 'payment_declined')
        self.assertIn('INSTRUMENT_DECLINED', error_message(r))
        self.assertEqual(r['order']['status'], 'failed', r)
        self.assertStock(a, 20, 0)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures'], p['captured_amount']),
                         ('declined', 0, 0), p)
        n = len(self.calls(self.pid(o)))
        self.assertEqual(n, 1)
        # asking again answers from the ledger
        self.assertIs(self.shop.confirm(o).get('ok'), False)
        self.assertEqual(len(self.calls(self.pid(o))), n)
        self.settle()

    def test_transient_503_is_retried(self):
        a = self.new_sku(20)
        cart = cart_ending([(a, 1, 1000)], 3)
        o = self.shop.flow_to_initiated(cart)
        self.pp.approve(self.pid(o))
        r = self.assertOk(self.shop.confirm(o))
        self.assertEqual(r['order']['status'], 'confirmed', r)
        self.assertEqual([c['status'] for c in self.calls(self.pid(o))], [503, 201])
        p = self.shop.payment(o['id'])
        self.assertEqual((p['captures'], p['captured_amount']), (1, cart['costs']['total']))
        self.settle()

    def test_expired_token_is_refreshed(self):
        a = self.new_sku(20)
        o = self.shop.create_ok(cart_ending([(a, 1, 1000)], 0))
        tokens = self.pp.state()['counters']['token_requests']
        self.pp.expire_tokens()
        o = self.shop.initiate_ok(o['id'])       # 401, new token, same call again
        self.pp.expire_tokens()
        self.pp.approve(self.pid(o))
        r = self.assertOk(self.shop.confirm(o))
        self.assertEqual(r['order']['status'], 'confirmed')
        state = self.pp.state()
        self.assertEqual(state['counters']['token_requests'], tokens + 2)
        log = self.pp.requests()
        creates = [x['status'] for x in log if x['request_id'] == 'orderd-%s-create' % o['id']]
        self.assertEqual(creates, [401, 201])
        captures = [x['status'] for x in self.calls(self.pid(o))]
        self.assertEqual(captures, [401, 201])
        self.assertEqual(self.pp.order(self.pid(o))['capture_attempts'], 1)
        self.settle()

    def test_request_id_dedupes_a_retried_capture(self):
        """The capture's answer is lost (slower than http_timeout_ms): orderd
        retries, the retry carries the same PayPal-Request-Id and PayPal
        answers with the first capture instead of capturing again."""
        a = self.new_sku(20)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        pid = self.pid(o)
        self.pp.approve(pid)
        captures = self.pp.state()['counters']['captures']
        self.pp.delay(HTTP_TIMEOUT_MS + 700, match='/capture', count=1)
        try:
            r = self.assertOk(self.shop.confirm(o))
        finally:
            self.pp.delay(0)
        self.assertEqual(r['order']['status'], 'confirmed', r)
        calls = self.calls(pid)
        self.assertEqual(len(calls), 2, calls)
        self.assertEqual(len({c['request_id'] for c in calls}), 1, calls)
        self.assertEqual([c['replayed'] for c in calls], [False, True], calls)
        self.assertEqual(self.pp.state()['counters']['captures'], captures + 1)
        fake = self.pp.order(pid)
        self.assertEqual(fake['capture_attempts'], 1)
        self.assertEqual(r['order']['payment']['capture_id'], fake['capture']['id'])
        self.assertEqual(self.shop.payment(o['id'])['captures'], 1)
        self.settle()

    def test_cancel_after_initiate_voids_locally(self):
        a = self.new_sku(20)
        o = self.shop.flow_to_initiated(cart_ending([(a, 2, 100)], 0))
        pid = self.pid(o)
        before = len(self.pp.requests())
        r = self.assertOk(self.shop.cancel(o['id'], reason='changed my mind'))
        self.assertEqual(r['order']['status'], 'cancelled', r)
        self.assertStock(a, 20, 0)
        # nothing sent to PayPal: the order simply expires there
        self.assertEqual(self.pp.requests()[before:], [])
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['paypal_status'], p['captures']),
                         ('voided', 'CREATED', 0), p)
        # the buyer approves late: still nothing is captured
        self.pp.approve(pid)
        self.assertError(self.shop.confirm(o), 'invalid_transition')
        self.assertEqual(self.calls(pid), [])
        self.assertEqual(self.pp.order(pid)['status'], 'APPROVED')
        self.settle()

    def test_paypal_down_suspends_then_finishes(self):
        a = self.new_sku(20)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        self.pp.approve(self.pid(o))
        self.pp.fail(500, match='/capture', count=-1)
        try:
            r = self.assertError(self.shop.confirm(o), 'unavailable')
        finally:
            self.pp.fail(count=0)
        got = sh.wait_until(lambda: (lambda x: x if x['status'] == 'confirmed' else None)(
            self.shop.get(o['id'])), 10.0, 0.1, 'the background retry to confirm')
        self.assertIs(got['needs_review'], False)
        self.assertEqual(self.pp.order(self.pid(o))['capture_attempts'], 1)
        p = self.shop.payment(o['id'])
        self.assertEqual((p['status'], p['captures']), ('captured', 1), p)
        self.settle()

    def test_currency_exponents(self):
        a = self.new_sku(50)
        for currency, total, minor_at_paypal in (('JPY', 1500, 1500), ('BHD', 12345, 12345),
                                                 ('HUF', 150000, 150000 // 100)):
            cart = make_cart([(a, 1, total - 500)])
            self.assertEqual(cart['costs']['total'], total)
            o = self.shop.create_ok(cart, currency=currency)
            o = self.shop.initiate_ok(o['id'])
            fake = self.pp.order(self.pid(o))
            self.assertEqual((fake['currency'], fake['minor']), (currency, minor_at_paypal))
            self.pp.approve(self.pid(o))
            r = self.assertOk(self.shop.confirm(o))
            self.assertEqual(r['order']['status'], 'confirmed', r)
            p = self.shop.payment(o['id'])
            self.assertEqual((p['currency'], p['captured_amount']), (currency, total), p)
        # HUF in fillér that are not whole forints: PayPal takes none
        o = self.shop.create_ok(make_cart([(a, 1, 150050 - 500)]), currency='HUF')
        r = self.assertError(self.shop.initiate(o['id']), 'bad_request')
        self.assertIn('HUF', error_message(r))
        self.settle()

    def test_secret_never_logged(self):
        # by now the other tests have run (alphabetical order): look at
        # everything the daemon wrote
        a = self.new_sku(5)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        self.pp.approve(self.pid(o))
        self.assertOk(self.shop.confirm(o))
        secret = self.pp.secret.encode()
        for root, _, files in os.walk(self.d.tmp):
            for name in files:
                with open(os.path.join(root, name), 'rb') as f:
                    data = f.read()
                self.assertNotIn(secret, data, 'the secret is in %s' % name)
                self.assertNotIn(b'Bearer A21AA', data, 'a token is in %s' % name)
        self.settle()


class Slowness(PayPalCase):
    """A slow PayPal holds back nobody, and `health` tells slow from down."""
    overrides = {'payment/http_timeout_ms': 1400,       # PayPal 0.9 s late is slow, not down
                 'orderd/saga_retry_ms': 1000}

    def health(self):
        r = self.shop.c.call('health', detailed=True)
        self.assertOk(r)
        return r['checks']['payment']

    def test_slow_paypal_keeps_health_ok_and_calls_overlap(self):
        a = self.new_sku(50)
        orders = [self.shop.create_ok(cart_ending([(a, 1, 1000)], 0)) for _ in range(8)]
        self.pp.delay(900, match='/v2/checkout/orders')
        answers = []
        try:
            threads = [threading.Thread(target=lambda o=o: answers.append(
                sh.Shop(self.d, user=self.shop.user, admin=self.admin).initiate(o['id'])))
                for o in orders]
            for t in threads:
                t.start()
            # Eight creates of 0.9 s each, side by side (one after the
            # other they would take 7 s): the probes (every 2 s, 1 s to
            # answer) keep finding the adapter alive
            checks = []
            while any(t.is_alive() for t in threads):
                checks.append(self.health()['status'])
                time.sleep(0.2)
            for t in threads:
                t.join()
        finally:
            self.pp.delay(0)
        for r in answers:
            self.assertEqual(self.assertOk(r)['order']['status'], 'payment_initiated', r)
        self.assertEqual(set(checks), {'ok'}, checks)
        self.assertEqual(self.health()['status'], 'ok')

    def test_health_names_a_429_and_the_saga_finishes_after_it(self):
        a = self.new_sku(20)
        o = self.shop.flow_to_initiated(cart_ending([(a, 1, 1000)], 0))
        self.pp.approve(self.pid(o))
        self.pp.fail(429, match='/capture', count=1, retry_after=4)
        # The 429 and the pause after it outlast orderd's retries: unavailable
        r = self.assertError(self.shop.confirm(o), 'unavailable')
        check = sh.wait_until(lambda: (lambda c: c if c['status'] == 'down' else None)(
            self.health()), 5.0, 0.1, 'health to name the 429')
        self.assertIn('429', check['reason'], check)
        self.assertIn('Retry-After', check['reason'], check)
        # After the pause the background retry confirms, and health is ok
        sh.wait_until(lambda: (lambda x: x if x['status'] == 'confirmed' else None)(
            self.shop.get(o['id'])), 20.0, 0.1, 'the background retry to confirm')
        sh.wait_until(lambda: self.health()['status'] == 'ok', 10.0, 0.1, 'health ok again')
        self.assertEqual(len([c for c in self.calls(self.pid(o)) if c['status'] == 429]), 1)
        self.settle()


class Config(unittest.TestCase):
    """Refusals at start, and the secret from the environment."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(paypal_so()):
            raise unittest.SkipTest('no %s (build it first)' % paypal_so())
        cls.pp = FakePayPal()

    @classmethod
    def tearDownClass(cls):
        cls.pp.stop()

    def refused(self, overrides, env=None):
        d = h.Daemon(overrides=overrides)
        try:
            with self.assertRaises(h.DaemonError) as cm:
                sh.start_with_env(d, env or {'ORDERD_PAYPAL_SECRET': None})
            self.assertEqual(d.proc.returncode, 2)
            return str(cm.exception)
        finally:
            d.cleanup()

    def test_secret_in_config_is_refused(self):
        text = self.refused(self.pp.overrides(**{'payment/secret': 'IN-THE-CONFIG-0815'}))
        self.assertIn('secret: the PayPal secret never goes in the config file', text)
        self.assertIn('secret_file', text)
        self.assertNotIn('IN-THE-CONFIG-0815', text.split('\n', 1)[-1])

    def test_no_secret_is_refused(self):
        text = self.refused(self.pp.overrides(**{'payment/secret_file': None}))
        self.assertIn('ORDERD_PAYPAL_SECRET', text)

    def test_missing_client_id_is_refused(self):
        text = self.refused(self.pp.overrides(**{'payment/client_id': None}))
        self.assertIn('client_id: required', text)

    def test_unreadable_secret_file_is_refused(self):
        text = self.refused(self.pp.overrides(**{'payment/secret_file': '/nonexistent/x'}))
        self.assertIn('secret_file: cannot read', text)

    def test_secret_from_environment(self):
        d = h.Daemon(overrides=self.pp.overrides(**{'payment/secret_file': None}))
        try:
            sh.start_with_env(d, {'ORDERD_PAYPAL_SECRET': self.pp.secret})
            shop = sh.Shop(d)
            shop.set_stock('SKU-E', 5)
            o = shop.flow_to_initiated(make_cart([('SKU-E', 1, 1000)]))
            self.assertTrue(o['payment']['provider_order_id'])
            d.stop()
            with open(d.log_path, 'rb') as f:
                self.assertNotIn(self.pp.secret.encode(), f.read())
        finally:
            d.cleanup()

    def test_wrong_secret_is_unavailable(self):
        """PayPal refuses the client credentials: calls are unavailable (an
        operator must fix it), the message names the client id, never the
        secret."""
        wrong = os.path.join(self.pp.tmp, 'wrong.secret')
        with open(wrong, 'w') as f:
            f.write('NOT-THE-SECRET-4711\n')
        os.chmod(wrong, 0o600)
        d = h.Daemon(overrides=self.pp.overrides(**{'payment/secret_file': wrong,
                                                      'payment/http_timeout_ms': 1000}))
        try:
            d.start()
            shop = sh.Shop(d)
            shop.set_stock('SKU-W', 5)
            o = shop.create_ok(make_cart([('SKU-W', 1, 1000)]))
            r = shop.initiate(o['id'])
            self.assertEqual(error_code(r), 'unavailable', r)
            self.assertEqual(shop.get(o['id'])['status'], 'pending')
            d.stop()
            with open(d.log_path, 'rb') as f:
                log = f.read()
            self.assertIn(b'refused the client credentials', log)
            self.assertNotIn(b'NOT-THE-SECRET-4711', log)
            self.assertNotIn(b'NOT-THE-SECRET-4711', str(r).encode())
        finally:
            d.cleanup()


if __name__ == '__main__':
    unittest.main()
