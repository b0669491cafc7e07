// The peer's UI: header (chain id, head), navigation, and the routed page.
import { useEffect, useState } from 'react'
import { pages } from './pages'
import { href, match, useRoute } from './router'
import { rpc, useHead, useSocketState } from './rpc'

function Header() {
  const head = useHead()
  const ws = useSocketState()
  const [chainId, setChainId] = useState<number>()
  useEffect(() => {
    rpc<string>('eth_chainId').then((c) => setChainId(Number(c)), () => {})
  }, [])
  const path = useRoute()
  const section = '/' + (path.split('/')[1] ?? '').split('?')[0]
  return (
    <header className="top">
      <a className="brand" href="#/" data-test="brand">
        peerchain
      </a>
      <nav aria-label="Main">
        <ul>
          {pages
            .filter((p) => p.nav)
            .map((p) => (
              <li key={p.path}>
                <a
                  href={href(p.path)}
                  data-test={`nav-${p.nav!.toLowerCase()}`}
                  aria-current={section === p.path ? 'page' : undefined}
                >
                  {p.nav}
                </a>
              </li>
            ))}
        </ul>
      </nav>
      <div className="status" aria-live="polite">
        <span data-test="chain-id">chain {chainId ?? '…'}</span>
        <span data-test="head">
          head <a href={head ? href(`/block/${head.number}`) : undefined}>{head ? `#${head.number}` : '…'}</a>
        </span>
        <span className={`dot ${ws === 'open' ? 'live' : ''}`} title={ws === 'open' ? 'live over WebSocket' : 'polling'}>
          {ws === 'open' ? 'live' : 'polling'}
        </span>
      </div>
    </header>
  )
}

export default function App() {
  const path = useRoute()
  let page = null
  for (const p of pages) {
    const params = match(p.path, path)
    if (params) {
      const C = p.component
      page = <C params={params} path={path} key={path} />
      break
    }
  }
  useEffect(() => {
    const h1 = document.querySelector('main h1')
    document.title = h1?.textContent ? `${h1.textContent} · peerchain` : 'peerchain'
  })
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus() }}>
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        {page ?? (
          <section data-test="page-notfound">
            <h1>Not found</h1>
            <p>
              No page at <code>{path}</code>. <a href="#/">Home</a>
            </p>
          </section>
        )}
      </main>
    </>
  )
}
