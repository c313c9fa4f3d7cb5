#!/usr/bin/python3
"""A slow payment provider: orderd with payment_paypal against the PayPal
fake that answers every create and capture MS late, side by side with
payment_sandbox at latency_ms = MS, in one run.

    /usr/bin/python3 tools/orderbench/slow_provider.py [--ms 200] \\
        [--carts 64,512] [--secs 10] [--products 1] [--json FILE]

For each number of carts C it measures, one after the other:

  1. the fake alone: C client threads, each on its own keep-alive
     connection, doing what payment_paypal does for an order (POST create,
     POST capture, both MS late), so that a slow fake is never taken for a
     slow adapter. Its ceiling is C / (2 x MS) orders/s;
  2. payment_paypal: `orderbench --spawn --clients C --pipeline 1` (C carts,
     each running create, initiate_payment, confirm in a loop) against a
     fresh orderd, so its adapter starts cold, without a token; the fake
     approves for the buyer (--auto-approve) and counts token requests;
  3. payment_sandbox with latency_ms = MS, the same load.

It prints one row per C: orders/s of the fake alone (with the median time
of one of its exchanges), of PayPal and of the sandbox (with the median
initiate_payment, which is one provider call), their ratio, the token
requests of the PayPal run, and errors (PayPal's + the sandbox's).
Exit status 1 when a run had errors.
"""
import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, 'build', 'bin', 'orderbench')
FAKE = os.path.join(ROOT, 'tests', 'fakes', 'paypal', 'fake_paypal.py')
PYTHON = '/usr/bin/python3'
CLIENT_ID = 'slow-provider-bench'
SECRET = 'slow-provider-secret'


