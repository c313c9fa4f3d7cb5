#!/usr/bin/python3
"""Hostile input on the service door.

Each test sends one malformed, oversized, mistyped or out-of-bounds request
and checks the documented error code (and that error.message names the
field); after each, the daemon must still answer `health`, a valid `create`
must still succeed, a refused create must have stored nothing (that user's
list stays empty) and reserved no stock.

    /usr/bin/python3 tests/integration/test_hostile.py [-v] [TestHostile.test_x]
"""
import copy
import os
import sys
import unittest

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
from orderd_harness import make_cart, make_product, create_fields, new_id  # noqa: E402

DELETE = object()
# A private-use character whose 3 UTF-8 bytes are swapped, after packing, for
# 3 bytes that are not UTF-8 (same length, so every header stays right).
BAD_UTF8 = '\ue000'
BAD_UTF8_PACKED = BAD_UTF8.encode()
NOT_UTF8 = b'\xff\xfe\x80'
HOSTILE_SKU = 'SKU-HOSTILE'
HOSTILE_STOCK = 1000000
LIVE_SKU = 'SKU-LIVE'


def pack(x):
    return msgpack.packb(x, use_bin_type=True).replace(BAD_UTF8_PACKED, NOT_UTF8)


def valid_create(name):
    """A valid create body with two products; user and rid unique to the case."""
    cart = make_cart([(HOSTILE_SKU, 1, 1000), (HOSTILE_SKU, 2, 250)])
    body = {'v': 1, 'op': 'create', 'rid': 'hostile-' + name}
    body.update(create_fields('hostile-user-' + name, cart, cart_id='cart-' + name))
    return body


def setpath(body, path, value):
    """path: 'cart_data.products.1.quantity'; value DELETE removes the key."""
    node = body
    parts = path.split('.')
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return body


def recost(body):
    """Make the costs consistent again after changing products."""
    cart = body['cart_data']
    sub = sum(p['quantity'] * p['unit_price'] for p in cart['products'])
    c = cart['costs']
    c['subtotal'] = sub
    c['total'] = sub + c['shipping'] + c['tax'] - c['discount']
    return body


def nested_map(depth, leaf='x'):
    v = leaf
    for _ in range(depth):
        v = {'k': v}
    return v


# ---- the table: name -> (builder(name) -> body dict, code, field or None)
FIELD_CASES = {}


def case(name, code, field, path=None, value=None, fn=None, whole_body=False):
    """whole_body: the body is refused as a whole before its fields are read
    (orderd treats over-deep nesting like invalid msgpack), so the reply's
    rid may be nil instead of the request's."""
    def build(n, path=path, value=value, fn=fn):
        b = valid_create(n)
        if path is not None:
            setpath(b, path, value)
        if fn is not None:
            b = fn(b)
        return b
    FIELD_CASES[name] = (build, code, field, whole_body)


P1 = 'cart_data.products.1.'
F1 = 'cart_data.products[1].'

