#!/usr/bin/python3
"""Interop: a cart service written from PROTOCOL.md alone (pyzmq + msgpack).

Every service-door operation over a REQ socket and over a DEALER socket
(the same cases run for both kinds), then what only a DEALER can do
(pipelining), idempotency, user isolation and the events door.

    /usr/bin/python3 tests/integration/test_interop.py [-v] [Class.test]
"""
import os
import sys
import time
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, create_fields, new_id, error_code, error_message  # noqa: E402

BIG = 1000000


class DaemonCase(unittest.TestCase):
    """One daemon per TestCase class."""
    overrides = {}

    @classmethod
    def setUpClass(cls):
        cls.d = h.start_daemon(overrides=cls.overrides)
        cls.admin = cls.d.admin_client()

    @classmethod
    def tearDownClass(cls):
        h.stop_daemon(cls.d)

    # -- helpers
    def sku(self, stock=BIG):
        s = new_id('SKU-')
        self.d.seed_stock({s: stock})
        return s

    def stock(self, sku):
        r = self.admin.call_ok('stock', sku=sku)
        return r['available'], r['reserved']

    def assertReply(self, r, rid=None):
        self.assertIsInstance(r, dict, r)
        self.assertEqual(r.get('v'), 1, r)
        self.assertIn('rid', r)
        if rid is not None:
            self.assertEqual(r['rid'], rid, r)
        self.assertIn(r.get('ok'), (True, False), r)

    def assertOk(self, r):
        self.assertReply(r)
        self.assertIs(r['ok'], True, r)
        return r

    def assertError(self, r, code, field=None):
        self.assertReply(r)
        self.assertIs(r['ok'], False, r)
        self.assertIsInstance(r.get('error'), dict, r)
        self.assertEqual(r['error'].get('code'), code, r)
        self.assertIsInstance(r['error'].get('message'), str, r)
        if field is not None:
            self.assertIn(field, r['error']['message'], r)
        return r


