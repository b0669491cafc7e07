// The block tree of the last heights: one lane per branch, each peer's
// head marked, stale branches faded, the fork count stated in words.

import type { DevnetState } from './api'
import { h, hashColor, s, short } from './dom'
import { layout } from './tree'

const COL = 46
const ROW = 40
const SHOWN = 40 // heights drawn

export class BlockTree {
  readonly el: HTMLElement
  private summary: HTMLParagraphElement
  private scroller: HTMLDivElement

  constructor() {
    this.summary = h('p', { 'data-test': 'fork-summary', class: 'fork-summary' })
    this.scroller = h('div', { class: 'tree-scroll', tabindex: 0, role: 'group', 'aria-label': 'Block tree, scrollable' })
    this.el = h(
      'section',
      { class: 'card', 'aria-labelledby': 'tree-h' },
      h('h2', { id: 'tree-h' }, 'Block tree'),
      this.summary,
      this.scroller,
    )
  }

  render(st: DevnetState) {
    const lay = layout(st)
    const top = st.blocks.reduce((m, b) => Math.max(m, b.number), 0)
    const low = Math.max(0, top - SHOWN + 1)
    const shown = lay.placed.filter((p) => p.block.number >= low)
    const usedLanes = [...new Set(shown.map((p) => p.lane))].sort((a, b) => a - b)
    const row = new Map(usedLanes.map((l, i) => [l, i]))
    const headsAt = new Map<string, string[]>()
    for (const p of st.peers) {
      if (!p.alive) continue
      headsAt.set(p.headHash, [...(headsAt.get(p.headHash) ?? []), p.name])
    }
    const maxHeads = Math.max(1, ...[...headsAt.values()].map((v) => v.length))
    const width = (top - low + 1) * COL + 60
    const height = usedLanes.length * ROW + 14 * maxHeads + 30
    const x = (n: number) => 20 + (n - low) * COL
    const y = (lane: number) => 16 + (row.get(lane) ?? 0) * ROW
    const svg = s('svg', {
      width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'tree-title',
      'data-test': 'tree', 'data-forks': lay.forks, 'data-lanes': usedLanes.length,
    }, s('title', { id: 'tree-title' }, `Block tree of heights ${low} to ${top}: ${lay.forks} branch${lay.forks === 1 ? '' : 'es'} at the peers' heads`))
    for (const p of shown) {
      const parent = lay.byHash.get(p.block.parent)
      if (parent && parent.block.number >= low) {
        svg.append(s('path', {
          d: `M${x(parent.block.number) + 30},${y(parent.lane) + 11} C${x(p.block.number) - 8},${y(parent.lane) + 11} ${x(p.block.number) - 8},${y(p.lane) + 11} ${x(p.block.number)},${y(p.lane) + 11}`,
          class: p.stale ? 'link stale' : 'link',
        }))
      }
    }
    for (const p of shown) {
      const g = s('g', {
        class: p.stale ? 'blk stale' : 'blk', 'data-test': 'block', 'data-number': p.block.number,
        'data-hash': p.block.hash, 'data-lane': row.get(p.lane) ?? 0,
      })
      g.append(
        s('rect', { x: x(p.block.number), y: y(p.lane), width: 30, height: 22, rx: 4, fill: p.stale ? '#9ca3af' : hashColor(p.block.hash) }),
        s('text', { x: x(p.block.number) + 15, y: y(p.lane) + 15, 'text-anchor': 'middle', class: 'bnum' }, String(p.block.number % 1000)),
        s('title', {}, `#${p.block.number} ${short(p.block.hash)} first seen at ${p.block.firstPeer}`),
      )
      const names = headsAt.get(p.block.hash) ?? []
      names.forEach((n, i) => g.append(s('text', { x: x(p.block.number) + 15, y: y(p.lane) + 36 + 13 * i, 'text-anchor': 'middle', class: 'hname' }, n)))
      svg.append(g)
    }
    const stick = this.scroller.scrollLeft + this.scroller.clientWidth >= this.scroller.scrollWidth - 4
    this.scroller.replaceChildren(svg)
    if (stick) this.scroller.scrollLeft = this.scroller.scrollWidth
    this.summary.dataset.forks = String(lay.forks)
    this.summary.textContent =
      lay.forks > 1
        ? `Fork: the peers' heads are on ${lay.forks} branches.`
        : st.blocks.length
          ? `One chain: every alive peer's head is on it (up to #${top}).`
          : 'No blocks seen yet.'
    this.summary.className = lay.forks > 1 ? 'fork-summary forked' : 'fork-summary'
  }
}
