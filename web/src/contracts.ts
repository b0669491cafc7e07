// Contracts the user deployed or imported through the UI (name, address,
// ABI), kept in localStorage; used to decode logs, calls and errors.
import { Interface, type InterfaceAbi, type LogDescription, type Result } from 'ethers'

export interface KnownContract {
  address: string
  name: string
  abi: unknown[]
  deployTx?: string
}

const KEY = 'peerchain.contracts.v1'

export function listContracts(): KnownContract[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '[]')
    return Array.isArray(v) ? v : []
  } catch {
    return []
  }
}

export function saveContract(c: KnownContract) {
  const all = listContracts().filter((x) => x.address.toLowerCase() !== c.address.toLowerCase())
  all.unshift(c)
  localStorage.setItem(KEY, JSON.stringify(all))
}

export function removeContract(address: string) {
  localStorage.setItem(KEY, JSON.stringify(listContracts().filter((x) => x.address.toLowerCase() !== address.toLowerCase())))
}

export function findContract(address: string | null | undefined): KnownContract | undefined {
  if (!address) return undefined
  return listContracts().find((x) => x.address.toLowerCase() === address.toLowerCase())
}

export function iface(abi: unknown[]): Interface | undefined {
  try {
    return new Interface(abi as InterfaceAbi)
  } catch {
    return undefined
  }
}

/** Decodes a log with the ABI of its contract, or any known ABI. */
export function decodeLog(log: { address: string; topics: string[]; data: string }): LogDescription | undefined {
  const own = findContract(log.address)
  const candidates = own ? [own, ...listContracts()] : listContracts()
  for (const c of candidates) {
    const i = iface(c.abi)
    if (!i) continue
    try {
      const d = i.parseLog(log)
      if (d) return d
    } catch {
      // not this ABI
    }
  }
  return undefined
}

const PANIC: Record<number, string> = {
  0x01: 'assert failed',
  0x11: 'arithmetic overflow or underflow',
  0x12: 'division or modulo by zero',
  0x21: 'invalid enum value',
  0x22: 'bad storage byte array',
  0x31: 'pop on an empty array',
  0x32: 'array index out of bounds',
  0x41: 'out of memory',
  0x51: 'call to an invalid function',
}

/** Human text of revert data: Error(string), Panic(uint256) or a custom error of a known ABI. */
export function decodeRevert(data: string | undefined | null, abi?: unknown[]): string {
  if (!data || data === '0x') return 'reverted without a reason'
  const std = new Interface(['error Error(string)', 'error Panic(uint256)'])
  try {
    const e = std.parseError(data)
    if (e?.name === 'Error') return `reverted: ${e.args[0]}`
    if (e?.name === 'Panic') {
      const code = Number(e.args[0])
      return `panic 0x${code.toString(16)}: ${PANIC[code] ?? 'unknown panic code'}`
    }
  } catch {
    // not a standard error
  }
  const abis = abi ? [abi, ...listContracts().map((c) => c.abi)] : listContracts().map((c) => c.abi)
  for (const a of abis) {
    const i = iface(a)
    if (!i) continue
    try {
      const e = i.parseError(data)
      if (e) return `reverted with custom error ${e.name}(${formatArgs(e.args)})`
    } catch {
      // not in this ABI
    }
  }
  return `reverted with data ${data.length > 74 ? data.slice(0, 74) + '…' : data} (no known ABI decodes it)`
}

/** The revert data inside an RPC error (go-ethereum puts it in data). */
export function revertData(e: unknown): string | undefined {
  const d = (e as { data?: unknown })?.data
  if (typeof d === 'string' && d.startsWith('0x')) return d
  if (d && typeof d === 'object' && typeof (d as { data?: unknown }).data === 'string') return (d as { data: string }).data
  return undefined
}

export function formatArgs(r: Result | unknown[]): string {
  return Array.from(r as unknown[])
    .map((v) => fmtValue(v))
    .join(', ')
}

export function fmtValue(v: unknown): string {
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'string') return JSON.stringify(v).length > v.length + 2 ? JSON.stringify(v) : v.startsWith('0x') ? v : JSON.stringify(v)
  if (Array.isArray(v)) return '[' + v.map(fmtValue).join(', ') + ']'
  return String(v)
}

export interface Artifact {
  name: string
  abi: unknown[]
  bytecode: string
}

function hex(b: unknown): string | undefined {
  if (typeof b === 'string' && b.length > 0) return b.startsWith('0x') ? b : '0x' + b
  if (b && typeof b === 'object' && typeof (b as { object?: unknown }).object === 'string') return hex((b as { object: string }).object)
  return undefined
}

function abiOf(a: unknown): unknown[] | undefined {
  if (Array.isArray(a)) return a
  if (typeof a === 'string') {
    try {
      const v = JSON.parse(a)
      return Array.isArray(v) ? v : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

/**
 * The contracts in a compiler artifact: solc standard-JSON output, solc
 * --combined-json, a Hardhat artifact or a Foundry out/*.json.
 */
export function parseArtifact(text: string): Artifact[] {
  let j: any
  try {
    j = JSON.parse(text)
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`)
  }
  const out: Artifact[] = []
  if (j && typeof j === 'object' && j.contracts && typeof j.contracts === 'object') {
    for (const [k, v] of Object.entries<any>(j.contracts)) {
      if (v && (v.abi !== undefined || v.bin !== undefined)) {
        // combined-json: "file.sol:Name" → {abi, bin}
        const abi = abiOf(v.abi)
        const bytecode = hex(v.bin)
        if (abi) out.push({ name: k.split(':').pop()!, abi, bytecode: bytecode ?? '0x' })
        continue
      }
      // standard JSON: file → Name → {abi, evm.bytecode.object}
      for (const [name, c] of Object.entries<any>(v ?? {})) {
        const abi = abiOf(c?.abi)
        if (abi) out.push({ name, abi, bytecode: hex(c?.evm?.bytecode) ?? '0x' })
      }
    }
  } else if (j && abiOf(j.abi)) {
    // Hardhat (bytecode string, contractName) or Foundry (bytecode.object)
    const name = j.contractName ?? j.metadata?.settings?.compilationTarget ? Object.values(j.metadata?.settings?.compilationTarget ?? {})[0] : undefined
    out.push({ name: String(j.contractName ?? name ?? 'Contract'), abi: abiOf(j.abi)!, bytecode: hex(j.bytecode) ?? hex(j.bin) ?? '0x' })
  } else if (Array.isArray(j)) {
    out.push({ name: 'Contract', abi: j, bytecode: '0x' })
  }
  if (!out.length) throw new Error('no contract found: want solc standard-JSON output, solc --combined-json abi,bin, a Hardhat artifact or a Foundry out/*.json')
  return out
}
