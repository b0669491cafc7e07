// The one JSON-RPC client of the UI (STYLE.md 12). Every page reads the peer
// through it: rpc() over HTTP POST to the page's own origin, subscribe() over
// one shared WebSocket to the same origin, and the hooks below. Its exports
// are used by other pages (Network, Node, devnet): keep them stable.
import { useEffect, useRef, useState, useSyncExternalStore } from 'react'

/** A JSON-RPC error answer (or a transport failure, code 0). */
export class RpcError extends Error {
  readonly code: number
  readonly data?: unknown
  readonly method: string
  constructor(method: string, code: number, message: string, data?: unknown) {
    super(message)
    this.name = 'RpcError'
    this.method = method
    this.code = code
    this.data = data
  }
}

/** True when the peer does not serve the method (JSON-RPC -32601). */
export function isMethodNotFound(e: unknown): boolean {
  return e instanceof RpcError && (e.code === -32601 || /method .*(not found|does not exist|not available)/i.test(e.message))
}

/** The HTTP endpoint: the page's own origin. */
export const rpcURL = '/'

let nextId = 1

interface Answer {
  id?: number
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

function answerOf<T>(method: string, a: Answer): T {
  if (a.error) throw new RpcError(method, a.error.code, a.error.message, a.error.data)
  return a.result as T
}

async function post(body: unknown, label: string): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(rpcURL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
  } catch (e) {
    throw new RpcError(label, 0, `peer unreachable: ${(e as Error).message}`)
  }
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new RpcError(label, res.status, `HTTP ${res.status}: ${text.slice(0, 200)}`)
  }
  return parsed
}

/** Calls one JSON-RPC method on the peer that served the page. */
export async function rpc<T>(method: string, params: unknown[] = []): Promise<T> {
  const id = nextId++
  const a = (await post({ jsonrpc: '2.0', id, method, params }, method)) as Answer
  if (Array.isArray(a)) throw new RpcError(method, 0, 'unexpected batch answer')
  return answerOf<T>(method, a)
}

/** Calls several methods in one batch; each entry is its result or its RpcError. */
export async function rpcBatch(calls: [string, unknown[]?][]): Promise<(unknown | RpcError)[]> {
  if (calls.length === 0) return []
  const first = nextId
  nextId += calls.length
  const body = calls.map(([method, params], i) => ({ jsonrpc: '2.0', id: first + i, method, params: params ?? [] }))
  const out = await post(body, 'batch')
  if (!Array.isArray(out)) {
    const a = out as Answer
    const err = new RpcError('batch', a.error?.code ?? 0, a.error?.message ?? 'bad batch answer')
    return calls.map(() => err)
  }
  const byId = new Map<number, Answer>()
  for (const a of out as Answer[]) if (typeof a.id === 'number') byId.set(a.id, a)
  return calls.map(([method], i) => {
    const a = byId.get(first + i)
    if (!a) return new RpcError(method, 0, 'no answer in batch')
    try {
      return answerOf(method, a)
    } catch (e) {
      return e
    }
  })
}

// ---- WebSocket: one shared connection, subscriptions renewed on reconnect.

interface Sub {
  method: string // eth_subscribe, peerchain_subscribe, ...
  params: unknown[]
  onData: (x: any) => void
  serverId?: string
}

type WsState = 'connecting' | 'open' | 'closed'

class Socket {
  private ws?: WebSocket
  private subs = new Map<number, Sub>()
  private pending = new Map<number, (a: Answer) => void>()
  private byServerId = new Map<string, Sub>()
  private retry = 500
  private timer?: ReturnType<typeof setTimeout>
  state: WsState = 'closed'
  private listeners = new Set<() => void>()

  private setState(s: WsState) {
    this.state = s
    for (const l of this.listeners) l()
  }

  onState(l: () => void): () => void {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }

  private url(): string {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
    return `${proto}//${location.host}/`
  }

  private connect() {
    if (this.ws || this.subs.size === 0) return
    this.setState('connecting')
    let ws: WebSocket
    try {
      ws = new WebSocket(this.url())
    } catch {
      this.scheduleReconnect()
      return
    }
    this.ws = ws
    ws.onopen = () => {
      this.retry = 500
      this.setState('open')
      for (const [, sub] of this.subs) this.send(sub)
    }
    ws.onmessage = (ev) => this.receive(String(ev.data))
    ws.onclose = () => {
      this.ws = undefined
      this.pending.clear()
      this.byServerId.clear()
      for (const [, sub] of this.subs) sub.serverId = undefined
      this.setState('closed')
      this.scheduleReconnect()
    }
    ws.onerror = () => ws.close()
  }

