// The devnet supervisor's API (internal/devnet/webserver.go): the state,
// its pushed events, and the commands. The only module that talks to the
// supervisor.

export type Hash = string

export interface PeerView {
  name: string
  kind: 'full' | 'provider' | 'light' | 'liar'
  alive: boolean
  pid: number
  rpc: string
  peerId?: string
  miner: boolean
  coinbase?: string
  head: number
  headHash: Hash
  connected: string[]
  peerCount: number
  group: number
  error?: string
  fronts?: string
}

export interface BlockNode {
  hash: Hash
  number: number
  parent: Hash
  miner: string
  firstSeen: number
  firstPeer: string
  arrivals: Record<string, number>
}

export interface Reorg {
  peer: string
  at: number
  depth: number
  from: Hash
  fromNumber: number
  to: Hash
  toNumber: number
  ancestor: number
}

export interface DevnetState {
  seq: number
  time: number
  peers: PeerView[]
  partition: string[][] | null
  blocks: BlockNode[]
  reorgs: Reorg[]
}

export interface HeadMove {
  peer: string
  number: number
  hash: Hash
  from: string
  delayMs: number
}

export interface DevnetEvent {
  type: 'head' | 'reorg' | 'down' | 'up' | 'partition' | 'heal'
  time: number
  peer?: string
  head?: HeadMove
  reorg?: Reorg
  groups?: string[][]
}

export interface Handlers {
  state(s: DevnetState): void
  event(e: DevnetEvent): void
  connection(open: boolean): void
}

const eventTypes: DevnetEvent['type'][] = ['head', 'reorg', 'down', 'up', 'partition', 'heal']

// subscribe follows /api/events; EventSource reconnects by itself, and the
// first message of every connection is the whole state.
export function subscribe(h: Handlers): () => void {
  const es = new EventSource('api/events')
  es.onopen = () => h.connection(true)
  es.onerror = () => h.connection(false)
  es.addEventListener('state', (m) => h.state(JSON.parse((m as MessageEvent<string>).data) as DevnetState))
  for (const t of eventTypes) {
    es.addEventListener(t, (m) => h.event(JSON.parse((m as MessageEvent<string>).data) as DevnetEvent))
  }
  return () => es.close()
}

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error((await res.text()).trim() || `${path}: HTTP ${res.status}`)
}

export const kill = (name: string) => post('api/kill', { name })
export const restart = (name: string) => post('api/restart', { name })
export const partition = (groups: string[][]) => post('api/partition', { groups })
export const heal = () => post('api/heal', {})
