// Hash routes: #/block/12 → the page registered as '/block/:id' with
// params {id: '12'}. Pages are listed in pages/index.ts.
import { useSyncExternalStore } from 'react'

function current(): string {
  const h = location.hash.replace(/^#/, '')
  return h.startsWith('/') ? h : '/' + h
}

/** The current hash path, e.g. '/tx/0xab…'; re-renders on change. */
export function useRoute(): string {
  return useSyncExternalStore(
    (l) => {
      window.addEventListener('hashchange', l)
      return () => window.removeEventListener('hashchange', l)
    },
    current,
  )
}

/** Goes to a hash path ('/address/0x…'). */
export function navigate(path: string) {
  location.hash = '#' + path
}

/** The href of a hash path, for <a>. */
export function href(path: string): string {
  return '#' + path
}

/** Matches a path against a pattern with :name parts; undefined if none. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/').filter(Boolean)
  const [pathOnly] = path.split('?')
  const s = pathOnly.split('/').filter(Boolean)
  if (p.length !== s.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i])
    else if (p[i] !== s[i]) return undefined
  }
  return params
}

/** The query part of the hash path (#/address/0x..?page=2). */
export function query(path: string): URLSearchParams {
  const i = path.indexOf('?')
  return new URLSearchParams(i < 0 ? '' : path.slice(i + 1))
}
