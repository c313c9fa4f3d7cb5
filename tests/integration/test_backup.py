#!/usr/bin/python3
"""Hot backup and restore: `ordermon backup DIR` / the admin `backup` op.

A backup taken in the middle of a load of full orders and cancels is
started as a second daemon (orderd/data_dir = DIR) and checked:
- every order acknowledged `confirmed` before the backup began is confirmed;
- every saga in flight in the copy finishes or compensates (none is left);
- each confirmed order has exactly one capture in the payment adapter's
  ledger, and no other order has any (the ledger is read with mdb_dump, so
  a capture for an order the copy does not know would show);
- stock is conserved (harness check_invariants).
And a DIR that is relative, not empty or a file is refused (ordermon exits
2) and left as it was.

    /usr/bin/python3 tests/integration/test_backup.py [-v]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
import saga_helpers as sh  # noqa: E402
from test_schema import check as check_schema  # noqa: E402
from orderd_harness import make_cart, make_product, error_code  # noqa: E402

ORDERMON = os.path.join(h.BUILD, 'bin', 'ordermon')
SKUS = {'bk-a': 100000, 'bk-b': 100000, 'bk-c': 100000}
CARTS = 4                   # cart threads
LOAD_BEFORE_S = 1.0         # load before the backup starts
LOAD_AFTER_S = 0.5          # ...and after it answered
TRANSIENT = ('busy', 'unavailable')


def ledger_payments(adapter_dir):
    """Every record of the payment ledger's `payments` database, read from
    the environment's files with mdb_dump (lmdb-utils)."""
    out = subprocess.run(['mdb_dump', '-s', 'payments', adapter_dir], check=True,
                         capture_output=True, text=True).stdout
    lines = out.split('HEADER=END\n', 1)[1].split('DATA=END', 1)[0].split()
    return [msgpack.unpackb(bytes.fromhex(value), raw=False) for value in lines[1::2]]


class Cart(threading.Thread):
    """Plays a cart service: full orders (create, initiate, confirm), with
    every third cancelled after initiate and every fifth after create.
    Records when each `confirmed` answer arrived (time.monotonic)."""

    def __init__(self, daemon, index, stop):
        super().__init__(daemon=True)
        self.shop = sh.Shop(daemon, user='bk-user-%d' % index)
        self.stop = stop
        self.index = index
        self.confirmed_at = {}          # order id -> monotonic time of the answer
        self.errors = []
        self.count = 0
        self.samples = []               # (sent at, seconds) of every write

    def call(self, fn, *args):
        for _ in range(100):
            t = time.monotonic()
            r = fn(*args)
            self.samples.append((t, time.monotonic() - t))
            if error_code(r) not in TRANSIENT:
                return r
            time.sleep(0.02)
        return r

    def run(self):
        try:
            while not self.stop.is_set():
                self.one_order()
        except Exception as exc:        # reported by the test
            self.errors.append(repr(exc))

    def one_order(self):
        self.count += 1
        n = self.count
        sku = sorted(SKUS)[n % len(SKUS)]
        cart = make_cart([make_product(sku, 1 + n % 3, 250)])
        r = self.call(self.shop.create, cart)
        if r.get('ok') is not True:
            self.errors.append('create: %r' % r)
            return
        order = r['order']
        if n % 5 == 0:
            self.call(self.shop.cancel, order['id'])
            return
        r = self.call(self.shop.initiate, order['id'])
        if r.get('ok') is not True:
            self.errors.append('initiate: %r' % r)
            return
        order = r['order']
        if n % 3 == 0:
            self.call(self.shop.cancel, order['id'])
            return
        r = self.call(self.shop.confirm, order)
        if r.get('ok') is True and r['order']['status'] == 'confirmed':
            self.confirmed_at[order['id']] = time.monotonic()
        elif error_code(r) not in ('out_of_stock', 'payment_declined'):
            self.errors.append('confirm: %r' % r)


