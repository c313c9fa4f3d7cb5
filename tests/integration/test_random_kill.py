#!/usr/bin/python3
"""Random SIGKILL under load: 200 orders go through create -> initiate ->
confirm (some declined `..02`, some with a transient capture failure
`..03`, some cancelled, some abandoned) from several client threads while
the daemon is SIGKILLed at random moments 20 times and restarted. Clients
retry with their idempotency keys. Then the load stops, background retries
settle, leftovers are cancelled, and PROTOCOL.md §4.2 must hold, along
with what the clients were told.

    /usr/bin/python3 tests/integration/test_random_kill.py [-v]
    ORDERD_TEST_SEED=1234 /usr/bin/python3 tests/integration/test_random_kill.py

The seed is printed; it fixes the order plans and the kill schedule (thread
timing still varies from run to run).
"""
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import create_fields, new_id, error_code  # noqa: E402
import saga_helpers as sh  # noqa: E402
from saga_helpers import cart_ending  # noqa: E402

N_ORDERS = 200
N_THREADS = 8
N_KILLS = 20
LOAD_WINDOW = 16.0            # seconds over which order starts are spread
KILL_GAP = (0.25, 1.0)        # seconds between a restart and the next kill
CALL_TIMEOUT_MS = 1000        # a client's wait before it sends again
OP_DEADLINE = 25.0            # a client gives one step up after this long
SEED = int(os.environ.get('ORDERD_TEST_SEED') or (time.time_ns() % (2 ** 31)))

PLENTY = 100000
SCARCE = 40


class Plan:
    """What one order's client will do, drawn from the seeded RNG."""

    def __init__(self, i, rng, skus, scarce):
        self.i = i
        self.user = 'user-%d' % (i % 23)
        self.cart_id = 'cart-%d-%s' % (i, new_id())
        lines = [(s, rng.randint(1, 3), rng.choice((100, 250, 999)))
                 for s in rng.sample(skus, rng.randint(1, 3))]
        if rng.random() < 0.25:
            lines.append((scarce, rng.randint(1, 4), 500))
        x = rng.random()
        self.magic = 2 if x < 0.12 else 3 if x < 0.24 else rng.choice((0, 10, 50, 99))
        self.cart = cart_ending(lines, self.magic)
        x = rng.random()
        self.action = ('cancel_pending' if x < 0.05 else 'cancel_initiated' if x < 0.15
                       else 'abandon' if x < 0.20 else 'confirm')
        self.think = [rng.uniform(0, 0.08) for _ in range(3)]
        self.idem = {op: 'k-%d-%s-%s' % (i, op, new_id())
                     for op in ('create', 'initiate_payment', 'confirm', 'cancel')}
        # what the client was told
        self.order_id = None
        self.told = {}            # op -> final reply
        self.gave_up = None


