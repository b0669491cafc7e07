// The browser wallet: keys created or imported here, encrypted at rest with
// WebCrypto (PBKDF2-SHA-256, 600,000 rounds → AES-256-GCM) in localStorage,
// decrypted only in memory after the password; the dev accounts on a dev
// chain; injected wallets (EIP-6963, else window.ethereum). Keys never
// leave the browser: transactions are signed here and sent raw.
import { HDNodeWallet, Mnemonic, Wallet, getAddress, toQuantity } from 'ethers'
import { useSyncExternalStore } from 'react'
import { rpc } from './rpc'

export const DEV_CHAIN_ID = 1337
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'

export interface Secret {
  address: string
  label: string
  privateKey: string
}

export interface Account {
  address: string
  label: string
  kind: 'local' | 'dev' | 'injected'
}

interface Vault {
  v: 1
  kdf: 'PBKDF2-SHA256'
  iterations: number
  salt: string
  iv: string
  ct: string
  addresses: { address: string; label: string }[]
}

const VAULT_KEY = 'peerchain.vault.v1'
const ITERATIONS = 600_000

const b64 = (b: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(b)))
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0))

async function aesKey(password: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

async function seal(secrets: Secret[], password: string): Promise<Vault> {
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const key = await aesKey(password, salt, ITERATIONS)
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(JSON.stringify(secrets)))
  return {
    v: 1,
    kdf: 'PBKDF2-SHA256',
    iterations: ITERATIONS,
    salt: b64(salt),
    iv: b64(iv),
    ct: b64(ct),
    addresses: secrets.map((s) => ({ address: s.address, label: s.label })),
  }
}

async function open(v: Vault, password: string): Promise<Secret[]> {
  const key = await aesKey(password, unb64(v.salt), v.iterations)
  try {
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: unb64(v.iv) as BufferSource }, key, unb64(v.ct) as BufferSource)
    return JSON.parse(new TextDecoder().decode(pt))
  } catch {
    throw new Error('wrong password')
  }
}

// ---- state shared by the pages

interface State {
  vault?: Vault
  unlocked?: Secret[]
  password?: string
  selected?: string
  injected: { info: { name: string; uuid: string; icon?: string }; provider: Eip1193 }[]
  injectedAccounts: string[]
  injectedProvider?: Eip1193
  chainId?: number
}

export interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<any>
}

let state: State = { injected: [], injectedAccounts: [] }
const listeners = new Set<() => void>()
function set(p: Partial<State>) {
  state = { ...state, ...p }
  for (const l of listeners) l()
}

function loadVault(): Vault | undefined {
  try {
    const v = JSON.parse(localStorage.getItem(VAULT_KEY) ?? 'null')
    return v && v.v === 1 ? v : undefined
  } catch {
    return undefined
  }
}
state.vault = loadVault()
state.selected = localStorage.getItem('peerchain.selected') ?? undefined

export function useWallet(): State {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    () => state,
  )
}

export function devAccounts(n = 10): Secret[] {
  const m = Mnemonic.fromPhrase(DEV_MNEMONIC)
  const out: Secret[] = []
  for (let i = 0; i < n; i++) {
    const w = HDNodeWallet.fromMnemonic(m, `m/44'/60'/0'/0/${i}`)
    out.push({ address: w.address, label: `dev ${i}`, privateKey: w.privateKey })
  }
  return out
}
let devCache: Secret[] | undefined
function devs(): Secret[] {
  return (devCache ??= devAccounts())
}

export async function loadChainId(): Promise<number> {
  if (state.chainId === undefined) set({ chainId: Number(await rpc<string>('eth_chainId')) })
  return state.chainId!
}

/** Every account the wallet can use now. */
export function accounts(s: State = state): Account[] {
  const out: Account[] = []
  for (const a of s.vault?.addresses ?? []) out.push({ ...a, kind: 'local' })
  for (const a of s.injectedAccounts) out.push({ address: a, label: 'injected', kind: 'injected' })
  if (s.chainId === DEV_CHAIN_ID) for (const d of devs()) out.push({ address: d.address, label: d.label, kind: 'dev' })
  return out
}

export function select(address: string) {
  localStorage.setItem('peerchain.selected', address)
  set({ selected: address })
}

