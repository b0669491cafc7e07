// Small typed helpers to build HTML and SVG elements.

type Attrs = Record<string, string | number | boolean | undefined>

function setAttrs(el: Element, attrs: Attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) el.removeAttribute(k)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  setAttrs(el, attrs)
  el.append(...children)
  return el
}

const svgNS = 'http://www.w3.org/2000/svg'

export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(svgNS, tag)
  setAttrs(el, attrs)
  el.append(...children)
  return el
}

export { setAttrs }

// short is a hash's first hex digits, as the status line shows them.
export const short = (hash: string) => (hash && hash.length > 6 ? hash.slice(2, 8) : '—')

// hashColor is a colour for a head: the same hash, the same colour, dark
// enough for white text and distinct enough between branches.
export function hashColor(hash: string): string {
  if (!hash || /^0x0*$/.test(hash)) return '#6b7280'
  const hue = parseInt(hash.slice(2, 6), 16) % 360
  return `hsl(${hue} 70% 32%)`
}
