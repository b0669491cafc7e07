// The block tree's layout: lanes for branches, the branches that are
// peers' heads now, and what each block's lane ends in.

import type { BlockNode, DevnetState, PeerView } from './api'

export interface Placed {
  block: BlockNode
  lane: number
  // stale: on a branch no alive peer has at its head (a fork that lost).
  stale: boolean
}

export interface Layout {
  placed: Placed[]
  lanes: number
  // forks is how many branches the alive peers' heads are on: 1 when
  // they agree (or one extends another), 2 or more during a fork.
  forks: number
  byHash: Map<string, Placed>
}

// layout places the blocks: the chain of the highest alive head on lane 0,
// every other tip on its own lane back to where it forks.
export function layout(st: DevnetState): Layout {
  const byHash = new Map<string, BlockNode>()
  const children = new Map<string, number>()
  for (const b of st.blocks) {
    byHash.set(b.hash, b)
    children.set(b.parent, (children.get(b.parent) ?? 0) + 1)
  }
  const alive = st.peers.filter((p: PeerView) => p.alive && byHash.has(p.headHash))
  const heads = [...new Set(alive.map((p) => p.headHash))]
  const ancestors = (hash: string): Set<string> => {
    const out = new Set<string>()
    for (let b = byHash.get(hash); b; b = byHash.get(b.parent)) out.add(b.hash)
    return out
  }
  // A head on another head's chain is not a branch of its own.
  const headChains = heads.map((hh) => ({ hash: hh, chain: ancestors(hh) }))
  const branchHeads = headChains.filter((x) => !headChains.some((y) => y.hash !== x.hash && y.chain.has(x.hash)))
  const live = new Set<string>()
  for (const x of branchHeads) for (const hh of x.chain) live.add(hh)

  const tips = st.blocks.filter((b) => !children.has(b.hash))
  const top = (hash: string) => byHash.get(hash)?.number ?? -1
  tips.sort((a, b) => {
    const la = live.has(a.hash) ? 1 : 0
    const lb = live.has(b.hash) ? 1 : 0
    return lb - la || top(b.hash) - top(a.hash) || a.firstSeen - b.firstSeen
  })
  const lane = new Map<string, number>()
  let lanes = 0
  for (const tip of tips) {
    const l = lanes++
    for (let b: BlockNode | undefined = tip; b && !lane.has(b.hash); b = byHash.get(b.parent)) lane.set(b.hash, l)
  }
  const placed = st.blocks.map((b) => ({ block: b, lane: lane.get(b.hash) ?? 0, stale: !live.has(b.hash) }))
  return { placed, lanes: Math.max(lanes, 1), forks: branchHeads.length, byHash: new Map(placed.map((p) => [p.block.hash, p])) }
}
