"""Helpers shared by test_sagas.py, test_crash.py and test_random_kill.py.

Only the wire contract (PROTOCOL.md) and the harness (orderd_harness.py) are
used; nothing here knows the daemon's C code. Kept apart from the harness so
that the harness stays as its author wrote it.
"""
import os
import re
import threading
import time

import orderd_harness as h
from orderd_harness import make_cart, create_fields, new_id, error_code, error_message  # noqa: F401

# Outcomes a client may meet while the daemon is being killed and restarted:
# nothing was decided, so the same request (same idempotency key) is sent
# again.
TRANSIENT = ('busy', 'unavailable', 'internal')

_env_lock = threading.Lock()


def start_with_env(daemon, env=None, timeout=None):
    """daemon.start() with extra environment variables for the daemon process
    only (the harness spawns with the test's environment)."""
    env = dict(env or {})
    with _env_lock:
        saved = {k: os.environ.get(k) for k in env}
        try:
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            return daemon.start(timeout)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def wait_until(pred, timeout=10.0, interval=0.05, what='condition'):
    """Polls pred() until it returns a truthy value, which is returned;
    raises AssertionError after timeout seconds (naming `what` and the last
    value)."""
    deadline = time.monotonic() + timeout * h.SLOW
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.1f s waiting for %s (last: %r)'
                                 % (timeout, what, last))
        time.sleep(interval)


def wait_recovered(client, timeout=10.0):
    """Waits until start-up recovery, which runs behind open doors, has
    ended (health `sagas_recovering` is 0); returns that detailed health."""
    def over():
        r = client.call('health', detailed=True)
        return r if r.get('ok') is True and r.get('sagas_recovering') == 0 else None
    return wait_until(over, timeout, 0.05, 'start-up recovery to end')


def wait_exit(daemon, timeout=10.0):
    """Waits for the daemon process to exit on its own; returns its status
    (None if it is still running after timeout seconds)."""
    try:
        return daemon.proc.wait(timeout * h.SLOW)
    except Exception:
        return None


def cart_ending(lines, last_two, shipping=500):
    """A cart whose total ends in `last_two` (0..99), by adjusting the
    shipping cost. lines: [(sku, quantity, unit_price), ...]."""
    subtotal = sum(q * p for _, q, p in lines)
    ship = shipping + ((last_two - (subtotal + shipping)) % 100)
    cart = make_cart(lines, shipping=ship)
    assert cart['costs']['total'] % 100 == last_two, cart['costs']
    return cart


def ok(reply, what='request'):
    if not (isinstance(reply, dict) and reply.get('ok') is True):
        raise AssertionError('%s failed: %r' % (what, reply))
    return reply


class Shop:
    """One user's view of the service door plus the admin door, with the
    common steps of the order flow."""

    def __init__(self, daemon, user=None, client=None, admin=None):
        self.d = daemon
        self.user = user or new_id('u-')
        self.c = client or daemon.client('dealer')
        self.admin = admin or daemon.admin_client()

    # -- service door
    def create(self, cart, **extra):
        return self.c.call('create', **create_fields(self.user, cart, **extra))

    def create_ok(self, cart, **extra):
        r = ok(self.create(cart, **extra), 'create')
        assert r['order']['status'] == 'pending', r
        return r['order']

    def initiate(self, order_id, **extra):
        return self.c.call('initiate_payment', order_id=order_id, user_id=self.user,
                           return_url='https://shop.example/ok',
                           cancel_url='https://shop.example/cancel', **extra)

    def initiate_ok(self, order_id, **extra):
        r = ok(self.initiate(order_id, **extra), 'initiate_payment')
        o = r['order']
        assert o['status'] == 'payment_initiated', r
        assert isinstance(o.get('payment'), dict), r
        return o

    def confirm_body(self, order, key='provider_order_id', provider_order_id=None, **extra):
        pid = provider_order_id or order['payment']['provider_order_id']
        fields = {'order_id': order['id'], 'user_id': self.user, key: pid}
        fields.update(extra)
        return self.c.body('confirm', **fields)

    def confirm(self, order, key='provider_order_id', provider_order_id=None,
                timeout_ms=None, **extra):
        return self.c.call_body(self.confirm_body(order, key, provider_order_id, **extra),
                                timeout_ms)

    def cancel(self, order_id, reason=None, **extra):
        fields = {'order_id': order_id, 'user_id': self.user}
        if reason is not None:
            fields['reason'] = reason
        fields.update(extra)
        return self.c.call('cancel', **fields)

    def get(self, order_id, history=False):
        r = ok(self.c.call('get', order_id=order_id, user_id=self.user, history=history),
               'get %s' % order_id)
        return (r['order'], r['history']) if history else r['order']

    def flow_to_initiated(self, cart):
        o = self.create_ok(cart)
        return self.initiate_ok(o['id'])

    # -- admin door
    def stock(self, sku):
        r = ok(self.admin.call('stock', sku=sku), 'stock %s' % sku)
        return r['available'], r['reserved']

    def set_stock(self, sku, n):
        r = ok(self.admin.call('stock', sku=sku, set=n), 'stock set %s' % sku)
        assert r['available'] == n, r
        return r

    def payment(self, order_id):
        r = ok(self.admin.call('payment', order_id=order_id), 'payment %s' % order_id)
        return r.get('payment') if isinstance(r.get('payment'), dict) else r

    def admin_get(self, order_id, history=False):
        r = ok(self.admin.call('get', order_id=order_id, history=history),
               'admin get %s' % order_id)
        return (r['order'], r['history']) if history else r['order']


