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
  fault?: Fault
}

// Fault is the delay, loss and bandwidth a full peer puts on its own link
// (libp2p layer, whole messages): `peerchain devnet delay|loss|bandwidth`.
export interface Fault {
  delayMs?: number
  jitterMs?: number
  loss?: number
  rateBits?: number
  text: string
  mode: string
}

export type FaultKind = 'delay' | 'loss' | 'bandwidth' | 'clear'

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
  type: 'head' | 'reorg' | 'down' | 'up' | 'partition' | 'heal' | 'fault'
  time: number
  peer?: string
  head?: HeadMove
  reorg?: Reorg
  groups?: string[][]
  fault?: string
}

export interface Handlers {
  state(s: DevnetState): void
  event(e: DevnetEvent): void
  connection(open: boolean): void
}

const eventTypes: DevnetEvent['type'][] = ['head', 'reorg', 'down', 'up', 'partition', 'heal', 'fault']

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
// fault sets one part of a peer's link fault, as the CLI does: args are
// ['200ms', '20ms'] for a delay, ['5%'] for a loss, ['1mbit'] for a
// bandwidth, [] for clear.
export const fault = (name: string, kind: FaultKind, args: string[]) => post('api/fault', { name, kind, args })
