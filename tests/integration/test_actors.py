#!/usr/bin/python3
"""The actor pool: live actors stay within orderd/max_live_actors, an idle
actor passivates and its order is read back from LMDB on its next request,
and when every actor is busy requests wait in a bounded queue, then get
`busy` without anything stored."""
import unittest

import orderd_harness as h

SKU = 'sku-actors'


def cart():
    return h.make_cart([(SKU, 1, 1000)], shipping=0)


class ActorPool(unittest.TestCase):
    def test_threads_carry_their_names(self):
        """docs/OPERATIONS.md: top -H tells the front, the writer, the
        actors and each adapter apart."""
        daemon = h.Daemon()
        self.addCleanup(daemon.cleanup)
        daemon.start()
        service = h.Client(daemon.service)
        admin = h.Client(daemon.admin)
        self.addCleanup(service.close)
        self.addCleanup(admin.close)
        admin.call_ok('stock', sku=SKU, set=10)
        service.call_ok('create', **h.create_fields('u-names', cart()))
        names = h.thread_names(daemon.proc.pid)
        for name in ('orderd', 'ord-writer', 'ord-actor', 'ad-payment_sand', 'ad-fulfilment_l'):
            self.assertIn(name, names)

    def test_live_actors_stay_within_the_cap_and_orders_rehydrate(self):
        daemon = h.Daemon(overrides={'orderd/max_live_actors': 3,
                                     'orderd/actor_idle_ms': 200})
        self.addCleanup(daemon.cleanup)
        daemon.start()
        service = h.Client(daemon.service)
        admin = h.Client(daemon.admin)
        self.addCleanup(service.close)
        self.addCleanup(admin.close)
        admin.call_ok('stock', sku=SKU, set=100)
        orders = [service.call_ok('create', **h.create_fields('u-pool', cart()))['order']
                  for _ in range(12)]
        self.assertLessEqual(service.call_ok('health', detailed=True)['live_actors'], 3)
        # The first orders' actors were long since rebound to later orders:
        # their orders come back from the store, whole, and move on
        for order in orders[:4]:
            got = service.call_ok('get', user_id='u-pool', order_id=order['id'])['order']
            self.assertEqual(got, order)
            paid = service.call_ok('initiate_payment', user_id='u-pool',
                                   order_id=order['id'])['order']
            done = service.call_ok('confirm', user_id='u-pool', order_id=order['id'],
                                   provider_order_id=paid['payment']['provider_order_id'])
            self.assertEqual(done['order']['status'], 'confirmed')
            self.assertEqual(done['order']['version'], 4)
        self.assertLessEqual(service.call_ok('health', detailed=True)['live_actors'], 3)
        for order in orders[4:]:
            service.call_ok('cancel', user_id='u-pool', order_id=order['id'])
        stock = admin.call_ok('stock', sku=SKU)
        self.assertEqual((stock['available'], stock['reserved']), (96, 0))

    def test_busy_when_every_actor_is_busy_and_the_queue_is_full(self):
        # Two actors, a queue of three, and a slow stock adapter: of ten
        # creates sent at once, five find neither an actor nor a place
        daemon = h.Daemon(overrides={'orderd/max_live_actors': 2,
                                     'orderd/max_queue': 3,
                                     'fulfilment/latency_ms': 400})
        self.addCleanup(daemon.cleanup)
        daemon.start()
        admin = h.Client(daemon.admin)
        self.addCleanup(admin.close)
        admin.call_ok('stock', sku=SKU, set=100)
        service = h.Client(daemon.service, timeout_ms=20000)
        self.addCleanup(service.close)
        bodies = [service.body('create', **h.create_fields('u-busy-%d' % i, cart()))
                  for i in range(10)]
        replies = list(service.pipeline(bodies).values())
        codes = sorted(r['error']['code'] if not r['ok'] else 'ok' for r in replies)
        self.assertEqual(codes.count('busy'), 5, codes)
        self.assertEqual(codes.count('ok'), 5, codes)
        # The refused ones stored nothing and reserved nothing
        stored = admin.call_ok('list', limit=500)['orders']
        self.assertEqual(len(stored), 5)
        stock = admin.call_ok('stock', sku=SKU)
        self.assertEqual((stock['available'], stock['reserved']), (95, 5))
        # And orderd serves on once the burst is over
        self.assertEqual(h.Client(daemon.service).call_ok('health')['status'], 'ok')


if __name__ == '__main__':
    unittest.main()
