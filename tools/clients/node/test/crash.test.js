'use strict'
// orderd SIGKILLs itself in the middle of the create, then of the confirm
// (tests/integration/client_driver.py restarts it): the retries carry the
// same key, find the new orderd, and end with one order, captured once.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Client, nowMs } = require('..')

const ENV = process.env
const SLOW = Number(ENV.ORDERD_SLOW || '1')

test('orderd killed and restarted in the middle of calls', async () => {
  const user = ENV.ORDERD_CRASH_USER
  const idem = 'js-crash-' + crypto.randomUUID()
  const deadlineMs = nowMs() + 60000 * SLOW
  const fields = {
    user_id: user,
    cart_id: 'crash',
    cart_data: {
      products: [{ product_id: 'p1', sku: ENV.ORDERD_CRASH_SKU, quantity: 2, unit_price: 1000 }],
      shipping_address: { city: 'Lyon' },
      costs: { subtotal: 2000, shipping: 500, total: 2500 }
    }
  }
  const client = new Client(ENV.ORDERD_CRASH_SERVICE, { timeoutMs: 1000 * SLOW, retries: 100 })
  try {
    const order = await client.create(fields, { idem, deadlineMs })
    const paying = await client.initiatePayment({ user_id: user, order_id: order.id }, { deadlineMs })
    const confirmed = await client.confirm({
      user_id: user, order_id: order.id, provider_order_id: paying.payment.provider_order_id
    }, { deadlineMs })
    assert.equal(confirmed.status, 'confirmed')
    // The create again with its key: the first answer, not a new order
    const again = await client.create(fields, { idem, deadlineMs })
    assert.equal(again.id, order.id)
    assert.equal(again.status, 'pending')
  } finally {
    client.close()
  }
})