class ServiceOps:
    """Cases for every service-door op; mixed into a class per socket kind."""
    kind = None

    def setUp(self):
        self.c = self.d.client(self.kind)

    def create(self, user, products=None, cart=None, **extra):
        cart = cart or make_cart(products or [(self.sku(), 1, 1000)])
        f = create_fields(user, cart, **extra)
        t0 = h.now_ms()
        r = self.c.call('create', **f)
        t1 = h.now_ms()
        self.assertOk(r)
        return r['order'], f, (t0, t1)

    def full_flow(self, user, products, alias=False):
        o, _, _ = self.create(user, products)
        r = self.assertOk(self.c.call('initiate_payment', order_id=o['id'], user_id=user,
                                      return_url='https://shop.example/ok',
                                      cancel_url='https://shop.example/cancel'))
        pay = r['order']['payment']
        key = 'paypal_order_id' if alias else 'provider_order_id'
        r = self.c.call('confirm', order_id=o['id'], user_id=user,
                        **{key: pay['provider_order_id']})
        return o, r

    # ---- create
    def test_create_returns_pending_order(self):
        user = new_id('u-')
        sku1, sku2 = self.sku(100), self.sku(100)
        cart = make_cart([(sku1, 2, 1250), (sku2, 3, 499)], shipping=500, tax=120,
                         discount=100)
        f = create_fields(user, cart, cart_id='cart-42',
                          user_data={'email': 'ada@example.com', 'name': 'Ada'})
        t0 = h.now_ms()
        r = self.c.call('create', rid='create-rid-1', **f)
        t1 = h.now_ms()
        self.assertOk(r)
        self.assertEqual(r['rid'], 'create-rid-1')
        o = r['order']
        self.assertRegex(o['id'], h.ORDER_ID_RE)
        self.assertEqual(o['user_id'], user)
        self.assertEqual(o['cart_id'], 'cart-42')
        self.assertEqual(o['status'], 'pending')
        self.assertEqual(o['total_amount'], 2 * 1250 + 3 * 499 + 500 + 120 - 100)
        self.assertEqual(o['currency'], 'USD')
        self.assertEqual(o['order_data']['products'], cart['products'])
        self.assertEqual(o['order_data']['costs'], cart['costs'])
        self.assertEqual(o['order_data']['shipping_address'], cart['shipping_address'])
        self.assertEqual(o['order_data']['billing_address'], cart['billing_address'])
        self.assertEqual(o['order_data']['delivery_mode'], 'standard')
        self.assertEqual(o['user_data'], {'email': 'ada@example.com', 'name': 'Ada'})
        self.assertIsNone(o['payment_id'])
        self.assertIsNone(o['payment'])
        self.assertIs(o['needs_review'], False)
        self.assertEqual(o['version'], 1)
        self.assertIsNone(o['deleted_at'])
        for k in ('created_at', 'updated_at'):
            self.assertIsInstance(o[k], int)
            self.assertGreaterEqual(o[k], t0 - 1000)
            self.assertLessEqual(o[k], t1 + 1000)
        self.assertLessEqual(o['created_at'], o['updated_at'])
        # every product's stock is reserved
        self.assertEqual(self.stock(sku1), (98, 2))
        self.assertEqual(self.stock(sku2), (97, 3))

    def test_create_keeps_currency(self):
        user = new_id('u-')
        o, _, _ = self.create(user, currency='EUR')
        self.assertEqual(o['currency'], 'EUR')

    def test_create_out_of_stock_stores_nothing_and_releases(self):
        user = new_id('u-')
        ok_sku, short_sku = self.sku(10), self.sku(1)
        cart = make_cart([(ok_sku, 2, 100), (short_sku, 5, 100)])
        r = self.c.call('create', **create_fields(user, cart))
        self.assertError(r, 'out_of_stock')
        msg = error_message(r)
        self.assertTrue(short_sku in msg or ('p-' + short_sku) in msg,
                        'out_of_stock should name the product: %r' % r)
        self.assertEqual(self.stock(ok_sku), (10, 0))
        self.assertEqual(self.stock(short_sku), (1, 0))
        r = self.assertOk(self.c.call('list', user_id=user))
        self.assertEqual(r['orders'], [])

    def test_create_unknown_product_is_not_out_of_stock(self):
        user = new_id('u-')
        ok_sku, unknown_sku = self.sku(10), new_id('SKU-NEVER-')
        cart = make_cart([(ok_sku, 2, 100), (unknown_sku, 1, 100)])
        r = self.c.call('create', **create_fields(user, cart))
        self.assertError(r, 'unknown_product', unknown_sku)
        self.assertNotIn('order', r)
        self.assertEqual(self.stock(ok_sku), (10, 0))
        self.assertEqual(self.stock(unknown_sku), (0, 0))
        r = self.assertOk(self.c.call('list', user_id=user))
        self.assertEqual(r['orders'], [])

    def test_order_ids_sort_by_creation(self):
        user = new_id('u-')
        sku = self.sku()
        ids = [self.create(user, [(sku, 1, 100)])[0]['id'] for _ in range(5)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 5)

    # ---- get
    def test_get_equals_create_and_history(self):
        user = new_id('u-')
        o, _, _ = self.create(user)
        r = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user))
        self.assertEqual(r['order'], o)
        self.assertNotIn('history', r)
        r = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user, history=True))
        self.assertEqual(r['order'], o)
        hist = r['history']
        self.assertEqual(len(hist), 1, hist)
        e = hist[0]
        self.assertEqual(set(e), {'seq', 'from', 'to', 'at', 'reason'}, e)
        self.assertEqual(e['seq'], 1)
        self.assertIsNone(e['from'])
        self.assertEqual(e['to'], 'pending')
        self.assertIsInstance(e['at'], int)
        self.assertEqual(o['version'], len(hist))

    def test_get_unknown_order_not_found(self):
        user = new_id('u-')
        self.assertError(self.c.call('get', order_id='o' + '0' * 16, user_id=user),
                         'not_found')
        self.assertError(self.c.call('get', order_id='no-such-order', user_id=user),
                         'not_found')

    def test_rid_echo_and_nil_rid(self):
        r = self.c.call('health', rid='a' * 64)
        self.assertOk(r)
        self.assertEqual(r['rid'], 'a' * 64)
        r = self.c.call_body({'v': 1, 'op': 'health'})
        self.assertOk(r)
        self.assertIn('rid', r)
        self.assertIsNone(r['rid'])
        r = self.c.call_body({'v': 1, 'op': 'nope'})
        self.assertError(r, 'unknown_op')
        self.assertIsNone(r['rid'])

    # ---- payment flow
    def test_initiate_and_confirm(self):
        user = new_id('u-')
        sku = self.sku(50)
        o, _, _ = self.create(user, [(sku, 3, 1000)])      # total 3500
        r = self.assertOk(self.c.call('initiate_payment', order_id=o['id'], user_id=user,
                                      return_url='https://shop.example/ok',
                                      cancel_url='https://shop.example/cancel'))
        o2 = r['order']
        self.assertEqual(o2['status'], 'payment_initiated')
        self.assertEqual(o2['version'], 2)
        pay = o2['payment']
        self.assertIsInstance(pay, dict)
        self.assertIsInstance(pay['provider'], str)
        self.assertTrue(pay['provider'])
        self.assertIsInstance(pay['provider_order_id'], str)
        self.assertTrue(pay['provider_order_id'])
        self.assertIsInstance(pay['approval_url'], str)
        self.assertTrue(pay['approval_url'])
        self.assertIn('capture_id', pay)
        self.assertIsNone(pay['capture_id'])
        self.assertEqual(o2['payment_id'], pay['provider_order_id'])
        # again: the same payment, nothing new
        r = self.assertOk(self.c.call('initiate_payment', order_id=o['id'], user_id=user))
        self.assertEqual(r['order']['payment'], pay)
        self.assertEqual(r['order']['status'], 'payment_initiated')
        self.assertEqual(r['order']['version'], 2)
        self.assertEqual(self.stock(sku), (47, 3))
        r = self.assertOk(self.c.call('confirm', order_id=o['id'], user_id=user,
                                      provider_order_id=pay['provider_order_id']))
        o3 = r['order']
        self.assertEqual(o3['status'], 'confirmed')
        self.assertEqual(o3['version'], 4)
        self.assertIsInstance(o3['payment']['capture_id'], str)
        self.assertEqual(o3['payment']['provider_order_id'], pay['provider_order_id'])
        self.assertIs(o3['needs_review'], False)
        self.assertEqual(self.stock(sku), (47, 0))
        r = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user, history=True))
        self.assertEqual(r['order'], o3)
        steps = [(e['seq'], e['from'], e['to']) for e in r['history']]
        self.assertEqual(steps, [(1, None, 'pending'), (2, 'pending', 'payment_initiated'),
                                 (3, 'payment_initiated', 'paid'), (4, 'paid', 'confirmed')])
        ats = [e['at'] for e in r['history']]
        self.assertEqual(ats, sorted(ats))
        p = self.admin.call_ok('payment', order_id=o['id'])
        rec = p.get('payment') if isinstance(p.get('payment'), dict) else p
        self.assertEqual(rec['captures'], 1)
        self.assertEqual(rec['captured_amount'], 3500)

    def test_confirm_with_paypal_alias(self):
        user = new_id('u-')
        o, r = self.full_flow(user, [(self.sku(), 1, 2000)], alias=True)
        self.assertOk(r)
        self.assertEqual(r['order']['status'], 'confirmed')

    def test_confirm_declined_fails_order_and_releases(self):
        user = new_id('u-')
        sku = self.sku(20)
        o, r = self.full_flow(user, [(sku, 1, 1502)])   # total 2002: declined
        self.assertError(r, 'payment_declined')
        self.assertEqual(r['order']['id'], o['id'])
        self.assertEqual(r['order']['status'], 'failed')
        self.assertEqual(self.stock(sku), (20, 0))
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user, history=True))
        self.assertEqual(g['order']['status'], 'failed')
        self.assertEqual(g['history'][-1]['to'], 'failed')
        self.assertEqual(g['order']['version'], len(g['history']))

    def test_confirm_twice_captures_once(self):
        user = new_id('u-')
        o, r = self.full_flow(user, [(self.sku(), 2, 700)])
        self.assertOk(r)
        pay = r['order']['payment']
        r2 = self.c.call('confirm', order_id=o['id'], user_id=user,
                         provider_order_id=pay['provider_order_id'])
        self.assertReply(r2)
        if not r2['ok']:
            self.assertEqual(error_code(r2), 'invalid_transition', r2)
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user))
        self.assertEqual(g['order']['status'], 'confirmed')
        self.assertEqual(g['order']['version'], 4)
        p = self.admin.call_ok('payment', order_id=o['id'])
        rec = p.get('payment') if isinstance(p.get('payment'), dict) else p
        self.assertEqual(rec['captures'], 1)

    def test_confirm_pending_is_invalid_transition(self):
        user = new_id('u-')
        o, _, _ = self.create(user)
        r = self.c.call('confirm', order_id=o['id'], user_id=user,
                        provider_order_id='nothing')
        self.assertError(r, 'invalid_transition')
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user))
        self.assertEqual(g['order'], o)

    # ---- cancel
    def test_cancel_pending_releases_stock(self):
        user = new_id('u-')
        sku = self.sku(10)
        o, _, _ = self.create(user, [(sku, 4, 100)])
        self.assertEqual(self.stock(sku), (6, 4))
        r = self.assertOk(self.c.call('cancel', order_id=o['id'], user_id=user,
                                      reason='changed my mind'))
        self.assertEqual(r['order']['status'], 'cancelled')
        self.assertEqual(r['order']['version'], 2)
        self.assertEqual(self.stock(sku), (10, 0))
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user, history=True))
        self.assertEqual(g['order'], r['order'])
        self.assertEqual(g['history'][-1]['from'], 'pending')
        self.assertEqual(g['history'][-1]['to'], 'cancelled')
        self.assertEqual(g['history'][-1]['reason'], 'changed my mind')
        # again: cancelled is terminal
        self.assertError(self.c.call('cancel', order_id=o['id'], user_id=user),
                         'invalid_transition')
        self.assertError(self.c.call('initiate_payment', order_id=o['id'], user_id=user),
                         'invalid_transition')

    def test_cancel_initiated_voids_payment(self):
        user = new_id('u-')
        sku = self.sku(10)
        o, _, _ = self.create(user, [(sku, 1, 100)])
        self.assertOk(self.c.call('initiate_payment', order_id=o['id'], user_id=user))
        r = self.assertOk(self.c.call('cancel', order_id=o['id'], user_id=user))
        self.assertEqual(r['order']['status'], 'cancelled')
        self.assertEqual(self.stock(sku), (10, 0))
        p = self.admin.call_ok('payment', order_id=o['id'])
        rec = p.get('payment') if isinstance(p.get('payment'), dict) else p
        self.assertEqual(rec.get('captures'), 0)

    def test_cancel_confirmed_is_invalid_transition(self):
        user = new_id('u-')
        o, r = self.full_flow(user, [(self.sku(), 1, 900)])
        self.assertOk(r)
        confirmed = r['order']
        self.assertError(self.c.call('cancel', order_id=o['id'], user_id=user),
                         'invalid_transition')
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user))
        self.assertEqual(g['order'], confirmed)

    # ---- delete
    def test_delete(self):
        user = new_id('u-')
        o, _, _ = self.create(user)
        self.assertError(self.c.call('delete', order_id=o['id'], user_id=user),
                         'invalid_transition')
        self.assertOk(self.c.call('cancel', order_id=o['id'], user_id=user))
        t0 = h.now_ms()
        r = self.assertOk(self.c.call('delete', order_id=o['id'], user_id=user))
        self.assertEqual(r['order']['id'], o['id'])
        self.assertEqual(r['order']['status'], 'cancelled')
        self.assertIsInstance(r['order']['deleted_at'], int)
        self.assertGreaterEqual(r['order']['deleted_at'], t0 - 1000)
        self.assertError(self.c.call('get', order_id=o['id'], user_id=user), 'not_found')
        self.assertError(self.c.call('delete', order_id=o['id'], user_id=user), 'not_found')
        self.assertError(self.c.call('cancel', order_id=o['id'], user_id=user), 'not_found')
        lst = self.assertOk(self.c.call('list', user_id=user))
        self.assertEqual(lst['orders'], [])
        # ops still see it
        everything = h.list_all_orders(self.admin, user_id=user)
        self.assertEqual([x['id'] for x in everything], [o['id']])
        self.assertIsInstance(everything[0]['deleted_at'], int)
        hidden = self.admin.call_ok('list', user_id=user)
        self.assertEqual(hidden['orders'], [])

    def test_delete_retried_with_its_key_replays_ok(self):
        # PROTOCOL.md §5: a second delete is not_found, unless it is a
        # retry of the first (same idem): then the first ok comes back
        user = new_id('u-')
        o, _, _ = self.create(user)
        self.assertOk(self.c.call('cancel', order_id=o['id'], user_id=user))
        first = self.assertOk(self.c.call('delete', order_id=o['id'], user_id=user, idem='d-1'))
        again = self.assertOk(self.c.call('delete', order_id=o['id'], user_id=user, idem='d-1',
                                          rid='retry'))
        self.assertEqual(again['rid'], 'retry')
        self.assertEqual(again['order'], first['order'])
        self.assertError(self.c.call('delete', order_id=o['id'], user_id=user, idem='d-2'),
                         'not_found')

    # ---- list
    def test_list_pages_newest_first(self):
        user = new_id('u-')
        sku = self.sku()
        ids = [self.create(user, [(sku, 1, 100)])[0]['id'] for _ in range(5)]
        newest_first = list(reversed(ids))
        r = self.assertOk(self.c.call('list', user_id=user, limit=2))
        self.assertEqual([o['id'] for o in r['orders']], newest_first[:2])
        self.assertEqual(r['next'], newest_first[1])
        r = self.assertOk(self.c.call('list', user_id=user, limit=2, after=r['next']))
        self.assertEqual([o['id'] for o in r['orders']], newest_first[2:4])
        self.assertEqual(r['next'], newest_first[3])
        r = self.assertOk(self.c.call('list', user_id=user, limit=2, after=r['next']))
        self.assertEqual([o['id'] for o in r['orders']], newest_first[4:])
        self.assertIsNone(r['next'])
        r = self.assertOk(self.c.call('list', user_id=user, limit=5))
        self.assertEqual([o['id'] for o in r['orders']], newest_first)
        if r['next'] is not None:          # "more may follow": allowed, must lead nowhere
            self.assertEqual(r['next'], newest_first[-1])
            r = self.assertOk(self.c.call('list', user_id=user, limit=5, after=r['next']))
            self.assertEqual(r['orders'], [])
            self.assertIsNone(r['next'])
        r = self.assertOk(self.c.call('list', user_id=user))
        self.assertEqual([o['id'] for o in r['orders']], newest_first)
        self.assertIsNone(r['next'])
        # the listed orders are whole orders, equal to get's
        g = self.assertOk(self.c.call('get', order_id=ids[0], user_id=user))
        self.assertEqual(r['orders'][-1], g['order'])

    def test_list_default_limit_50(self):
        user = new_id('u-')
        sku = self.sku()
        cart = make_cart([(sku, 1, 100)])
        if self.kind == 'dealer':
            bodies = [self.c.body('create', **create_fields(user, cart)) for _ in range(51)]
            replies = self.c.pipeline(bodies, window=10)
            self.assertTrue(all(r['ok'] for r in replies.values()), replies)
        else:
            for _ in range(51):
                self.assertOk(self.c.call('create', **create_fields(user, cart)))
        r = self.assertOk(self.c.call('list', user_id=user))
        self.assertEqual(len(r['orders']), 50)
        self.assertEqual(r['next'], r['orders'][-1]['id'])
        r2 = self.assertOk(self.c.call('list', user_id=user, after=r['next']))
        self.assertEqual(len(r2['orders']), 1)
        self.assertIsNone(r2['next'])
        all_ids = [o['id'] for o in r['orders'] + r2['orders']]
        self.assertEqual(all_ids, sorted(all_ids, reverse=True))
        self.assertEqual(len(set(all_ids)), 51)

    def test_list_status_filter_and_limits(self):
        user = new_id('u-')
        sku = self.sku()
        ids = [self.create(user, [(sku, 1, 100)])[0]['id'] for _ in range(4)]
        for i in (0, 2):
            self.assertOk(self.c.call('cancel', order_id=ids[i], user_id=user))
        r = self.assertOk(self.c.call('list', user_id=user, status='cancelled'))
        self.assertEqual([o['id'] for o in r['orders']], [ids[2], ids[0]])
        self.assertTrue(all(o['status'] == 'cancelled' for o in r['orders']))
        r = self.assertOk(self.c.call('list', user_id=user, status='pending'))
        self.assertEqual([o['id'] for o in r['orders']], [ids[3], ids[1]])
        r = self.assertOk(self.c.call('list', user_id=user, status='confirmed'))
        self.assertEqual(r['orders'], [])
        self.assertIsNone(r['next'])
        r = self.assertOk(self.c.call('list', user_id=user, status='cancelled', limit=1))
        self.assertEqual([o['id'] for o in r['orders']], [ids[2]])
        r = self.assertOk(self.c.call('list', user_id=user, status='cancelled', limit=1,
                                      after=r['next']))
        self.assertEqual([o['id'] for o in r['orders']], [ids[0]])
        self.assertError(self.c.call('list', user_id=user, status='bogus'), 'bad_request',
                         'status')
        self.assertError(self.c.call('list', user_id=user, limit=0), 'bad_request', 'limit')
        self.assertError(self.c.call('list', user_id=user, limit=501), 'bad_request', 'limit')
        self.assertOk(self.c.call('list', user_id=user, limit=500))
        self.assertOk(self.c.call('list', user_id=user, limit=1))
        self.assertError(self.c.call('list'), 'bad_request', 'user_id')

    # ---- health
    def test_health(self):
        r = self.assertOk(self.c.call('health'))
        self.assertEqual(r['status'], 'ok')
        r = self.assertOk(self.c.call('health', detailed=True))
        self.assertEqual(r['status'], 'ok')
        checks = r['checks']
        for part in ('store', 'payment', 'fulfilment'):
            self.assertIsInstance(checks[part], dict, checks)
            self.assertEqual(checks[part]['status'], 'ok', checks)
        self.assertIsInstance(r['uptime_ms'], int)
        self.assertGreaterEqual(r['uptime_ms'], 0)
        self.assertIsInstance(r['live_actors'], int)
        self.assertGreaterEqual(r['live_actors'], 0)
        self.assertIsInstance(r['orders'], int)
        user = new_id('u-')
        before = r['orders']
        self.create(user)
        r = self.assertOk(self.c.call('health', detailed=True))
        self.assertEqual(r['orders'], before + 1)

    # ---- isolation and required user_id
    def test_other_user_is_forbidden(self):
        alice, mallory = new_id('alice-'), new_id('mallory-')
        sku = self.sku(10)
        o, _, _ = self.create(alice, [(sku, 1, 100)])
        for op, extra in (('get', {}), ('cancel', {}), ('delete', {}),
                          ('initiate_payment', {}),
                          ('confirm', {'provider_order_id': 'x'})):
            r = self.c.call(op, order_id=o['id'], user_id=mallory, **extra)
            self.assertError(r, 'forbidden')
        self.assertEqual(self.assertOk(self.c.call('list', user_id=mallory))['orders'], [])
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=alice))
        self.assertEqual(g['order'], o)
        self.assertEqual(self.stock(sku), (9, 1))

    def test_user_id_required(self):
        user = new_id('u-')
        o, _, _ = self.create(user)
        for op, extra in (('get', {}), ('cancel', {}), ('delete', {}),
                          ('initiate_payment', {}),
                          ('confirm', {'provider_order_id': 'x'})):
            r = self.c.call(op, order_id=o['id'], **extra)
            self.assertError(r, 'bad_request', 'user_id')
        g = self.assertOk(self.c.call('get', order_id=o['id'], user_id=user))
        self.assertEqual(g['order'], o)