# envelope of every request
case('missing_v', 'bad_request', 'v', 'v', DELETE)
case('v_2', 'unsupported_version', None, 'v', 2)
case('v_minus_1', 'unsupported_version', None, 'v', -1)
case('v_int64_max', 'unsupported_version', None, 'v', 2 ** 63 - 1)
case('v_1000', 'unsupported_version', None, 'v', 1000)
case('v_str', 'bad_request', 'v', 'v', '1')
case('v_float', 'bad_request', 'v', 'v', 1.0)
case('v_bool', 'bad_request', 'v', 'v', True)
case('v_nil', 'bad_request', 'v', 'v', None)
case('missing_op', 'bad_request', 'op', 'op', DELETE)
case('op_int', 'bad_request', 'op', 'op', 7)
case('unknown_op', 'unknown_op', None, 'op', 'frobnicate')
case('rid_int', 'bad_request', 'rid', 'rid', 12)
case('rid_65', 'bad_request', 'rid', 'rid', 'r' * 65)
case('rid_nul', 'bad_request', 'rid', 'rid', 'r\x00id')
case('idem_129', 'bad_request', 'idem', 'idem', 'i' * 129)
case('idem_int', 'bad_request', 'idem', 'idem', 5)
case('idem_nul', 'bad_request', 'idem', 'idem', 'id\x00em')
# create's fields
case('user_id_int', 'bad_request', 'user_id', 'user_id', 42)
case('user_id_missing', 'bad_request', 'user_id', 'user_id', DELETE)
case('user_id_empty', 'bad_request', 'user_id', 'user_id', '')
case('user_id_129', 'bad_request', 'user_id', 'user_id', 'u' * 129)
case('user_id_nul', 'bad_request', 'user_id', 'user_id', 'hostile\x00user')
case('user_id_map', 'bad_request', 'user_id', 'user_id', {'id': 'x'})
case('cart_id_missing', 'bad_request', 'cart_id', 'cart_id', DELETE)
case('cart_id_int', 'bad_request', 'cart_id', 'cart_id', 9)
case('cart_id_empty', 'bad_request', 'cart_id', 'cart_id', '')
case('cart_id_129', 'bad_request', 'cart_id', 'cart_id', 'c' * 129)
case('cart_id_nul', 'bad_request', 'cart_id', 'cart_id', 'cart\x00id')
case('cart_data_str', 'bad_request', 'cart_data', 'cart_data', 'a cart')
case('cart_data_missing', 'bad_request', 'cart_data', 'cart_data', DELETE)
case('cart_data_nil', 'bad_request', 'cart_data', 'cart_data', None)
case('cart_data_array', 'bad_request', 'cart_data', 'cart_data', [1, 2])
case('products_map', 'bad_request', 'cart_data.products', 'cart_data.products', {'a': 1})
case('products_str', 'bad_request', 'cart_data.products', 'cart_data.products', 'many')
case('products_missing', 'bad_request', 'cart_data.products', 'cart_data.products', DELETE)
case('products_empty', 'bad_request', 'cart_data.products',
     fn=lambda b: recost(setpath(b, 'cart_data.products', [])))
case('products_501', 'bad_request', 'cart_data.products',
     fn=lambda b: recost(setpath(b, 'cart_data.products',
                                 [make_product(HOSTILE_SKU, 1, 1, 'p', 'n')] * 501)))
case('product_int', 'bad_request', 'cart_data.products[1]', P1[:-1], 42)
case('product_nil', 'bad_request', 'cart_data.products[1]', P1[:-1], None)
case('quantity_str', 'bad_request', F1 + 'quantity', P1 + 'quantity', '2')
case('quantity_0', 'bad_request', F1 + 'quantity',
     fn=lambda b: recost(setpath(b, P1 + 'quantity', 0)))
case('quantity_minus_1', 'bad_request', F1 + 'quantity',
     fn=lambda b: recost(setpath(b, P1 + 'quantity', -1)))
case('quantity_10001', 'bad_request', F1 + 'quantity',
     fn=lambda b: recost(setpath(b, P1 + 'quantity', 10001)))
case('quantity_float', 'bad_request', F1 + 'quantity', P1 + 'quantity', 2.0)
case('quantity_missing', 'bad_request', F1 + 'quantity', P1 + 'quantity', DELETE)
case('unit_price_float', 'bad_request', F1 + 'unit_price',
     fn=lambda b: setpath(setpath(setpath(b, P1 + 'unit_price', 1.5),
                                  'cart_data.costs.subtotal', 1003),
                          'cart_data.costs.total', 1503))
case('unit_price_minus_1', 'bad_request', F1 + 'unit_price',
     fn=lambda b: recost(setpath(b, P1 + 'unit_price', -1)))
