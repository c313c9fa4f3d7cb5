"""orderd_client against real daemons, as installed by pip. Run by
tests/integration/test_client_python.py, which starts the daemons and puts
their endpoints, keys and skus in the environment (client_driver.py)."""
import os
import unittest
import uuid

import orderd_client
from orderd_client import Client, Curve, Events, OrderdError, now_ms

ENV = os.environ
SLOW = int(ENV.get('ORDERD_SLOW', '1'))


def cart(sku, quantity, unit_price, shipping=500):
    subtotal = quantity * unit_price
    return {'products': [{'product_id': 'p1', 'sku': sku, 'name': 'Apple',
                          'quantity': quantity, 'unit_price': unit_price}],
            'shipping_address': {'city': 'Lyon'}, 'delivery_mode': 'standard',
            'costs': {'subtotal': subtotal, 'shipping': shipping, 'tax': 0, 'discount': 0,
                      'total': subtotal + shipping}}


def unique(prefix):
    return prefix + uuid.uuid4().hex[:12]


class Against(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.curve = Curve.load(ENV['ORDERD_CLIENT_CERT'], ENV['ORDERD_SERVER_KEY'])
        cls.client = Client(ENV['ORDERD_SERVICE'], timeout_ms=5000 * SLOW, curve=cls.curve)
        cls.sku = ENV['ORDERD_SKU']

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def lifecycle(self, user, unit_price):
        """create, initiate_payment, confirm: the confirmed order, or the
        confirm's error raised"""
        order = self.client.create(user_id=user, cart_id=unique('cart-'),
                                   cart_data=cart(self.sku, 2, unit_price))
        self.assertEqual(order['status'], 'pending')
        order = self.client.initiate_payment(user_id=user, order_id=order['id'])
        self.assertEqual(order['status'], 'payment_initiated')
        return self.client.confirm(user_id=user, order_id=order['id'],
                                   provider_order_id=order['payment']['provider_order_id'])

    def assertRefused(self, cls, call, *args, **kwargs):
        with self.assertRaises(cls) as caught:
            call(*args, **kwargs)
        self.assertIsInstance(caught.exception, OrderdError)
        return caught.exception

    def test_lifecycle(self):
        order = self.lifecycle('py-life', 150)
        self.assertEqual(order['status'], 'confirmed')
        got = self.client.get(user_id='py-life', order_id=order['id'], history=True)
        self.assertEqual([h['to'] for h in got['history']][0], 'pending')
        self.assertEqual(got['history'][-1]['to'], 'confirmed')
        listed = self.client.list(user_id='py-life')
        self.assertIn(order['id'], [o['id'] for o in listed['orders']])

    def test_events(self):
        with Events(ENV['ORDERD_EVENTS']) as events:
            # A SUB sees only what is published once it is connected
            for _ in range(50):
                self.client.create(user_id='py-events', cart_id=unique('cart-'),
                                   cart_data=cart(self.sku, 1, 100))
                if events.recv(200 * SLOW):
                    break
            else:
                self.fail('no event came')
            while events.recv(100):
                pass
            order = self.lifecycle('py-events', 170)
            seen = []
            while 'confirmed' not in seen:
                event = events.recv(5000 * SLOW)
                self.assertIsNotNone(event, seen)
                if event['order_id'] == order['id']:
                    self.assertEqual(event['topic'], 'order.' + event['to'])
                    self.assertEqual(event['user_id'], 'py-events')
                    seen.append(event['to'])
            self.assertEqual(seen[0], 'pending')
            self.assertIn('payment_initiated', seen)

    def test_errors(self):
        c, user = self.client, 'py-err'
        e = self.assertRefused(orderd_client.BadRequest, c.create, user_id=user,
                               cart_id='c', cart_data=cart(self.sku, 0, 100))
        self.assertIn('quantity', e.message)
        self.assertFalse(e.retryable)
        e = self.assertRefused(orderd_client.OutOfStock, c.create, user_id=user, cart_id='c',
                               cart_data=cart(ENV['ORDERD_SCARCE_SKU'], 5, 100))
        self.assertEqual(e.code, 'out_of_stock')
        self.assertRefused(orderd_client.UnknownProduct, c.create, user_id=user, cart_id='c',
                           cart_data=cart(unique('no-such-sku-'), 1, 100))
        self.assertRefused(orderd_client.NotFound, c.get, user_id=user,
                           order_id='o0000000000000001')
        order = c.create(user_id=user, cart_id='c', cart_data=cart(self.sku, 1, 100))
        self.assertRefused(orderd_client.Forbidden, c.get, user_id='py-someone-else',
                           order_id=order['id'])
        self.assertRefused(orderd_client.InvalidTransition, c.confirm, user_id=user,
                           order_id=order['id'], provider_order_id='none')
        self.assertEqual(c.cancel(user_id=user, order_id=order['id'])['status'], 'cancelled')
        self.assertRefused(orderd_client.InvalidTransition, c.cancel, user_id=user,
                           order_id=order['id'])
        # One key: the first answer again, then a different cart is a mismatch
        key = unique('py-key-')
        first = c.create(user_id=user, cart_id='k', cart_data=cart(self.sku, 1, 100), idem=key)
        again = c.create(user_id=user, cart_id='k', cart_data=cart(self.sku, 1, 100), idem=key)
        self.assertEqual(first['id'], again['id'])
        self.assertRefused(orderd_client.IdempotencyMismatch, c.create, user_id=user,
                           cart_id='k', cart_data=cart(self.sku, 2, 100), idem=key)
        # The sandbox declines totals ending in 02: 2 x 151 + 500
        self.assertRefused(orderd_client.PaymentDeclined, self.lifecycle, user, 151)
        # too_large: its reply has a nil rid, and still finds its call
        e = self.assertRefused(orderd_client.TooLarge, c.create, user_id=user, cart_id='c',
                               cart_data=cart(self.sku, 1, 100), note='x' * 70000)
        self.assertIsNone(e.reply['rid'])
        self.assertRefused(orderd_client.UnknownOp, c.call, 'frobnicate', user_id=user)
        # deadline_exceeded, from orderd (the library sends it when asked
        # through a bare call with an old deadline) and from the library
        e = self.assertRefused(orderd_client.DeadlineExceeded, c.create, user_id='py-late',
                               cart_id='c', cart_data=cart(self.sku, 1, 100),
                               deadline_ms=now_ms() - 1000)
        self.assertIsNone(e.reply)
        late = dict(v=1, op='create', user_id='py-late', cart_id='c',
                    cart_data=cart(self.sku, 1, 100), deadline=now_ms() - 1000, rid='late')
        import msgpack
        reply = c._attempt('late', msgpack.packb(late), 5000 * SLOW)
        self.assertEqual(reply['error']['code'], 'deadline_exceeded', reply)
        self.assertEqual(c.list(user_id='py-late')['orders'], [])
        self.assertFalse(orderd_client.DeadlineExceeded('deadline_exceeded', '').retryable)
        self.assertTrue(orderd_client.Busy('busy', '').retryable)
        self.assertTrue(orderd_client.Unavailable('unavailable', '').retryable)
        self.assertTrue(orderd_client.Internal('internal', '').retryable)
        self.assertIs(orderd_client.error_class('something_new'), OrderdError)

    def test_timeout(self):
        with Client('tcp://127.0.0.1:1', timeout_ms=100, retries=2) as nobody:
            e = self.assertRefused(orderd_client.Timeout, nobody.health)
            self.assertTrue(e.retryable)
            self.assertIn('3 attempts', e.message)
            e = self.assertRefused(orderd_client.Timeout, nobody.cancel, user_id='u',
                                   order_id='o0000000000000001', no_idem=True)
            self.assertIn('1 attempt;', e.message)


class Crash(unittest.TestCase):
    """orderd SIGKILLs itself in the middle of the create, then of the
    confirm (client_driver.py restarts it)"""

    def test_killed_mid_call(self):
        user, key = ENV['ORDERD_CRASH_USER'], unique('py-crash-')
        deadline = now_ms() + 60000 * SLOW
        body = dict(user_id=user, cart_id='crash', cart_data=cart(ENV['ORDERD_CRASH_SKU'], 2, 1000))
        with Client(ENV['ORDERD_CRASH_SERVICE'], timeout_ms=1000 * SLOW, retries=100) as c:
            order = c.create(idem=key, deadline_ms=deadline, **body)
            order = c.initiate_payment(user_id=user, order_id=order['id'], deadline_ms=deadline)
            confirmed = c.confirm(user_id=user, order_id=order['id'], deadline_ms=deadline,
                                  provider_order_id=order['payment']['provider_order_id'])
            self.assertEqual(confirmed['status'], 'confirmed')
            again = c.create(idem=key, deadline_ms=deadline, **body)
            self.assertEqual((again['id'], again['status']), (order['id'], 'pending'))


if __name__ == '__main__':
    unittest.main()