  private scheduleReconnect() {
    if (this.timer || this.subs.size === 0) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.connect()
    }, this.retry)
    this.retry = Math.min(this.retry * 2, 10_000)
  }

  private request(method: string, params: unknown[], then: (a: Answer) => void) {
    const id = nextId++
    this.pending.set(id, then)
    this.ws?.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
  }

  private send(sub: Sub) {
    this.request(sub.method, sub.params, (a) => {
      if (typeof a.result !== 'string') return
      if (![...this.subs.values()].includes(sub)) {
        // Unsubscribed while the answer travelled.
        this.request(unsubscribeOf(sub.method), [a.result], () => {})
        return
      }
      sub.serverId = a.result
      this.byServerId.set(a.result, sub)
    })
  }

  private receive(text: string) {
    let msg: any
    try {
      msg = JSON.parse(text)
    } catch {
      return
    }
    if (typeof msg.id === 'number' && this.pending.has(msg.id)) {
      const then = this.pending.get(msg.id)!
      this.pending.delete(msg.id)
      then(msg)
      return
    }
    if (typeof msg.method === 'string' && msg.method.endsWith('_subscription') && msg.params) {
      const sub = this.byServerId.get(msg.params.subscription)
      if (sub) sub.onData(msg.params.result)
    }
  }

  add(sub: Sub): () => void {
    const key = nextId++
    this.subs.set(key, sub)
    if (this.ws && this.state === 'open') this.send(sub)
    else this.connect()
    return () => {
      this.subs.delete(key)
      if (sub.serverId && this.ws && this.state === 'open') {
        this.byServerId.delete(sub.serverId)
        this.request(unsubscribeOf(sub.method), [sub.serverId], () => {})
      }
      if (this.subs.size === 0 && this.ws) {
        const ws = this.ws
        this.ws = undefined
        ws.onclose = null
        ws.close()
        this.setState('closed')
      }
    }
  }
}

function unsubscribeOf(method: string): string {
  return method.replace(/_subscribe$/, '_unsubscribe')
}

const socket = new Socket()

/**
 * Subscribes over the shared WebSocket (eth_subscribe by default, e.g.
 * subscribe(['newHeads'], h => ...)). It is renewed after a reconnect.
 * Returns the function that ends it.
 */
export function subscribe(params: unknown[], onData: (x: any) => void, method = 'eth_subscribe'): () => void {
  return socket.add({ method, params, onData })
}

/** The shared WebSocket's state, for a live/polling indicator. */
export function useSocketState(): WsState {
  return useSyncExternalStore(
    (l) => socket.onState(l),
    () => socket.state,
  )
}

// ---- React hooks.

export interface Loaded<T> {
  data: T | undefined
  error: RpcError | Error | undefined
  loading: boolean
  reload: () => void
}

/**
 * Runs fn when deps change and every intervalMs (0: once), keeping the last
 * good data while a new answer is on its way.
 */
export function usePoll<T>(fn: () => Promise<T>, intervalMs: number, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<Error>()
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const fnRef = useRef(fn)
  fnRef.current = fn
  const key = JSON.stringify(deps, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const run = async () => {
      try {
        const v = await fnRef.current()
        if (!live) return
        setData(v)
        setError(undefined)
      } catch (e) {
        if (!live) return
        setError(e as Error)
      } finally {
        if (live) {
          setLoading(false)
          if (intervalMs > 0) timer = setTimeout(run, intervalMs)
        }
      }
    }
    setLoading(true)
    run()
    return () => {
      live = false
      if (timer) clearTimeout(timer)
    }
  }, [key, intervalMs, tick])
  return { data, error, loading, reload: () => setTick((t) => t + 1) }
}

/** Calls method(params) when they change, and every refreshMs if given. */
export function useRpc<T>(method: string, params: unknown[] = [], refreshMs = 0): Loaded<T> {
  return usePoll(() => rpc<T>(method, params), refreshMs, [method, params])
}

// ---- The head, shared by every page: newHeads over the WebSocket, polling
// eth_blockNumber as a fallback while the socket is down.

export interface HeadInfo {
  number: number
  hash?: string
  timestamp?: number
}

let head: HeadInfo | undefined
const headListeners = new Set<() => void>()
let headUsers = 0
let stopHead: (() => void) | undefined

function setHead(h: HeadInfo) {
  if (head && head.number === h.number && head.hash === h.hash) return
  head = h
  for (const l of headListeners) l()
}

function startHead() {
  const unsub = subscribe(['newHeads'], (h: any) => {
    setHead({ number: Number(h.number), hash: h.hash, timestamp: Number(h.timestamp) })
  })
  let live = true
  let timer: ReturnType<typeof setTimeout>
  const poll = async () => {
    if (!live) return
    if (socket.state !== 'open' || !head) {
      try {
        const b = await rpc<any>('eth_getBlockByNumber', ['latest', false])
        if (b) setHead({ number: Number(b.number), hash: b.hash, timestamp: Number(b.timestamp) })
      } catch {
        // Shown by the pages' own errors; try again.
      }
    }
    if (live) timer = setTimeout(poll, 2000)
  }
  poll()
  return () => {
    live = false
    clearTimeout(timer)
    unsub()
  }
}

/** The peer's head, live. Undefined until the first answer. */
export function useHead(): HeadInfo | undefined {
  useEffect(() => {
    if (headUsers++ === 0) stopHead = startHead()
    return () => {
      if (--headUsers === 0 && stopHead) {
        stopHead()
        stopHead = undefined
      }
    }
  }, [])
  return useSyncExternalStore(
    (l) => {
      headListeners.add(l)
      return () => headListeners.delete(l)
    },
    () => head,
  )
}
