#!/usr/bin/python3
"""Faults: adapters that hang or answer garbage, a full store, a data
directory orderd cannot use, and thousands of idle or slow clients. Each
test ends with orderd still serving and, where orders moved, the stock
invariants of PROTOCOL.md §4.2 checked."""
import os
import resource
import stat
import subprocess
import tempfile
import time
import unittest

import zmq

import orderd_harness as h

PLUGINS = os.path.join(h.BUILD, 'tests', 'plugins')
SKU = 'sku-fault'


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def one_product_cart(quantity=1, unit_price=1000):
    return h.make_cart([(SKU, quantity, unit_price)], shipping=0)


class BrokenPaymentAdapter(unittest.TestCase):
    """A payment adapter that never answers, or answers garbage: calls time
    out, the saga is suspended and retried, health says degraded; swapping
    the sandbox back in (a config change) lets recovery finish the saga."""

    def run_broken(self, plugin):
        path = os.path.join(PLUGINS, plugin + '.so')
        if not os.path.exists(path):
            self.skipTest('%s not built' % path)
        daemon = h.Daemon(overrides={'payment/plugin': path,
                                     'payment/timeout_ms': 150,
                                     'orderd/saga_retry_ms': 300})
        self.addCleanup(daemon.cleanup)
        daemon.start()
        service = h.Client(daemon.service)
        admin = h.Client(daemon.admin)
        self.addCleanup(service.close)
        self.addCleanup(admin.close)
        admin.call_ok('stock', sku=SKU, set=10)
        order = service.call_ok('create', **h.create_fields('u-fault', one_product_cart(2)))['order']
        started = time.monotonic()
        reply = service.call('initiate_payment', user_id='u-fault', order_id=order['id'],
                             _timeout_ms=15000)
        self.assertEqual(h.error_code(reply), 'unavailable', reply)
        self.assertLess(time.monotonic() - started, 10)
        # The daemon still serves, and says why it is degraded
        deadline = time.monotonic() + 10
        while True:
            health = service.call_ok('health', detailed=True)
            if health['status'] == 'degraded' or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(health['status'], 'degraded', health)
        self.assertEqual(health['checks']['payment']['status'], 'down')
        self.assertTrue(health['checks']['payment']['reason'])
        self.assertEqual(health['checks']['fulfilment']['status'], 'ok')
        # Other work goes on: a create needs only the fulfilment adapter
        service.call_ok('create', **h.create_fields('u-other', one_product_cart(1)))
        # The suspended saga blocks other operations on its order
        reply = service.call('cancel', user_id='u-fault', order_id=order['id'])
        self.assertEqual(h.error_code(reply), 'busy', reply)
        daemon.stop()
        # Swap the sandbox back in: recovery finishes the initiate saga
        daemon.overrides['payment/plugin'] = os.path.join(h.BUILD, 'plugins',
                                                          'payment_sandbox.so')
        daemon.write_config()
        daemon.start()
        service = h.Client(daemon.service)
        admin = h.Client(daemon.admin)
        self.addCleanup(service.close)
        self.addCleanup(admin.close)
        got = service.call_ok('get', user_id='u-fault', order_id=order['id'])['order']
        self.assertEqual(got['status'], 'payment_initiated')
        self.assertEqual(service.call_ok('health')['status'], 'ok')
        for user, oid in (('u-fault', order['id']),):
            service.call_ok('cancel', user_id=user, order_id=oid)
        for o in admin.call_ok('list', status='pending', limit=500)['orders']:
            service.call_ok('cancel', user_id=o['user_id'], order_id=o['id'])
        stock = admin.call_ok('stock', sku=SKU)
        self.assertEqual((stock['available'], stock['reserved']), (10, 0))

    def test_hanging_payment_adapter(self):
        self.run_broken('hangs')

    def test_garbage_payment_adapter(self):
        self.run_broken('garbage')


class FullStore(unittest.TestCase):
    def test_map_that_cannot_grow_is_a_clear_error_and_raising_its_max_recovers(self):
        daemon = h.Daemon(overrides={'orderd/map_size': 1 << 20,
                                     'orderd/map_size_max': 1 << 20})
        self.addCleanup(daemon.cleanup)
        daemon.start()
        service = h.Client(daemon.service)
        admin = h.Client(daemon.admin)
        admin.call_ok('stock', sku=SKU, set=100000)
        created = {}
        failure = None
        big = {'note': 'x' * 2000}
        for i in range(2000):
            reply = service.call('create', **h.create_fields(
                'u-full', one_product_cart(1), user_data=big))
            if not reply.get('ok'):
                failure = reply
                break
            created[reply['order']['id']] = reply['order']
        self.assertIsNotNone(failure, 'a 1 MiB map never filled up')
        self.assertEqual(h.error_code(failure), 'unavailable', failure)
        self.assertIn('map_size', h.error_message(failure))
        self.assertGreater(len(created), 10)
        # Still serving reads; what was acknowledged is intact
        for oid, order in list(created.items())[:20]:
            self.assertEqual(service.call_ok('get', user_id='u-full', order_id=oid)['order'],
                             order)
        service.close()
        admin.close()
        # Let the map grow (map_size_max auto) and restart: everything is there
        daemon.stop()
        del daemon.overrides['orderd/map_size_max']
        daemon.write_config()
        daemon.start()
        service = h.Client(daemon.service)
        admin = h.Client(daemon.admin)
        self.addCleanup(service.close)
        self.addCleanup(admin.close)
        for oid, order in created.items():
            got = service.call_ok('get', user_id='u-full', order_id=oid)['order']
            self.assertEqual(got, order)
        service.call_ok('create', **h.create_fields('u-full', one_product_cart(1)))
        # No reservation leaked by the failed creates: cancel what is pending
        cursor = None
        while True:
            fields = {'status': 'pending', 'limit': 500}
            if cursor:
                fields['after'] = cursor
            page = admin.call_ok('list', **fields)
            for o in page['orders']:
                service.call_ok('cancel', user_id=o['user_id'], order_id=o['id'])
            cursor = page['next']
            if not cursor:
                break
        stock = admin.call_ok('stock', sku=SKU)
        self.assertEqual((stock['available'], stock['reserved']), (100000, 0))


