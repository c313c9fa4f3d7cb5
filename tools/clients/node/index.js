'use strict'
/*  orderd-client: the official Node.js client of orderd (docs/CLIENTS.md),
    on zeromq 6 and @msgpack/msgpack 3. Types: index.d.ts.

    Every call has a per-attempt timeout and may have a deadline (ms since
    the epoch, sent as `deadline`). On a timeout the socket is closed and a
    new one connected (Lazy Pirate), and the request sent again when it is
    a read or a write with its idempotency key; every write gets a key of
    its own unless the caller gives one. Requests go out as [rid, body] and
    replies are matched on their first frame, so a refusal whose `rid` is
    nil still finds its call. zeromq 6 allows one send in flight per socket:
    sends wait their turn in a queue, and one loop reads every reply.
    Refusals reject with OrderdError (`code`, `message`, `retryable`,
    `reply`). Money is checked before it leaves: integers only. */
const crypto = require('node:crypto')
const fs = require('node:fs')
const zmq = require('zeromq')
const { encode, decode } = require('@msgpack/msgpack')

const DEFAULT_TIMEOUT_MS = 3000
const DEFAULT_RETRIES = 3
const WRITES = new Set(['create', 'initiate_payment', 'confirm', 'cancel', 'delete',
  'advance', 'retry', 'resolve'])
// Codes whose request may succeed later (a write with the same key)
const RETRYABLE = new Set(['timeout', 'busy', 'unavailable', 'internal', 'send'])
const MONEY_MAX = 10 ** 15

class OrderdError extends Error {
  constructor (code, message, reply = null) {
    super(`${code}: ${message}`)
    this.name = 'OrderdError'
    this.code = code
    this.detail = message
    this.reply = reply
  }

  get retryable () {
    return RETRYABLE.has(this.code)
  }
}

function nowMs () {
  return Date.now()
}

function isWrite (op) {
  return WRITES.has(op)
}

// Integers only, 0 to 10^15: a float would be refused by orderd anyway,
// better said here with the field's path
function checkMoney (value, path) {
  const ok = typeof value === 'bigint'
    ? value >= 0n && value <= BigInt(MONEY_MAX)
    : Number.isSafeInteger(value) && value >= 0 && value <= MONEY_MAX
  if (!ok) {
    throw new OrderdError('bad_request',
      `${path}: money is an integer number of minor units from 0 to 10^15, not ${String(value)}`)
  }
}

function checkCart (fields) {
  const cart = fields.cart_data
  if (!cart || typeof cart !== 'object') return
  if (Array.isArray(cart.products)) {
    cart.products.forEach((product, i) => {
      if (product && product.unit_price !== undefined) {
        checkMoney(product.unit_price, `cart_data.products[${i}].unit_price`)
      }
    })
  }
  const costs = cart.costs || {}
  for (const key of ['subtotal', 'shipping', 'tax', 'discount', 'total']) {
    if (costs[key] !== undefined) checkMoney(costs[key], `cart_data.costs.${key}`)
  }
  if (fields.total_amount !== undefined) checkMoney(fields.total_amount, 'total_amount')
}

// A body as msgpack takes it: bigints become numbers (every integer orderd
// takes fits in 2^53). Not @msgpack's useBigInt64, which sends integers
// above 2^32 as floats, and orderd refuses a float where money goes.
function toWire (value) {
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new OrderdError('bad_request', `${value} does not fit in 2^53`)
    }
    return Number(value)
  }
  if (Array.isArray(value)) return value.map(toWire)
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const out = {}
    for (const [key, field] of Object.entries(value)) out[key] = toWire(field)
    return out
  }
  return value
}

// CURVE keys from `ordermon keygen`'s files: certPath (and certPath_secret),
// and orderd's public key in Z85 or the path of its certificate
function readCert (path) {
  const text = fs.readFileSync(path, 'utf8')
  const key = (name) => {
    const match = text.match(new RegExp(`^\\s*${name}\\s*=\\s*"([^"]{40})"`, 'm'))
    return match ? match[1] : null
  }
  return { publicKey: key('public-key'), secretKey: key('secret-key') }
}

