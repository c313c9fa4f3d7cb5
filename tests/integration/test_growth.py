#!/usr/bin/python3
"""A store that never fills up by surprise: orderd's store and both local
adapters' environments start at 1 MiB, the least allowed, and their maps
grow as they fill. A load of full orders (create, initiate_payment,
confirm, from orderbench) gets no error at all, health stays ok, and after
a restart everything agrees: every order confirmed, stock conserved, no
reservation left.

ORDERD_GROWTH_ORDERS sets how many orders (default 5,000: enough for every
map to grow at least once, in a few seconds);
CI's longer pass runs 50,000:

    ORDERD_GROWTH_ORDERS=50000 scons check only=test_growth

    /usr/bin/python3 tests/integration/test_growth.py [-v]
"""
import collections
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402

ORDERS = int(os.environ.get('ORDERD_GROWTH_ORDERS') or 5000)
SKUS = 20
STOCK = 2000000000              # what orderbench sets each of its skus to
ORDERBENCH = os.path.join(h.BUILD, 'bin', 'orderbench')


def health(daemon):
    return daemon.admin_client().call_ok('health', detailed=True)


@unittest.skipIf(h.VALGRIND, 'a load of thousands of orders under valgrind measures nothing')
class TestGrowth(unittest.TestCase):
    def setUp(self):
        self.daemon = h.Daemon(overrides={'orderd/map_size': '1M',
                                          'payment/map_size': '1M',
                                          'fulfilment/map_size': '1M'})
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()
        self.skus = ['bench-sku-%05d' % i for i in range(SKUS)]

    def run_orderbench(self):
        with tempfile.TemporaryDirectory(prefix='orderd-growth-') as tmp:
            path = os.path.join(tmp, 'figures.json')
            proc = subprocess.run(
                [ORDERBENCH, '-e', self.daemon.service, '-a', self.daemon.admin,
                 '--clients', '8', '--pipeline', '4', '--products', '2',
                 '--skus', str(SKUS), '--orders', str(ORDERS), '--json', path, '-q'],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=max(120, ORDERS // 20) * h.SLOW)
            text = proc.stdout.decode('utf-8', 'replace')
            self.assertTrue(os.path.exists(path), text)
            with open(path) as f:
                figures = json.load(f)
        self.assertEqual(proc.returncode, 0, text)
        return figures

    def assert_consistent(self):
        admin = self.daemon.admin_client()
        orders = h.list_all_orders(admin)
        self.assertEqual(len(orders), ORDERS)
        statuses = collections.Counter(o['status'] for o in orders)
        self.assertEqual(statuses, {'confirmed': ORDERS})
        sold = collections.Counter()
        for first in range(0, len(orders), 1000):
            bodies = [admin.body('get', order_id=o['id']) for o in orders[first:first + 1000]]
            for reply in admin.pipeline(bodies, window=64).values():
                self.assertTrue(reply.get('ok'), reply)
                for product in reply['order']['order_data']['products']:
                    sold[product['sku']] += product['quantity']
        for sku in self.skus:
            stock = self.daemon.stock(sku)
            self.assertEqual((stock['available'] + sold[sku], stock['reserved']), (STOCK, 0), sku)
        status = health(self.daemon)
        self.assertEqual(status['status'], 'ok', status)

    def test_full_orders_from_one_mebibyte_maps(self):
        figures = self.run_orderbench()
        self.assertEqual(figures['errors_total'], 0, figures['errors'])
        self.assertEqual(figures['orders'], ORDERS)
        status = health(self.daemon)
        self.assertEqual(status['status'], 'ok', status)
        self.assertGreater(status['checks']['store']['map_bytes'], 1024 * 1024)
        log = self.daemon.log_tail(100000)
        # Figures, not checks: they go to the test's log
        print('%d full orders in %.1f s (%.0f/s), 0 errors; store map %.0f MiB after %d '
              'growths' % (ORDERS, figures['seconds'], figures['orders_per_s'],
                           status['checks']['store']['map_bytes'] / 1048576.0,
                           log.count('store: map grown')), file=sys.stderr)
        for name in ('store', 'payment_sandbox', 'fulfilment_local'):
            self.assertIn('%s: map grown from 1.0 to 2.0 MiB' % name, log)
        self.assertNotIn('cannot grow', log)
        self.assert_consistent()
        self.daemon.restart()
        self.assert_consistent()


@unittest.skipIf(h.VALGRIND, 'thousands of orders under valgrind measure nothing')
class TestMapThatCannotGrow(unittest.TestCase):
    def test_health_is_degraded_only_once_the_map_cannot_grow(self):
        with h.Daemon(overrides={'orderd/map_size': '1M', 'orderd/map_size_max': '1M'}) as d:
            d.seed_stock({'SKU-A': 1000000})
            self.assertEqual(health(d)['status'], 'ok')
            c = d.client()
            reply = None
            for n in range(20000):
                reply = c.call('create', **h.create_fields('u%d' % (n % 50),
                                                           cart=h.make_cart([('SKU-A', 1, 1000)])))
                if not reply.get('ok'):
                    break
            self.assertEqual(h.error_code(reply), 'unavailable', reply)
            self.assertIn('cannot grow', h.error_message(reply))
            status = health(d)
            self.assertEqual(status['status'], 'degraded', status)
            self.assertEqual(status['checks']['store']['status'], 'degraded', status)
            self.assertIn('cannot grow', status['checks']['store']['reason'])
            self.assertIn('store: the map (1.0 MiB) cannot grow: map_size_max reached',
                          d.log_tail(1000))


if __name__ == '__main__':
    unittest.main()