class Prober(threading.Thread):
    """gets one order over and over, recording each latency, to show what
    the doors answer while a backup runs."""

    def __init__(self, daemon, order_id, user, stop):
        super().__init__(daemon=True)
        self.client = daemon.client('dealer')
        self.order_id, self.user, self.stop = order_id, user, stop
        self.samples = []               # (sent at, seconds)

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            r = self.client.call('get', order_id=self.order_id, user_id=self.user)
            if r.get('ok') is True:
                self.samples.append((t, time.monotonic() - t))
            time.sleep(0.002)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


class BackupUnderLoad(unittest.TestCase):

    def setUp(self):
        self.backups = tempfile.mkdtemp(prefix='orderd-backup-')
        self.d = h.Daemon()
        self.d.start()
        self.d.seed_stock(SKUS)
        self.d2 = None

    def tearDown(self):
        for d in (self.d, self.d2):
            if d is None:
                continue
            try:
                if d.running():
                    d.stop()
            finally:
                d.cleanup()
        shutil.rmtree(self.backups, ignore_errors=True)

    def test_a_backup_mid_load_restores_to_a_consistent_shop(self):
        target = os.path.join(self.backups, 'mid-load')
        shop = sh.Shop(self.d, user='bk-probe')
        probe_order = shop.create_ok(make_cart([make_product('bk-a', 1, 100)]))
        stop, stop_probe = threading.Event(), threading.Event()
        carts = [Cart(self.d, i, stop) for i in range(CARTS)]
        prober = Prober(self.d, probe_order['id'], shop.user, stop_probe)
        for t in carts + [prober]:
            t.start()
        time.sleep(LOAD_BEFORE_S * h.SLOW)
        began = time.monotonic()
        reply = self.d.admin_client(timeout_ms=120000 * h.SLOW).call('backup', dir=target)
        ended = time.monotonic()
        time.sleep(LOAD_AFTER_S)
        stop.set()
        for t in carts:
            t.join(60 * h.SLOW)
        stop_probe.set()
        prober.join(10)
        self.assertTrue(reply.get('ok'), reply)
        check_schema(self, 'replies', 'backup', reply)
        self.assertEqual([], [e for c in carts for e in c.errors])
        confirmed_before = {oid for c in carts for oid, at in c.confirmed_at.items()
                            if at < began}
        confirmed_after = {oid for c in carts for oid, at in c.confirmed_at.items()
                           if at > ended}
        self.assertTrue(confirmed_before, 'no order was confirmed before the backup')
        self.assertTrue(confirmed_after, 'the load did not go on after the backup')
        self.assertEqual(sorted(os.listdir(target)),
                         ['BACKUP', 'data.mdb', 'fulfilment_local', 'payment_sandbox'])
        def figures(samples, what):
            before = [s for t, s in samples if t < began]
            during = [s for t, s in samples if began <= t <= ended]
            return ('%s ms p50/p99/max before %.2f/%.2f/%.2f, during %.2f/%.2f/%.2f (%d)'
                    % (what, pct(before, .5) * 1000, pct(before, .99) * 1000,
                       max(before or [0]) * 1000, pct(during, .5) * 1000,
                       pct(during, .99) * 1000, max(during or [0]) * 1000, len(during)))
        print('\nbackup: %.1f ms in all, writers held %.3f ms (adapters %s); %s; %s; '
              '%d orders confirmed before, %d after'
              % ((ended - began) * 1000, reply['write_stall_us'] / 1000.0,
                 ', '.join('%s %.3f ms' % (a['name'], a['held_us'] / 1000.0)
                           for a in reply['adapters']),
                 figures(prober.samples, 'get'),
                 figures([x for c in carts for x in c.samples], 'create/initiate/confirm/cancel'),
                 len(confirmed_before), len(confirmed_after)))
        self.d.stop()

        # Restore: a second daemon on the backup
        self.d2 = h.Daemon(overrides={'orderd/data_dir': target})
        self.d2.start()
        admin = self.d2.admin_client()
        orders = {o['id']: o for o in sh.wait_no_paid(admin, 30 * h.SLOW)}
        lost = [oid for oid in confirmed_before
                if orders.get(oid, {}).get('status') != 'confirmed']
        self.assertEqual([], lost, 'acknowledged confirmed before the backup, not confirmed '
                                   'in the restore')
        sh.settle_and_check(self.d2, admin, SKUS)
        orders = {o['id']: o for o in h.list_all_orders(admin)}
        self.d2.stop()

        # The payment ledger knows only the restored orders' captures
        captured = {}
        for p in ledger_payments(os.path.join(target, 'payment_sandbox')):
            if p['captures']:
                captured[p['order_id']] = captured.get(p['order_id'], 0) + p['captures']
        confirmed = {oid for oid, o in orders.items() if o['status'] in h.COMMITTED}
        failed_captured = {oid for oid, o in orders.items()
                           if o['status'] == 'failed' and o.get('needs_review')}
        self.assertEqual({oid: 1 for oid in confirmed},
                         {oid: n for oid, n in captured.items() if oid not in failed_captured})
        self.assertTrue(all(captured.get(oid, 0) <= 1 for oid in failed_captured))


