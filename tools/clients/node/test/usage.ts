// Compiled (not run) by types.test.js with tsc --strict: what a TypeScript
// cart writes must type-check against index.d.ts.
import { Client, Events, OrderdError, loadCurve, nowMs, Order, OrderEvent, Reply } from '..'

async function checkout (client: Client, cartId: string): Promise<Order> {
  const order: Order = await client.create({
    user_id: 'u1',
    cart_id: cartId,
    cart_data: {
      products: [{ product_id: 'p1', sku: 'sku-apple', quantity: 2, unit_price: 150n }],
      shipping_address: { city: 'Lyon' },
      costs: { subtotal: 300, shipping: 500, total: 800 }
    }
  }, { idem: `${cartId}-rev-1`, deadlineMs: nowMs() + 5000 })
  const paying = await client.initiatePayment({ user_id: 'u1', order_id: order.id })
  const provider: string = paying.payment?.provider_order_id ?? ''
  try {
    return await client.confirm({ user_id: 'u1', order_id: order.id, provider_order_id: provider })
  } catch (e) {
    if (e instanceof OrderdError && e.retryable) console.log(e.code, e.detail)
    throw e
  }
}

async function follow (events: Events): Promise<string | null> {
  const event: OrderEvent | null = await events.next(1000)
  return event ? `${event.topic} ${event.to}` : null
}

const client = new Client('tcp://127.0.0.1:8791', { timeoutMs: 1000, curve: loadCurve('cart', 'server') })
const listed: Promise<Reply> = client.list({ user_id: 'u1', status: 'confirmed' })
void checkout(client, 'c1')
void follow(new Events('tcp://127.0.0.1:8793'))
void listed
