// The page registry: each route's hash pattern, the component that draws
// it and, for the top navigation, its label. Add a page by adding a line.
import type { ComponentType } from 'react'
import Home from './Home'
import Block from './Block'
import Tx from './Tx'
import Address from './Address'
import Charts from './Charts'
import Wallet from './Wallet'
import Contracts from './Contracts'
import Network from './Network'
import Node from './Node'

export interface PageProps {
  params: Record<string, string>
  /** The whole hash path, query included. */
  path: string
}

export interface Page {
  path: string
  component: ComponentType<PageProps>
  /** Label in the top navigation; pages without one are reached by links. */
  nav?: string
}

export const pages: Page[] = [
  { path: '/', component: Home, nav: 'Home' },
  { path: '/wallet', component: Wallet, nav: 'Wallet' },
  { path: '/contracts', component: Contracts, nav: 'Contracts' },
  { path: '/contracts/:address', component: Contracts },
  { path: '/network', component: Network, nav: 'Network' },
  { path: '/node', component: Node, nav: 'Node' },
  { path: '/charts', component: Charts, nav: 'Charts' },
  { path: '/block/:id', component: Block },
  { path: '/tx/:hash', component: Tx },
  { path: '/address/:address', component: Address },
]
