#!/usr/bin/python3
"""GET /metrics (orderd/metrics) against a real orderd, checked with the
real tools of Debian's `prometheus` package.

- promtool check metrics on a live exposition;
- promtool check rules and promtool test rules on config/orderd-alerts.yml;
- a real prometheus (free loopback port, temporary storage, 1 s scrapes)
  scraping a running orderd: the counters it reads back through its query
  API equal what the test did, and every expression of the alert rules and
  of the Grafana dashboard evaluates;
- 300 idle connections to the metrics port leave the service door
  answering, and cost orderd a bounded number of descriptors;
- a slow payment adapter's timeouts, its health and the sagas it
  suspends;
- other paths 404, an empty orderd/metrics turns it off, a port in use or
  a non-loopback address stops orderd at start with exit 2 naming the key.

Skips what needs prometheus or promtool when they are not installed.

    /usr/bin/python3 tests/integration/test_metrics.py [-v] [Class.test]
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from saga_helpers import Shop, cart_ending, make_cart, wait_until  # noqa: E402

SLOW = h.SLOW
PROMTOOL = shutil.which('promtool') or '/usr/bin/promtool'
PROMETHEUS = shutil.which('prometheus') or '/usr/bin/prometheus'
RULES = os.path.join(h.SOURCE, 'config', 'orderd-alerts.yml')
RULE_TESTS = os.path.join(h.HERE, 'metrics_alerts.yml')
DASHBOARD = os.path.join(h.SOURCE, 'config', 'orderd-dashboard.json')
SKU = 'sku-banana'


def fetch(url, timeout=5):
    """(status, headers, body text) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout * SLOW) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse(text):
    """{series as written: value} of an exposition's samples."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            series, value = line.rsplit(' ', 1)
            samples[series] = float(value)
    return samples


def full_orders(shop, count):
    """`count` orders created, paid and confirmed; their ids."""
    ids = []
    for _ in range(count):
        order = shop.initiate_ok(shop.create_ok(make_cart([(SKU, 1, 250)]))['id'])
        reply = shop.confirm(order)
        assert reply.get('ok') and reply['order']['status'] == 'confirmed', reply
        ids.append(order['id'])
    return ids


def listening_ports(pid):
    """The TCP ports process `pid` listens on (IPv4), sorted."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            inodes.add(link[8:-1])
    ports = []
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == '0A' and fields[9] in inodes:        # LISTEN
                ports.append(int(fields[1].split(':')[1], 16))
    return sorted(ports)


def have(tool):
    return os.access(tool, os.X_OK)