class BackupDirRefusals(unittest.TestCase):
    """A DIR that is not absolute, not empty, or a file: exit 2 and DIR as
    it was. One daemon for all."""

    @classmethod
    def setUpClass(cls):
        cls.d = h.start_daemon()
        cls.root = tempfile.mkdtemp(prefix='orderd-backup-')

    @classmethod
    def tearDownClass(cls):
        try:
            h.stop_daemon(cls.d)
        finally:
            shutil.rmtree(cls.root, ignore_errors=True)

    def ordermon(self, *args):
        return subprocess.run([ORDERMON, '-e', self.d.admin] + list(args),
                              capture_output=True, text=True, timeout=60 * h.SLOW)

    def snapshot(self, path):
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                return f.read()
        contents = []
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name), 'rb') as f:
                contents.append((name, f.read()))
        return contents

    def test_a_relative_dir_is_refused(self):
        os.makedirs(os.path.join(self.root, 'rel'))
        p = subprocess.run([ORDERMON, '-e', self.d.admin, 'backup', 'rel'], cwd=self.root,
                           capture_output=True, text=True, timeout=60 * h.SLOW)
        self.assertEqual(2, p.returncode, p)
        self.assertIn('absolute', p.stderr)
        self.assertEqual([], os.listdir(os.path.join(self.root, 'rel')))
        # The daemon refuses it too, whoever asks
        r = self.d.admin_client().call('backup', dir='rel')
        self.assertEqual('bad_request', error_code(r), r)
        check_schema(self, 'replies', 'error', r)
        # ...and it is not an op of the service door
        r = self.d.client().call('backup', dir=os.path.join(self.root, 'svc'))
        self.assertEqual('unknown_op', error_code(r), r)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'svc')))

    def test_a_folder_that_is_not_empty_is_refused_and_untouched(self):
        target = os.path.join(self.root, 'full')
        os.makedirs(target)
        with open(os.path.join(target, 'keep.txt'), 'w') as f:
            f.write('mine')
        before = self.snapshot(target)
        p = self.ordermon('backup', target)
        self.assertEqual(2, p.returncode, p)
        self.assertIn('not empty', p.stderr)
        self.assertEqual(before, self.snapshot(target))

    def test_a_file_is_refused_and_untouched(self):
        target = os.path.join(self.root, 'a-file')
        with open(target, 'w') as f:
            f.write('not a folder')
        p = self.ordermon('backup', target)
        self.assertEqual(2, p.returncode, p)
        self.assertIn('not a folder', p.stderr)
        self.assertEqual(b'not a folder', self.snapshot(target))

    def test_an_empty_or_missing_folder_takes_a_whole_backup(self):
        empty = os.path.join(self.root, 'empty')
        os.makedirs(empty)
        for target in (empty, os.path.join(self.root, 'new', 'deeper')):
            p = self.ordermon('backup', target)
            self.assertEqual(0, p.returncode, p)
            self.assertIn('writers held', p.stdout)
            self.assertTrue(os.path.isfile(os.path.join(target, 'BACKUP')))
            for name in ('data.mdb', 'payment_sandbox/data.mdb', 'fulfilment_local/data.mdb'):
                self.assertTrue(os.path.isfile(os.path.join(target, name)), name)


if __name__ == '__main__':
    unittest.main(verbosity=2 if '-v' in sys.argv else 1,
                  argv=[a for a in sys.argv if a != '-v'])
