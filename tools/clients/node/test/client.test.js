'use strict'
// orderd-client against a real daemon. Run by
// tests/integration/test_client_node.py, which starts the daemons and puts
// their endpoints, keys and skus in the environment (client_driver.py).
const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Client, Events, OrderdError, loadCurve, nowMs, checkMoney } = require('..')

const ENV = process.env
const SLOW = Number(ENV.ORDERD_SLOW || '1')
const SKU = ENV.ORDERD_SKU
let client

function unique (prefix) {
  return prefix + crypto.randomUUID().slice(0, 12)
}

function cart (sku, quantity, unitPrice, shipping = 500) {
  const subtotal = quantity * unitPrice
  return {
    products: [{ product_id: 'p1', sku, name: 'Apple', quantity, unit_price: unitPrice }],
    shipping_address: { city: 'Lyon' },
    delivery_mode: 'standard',
    costs: { subtotal, shipping, tax: 0, discount: 0, total: subtotal + shipping }
  }
}

async function refused (promise, code) {
  const error = await promise.then(() => null, (e) => e)
  assert.ok(error instanceof OrderdError, `expected ${code}, got ${error}`)
  assert.equal(error.code, code, error.message)
  return error
}

// create, initiatePayment, confirm: the confirmed order (or the confirm's rejection)
async function lifecycle (user, unitPrice) {
  const order = await client.create({ user_id: user, cart_id: unique('cart-'), cart_data: cart(SKU, 2, unitPrice) })
  assert.equal(order.status, 'pending')
  const paying = await client.initiatePayment({ user_id: user, order_id: order.id })
  assert.equal(paying.status, 'payment_initiated')
  return client.confirm({ user_id: user, order_id: order.id, provider_order_id: paying.payment.provider_order_id })
}

before(() => {
  const curve = loadCurve(ENV.ORDERD_CLIENT_CERT, ENV.ORDERD_SERVER_KEY)
  client = new Client(ENV.ORDERD_SERVICE, { timeoutMs: 5000 * SLOW, curve })
})

after(() => client.close())

test('lifecycle: create, initiate_payment, confirm, get with history, list', async () => {
  const order = await lifecycle('js-life', 150)
  assert.equal(order.status, 'confirmed')
  const got = await client.get({ user_id: 'js-life', order_id: order.id, history: true })
  assert.equal(got.history[0].to, 'pending')
  assert.equal(got.history[got.history.length - 1].to, 'confirmed')
  const listed = await client.list({ user_id: 'js-life' })
  assert.ok(listed.orders.some((o) => o.id === order.id))
})

test('concurrent calls share one socket: the send queue', async () => {
  // zeromq 6 refuses a second send in flight; the client queues them
  const orders = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    lifecycle(`js-many-${i % 4}`, 200 + 10 * i)))
  for (const order of orders) assert.equal(order.status, 'confirmed')
  assert.equal(new Set(orders.map((o) => o.id)).size, 20)
})

test('the event feed follows an order', async () => {
  const events = new Events(ENV.ORDERD_EVENTS)
  try {
    // A SUB sees only what is published once it is connected
    let joined = null
    for (let i = 0; i < 50 && !joined; i++) {
      await client.create({ user_id: 'js-events', cart_id: unique('cart-'), cart_data: cart(SKU, 1, 100) })
      joined = await events.next(200 * SLOW)
    }
    assert.ok(joined, 'no event came')
    while (await events.next(100)) { /* drain */ }
    const order = await lifecycle('js-events', 170)
    const seen = []
    while (!seen.includes('confirmed')) {
      const event = await events.next(5000 * SLOW)
      assert.ok(event, `events so far: ${seen}`)
      if (event.order_id !== order.id) continue
      assert.equal(event.topic, `order.${event.to}`)
      assert.equal(event.user_id, 'js-events')
      seen.push(event.to)
    }
    assert.equal(seen[0], 'pending')
    assert.ok(seen.includes('payment_initiated'))
  } finally {
    events.close()
  }
})

