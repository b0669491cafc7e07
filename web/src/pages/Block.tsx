// A block: its header fields and transactions.
import type { PageProps } from '.'
import { ago, eth, gwei, hexNum, short, si } from '../format'
import { rpc, usePoll } from '../rpc'

export default function Block({ params }: PageProps) {
  const id = params.id
  const byHash = /^0x[0-9a-fA-F]{64}$/.test(id)
  const { data: b, error, loading } = usePoll<any>(
    () => (byHash ? rpc('eth_getBlockByHash', [id, true]) : rpc('eth_getBlockByNumber', ['0x' + BigInt(id).toString(16), true])),
    0,
    [id],
  )
  const n = b ? hexNum(b.number) : byHash ? undefined : Number(id)
  return (
    <section data-test="page-block">
      <h1>Block {n !== undefined ? `#${n}` : short(id)}</h1>
      {error && <p className="note bad">{error.message}</p>}
      {!loading && !b && !error && <p className="note warn" data-test="block-missing">This peer has no such block (yet).</p>}
      {b && (
        <>
          <p className="row">
            {n! > 0 && <a href={`#/block/${n! - 1}`} data-test="block-prev">← #{n! - 1}</a>}
            <a href={`#/block/${n! + 1}`} data-test="block-next">#{n! + 1} →</a>
          </p>
          <div className="card">
            <dl className="kv" data-test="block-fields">
              <dt>Hash</dt><dd className="mono">{b.hash}</dd>
              <dt>Parent</dt><dd className="mono"><a href={`#/block/${b.parentHash}`}>{b.parentHash}</a></dd>
              <dt>Time</dt><dd>{new Date(hexNum(b.timestamp) * 1000).toISOString()} ({ago(hexNum(b.timestamp))})</dd>
              <dt>Miner</dt><dd className="mono"><a href={`#/address/${b.miner}`}>{b.miner}</a></dd>
              <dt>Difficulty</dt><dd>{si(hexNum(b.difficulty))} ({BigInt(b.difficulty).toString()})</dd>
              {b.totalDifficulty && (<><dt>Total difficulty</dt><dd>{BigInt(b.totalDifficulty).toString()}</dd></>)}
              <dt>Gas used / limit</dt><dd>{hexNum(b.gasUsed).toLocaleString('en')} / {hexNum(b.gasLimit).toLocaleString('en')}</dd>
              {b.baseFeePerGas && (<><dt>Base fee</dt><dd>{gwei(b.baseFeePerGas)}</dd></>)}
              <dt>Nonce</dt><dd className="mono">{b.nonce}</dd>
              <dt>State root</dt><dd className="mono">{b.stateRoot}</dd>
              <dt>Size</dt><dd>{hexNum(b.size).toLocaleString('en')} bytes</dd>
            </dl>
          </div>
          <div className="card">
            <h2>Transactions ({b.transactions.length})</h2>
            <div className="scroll">
              <table data-test="block-txs">
                <thead><tr><th>Hash</th><th>From</th><th>To</th><th>Value</th></tr></thead>
                <tbody>
                  {b.transactions.map((t: any) => (
                    <tr key={t.hash}>
                      <td><a className="mono" href={`#/tx/${t.hash}`}>{short(t.hash)}</a></td>
                      <td><a className="mono" href={`#/address/${t.from}`}>{short(t.from, 4)}</a></td>
                      <td>{t.to ? <a className="mono" href={`#/address/${t.to}`}>{short(t.to, 4)}</a> : 'create'}</td>
                      <td>{eth(t.value, 4)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
        </>
      )}
    </section>
  )
}