class MetricsDoor(unittest.TestCase):
    """One daemon for the checks that only read."""

    @classmethod
    def setUpClass(cls):
        cls.d = h.start_daemon()

    @classmethod
    def tearDownClass(cls):
        h.stop_daemon(cls.d)

    def test_the_exposition_has_its_content_type_and_families(self):
        status, headers, body = fetch(self.d.metrics_url)
        self.assertEqual(status, 200)
        self.assertEqual(headers['Content-Type'], 'text/plain; version=0.0.4; charset=utf-8')
        samples = parse(body)
        for status_name in h.STATUSES:
            self.assertIn('orderd_orders{status="%s"}' % status_name, samples)
        self.assertEqual(samples['orderd_adapter_up{adapter="payment"}'], 1)
        self.assertEqual(samples['orderd_adapter_up{adapter="fulfilment"}'], 1)
        self.assertGreater(samples['orderd_store_map_size_bytes'], 0)
        self.assertGreater(samples['process_resident_memory_bytes'], 0)
        self.assertGreater(samples['process_open_fds'], 0)
        # The process started before this test asked
        self.assertLess(samples['process_start_time_seconds'], time.time() + 1)
        self.assertGreater(samples['process_start_time_seconds'], time.time() - 600 * SLOW)
        # docs/OPERATIONS.md names the server's thread
        self.assertIn('MHD-single', h.thread_names(self.d.proc.pid))

    def test_an_idempotent_replay_counts_as_what_it_returned(self):
        series = 'orderd_requests_total{op="create",result="ok"}'
        before = parse(fetch(self.d.metrics_url)[2]).get(series, 0)
        shop = Shop(self.d)
        body = shop.c.body('create', idem=h.new_id('idem-'), **h.create_fields(
            shop.user, make_cart([(SKU, 1, 250)])))
        first = shop.c.call_body(body)
        replay = shop.c.call_body(dict(body, rid=h.new_id('rid-')))
        self.assertTrue(first['ok'] and replay['ok'])
        self.assertEqual(replay['order']['id'], first['order']['id'])
        self.assertEqual(parse(fetch(self.d.metrics_url)[2]).get(series, 0), before + 2)

    @unittest.skipUnless(have(PROMTOOL), 'promtool not installed (Debian prometheus)')
    def test_promtool_checks_a_live_exposition(self):
        Shop(self.d).create_ok(make_cart([(SKU, 1, 250)]))
        body = fetch(self.d.metrics_url)[2]
        p = subprocess.run([PROMTOOL, 'check', 'metrics'], input=body.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertEqual(p.stdout.decode() + p.stderr.decode(), '')

    @unittest.skipUnless(have(PROMTOOL), 'promtool not installed (Debian prometheus)')
    def test_promtool_checks_and_tests_the_alert_rules(self):
        p = subprocess.run([PROMTOOL, 'check', 'rules', RULES], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertIn('SUCCESS: 6 rules found', p.stdout.decode())
        p = subprocess.run([PROMTOOL, 'test', 'rules', RULE_TESTS], capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_other_paths_answer_404(self):
        base = self.d.metrics_url[:-len('/metrics')]
        for path in ('/', '/metric', '/metrics/', '/metrics.txt', '/api/v1/query'):
            self.assertEqual(fetch(base + path)[0], 404, path)
        self.assertEqual(fetch(base + '/metrics?name[]=up')[0], 200)

    def test_the_ready_line_names_the_metrics_address(self):
        self.assertIn('metrics %s,' % self.d.config['orderd']['metrics'], self.d.log_tail(200))

    def test_the_dashboard_uses_only_metrics_orderd_serves(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        served = set(re.sub(r'\{.*', '', s) for s in parse(fetch(self.d.metrics_url)[2]))
        # Families that show up once something is counted
        served |= {'orderd_requests_total', 'orderd_transitions_total',
                   'orderd_adapter_calls_total', 'orderd_request_duration_seconds_bucket',
                   'orderd_adapter_call_duration_seconds_bucket'}
        exprs = [t['expr'] for p in dashboard['panels'] for t in p.get('targets', [])]
        self.assertGreater(len(exprs), 20)
        for expr in exprs:
            for name in re.findall(r'\b((?:orderd|process)_[a-z_]+)', expr):
                self.assertIn(name, served, expr)


class Starting(unittest.TestCase):
    """What orderd/metrics does to start-up."""

    def run_daemon(self, d):
        """Runs orderd on d's config until it exits; (status, output)."""
        p = subprocess.run(d.argv(), capture_output=True, timeout=60 * SLOW, cwd=d.tmp)
        return p.returncode, (p.stdout + p.stderr).decode()

    def test_a_port_in_use_stops_orderd_with_exit_2_naming_the_key(self):
        with socket.socket() as taken:
            taken.bind(('127.0.0.1', 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            d = h.Daemon(overrides={'orderd/metrics': '127.0.0.1:%d' % port})
            try:
                status, output = self.run_daemon(d)
            finally:
                d.cleanup()
        self.assertEqual(status, 2, output)
        self.assertIn('orderd: doors: orderd/metrics: cannot bind 127.0.0.1:%d: '
                      'Address already in use' % port, output)

    def test_a_non_loopback_address_needs_allow_insecure(self):
        d = h.Daemon(overrides={'orderd/metrics': '0.0.0.0:%d' % h.free_port()})
        try:
            status, output = self.run_daemon(d)
        finally:
            d.cleanup()
        self.assertEqual(status, 2, output)
        self.assertIn('orderd/metrics: 0.0.0.0:', output)
        self.assertIn('unless orderd/allow_insecure = 1', output)

    def test_empty_turns_metrics_off(self):
        with h.Daemon(overrides={'orderd/metrics': ''}) as d:
            self.assertIsNone(d.metrics_url)
            self.assertIn('metrics off,', d.log_tail(200))
            self.assertEqual(d.client().call('health')['status'], 'ok')
            doors = sorted(d.ports[:3])
            self.assertEqual(listening_ports(d.proc.pid), doors)
        with h.Daemon() as d:
            self.assertEqual(listening_ports(d.proc.pid), sorted(d.ports))


class IdleConnections(unittest.TestCase):
    CONNECTIONS = 300

    def test_idle_connections_to_the_metrics_port_do_not_disturb_the_service_door(self):
        with h.Daemon() as d:
            shop = Shop(d)
            full_orders(shop, 1)
            fds_before = len(os.listdir('/proc/%d/fd' % d.proc.pid))
            port = int(d.config['orderd']['metrics'].rsplit(':', 1)[1])
            idle = []
            try:
                for _ in range(self.CONNECTIONS):
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex(('127.0.0.1', port))
                    idle.append(s)
                # Every one of them is open (or waiting in the backlog) while
                # the service door serves whole orders and reads
                ids = full_orders(shop, 3)
                for order_id in ids * 5:
                    self.assertEqual(shop.get(order_id)['status'], 'confirmed')
                self.assertEqual(d.admin_client().call('health')['status'], 'ok')
                fds_during = len(os.listdir('/proc/%d/fd' % d.proc.pid))
                # At most 64 served at once (metrics.c), plus a little slack
                # for actors the orders started
                self.assertLess(fds_during - fds_before, 64 + 40,
                                'orderd holds %d descriptors more' % (fds_during - fds_before))
            finally:
                for s in idle:
                    s.close()
            # Once they are gone, scrapes are answered again
            wait_until(lambda: fetch(d.metrics_url)[0] == 200, timeout=30,
                       what='a scrape after the idle connections closed')


class AdapterTrouble(unittest.TestCase):
    """A payment adapter slower than orderd waits for: its timeouts, its
    health and the sagas it suspends show in the metrics."""

    def test_timeouts_adapter_down_and_suspended_sagas(self):
        overrides = {'payment/latency_ms': 2000, 'payment/timeout_ms': 100}
        with h.Daemon(overrides=overrides) as d:
            shop = Shop(d)
            order = shop.create_ok(make_cart([(SKU, 1, 250)]))
            self.assertEqual(h.error_code(shop.initiate(order['id'])), 'unavailable')

            def samples():
                return parse(fetch(d.metrics_url)[2])
            wait_until(lambda: samples().get(
                'orderd_sagas_suspended_total{kind="initiate_payment"}', 0) >= 1,
                timeout=30, what='a suspended initiate_payment saga')
            got = samples()
            # Each attempt counts: the saga's drive makes four
            self.assertGreaterEqual(got.get('orderd_adapter_calls_total{adapter="payment",'
                                            'op="create",result="timeout"}', 0), 4)
            self.assertEqual(got.get('orderd_sagas_suspended_total{kind="confirm"}'), 0)
            self.assertEqual(got.get('orderd_requests_total{op="initiate_payment",'
                                     'result="unavailable"}'), 1)
            wait_until(lambda: samples().get('orderd_adapter_up{adapter="payment"}') == 0,
                       timeout=30, what='the payment adapter reported down')
            self.assertEqual(samples().get('orderd_adapter_up{adapter="fulfilment"}'), 1)
            self.assertEqual(samples().get('orderd_orders{status="pending"}'), 1)


class Scraped(unittest.TestCase):
    """A real prometheus scraping orderd every second."""

    @classmethod
    def setUpClass(cls):
        if not (have(PROMETHEUS) and have(PROMTOOL)):
            raise unittest.SkipTest('prometheus not installed (Debian prometheus)')
        cls.d = h.Daemon().start()
        cls.tmp = tempfile.mkdtemp(prefix='orderd-prometheus-')
        cls.port = h.free_port()
        config = os.path.join(cls.tmp, 'prometheus.yml')
        with open(config, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
                    'rule_files:\n  - %s\n'
                    'scrape_configs:\n  - job_name: orderd\n    static_configs:\n'
                    '      - targets: ["%s"]\n' % (RULES, cls.d.config['orderd']['metrics']))
        cls.log = open(os.path.join(cls.tmp, 'prometheus.log'), 'wb')
        cls.prometheus = subprocess.Popen(
            [PROMETHEUS, '--config.file=' + config,
             '--storage.tsdb.path=' + os.path.join(cls.tmp, 'data'),
             '--web.listen-address=127.0.0.1:%d' % cls.port, '--log.level=warn'],
            stdout=cls.log, stderr=cls.log, stdin=subprocess.DEVNULL, cwd=cls.tmp)
        cls.api = 'http://127.0.0.1:%d' % cls.port
        try:
            wait_until(lambda: cls.prometheus.poll() is not None
                       or cls._reachable(cls.api + '/-/ready'), timeout=60,
                       what='prometheus to be ready')
            if cls.prometheus.poll() is not None:
                raise AssertionError('prometheus exited: %s' % open(cls.log.name).read())
        except BaseException:
            cls.tearDownClass()
            raise

    @staticmethod
    def _reachable(url):
        try:
            return fetch(url, timeout=1)[0] == 200
        except OSError:
            return False

    @classmethod
    def tearDownClass(cls):
        prometheus = getattr(cls, 'prometheus', None)
        if prometheus and prometheus.poll() is None:
            prometheus.terminate()
            try:
                prometheus.wait(30)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
        if getattr(cls, 'log', None):
            cls.log.close()
        if getattr(cls, 'tmp', None):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if getattr(cls, 'd', None):
            cls.d.stop()
            cls.d.cleanup()

    def query(self, expr):
        """The result list of an instant query; fails on an error."""
        url = self.api + '/api/v1/query?' + urllib.parse.urlencode({'query': expr})
        status, _, body = fetch(url)
        reply = json.loads(body)
        self.assertEqual((status, reply.get('status')), (200, 'success'), (expr, reply))
        return reply['data']['result']

    def value(self, expr):
        result = self.query(expr)
        return float(result[0]['value'][1]) if result else None

    def wait_value(self, expr, expected):
        wait_until(lambda: self.value(expr) == expected, timeout=30,
                   what='%s == %r (last %r)' % (expr, expected, self.value(expr)))

    def test_counters_read_back_through_prometheus_equal_what_the_test_did(self):
        self.wait_value('up{job="orderd"}', 1)
        shop = Shop(self.d)
        count = 4
        full_orders(shop, count)
        cancelled = shop.create_ok(make_cart([(SKU, 1, 250)]))
        self.assertTrue(shop.cancel(cancelled['id']).get('ok'))
        # The sandbox declines an amount ending in 02, and answers the first
        # capture of one ending in 03 with unavailable (retried at once)
        declined = shop.initiate_ok(shop.create_ok(cart_ending([(SKU, 1, 1000)], 2))['id'])
        self.assertEqual(h.error_code(shop.confirm(declined)), 'payment_declined')
        retried = shop.initiate_ok(shop.create_ok(cart_ending([(SKU, 1, 1000)], 3))['id'])
        self.assertEqual(shop.confirm(retried)['order']['status'], 'confirmed')
        shop.set_stock('sku-rare', 1)
        self.assertEqual(h.error_code(shop.create(make_cart([('sku-rare', 2, 100)]))),
                         'out_of_stock')
        for _ in range(3):
            reply = shop.c.call('get', order_id='o' + '0' * 16, user_id=shop.user)
            self.assertEqual(h.error_code(reply), 'not_found')
        requests = {('create', 'ok'): count + 3, ('create', 'out_of_stock'): 1,
                    ('initiate_payment', 'ok'): count + 2, ('confirm', 'ok'): count + 1,
                    ('confirm', 'payment_declined'): 1, ('cancel', 'ok'): 1,
                    ('get', 'not_found'): 3}
        for (op, result), expected in requests.items():
            self.wait_value('orderd_requests_total{op="%s",result="%s"}' % (op, result), expected)
        self.wait_value('sum(orderd_request_duration_seconds_count{op="confirm"})', count + 2)
        moves = {('none', 'pending'): count + 3,
                 ('pending', 'payment_initiated'): count + 2,
                 ('payment_initiated', 'paid'): count + 1,
                 ('paid', 'confirmed'): count + 1,
                 ('payment_initiated', 'failed'): 1,
                 ('pending', 'cancelled'): 1}
        for (source, target), expected in moves.items():
            self.wait_value('orderd_transitions_total{from="%s",to="%s"}' % (source, target),
                            expected)
        self.wait_value('orderd_orders{status="confirmed"}', count + 1)
        self.wait_value('orderd_orders{status="cancelled"}', 1)
        self.wait_value('orderd_orders{status="failed"}', 1)
        calls = {('create', 'ok'): count + 2, ('capture', 'ok'): count + 1,
                 ('capture', 'unavailable'): 1, ('capture', 'payment_declined'): 1}
        for (op, result), expected in calls.items():
            self.wait_value('orderd_adapter_calls_total{adapter="payment",op="%s",result="%s"}'
                            % (op, result), expected)
        self.wait_value('orderd_compensations_total{kind="declined",result="ok"}', 1)
        self.wait_value('orderd_compensations_total{kind="release",result="ok"}', 1)
        self.wait_value('sum(orderd_sagas_suspended_total)', 0)
        # What prometheus holds is what orderd serves, series by series
        served = parse(fetch(self.d.metrics_url)[2])
        for series, value in served.items():
            if series.startswith(('orderd_transitions_total', 'orderd_store_commits_total',
                                  'orderd_requests_total{op="create"',
                                  'orderd_compensations_total')) \
                    or (series.startswith('orderd_adapter_calls_total') and 'ping' not in series):
                self.wait_value(series, value)

    def test_every_rule_and_dashboard_expression_evaluates(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = [t['expr'] for p in dashboard['panels'] for t in p.get('targets', [])]
        with open(RULES) as f:
            exprs += re.findall(r'^\s+expr: (.*)$', f.read(), re.M)
        self.assertGreater(len(exprs), 25)
        for expr in exprs:
            self.query(expr.replace('$__rate_interval', '1m').replace('$instance', '.*'))
        # The rules were loaded by this prometheus too, healthy
        status, _, body = fetch(self.api + '/api/v1/rules')
        groups = json.loads(body)['data']['groups']
        rules = [r for g in groups for r in g['rules']]
        self.assertEqual(len(rules), 6)
        wait_until(lambda: all(r.get('health') == 'ok' for r in
                               [r for g in json.loads(fetch(self.api + '/api/v1/rules')[2])
                                ['data']['groups'] for r in g['rules']]),
                   timeout=30, what='every rule evaluated healthy')


if __name__ == '__main__':
    unittest.main()
