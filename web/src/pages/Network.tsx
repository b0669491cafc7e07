// Network: this peer's peers, bans, when recent blocks reached it (a
// propagation histogram), and the fork tree with its reorgs. Every value
// comes from the peerchain_ network view; the page refetches it when
// peerchain_subscribe("network") reports an event, and every few seconds
// for the counters (bytes, ping).
import { useEffect, useRef, useState } from 'react'
import type { PageProps } from '.'
import { hexNum, short, si } from '../format'
import { isMethodNotFound, rpcBatch, subscribe, useSocketState } from '../rpc'
import './network.css'

interface PeerHead {
  hash: string
  number: string
  totalDifficulty: string
  provenTotalDifficulty?: string
}
interface Peer {
  id: string
  addrs: string[] | null
  direction: string
  connectedSince?: string
  latencyMs: number
  userAgent?: string
  head?: PeerHead
  protocol?: string
  syncVersion?: number
  light?: boolean
  bytesIn?: number
  bytesOut?: number
  rateIn?: number
  rateOut?: number
  mesh?: string[]
  // A light peer's sources: "provider" (a JSON-RPC URL) or "p2p" (a full
  // peer), strikes in a row, and while dropped the evidence and its end.
  kind?: string
  strikes?: number
  evidence?: string
  droppedUntil?: string
}
interface Ban {
  id: string
  reason: string
  until: string
  remainingSec: number
}
interface Propagation {
  blocks: number
  boundsMs: number[]
  counts: number[]
  p50Ms: number | null
  p95Ms: number | null
  minMs: number | null
  maxMs: number | null
}
interface Ref {
  number: string
  hash: string
}
interface Tip extends Ref {
  totalDifficulty: string | null
  fork: Ref | null
  length: number
}
interface Tips {
  head: Ref & { totalDifficulty: string }
  tips: Tip[]
}
interface Reorg {
  timeMs: number
  oldHead: Ref
  newHead: Ref
  ancestor: Ref
  depth: number
  added: number
}
interface Arrival {
  hash: string
  number: string
  timeMs: number
  delayMs: number
  via: string
  from?: string
}

interface View {
  peers: Peer[]
  bans: Ban[] | null // null: not served here (a provider)
  prop?: Propagation
  tips?: Tips
  reorgs: Reorg[]
  arrivals: Arrival[] | null
}

const methods: [string, unknown[]][] = [
  ['peerchain_peers', []],
  ['peerchain_bans', []],
  ['peerchain_propagation', []],
  ['peerchain_chainTips', []],
  ['peerchain_reorgs', []],
  ['peerchain_blockArrivals', [24]],
]

export function bytes(n: number | undefined): string {
  return si(n ?? 0, 'B')
}

function ms(x: number | null | undefined): string {
  if (x === null || x === undefined) return '–'
  return x >= 10_000 ? `${(x / 1000).toFixed(0)} s` : x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${x} ms`
}

export function dur(sec: number): string {
  const s = Math.max(0, Math.round(sec))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  if (s < 2 * 365 * 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`
  return `${Math.floor(s / (365 * 86400))} years`
}

// who names a peer or a source: a provider's URL whole, a peer id short.
function who(id: string, n = 8): string {
  return id.includes('://') ? id : short(id, n)
}

function since(iso: string | undefined, now: number): string {
  if (!iso) return '–'
  return dur((now - Date.parse(iso)) / 1000)
}

