#!/usr/bin/python3
"""Deadlines (docs/PROTOCOL.md, "Deadlines"): a request may carry
`deadline`, ms since the epoch; orderd refuses one whose deadline has
passed when it takes it up, with `deadline_exceeded`, and changes nothing.

No case here races the clock: a deadline is either long past or far
ahead when orderd sees it.

    /usr/bin/python3 tests/integration/test_deadline.py [-v]
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id, error_code, error_message  # noqa: E402

AHEAD_MS = 10 * 60 * 1000          # a deadline nobody reaches during a test


def user_orders(client, user):
    r = client.call_ok('list', user_id=user)
    return r['orders']


class Deadline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = h.start_daemon()

    @classmethod
    def tearDownClass(cls):
        h.stop_daemon(cls.d)

    def setUp(self):
        self.c = self.d.client()
        self.sku = new_id('SKU-')
        self.d.seed_stock({self.sku: 10})
        self.user = new_id('u-')
        self.fields = create_fields(self.user, make_cart([(self.sku, 2, 300)]))

    def stock(self):
        r = self.d.stock(self.sku)
        return r['available'], r['reserved']

    def test_past_deadline_is_refused_and_changes_nothing(self):
        r = self.c.call('create', rid='late', deadline=h.now_ms() - 1000, **self.fields)
        self.assertEqual(error_code(r), 'deadline_exceeded', r)
        self.assertEqual(r['rid'], 'late')
        self.assertNotIn('order', r)
        self.assertEqual(user_orders(self.c, self.user), [])
        self.assertEqual(self.stock(), (10, 0))

    def test_deadline_ahead_runs(self):
        r = self.c.call_ok('create', deadline=h.now_ms() + AHEAD_MS, **self.fields)
        self.assertEqual(r['order']['status'], 'pending')
        # reads take one too
        r = self.c.call_ok('get', user_id=self.user, order_id=r['order']['id'],
                           deadline=h.now_ms() + AHEAD_MS)
        self.assertEqual(r['order']['status'], 'pending')

    def test_reads_are_refused_too(self):
        for op, fields in (('list', {'user_id': self.user}), ('health', {})):
            r = self.c.call(op, deadline=1, **fields)
            self.assertEqual(error_code(r), 'deadline_exceeded', r)

    def test_deadline_of_the_wrong_type_is_bad_request(self):
        for bad in ('soon', 1.5e12, -5, 0, True, [1], {'at': 1}, 2 ** 64 - 1):
            r = self.c.call('create', deadline=bad, **self.fields)
            self.assertEqual(error_code(r), 'bad_request', (bad, r))
            self.assertIn('deadline', error_message(r), r)
        self.assertEqual(user_orders(self.c, self.user), [])
        # nil is the same as no deadline
        self.c.call_ok('create', deadline=None, **self.fields)

    def test_retry_with_a_new_deadline_is_the_same_request(self):
        first = self.c.call_ok('create', idem='k1', deadline=h.now_ms() + AHEAD_MS,
                               **self.fields)
        again = self.c.call_ok('create', idem='k1', deadline=h.now_ms() + AHEAD_MS + 1,
                               **self.fields)
        self.assertEqual(again['order']['id'], first['order']['id'])
        self.assertEqual(len(user_orders(self.c, self.user)), 1)

    def test_refusal_is_not_remembered_under_the_key(self):
        r = self.c.call('create', idem='k2', deadline=1, **self.fields)
        self.assertEqual(error_code(r), 'deadline_exceeded', r)
        r = self.c.call_ok('create', idem='k2', **self.fields)
        self.assertEqual(r['order']['status'], 'pending')


class WaitedForItsOrder(unittest.TestCase):
    """A request waits behind the ones before it on the same order; its
    deadline is checked again when the order's actor takes it up."""

    def test_cancel_queued_behind_a_slow_initiate_is_refused(self):
        with h.Daemon(overrides={'payment/latency_ms': 600}) as d:
            sku = new_id('SKU-')
            d.seed_stock({sku: 10})
            user = new_id('u-')
            c = d.client()
            o = c.call_ok('create', **create_fields(user, make_cart([(sku, 1, 300)])))['order']
            # the payment adapter answers no sooner than 600 ms: the cancel
            # behind it cannot start before its deadline 100 ms away
            c.send_body(c.body('initiate_payment', rid='slow', user_id=user, order_id=o['id']))
            c.send_body(c.body('cancel', rid='late', user_id=user, order_id=o['id'],
                               deadline=h.now_ms() + 100))
            replies = {}
            while len(replies) < 2:
                r = c.recv()
                replies[r['rid']] = r
            self.assertIs(replies['slow']['ok'], True, replies)
            self.assertEqual(error_code(replies['late']), 'deadline_exceeded', replies)
            r = c.call_ok('get', user_id=user, order_id=o['id'])
            self.assertEqual(r['order']['status'], 'payment_initiated')


class QueuedWhileDown(unittest.TestCase):
    """A DEALER queues what it sends while orderd is down and delivers it
    when orderd comes back: a create whose deadline passed meanwhile is
    refused then, and no order exists."""

    def test_create_sent_while_down_is_refused_after_its_deadline(self):
        with h.Daemon() as d:
            sku = new_id('SKU-')
            d.seed_stock({sku: 10})
            user = new_id('u-')
            fields = create_fields(user, make_cart([(sku, 1, 300)]))
            d.stop()
            c = d.client()              # connects while nobody listens
            sent_at = h.now_ms()
            c.send_body(c.body('create', rid='gave-up', deadline=sent_at + 200, **fields))
            # the control: the same queue delivers a request still wanted
            wanted = create_fields(user, make_cart([(sku, 1, 300)]), cart_id='c-wanted')
            c.send_body(c.body('create', rid='wanted', deadline=sent_at + AHEAD_MS, **wanted))
            while h.now_ms() <= sent_at + 200:
                time.sleep(0.05)
            d.start()
            replies = {}
            while len(replies) < 2:
                r = c.recv()
                replies[r['rid']] = r
            self.assertEqual(error_code(replies['gave-up']), 'deadline_exceeded', replies)
            self.assertIs(replies['wanted']['ok'], True, replies)
            orders = user_orders(c, user)
            self.assertEqual([o['cart_id'] for o in orders], ['c-wanted'])
            self.assertEqual(d.stock(sku)['reserved'], 1)


if __name__ == '__main__':
    unittest.main()
