// Charts of block time, difficulty and hash rate over the last N blocks,
// drawn as inline SVG.
import { useState } from 'react'
import type { PageProps } from '.'
import { hexNum, si } from '../format'
import { rpcBatch, useHead, usePoll } from '../rpc'

function Line({ title, values, unit, test }: { title: string; values: { x: number; y: number }[]; unit: string; test: string }) {
  const W = 600
  const H = 180
  const P = 36
  if (values.length < 2) return <div className="card chart"><h2>{title}</h2><p className="muted">Not enough blocks yet.</p></div>
  const xs = values.map((v) => v.x)
  const ys = values.map((v) => v.y)
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  const y1 = Math.max(...ys) * 1.1 || 1
  const px = (x: number) => P + ((x - x0) / (x1 - x0 || 1)) * (W - P - 8)
  const py = (y: number) => H - 20 - (y / y1) * (H - 30)
  const d = values.map((v, k) => `${k ? 'L' : 'M'}${px(v.x).toFixed(1)},${py(v.y).toFixed(1)}`).join(' ')
  const avg = ys.reduce((a, b) => a + b, 0) / ys.length
  return (
    <div className="card chart" data-test={test}>
      <h2>{title}</h2>
      <p className="muted">average {si(avg, unit)} · last {si(ys[ys.length - 1], unit)}</p>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: average ${si(avg, unit)} over blocks ${x0} to ${x1}`}>
        <line x1={P} y1={H - 20} x2={W - 8} y2={H - 20} stroke="#8a96a3" />
        <line x1={P} y1={10} x2={P} y2={H - 20} stroke="#8a96a3" />
        <text x={2} y={14} fontSize="12" fill="#505a66">{si(y1)}</text>
        <text x={P} y={H - 4} fontSize="12" fill="#505a66">#{x0}</text>
        <text x={W - 8} y={H - 4} fontSize="12" fill="#505a66" textAnchor="end">#{x1}</text>
        <line x1={P} x2={W - 8} y1={py(avg)} y2={py(avg)} stroke="#c9a227" strokeDasharray="4 4" />
        <path d={d} fill="none" stroke="#0b5cad" strokeWidth="2" />
      </svg>
    </div>
  )
}

export default function Charts(_: PageProps) {
  const head = useHead()
  const [n, setN] = useState(50)
  const top = head?.number ?? 0
  const { data, error } = usePoll(
    async () => {
      const from = Math.max(1, top - n)
      const nums: number[] = []
      for (let k = from; k <= top; k++) nums.push(k)
      // Block 1's parent is genesis, whose timestamp is not a mining time.
      const bs = await rpcBatch(nums.map((k) => ['eth_getBlockByNumber', ['0x' + k.toString(16), false]]))
      return bs.filter((b): b is any => !!b && !(b instanceof Error)).map((b) => ({ n: hexNum(b.number), t: hexNum(b.timestamp), d: Number(BigInt(b.difficulty)) }))
    },
    0,
    [head ? Math.floor(top / 5) : -1, n],
  )
  const blocks = data ?? []
  const times: { x: number; y: number }[] = []
  const diffs = blocks.slice(1).map((b) => ({ x: b.n, y: b.d }))
  const rates: { x: number; y: number }[] = []
  for (let k = 1; k < blocks.length; k++) {
    times.push({ x: blocks[k].n, y: Math.max(0, blocks[k].t - blocks[k - 1].t) })
    // Hash rate: work over time in a window of 10 blocks (timestamps are seconds).
    const j = Math.max(0, k - 10)
    const dt = blocks[k].t - blocks[j].t
    let work = 0
    for (let i = j + 1; i <= k; i++) work += blocks[i].d
    if (dt > 0) rates.push({ x: blocks[k].n, y: work / dt })
  }
  return (
    <section data-test="page-charts">
      <h1>Charts</h1>
      <div className="row">
        <label htmlFor="chart-n" style={{ margin: 0 }}>Blocks</label>
        <select id="chart-n" style={{ width: 'auto' }} value={n} onChange={(e) => setN(Number(e.target.value))} data-test="chart-n">
          {[20, 50, 100, 200].map((k) => <option key={k} value={k}>{k}</option>)}
        </select>
      </div>
      {error && <p className="note bad">{error.message}</p>}
      <div className="charts">
        <Line title="Block time" values={times} unit="s" test="chart-blocktime" />
        <Line title="Difficulty" values={diffs} unit="" test="chart-difficulty" />
        <Line title="Hash rate" values={rates} unit="H/s" test="chart-hashrate" />
      </div>
    </section>
  )
}