export default function Network(_: PageProps) {
  const [view, setView] = useState<View>()
  const [err, setErr] = useState('')
  const [now, setNow] = useState(Date.now())
  const [events, setEvents] = useState(0)
  const ws = useSocketState()
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const [tick, setTick] = useState(0)

  // Events (arrival, reorg, tip, peer) ask for a refetch, at most ~4 a second.
  useEffect(() => {
    const stop = subscribe(
      ['network'],
      () => {
        setEvents((n) => n + 1)
        if (!pending.current)
          pending.current = setTimeout(() => {
            pending.current = undefined
            setTick((t) => t + 1)
          }, 250)
      },
      'peerchain_subscribe',
    )
    const t = setInterval(() => {
      setNow(Date.now())
      setTick((x) => x + 1)
    }, 3000)
    return () => {
      stop()
      clearInterval(t)
      if (pending.current) clearTimeout(pending.current)
    }
  }, [])

  useEffect(() => {
    let live = true
    rpcBatch(methods).then(
      (res) => {
        if (!live) return
        const [peers, bans, prop, tips, reorgs, arrivals] = res
        const firstErr = res.find((r) => r instanceof Error && !isMethodNotFound(r)) as Error | undefined
        setErr(firstErr ? firstErr.message : '')
        const ok = <T,>(r: unknown, fallback: T): T => (r instanceof Error ? fallback : ((r as T) ?? fallback))
        setView({
          peers: ok<Peer[]>(peers, []),
          bans: bans instanceof Error ? null : ok<Ban[]>(bans, []),
          prop: ok<Propagation | undefined>(prop, undefined),
          tips: ok<Tips | undefined>(tips, undefined),
          reorgs: ok<Reorg[]>(reorgs, []),
          arrivals: arrivals instanceof Error ? null : ok<Arrival[]>(arrivals, []),
        })
      },
      (e) => live && setErr((e as Error).message),
    )
    return () => {
      live = false
    }
  }, [tick])

  // A light peer lists its sources (each has a kind) in place of peers.
  const light = !!view?.peers.some((p) => p.kind)
  return (
    <section data-test="page-network">
      <div className="row between">
        <h1>Network</h1>
        <p className="muted" data-test="network-live">
          <span className={ws === 'open' ? 'dot live' : 'dot'} />
          {ws === 'open' ? `live (${events} events)` : 'polling'}
        </p>
      </div>
      {err && (
        <p className="note bad" role="alert">
          {err}
        </p>
      )}
      {!view ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          {light ? <Sources sources={view.peers} now={now} /> : <Peers peers={view.peers} now={now} />}
          <div className="grid2 net-grid">
            <Histogram prop={view.prop} light={light} />
            <ForkTree tips={view.tips} reorgs={view.reorgs} />
          </div>
          <div className="grid2 net-grid">
            <Arrivals arrivals={view.arrivals} light={light} />
            <Bans bans={view.bans} now={now} light={light} />
          </div>
        </>
      )}
    </section>
  )
}