def cancel_leftovers(daemon, admin, service=None, timeout=10.0):
    """Cancels every pending or payment_initiated order (as its own user, on
    the service door), retrying `busy`; returns the ids cancelled. Orders
    left `paid` are not touched (that is a stuck saga, for the caller to
    judge)."""
    own = service is None
    service = service or h.Client(daemon.service, 'dealer', ctx=daemon.ctx)
    cancelled = []
    try:
        for o in h.list_all_orders(admin):
            if o['status'] not in h.OPEN:
                continue
            deadline = time.monotonic() + timeout * h.SLOW
            while True:
                r = service.call('cancel', order_id=o['id'], user_id=o['user_id'],
                                 reason='test cleanup')
                if r.get('ok') is True:
                    cancelled.append(o['id'])
                    break
                code = error_code(r)
                if code == 'invalid_transition':
                    # moved on meanwhile (timeout cancel, say): fine if it
                    # is no longer open
                    st = (r.get('order') or {}).get('status')
                    if st not in h.OPEN:
                        break
                if code in TRANSIENT and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise AssertionError('cleanup cancel of %s (%s) answered %r'
                                     % (o['id'], o['status'], r))
    finally:
        if own:
            service.close()
    return cancelled


def assert_no_unfinished_saga(admin, orders=None):
    """Admin `retry` on every order must answer invalid_transition (no saga
    left to drive). Returns the list of problems (empty when fine)."""
    problems = []
    for o in orders if orders is not None else h.list_all_orders(admin):
        r = admin.call('retry', order_id=o['id'])
        if error_code(r) != 'invalid_transition':
            problems.append('retry %s (%s) answered %r' % (o['id'], o['status'], r))
    return problems


def wait_no_paid(admin, timeout=10.0):
    """Waits until no order is `paid` (background retries may still be
    finishing a saga); returns the orders."""
    last = [None]

    def none_paid():
        orders = h.list_all_orders(admin)
        last[0] = [o['id'] for o in orders if o['status'] == 'paid']
        return (orders,) if not last[0] else None
    try:
        return wait_until(none_paid, timeout, 0.1, 'no order left paid')[0]
    except AssertionError:
        raise AssertionError('orders stuck in paid: %r' % last[0])


_RESOLVED_RE = re.compile(r'^(o[0-9a-f]+): failed with \d+ captured, \d+ refunded '
                          r'and no needs_review$')


def check_invariants(admin, skus, **kw):
    """h.check_invariants, except that a failed, captured, unrefunded order
    whose needs_review was cleared by an admin `resolve` (a 'resolved: ...'
    note in its history) is fine: ops settled it by hand (§6)."""
    try:
        return h.check_invariants(admin, skus, **kw)
    except AssertionError as exc:
        lines = str(exc).split('\n')
        if not lines or not lines[0].startswith('invariants violated'):
            raise
        left = []
        for line in lines[1:]:
            m = _RESOLVED_RE.match(line.strip())
            if m:
                r = admin.call('get', order_id=m.group(1), history=True)
                if r.get('ok') and any((e.get('reason') or '').startswith('resolved: ')
                                       for e in r.get('history') or []):
                    continue
            left.append(line.strip())
        if left:
            raise AssertionError('invariants violated:\n  ' + '\n  '.join(left))
    # every problem was a resolved order: run the check again for the summary
    orders = h.list_all_orders(admin)
    return {'orders': len(orders),
            'needs_review': [o['id'] for o in orders if o.get('needs_review')]}


def settle_and_check(daemon, admin, skus, service=None, saga_timeout=10.0):
    """The end of every scenario: wait for sagas, cancel what is still open,
    check PROTOCOL.md §4.2 (harness check_invariants) and that no saga is
    left. Returns the check_invariants summary."""
    wait_no_paid(admin, saga_timeout)
    cancel_leftovers(daemon, admin, service)
    summary = check_invariants(admin, skus)
    problems = assert_no_unfinished_saga(admin)
    if problems:
        raise AssertionError('unfinished sagas:\n  ' + '\n  '.join(problems))
    return summary


def history_reasons(history):
    return [e.get('reason') for e in history]
