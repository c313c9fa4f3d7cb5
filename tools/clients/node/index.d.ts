// Types of orderd-client (index.js); the wire contract is docs/PROTOCOL.md.

/** orderd's error codes, and the client's own (timeout, send). */
export type ErrorCode =
  | 'bad_request' | 'unsupported_version' | 'unknown_op' | 'too_large'
  | 'not_found' | 'forbidden' | 'invalid_transition' | 'idempotency_mismatch'
  | 'payment_declined' | 'out_of_stock' | 'unknown_product' | 'unavailable'
  | 'busy' | 'internal' | 'deadline_exceeded' | 'timeout' | 'send'
  | (string & {})

export type Status =
  | 'pending' | 'payment_initiated' | 'paid' | 'confirmed' | 'processing'
  | 'shipped' | 'delivered' | 'cancelled' | 'failed'

/** Money: integer minor units, 0 to 10^15 (a float is refused before sending). */
export type Money = number | bigint

export interface Product {
  product_id: string
  sku: string
  name?: string
  quantity: number
  unit_price: Money
}

export interface CartData {
  products: Product[]
  shipping_address: Record<string, unknown>
  billing_address?: Record<string, unknown>
  delivery_mode?: string
  costs: { subtotal: Money, shipping?: Money, tax?: Money, discount?: Money, total: Money }
}

export interface Payment {
  provider_order_id: string
  approval_url?: string
  status?: string
  [field: string]: unknown
}

export interface Order {
  id: string
  user_id: string
  cart_id: string
  status: Status
  total_amount: number
  currency: string
  order_data: CartData
  user_data: Record<string, unknown>
  payment_id: string | null
  payment: Payment | null
  needs_review: boolean
  version: number
  created_at: number
  updated_at: number
  deleted_at: number | null
}

export interface HistoryEntry {
  seq: number
  from: Status | null
  to: Status
  at: number
  reason: string
}

/** Every ok reply: the envelope and the op's own fields. */
export interface Reply {
  v: 1
  rid: string | null
  ok: true
  order?: Order
  history?: HistoryEntry[]
  orders?: Order[]
  next?: string | null
  [field: string]: unknown
}

export interface CallOptions {
  /** Per attempt; the client's default otherwise. */
  timeoutMs?: number
  /** Absolute, ms since the epoch (UTC); sent as `deadline`. */
  deadlineMs?: number
  /** A write's idempotency key; one is made per call otherwise. */
  idem?: string
  /** A write without a key: sent once, never retried. */
  noIdem?: boolean
  /** Extra attempts after a timeout. */
  retries?: number
}

export interface Curve {
  serverKey: string
  publicKey: string
  secretKey: string
}

export interface ClientOptions {
  timeoutMs?: number
  retries?: number
  curve?: Curve | null
}

export declare class OrderdError extends Error {
  constructor (code: ErrorCode, message: string, reply?: Record<string, unknown> | null)
  readonly code: ErrorCode
  /** orderd's message (or ours). */
  readonly detail: string
  /** orderd's reply; null when nothing came back. */
  readonly reply: Record<string, unknown> | null
  /** May the same request (a write with the same key) succeed later? */
  readonly retryable: boolean
}

export interface CreateFields {
  user_id: string
  cart_id: string
  cart_data: CartData
  user_data?: Record<string, unknown>
  currency?: string
  total_amount?: Money
  [field: string]: unknown
}

export interface OrderFields {
  user_id: string
  order_id: string
  [field: string]: unknown
}

export declare class Client {
  constructor (endpoint: string, options?: ClientOptions)
  readonly endpoint: string
  call (op: string, fields?: Record<string, unknown>, options?: CallOptions): Promise<Reply>
  create (fields: CreateFields, options?: CallOptions): Promise<Order>
  initiatePayment (fields: OrderFields & { return_url?: string, cancel_url?: string },
    options?: CallOptions): Promise<Order>
  confirm (fields: OrderFields & { provider_order_id: string }, options?: CallOptions): Promise<Order>
  cancel (fields: OrderFields & { reason?: string }, options?: CallOptions): Promise<Order>
  delete (fields: OrderFields, options?: CallOptions): Promise<Reply>
  get (fields: OrderFields & { history?: boolean }, options?: CallOptions): Promise<Reply>
  list (fields: { user_id: string, status?: Status, limit?: number, after?: string },
    options?: CallOptions): Promise<Reply>
  health (fields?: { detailed?: boolean }, options?: CallOptions): Promise<Reply>
  close (): void
}

export interface OrderEvent {
  topic: string
  order_id: string
  user_id: string
  seq: number
  from: Status | null
  to: Status
  at: number
  reason: string
}

export declare class Events {
  constructor (endpoint: string, prefix?: string)
  /** The next event, or null when none came within timeoutMs. */
  next (timeoutMs?: number): Promise<OrderEvent | null>
  close (): void
}

export declare function loadCurve (certPath: string, serverKey: string): Curve
export declare function nowMs (): number
export declare function isWrite (op: string): boolean
/** Throws OrderdError('bad_request') unless value is integer money. */
export declare function checkMoney (value: unknown, path: string): void
export declare const RETRYABLE: ReadonlySet<string>
export declare const WRITES: ReadonlySet<string>
