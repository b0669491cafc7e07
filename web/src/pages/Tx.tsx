// A transaction: status, value, fee, decoded logs, and from ots_ (when the
// peer serves it) internal operations, call trace and revert reason.
import type { PageProps } from '.'
import { decodeLog, decodeRevert, findContract, formatArgs, iface } from '../contracts'
import { eth, gwei, hexNum, short } from '../format'
import { isMethodNotFound, rpc, useHead, usePoll } from '../rpc'

const OPS = ['transfer', 'self-destruct', 'create', 'create2']

function Ots<T>({ method, hash, enabled, render }: { method: string; hash: string; enabled: boolean; render: (x: T) => React.ReactNode }) {
  const { data, error } = usePoll<T>(() => rpc<T>(method, [hash]), 0, [method, hash, enabled])
  if (!enabled) return null
  if (error) return <p className="muted" data-test={`ots-missing`}>{isMethodNotFound(error) ? `This peer does not serve ${method} (a light peer?): shown is what eth_ gives.` : error.message}</p>
  if (data === undefined) return <p className="muted">Loading…</p>
  return <>{render(data)}</>
}

export default function Tx({ params }: PageProps) {
  const hash = params.hash
  const head = useHead()
  const { data, error } = usePoll<[any, any]>(
    () => Promise.all([rpc<any>('eth_getTransactionByHash', [hash]), rpc<any>('eth_getTransactionReceipt', [hash])]),
    0,
    [hash, head?.number],
  )
  const [tx, r] = data ?? [undefined, undefined]
  const status = !tx ? 'unknown' : !r ? 'pending' : r.status === '0x1' ? 'success' : 'failed'
  const contract = findContract(tx?.to)
  let input: string | undefined
  if (contract && tx?.input && tx.input !== '0x') {
    try {
      const d = iface(contract.abi)?.parseTransaction({ data: tx.input, value: tx.value })
      if (d) input = `${d.name}(${formatArgs(d.args)})`
    } catch {
      // not decodable
    }
  }
  return (
    <section data-test="page-tx">
      <h1>Transaction</h1>
      <p className="mono" data-test="tx-hash">{hash}</p>
      {error && <p className="note bad">{error.message}</p>}
      {data && !tx && <p className="note warn" data-test="tx-unknown">This peer does not know this transaction (yet).</p>}
      {tx && (
        <div className="card">
          <dl className="kv">
            <dt>Status</dt>
            <dd>
              <span className={`badge ${status === 'success' ? 'ok' : status === 'pending' ? 'warn' : 'bad'}`} data-test="tx-status" data-status={status}>{status}</span>
              {r && head && <span className="muted"> · {head.number - hexNum(r.blockNumber) + 1} confirmations</span>}
            </dd>
            <dt>Block</dt><dd>{r ? <a href={`#/block/${hexNum(r.blockNumber)}`} data-test="tx-block">#{hexNum(r.blockNumber)}</a> : 'not yet mined'}</dd>
            <dt>From</dt><dd className="mono"><a href={`#/address/${tx.from}`}>{tx.from}</a> (nonce {hexNum(tx.nonce)})</dd>
            <dt>To</dt>
            <dd className="mono">
              {tx.to ? <a href={`#/address/${tx.to}`}>{tx.to}</a> : r?.contractAddress ? <>created <a href={`#/address/${r.contractAddress}`}>{r.contractAddress}</a></> : 'contract creation'}
              {contract && <> (<a href={`#/contracts/${contract.address}`}>{contract.name}</a>)</>}
            </dd>
            <dt>Value</dt><dd data-test="tx-value">{eth(tx.value, 18)}</dd>
            {r && (<><dt>Fee</dt><dd>{eth(BigInt(r.gasUsed) * BigInt(r.effectiveGasPrice), 18)} ({hexNum(r.gasUsed).toLocaleString('en')} gas × {gwei(r.effectiveGasPrice)})</dd></>)}
            <dt>Gas limit</dt><dd>{hexNum(tx.gas).toLocaleString('en')}</dd>
            {tx.maxFeePerGas && (<><dt>Max fee / tip</dt><dd>{gwei(tx.maxFeePerGas)} / {gwei(tx.maxPriorityFeePerGas)}</dd></>)}
            <dt>Input</dt><dd className="mono">{input ?? (tx.input.length > 138 ? tx.input.slice(0, 138) + '…' : tx.input)}</dd>
          </dl>
        </div>
      )}
      {status === 'failed' && (
        <div className="card">
          <h2>Revert reason</h2>
          <Ots<string> method="ots_getTransactionError" hash={hash} enabled render={(d) => <p className="note bad" data-test="tx-revert">{decodeRevert(d, contract?.abi)}</p>} />
        </div>
      )}
      {r && (
        <div className="card">
          <h2>Logs ({r.logs.length})</h2>
          <ol data-test="tx-logs">
            {r.logs.map((l: any) => {
              const d = decodeLog(l)
              return (
                <li key={l.logIndex}>
                  <span className="mono">{short(l.address)}</span>{' '}
                  {d ? <code>{d.name}({d.fragment.inputs.map((p, k) => `${p.name}=${formatArgs([d.args[k]])}`).join(', ')})</code> : <span className="mono">{l.topics[0]?.slice(0, 18)}… (no known ABI)</span>}
                </li>
              )
            })}
          </ol>
        </div>
      )}
      {r && (
        <div className="grid2">
          <div className="card">
            <h2>Internal operations</h2>
            <Ots<any[]> method="ots_getInternalOperations" hash={hash} enabled render={(ops) => (ops.length ? (
              <ul data-test="tx-internal">{ops.map((o, k) => <li key={k}>{OPS[o.type] ?? o.type}: <span className="mono">{short(o.from)} → {short(o.to)}</span> {eth(o.value, 6)}</li>)}</ul>
            ) : <p className="muted" data-test="tx-internal-none">None.</p>)} />
          </div>
          <div className="card">
            <h2>Call trace</h2>
            <Ots<any[]> method="ots_traceTransaction" hash={hash} enabled render={(t) => (
              <ul data-test="tx-trace" className="mono">{t.map((c, k) => <li key={k} style={{ marginLeft: `${(c.depth ?? 0)}rem` }}>{c.type} {short(c.from, 4)} → {short(c.to, 4)} {c.value && c.value !== '0x0' ? eth(c.value, 4) : ''}</li>)}</ul>
            )} />
          </div>
        </div>
      )}
    </section>
  )
}