case('unit_price_str', 'bad_request', F1 + 'unit_price', P1 + 'unit_price', '250')
case('unit_price_uint64', 'bad_request', F1 + 'unit_price', P1 + 'unit_price', 2 ** 64 - 1)
case('sku_missing', 'bad_request', F1 + 'sku', P1 + 'sku', DELETE)
case('sku_int', 'bad_request', F1 + 'sku', P1 + 'sku', 77)
case('sku_nul', 'bad_request', F1 + 'sku', P1 + 'sku', 'SKU\x00HOSTILE')
case('sku_1025', 'bad_request', F1 + 'sku', P1 + 'sku', 's' * 1025)
case('name_int', 'bad_request', F1 + 'name', P1 + 'name', 3)
case('name_nul', 'bad_request', F1 + 'name', P1 + 'name', 'na\x00me')
case('name_1025', 'bad_request', F1 + 'name', P1 + 'name', 'n' * 1025)
case('product_id_int', 'bad_request', F1 + 'product_id', P1 + 'product_id', 5)
case('product_id_1025', 'bad_request', F1 + 'product_id', P1 + 'product_id', 'p' * 1025)
case('currency_int', 'bad_request', 'currency', 'currency', 840)
case('currency_lower', 'bad_request', 'currency', 'currency', 'usd')
case('currency_2', 'bad_request', 'currency', 'currency', 'US')
case('currency_4', 'bad_request', 'currency', 'currency', 'EURO')
case('currency_nul', 'bad_request', 'currency', 'currency', 'U\x00D')
case('costs_missing', 'bad_request', 'cart_data.costs', 'cart_data.costs', DELETE)
case('costs_str', 'bad_request', 'cart_data.costs', 'cart_data.costs', 'free')
case('subtotal_mismatch', 'bad_request', 'cart_data.costs.subtotal',
     fn=lambda b: setpath(setpath(b, 'cart_data.costs.subtotal', 1499),
                          'cart_data.costs.total', 1999))
case('subtotal_str', 'bad_request', 'cart_data.costs.subtotal',
     'cart_data.costs.subtotal', '1500')
case('subtotal_missing', 'bad_request', 'cart_data.costs.subtotal',
     'cart_data.costs.subtotal', DELETE)
case('total_mismatch', 'bad_request', 'cart_data.costs.total',
     'cart_data.costs.total', 1999)
case('total_missing', 'bad_request', 'cart_data.costs.total', 'cart_data.costs.total', DELETE)
case('shipping_float', 'bad_request', 'cart_data.costs.shipping',
     'cart_data.costs.shipping', 500.0)
case('tax_str', 'bad_request', 'cart_data.costs.tax', 'cart_data.costs.tax', '0')
case('discount_str', 'bad_request', 'cart_data.costs.discount',
     'cart_data.costs.discount', '0')
case('shipping_negative', 'bad_request', 'cart_data.costs.shipping',
     fn=lambda b: recost(setpath(b, 'cart_data.costs.shipping', -500)))


def _overflow(b):
    # 4 * 2^62 = 2^64: wraps to 0 in 64-bit arithmetic; the costs claim the
    # wrapped value, so a daemon that does not check overflow accepts it.
    b['cart_data']['products'] = [make_product(HOSTILE_SKU, 4, 2 ** 62)]
    b['cart_data']['costs'].update(subtotal=0, total=500)
    return b


def _overflow_total(b):
    b['cart_data']['products'] = [make_product(HOSTILE_SKU, 1, 2 ** 63 - 1)]
    b['cart_data']['costs'].update(subtotal=2 ** 63 - 1, shipping=1,
                                   total=-(2 ** 63))
    return b


case('subtotal_overflow', 'bad_request', 'cart_data', fn=_overflow)
case('total_overflow', 'bad_request', 'cart_data', fn=_overflow_total)
case('shipping_address_str', 'bad_request', 'cart_data.shipping_address',
     'cart_data.shipping_address', 'Baker Street')
case('billing_address_int', 'bad_request', 'cart_data.billing_address',
     'cart_data.billing_address', 221)
case('delivery_mode_int', 'bad_request', 'cart_data.delivery_mode',
     'cart_data.delivery_mode', 1)
case('delivery_mode_1025', 'bad_request', 'cart_data.delivery_mode',
     'cart_data.delivery_mode', 'd' * 1025)
case('delivery_mode_nul', 'bad_request', 'cart_data.delivery_mode',
     'cart_data.delivery_mode', 'std\x00')
