#!/usr/bin/python3
"""ordermon, the ops console, against a real orderd.

Every command in table form and with --json (parsed with json.loads), the
refusals orderd answers (exit 1), usage errors (exit 2), an unreachable
daemon (exit 3, within --timeout + 1 s), `watch` on the events door, and
`top` driven in tmux (counts change, resize redraws, orderd going away and
coming back, `q` quits). Skips the tmux test when tmux is not installed.

    /usr/bin/python3 tests/integration/test_ordermon.py [-v] [Class.test]
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id  # noqa: E402

ORDERMON = os.path.join(h.BUILD, 'bin', 'ordermon')
SLOW = h.SLOW
# Strings that a JSON printer gets wrong: quotes, backslashes, controls,
# DEL, multi-byte UTF-8 of every length.
WEIRD = 'q"uote \\ back\nnew\ttab\x01ctl\x7fdel é ĉ € 😀 </script>'


class OrdermonCase(unittest.TestCase):
    """One daemon for every test, with a few orders of known shape."""

    @classmethod
    def setUpClass(cls):
        if not os.access(ORDERMON, os.X_OK):
            raise AssertionError('%s is not built (scons)' % ORDERMON)
        cls.d = h.Daemon()
        try:
            cls.d.start()
        except Exception:
            cls.d.cleanup()
            raise
        cls.sku = new_id('SKU-')
        cls.d.seed_stock({cls.sku: 1000})
        cls.svc = cls.d.client()
        cls.admin = cls.d.admin_client()
        # confirmed, 2 x 10.00 + 5.00 shipping = 25.00 USD
        cls.confirmed = cls.confirm(cls.create('u-alice', 2, 1000))
        # pending, for a user of its own
        cls.bob = new_id('u-bob-')
        cls.pending = cls.create(cls.bob, 1, 700)
        # failed: a total ending in 02 is declined at capture
        failed = cls.create('u-carol', 1, 502)
        cls.failed = failed['id']
        r = cls.initiate(failed)
        r = cls.svc.call('confirm', order_id=failed['id'], user_id='u-carol',
                         provider_order_id=r['payment']['provider_order_id'])
        assert r.get('ok') is False and r['order']['status'] == 'failed', r

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()

    # -- helpers
    @classmethod
    def create(cls, user, quantity=1, price=1000, user_data=None):
        r = cls.svc.call_ok('create', **create_fields(
            user, make_cart([(cls.sku, quantity, price)]), user_data=user_data))
        return r['order']

    @classmethod
    def initiate(cls, order):
        return cls.svc.call_ok('initiate_payment', order_id=order['id'],
                               user_id=order['user_id'])['order']

    @classmethod
    def confirm(cls, order):
        o = cls.initiate(order)
        r = cls.svc.call_ok('confirm', order_id=o['id'], user_id=o['user_id'],
                            provider_order_id=o['payment']['provider_order_id'])
        assert r['order']['status'] == 'confirmed', r
        return r['order']

    def om(self, *args, endpoint=None, timeout=10):
        argv = [ORDERMON, '-e', endpoint or self.d.admin, '-E', self.d.events]
        p = subprocess.run(argv + [str(a) for a in args], capture_output=True,
                           timeout=timeout * SLOW, stdin=subprocess.DEVNULL)
        p.out = p.stdout.decode('utf-8')
        p.err = p.stderr.decode('utf-8')
        return p

    def ok(self, *args):
        p = self.om(*args)
        self.assertEqual(p.returncode, 0, 'ordermon %s: %s%s' % (args, p.out, p.err))
        self.assertNotIn('\x1b[', p.out, 'colour on a pipe')
        return p.out

    def js(self, *args):
        """--json: exactly one JSON document on stdout."""
        out = self.ok('--json', *args)
        doc = json.loads(out)
        self.assertIsInstance(doc, dict)
        self.assertIs(doc.get('ok'), True, doc)
        return doc

    def refused(self, code, *args):
        """orderd refuses: exit 1, the code on stderr, the reply in --json."""
        p = self.om(*args)
        self.assertEqual(p.returncode, 1, '%s: %s%s' % (args, p.out, p.err))
        self.assertIn(code, p.err)
        p = self.om('--json', *args)
        self.assertEqual(p.returncode, 1)
        doc = json.loads(p.out)
        self.assertIs(doc['ok'], False)
        self.assertEqual(doc['error']['code'], code)
        return doc

    def usage(self, *args):
        p = self.om(*args)
        self.assertEqual(p.returncode, 2, '%s: %s%s' % (args, p.out, p.err))
        self.assertTrue(p.err.strip(), 'a usage error says why')
        return p

    # ------------------------------------------------------------ help, usage
    def test_help_lists_every_command_with_an_example(self):
        out = self.ok('--help')
        for command in ('health', 'stats', 'list', 'show', 'history', 'watch', 'advance',
                        'retry', 'resolve', 'stock', 'payment', 'top'):
            self.assertRegex(out, r'(?m)^  %s\b' % command)
            self.assertIn('e.g. ordermon %s' % command, out)
        self.assertIn('Exit status', out)
        self.assertIn('ordermon advance', self.ok('advance', '--help'))

    def test_usage_errors_exit_2(self):
        for args in ([], ['frobnicate'], ['show'], ['show', 'a', 'b'], ['health', 'extra'],
                     ['list', '--limit', '0'], ['list', '--limit', '501'], ['list', '--limit', 'x'],
                     ['list', '--status', 'lost'], ['list', '--set', '3'], ['--bogus', 'health'],
                     ['--timeout', 'soon', 'health'], ['--timeout', '0', 'health'],
                     ['stock', 'S', '--set', '-1'], ['stock', 'S', '--set'],
                     ['advance', self.confirmed['id'], 'paid'], ['advance', 'x'],
                     ['resolve', self.confirmed['id']], ['watch', '--status', 'lost'],
                     ['watch', '--count', '0']):
            p = self.usage(*args)
            self.assertEqual(p.out, '', args)
        # top insists on a terminal
        self.usage('top')

    def test_unreachable_exits_3_within_the_timeout(self):
        port = h.free_port()
        for args, secs in ((['health'], 1), (['list'], 0.5),
                           (['advance', 'o0000000000000000', 'shipped'], 1), (['stats'], 2)):
            start = time.monotonic()
            p = self.om('--timeout', secs, *args, endpoint='tcp://127.0.0.1:%d' % port)
            took = time.monotonic() - start
            self.assertEqual(p.returncode, 3, p.err)
            self.assertIn('did not answer', p.err)
            self.assertEqual(p.out, '')
            self.assertGreaterEqual(took, secs * 0.9)
            self.assertLess(took, secs + 1, 'took %.2f s with --timeout %s' % (took, secs))

    # ------------------------------------------------------------ health, stats
    def test_health(self):
        out = self.ok('health')
        self.assertRegex(out, r'(?m)^status\s+ok$')
        self.assertRegex(out, r'(?m)^CHECK\s+STATUS\s+DETAIL$')
        self.assertRegex(out, r'(?m)^store\s+ok\s+.* of .* map used')
        self.assertRegex(out, r'(?m)^payment\s+ok\s+payment_sandbox ')
        self.assertRegex(out, r'(?m)^fulfilment\s+ok\s+fulfilment_local ')
        doc = self.js('health')
        self.assertEqual(doc['status'], 'ok')
        self.assertEqual(set(doc['checks']), {'store', 'payment', 'fulfilment'})
        self.assertIsNone(doc['checks']['payment']['reason'])
        self.assertGreaterEqual(doc['orders'], 3)

    def test_stats(self):
        doc = self.js('stats')
        counts = doc['counts']
        self.assertEqual(set(counts), set(h.STATUSES))
        self.assertGreaterEqual(counts['confirmed'], 1)
        self.assertGreaterEqual(counts['failed'], 1)
        self.assertEqual(doc['needs_review'], 0)
        self.assertIsInstance(doc['requests_per_s']['10s'], float)
        self.assertIsInstance(doc['requests_history'], list)
        self.assertIn('create', doc['latency_us'])
        self.assertEqual(set(doc['latency_us']['create']), {'count', 'p50', 'p90', 'p99', 'p99.9'})
        self.assertIn('map_usage', doc['store'])
        out = self.ok('stats')
        # the table's counts are the daemon's (none of these move meanwhile
        # but pending, which other tests create)
        for status in ('failed', 'delivered'):
            m = re.search(r'(?m)^%s\s+(\d+)$' % status, out)
            self.assertTrue(m, out)
        self.assertRegex(out, r'(?m)^needs review\s+0$')
        self.assertRegex(out, r'(?m)^OP\s+COUNT\s+P50\s+P90\s+P99\s+P99\.9$')
        self.assertRegex(out, r'(?m)^create\s+\d+\s+\S+(us|ms|s)\s')
        self.assertRegex(out, r'(?m)^requests/s\s+[\d.]+\s+[\d.]+')
        self.assertRegex(out, r'(?m)^store\s+\d+ orders, ')
        self.assertRegex(out, r'(?m)^payment\s+ok\s+payment_sandbox')

    # ------------------------------------------------------------ list
    def test_list(self):
        out = self.ok('list')
        lines = out.rstrip('\n').split('\n')
        self.assertRegex(lines[0], r'^ID\s+CREATED\s+STATUS\s+USER\s+ITEMS\s+TOTAL\s+FLAGS$')
        status_at = lines[0].index('STATUS')
        rows = {l.split()[0]: l for l in lines[1:]}
        for oid, status in ((self.confirmed['id'], 'confirmed'), (self.pending['id'], 'pending'),
                            (self.failed, 'failed')):
            self.assertIn(oid, rows, out)
            # aligned: the status starts under its title
            self.assertEqual(rows[oid][status_at:].split()[0], status, out)
            self.assertRegex(rows[oid], r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d')
        self.assertIn('25.00 USD', rows[self.confirmed['id']])
        self.assertIn('12.00 USD', rows[self.pending['id']])
        # newest first
        ids = [l.split()[0] for l in lines[1:]]
        self.assertEqual(ids, sorted(ids, reverse=True))

        doc = self.js('list', '--status', 'failed')
        self.assertTrue(doc['orders'])
        self.assertTrue(all(o['status'] == 'failed' for o in doc['orders']))
        self.assertIn(self.failed, [o['id'] for o in doc['orders']])

        doc = self.js('list', '--user', self.bob)
        self.assertEqual([o['id'] for o in doc['orders']], [self.pending['id']])
        out = self.ok('list', '--user', self.bob)
        self.assertEqual(len(out.strip().split('\n')), 2, out)

        doc = self.js('list', '--limit', 1)
        self.assertEqual(len(doc['orders']), 1)
        self.assertIsInstance(doc['next'], str)
        out = self.ok('list', '--limit', 1)
        self.assertIn('more: add --after %s' % doc['next'], out)
        doc2 = self.js('list', '--limit', 1, '--after', doc['next'])
        self.assertLess(doc2['orders'][0]['id'], doc['orders'][0]['id'])

        self.assertEqual(self.ok('list', '--user', 'nobody-' + new_id()), 'no orders\n')

    # ------------------------------------------------------------ show, history
    def test_show(self):
        oid = self.confirmed['id']
        out = self.ok('show', oid)
        self.assertRegex(out, r'(?m)^order\s+%s$' % oid)
        self.assertRegex(out, r'(?m)^status\s+confirmed$')
        self.assertRegex(out, r'(?m)^user\s+u-alice \(Test u-alice <u-alice@example.com>\)$')
        self.assertRegex(out, r'(?m)^total\s+25\.00 USD \(subtotal 20\.00 USD, shipping 5\.00 USD')
        self.assertRegex(out, r'(?m)^payment\s+payment_sandbox \S+, captured ')
        self.assertRegex(out, r'(?m)^ship to\s+Ada Lovelace, 12 St James Sq, London')
        self.assertRegex(out, r'(?m)^SKU\s+PRODUCT\s+NAME\s+QTY\s+UNIT PRICE\s+AMOUNT$')
        self.assertRegex(out, r'(?m)^%s\s+p-%s\s+Product %s\s+2\s+10\.00 USD\s+20\.00 USD$'
                         % (self.sku, self.sku, self.sku))
        doc = self.js('show', oid)
        self.assertEqual(doc['order']['id'], oid)
        self.assertEqual(doc['order']['total_amount'], 2500)
        self.assertIsNone(doc['order']['deleted_at'])
        self.refused('not_found', 'show', 'o0000000000000000')

    def test_history(self):
        oid = self.confirmed['id']
        out = self.ok('history', oid)
        lines = out.rstrip('\n').split('\n')
        self.assertIn(oid, lines[0])
        self.assertRegex(lines[1], r'^SEQ\s+AT\s+FROM\s+TO\s+REASON$')
        self.assertEqual([l.split()[0] for l in lines[2:6]], ['1', '2', '3', '4'])
        self.assertRegex(lines[2], r'^\s*1\s+\S+ \S+\s+-\s+(->|→)\s+pending\s+created')
        self.assertRegex(lines[3], r'pending\s+(->|→)\s+payment_initiated')
        self.assertRegex(lines[5], r'paid\s+(->|→)\s+confirmed')
        doc = self.js('history', oid)
        self.assertEqual([(e['from'], e['to']) for e in doc['history'][:4]],
                         [(None, 'pending'), ('pending', 'payment_initiated'),
                          ('payment_initiated', 'paid'), ('paid', 'confirmed')])
        self.assertEqual(doc['order']['id'], oid)

    # ------------------------------------------------------------ writes
    def test_advance(self):
        o = self.confirm(self.create('u-dave', 1, 1500))
        oid = o['id']
        # the state machine refuses skipping a state, or going back
        doc = self.refused('invalid_transition', 'advance', oid, 'shipped')
        self.assertEqual(doc['order']['status'], 'confirmed')
        self.refused('invalid_transition', 'advance', oid, 'delivered')
        out = self.ok('advance', oid, 'processing', '--reason', 'picked by ops')
        self.assertIn('%s: advanced to processing; now processing' % oid, out)
        doc = self.js('advance', oid, 'shipped')
        self.assertEqual(doc['order']['status'], 'shipped')
        self.refused('invalid_transition', 'advance', oid, 'processing')
        self.ok('advance', oid, 'delivered')
        self.refused('invalid_transition', 'advance', oid, 'delivered')
        hist = self.js('history', oid)['history']
        self.assertIn('picked by ops', [e['reason'] for e in hist])
        self.assertEqual(hist[-1]['to'], 'delivered')
        # a pending order cannot be advanced either
        self.refused('invalid_transition', 'advance', self.pending['id'], 'processing')
        self.refused('not_found', 'advance', 'o0000000000000000', 'processing')

    def test_retry_a_finished_saga_is_refused(self):
        doc = self.refused('invalid_transition', 'retry', self.confirmed['id'])
        self.assertIn('no unfinished saga', doc['error']['message'])
        self.refused('not_found', 'retry', 'o0000000000000000')

    def test_resolve_an_order_not_needing_review_is_refused(self):
        doc = self.refused('invalid_transition', 'resolve', self.failed, 'refunded', 'by hand')
        self.assertIn('does not need review', doc['error']['message'])
        self.assertFalse(doc['order']['needs_review'])

    def test_stock(self):
        sku = new_id('SKU-S-')
        out = self.ok('stock', sku, '--set', 40)
        self.assertRegex(out, r'^SKU\s+AVAILABLE\s+RESERVED\n%s\s+40\s+0\n$' % sku)
        doc = self.js('stock', sku)
        self.assertEqual((doc['sku'], doc['available'], doc['reserved']), (sku, 40, 0))
        doc = self.js('stock', self.sku)
        self.assertGreaterEqual(doc['reserved'], 1)     # the pending order holds one

    def test_payment(self):
        oid = self.confirmed['id']
        out = self.ok('payment', oid)
        self.assertRegex(out, r'(?m)^status\s+captured$')
        self.assertRegex(out, r'(?m)^captures\s+1$')
        self.assertRegex(out, r'(?m)^captured_amount\s+25\.00 USD$')
        self.assertRegex(out, r'(?m)^refunded_amount\s+0\.00 USD$')
        doc = self.js('payment', oid)
        self.assertEqual((doc['captures'], doc['captured_amount'], doc['refunded_amount']),
                         (1, 2500, 0))
        doc = self.js('payment', self.failed)
        self.assertEqual(doc['captures'], 0)
        self.refused('not_found', 'payment', self.pending['id'])

    # ------------------------------------------------------------ JSON printer
    def test_json_escapes_every_string(self):
        user_data = {'name': WEIRD, 'email': 'w@example.com', 'blob': b'\x00\x01\xfe\xff',
                     'ratio': 5.0, 'half': 0.5, 'big': 2 ** 63 + 1, 'neg': -7, 'none': None,
                     'nested': {'list': [1, 'two', {'three': [True, False]}], 'empty': {},
                                'none': []}, 7: 'int key'}
        o = self.create('u-' + WEIRD, 1, 100, user_data=user_data)
        doc = self.js('show', o['id'])
        got = doc['order']
        self.assertEqual(got['user_id'], 'u-' + WEIRD)
        ud = got['user_data']
        self.assertEqual(ud['name'], WEIRD)
        self.assertEqual(base64.b64decode(ud['blob']), b'\x00\x01\xfe\xff')
        self.assertEqual(ud['ratio'], 5.0)
        self.assertIsInstance(ud['ratio'], float)
        self.assertEqual(ud['half'], 0.5)
        self.assertEqual(ud['big'], 2 ** 63 + 1)
        self.assertEqual(ud['neg'], -7)
        self.assertIsNone(ud['none'])
        self.assertEqual(ud['nested'], user_data['nested'])
        self.assertEqual(ud['7'], 'int key')
        # the table shows control characters as '?', never raw
        out = self.ok('show', o['id'])
        self.assertNotIn('\x01', out)
        self.assertNotIn('\x7f', out)
        self.assertIn('u-q"uote \\ back?new?tab?ctl?del é ĉ € 😀', out)

    def test_daemon_refuses_strings_that_are_not_utf8(self):
        # a str (not bin) holding bytes that are not UTF-8, sent raw
        body = {'v': 1, 'op': 'create', 'rid': 'raw-' + new_id(),
                **create_fields('u-bytes', make_cart([(self.sku, 1, 100)]),
                                user_data={'name': 'x'})}
        packer = msgpack.Packer(use_bin_type=False)
        raw = packer.pack(body).replace(b'\xa1x', b'\xa3\xc3(\xff', 1)
        self.svc.send_raw(raw)
        r = msgpack.unpackb(self.svc.recv_raw()[-1], raw=False)
        self.assertEqual(r['error']['code'], 'bad_request', r)
        self.assertIn('UTF-8', r['error']['message'])

    # ------------------------------------------------------------ watch
    def start_watch(self, *args):
        return subprocess.Popen([ORDERMON, '-E', self.d.events] + list(args) + ['watch'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)

    def drive_until_exit(self, proc, action, limit=10):
        """Repeat action until the watcher has seen enough and exited: the
        subscription takes a moment to reach the publisher."""
        deadline = time.monotonic() + limit * SLOW
        made = []
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                made.append(action())
                try:
                    proc.wait(0.3)
                except subprocess.TimeoutExpired:
                    pass
            out, err = proc.communicate(timeout=5 * SLOW)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        return out.decode('utf-8'), made

    def test_watch_prints_transitions(self):
        w = self.start_watch('--count', '2')
        out, made = self.drive_until_exit(w, lambda: self.create('u-watch', 1, 900)['id'])
        lines = out.rstrip('\n').split('\n')
        self.assertEqual(len(lines), 2, out)
        for line in lines:
            self.assertRegex(line, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  (o[0-9a-f]{16})  '
                                   r'u-watch\s+-\s+(->|→) pending\s+created$')
            self.assertIn(line.split()[2], made)

    def test_watch_json_with_status_filter(self):
        def action():
            o = self.create('u-watchj', 1, 900)
            self.initiate(o)
            return o['id']
        w = self.start_watch('--json', '--count', '1', '--status', 'payment_initiated')
        out, made = self.drive_until_exit(w, action)
        lines = out.rstrip('\n').split('\n')
        self.assertEqual(len(lines), 1, out)
        event = json.loads(lines[0])
        self.assertEqual((event['from'], event['to'], event['user_id']),
                         ('pending', 'payment_initiated', 'u-watchj'))
        self.assertIn(event['order_id'], made)
        self.assertEqual(set(event), {'order_id', 'user_id', 'seq', 'from', 'to', 'at', 'reason'})


# ---------------------------------------------------------------- top in tmux

@unittest.skipUnless(shutil.which('tmux'), 'tmux is not installed')
class TopInTmux(unittest.TestCase):
    """ordermon top in a real terminal: tmux runs it, capture-pane reads it."""

    def setUp(self):
        self.d = h.Daemon()
        self.d.start()
        self.sku = new_id('SKU-')
        self.d.seed_stock({self.sku: 1000})
        self.svc = self.d.client()
        self.tmp = tempfile.mkdtemp(prefix='ordermon-top-')
        self.status_file = os.path.join(self.tmp, 'status')
        # A server of our own: never touches anyone's tmux
        self.tmux = ['tmux', '-L', 'ordermon-test-' + uuid.uuid4().hex[:8], '-f', '/dev/null']

    def tearDown(self):
        subprocess.run(self.tmux + ['kill-server'], capture_output=True)
        try:
            if self.d.running():
                self.d.stop()
        finally:
            self.d.cleanup()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def screen(self):
        return subprocess.run(self.tmux + ['capture-pane', '-p'], capture_output=True,
                              text=True).stdout

    def wait_screen(self, predicate, what, limit=8):
        deadline = time.monotonic() + limit * SLOW
        text = ''
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        self.fail('top never showed %s; screen:\n%s' % (what, text))

    @staticmethod
    def count(text, status):
        m = re.search(r'(?m)^\s*%s\s+(\d+)\b' % status, text)
        return int(m.group(1)) if m else None

    def create(self, n):
        for i in range(n):
            self.svc.call_ok('create', **create_fields('u-top', make_cart([(self.sku, 1, 1000)])))

    def test_top_counts_resize_reconnect_quit(self):
        command = '%s -e %s -E %s top; echo $? > %s; sleep 60' % (
            ORDERMON, self.d.admin, self.d.events, self.status_file)
        subprocess.run(self.tmux + ['new-session', '-d', '-x', '120', '-y', '40', command],
                       check=True)
        text = self.wait_screen(lambda t: 'orderd ok' in t and self.count(t, 'pending') == 0,
                                'orderd ok with 0 pending')
        for title in ('ORDERS', 'RATES', 'LATENCY', 'LATEST TRANSITIONS', 'q: quit'):
            self.assertIn(title, text)

        # counts move, transitions scroll in
        self.create(3)
        text = self.wait_screen(lambda t: self.count(t, 'pending') == 3, 'pending 3')
        self.assertEqual(len(re.findall(r'-> pending\s+created', text)), 3, text)
        self.assertRegex(text, r'\screate\s+3\s')

        # resize: everything redrawn in the new size
        subprocess.run(self.tmux + ['resize-window', '-x', '80', '-y', '24'], check=True)
        self.create(1)
        text = self.wait_screen(lambda t: self.count(t, 'pending') == 4, 'pending 4 at 80x24')
        size = subprocess.run(self.tmux + ['display', '-p', '#{window_width}x#{window_height}'],
                              capture_output=True, text=True).stdout.strip()
        self.assertEqual(size, '80x24')
        lines = text.split('\n')
        self.assertTrue(lines[0].startswith(' ordermon top'), text)
        self.assertIn('LATEST TRANSITIONS', text)
        self.assertTrue(all(len(l) <= 80 for l in lines), text)

        # orderd goes away: said on screen; it comes back: it recovers
        self.d.stop()
        self.wait_screen(lambda t: 'UNREACHABLE' in t and 'not answering' in t,
                         'orderd unreachable')
        self.d.start()
        text = self.wait_screen(lambda t: 'orderd ok' in t and 'not answering' not in t,
                                'orderd ok again')
        self.assertEqual(self.count(text, 'pending'), 4, text)

        # q quits, with status 0
        subprocess.run(self.tmux + ['send-keys', 'q'], check=True)
        deadline = time.monotonic() + 5 * SLOW
        while not os.path.exists(self.status_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.1)
        with open(self.status_file) as f:
            self.assertEqual(f.read().strip(), '0')


# ---------------------------------------------------------------- a fake orderd

class FakeAdminDoor:
    """A ROUTER on a free port that answers each op from a table, for what a
    healthy test daemon will not show: degraded health, orders needing
    review, stale and unreadable replies."""

    def __init__(self, replies, stale_first=False, garbage_for=(), single_float=False,
                 raw=None):
        self.replies = replies
        self.raw = raw or {}
        self.packer = msgpack.Packer(use_single_float=single_float)
        self.stale_first = stale_first
        self.garbage_for = garbage_for
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port('tcp://127.0.0.1')
        self.endpoint = 'tcp://127.0.0.1:%d' % port
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while self.running:
            if not poller.poll(100):
                continue
            frames = self.sock.recv_multipart()
            req = msgpack.unpackb(frames[-1], raw=False)
            if req['op'] in self.raw:
                self.sock.send_multipart(frames[:-1] + [self.raw[req['op']](req.get('rid'))])
                continue
            if req['op'] in self.garbage_for:
                self.sock.send_multipart(frames[:-1] + [b'\xc1 not msgpack'])
                continue
            if self.stale_first:
                stale = {'v': 1, 'rid': 'someone-else', 'ok': False,
                         'error': {'code': 'internal', 'message': 'stale'}}
                self.sock.send_multipart(frames[:-1] + [msgpack.packb(stale)])
            reply = dict(v=1, rid=req.get('rid'), ok=True, **self.replies.get(req['op'], {}))
            self.sock.send_multipart(frames[:-1] + [self.packer.pack(reply)])

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close(linger=0)


def review_replies():
    now = h.now_ms()
    flagged = {'id': 'o00000000000000aa', 'user_id': 'u-review', 'status': 'failed',
               'total_amount': 4200, 'currency': 'EUR', 'needs_review': True,
               'updated_at': now}
    return {
        'health': {'status': 'degraded', 'uptime_ms': 90061000, 'live_actors': 3, 'orders': 9,
                   'queue_depth': 0, 'sagas_recovered': 1,
                   'checks': {'store': {'status': 'ok', 'used_bytes': 1048576,
                                        'map_bytes': 1073741824, 'reason': None},
                              'payment': {'status': 'down', 'name': 'payment_sandbox',
                                          'version': '1.0.0',
                                          'reason': 'no answer to ping within 2000 ms'},
                              'fulfilment': {'status': 'ok', 'name': 'fulfilment_local',
                                             'version': '1.0.0', 'reason': None}}},
        'stats': {'counts': {s: i for i, s in enumerate(h.STATUSES)}, 'needs_review': 2,
                  'requests_per_s': {'10s': 1.5, '60s': 0.25},
                  'transitions_per_s': {'10s': 0.5, '60s': 0.1},
                  'requests_history': [0, 1, 2, 3, 9], 'transitions_history': [0, 0, 1],
                  'latency_us': {}, 'live_actors': 3, 'queue_depth': 0},
        'list': {'orders': [flagged, dict(flagged, id='o00000000000000ab', needs_review=False)],
                 'next': None},
    }


class AgainstAFakeOrderd(unittest.TestCase):

    def run_om(self, door, *args):
        p = subprocess.run([ORDERMON, '-e', door.endpoint, '--timeout', '2'] + list(args),
                           capture_output=True, text=True, timeout=10)
        return p

    def test_degraded_health_and_its_reason(self):
        door = FakeAdminDoor(review_replies(), stale_first=True)
        try:
            p = self.run_om(door, 'health')
            self.assertEqual(p.returncode, 0, p.stderr)      # a stale reply was skipped
            self.assertRegex(p.stdout, r'(?m)^status\s+degraded$')
            self.assertRegex(p.stdout, r'(?m)^uptime\s+1d 01h$')
            self.assertRegex(p.stdout, r'(?m)^payment\s+down\s+payment_sandbox 1\.0\.0: '
                                       r'no answer to ping within 2000 ms$')
            self.assertRegex(p.stdout, r'(?m)^store\s+ok\s+1\.0 MiB of 1\.0 GiB map used')
            p = self.run_om(door, 'stats')
            self.assertRegex(p.stdout, r'(?m)^needs review\s+2$')
            self.assertRegex(p.stdout, r'(?m)^requests/s\s+1\.5\s+0\.2\s+_\.:-@$')
        finally:
            door.close()

    def test_unreadable_reply_exits_1(self):
        door = FakeAdminDoor({}, garbage_for=('stats',))
        try:
            p = self.run_om(door, 'stats')
            self.assertEqual(p.returncode, 1)
            self.assertIn('not a msgpack map', p.stderr)
        finally:
            door.close()

    def test_json_of_every_msgpack_type(self):
        odd = {'ext': msgpack.ExtType(5, b'\x01\x02\x03'), 'f32': 0.25, 'nan': float('nan'),
               'inf': float('-inf'), 'min': -2 ** 63, 'max': 2 ** 64 - 1, 'tiny': 5e-324,
               'empty_bin': b'', 'bin': b'\xff' * 5, 'deep': [[[[[[[[[[{'x': None}]]]]]]]]]]}
        for single in (True, False):      # floats as float32, then as float64
            door = FakeAdminDoor({'stats': odd}, single_float=single)
            try:
                p = self.run_om(door, '--json', 'stats')
                self.assertEqual(p.returncode, 0, p.stderr)
                doc = json.loads(p.stdout)
                self.assertEqual(doc['ext'], {'ext': 5, 'base64': 'AQID'})
                self.assertEqual(doc['f32'], 0.25)
                self.assertIsNone(doc['nan'])
                self.assertIsNone(doc['inf'])
                self.assertEqual((doc['min'], doc['max']), (-2 ** 63, 2 ** 64 - 1))
                self.assertEqual(doc['tiny'], 0.0 if single else 5e-324)
                self.assertEqual((doc['empty_bin'], doc['bin']), ('', '//////8='))
                self.assertEqual(doc['deep'], odd['deep'])
            finally:
                door.close()

    def test_json_replaces_invalid_utf8(self):
        # orderd refuses such strings, but ordermon must not trust that
        def get_reply(rid):
            reply = {'v': 1, 'rid': rid, 'ok': True,
                     'order': {'id': 'o00000000000000aa', 'user_data': {'name': 'x'}}}
            packed = msgpack.Packer(use_bin_type=False).pack(reply)
            return packed.replace(b'\xa1x', b'\xa3\xc3(\xff', 1)
        door = FakeAdminDoor({}, raw={'get': get_reply})
        try:
            p = self.run_om(door, '--json', 'show', 'o00000000000000aa')
            self.assertEqual(p.returncode, 0, p.stderr)
            doc = json.loads(p.stdout)
            self.assertEqual(doc['order']['user_data']['name'], '\ufffd(\ufffd')
        finally:
            door.close()

    @unittest.skipUnless(shutil.which('tmux'), 'tmux is not installed')
    def test_top_lists_orders_needing_review(self):
        door = FakeAdminDoor(review_replies())
        tmux = ['tmux', '-L', 'ordermon-test-' + uuid.uuid4().hex[:8], '-f', '/dev/null']
        try:
            subprocess.run(tmux + ['new-session', '-d', '-x', '110', '-y', '30',
                                   '%s -e %s -E tcp://127.0.0.1:%d top' % (
                                       ORDERMON, door.endpoint, h.free_port())], check=True)
            deadline = time.monotonic() + 8 * SLOW
            text = ''
            while time.monotonic() < deadline and 'o00000000000000aa' not in text:
                time.sleep(0.2)
                text = subprocess.run(tmux + ['capture-pane', '-p'], capture_output=True,
                                      text=True).stdout
            self.assertIn('orderd degraded', text)
            self.assertIn('payment down no answer to ping', text)
            self.assertIn('NEEDS REVIEW (2)', text)
            self.assertRegex(text, r'o00000000000000aa\s+u-review\s+failed\s+42\.00 EUR')
            self.assertNotIn('o00000000000000ab', text)
            self.assertIn('+1 more', text)
        finally:
            subprocess.run(tmux + ['kill-server'], capture_output=True)
            door.close()


if __name__ == '__main__':
    unittest.main()