export function selectedAccount(s: State = state): Account | undefined {
  const all = accounts(s)
  return all.find((a) => a.address.toLowerCase() === s.selected?.toLowerCase()) ?? all[0]
}

/** Creates or extends the vault with a new random key, or an imported key or mnemonic. */
export async function addKey(password: string, source: { kind: 'new' } | { kind: 'key'; key: string } | { kind: 'mnemonic'; phrase: string; index?: number }, label: string): Promise<string> {
  let w: Wallet | HDNodeWallet
  if (source.kind === 'new') w = Wallet.createRandom()
  else if (source.kind === 'key') {
    const k = source.key.trim()
    w = new Wallet(k.startsWith('0x') ? k : '0x' + k)
  } else w = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(source.phrase.trim().replace(/\s+/g, ' ')), `m/44'/60'/0'/0/${source.index ?? 0}`)
  let secrets: Secret[] = []
  if (state.vault) {
    secrets = state.unlocked && state.password === password ? state.unlocked : await open(state.vault, password)
  }
  if (!secrets.some((s) => s.address === w.address)) secrets.push({ address: w.address, label: label || `account ${secrets.length + 1}`, privateKey: w.privateKey })
  const vault = await seal(secrets, password)
  localStorage.setItem(VAULT_KEY, JSON.stringify(vault))
  set({ vault, unlocked: secrets, password })
  select(w.address)
  return w.address
}

export async function unlock(password: string) {
  if (!state.vault) throw new Error('no wallet in this browser yet')
  const unlocked = await open(state.vault, password)
  set({ unlocked, password })
}

export function lock() {
  set({ unlocked: undefined, password: undefined })
}

export function forgetVault() {
  localStorage.removeItem(VAULT_KEY)
  set({ vault: undefined, unlocked: undefined, password: undefined })
}

/** The private key of an account, for export by its owner. */
export function exportKey(address: string): string | undefined {
  return state.unlocked?.find((s) => s.address === address)?.privateKey
}

// ---- injected wallets

export function discoverInjected() {
  const seen = new Set(state.injected.map((p) => p.info.uuid))
  window.addEventListener('eip6963:announceProvider', (ev: Event) => {
    const d = (ev as CustomEvent).detail
    if (!d?.info?.uuid || seen.has(d.info.uuid)) return
    seen.add(d.info.uuid)
    set({ injected: [...state.injected, d] })
  })
  window.dispatchEvent(new Event('eip6963:requestProvider'))
  const legacy = (window as unknown as { ethereum?: Eip1193 }).ethereum
  if (legacy && !seen.has('window.ethereum')) {
    seen.add('window.ethereum')
    set({ injected: [...state.injected, { info: { name: 'Browser wallet (window.ethereum)', uuid: 'window.ethereum' }, provider: legacy }] })
  }
}

export async function connectInjected(p: Eip1193) {
  const accs: string[] = await p.request({ method: 'eth_requestAccounts' })
  set({ injectedProvider: p, injectedAccounts: accs.map((a) => getAddress(a)) })
  if (accs[0]) select(getAddress(accs[0]))
}

// ---- sending

export interface TxRequest {
  to?: string
  value?: bigint
  data?: string
  gas?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
}

export type Speed = 'slow' | 'normal' | 'fast'
export interface Fees {
  baseFee: bigint
  tips: Record<Speed, bigint>
}

/** Fee levels: the 10th, 50th and 90th percentile tips of the last 20 blocks. */
export async function suggestFees(): Promise<Fees> {
  let baseFee = 0n
  const tips: Record<Speed, bigint> = { slow: 0n, normal: 0n, fast: 0n }
  try {
    const h = await rpc<{ baseFeePerGas: string[]; reward?: string[][] }>('eth_feeHistory', ['0x14', 'latest', [10, 50, 90]])
    baseFee = BigInt(h.baseFeePerGas[h.baseFeePerGas.length - 1] ?? 0)
    const rewards = (h.reward ?? []).filter((r) => r.length === 3)
    const med = (i: number) => {
      const xs = rewards.map((r) => BigInt(r[i])).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      return xs.length ? xs[Math.floor(xs.length / 2)] : 0n
    }
    tips.slow = med(0)
    tips.normal = med(1)
    tips.fast = med(2)
  } catch {
    const gp = BigInt(await rpc<string>('eth_gasPrice'))
    baseFee = gp
  }
  let suggested = 1_000_000_000n
  try {
    suggested = BigInt(await rpc<string>('eth_maxPriorityFeePerGas'))
  } catch {
    // keep 1 gwei
  }
  // Empty blocks pay no tips: take the peer's suggestion as the floor.
  if (tips.normal < suggested) tips.normal = suggested
  if (tips.slow === 0n || tips.slow > tips.normal) tips.slow = tips.normal / 2n > 0n ? tips.normal / 2n : tips.normal
  if (tips.fast < tips.normal * 2n) tips.fast = tips.normal * 2n
  return { baseFee, tips }
}