case('user_data_str', 'bad_request', 'user_data', 'user_data', 'ada@example.com')
# msgpack str is UTF-8: a string that is not would come back in replies that
# strict decoders (Python's raw=False, Go, JS) cannot read.
case('user_id_bad_utf8', 'bad_request', 'user_id', 'user_id', 'hostile' + BAD_UTF8)
case('cart_id_bad_utf8', 'bad_request', 'cart_id', 'cart_id', 'cart' + BAD_UTF8)
case('name_bad_utf8', 'bad_request', F1 + 'name', P1 + 'name', 'Widget' + BAD_UTF8)
case('user_data_bad_utf8', 'bad_request', None, 'user_data', {'note': 'hi' + BAD_UTF8})
case('user_data_nested_100', 'bad_request', None, 'user_data', nested_map(100),
     whole_body=True)
case('user_data_nested_17', 'bad_request', None, 'user_data', nested_map(17),
     whole_body=True)
case('cart_nested_100', 'bad_request', None, 'cart_data.shipping_address', nested_map(100),
     whole_body=True)


def pad_to(body, size):
    """Pad body['user_data'] with strings of at most 1000 bytes until the
    packed body is exactly size bytes."""
    notes = []
    body['user_data'] = {'notes': notes}
    while len(pack(body)) + 1100 < size:
        notes.append('x' * 1000)
    notes.append('')
    for _ in range(50):
        diff = size - len(pack(body))
        if diff == 0:
            return body
        k = max(0, min(1000, len(notes[-1]) + diff))
        if k == len(notes[-1]):
            k = max(0, k - 1)        # a string header boundary: step over it
        notes[-1] = 'y' * k
    raise AssertionError('cannot pad a body to %d bytes' % size)


# ---- raw cases: name -> (frames, code, field); the last frame is the body
def _raw_cases():
    health = pack({'v': 1, 'op': 'health'})
    big_valid = valid_create('too-large')
    big_valid['user_data'] = {'pad': ['x' * 1000] * 1100}
    over = pad_to(valid_create('over-max'), 65537)
    deep_arrays = (b'\x83' + pack('v') + pack(1) + pack('op') + pack('health')
                   + pack('x') + b'\x91' * 60000 + b'\xc0')
    deep_maps = (b'\x83' + pack('v') + pack(1) + pack('op') + pack('health')
                 + pack('x') + (b'\x81\xa1k') * 20000 + b'\xc0')
    return {
        'not_msgpack': ([b'\xc1\xc1 this is not msgpack'], 'bad_request', None),
        'text_json': ([b'{"v": 1, "op": "health"}'], 'bad_request', None),
        'truncated_msgpack': ([pack(valid_create('trunc'))[:-7]], 'bad_request', None),
        'trailing_bytes': ([health + b'\xc0\xc0'], 'bad_request', None),
        'body_array': ([pack([1, 'v', 'op'])], 'bad_request', None),
        'body_int': ([pack(42)], 'bad_request', None),
        'body_str': ([pack('create')], 'bad_request', None),
        'body_nil': ([pack(None)], 'bad_request', None),
        'body_bin': ([pack(b'\x01\x02')], 'bad_request', None),
        'empty_body_frame': ([b''], 'bad_request', None),
        'map_count_lies': ([b'\xdf\xff\xff\xff\xff' + pack('v') + pack(1)],
                           'bad_request', None),
        'str_length_lies': ([b'\x82' + pack('v') + pack(1) + pack('op')
                             + b'\xdb\x7f\xff\xff\xff' + b'health'], 'bad_request', None),
        'array_length_lies': ([b'\xdd\xff\xff\xff\xf0\x01\x02'], 'bad_request', None),
        'deep_arrays_60000': ([deep_arrays], 'bad_request', None),
        'deep_maps_20000': ([deep_maps], 'bad_request', None),
        'too_large_1mib_create': ([pack(big_valid)], 'too_large', None),
        'too_large_1mib_garbage': ([b'\xc1' * (1 << 20)], 'too_large', None),
        'too_large_65537': ([pack(over)], 'too_large', None),
        'map_int_keys': ([pack({1: 'one', 'v': 1, 'op': 'health'})], 'bad_request', None),
        'multiframe_garbage': ([b'\xde\xad\xbe\xef', b'', b'\xff' * 300, b'\x00',
                                b'garbage body \xc1'], 'bad_request', None),
        'multiframe_empty_frames': ([b'', b'', b'', b''], 'bad_request', None),
    }


