// The devnet page: the graph, the peers with their kill and restart
// buttons and link faults, the partition and fault forms, the block tree,
// reorgs and a log of events.

import './devnet.css'
import * as api from './api'
import type { DevnetEvent, DevnetState, FaultKind, PeerView } from './api'
import { BlockTree } from './blocktree'
import { h, setAttrs, short } from './dom'
import { Graph } from './graph'

const main = document.getElementById('main')!
const conn = document.querySelector<HTMLElement>('[data-test="conn"]')!

const graph = new Graph()
const tree = new BlockTree()

// Peers table, one row per peer kept across renders (buttons keep focus).
const tbody = h('tbody')
const peersCard = h(
  'section',
  { class: 'card', 'aria-labelledby': 'peers-h' },
  h('h2', { id: 'peers-h' }, 'Peers'),
  h('div', { class: 'table-scroll' },
    h('table', { 'data-test': 'peers' },
      h('thead', {}, h('tr', {}, ...['Peer', 'Kind', 'State', 'Head', 'Peers', 'Side', 'Link', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)),
)
const rows = new Map<string, { tr: HTMLTableRowElement; state: HTMLElement; head: HTMLElement; peers: HTMLElement; side: HTMLElement; link: HTMLElement; kind: HTMLElement; kill: HTMLButtonElement; restart: HTMLButtonElement }>()

// Partition form: a side (A or B) per full peer.
const sides = h('div', { class: 'sides' })
const partitionBtn = h('button', { type: 'submit', 'data-test': 'partition' }, 'Partition')
const healBtn = h('button', { type: 'button', class: 'secondary', 'data-test': 'heal' }, 'Heal')
const partitionState = h('p', { 'data-test': 'partition-state', role: 'status' })
const partitionForm = h(
  'form',
  { class: 'card', 'aria-labelledby': 'part-h' },
  h('h2', { id: 'part-h' }, 'Partition'),
  h('p', { class: 'muted' }, 'Put each full peer on side A or B, then cut the network in two; heal joins it again and the heaviest chain wins.'),
  sides,
  h('div', { class: 'row' }, partitionBtn, healBtn),
  partitionState,
)
const sideSelects = new Map<string, HTMLSelectElement>()

// Fault form: one full peer's link, delay ± jitter, loss or bandwidth.
const faultPeer = h('select', { id: 'fault-peer', 'data-test': 'fault-peer' })
const faultKind = h('select', { id: 'fault-kind', 'data-test': 'fault-kind' },
  h('option', { value: 'delay' }, 'delay'),
  h('option', { value: 'loss' }, 'loss'),
  h('option', { value: 'bandwidth' }, 'bandwidth'),
  h('option', { value: 'clear' }, 'clear all'))
const faultValue = h('input', { id: 'fault-value', 'data-test': 'fault-value', size: 8, value: '200ms' })
const faultJitter = h('input', { id: 'fault-jitter', 'data-test': 'fault-jitter', size: 6, placeholder: 'e.g. 20ms' })
const faultExample: Record<FaultKind, string> = { delay: '200ms', loss: '5%', bandwidth: '1mbit', clear: '' }
faultKind.onchange = () => {
  const kind = faultKind.value as FaultKind
  faultValue.value = faultExample[kind]
  faultValue.disabled = kind === 'clear'
  faultJitter.disabled = kind !== 'delay'
}
const faultForm = h(
  'form',
  { class: 'card', 'aria-labelledby': 'fault-h' },
  h('h2', { id: 'fault-h' }, 'Link faults'),
  h('p', { class: 'muted' }, 'Slow or lossy links, applied by the peer itself to whole libp2p messages: a delay on every message in and out, lost gossip messages (a lost block comes later by sync), a bandwidth. Watch forks grow with latency.'),
  h('div', { class: 'row' },
    h('label', { for: 'fault-peer' }, 'Peer', faultPeer),
    h('label', { for: 'fault-kind' }, 'Fault', faultKind),
    h('label', { for: 'fault-value' }, 'Value', faultValue),
    h('label', { for: 'fault-jitter' }, '± jitter', faultJitter),
    h('button', { type: 'submit', 'data-test': 'fault-apply' }, 'Apply')),
)
faultForm.onsubmit = (e) => {
  e.preventDefault()
  const kind = faultKind.value as FaultKind
  const args = kind === 'clear' ? [] : [faultValue.value.trim()]
  if (kind === 'delay' && faultJitter.value.trim()) args.push(faultJitter.value.trim())
  act(`${kind} ${faultPeer.value}`, () => api.fault(faultPeer.value, kind, args))
}

function renderFaultPeers(st: DevnetState) {
  const names = st.peers.filter((p) => p.kind === 'full').map((p) => p.name)
  const have = [...faultPeer.options].map((o) => o.value)
  if (names.join() === have.join()) return
  const keep = faultPeer.value
  faultPeer.replaceChildren(...names.map((n) => h('option', { value: n }, n)))
  if (names.includes(keep)) faultPeer.value = keep
}

const reorgList = h('ol', { 'data-test': 'reorgs', class: 'reorgs', tabindex: 0, 'aria-labelledby': 'reorg-h' })
const reorgCard = h('section', { class: 'card', 'aria-labelledby': 'reorg-h' }, h('h2', { id: 'reorg-h' }, 'Reorgs'), reorgList)
const log = h('ul', { class: 'log', 'data-test': 'log', tabindex: 0, 'aria-labelledby': 'log-h', 'aria-live': 'polite', 'aria-relevant': 'additions' })
const logCard = h('section', { class: 'card', 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, 'Events'), log)
const errorBox = h('p', { class: 'error', role: 'alert', 'data-test': 'error' })

main.append(errorBox, h('div', { class: 'top-grid' }, graph.el, h('div', {}, peersCard, partitionForm, faultForm)), tree.el, h('div', { class: 'grid2' }, reorgCard, logCard))

let current: DevnetState | null = null

async function act(what: string, fn: () => Promise<void>) {
  errorBox.textContent = ''
  try {
    await fn()
  } catch (e) {
    errorBox.textContent = `${what}: ${(e as Error).message}`
  }
}

function row(p: PeerView) {
  let r = rows.get(p.name)
  if (!r) {
    const kill = h('button', { type: 'button', class: 'danger', 'data-test': `kill-${p.name}`, 'aria-label': `Kill ${p.name}` }, 'Kill')
    const restart = h('button', { type: 'button', class: 'secondary', 'data-test': `restart-${p.name}`, 'aria-label': `Restart ${p.name}` }, 'Restart')
    kill.onclick = () => act(`kill ${p.name}`, () => api.kill(p.name))
    restart.onclick = async () => {
      restart.disabled = true
      restart.textContent = 'Restarting…'
      await act(`restart ${p.name}`, () => api.restart(p.name))
      restart.textContent = 'Restart'
      restart.disabled = false
    }
    const cell = () => h('td')
    const state = cell()
    const head = cell()
    const peers = cell()
    const side = cell()
    const link = cell()
    const kind = cell()
    const actions = h('td', { class: 'actions' })
    if (p.kind !== 'liar') actions.append(kill, restart)
    const tr = h('tr', { 'data-test': `peer-${p.name}` }, h('th', { scope: 'row' }, p.name), kind, state, head, peers, side, link, actions)
    tbody.append(tr)
    r = { tr, state, head, peers, side, link, kind, kill, restart }
    rows.set(p.name, r)
  }
  r.kind.textContent = p.kind + (p.miner ? ' ★' : '')
  r.state.textContent = p.alive ? (p.error ? 'no answer' : 'up') : 'down'
  setAttrs(r.state, { 'data-test': `state-${p.name}`, class: p.alive ? 'ok' : 'bad' })
  r.head.textContent = p.kind === 'liar' ? `fronts ${p.fronts ?? ''}` : p.headHash && !/^0x0*$/.test(p.headHash) ? `#${p.head} ${short(p.headHash)}` : '—'
  setAttrs(r.head, { 'data-test': `head-${p.name}`, 'data-number': p.head, 'data-hash': p.headHash })
  r.peers.textContent = p.kind === 'liar' ? '—' : String(p.peerCount)
  r.side.textContent = p.group >= 0 ? 'AB'[p.group] ?? String(p.group + 1) : '—'
  r.link.textContent = p.fault ? p.fault.text : '—'
  setAttrs(r.link, { 'data-test': `fault-${p.name}`, class: p.fault ? 'fault' : undefined, title: p.fault ? `applied at the ${p.fault.mode} layer` : undefined })
  r.kill.disabled = !p.alive
  setAttrs(r.tr, { 'data-alive': String(p.alive) })
}

function renderSides(st: DevnetState) {
  const full = st.peers.filter((p) => p.kind === 'full' || p.kind === 'provider')
  full.forEach((p, i) => {
    if (sideSelects.has(p.name)) return
    const id = `side-${p.name}`
    const sel = h('select', { id, 'data-test': `side-${p.name}` },
      h('option', { value: '0' }, 'A'),
      h('option', { value: '1' }, 'B'))
    sel.value = i < Math.ceil(full.length / 2) ? '0' : '1'
    sideSelects.set(p.name, sel)
    sides.append(h('label', { for: id, class: 'side' }, p.name, sel))
  })
  partitionState.textContent = st.partition
    ? `Partitioned: ${st.partition.map((g) => g.join(', ')).join('  |  ')}`
    : 'Not partitioned: every peer may reach every other.'
  setAttrs(partitionState, { 'data-partitioned': String(!!st.partition) })
  healBtn.disabled = !st.partition
}

partitionForm.onsubmit = (e) => {
  e.preventDefault()
  const groups: string[][] = [[], []]
  for (const [name, sel] of sideSelects) groups[Number(sel.value)].push(name)
  act('partition', () => api.partition(groups))
}
healBtn.onclick = () => act('heal', api.heal)

function renderReorgs(st: DevnetState) {
  const items = [...(st.reorgs ?? [])].reverse()
  reorgList.replaceChildren(
    ...(items.length
      ? items.map((r) =>
          h('li', { 'data-test': 'reorg', 'data-peer': r.peer, 'data-depth': r.depth },
            `${r.peer} reorganised, depth ${r.depth}: #${r.fromNumber} ${short(r.from)} → #${r.toNumber} ${short(r.to)} (common ancestor #${r.ancestor}) at ${new Date(r.at).toLocaleTimeString()}`))
      : [h('li', { class: 'muted' }, 'None yet.')]),
  )
}

function render(st: DevnetState) {
  current = st
  graph.render(st)
  for (const p of st.peers) row(p)
  renderSides(st)
  renderFaultPeers(st)
  tree.render(st)
  renderReorgs(st)
}

function note(text: string, kind = '') {
  log.prepend(h('li', { class: kind }, `${new Date().toLocaleTimeString()} ${text}`))
  while (log.children.length > 40) log.lastElementChild!.remove()
}

function onEvent(e: DevnetEvent) {
  switch (e.type) {
    case 'head':
      if (e.head && e.head.from !== e.head.peer) graph.travel(e.head.from, e.head.peer, e.head.hash)
      if (e.head && e.head.from === e.head.peer && current?.peers.find((p) => p.name === e.peer)?.miner) {
        note(`${e.peer} has #${e.head.number} ${short(e.head.hash)} first`)
      }
      break
    case 'reorg':
      if (e.reorg) note(`${e.reorg.peer} reorganised: depth ${e.reorg.depth}, #${e.reorg.fromNumber} → #${e.reorg.toNumber}`, 'warn')
      break
    case 'down':
      note(`${e.peer} is down`, 'bad')
      break
    case 'up':
      note(`${e.peer} is up`, 'ok')
      break
    case 'partition':
      note(`partitioned: ${(e.groups ?? []).map((g) => g.join(',')).join(' | ')}`, 'warn')
      break
    case 'heal':
      note('healed', 'ok')
      break
    case 'fault':
      note(e.fault && e.fault !== '-' ? `${e.peer}'s link: ${e.fault}` : `${e.peer}'s link cleared`, e.fault && e.fault !== '-' ? 'warn' : 'ok')
      break
  }
}

api.subscribe({
  state: render,
  event: onEvent,
  connection(open) {
    conn.textContent = open ? 'live' : 'reconnecting…'
    conn.className = open ? 'conn live' : 'conn'
  },
})
