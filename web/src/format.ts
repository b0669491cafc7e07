// Formatting of chain values for display.
import { formatEther, formatUnits } from 'ethers'

export function hexNum(x: string | number | bigint | undefined | null): number {
  if (x === undefined || x === null) return 0
  return Number(BigInt(x))
}

export function big(x: string | number | bigint | undefined | null): bigint {
  if (x === undefined || x === null) return 0n
  return BigInt(x)
}

/** 0x1234…abcd */
export function short(h: string | undefined | null, n = 6): string {
  if (!h) return ''
  return h.length <= 2 * n + 2 ? h : `${h.slice(0, n + 2)}…${h.slice(-n)}`
}

/** Ether with at most `digits` decimals, e.g. "1.5 ETH". */
export function eth(wei: string | bigint | undefined | null, digits = 6): string {
  const s = formatEther(big(wei))
  const [i, f = ''] = s.split('.')
  const frac = f.slice(0, digits).replace(/0+$/, '')
  return `${i}${frac ? '.' + frac : ''} ETH`
}

export function gwei(wei: string | bigint | undefined | null): string {
  const s = formatUnits(big(wei), 9)
  const [i, f = ''] = s.split('.')
  const frac = f.slice(0, 3).replace(/0+$/, '')
  return `${i}${frac ? '.' + frac : ''} gwei`
}

/** "12 s ago" from a unix timestamp. */
export function ago(ts: number, now = Date.now() / 1000): string {
  const d = Math.max(0, Math.round(now - ts))
  if (d < 60) return `${d} s ago`
  if (d < 3600) return `${Math.floor(d / 60)} min ago`
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`
  return `${Math.floor(d / 86400)} d ago`
}

/** A number with SI prefix: 1.2 k, 3.4 M. */
export function si(x: number, unit = ''): string {
  const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E']
  let i = 0
  while (Math.abs(x) >= 1000 && i < prefixes.length - 1) {
    x /= 1000
    i++
  }
  const s = x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
  return `${s} ${prefixes[i]}${unit}`.trim()
}
