#!/usr/bin/python3
"""orderbench smoke tests: short runs against a real daemon, checking that
the figures the report promises are there and that nothing failed. These
are not performance tests: no figure is compared with a target."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orderd_harness import BUILD, SLOW, SOURCE, VALGRIND, Daemon  # noqa: E402

ORDERBENCH = os.path.join(BUILD, 'bin', 'orderbench')
PERCENTILES = ('count', 'p50', 'p90', 'p99', 'p99.9', 'max')


def run_bench(args, timeout=120):
    """Runs orderbench with --json to a temp file; returns (exit status,
    figures, stderr text)."""
    with tempfile.TemporaryDirectory(prefix='orderbench-test-') as tmp:
        path = os.path.join(tmp, 'out.json')
        proc = subprocess.run([ORDERBENCH, '--json', path] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, cwd=SOURCE,
                              timeout=timeout * SLOW)
        figures = None
        if os.path.exists(path):
            with open(path) as f:
                figures = json.load(f)
        text = (proc.stdout + proc.stderr).decode('utf-8', 'replace')
        return proc.returncode, figures, text


@unittest.skipIf(VALGRIND, 'a load generator under valgrind measures nothing')
class OrderbenchTest(unittest.TestCase):

    def assert_latency(self, figures, op, count=None):
        lat = figures['latency_us'].get(op)
        self.assertIsNotNone(lat, 'no latency for %s: %r' % (op, figures['latency_us']))
        for key in PERCENTILES:
            self.assertIn(key, lat)
        self.assertGreater(lat['count'], 0)
        if count is not None:
            self.assertEqual(lat['count'], count)
        self.assertGreater(lat['p50'], 0)
        self.assertLessEqual(lat['p50'], lat['p90'])
        self.assertLessEqual(lat['p90'], lat['p99'])
        self.assertLessEqual(lat['p99'], lat['p99.9'])
        self.assertLessEqual(lat['p99.9'], lat['max'])

    def test_handoffs_per_order_are_counted(self):
        # One product, no gets, no errors: each order is 3 requests, so 6
        # actor messages exactly (in and out). The others have a floor the
        # design cannot go under (a step's result is durable before its
        # reply: 3 writer round trips; payment create and capture; stock
        # reserve and reduce) and, retries aside, today's counts (7, 2, 3)
        # as the ceiling: twice that catches a hop added by mistake.
        rc, figures, text = run_bench(
            ['--spawn', '--clients', '4', '--pipeline', '1', '--products', '1',
             '--orders', '60', '-q'])
        self.assertIsNotNone(figures, text)
        self.assertEqual(rc, 0, text)
        self.assertEqual(figures['errors_total'], 0, figures['errors'])
        hops = figures.get('handoffs_per_order')
        self.assertIsNotNone(hops, text)
        self.assertAlmostEqual(hops['actor_messages'], 6.0, places=3)
        for key, floor, today in (('writer_round_trips', 3, 7), ('payment_calls', 2, 2),
                                  ('fulfilment_calls', 2, 3)):
            self.assertGreaterEqual(hops[key], floor, (key, hops))
            self.assertLessEqual(hops[key], 2 * today, (key, hops))
        self.assertAlmostEqual(hops['round_trips'], hops['actor_messages'] / 2
                               + hops['writer_round_trips'] + hops['payment_calls']
                               + hops['fulfilment_calls'], places=2)
        self.assertIn('hand-offs per confirmed order', text)
        # Each thread's CPU, grouped by the names orderd gives its threads
        threads = figures.get('threads')
        self.assertIsNotNone(threads, text)
        groups = {g['name']: g for g in threads['groups']}
        for name in ('ord-writer', 'ord-actor', 'orderd'):
            self.assertIn(name, groups, groups)
            self.assertGreater(groups[name]['us_per_order'], 0, groups[name])
            self.assertGreaterEqual(groups[name]['cpu_pct'], groups[name]['busiest_pct'])
        self.assertTrue(any(n.startswith('ad-') for n in groups), groups)
        self.assertIn(threads['busiest']['name'], groups)
        self.assertIn('busiest single thread', text)
        self.assertIn('spread-capped', text)

    def test_spawned_closed_loop(self):
        rc, figures, text = run_bench(
            ['--spawn', '--clients', '8', '--pipeline', '2', '--products', '3',
             '--orders', '200', '--mix', 'get=50', '-q'])
        self.assertIsNotNone(figures, text)
        self.assertEqual(rc, 0, text)
        self.assertEqual(figures['errors_total'], 0, figures['errors'])
        self.assertEqual(figures['orders'], 200)
        self.assertGreater(figures['orders_per_s'], 0)
        self.assertGreaterEqual(figures['requests'], 600)
        self.assertGreater(figures['requests_per_s'], 0)
        for op in ('create', 'initiate_payment', 'confirm', 'order'):
            self.assert_latency(figures, op, 200)
        self.assert_latency(figures, 'get')
        store = figures['store']
        # Four transitions per order: pending, payment_initiated, paid, confirmed
        self.assertEqual(store['transitions'], 800)
        self.assertGreater(store['commits'], 0)
        self.assertGreater(store['transitions_per_s'], 0)
        self.assertGreater(store['commits_per_s'], 0)
        self.assertGreater(store['transitions_per_commit'], 0)
        self.assertEqual(store['orders'], 200)
        orderd = figures['orderd']
        self.assertGreater(orderd['peak_rss_kib'], 0)
        self.assertGreater(orderd['cpu_s'], 0)
        self.assertIn('cpu_s', figures['orderbench'])
        self.assertEqual(figures['orderd_exit_status'], 0)
        self.assertIn('orders/s', text)
        self.assertIn('p99.9', text)

    def test_open_loop_against_running_daemon(self):
        with Daemon() as d:
            rc, figures, text = run_bench(
                ['-e', d.service, '-a', d.admin, '--pid', str(d.proc.pid),
                 '--rate', '100', '--duration', '1.5', '--clients', '4',
                 '--skus', '20', '--products', '2'])
            self.assertTrue(d.running())
        self.assertIsNotNone(figures, text)
        self.assertEqual(rc, 0, text)
        self.assertEqual(figures['mode'], 'open')
        self.assertEqual(figures['errors_total'], 0, figures['errors'])
        # 1.5 s at 100/s: about 150 orders, give or take the edges
        self.assertGreater(figures['orders'], 100)
        self.assertLess(figures['orders'], 200)
        self.assert_latency(figures, 'create')
        self.assert_latency(figures, 'confirm')
        self.assertIn('schedule_lag_max_us', figures)
        self.assertGreater(figures['orderd']['peak_rss_kib'], 0)
        # Progress lines went to stderr
        self.assertIn('run ', text)

    def test_reads_after_preload(self):
        rc, figures, text = run_bench(
            ['--spawn', '--sync', 'none', '--clients', '8', '--preload', '300',
             '--mix', 'get=only', '--orders', '2000', '-q'])
        self.assertIsNotNone(figures, text)
        self.assertEqual(rc, 0, text)
        self.assertEqual(figures['preload']['orders'], 300)
        self.assertEqual(figures['preload']['errors'], 0)
        self.assertEqual(figures['mode'], 'reads')
        self.assertEqual(figures['errors_total'], 0, figures['errors'])
        self.assert_latency(figures, 'get', 2000)
        self.assertEqual(figures['store']['orders'], 300)

    def test_fsync_probe(self):
        with tempfile.TemporaryDirectory(prefix='orderbench-probe-') as tmp:
            rc, figures, text = run_bench(['--fsync-probe', tmp, '--probe-seconds', '0.5'])
            self.assertEqual(rc, 0, text)
            self.assertGreater(figures['fsync_probe']['commits_per_s'], 0)
            self.assertIn('commits/s', text)
            self.assertEqual(os.listdir(tmp), [], 'the probe leaves nothing behind')

    def test_hop_probe(self):
        # --json -: stdout holds the JSON alone, the summary goes to stderr
        proc = subprocess.run([ORDERBENCH, '--hop-probe', '--probe-seconds', '1', '--json', '-'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, cwd=SOURCE, timeout=60 * SLOW)
        text = (proc.stdout + proc.stderr).decode('utf-8', 'replace')
        self.assertEqual(proc.returncode, 0, text)
        hop = json.loads(proc.stdout)['hop_probe']
        for key in ('round_trips', 'round_trips_per_s', 'wall_us_per_round_trip',
                    'cpu_us_per_round_trip', 'context_switches_per_round_trip'):
            self.assertIsInstance(hop.get(key), (int, float), '%s: %r' % (key, hop))
            self.assertGreater(hop[key], 0, key)
        self.assertIn('round trips/s', proc.stderr.decode('utf-8', 'replace'))

    def test_unreachable_daemon_fails_fast(self):
        rc, figures, text = run_bench(['-e', 'tcp://127.0.0.1:1', '-a', 'tcp://127.0.0.1:1',
                                       '--duration', '1'], timeout=30)
        self.assertEqual(rc, 2, text)
        self.assertIn('no healthy orderd', text)

    def test_bad_option(self):
        rc, _, text = run_bench(['--mix', 'put=3'], timeout=10)
        self.assertEqual(rc, 2)
        self.assertIn('--mix', text)


if __name__ == '__main__':
    unittest.main()
