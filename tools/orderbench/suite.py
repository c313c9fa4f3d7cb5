#!/usr/bin/python3
"""Every figure of docs/BENCHMARKS.md in one run: `scons bench [secs=S]`.

    /usr/bin/python3 tools/orderbench/suite.py [--secs S] [--out DIR]

Runs build/bin/orderbench (each run spawns its own orderd with sync=full
in a temporary data directory) and prints one table; each run's --json goes
to DIR (default build/bench). The open-loop rate is half the peak measured
a moment before in the same suite, as the latency target asks. The 1M-order
figures take many minutes and are a separate procedure (docs/BENCHMARKS.md).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, 'build', 'bin', 'orderbench')

PEAK = ['--clients', '128', '--pipeline', '4', '--products', '3']
OPS = ('create', 'initiate_payment', 'confirm')


def run(out, name, args):
    """One orderbench run; returns its JSON figures."""
    path = os.path.join(out, name + '.json')
    command = [BENCH] + args + ['--json', path]
    print('$ ' + ' '.join(['orderbench'] + args), file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1) or not os.path.exists(path):
        sys.exit('suite: %s failed (exit %d): %s' % (name, done.returncode, done.stderr[-2000:]))
    with open(path) as f:
        return json.load(f)


def slow_provider(out, secs):
    """tools/orderbench/slow_provider.py at 200 ms and 64 carts: its row."""
    path = os.path.join(out, 'slow_provider.json')
    command = ['/usr/bin/python3', os.path.join(ROOT, 'tools', 'orderbench', 'slow_provider.py'),
               '--ms', '200', '--carts', '64', '--secs', secs, '--out', out, '--json', path]
    print('$ slow_provider.py --ms 200 --carts 64 --secs ' + secs, file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1) or not os.path.exists(path):
        sys.exit('suite: slow_provider failed (exit %d): %s'
                 % (done.returncode, done.stderr[-2000:]))
    with open(path) as f:
        return json.load(f)[0]


def ms(figures, op, key):
    return figures['latency_us'][op][key] / 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--secs', type=int, default=30, help='length of the main runs')
    parser.add_argument('--out', default=os.path.join(ROOT, 'build', 'bench'))
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    secs = str(options.secs)
    short = str(max(3, options.secs // 3))
    rows = []

    probes = run(options.out, 'probes', ['--fsync-probe', options.out + '/fsync',
                                          '--hop-probe'])
    fsync = probes['fsync_probe']['commits_per_s']
    hop = probes['hop_probe']
    rows.append(('fsync probe', '%.0f commits/s' % fsync))
    rows.append(('hop probe', '%.1f us CPU per inproc round trip' % hop['cpu_us_per_round_trip']))

    peak = run(options.out, 'peak', ['--spawn'] + PEAK + ['--duration', secs])
    store = peak['store']
    rows.append(('peak, 3 products, %s s' % secs,
                 '%.0f orders/s, %d errors, orderd CPU %.0f%%'
                 % (peak['orders_per_s'], peak['errors_total'], peak['orderd']['cpu_pct'])))
    rows.append(('transitions vs fsync', '%.0f/s = %.2fx the probe; %.1f per commit'
                 % (store['transitions_per_s'], store['transitions_per_s'] / fsync,
                    store['transitions_per_commit'])))

    rate = max(1, int(peak['orders_per_s'] / 2))
    half = run(options.out, 'half_peak', ['--spawn', '--rate', str(rate), '--products', '3',
                                          '--duration', secs])
    rows.append(('p99 at %d orders/s (half the peak)' % rate,
                 ', '.join('%s %.1f ms' % (op, ms(half, op, 'p99')) for op in OPS)))

    for pipeline in ('1', '16'):
        gets = run(options.out, 'gets_p' + pipeline,
                   ['--spawn', '--clients', '64', '--pipeline', pipeline, '--mix', 'get=only',
                    '--preload', '10000', '--duration', short])
        rows.append(('gets, 64 clients x %s, 10k stored' % pipeline,
                     '%.0f/s, p50 %.2f ms, p99 %.2f ms'
                     % (gets['requests_per_s'], ms(gets, 'get', 'p50'), ms(gets, 'get', 'p99'))))

    for products in ('1', '3', '10', '50'):
        curve = run(options.out, 'products_' + products,
                    ['--spawn', '--clients', '128', '--pipeline', '4', '--products', products,
                     '--duration', short])
        rows.append(('%s products' % products, '%.0f orders/s, orderd CPU %.0f%%'
                     % (curve['orders_per_s'], curve['orderd']['cpu_pct'])))

    for stored in ('10000', '100000'):
        curve = run(options.out, 'stored_' + stored,
                    ['--spawn'] + PEAK + ['--preload', stored, '--duration', short])
        rows.append(('%s stored' % stored, '%.0f orders/s, confirm p99 %.1f ms'
                     % (curve['orders_per_s'], ms(curve, 'confirm', 'p99'))))

    slow = slow_provider(options.out, short)
    rows.append(('slow provider, 200 ms, 64 carts',
                 'payment_paypal %.0f orders/s = %.2fx the sandbox (%.0f/s); fake alone %.0f/s; '
                 '%d token call(s), %d errors'
                 % (slow['paypal_orders_per_s'], slow['ratio'], slow['sandbox_orders_per_s'],
                    slow['fake_alone_orders_per_s'], slow['paypal_token_requests'],
                    slow['paypal_errors'] + slow['sandbox_errors'])))

    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print('%-*s  %s' % (width, name, value))


if __name__ == '__main__':
    main()
