// Home: the latest blocks and transactions, live with the head.
import { useEffect, useState } from 'react'
import type { PageProps } from '.'
import Search from '../components/Search'
import { ago, eth, hexNum, short } from '../format'
import { rpcBatch, useHead } from '../rpc'

interface Block {
  number: string
  hash: string
  timestamp: string
  miner: string
  gasUsed: string
  difficulty: string
  transactions: Tx[]
}
interface Tx {
  hash: string
  from: string
  to: string | null
  value: string
  blockNumber: string
}

const N = 10

export default function Home(_: PageProps) {
  const head = useHead()
  const [blocks, setBlocks] = useState<Block[]>([])
  const [err, setErr] = useState('')
  const [now, setNow] = useState(Date.now() / 1000)
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), 1000)
    return () => clearInterval(t)
  }, [])
  useEffect(() => {
    if (!head) return
    let live = true
    const have = new Map(blocks.map((b) => [hexNum(b.number), b]))
    const want: number[] = []
    for (let n = head.number; n >= 0 && n > head.number - N; n--) want.push(n)
    const missing = want.filter((n) => !have.has(n) || (n === head.number && have.get(n)!.hash !== head.hash))
    rpcBatch(missing.map((n) => ['eth_getBlockByNumber', ['0x' + n.toString(16), true]]))
      .then((res) => {
        if (!live) return
        for (const r of res) {
          if (r instanceof Error) {
            setErr(r.message)
            continue
          }
          if (r) have.set(hexNum((r as Block).number), r as Block)
        }
        setBlocks(want.map((n) => have.get(n)).filter((b): b is Block => !!b))
      })
      .catch((e) => live && setErr((e as Error).message))
    return () => {
      live = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [head?.number, head?.hash])
  const txs = blocks.flatMap((b) => b.transactions).slice(0, 15)
  return (
    <section data-test="page-home">
      <h1>Explorer</h1>
      <Search />
      {err && <p className="note bad" role="alert">{err}</p>}
      <div className="grid2">
        <div className="card">
          <h2>Latest blocks</h2>
          <div className="scroll">
            <table data-test="latest-blocks">
              <thead>
                <tr><th>Block</th><th>Age</th><th>Txs</th><th className="hide-phone">Miner</th></tr>
              </thead>
              <tbody>
                {blocks.map((b) => (
                  <tr key={b.hash} data-test="block-row">
                    <td><a href={`#/block/${hexNum(b.number)}`}>#{hexNum(b.number)}</a></td>
                    <td>{ago(hexNum(b.timestamp), now)}</td>
                    <td>{b.transactions.length}</td>
                    <td className="hide-phone"><a className="mono" href={`#/address/${b.miner}`}>{short(b.miner)}</a></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {!blocks.length && <p className="muted">Waiting for blocks…</p>}
        </div>
        <div className="card">
          <h2>Latest transactions</h2>
          <div className="scroll">
            <table data-test="latest-txs">
              <thead>
                <tr><th>Hash</th><th>From → To</th><th>Value</th></tr>
              </thead>
              <tbody>
                {txs.map((t) => (
                  <tr key={t.hash} data-test="tx-row">
                    <td><a className="mono" href={`#/tx/${t.hash}`}>{short(t.hash, 4)}</a></td>
                    <td className="mono">
                      <a href={`#/address/${t.from}`}>{short(t.from, 4)}</a> →{' '}
                      {t.to ? <a href={`#/address/${t.to}`}>{short(t.to, 4)}</a> : 'create'}
                    </td>
                    <td>{eth(t.value, 4)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {!txs.length && <p className="muted">No transactions in the last {N} blocks.</p>}
        </div>
      </div>
    </section>
  )
}