function loadCurve (certPath, serverKey) {
  const secretPath = certPath.endsWith('_secret') ? certPath : `${certPath}_secret`
  const own = readCert(secretPath)
  if (!own.publicKey || !own.secretKey) {
    throw new OrderdError('bad_request', `${secretPath}: not a CURVE certificate with a secret key`)
  }
  let server = serverKey
  if (fs.existsSync(serverKey)) server = readCert(serverKey).publicKey
  if (!server || server.length !== 40) {
    throw new OrderdError('bad_request',
      `${serverKey}: neither a 40-character Z85 key nor a certificate file`)
  }
  return { serverKey: server, publicKey: own.publicKey, secretKey: own.secretKey }
}

class Client {
  constructor (endpoint, options = {}) {
    this.endpoint = endpoint
    this.timeoutMs = options.timeoutMs || DEFAULT_TIMEOUT_MS
    this.retries = options.retries === undefined ? DEFAULT_RETRIES : Math.max(0, options.retries)
    this.curve = options.curve || null
    this._sequence = 0
    this._pending = new Map() // rid -> { resolve } of the attempt waiting for it
    this._closed = false
    this._open()
  }

  _open () {
    const options = { linger: 0 }
    if (this.curve) {
      options.curveServerKey = this.curve.serverKey
      options.curvePublicKey = this.curve.publicKey
      options.curveSecretKey = this.curve.secretKey
    }
    const sock = new zmq.Dealer(options)
    sock.connect(this.endpoint)
    this._sock = sock
    this._sends = Promise.resolve() // the send queue of this socket
    this._readLoop(sock)
  }

  async _readLoop (sock) {
    try {
      for await (const frames of sock) this._onReply(frames)
    } catch (error) {
      // The socket was closed (a reset, or close()): its attempts are over
    }
  }

  _onReply (frames) {
    let reply
    try {
      reply = decode(frames[frames.length - 1])
    } catch (error) {
      return // cannot be matched to anyone
    }
    if (frames.length < 2 || !reply || typeof reply !== 'object') return
    const rid = frames[0].toString()
    // Ours by the first frame; a body that names another rid is stale
    if (reply.rid !== null && reply.rid !== undefined && reply.rid !== rid) return
    const waiting = this._pending.get(rid)
    if (waiting) waiting.resolve({ reply })
  }

  // Queues one send: zeromq 6 refuses a second send while one is in flight
  _send (frames) {
    const sock = this._sock
    const sent = this._sends.then(() => sock.send(frames))
    this._sends = sent.catch(() => {})
    return sent
  }

  // Lazy Pirate: a new socket; every other attempt in flight on the old one
  // is told, and retries on the new one as after its own timeout
  _reset () {
    const old = this._sock
    for (const waiting of this._pending.values()) waiting.resolve({ reset: true })
    this._pending.clear()
    old.close()
    if (!this._closed) this._open()
  }

