#!/usr/bin/python3
"""Start-up recovery runs behind open doors: a slow or failing payment
provider must not keep orderd from answering after a restart (issue 12,
item 6; docs/SAGAS.md, rule 3).

Each test leaves three confirm sagas unfinished in the store (PayPal, the
project's fake, fails every capture, so they are suspended), kills orderd
with SIGKILL, and starts it again:

- with the provider slow (the first capture held PROVIDER_DELAY_S): get,
  list, health and a new create are all answered before that one capture
  could have come back, while health says recovery is still running; a
  confirm retried meanwhile waits behind its order's recovery and answers
  with its outcome; afterwards two orders are confirmed, one (declined) is
  failed, and the invariants hold;
- with the provider still failing: the same requests are answered, recovery
  ends with the sagas suspended, and the background retry finishes them
  once the provider is back.

    /usr/bin/python3 tests/integration/test_recovery.py [-v] [Class.test]

Each test prints how long the restart took to its first answer (the
harness's health probe), the figure quoted in docs/OPERATIONS.md.
"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'fakes', 'paypal'))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, new_id, error_code  # noqa: E402
import saga_helpers as sh  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402
from paypal_fixture import FakePayPal  # noqa: E402

PLUGIN = os.path.join(h.BUILD, 'plugins', 'payment_paypal.so')

# How long the provider holds the first capture after the restart: every
# answer the test waits for must come before it, however slow the machine
PROVIDER_DELAY_S = 5.0 * h.SLOW


class Scenario:
    """Three sagas left unfinished by a crash, and a restart."""

    retry_ms = 60000           # recovery alone drives the sagas at the restart

    def setUp(self):
        if not os.path.exists(PLUGIN):
            self.skipTest('no %s (build it first)' % PLUGIN)
        self.pp = FakePayPal(auto_approve=True)
        delay_ms = int(PROVIDER_DELAY_S * 1000)
        # Calls outlast the delay: no timeout ends a drive early
        self.d = h.Daemon(overrides=self.pp.overrides(**{
            'payment/timeout_ms': delay_ms + 10000,
            'payment/http_timeout_ms': delay_ms + 5000,
            'orderd/saga_retry_ms': self.retry_ms}))
        self.d.start()
        self.connect()
        self.skus = {}

    def tearDown(self):
        if not getattr(self._outcome, 'success', True):
            sys.stderr.write('\n--- daemon log tail (%s) ---\n%s\n'
                             % (self.id(), self.d.log_tail(40)))
        self.d.cleanup()
        self.pp.stop()

    def connect(self, user=None):
        self.admin = self.d.admin_client()
        self.shop = sh.Shop(self.d, user=user, client=self.d.client('dealer'),
                            admin=self.admin)

    def sku(self, n):
        s = new_id('SKU-')
        self.shop.set_stock(s, n)
        self.skus[s] = n
        return s

    def crash_with_three_sagas(self):
        """Three initiated orders (totals ending 00, 00 and 02: PayPal
        declines the last) whose confirms are suspended while PayPal fails
        every capture; then SIGKILL. Returns the orders and the confirm
        bodies."""
        a = self.sku(20)
        orders = [self.shop.flow_to_initiated(cart_ending([(a, 1 + i, 300)], end))
                  for i, end in enumerate((0, 0, 2))]
        self.pp.fail(status=500, match='/capture', count=-1)
        bodies = []
        for o in orders:
            body = self.shop.confirm_body(o, idem=new_id('idem-'))
            r = self.shop.c.call_body(body)
            self.assertEqual(error_code(r), 'unavailable', r)
            bodies.append(body)
        self.d.kill()
        for c in self.d.clients:
            c.close()
        self.d.clients = []
        return orders, bodies

    def restart(self):
        """Starts orderd again; returns the seconds from spawning it to its
        first answer."""
        started = time.monotonic()
        self.d.start()
        first_answer_s = time.monotonic() - started
        sys.stderr.write('\n%s: restart to first answer %.3f s\n' % (self.id(), first_answer_s))
        self.connect(self.shop.user)
        return started

    def answers_everything(self, orders):
        """get, list, health and a new create, on the service door; returns
        the detailed health."""
        # As last committed: still payment_initiated, or on its way or
        # finished when its capture was not the one held
        for o in orders:
            got = self.shop.get(o['id'])
            self.assertIn(got['status'], ('payment_initiated', 'paid', 'confirmed', 'failed'),
                          got)
        listed = sh.ok(self.shop.c.call('list', user_id=self.shop.user), 'list')
        self.assertEqual(sorted(o['id'] for o in listed['orders']),
                         sorted(o['id'] for o in orders))
        health = sh.ok(self.shop.c.call('health', detailed=True), 'health')
        self.shop.create_ok(make_cart([(self.sku(5), 1, 100)]))
        return health

    def wait_recovered(self):
        return sh.wait_recovered(self.shop.c, PROVIDER_DELAY_S + 20)

    def check_outcomes(self, orders):
        statuses = [self.shop.get(o['id'])['status'] for o in orders]
        self.assertEqual(statuses, ['confirmed', 'confirmed', 'failed'])
        for o, captures in zip(orders, (1, 1, 0)):
            self.assertEqual(self.shop.payment(o['id'])['captures'], captures, o['id'])
        sh.settle_and_check(self.d, self.admin, self.skus, service=self.shop.c)



class SlowProvider(Scenario, unittest.TestCase):

    def test_slow_provider_does_not_hold_the_doors(self):
        orders, bodies = self.crash_with_three_sagas()
        self.pp.fail(count=0)
        self.pp.delay(int(PROVIDER_DELAY_S * 1000), match='/capture', count=1)
        started = self.restart()
        health = self.answers_everything(orders)
        answered_s = time.monotonic() - started
        self.assertLess(answered_s, PROVIDER_DELAY_S,
                        'get, list, health and create waited for the provider')
        self.assertGreaterEqual(health.get('sagas_recovering', -1), 1, health)
        # A confirm retried now waits behind its order's recovery, then
        # answers with what the recovered saga made of it
        for body in bodies:
            retry = dict(body, rid=new_id('rid-'))
            self.shop.c.send_body(retry)
        replies = {}
        while len(replies) < len(bodies):
            r = self.shop.c.recv(int((PROVIDER_DELAY_S + 20) * 1000))
            replies[r.get('rid')] = r
        outcomes = [(r.get('ok'), (r.get('order') or {}).get('status'), error_code(r))
                    for r in replies.values()]
        self.assertEqual(sorted(outcomes, key=repr), sorted([
            (True, 'confirmed', None), (True, 'confirmed', None),
            (False, 'failed', 'invalid_transition')], key=repr), replies)
        health = self.wait_recovered()
        self.assertEqual(health['sagas_recovered'], 3, health)
        self.check_outcomes(orders)



class FailingProvider(Scenario, unittest.TestCase):

    retry_ms = 300             # the background retry runs beside recovery

    def test_failing_provider_does_not_hold_the_doors(self):
        orders, _ = self.crash_with_three_sagas()
        self.restart()
        health = self.answers_everything(orders)
        self.assertIn('sagas_recovering', health)
        # Recovery ends with every saga suspended again...
        health = self.wait_recovered()
        self.assertEqual(health['sagas_recovered'], 0, health)
        # ...and once PayPal is back, the background retry finishes them
        self.pp.fail(count=0)

        def finished():
            statuses = [self.shop.get(o['id'])['status'] for o in orders]
            return 'payment_initiated' not in statuses and 'paid' not in statuses
        sh.wait_until(finished, 20, 0.1, 'the background retry to finish the sagas')
        self.check_outcomes(orders)


if __name__ == '__main__':
    unittest.main()