export function feeFor(f: Fees, speed: Speed): { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } {
  const tip = f.tips[speed]
  return { maxPriorityFeePerGas: tip, maxFeePerGas: f.baseFee * 2n + tip }
}

function secretOf(address: string): Secret | undefined {
  const a = address.toLowerCase()
  return state.unlocked?.find((s) => s.address.toLowerCase() === a) ?? (state.chainId === DEV_CHAIN_ID ? devs().find((s) => s.address.toLowerCase() === a) : undefined)
}

/** Estimates gas for tx from `from` (throws the RPC error, revert data included). */
export async function estimateGas(from: string, tx: TxRequest): Promise<bigint> {
  const g = await rpc<string>('eth_estimateGas', [
    { from, to: tx.to, value: tx.value !== undefined ? toQuantity(tx.value) : undefined, data: tx.data },
  ])
  return BigInt(g)
}

/** Signs and sends tx from account; returns the transaction hash. */
export async function send(account: Account, tx: TxRequest, speed: Speed = 'normal'): Promise<string> {
  const gas = tx.gas ?? ((await estimateGas(account.address, tx)) * 12n) / 10n
  const fees = tx.maxFeePerGas !== undefined ? { maxFeePerGas: tx.maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? 0n } : feeFor(await suggestFees(), speed)
  let hash: string
  if (account.kind === 'injected') {
    if (!state.injectedProvider) throw new Error('the injected wallet is not connected')
    hash = await state.injectedProvider.request({
      method: 'eth_sendTransaction',
      params: [
        {
          from: account.address,
          to: tx.to,
          value: toQuantity(tx.value ?? 0n),
          data: tx.data,
          gas: toQuantity(gas),
          maxFeePerGas: toQuantity(fees.maxFeePerGas),
          maxPriorityFeePerGas: toQuantity(fees.maxPriorityFeePerGas),
        },
      ],
    })
  } else {
    const secret = secretOf(account.address)
    if (!secret) throw new Error('the wallet is locked: unlock it with its password to sign')
    const chainId = await loadChainId()
    const nonce = BigInt(await rpc<string>('eth_getTransactionCount', [account.address, 'pending']))
    const raw = await new Wallet(secret.privateKey).signTransaction({
      type: 2,
      chainId,
      nonce: Number(nonce),
      to: tx.to ?? null,
      value: tx.value ?? 0n,
      data: tx.data ?? '0x',
      gasLimit: gas,
      ...fees,
    })
    hash = await rpc<string>('eth_sendRawTransaction', [raw])
  }
  record({ hash, from: account.address, to: tx.to ?? null, value: (tx.value ?? 0n).toString(), time: Math.floor(Date.now() / 1000) })
  return hash
}

// ---- local history of sent transactions

export interface Sent {
  hash: string
  from: string
  to: string | null
  value: string
  time: number
}
const HIST_KEY = 'peerchain.sent.v1'

export function history(): Sent[] {
  try {
    const v = JSON.parse(localStorage.getItem(HIST_KEY) ?? '[]')
    return Array.isArray(v) ? v : []
  } catch {
    return []
  }
}

function record(s: Sent) {
  const h = [s, ...history()].slice(0, 200)
  localStorage.setItem(HIST_KEY, JSON.stringify(h))
  set({})
}

/** Waits for a receipt, polling each second, up to timeoutMs. */
export async function waitReceipt(hash: string, timeoutMs = 120_000): Promise<any> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const r = await rpc<any>('eth_getTransactionReceipt', [hash])
    if (r) return r
    await new Promise((res) => setTimeout(res, 1000))
  }
  throw new Error(`transaction ${hash} not mined within ${timeoutMs / 1000} s`)
}
