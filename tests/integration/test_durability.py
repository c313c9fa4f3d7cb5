#!/usr/bin/python3
"""Durability: what orderd acknowledged survives SIGKILL and SIGTERM.

    /usr/bin/python3 tests/integration/test_durability.py [-v]
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id, error_code  # noqa: E402

N_ORDERS = 1000


class DurabilityCase(unittest.TestCase):
    """Every test gets its own daemon (they kill it)."""

    def setUp(self):
        self.d = h.Daemon(overrides={'orderd/sync': 'full'})
        self.d.start()
        self.c = self.d.client('dealer')
        self.admin = self.d.admin_client()

    def tearDown(self):
        try:
            if self.d.running():
                self.d.stop()
        finally:
            self.d.cleanup()

    def counts(self, sku):
        s = self.d.stock(sku)
        return s['available'], s['reserved']

    def get(self, order_id, user_id, history=False):
        r = self.c.call('get', order_id=order_id, user_id=user_id, history=history)
        self.assertTrue(r.get('ok'), r)
        return r

    def create_many(self, bodies, window=64):
        """Pipelined creates; a `busy` answer is retried (nothing was done)."""
        replies = {}
        todo = list(bodies)
        for attempt in range(50):
            got = self.c.pipeline(todo, window=window, timeout_ms=30000 * h.SLOW)
            retry = []
            for b in todo:
                r = got[b['rid']]
                if error_code(r) == 'busy':
                    retry.append(self.c.body('create', **{k: v for k, v in b.items()
                                                          if k not in ('v', 'op', 'rid')}))
                else:
                    replies[b['rid']] = (b, r)
            if not retry:
                return list(replies.values())
            todo = retry
            time.sleep(0.05)
        self.fail('create kept answering busy')

    def test_1000_orders_survive_sigkill(self):
        skus = {new_id('SKU-'): 10 ** 6 for _ in range(3)}
        self.d.seed_stock(skus)
        sku_list = sorted(skus)
        bodies = []
        for i in range(N_ORDERS):
            user = 'user-%d' % (i % 37)
            cart = make_cart([(sku_list[i % 3], 1 + i % 4, 100 + i),
                              (sku_list[(i + 1) % 3], 1, 50)])
            bodies.append(self.c.body('create', **create_fields(
                user, cart, cart_id='cart-%d' % i,
                user_data={'email': '%s@example.com' % user, 'n': i})))
        results = self.create_many(bodies)
        self.assertEqual(len(results), N_ORDERS)
        created = {}
        for b, r in results:
            self.assertTrue(r.get('ok'), r)
            created[r['order']['id']] = (b['user_id'], r['order'])
        self.assertEqual(len(created), N_ORDERS)
        reserved_before = {s: self.counts(s) for s in sku_list}

        self.d.kill()
        self.d.start()

        gets = []
        for oid, (user, _) in created.items():
            gets.append(self.c.body('get', order_id=oid, user_id=user))
        replies = self.c.pipeline(gets, window=64, timeout_ms=30000 * h.SLOW)
        missing, differ = [], []
        for b in gets:
            r = replies[b['rid']]
            if not r.get('ok'):
                missing.append((b['order_id'], r))
            elif r['order'] != created[b['order_id']][1]:
                differ.append((created[b['order_id']][1], r['order']))
        self.assertEqual(missing[:5], [], '%d of %d orders lost after SIGKILL'
                         % (len(missing), N_ORDERS))
        self.assertEqual(differ[:2], [], '%d orders differ after SIGKILL' % len(differ))
        everything = h.list_all_orders(self.admin)
        self.assertEqual({o['id'] for o in everything}, set(created))
        for s in sku_list:
            self.assertEqual(self.counts(s), reserved_before[s],
                             'stock of %s changed across SIGKILL' % s)
        h.check_invariants(self.admin, skus, allow_open=True)

    def test_sigterm_exits_0_and_restart_sees_everything(self):
        sku = new_id('SKU-')
        self.d.seed_stock({sku: 100})
        user = new_id('u-')
        c = self.c

        def create(price):
            return c.call_ok('create', **create_fields(user, make_cart([(sku, 1, price)])))['order']

        pending = create(1000)
        initiated = create(1100)
        initiated = c.call_ok('initiate_payment', order_id=initiated['id'],
                              user_id=user)['order']
        confirmed = create(1200)
        pay = c.call_ok('initiate_payment', order_id=confirmed['id'],
                        user_id=user)['order']['payment']
        confirmed = c.call_ok('confirm', order_id=confirmed['id'], user_id=user,
                              provider_order_id=pay['provider_order_id'])['order']
        cancelled = create(1300)
        cancelled = c.call_ok('cancel', order_id=cancelled['id'], user_id=user,
                              reason='durable reason')['order']
        deleted = create(1400)
        c.call_ok('cancel', order_id=deleted['id'], user_id=user)
        deleted = c.call_ok('delete', order_id=deleted['id'], user_id=user)['order']
        kept = [pending, initiated, confirmed, cancelled]
        histories = {o['id']: self.get(o['id'], user, history=True)['history'] for o in kept}
        listed = c.call_ok('list', user_id=user)
        stock = self.counts(sku)

        rc = self.d.stop()                   # asserts exit status 0
        self.assertEqual(rc, 0)
        self.d.start()

        for o in kept:
            r = self.get(o['id'], user, history=True)
            self.assertEqual(r['order'], o)
            self.assertEqual(r['history'], histories[o['id']])
        r = c.call('get', order_id=deleted['id'], user_id=user)
        self.assertEqual(error_code(r), 'not_found', r)
        self.assertEqual(c.call_ok('list', user_id=user)['orders'], listed['orders'])
        self.assertEqual(self.counts(sku), stock)
        adm = h.list_all_orders(self.admin, user_id=user)
        self.assertIn(deleted, adm)
        # the restarted daemon carries on: the initiated order can be confirmed
        # with the payment made before the restart, captured exactly once
        r = c.call_ok('confirm', order_id=initiated['id'], user_id=user,
                      provider_order_id=initiated['payment']['provider_order_id'])
        self.assertEqual(r['order']['status'], 'confirmed')
        self.assertEqual(r['order']['version'], 4)
        c.call_ok('cancel', order_id=pending['id'], user_id=user)
        h.check_invariants(self.admin, {sku: 100})

    def test_idempotency_survives_restart(self):
        sku = new_id('SKU-')
        self.d.seed_stock({sku: 10})
        user = new_id('u-')
        f = create_fields(user, make_cart([(sku, 2, 500)]))
        first = self.c.call_ok('create', idem='durable-key', rid='before', **f)

        self.d.kill()
        self.d.start()

        again = self.c.call_ok('create', idem='durable-key', rid='after', **f)
        self.assertEqual(again['rid'], 'after')
        self.assertEqual(again['order']['id'], first['order']['id'])
        self.assertEqual(again['order'], first['order'])
        other = dict(f, cart_data=make_cart([(sku, 3, 500)]))
        r = self.c.call('create', idem='durable-key', **other)
        self.assertEqual(error_code(r), 'idempotency_mismatch', r)
        self.assertEqual(len(self.c.call_ok('list', user_id=user)['orders']), 1)
        s = self.d.stock(sku)
        self.assertEqual((s['available'], s['reserved']), (8, 2))

        self.d.restart()                     # and across a clean restart too
        again = self.c.call_ok('create', idem='durable-key', rid='after-term', **f)
        self.assertEqual(again['order'], first['order'])

    def test_history_and_events_continue_after_restart(self):
        user = new_id('u-')
        sku = new_id('SKU-')
        self.d.seed_stock({sku: 5})
        o = self.c.call_ok('create', **create_fields(user, make_cart([(sku, 1, 100)])))['order']
        self.d.kill()
        self.d.start()
        sub = self.d.subscriber('order.')
        try:
            r = self.c.call_ok('cancel', order_id=o['id'], user_id=user)
            self.assertEqual(r['order']['version'], 2)
            import msgpack
            import zmq
            deadline = time.monotonic() + 5 * h.SLOW
            ev = None
            while time.monotonic() < deadline and ev is None:
                if sub.poll(100, zmq.POLLIN):
                    topic, body = sub.recv_multipart()
                    e = msgpack.unpackb(body, raw=False)
                    if e.get('order_id') == o['id']:
                        ev = (topic, e)
            self.assertIsNotNone(ev, 'no event for the cancel after restart')
            self.assertEqual(ev[0], b'order.cancelled')
            self.assertEqual(ev[1]['seq'], 2)
        finally:
            sub.close(linger=0)
        hist = self.get(o['id'], user, history=True)['history']
        self.assertEqual([e['seq'] for e in hist], [1, 2])
        self.assertEqual(self.d.stock(sku)['available'], 5)


if __name__ == '__main__':
    unittest.main(verbosity=2)
