// Node: this peer's version, uptime, sync progress with an honest ETA (from
// the import rate of the last half minute; "unknown" when there is none),
// pool contents, disk use and mining, from peerchain_nodeStatus.
import type { PageProps } from '.'
import { eth, gwei, hexNum, short } from '../format'
import { useRpc } from '../rpc'
import { bytes, dur } from './Network'
import './network.css'

interface Ref {
  number: string
  hash: string
}
interface Status {
  client: string
  version: string
  light?: boolean // a light peer: sources for peers, headers for blocks, its sent transactions for a pool
  startedAt: string
  uptimeSec: number
  peers: number
  head: Ref & { ageSec: number }
  sync: {
    syncing: boolean
    starting: number
    current: number
    highest: number
    blocksPerSec: number | null
    etaSec: number | null
    windowSec: number
  }
  pool: {
    pending: number
    queued: number
    senders: { address: string; pending: number; queued: number }[]
    top: { hash: string; from: string; to: string | null; nonce: string; tip: string; value: string; queued: boolean }[]
  }
  disk: { bytes: number; measuredAt: string; parts: Record<string, number> }
  mining: { enabled: boolean; hashrate: number; coinbase?: string }
}

export default function Node(_: PageProps) {
  const { data: st, error } = useRpc<Status>('peerchain_nodeStatus', [], 2000)
  return (
    <section data-test="page-node">
      <h1>Node</h1>
      {error && (
        <p className="note bad" role="alert">
          {error.message}
        </p>
      )}
      {!st ? (
        !error && <p className="muted">Loading…</p>
      ) : (
        <>
          <dl className="kv-grid card-grid" aria-label="Node summary">
            <div>
              <dt>Version</dt>
              <dd data-test="node-version">{st.client}</dd>
            </div>
            <div>
              <dt>Uptime</dt>
              <dd data-test="node-uptime" data-value={Math.round(st.uptimeSec)} title={`since ${st.startedAt}`}>
                {dur(st.uptimeSec)}
              </dd>
            </div>
            <div>
              <dt>Head</dt>
              <dd data-test="node-head">
                <a href={`#/block/${st.head.hash}`}>#{hexNum(st.head.number)}</a>{' '}
                <span className="muted small">{dur(st.head.ageSec)} old</span>
              </dd>
            </div>
            <div>
              <dt>{st.light ? 'Sources in use' : 'Peers'}</dt>
              <dd data-test="node-peers">{st.peers}</dd>
            </div>
            <div>
              <dt>Disk use</dt>
              <dd data-test="node-disk" data-value={st.disk.bytes} title={`measured ${st.disk.measuredAt}`}>
                {bytes(st.disk.bytes)}
              </dd>
            </div>
            <div>
              <dt>{st.light ? 'Kind' : 'Mining'}</dt>
              <dd data-test="node-mining">
                {st.light ? 'light peer' : st.mining.enabled ? `${Math.round(st.mining.hashrate)} H/s` : 'off'}
              </dd>
            </div>
          </dl>
          <Sync s={st.sync} light={!!st.light} />
          <div className="grid2 net-grid">
            <Pool p={st.pool} light={!!st.light} />
            <div className="card">
              <h2 id="disk-h">Disk</h2>
              <table data-test="disk-table" aria-labelledby="disk-h">
                <thead>
                  <tr>
                    <th scope="col">Part of the data dir</th>
                    <th scope="col">Size</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(st.disk.parts ?? {})
                    .sort((a, b) => b[1] - a[1])
                    .map(([k, v]) => (
                      <tr key={k}>
                        <td className="mono">{k}</td>
                        <td>{bytes(v)}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
              {st.mining.coinbase && (
                <p className="small">
                  Mining to <a href={`#/address/${st.mining.coinbase}`} className="mono">{short(st.mining.coinbase)}</a>
                </p>
              )}
            </div>
          </div>
        </>
      )}
    </section>
  )
}

function Sync({ s, light }: { s: Status['sync']; light: boolean }) {
  const what = light ? 'header' : 'block'
  const span = Math.max(1, s.highest - s.starting)
  const done = s.syncing ? Math.min(1, (s.current - s.starting) / span) : 1
  return (
    <div className="card" data-test="sync">
      <h2>{light ? 'Header sync' : 'Sync'}</h2>
      <label htmlFor="sync-progress" data-test="sync-state">
        {s.syncing ? `Syncing: ${what} ${s.current} of ${s.highest}` : `In sync at ${what} ${s.current}`}
      </label>
      <progress id="sync-progress" className="progress" max={1} value={done} data-test="sync-progress" data-value={done.toFixed(3)} />
      <p className="small">
        Import rate{' '}
        <span data-test="sync-rate">{s.blocksPerSec === null ? 'unknown' : `${s.blocksPerSec.toFixed(2)} ${what}s/s`}</span>
        <span className="muted"> (last {Math.round(s.windowSec)} s)</span> · ETA{' '}
        <strong data-test="sync-eta">{!s.syncing ? '–' : s.etaSec === null ? 'unknown' : dur(s.etaSec)}</strong>
      </p>
    </div>
  )
}

function Pool({ p, light }: { p: Status['pool']; light: boolean }) {
  return (
    <div className="card">
      <h2 id="pool-h">
        {light ? (
          <>
            Sent by this peer: <span data-test="pool-pending">{p.pending}</span> not known mined
          </>
        ) : (
          <>
            Pool: <span data-test="pool-pending">{p.pending}</span> pending, <span data-test="pool-queued">{p.queued}</span> queued
          </>
        )}
      </h2>
      <div className="scroll">
        <table data-test="pool-senders" aria-labelledby="pool-h">
          <caption className="small muted">Senders with the most transactions</caption>
          <thead>
            <tr>
              <th scope="col">Sender</th>
              <th scope="col">Pending</th>
              <th scope="col">Queued</th>
            </tr>
          </thead>
          <tbody>
            {p.senders.length === 0 && (
              <tr>
                <td colSpan={3} className="muted">
                  {light ? 'Nothing sent lately.' : 'The pool is empty.'}
                </td>
              </tr>
            )}
            {p.senders.map((s) => (
              <tr key={s.address} data-test="pool-sender-row">
                <td className="mono">
                  <a href={`#/address/${s.address}`}>{short(s.address)}</a>
                </td>
                <td>{s.pending}</td>
                <td>{s.queued}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table data-test="pool-top">
          <caption className="small muted">{light ? 'Sent, highest tips first' : 'Highest tips'}</caption>
          <thead>
            <tr>
              <th scope="col">Transaction</th>
              <th scope="col">From</th>
              <th scope="col">Nonce</th>
              <th scope="col">Tip</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {p.top.map((t) => (
              <tr key={t.hash} data-test="pool-tx-row">
                <td className="mono">
                  <a href={`#/tx/${t.hash}`}>{short(t.hash, 4)}</a> {t.queued && <span className="badge warn">queued</span>}
                </td>
                <td className="mono">{short(t.from, 4)}</td>
                <td>{hexNum(t.nonce)}</td>
                <td>{gwei(t.tip)}</td>
                <td>{eth(t.value, 4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}