class TestServiceOpsReq(ServiceOps, DaemonCase):
    kind = 'req'


class TestServiceOpsDealer(ServiceOps, DaemonCase):
    kind = 'dealer'


class TestDealer(DaemonCase):
    """What needs a DEALER: pipelining, envelopes, idempotency, events."""

    def setUp(self):
        self.c = self.d.client('dealer')

    def test_pipelining_20_requests(self):
        user = new_id('u-')
        sku = self.sku(100)
        cart = make_cart([(sku, 1, 100)])
        bodies = [self.c.body('create', **create_fields(user, cart)) for _ in range(15)]
        bodies += [self.c.body('health') for _ in range(3)]
        bodies += [self.c.body('list', user_id=user) for _ in range(2)]
        for b in bodies:                          # all 20 out before any reply is read
            self.c.send_body(b)
        replies = {}
        while len(replies) < len(bodies):
            r = self.c.recv()
            self.assertEqual(r['v'], 1)
            self.assertNotIn(r['rid'], replies)
            replies[r['rid']] = r
        self.assertEqual(set(replies), {b['rid'] for b in bodies})
        ids = set()
        for b in bodies:
            r = replies[b['rid']]
            self.assertTrue(r['ok'], r)
            if b['op'] == 'create':
                self.assertEqual(r['order']['status'], 'pending')
                ids.add(r['order']['id'])
            elif b['op'] == 'list':
                self.assertIn('orders', r)
        self.assertEqual(len(ids), 15)
        self.assertEqual(self.stock(sku), (85, 15))
        r = self.c.call_ok('list', user_id=user, limit=500)
        self.assertEqual({o['id'] for o in r['orders']}, ids)

    def test_envelope_frames_come_back(self):
        body = msgpack.packb({'v': 1, 'op': 'health', 'rid': 'env-1'})
        self.c.send_raw([b'hop-1', b'', b'\x00\xffhop-3', body])
        frames = self.c.recv_raw()
        self.assertEqual(frames[:3], [b'hop-1', b'', b'\x00\xffhop-3'])
        self.assertEqual(len(frames), 4)
        r = msgpack.unpackb(frames[3], raw=False)
        self.assertEqual(r['rid'], 'env-1')
        self.assertTrue(r['ok'])

    # ---- idempotency
    def test_idempotent_create_retry(self):
        user = new_id('u-')
        sku = self.sku(10)
        f = create_fields(user, make_cart([(sku, 2, 300)]))
        r1 = self.c.call('create', idem='k-1', rid='first', **f)
        self.assertOk(r1)
        r2 = self.c.call('create', idem='k-1', rid='second', **f)
        self.assertOk(r2)
        self.assertEqual(r2['rid'], 'second')
        self.assertEqual(r2['order']['id'], r1['order']['id'])
        self.assertEqual(r2['order'], r1['order'])
        self.assertEqual(self.stock(sku), (8, 2))
        lst = self.c.call_ok('list', user_id=user)
        self.assertEqual(len(lst['orders']), 1)
        # the same key under another user is another request
        other = dict(f, user_id=new_id('u-'))
        r3 = self.assertOk(self.c.call('create', idem='k-1', **other))
        self.assertNotEqual(r3['order']['id'], r1['order']['id'])
        # a retry whose body has its keys in another order is the same body
        reordered = dict(reversed(list(f.items())))
        reordered['cart_data'] = dict(reversed(list(f['cart_data'].items())))
        r4 = self.assertOk(self.c.call('create', idem='k-1', **reordered))
        self.assertEqual(r4['order']['id'], r1['order']['id'])

    def test_idempotency_mismatch(self):
        user = new_id('u-')
        sku = self.sku(10)
        f = create_fields(user, make_cart([(sku, 2, 300)]))
        r1 = self.assertOk(self.c.call('create', idem='k-m', **f))
        g = dict(f, cart_data=make_cart([(sku, 3, 300)]))
        self.assertError(self.c.call('create', idem='k-m', **g), 'idempotency_mismatch')
        g = dict(f, cart_id='another-cart')
        self.assertError(self.c.call('create', idem='k-m', **g), 'idempotency_mismatch')
        self.assertEqual(self.stock(sku), (8, 2))
        lst = self.c.call_ok('list', user_id=user)
        self.assertEqual([o['id'] for o in lst['orders']], [r1['order']['id']])

    def test_idempotency_key_is_per_op(self):
        user = new_id('u-')
        o = self.assertOk(self.c.call('create', idem='k-op', **create_fields(
            user, make_cart([(self.sku(), 1, 1000)]))))['order']
        r = self.assertOk(self.c.call('cancel', idem='k-op', order_id=o['id'], user_id=user))
        self.assertEqual(r['order']['status'], 'cancelled')
        r2 = self.assertOk(self.c.call('cancel', idem='k-op', order_id=o['id'], user_id=user,
                                       rid='again'))
        self.assertEqual(r2['rid'], 'again')
        self.assertEqual(r2['order'], r['order'])        # replayed, not invalid_transition

    def test_refused_request_is_not_remembered(self):
        user = new_id('u-')
        sku = self.sku(10)
        bad = create_fields(user, make_cart([(sku, 0, 300)]))
        self.assertError(self.c.call('create', idem='k-bad', **bad), 'bad_request',
                         'quantity')
        good = create_fields(user, make_cart([(sku, 1, 300)]))
        r = self.assertOk(self.c.call('create', idem='k-bad', **good))
        self.assertEqual(r['order']['status'], 'pending')

    def test_invalid_transition_is_not_remembered(self):
        user = new_id('u-')
        o = self.c.call_ok('create', **create_fields(
            user, make_cart([(self.sku(), 1, 1000)])))['order']
        self.assertError(self.c.call('delete', idem='k-del', order_id=o['id'], user_id=user),
                         'invalid_transition')
        self.c.call_ok('cancel', order_id=o['id'], user_id=user)
        r = self.assertOk(self.c.call('delete', idem='k-del', order_id=o['id'], user_id=user))
        self.assertIsInstance(r['order']['deleted_at'], int)
        # and now it is remembered: the retry replays the ok, not not_found
        r2 = self.assertOk(self.c.call('delete', idem='k-del', order_id=o['id'],
                                       user_id=user, rid='replay'))
        self.assertEqual(r2['order'], r['order'])
        self.assertEqual(r2['rid'], 'replay')

    def test_out_of_stock_reply_is_remembered(self):
        user = new_id('u-')
        sku = self.sku(1)
        f = create_fields(user, make_cart([(sku, 2, 300)]))
        self.assertError(self.c.call('create', idem='k-oos', **f), 'out_of_stock')
        self.d.seed_stock({sku: 10})
        r = self.c.call('create', idem='k-oos', rid='retry', **f)
        self.assertError(r, 'out_of_stock')
        self.assertEqual(r['rid'], 'retry')
        self.assertEqual(self.stock(sku), (10, 0))
        r = self.assertOk(self.c.call('create', idem='k-oos-2', **f))
        self.assertEqual(self.stock(sku), (8, 2))

    def test_declined_confirm_is_remembered(self):
        user = new_id('u-')
        sku = self.sku(10)
        o = self.c.call_ok('create', **create_fields(user, make_cart([(sku, 1, 1502)])))['order']
        pay = self.c.call_ok('initiate_payment', order_id=o['id'], user_id=user)['order']['payment']
        args = dict(order_id=o['id'], user_id=user, provider_order_id=pay['provider_order_id'])
        r1 = self.assertError(self.c.call('confirm', idem='k-dec', **args), 'payment_declined')
        r2 = self.assertError(self.c.call('confirm', idem='k-dec', rid='r2', **args),
                              'payment_declined')
        self.assertEqual(r2['rid'], 'r2')
        self.assertEqual(r2['order'], r1['order'])
        self.assertEqual(r2['order']['status'], 'failed')

    # ---- events
    def recv_events(self, sub, order_id, n, timeout=5.0):
        got = []
        deadline = time.monotonic() + timeout * h.SLOW
        while len(got) < n and time.monotonic() < deadline:
            if not sub.poll(100, zmq.POLLIN):
                continue
            frames = sub.recv_multipart()
            self.assertEqual(len(frames), 2, frames)
            ev = msgpack.unpackb(frames[1], raw=False)
            if ev.get('order_id') == order_id:
                got.append((frames[0].decode(), ev))
        return got

    def test_events_follow_transitions(self):
        sub = self.d.subscriber('order.')
        try:
            user = new_id('u-')
            o = self.c.call_ok('create', **create_fields(user, make_cart([(self.sku(), 1, 4000)])))['order']
            evs = self.recv_events(sub, o['id'], 1)
            self.assertEqual([t for t, _ in evs], ['order.pending'])
            ev = evs[0][1]
            self.assertEqual(set(ev), {'order_id', 'user_id', 'seq', 'from', 'to', 'at',
                                       'reason'}, ev)
            self.assertEqual(ev['user_id'], user)
            self.assertEqual(ev['seq'], 1)
            self.assertIsNone(ev['from'])
            self.assertEqual(ev['to'], 'pending')
            pay = self.c.call_ok('initiate_payment', order_id=o['id'],
                                 user_id=user)['order']['payment']
            self.c.call_ok('confirm', order_id=o['id'], user_id=user,
                           provider_order_id=pay['provider_order_id'])
            evs += self.recv_events(sub, o['id'], 3)
            self.assertEqual([t for t, _ in evs], ['order.pending', 'order.payment_initiated',
                                                   'order.paid', 'order.confirmed'])
            g = self.c.call_ok('get', order_id=o['id'], user_id=user, history=True)
            for (topic, ev), hist in zip(evs, g['history']):
                self.assertEqual(topic, 'order.' + hist['to'])
                self.assertEqual(ev['order_id'], o['id'])
                self.assertEqual({k: ev[k] for k in ('seq', 'from', 'to', 'at', 'reason')},
                                 hist)
            # nothing more for this order
            self.assertEqual(self.recv_events(sub, o['id'], 1, timeout=0.3), [])
        finally:
            sub.close(linger=0)

    def test_events_topic_prefix_filter(self):
        sub = self.d.subscriber('order.cancelled')
        try:
            user = new_id('u-')
            o = self.c.call_ok('create', **create_fields(
                user, make_cart([(self.sku(), 1, 1000)])))['order']
            self.c.call_ok('cancel', order_id=o['id'], user_id=user, reason='test')
            evs = self.recv_events(sub, o['id'], 2, timeout=1.5)
            self.assertEqual([t for t, _ in evs], ['order.cancelled'])
            self.assertEqual(evs[0][1]['from'], 'pending')
            self.assertEqual(evs[0][1]['seq'], 2)
            self.assertEqual(evs[0][1]['reason'], 'test')
        finally:
            sub.close(linger=0)

    def test_no_event_for_refused_request(self):
        sub = self.d.subscriber('order.')
        try:
            user = new_id('u-')
            o = self.c.call_ok('create', **create_fields(
                user, make_cart([(self.sku(), 1, 1000)])))['order']
            self.assertEqual(len(self.recv_events(sub, o['id'], 1)), 1)
            self.assertError(self.c.call('delete', order_id=o['id'], user_id=user),
                             'invalid_transition')
            self.assertError(self.c.call('confirm', order_id=o['id'], user_id=user,
                                         provider_order_id='x'), 'invalid_transition')
            self.assertEqual(self.recv_events(sub, o['id'], 1, timeout=0.5), [])
        finally:
            sub.close(linger=0)