class UnusableDataDir(unittest.TestCase):
    def start_expecting_failure(self, data_dir):
        daemon = h.Daemon(overrides={'orderd/data_dir': data_dir})
        self.addCleanup(daemon.cleanup)
        proc = subprocess.run(daemon.argv(), capture_output=True, text=True, timeout=30,
                              cwd=daemon.tmp)
        return proc

    def test_data_dir_under_a_file_is_refused(self):
        tmp = tempfile.mkdtemp(prefix='orderd-faults-')
        self.addCleanup(lambda: subprocess.run(['rm', '-rf', tmp]))
        blocker = os.path.join(tmp, 'plain-file')
        open(blocker, 'w').close()
        proc = self.start_expecting_failure(os.path.join(blocker, 'data'))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn('data', proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)

    def test_missing_parents_are_created(self):
        tmp = tempfile.mkdtemp(prefix='orderd-faults-')
        self.addCleanup(lambda: subprocess.run(['rm', '-rf', tmp]))
        data = os.path.join(tmp, 'no', 'such', 'data')
        with h.Daemon(overrides={'orderd/data_dir': data}) as daemon:
            self.assertEqual(daemon.admin_client().call_ok('health')['status'], 'ok')
        for folder in (os.path.join(tmp, 'no'), os.path.join(tmp, 'no', 'such'), data,
                       os.path.join(data, 'payment_sandbox'),
                       os.path.join(data, 'fulfilment_local')):
            self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode) & 0o027, 0, folder)

    def test_read_only_data_dir_is_refused(self):
        tmp = tempfile.mkdtemp(prefix='orderd-faults-ro-')
        self.addCleanup(lambda: subprocess.run(['rm', '-rf', tmp]))
        data = os.path.join(tmp, 'data')
        os.mkdir(data)
        # Root ignores permission bits, so make the folder read-only for real
        # with a read-only bind mount in a private mount namespace.
        probe = subprocess.run(['unshare', '-m', 'sh', '-c',
                                'mount --bind %s %s && mount -o remount,ro,bind %s %s'
                                % (data, data, data, data)], capture_output=True)
        if probe.returncode != 0:
            self.skipTest('cannot make a read-only mount here: %s' % probe.stderr.decode())
        daemon = h.Daemon(overrides={'orderd/data_dir': data})
        self.addCleanup(daemon.cleanup)
        script = 'mount --bind %s %s && mount -o remount,ro,bind %s %s && exec %s' % (
            data, data, data, data, ' '.join(daemon.argv()))
        proc = subprocess.run(['unshare', '-m', 'sh', '-c', script], capture_output=True,
                              text=True, timeout=30, cwd=daemon.tmp)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(data, proc.stderr)


class ManyClients(unittest.TestCase):
    @unittest.skipIf(h.VALGRIND or os.path.basename(h.BUILD) == 'sanitize',
                     'memory is measured on the plain build: sanitizers and valgrind '
                     'inflate it and slow 5000 connections past the point')
    def test_idle_clients_and_a_slow_reader_leave_memory_bounded(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 12000:
            self.skipTest('needs 12000 file descriptors, have %d' % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        daemon = h.Daemon()
        self.addCleanup(daemon.cleanup)
        daemon.start()
        service = h.Client(daemon.service)
        self.addCleanup(service.close)
        with h.Client(daemon.admin) as admin:
            admin.call_ok('stock', sku=SKU, set=100)
        service.call_ok('create', **h.create_fields('u-many', one_product_cart(1)))
        before = rss_kib(daemon.proc.pid)
        ctx = zmq.Context()
        ctx.MAX_SOCKETS = 8000
        idle = []
        try:
            for _ in range(5000):
                s = ctx.socket(zmq.DEALER)
                s.linger = 0
                s.connect(daemon.service)
                idle.append(s)
            # A slow reader: asks a lot and never reads its replies
            slow = ctx.socket(zmq.DEALER)
            slow.linger = 0
            slow.rcvhwm = 10
            slow.sndhwm = 0
            slow.connect(daemon.service)
            body = h.Client.pack({'v': 1, 'op': 'health', 'detailed': True})
            for _ in range(50000):
                slow.send(body)
            time.sleep(3)
            # Others are still served promptly
            started = time.monotonic()
            order = service.call_ok('create', **h.create_fields('u-many', one_product_cart(1)))
            service.call_ok('get', user_id='u-many', order_id=order['order']['id'])
            self.assertLess(time.monotonic() - started, 5)
            after = rss_kib(daemon.proc.pid)
            # 5000 connections and 50000 unread replies: bounded by the
            # high-water marks, far from unbounded growth
            self.assertLess(after - before, 400 * 1024, (before, after))
            slow.close()
        finally:
            for s in idle:
                s.close()
            ctx.term()
        self.assertEqual(service.call_ok('health')['status'], 'ok')


if __name__ == '__main__':
    unittest.main()