  // One send and the wait: {reply}, {timeout}, {reset}
  _attempt (rid, body, waitMs) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this._pending.delete(rid)
        resolve({ timeout: true })
      }, waitMs)
      this._pending.set(rid, {
        resolve: (outcome) => {
          clearTimeout(timer)
          this._pending.delete(rid)
          resolve(outcome)
        }
      })
      this._send([rid, encode(toWire(body))]).catch(() => {
        // The socket closed under a queued send: the timer or reset decides
      })
    })
  }

  /*  Sends {v: 1, op, rid, idem?, deadline?, ...fields}; resolves with the
      ok reply, rejects with OrderdError. options: timeoutMs, deadlineMs,
      idem, noIdem, retries. */
  async call (op, fields = {}, options = {}) {
    if (this._closed) throw new OrderdError('send', 'the client is closed')
    if (op === 'create') checkCart(fields)
    const timeoutMs = options.timeoutMs || this.timeoutMs
    const retries = options.retries === undefined ? this.retries : Math.max(0, options.retries)
    const deadlineMs = options.deadlineMs
    const write = isWrite(op)
    let idem = null
    if (write && !options.noIdem) idem = options.idem || crypto.randomUUID()
    const body = { ...fields, v: 1, op }
    if (idem !== null) body.idem = idem // one key for every attempt of this call
    if (deadlineMs !== undefined) body.deadline = Math.trunc(deadlineMs)
    // A write without its key is sent once: orderd may have carried it out
    const mayRetry = !write || idem !== null
    for (let attempt = 1; ; attempt++) {
      let waitMs = timeoutMs
      if (deadlineMs !== undefined) {
        const left = deadlineMs - nowMs()
        if (left <= 0) {
          throw new OrderdError('deadline_exceeded',
            `the deadline passed with no reply (${attempt - 1} attempts)`)
        }
        waitMs = Math.min(waitMs, left)
      }
      body.rid = (++this._sequence).toString(16)
      const outcome = await this._attempt(body.rid, body, waitMs)
      if (outcome.reply) return Client._judge(outcome.reply)
      if (outcome.timeout) this._reset()
      if (this._closed) throw new OrderdError('send', 'the client is closed')
      if (deadlineMs !== undefined && nowMs() >= deadlineMs) {
        throw new OrderdError('deadline_exceeded',
          `the deadline passed with no reply (${attempt} attempts)`)
      }
      if (!mayRetry || attempt > retries) {
        throw new OrderdError('timeout', `no reply from ${this.endpoint} within ${timeoutMs} ms ` +
          `(${attempt} attempt${attempt > 1 ? 's' : ''}` +
          `${mayRetry ? '' : '; a write without a key is not retried'})`)
      }
    }
  }

  static _judge (reply) {
    if (reply.ok === true) return reply
    const error = reply.error && typeof reply.error === 'object' ? reply.error : {}
    throw new OrderdError(error.code || 'internal', error.message || '', reply)
  }

  // The cart's ops: each resolves with the order (get, list, delete,
  // health: the whole reply)
  async create (fields, options) {
    return (await this.call('create', fields, options)).order
  }

  async initiatePayment (fields, options) {
    return (await this.call('initiate_payment', fields, options)).order
  }

  async confirm (fields, options) {
    return (await this.call('confirm', fields, options)).order
  }

  async cancel (fields, options) {
    return (await this.call('cancel', fields, options)).order
  }

  delete (fields, options) {
    return this.call('delete', fields, options)
  }

  get (fields, options) {
    return this.call('get', fields, options)
  }

  list (fields, options) {
    return this.call('list', fields, options)
  }

  health (fields = {}, options) {
    return this.call('health', fields, options)
  }

  close () {
    this._closed = true
    this._reset()
  }
}

/*  A SUB on the events door (always plain). Like any SUB socket it sees
    only what is published after it has connected. */
class Events {
  constructor (endpoint, prefix = 'order.') {
    this._sock = new zmq.Subscriber({ linger: 0 })
    this._sock.subscribe(prefix)
    this._sock.connect(endpoint)
  }

  /*  The next event {topic, order_id, user_id, seq, from, to, at, reason},
      or null when none came within timeoutMs. */
  async next (timeoutMs) {
    this._sock.receiveTimeout = timeoutMs === undefined ? -1 : timeoutMs
    for (;;) {
      let frames
      try {
        frames = await this._sock.receive()
      } catch (error) {
        if (error.code === 'EAGAIN') return null
        throw error
      }
      if (frames.length !== 2) continue
      let event
      try {
        event = decode(frames[1])
      } catch (error) {
        continue
      }
      if (event && typeof event === 'object') return { topic: frames[0].toString(), ...event }
    }
  }

  close () {
    this._sock.close()
  }
}

module.exports = {
  Client, Events, OrderdError, loadCurve, nowMs, isWrite, checkMoney, RETRYABLE, WRITES
}
