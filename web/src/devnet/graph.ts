// The graph of peers: a node per peer (coloured by its head; light peers
// and the liar drawn apart), an edge per connection, and blocks travelling
// along the edges as they propagate.

import type { DevnetState, PeerView } from './api'
import { h, hashColor, s, setAttrs, short } from './dom'

const W = 640
const H = 380
const R = 26

interface NodeEls {
  g: SVGGElement
  circle: SVGCircleElement
  name: SVGTextElement
  head: SVGTextElement
}

export class Graph {
  readonly el: HTMLElement
  private svg: SVGSVGElement
  private edges: SVGGElement
  private nodesLayer: SVGGElement
  private travels: SVGGElement
  private nodes = new Map<string, NodeEls>()
  private pos = new Map<string, { x: number; y: number }>()
  private reduced = window.matchMedia('(prefers-reduced-motion: reduce)').matches

  constructor() {
    this.svg = s('svg', {
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-labelledby': 'graph-title graph-desc',
      'data-test': 'graph',
    })
    const title = s('title', { id: 'graph-title' }, 'Graph of the peers and their connections')
    const desc = s('desc', { id: 'graph-desc' }, 'Each circle is a peer, coloured by its head block; lines are connections.')
    this.edges = s('g', { class: 'edges' })
    this.travels = s('g', { class: 'travels' })
    this.nodesLayer = s('g', { class: 'nodes' })
    this.svg.append(title, desc, this.edges, this.travels, this.nodesLayer)
    const legend = h(
      'ul',
      { class: 'legend' },
      h('li', {}, h('span', { class: 'sw full', 'aria-hidden': 'true' }), 'full peer (★ mines)'),
      h('li', {}, h('span', { class: 'sw light', 'aria-hidden': 'true' }), 'light peer'),
      h('li', {}, h('span', { class: 'sw liar', 'aria-hidden': 'true' }), 'liar'),
      h('li', {}, h('span', { class: 'sw down', 'aria-hidden': 'true' }), 'down'),
    )
    this.el = h('section', { class: 'card graph', 'aria-labelledby': 'graph-h' }, h('h2', { id: 'graph-h' }, 'Network'), this.svg, legend)
  }

  private layout(peers: PeerView[]) {
    const n = peers.length
    peers.forEach((p, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1)
      const rx = n === 1 ? 0 : W / 2 - 70
      const ry = n === 1 ? 0 : H / 2 - 55
      this.pos.set(p.name, { x: W / 2 + rx * Math.cos(a), y: H / 2 + ry * Math.sin(a) })
    })
  }

  render(st: DevnetState) {
    this.layout(st.peers)
    // Edges: one per connected pair, drawn once.
    this.edges.replaceChildren()
    const seen = new Set<string>()
    for (const p of st.peers) {
      if (!p.alive) continue
      const targets = p.kind === 'light' ? [...p.connected] : p.connected
      for (const o of targets) {
        const key = [p.name, o].sort().join('|')
        const a = this.pos.get(p.name)
        const b = this.pos.get(o)
        if (seen.has(key) || !a || !b) continue
        seen.add(key)
        this.edges.append(
          s('line', {
            x1: a.x, y1: a.y, x2: b.x, y2: b.y,
            class: p.kind === 'light' || st.peers.find((q) => q.name === o)?.kind === 'light' ? 'edge source' : 'edge',
            'data-test': `edge-${key.replace('|', '-')}`,
          }),
        )
      }
    }
    // Liar: a dashed line to the peer it fronts.
    for (const p of st.peers) {
      const a = this.pos.get(p.name)
      const b = p.fronts ? this.pos.get(p.fronts) : undefined
      if (a && b) this.edges.append(s('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: 'edge fronts' }))
    }
    const names = new Set(st.peers.map((p) => p.name))
    for (const [name, els] of this.nodes) if (!names.has(name)) { els.g.remove(); this.nodes.delete(name) }
    for (const p of st.peers) this.node(p)
  }

  private node(p: PeerView) {
    let els = this.nodes.get(p.name)
    if (!els) {
      const circle = s('circle', { r: R })
      const name = s('text', { class: 'nname', 'text-anchor': 'middle' })
      const head = s('text', { class: 'nhead', 'text-anchor': 'middle' })
      const g = s('g', { 'data-test': `node-${p.name}` }, circle, name, head)
      this.nodesLayer.append(g)
      els = { g, circle, name, head }
      this.nodes.set(p.name, els)
    }
    const { x, y } = this.pos.get(p.name)!
    const down = !p.alive
    const fill = down ? '#d1d5db' : p.kind === 'liar' ? '#a4161a' : hashColor(p.headHash)
    setAttrs(els.g, { class: `node ${p.kind} ${down ? 'down' : 'up'}`, 'data-alive': String(p.alive), 'data-head': p.head })
    setAttrs(els.circle, { cx: x, cy: y, fill })
    setAttrs(els.name, { x, y: y - R - 8 })
    els.name.textContent = `${p.name}${p.miner ? ' ★' : ''}`
    setAttrs(els.head, { x, y: y + R + 18 })
    els.head.textContent = down ? 'down' : p.kind === 'liar' ? `lies for ${p.fronts ?? ''}` : `#${p.head} ${short(p.headHash)}`
  }

  // travel animates a block going from one peer to another.
  travel(from: string, to: string, hash: string) {
    const a = this.pos.get(from)
    const b = this.pos.get(to)
    if (!a || !b || from === to) return
    const dot = s('rect', { width: 14, height: 14, rx: 3, fill: hashColor(hash), class: 'travel', 'data-test': 'travel' })
    this.travels.append(dot)
    const ms = this.reduced ? 0 : 700
    const t0 = performance.now()
    const step = (now: number) => {
      const k = ms === 0 ? 1 : Math.min(1, (now - t0) / ms)
      setAttrs(dot, { x: a.x + (b.x - a.x) * k - 7, y: a.y + (b.y - a.y) * k - 7 })
      if (k < 1) requestAnimationFrame(step)
      else setTimeout(() => dot.remove(), 150)
    }
    requestAnimationFrame(step)
  }
}