class RandomKill(unittest.TestCase):

    def setUp(self):
        print('random kill seed: %d (ORDERD_TEST_SEED=%d to repeat)' % (SEED, SEED),
              flush=True)
        self.rng = random.Random(SEED)
        self.d = h.Daemon(overrides={'payment/latency_ms': 10, 'fulfilment/latency_ms': 5,
                                     'orderd/saga_retry_ms': 200})
        self.d.start()
        self.problems = []
        self.lock = threading.Lock()

    def tearDown(self):
        if not getattr(self._outcome, 'success', True):
            sys.stderr.write('\n--- seed %d; daemon log tail ---\n%s\n'
                             % (SEED, self.d.log_tail(60)))
        self.d.cleanup()

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    # ------------------------------------------------------------------
    def call(self, client, plan, op, fields):
        """Sends op with the plan's idempotency key until a reply that
        settles it arrives; returns that reply, or None when the step is
        given up (load stopped, or OP_DEADLINE passed)."""
        body = {'v': 1, 'op': op, 'idem': plan.idem[op]}
        body.update(fields)
        deadline = time.monotonic() + OP_DEADLINE
        while True:
            if self.stop_load.is_set() or time.monotonic() > deadline:
                plan.gave_up = op
                return None
            body['rid'] = new_id('r-')
            try:
                r = client.call_body(body, CALL_TIMEOUT_MS)
            except h.ReplyTimeout:
                continue
            code = error_code(r)
            if code in ('busy', 'unavailable'):
                time.sleep(0.05)
                continue
            if code in ('internal', 'idempotency_mismatch', 'bad_request', 'forbidden',
                        'not_found'):
                self.problem('order %d %s: %r' % (plan.i, op, r))
            plan.told[op] = r
            return r

    def run_plan(self, client, plan):
        u = plan.user
        r = self.call(client, plan, 'create', create_fields(u, plan.cart, cart_id=plan.cart_id))
        if r is None or r.get('ok') is not True:
            if r is not None and error_code(r) != 'out_of_stock':
                self.problem('order %d create: %r' % (plan.i, r))
            return
        plan.order_id = r['order']['id']
        oid = plan.order_id
        time.sleep(plan.think[0])
        if plan.action == 'cancel_pending':
            self.call(client, plan, 'cancel', {'order_id': oid, 'user_id': u})
            return
        r = self.call(client, plan, 'initiate_payment', {'order_id': oid, 'user_id': u})
        if r is None or r.get('ok') is not True:
            return
        pid = r['order']['payment']['provider_order_id']
        time.sleep(plan.think[1])
        if plan.action == 'abandon':
            return
        if plan.action == 'cancel_initiated':
            self.call(client, plan, 'cancel', {'order_id': oid, 'user_id': u})
            return
        self.call(client, plan, 'confirm', {'order_id': oid, 'user_id': u,
                                            'provider_order_id': pid})

    def worker(self, plans, t0):
        client = h.Client(self.d.service, 'dealer', timeout_ms=CALL_TIMEOUT_MS, ctx=self.d.ctx)
        try:
            while not self.stop_load.is_set():
                with self.lock:
                    if not plans:
                        return
                    plan = plans.pop(0)
                start_at = t0 + plan.i * LOAD_WINDOW / N_ORDERS
                delay = start_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    self.run_plan(client, plan)
                except Exception as exc:       # a bug in the test, or a bad reply
                    self.problem('order %d: %s: %r' % (plan.i, type(exc).__name__, exc))
        finally:
            client.close()

    # ------------------------------------------------------------------
    def test_random_sigkill_under_load(self):
        t_start = time.monotonic()
        skus = [new_id('SKU-') for _ in range(4)]
        scarce = new_id('SKU-SCARCE-')
        initial = {s: PLENTY for s in skus}
        initial[scarce] = SCARCE
        self.d.seed_stock(initial)
        plans = [Plan(i, self.rng, skus, scarce) for i in range(N_ORDERS)]
        kill_gaps = [self.rng.uniform(*KILL_GAP) for _ in range(N_KILLS)]
        todo = list(plans)
        self.stop_load = threading.Event()
        t0 = time.monotonic()
        threads = [threading.Thread(target=self.worker, args=(todo, t0), daemon=True)
                   for _ in range(N_THREADS)]
        for t in threads:
            t.start()

        kills = []
        recovered = []
        probe = h.Client(self.d.service, 'dealer', timeout_ms=3000, ctx=self.d.ctx)
        for gap in kill_gaps:
            time.sleep(gap)
            with self.lock:
                left = len(todo)
            kills.append((round(time.monotonic() - t0, 2), left))
            self.d.kill()
            self.d.start()
            try:
                recovered.append(probe.call('health', detailed=True).get('sagas_recovered'))
            except h.ReplyTimeout:
                recovered.append(None)
        probe.close()
        t_kills = time.monotonic() - t0
        # let the clients finish what they are doing, then stop them
        for t in threads:
            t.join(max(1.0, LOAD_WINDOW + 8.0 - (time.monotonic() - t0)))
        self.stop_load.set()
        for t in threads:
            t.join(CALL_TIMEOUT_MS / 1000.0 + 2)
        self.assertFalse(any(t.is_alive() for t in threads), 'client threads did not stop')
        t_load = time.monotonic() - t0
        print('kills at (s, plans not started): %s' % kills)
        print('kills took %.1f s, load %.1f s' % (t_kills, t_load))
        print('sagas_recovered at each restart: %r' % recovered)

        admin = self.d.admin_client()
        orders = sh.wait_no_paid(admin, 15.0)
        by_id = {o['id']: o for o in orders}
        stats = {}
        for o in orders:
            stats[o['status']] = stats.get(o['status'], 0) + 1
        print('orders after the load: %d %r' % (len(orders), stats))
        gave_up = [(p.i, p.gave_up) for p in plans if p.gave_up]
        print('steps given up: %r' % gave_up)

        # -- what the clients were told holds
        per_cart = {}
        for o in orders:
            per_cart.setdefault(o['cart_id'], []).append(o['id'])
        for cart_id, ids in per_cart.items():
            if len(ids) > 1:
                self.problems.append('cart %s stored %d orders %r (idempotent create retried)'
                                     % (cart_id, len(ids), ids))
        for p in plans:
            if p.order_id is None:
                continue
            o = by_id.get(p.order_id)
            if o is None:
                self.problems.append('order %d: create acknowledged %s, not stored'
                                     % (p.i, p.order_id))
                continue
            if o['cart_id'] != p.cart_id or o['user_id'] != p.user:
                self.problems.append('order %d: stored %r' % (p.i, o))
            c = p.told.get('confirm')
            if c is not None:
                if c.get('ok') is True:
                    if o['status'] not in h.COMMITTED:
                        self.problems.append('order %d (%s): confirm answered ok, now %s'
                                             % (p.i, o['id'], o['status']))
                elif error_code(c) == 'payment_declined':
                    if o['status'] != 'failed':
                        self.problems.append('order %d (%s): declined, now %s'
                                             % (p.i, o['id'], o['status']))
                elif error_code(c) == 'invalid_transition':
                    # a retry after the daemon finished the confirm in recovery
                    if (c.get('order') or {}).get('status') != 'failed':
                        self.problems.append('order %d (%s): confirm answered %r'
                                             % (p.i, o['id'], c))
                else:
                    self.problems.append('order %d (%s): confirm answered %r' % (p.i, o['id'], c))
            if p.magic == 2 and o['status'] in h.COMMITTED:
                self.problems.append('order %d (%s): a ..02 amount was confirmed' % (p.i, o['id']))
            k = p.told.get('cancel')
            if k is not None:
                if k.get('ok') is True and o['status'] != 'cancelled':
                    self.problems.append('order %d (%s): cancel answered ok, now %s'
                                         % (p.i, o['id'], o['status']))
                if k.get('ok') is not True and error_code(k) != 'invalid_transition':
                    self.problems.append('order %d (%s): cancel answered %r'
                                         % (p.i, o['id'], k))

        # -- PROTOCOL.md §4.2, after cancelling leftovers
        try:
            summary = sh.settle_and_check(self.d, admin, initial, saga_timeout=15.0)
            print('after settling: %r' % {k: v for k, v in summary.items() if k != 'payments'})
        except AssertionError as exc:
            self.problems.append(str(exc))
        elapsed = time.monotonic() - t_start
        print('total %.1f s' % elapsed)
        self.assertEqual(len(kills), N_KILLS)
        confirmed = sum(1 for o in orders if o['status'] in h.COMMITTED)
        self.assertGreater(confirmed, N_ORDERS // 4,
                           'too few orders got through: the test did not exercise much')
        if self.problems:
            self.fail('seed %d: %d problems:\n  %s' % (SEED, len(self.problems),
                                                        '\n  '.join(self.problems[:60])))
        self.d.stop()


if __name__ == '__main__':
    unittest.main()