test('every error a cart can hit, typed, with retryable', async () => {
  const user = 'js-err'
  let e = await refused(client.create({ user_id: user, cart_id: 'c', cart_data: cart(SKU, 0, 100) }), 'bad_request')
  assert.match(e.detail, /quantity/)
  assert.equal(e.retryable, false)
  await refused(client.create({ user_id: user, cart_id: 'c', cart_data: cart(ENV.ORDERD_SCARCE_SKU, 5, 100) }), 'out_of_stock')
  await refused(client.create({ user_id: user, cart_id: 'c', cart_data: cart(unique('no-such-'), 1, 100) }), 'unknown_product')
  await refused(client.get({ user_id: user, order_id: 'o0000000000000001' }), 'not_found')
  const order = await client.create({ user_id: user, cart_id: 'c', cart_data: cart(SKU, 1, 100) })
  await refused(client.get({ user_id: 'js-someone-else', order_id: order.id }), 'forbidden')
  await refused(client.confirm({ user_id: user, order_id: order.id, provider_order_id: 'none' }), 'invalid_transition')
  assert.equal((await client.cancel({ user_id: user, order_id: order.id })).status, 'cancelled')
  await refused(client.cancel({ user_id: user, order_id: order.id }), 'invalid_transition')
  // One key: the first answer again; a different cart is a mismatch
  const idem = unique('js-key-')
  const first = await client.create({ user_id: user, cart_id: 'k', cart_data: cart(SKU, 1, 100) }, { idem })
  const again = await client.create({ user_id: user, cart_id: 'k', cart_data: cart(SKU, 1, 100) }, { idem })
  assert.equal(first.id, again.id)
  await refused(client.create({ user_id: user, cart_id: 'k', cart_data: cart(SKU, 2, 100) }, { idem }), 'idempotency_mismatch')
  // The sandbox declines totals ending in 02: 2 x 151 + 500
  await refused(lifecycle(user, 151), 'payment_declined')
  // too_large: its reply has a nil rid, and still finds its call
  e = await refused(client.create({ user_id: user, cart_id: 'c', cart_data: cart(SKU, 1, 100), note: 'x'.repeat(70000) }), 'too_large')
  assert.equal(e.reply.rid, null)
  await refused(client.call('frobnicate', { user_id: user }), 'unknown_op')
  // deadline_exceeded: from the library (it does not send a late request) ...
  e = await refused(client.create({ user_id: 'js-late', cart_id: 'c', cart_data: cart(SKU, 1, 100) }, { deadlineMs: nowMs() - 1000 }), 'deadline_exceeded')
  assert.equal(e.reply, null)
  // ... and from orderd, for a deadline that passes on the way
  e = await refused(client.call('create', { user_id: 'js-late', cart_id: 'c', cart_data: cart(SKU, 1, 100), deadline: nowMs() - 1000 }), 'deadline_exceeded')
  assert.notEqual(e.reply, null)
  assert.deepEqual((await client.list({ user_id: 'js-late' })).orders, [])
  for (const [code, retryable] of [['busy', true], ['unavailable', true], ['internal', true],
    ['timeout', true], ['deadline_exceeded', false], ['not_found', false]]) {
    assert.equal(new OrderdError(code, '').retryable, retryable, code)
  }
})

test('money is integers only, checked before sending', async () => {
  const bad = cart(SKU, 1, 100)
  bad.products[0].unit_price = 1.5
  const e = await refused(client.create({ user_id: 'js-money', cart_id: 'c', cart_data: bad }), 'bad_request')
  assert.match(e.detail, /cart_data\.products\[0\]\.unit_price/)
  assert.equal(e.reply, null)
  for (const value of [-1, 10 ** 15 + 1, NaN, '100', 2 ** 60]) {
    assert.throws(() => checkMoney(value, 'x'), OrderdError)
  }
  checkMoney(10 ** 15, 'x')
  checkMoney(12n, 'x')
  // A bigint amount goes out as an integer
  const big = cart(SKU, 1, 100)
  big.products[0].unit_price = 100n
  assert.equal((await client.create({ user_id: 'js-money', cart_id: 'c', cart_data: big })).total_amount, 600)
  assert.deepEqual((await client.list({ user_id: 'js-money' })).orders.length, 1)
})

test('no answer: reads retried on a new socket, then timeout', async () => {
  const nobody = new Client('tcp://127.0.0.1:1', { timeoutMs: 100, retries: 2 })
  try {
    let e = await refused(nobody.health(), 'timeout')
    assert.equal(e.retryable, true)
    assert.match(e.detail, /3 attempts/)
    e = await refused(nobody.cancel({ user_id: 'u', order_id: 'o0000000000000001' }, { noIdem: true }), 'timeout')
    assert.match(e.detail, /1 attempt;/)
  } finally {
    nobody.close()
  }
})