class Fake:
    """The PayPal fake in its own process, auto-approving."""

    def __init__(self, tmp):
        self.secret_file = os.path.join(tmp, 'paypal.secret')
        with open(self.secret_file, 'w') as f:
            f.write(SECRET + '\n')
        os.chmod(self.secret_file, 0o600)
        self.proc = subprocess.Popen(
            [PYTHON, FAKE, '0', '--client-id', CLIENT_ID, '--secret-file',
             self.secret_file, '--auto-approve'],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.port = int(self.proc.stdout.readline().decode().strip())

    def call(self, method, path, body=None):
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        connection.request(method, path, json.dumps(body) if body is not None else None,
                           {'Content-Type': 'application/json'})
        answer = json.loads(connection.getresponse().read().decode() or '{}')
        connection.close()
        return answer

    def delay(self, ms):
        # Creates and captures (and order reads) are late; tokens are not
        self.call('POST', '/test/delay', {'ms': ms, 'match': '/v2/checkout/orders',
                                          'count': -1})

    def token_requests(self):
        return self.call('GET', '/test/state')['counters']['token_requests']

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.proc.stdout.close()


def fake_alone(fake, carts, secs):
    """Orders/s the fake serves to `carts` keep-alive clients doing
    create + capture, the number of failed orders, and the median time of
    one exchange in ms."""
    basic = base64.b64encode(('%s:%s' % (CLIENT_ID, SECRET)).encode()).decode()
    connection = http.client.HTTPConnection('127.0.0.1', fake.port, timeout=30)
    connection.request('POST', '/v1/oauth2/token', 'grant_type=client_credentials',
                       {'Authorization': 'Basic ' + basic,
                        'Content-Type': 'application/x-www-form-urlencoded'})
    token = json.loads(connection.getresponse().read().decode())['access_token']
    connection.close()
    headers = {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'}
    done, failed, exchange_ms = [0], [0], []
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + secs

    def cart(n):
        connection = http.client.HTTPConnection('127.0.0.1', fake.port, timeout=30)
        i = 0
        while time.monotonic() < stop_at:
            i += 1
            order = {'intent': 'CAPTURE', 'purchase_units': [
                {'custom_id': 'alone-%d-%d' % (n, i),
                 'amount': {'currency_code': 'USD', 'value': '10.00'}}]}
            began = time.monotonic()
            try:
                connection.request('POST', '/v2/checkout/orders', json.dumps(order), headers)
                created = json.loads(connection.getresponse().read().decode())
                connection.request('POST', '/v2/checkout/orders/%s/capture' % created['id'],
                                   '{}', headers)
                response = connection.getresponse()
                response.read()
                ok = response.status in (200, 201)
            except (OSError, http.client.HTTPException, KeyError, ValueError):
                connection.close()
                connection = http.client.HTTPConnection('127.0.0.1', fake.port, timeout=30)
                ok = False
            with lock:
                exchange_ms.append((time.monotonic() - began) * 500.0)
                if ok:
                    done[0] += 1
                else:
                    failed[0] += 1
        connection.close()

    threads = [threading.Thread(target=cart, args=(n,)) for n in range(carts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    exchange_ms.sort()
    p50 = exchange_ms[len(exchange_ms) // 2] if exchange_ms else 0.0
    return done[0] / (time.monotonic() - start), failed[0], p50


def orderbench(name, out, carts, secs, products, sets):
    """One orderbench --spawn run; its JSON figures."""
    path = os.path.join(out, name + '.json')
    command = [BENCH, '--spawn', '--clients', str(carts), '--pipeline', '1',
               '--products', str(products), '--duration', str(secs), '--json', path, '-q']
    for setting in sets:
        command += ['-s', setting]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1) or not os.path.exists(path):
        sys.exit('slow_provider: %s failed (exit %d): %s'
                 % (name, done.returncode, done.stderr[-2000:]))
    with open(path) as f:
        return json.load(f)


def measure(fake, out, ms, carts, secs, products):
    alone, alone_failed, alone_ms = fake_alone(fake, carts, secs)
    tokens = fake.token_requests()
    paypal = orderbench('paypal_%d' % carts, out, carts, secs, products, [
        'payment/plugin=build/plugins/payment_paypal.so',
        'payment/base_url=http://127.0.0.1:%d' % fake.port,
        'payment/client_id=' + CLIENT_ID,
        'payment/secret_file=' + fake.secret_file,
        # Enough exchanges on the wire for every cart: the adapter's
        # ceiling is max_in_flight / MS calls per second
        'payment/max_in_flight=%d' % max(256, carts)])
    tokens = fake.token_requests() - tokens
    sandbox = orderbench('sandbox_%d' % carts, out, carts, secs, products,
                         ['payment/latency_ms=%d' % ms])
    return {'carts': carts, 'ms': ms,
            'fake_alone_orders_per_s': alone, 'fake_alone_errors': alone_failed,
            'fake_alone_exchange_p50_ms': alone_ms,
            # initiate_payment is one PayPal create plus orderd's own work
            'paypal_initiate_p50_ms': paypal['latency_us']['initiate_payment']['p50'] / 1000.0,
            'sandbox_initiate_p50_ms': sandbox['latency_us']['initiate_payment']['p50'] / 1000.0,
            'paypal_orders_per_s': paypal['orders_per_s'],
            'paypal_errors': paypal['errors_total'],
            'paypal_token_requests': tokens,
            'sandbox_orders_per_s': sandbox['orders_per_s'],
            'sandbox_errors': sandbox['errors_total'],
            'ratio': paypal['orders_per_s'] / sandbox['orders_per_s']
            if sandbox['orders_per_s'] else 0.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ms', type=int, default=200, help='PayPal latency per create/capture')
    parser.add_argument('--carts', default='64,512', help='comma-separated cart counts')
    parser.add_argument('--secs', type=int, default=10, help='length of each run')
    parser.add_argument('--products', type=int, default=1, help='lines per order')
    parser.add_argument('--json', default=None, help='write the rows here as JSON')
    parser.add_argument('--out', default=os.path.join(ROOT, 'build', 'bench'))
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix='slow-provider-') as tmp:
        fake = Fake(tmp)
        try:
            fake.delay(options.ms)
            for carts in [int(c) for c in options.carts.split(',')]:
                print('$ %d carts, %d ms a call, %d s a run' % (carts, options.ms, options.secs),
                      file=sys.stderr, flush=True)
                rows.append(measure(fake, options.out, options.ms, carts, options.secs,
                                    options.products))
        finally:
            fake.stop()
    print('%-6s %-6s %-22s %-22s %-22s %-6s %-7s %s' % (
        'carts', 'ms', 'fake alone (exchange)', 'paypal (initiate)', 'sandbox (initiate)',
        'ratio', 'tokens', 'errors'))
    for r in rows:
        print('%-6d %-6d %-22s %-22s %-22s %-6s %-7d %d+%d' % (
            r['carts'], r['ms'],
            '%.1f/s (%.0f ms)' % (r['fake_alone_orders_per_s'], r['fake_alone_exchange_p50_ms']),
            '%.1f/s (%.0f ms)' % (r['paypal_orders_per_s'], r['paypal_initiate_p50_ms']),
            '%.1f/s (%.0f ms)' % (r['sandbox_orders_per_s'], r['sandbox_initiate_p50_ms']),
            '%.2f' % r['ratio'], r['paypal_token_requests'], r['paypal_errors'],
            r['sandbox_errors']))
    if options.json:
        with open(options.json, 'w') as f:
            json.dump(rows, f, indent=2)
    return 1 if any(r['paypal_errors'] or r['sandbox_errors'] for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