RAW_CASES = _raw_cases()


class TestHostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = h.start_daemon()
        cls.d.seed_stock({HOSTILE_SKU: HOSTILE_STOCK, LIVE_SKU: 10 ** 8})
        cls.admin = cls.d.admin_client()
        cls.c = cls.d.client('dealer')
        cls.owner = new_id('owner-')
        cls.owned = cls.c.call_ok('create', **create_fields(
            cls.owner, make_cart([(LIVE_SKU, 1, 100)])))['order']

    @classmethod
    def tearDownClass(cls):
        h.stop_daemon(cls.d)

    def setUp(self):
        if not self.d.running():        # an earlier test crashed it: that one failed
            self.d.start()
        self.c.drain()

    # -- checks after every case
    def hostile_stock(self):
        s = self.admin.call_ok('stock', sku=HOSTILE_SKU)
        return s['available'], s['reserved']

    def assertAlive(self, refused_user=None, stock_before=None):
        r = self.c.call('health')
        self.assertTrue(r.get('ok'), 'health after the case: %r' % r)
        user = new_id('live-')
        r = self.c.call('create', **create_fields(user, make_cart([(LIVE_SKU, 1, 100)])))
        self.assertTrue(r.get('ok'), 'valid create after the case: %r\nlog:\n%s'
                        % (r, self.d.log_tail(10)))
        self.assertEqual(r['order']['status'], 'pending')
        if refused_user is not None:
            r = self.c.call_ok('list', user_id=refused_user)
            self.assertEqual(r['orders'], [], 'a refused create stored something')
        if stock_before is not None:
            self.assertEqual(self.hostile_stock(), stock_before,
                             'a refused request moved stock')

    def assertErrorReply(self, r, code, field=None, rid=None):
        self.assertIsInstance(r, dict, r)
        self.assertEqual(r.get('v'), 1, r)
        self.assertIs(r.get('ok'), False, r)
        self.assertIn('rid', r, r)
        if rid is not None:
            self.assertEqual(r['rid'], rid, r)
        self.assertIsInstance(r.get('error'), dict, r)
        self.assertEqual(r['error'].get('code'), code, r)
        self.assertIsInstance(r['error'].get('message'), str, r)
        if field is not None:
            self.assertIn(field, r['error']['message'], r)
        self.assertNotIn('order', r, r)

    def send_frames(self, frames):
        self.c.send_raw(frames)
        got = self.c.recv_raw()
        self.assertEqual(got[:-1], frames[:-1], 'envelope not handed back unchanged')
        try:
            return msgpack.unpackb(got[-1], raw=False, strict_map_key=False)
        except UnicodeDecodeError as exc:
            raw = msgpack.unpackb(got[-1], raw=True, strict_map_key=False)
            self.fail('reply holds a str that is not UTF-8 (%s): %.300r' % (exc, raw))

    def run_field_case(self, name):
        build, code, field, whole_body = FIELD_CASES[name]
        body = build(name)
        before = self.hostile_stock()
        r = self.send_frames([pack(body)])
        rid = body.get('rid')
        rid_ok = isinstance(rid, str) and len(rid) <= 64 and '\x00' not in rid
        if whole_body and isinstance(r, dict) and r.get('rid') is None:
            rid_ok = False
        self.assertErrorReply(r, code, field, rid if rid_ok else None)
        if not rid_ok and 'rid' in body and isinstance(body['rid'], str) \
                and r.get('rid') is not None:
            self.assertLessEqual(len(r['rid'].encode()), 64, r)
        user = body.get('user_id')
        self.assertAlive('hostile-user-' + name, before)
        if isinstance(user, str) and user and '\x00' not in user and len(user) <= 128:
            r = self.c.call_ok('list', user_id=user)
            self.assertEqual(r['orders'], [])

    def run_raw_case(self, name):
        frames, code, field = RAW_CASES[name]
        before = self.hostile_stock()
        r = self.send_frames(frames)
        self.assertErrorReply(r, code, field)
        self.assertIsNone(r['rid'])
        self.assertAlive(stock_before=before)

    # -- cases that need the setup order
    def test_unknown_order_not_found(self):
        r = self.c.call('get', order_id='o' + 'f' * 16, user_id=self.owner)
        self.assertErrorReply(r, 'not_found')
        r = self.c.call('cancel', order_id='o' + 'f' * 16, user_id=self.owner)
        self.assertErrorReply(r, 'not_found')
        r = self.c.call('get', order_id='../../etc/passwd', user_id=self.owner)
        self.assertErrorReply(r, 'not_found')
        self.assertAlive()

    def test_other_users_order_forbidden(self):
        for op in ('get', 'cancel', 'delete', 'initiate_payment'):
            r = self.c.call(op, order_id=self.owned['id'], user_id='intruder')
            self.assertErrorReply(r, 'forbidden')
        self.assertAlive()
        g = self.c.call_ok('get', order_id=self.owned['id'], user_id=self.owner)
        self.assertEqual(g['order'], self.owned)

    def test_wrong_types_on_other_ops(self):
        OID = '<fresh pending order>'   # replaced by a new order of self.owner
        cases = [
            ({'op': 'get', 'order_id': 42, 'user_id': self.owner}, 'order_id'),
            ({'op': 'get', 'order_id': OID, 'user_id': 42}, 'user_id'),
            ({'op': 'get', 'order_id': OID, 'user_id': self.owner, 'history': 'yes'},
             'history'),
            ({'op': 'health', 'detailed': 'yes'}, 'detailed'),
            ({'op': 'list', 'user_id': self.owner, 'limit': '10'}, 'limit'),
            ({'op': 'list', 'user_id': self.owner, 'limit': -1}, 'limit'),
            ({'op': 'list', 'user_id': self.owner, 'after': 5}, 'after'),
            ({'op': 'list', 'user_id': self.owner, 'status': 3}, 'status'),
            ({'op': 'cancel', 'order_id': OID, 'user_id': self.owner, 'reason': 9},
             'reason'),
            ({'op': 'cancel', 'order_id': OID, 'user_id': self.owner,
              'reason': 'r' * 1025}, 'reason'),
            ({'op': 'cancel', 'order_id': OID, 'user_id': self.owner,
              'reason': 'bad\x00reason'}, 'reason'),
            ({'op': 'initiate_payment', 'order_id': OID, 'user_id': self.owner,
              'return_url': 5}, 'return_url'),
            ({'op': 'initiate_payment', 'order_id': OID, 'user_id': self.owner,
              'return_url': 'https://x/' + 'u' * 1025}, 'return_url'),
            ({'op': 'initiate_payment', 'order_id': OID, 'user_id': self.owner,
              'cancel_url': 'https://x/\x00'}, 'cancel_url'),
            ({'op': 'confirm', 'order_id': OID, 'user_id': self.owner,
              'provider_order_id': 5}, 'provider_order_id'),
        ]
        for fields, field in cases:
            with self.subTest(fields={k: (v[:40] if isinstance(v, str) else v)
                                      for k, v in fields.items()}):
                order = None
                if fields.get('order_id') == OID:
                    order = self.c.call_ok('create', **create_fields(
                        self.owner, make_cart([(LIVE_SKU, 1, 100)])))['order']
                    fields = dict(fields, order_id=order['id'])
                body = dict({'v': 1, 'rid': new_id('r-')}, **fields)
                r = self.c.call_body(body)
                self.assertErrorReply(r, 'bad_request', field, body['rid'])
                if order is not None:
                    g = self.c.call_ok('get', order_id=order['id'], user_id=self.owner)
                    self.assertEqual(g['order'], order, 'a refused request changed the order')
        self.assertAlive()

    def test_multiframe_valid_body_keeps_envelope(self):
        frames = [b'\x00garbage-hop', b'', b'\xff' * 64, pack({'v': 1, 'op': 'health',
                                                                 'rid': 'mf'})]
        r = self.send_frames(frames)
        self.assertTrue(r.get('ok'), r)
        self.assertEqual(r['rid'], 'mf')
        self.assertAlive()

    def test_many_envelope_frames(self):
        frames = [b'hop%d' % i for i in range(200)] + [pack({'v': 1, 'op': 'health',
                                                              'rid': 'many'})]
        self.c.send_raw(frames)
        try:
            got = self.c.recv_raw(2000 * h.SLOW)
            self.assertEqual(got[:-1], frames[:-1])
        except h.ReplyTimeout:
            pass        # dropping an absurd envelope is acceptable; surviving is not
        self.assertAlive()

    # -- boundaries that must be accepted
    def test_nil_discount_is_zero_or_refused(self):
        body = valid_create('discount-nil')
        body['cart_data']['costs']['discount'] = None
        before = self.hostile_stock()
        r = self.c.call_body(body)
        if r.get('ok'):
            # read as absent: the stored order must carry an integer 0
            self.assertEqual(r['order']['order_data']['costs']['discount'], 0, r)
            self.c.call_ok('cancel', order_id=r['order']['id'], user_id=body['user_id'])
        else:
            self.assertErrorReply(r, 'bad_request', 'cart_data.costs.discount', body['rid'])
        self.assertAlive(stock_before=before)

    def test_boundaries_accepted(self):
        sku = new_id('SKU-B-')
        self.d.seed_stock({sku: 100000})
        user = 'u' * 128
        cart = make_cart([make_product(sku, 10000, 0, 'p' * 1024, 'n' * 1024),
                          make_product(sku, 1, 7, sku, 'plain')])
        cart['delivery_mode'] = 'd' * 1024
        body = {'v': 1, 'op': 'create', 'rid': 'r' * 64, 'idem': 'i' * 128}
        body.update(create_fields(user, cart, cart_id='c' * 128, currency='JPY'))
        r = self.c.call_body(body)
        self.assertTrue(r.get('ok'), r)
        self.assertEqual(r['rid'], 'r' * 64)
        o = r['order']
        self.assertEqual(o['user_id'], user)
        self.assertEqual(o['cart_id'], 'c' * 128)
        self.assertEqual(o['currency'], 'JPY')
        self.assertEqual(o['order_data']['products'], cart['products'])
        self.assertEqual(o['total_amount'], 7 + 500)
        self.assertAlive()

    def test_500_products_accepted(self):
        sku = new_id('SKU-500-')
        self.d.seed_stock({sku: 1000})
        user = new_id('u-')
        cart = make_cart([make_product(sku, 1, 1, 'p%d' % i, 'n') for i in range(500)])
        r = self.c.call('create', **create_fields(user, cart))
        self.assertTrue(r.get('ok'), r)
        self.assertEqual(len(r['order']['order_data']['products']), 500)
        s = self.admin.call_ok('stock', sku=sku)
        self.assertEqual((s['available'], s['reserved']), (500, 500))
        self.assertAlive()

    def test_shallow_nesting_accepted(self):
        user = new_id('u-')
        f = create_fields(user, make_cart([(LIVE_SKU, 1, 100)]),
                          user_data={'prefs': nested_map(8, 'deep')})
        r = self.c.call('create', **f)
        self.assertTrue(r.get('ok'), r)
        self.assertEqual(r['order']['user_data'], f['user_data'])
        self.assertAlive()

    def test_body_of_exactly_max_body_accepted(self):
        user = new_id('u-')
        body = {'v': 1, 'op': 'create', 'rid': 'exact'}
        body.update(create_fields(user, make_cart([(LIVE_SKU, 1, 100)])))
        pad_to(body, 65536)
        self.assertEqual(len(pack(body)), 65536)
        r = self.c.call_body(body)
        self.assertTrue(r.get('ok'), r)
        self.assertEqual(r['order']['user_data'], body['user_data'])
        self.assertAlive()


def _add(name, fn):
    fn.__name__ = 'test_' + name
    setattr(TestHostile, 'test_' + name, fn)


for _name in FIELD_CASES:
    _add(_name, lambda self, n=_name: self.run_field_case(n))
for _name in RAW_CASES:
    _add(_name, lambda self, n=_name: self.run_raw_case(n))


if __name__ == '__main__':
    unittest.main(verbosity=2)