class TestHarnessInvariants(unittest.TestCase):
    """check_invariants itself, on a small mixed workload (own daemon)."""

    def test_invariants_hold_and_can_fail(self):
        d = h.Daemon()
        try:
            d.start()
            c = d.client()
            admin = d.admin_client()
            a, b = new_id('SKU-'), new_id('SKU-')
            d.seed_stock({a: 50, b: 50})
            user = new_id('u-')
            carts = [make_cart([(a, 1, 1000), (b, 2, 100)]),      # 1700: confirmed
                     make_cart([(a, 2, 1001)], shipping=0),       # 2002: declined
                     make_cart([(a, 3, 700)]),                    # cancelled
                     make_cart([(a, 1, 2000), (b, 1, 100)])]      # left pending
            orders = [c.call_ok('create', **create_fields(user, cart))['order']
                      for cart in carts]
            replies = []
            for o in orders[:2]:
                pay = c.call_ok('initiate_payment', order_id=o['id'],
                                user_id=user)['order']['payment']
                replies.append(c.call('confirm', order_id=o['id'], user_id=user,
                                      provider_order_id=pay['provider_order_id']))
            self.assertTrue(replies[0]['ok'], replies[0])
            self.assertEqual(error_code(replies[1]), 'payment_declined', replies[1])
            c.call_ok('cancel', order_id=orders[2]['id'], user_id=user)
            summary = h.check_invariants(admin, {a: 50, b: 50}, allow_open=True)
            self.assertEqual(summary['orders'], 4)
            with self.assertRaises(AssertionError):
                h.check_invariants(admin, {a: 50, b: 50})          # one is still pending
            with self.assertRaises(AssertionError):
                h.check_invariants(admin, {a: 51, b: 50}, allow_open=True)
            with self.assertRaises(AssertionError):
                h.check_invariants(admin, {a: 50}, allow_open=True)  # b unchecked
            c.call_ok('cancel', order_id=orders[3]['id'], user_id=user)
            summary = h.check_invariants(admin, {a: 50, b: 50})
            self.assertEqual(summary['by_status'],
                             {'confirmed': 1, 'failed': 1, 'cancelled': 2})
            self.assertEqual(d.stock(a)['available'], 49)
            self.assertEqual(d.stock(b)['available'], 48)
            d.stop()
        finally:
            d.cleanup()


if __name__ == '__main__':
    unittest.main(verbosity=2)