function Peers({ peers, now }: { peers: Peer[]; now: number }) {
  return (
    <div className="card">
      <h2 id="peers-h">
        Peers <span className="muted" data-test="peer-count">({peers.length})</span>
      </h2>
      {peers.length === 0 ? (
        <p className="muted" data-test="no-peers">
          No peers connected.
        </p>
      ) : (
        <div className="scroll">
          <table data-test="peers-table" aria-labelledby="peers-h" className="net-table">
            <thead>
              <tr>
                <th scope="col">Peer</th>
                <th scope="col">Address</th>
                <th scope="col">Direction</th>
                <th scope="col">Version</th>
                <th scope="col">Head</th>
                <th scope="col">Total difficulty (claimed / proven)</th>
                <th scope="col">Ping</th>
                <th scope="col">In</th>
                <th scope="col">Out</th>
                <th scope="col">Mesh</th>
                <th scope="col">Connected</th>
              </tr>
            </thead>
            <tbody>
              {peers.map((p) => (
                <tr key={p.id} data-test="peer-row" data-peer={p.id}>
                  <td className="mono" title={p.id} data-test="peer-id">
                    {short(p.id, 8)}
                    {p.light && <span className="badge warn">light</span>}
                  </td>
                  <td className="mono small" data-test="peer-addr">
                    {(p.addrs ?? []).join(' ') || '–'}
                  </td>
                  <td data-test="peer-direction">{p.direction}</td>
                  <td className="small" data-test="peer-version">
                    {p.syncVersion ? `sync/${p.syncVersion}` : ''} {p.userAgent ?? ''} {p.protocol ?? ''}
                  </td>
                  <td data-test="peer-head">
                    {p.head ? <a href={`#/block/${p.head.hash}`}>#{hexNum(p.head.number)}</a> : '–'}
                  </td>
                  <td className="small" data-test="peer-td">
                    {p.head ? `${BigInt(p.head.totalDifficulty)} / ${p.head.provenTotalDifficulty ? BigInt(p.head.provenTotalDifficulty) : '–'}` : '–'}
                  </td>
                  <td data-test="peer-ping">{p.latencyMs > 0 ? `${p.latencyMs.toFixed(1)} ms` : '–'}</td>
                  <td data-test="peer-bytes-in" data-value={p.bytesIn ?? 0} title={`${(p.rateIn ?? 0).toFixed(0)} B/s`}>
                    {bytes(p.bytesIn)}
                  </td>
                  <td data-test="peer-bytes-out" data-value={p.bytesOut ?? 0} title={`${(p.rateOut ?? 0).toFixed(0)} B/s`}>
                    {bytes(p.bytesOut)}
                  </td>
                  <td className="small" data-test="peer-mesh">
                    {(p.mesh ?? []).join(', ') || '–'}
                  </td>
                  <td data-test="peer-since" title={p.connectedSince}>
                    {since(p.connectedSince, now)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}

// Sources is a light peer's list of the places it asks: providers and full
// peers over P2P, with what each claims, what its headers proved, its
// strikes, and the evidence against a dropped one.
function Sources({ sources, now }: { sources: Peer[]; now: number }) {
  return (
    <div className="card">
      <h2 id="peers-h">
        Sources <span className="muted" data-test="peer-count">({sources.length})</span>
      </h2>
      <p className="small muted">
        This light peer keeps only headers and checks every answer against them; a source caught lying is dropped.
      </p>
      <div className="scroll" tabIndex={0} role="region" aria-labelledby="peers-h">
        <table data-test="sources-table" aria-labelledby="peers-h" className="net-table">
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Kind</th>
              <th scope="col">State</th>
              <th scope="col">Head</th>
              <th scope="col">Total difficulty (claimed / proven)</th>
              <th scope="col">Latency</th>
              <th scope="col">In</th>
              <th scope="col">Out</th>
            </tr>
          </thead>
          <tbody>
            {sources.map((p) => (
              <tr key={p.id} data-test="source-row" data-source={p.id} data-kind={p.kind} data-dropped={p.evidence ? 'yes' : 'no'}>
                <td className="mono" title={p.id} data-test="source-id">
                  {who(p.id)}
                </td>
                <td data-test="source-kind">{p.kind}</td>
                <td className="small evidence" data-test="source-state">
                  {p.evidence ? (
                    <>
                      <span className="badge bad">dropped</span>{' '}
                      <span data-test="source-evidence">{p.evidence}</span>{' '}
                      <span className="muted" title={p.droppedUntil}>
                        (for {dur((Date.parse(p.droppedUntil ?? '') - now) / 1000)} more)
                      </span>
                    </>
                  ) : p.strikes ? (
                    <span className="badge warn">{p.strikes} strikes</span>
                  ) : (
                    <span className="badge ok">in use</span>
                  )}
                </td>
                <td data-test="source-head">
                  {p.head ? <a href={`#/block/${p.head.hash}`}>#{hexNum(p.head.number)}</a> : '–'}
                </td>
                <td className="small" data-test="source-td">
                  {p.head ? `${BigInt(p.head.totalDifficulty)} / ${p.head.provenTotalDifficulty ? BigInt(p.head.provenTotalDifficulty) : '–'}` : '–'}
                </td>
                <td data-test="source-latency">{p.latencyMs > 0 ? `${p.latencyMs.toFixed(1)} ms` : '–'}</td>
                <td data-test="peer-bytes-in" data-value={p.bytesIn ?? 0}>
                  {bytes(p.bytesIn)}
                </td>
                <td data-test="peer-bytes-out" data-value={p.bytesOut ?? 0}>
                  {bytes(p.bytesOut)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}

function Histogram({ prop, light }: { prop?: Propagation; light: boolean }) {
  const counts = prop?.counts ?? []
  const bounds = prop?.boundsMs ?? []
  const max = Math.max(1, ...counts)
  const W = 360
  const H = 150
  const pad = 40
  const bw = counts.length ? (W - pad) / counts.length : 0
  const label = (i: number) => (i < bounds.length ? `<${ms(bounds[i])}` : `≥${ms(bounds[bounds.length - 1])}`)
  return (
    <div className="card" data-test="propagation">
      <h2>Block propagation</h2>
      <p className="small">
        <span data-test="propagation-blocks" data-value={prop?.blocks ?? 0}>
          {prop?.blocks ?? 0}
        </span>{' '}
        {light ? 'headers at the head' : 'gossiped blocks'} · p50 <strong data-test="propagation-p50">{ms(prop?.p50Ms)}</strong> · p95{' '}
        <strong data-test="propagation-p95">{ms(prop?.p95Ms)}</strong>
        <span className="muted"> (arrival minus block timestamp; timestamps have 1 s resolution)</span>
      </p>
      <div className="chart">
        <svg
          viewBox={`0 0 ${W} ${H + 30}`}
          role="img"
          aria-label={`Histogram of block arrival delays: ${counts.map((c, i) => `${label(i)}: ${c}`).join(', ')}`}
          data-test="propagation-histogram"
        >
          <line x1={pad} y1={H} x2={W} y2={H} className="axis" />
          {counts.map((c, i) => {
            const h = (c / max) * (H - 16)
            return (
              <g key={i} data-test="histogram-bar" data-count={c}>
                <rect x={pad + i * bw + 2} y={H - h} width={Math.max(1, bw - 4)} height={h} className="bar" />
                {c > 0 && (
                  <text x={pad + i * bw + bw / 2} y={H - h - 3} textAnchor="middle" className="bar-label">
                    {c}
                  </text>
                )}
                <text
                  x={pad + i * bw + bw / 2}
                  y={H + 12}
                  textAnchor="end"
                  transform={`rotate(-35 ${pad + i * bw + bw / 2} ${H + 12})`}
                  className="tick"
                >
                  {label(i)}
                </text>
              </g>
            )
          })}
        </svg>
      </div>
    </div>
  )
}

function ForkTree({ tips, reorgs }: { tips?: Tips; reorgs: Reorg[] }) {
  const head = tips ? hexNum(tips.head.number) : 0
  const side = tips?.tips ?? []
  const forks = side.map((t) => (t.fork ? hexNum(t.fork.number) : hexNum(t.number) - 1))
  const lo = Math.max(0, Math.min(head - 8, ...forks) - 1)
  const hi = Math.max(head, ...side.map((t) => hexNum(t.number)))
  const W = 360
  const rowH = 22
  const H = rowH * (side.length + 1) + 16
  const x = (n: number) => 12 + ((n - lo) / Math.max(1, hi - lo)) * (W - 60)
  return (
    <div className="card" data-test="fork-tree">
      <h2>Chain tips and reorgs</h2>
      <div className="chart">
        <svg
          viewBox={`0 0 ${W} ${H}`}
          role="img"
          aria-label={`Fork tree: canonical head ${head}${side.length ? `, side tips ${side.map((t) => hexNum(t.number)).join(', ')}` : ', no side tips'}`}
          data-test="fork-svg"
        >
          <line x1={x(lo)} y1={14} x2={x(head)} y2={14} className="canon" />
          <circle cx={x(head)} cy={14} r={5} className="canon-dot" />
          <text x={x(head) + 8} y={18} className="tick">
            #{head}
          </text>
          {side.map((t, i) => {
            const f = forks[i]
            const y = 14 + rowH * (i + 1)
            return (
              <g key={t.hash}>
                <polyline points={`${x(f)},14 ${x(f + 1)},${y} ${x(hexNum(t.number))},${y}`} className="side" />
                <circle cx={x(hexNum(t.number))} cy={y} r={4} className="side-dot" />
                <text x={x(hexNum(t.number)) + 8} y={y + 4} className="tick">
                  #{hexNum(t.number)}
                </text>
              </g>
            )
          })}
        </svg>
      </div>
      <div className="scroll">
        <table data-test="tips-table">
          <caption className="small muted">Side tips, heaviest first</caption>
          <thead>
            <tr>
              <th scope="col">Tip</th>
              <th scope="col">Fork at</th>
              <th scope="col">Length</th>
              <th scope="col">Total difficulty</th>
            </tr>
          </thead>
          <tbody>
            {side.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  None: every known block is on the canonical chain.
                </td>
              </tr>
            )}
            {side.map((t) => (
              <tr key={t.hash} data-test="tip-row">
                <td className="mono" title={t.hash}>
                  #{hexNum(t.number)} {short(t.hash, 4)}
                </td>
                <td>{t.fork ? `#${hexNum(t.fork.number)}` : '?'}</td>
                <td data-test="tip-length">{t.length || '?'}</td>
                <td>{t.totalDifficulty ? BigInt(t.totalDifficulty).toString() : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table data-test="reorgs-table">
          <caption className="small muted">Reorgs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Depth</th>
              <th scope="col">Added</th>
              <th scope="col">Old head → new head</th>
              <th scope="col">Common ancestor</th>
            </tr>
          </thead>
          <tbody>
            {reorgs.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No reorg since this peer started.
                </td>
              </tr>
            )}
            {reorgs.map((r) => (
              <tr key={`${r.timeMs}-${r.newHead.hash}`} data-test="reorg-row">
                <td>{new Date(r.timeMs).toLocaleTimeString()}</td>
                <td data-test="reorg-depth">{r.depth}</td>
                <td>{r.added}</td>
                <td className="mono">
                  #{hexNum(r.oldHead.number)} {short(r.oldHead.hash, 3)} → #{hexNum(r.newHead.number)} {short(r.newHead.hash, 3)}
                </td>
                <td className="mono">#{hexNum(r.ancestor.number)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}

function Arrivals({ arrivals, light }: { arrivals: Arrival[] | null; light: boolean }) {
  return (
    <div className="card">
      <h2 id="arrivals-h">{light ? 'Recent header arrivals (verified)' : 'Recent block arrivals'}</h2>
      {arrivals === null ? (
        <p className="muted">This peer does not show where its blocks came from.</p>
      ) : (
        <div className="scroll">
          <table data-test="arrivals-table" aria-labelledby="arrivals-h">
            <thead>
              <tr>
                <th scope="col">Block</th>
                <th scope="col">Arrived</th>
                <th scope="col">Delay</th>
                <th scope="col">Via</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {arrivals.map((a) => (
                <tr key={a.hash} data-test="arrival-row">
                  <td>
                    <a href={`#/block/${a.hash}`}>#{hexNum(a.number)}</a>
                  </td>
                  <td>{new Date(a.timeMs).toLocaleTimeString()}</td>
                  <td>{ms(a.delayMs)}</td>
                  <td data-test="arrival-via">{a.via}</td>
                  <td className="mono" title={a.from} data-test="arrival-from">
                    {a.from ? who(a.from, 6) : 'this peer'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}

function Bans({ bans, now, light }: { bans: Ban[] | null; now: number; light: boolean }) {
  return (
    <div className="card">
      <h2 id="bans-h">{light ? 'Dropped sources' : 'Banned peers'}</h2>
      {bans === null ? (
        <p className="muted">This peer does not publish its ban list.</p>
      ) : bans.length === 0 ? (
        <p className="muted" data-test="no-bans">
          {light ? 'No source is dropped.' : 'Nobody is banned.'}
        </p>
      ) : (
        <div className="scroll" tabIndex={0} role="region" aria-labelledby="bans-h">
          <table data-test="bans-table" aria-labelledby="bans-h">
            <thead>
              <tr>
                <th scope="col">{light ? 'Source' : 'Peer'}</th>
                <th scope="col">{light ? 'Evidence' : 'Reason'}</th>
                <th scope="col">Ends</th>
              </tr>
            </thead>
            <tbody>
              {bans.map((b) => (
                <tr key={b.id} data-test="ban-row" data-peer={b.id}>
                  <td className="mono nowrap" title={b.id}>
                    {who(b.id)}
                  </td>
                  <td className="evidence" data-test="ban-reason">
                    {b.reason}
                  </td>
                  <td title={b.until}>in {dur((Date.parse(b.until) - now) / 1000)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
