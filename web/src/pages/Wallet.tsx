// Wallet: keys kept encrypted in this browser, dev accounts on a dev chain,
// injected wallets; balances, send with a fee choice, pending → mined, history.
import { isAddress, parseEther } from 'ethers'
import { useEffect, useState } from 'react'
import type { PageProps } from '.'
import { decodeRevert, revertData } from '../contracts'
import { ago, eth, gwei, short } from '../format'
import { isMethodNotFound, rpc, rpcBatch, useHead } from '../rpc'
import {
  type Account,
  type Fees,
  type Speed,
  DEV_CHAIN_ID,
  accounts,
  addKey,
  connectInjected,
  discoverInjected,
  feeFor,
  forgetVault,
  history,
  loadChainId,
  lock,
  select,
  selectedAccount,
  send,
  suggestFees,
  unlock,
  useWallet,
  waitReceipt,
} from '../wallet'

function errText(e: unknown): string {
  const d = revertData(e)
  return d ? decodeRevert(d) : (e as Error).message
}

function Keys() {
  const w = useWallet()
  const [password, setPassword] = useState('')
  const [label, setLabel] = useState('')
  const [mode, setMode] = useState<'new' | 'key' | 'mnemonic'>('new')
  const [secret, setSecret] = useState('')
  const [busy, setBusy] = useState(false)
  const [msg, setMsg] = useState<{ ok: boolean; text: string }>()
  const locked = !!w.vault && !w.unlocked
  const run = async (f: () => Promise<unknown>, ok: string) => {
    setBusy(true)
    setMsg(undefined)
    try {
      await f()
      setMsg({ ok: true, text: ok })
      setSecret('')
    } catch (e) {
      setMsg({ ok: false, text: (e as Error).message })
    } finally {
      setBusy(false)
    }
  }
  return (
    <div className="card" data-test="wallet-keys">
      <h2>Keys in this browser</h2>
      <p className="muted">
        Encrypted with your password (PBKDF2, AES-GCM) and kept in this browser only; transactions are signed here.
      </p>
      {locked && (
        <form
          onSubmit={(e) => {
            e.preventDefault()
            run(() => unlock(password), 'Unlocked.')
          }}
        >
          <label htmlFor="unlock-pw">Password</label>
          <div className="inline">
            <input id="unlock-pw" type="password" autoComplete="current-password" data-test="wallet-unlock-password" value={password} onChange={(e) => setPassword(e.target.value)} />
            <button type="submit" disabled={busy || !password} data-test="wallet-unlock">Unlock</button>
          </div>
        </form>
      )}
      {w.unlocked && (
        <div className="row">
          <span className="badge ok" data-test="wallet-unlocked">unlocked</span>
          <button className="secondary" onClick={lock} data-test="wallet-lock">Lock</button>
        </div>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault()
          const src = mode === 'new' ? ({ kind: 'new' } as const) : mode === 'key' ? ({ kind: 'key', key: secret } as const) : ({ kind: 'mnemonic', phrase: secret } as const)
          run(() => addKey(password, src, label), mode === 'new' ? 'New key created.' : 'Key imported.')
        }}
      >
        <h3>{w.vault ? 'Add a key' : 'Create your wallet'}</h3>
        <div className="tabs" role="group" aria-label="Key source">
          {(['new', 'key', 'mnemonic'] as const).map((m) => (
            <button type="button" key={m} aria-pressed={mode === m} onClick={() => setMode(m)} data-test={`key-mode-${m}`}>
              {m === 'new' ? 'New key' : m === 'key' ? 'Import private key' : 'Import mnemonic'}
            </button>
          ))}
        </div>
        {mode !== 'new' && (
          <>
            <label htmlFor="key-secret">{mode === 'key' ? 'Private key (hex)' : 'Mnemonic (12 or 24 words; first account)'}</label>
            <textarea id="key-secret" data-test="key-secret" autoComplete="off" spellCheck={false} value={secret} onChange={(e) => setSecret(e.target.value)} rows={2} />
          </>
        )}
        <div className="grid2">
          <div>
            <label htmlFor="key-label">Label</label>
            <input id="key-label" data-test="key-label" value={label} onChange={(e) => setLabel(e.target.value)} placeholder="my account" />
          </div>
          <div>
            <label htmlFor="key-pw">{w.vault ? 'Wallet password' : 'New password (8+ characters)'}</label>
            <input id="key-pw" type="password" autoComplete="new-password" data-test="key-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          </div>
        </div>
        <p>
          <button type="submit" disabled={busy || password.length < 8} data-test="wallet-create">
            {busy ? 'Working…' : mode === 'new' ? 'Create key' : 'Import'}
          </button>
        </p>
      </form>
      {msg && <p role="status" className={`note ${msg.ok ? 'ok' : 'bad'}`} data-test="wallet-msg">{msg.text}</p>}
      {w.vault && (
        <details>
          <summary>Forget the keys in this browser</summary>
          <p>Removes the encrypted keys from this browser. Funds stay on the chain; without a copy of the key they are lost.</p>
          <button className="secondary" onClick={() => confirm('Remove the keys from this browser?') && forgetVault()}>Forget keys</button>
        </details>
      )}
    </div>
  )
}

function Injected() {
  const w = useWallet()
  const [msg, setMsg] = useState('')
  useEffect(discoverInjected, [])
  return (
    <div className="card">
      <h2>Browser wallet</h2>
      {w.injected.length === 0 && <p className="muted" data-test="injected-none">No injected wallet found (EIP-6963 or window.ethereum).</p>}
      <div className="row">
        {w.injected.map((p) => (
          <button key={p.info.uuid} className="secondary" onClick={() => connectInjected(p.provider).catch((e) => setMsg((e as Error).message))}>
            Connect {p.info.name}
          </button>
        ))}
      </div>
      {msg && <p className="note bad">{msg}</p>}
    </div>
  )
}

function Accounts({ list, sel }: { list: Account[]; sel?: Account }) {
  const head = useHead()
  const [bal, setBal] = useState<Record<string, string>>({})
  const key = list.map((a) => a.address).join()
  useEffect(() => {
    if (!list.length) return
    rpcBatch(list.map((a) => ['eth_getBalance', [a.address, 'latest']])).then((r) => {
      const m: Record<string, string> = {}
      r.forEach((v, i) => {
        if (typeof v === 'string') m[list[i].address] = v
      })
      setBal(m)
    })
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, head?.number])
  return (
    <div className="card">
      <h2>Accounts</h2>
      {!list.length && <p className="muted">No account yet: create one below.</p>}
      <div className="scroll">
        <table data-test="accounts">
          <thead>
            <tr><th>Use</th><th>Account</th><th>Balance</th></tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.address + a.kind} data-test={`account-${a.kind}`} data-address={a.address}>
                <td>
                  <input
                    type="radio"
                    name="account"
                    style={{ width: 'auto' }}
                    aria-label={`Use ${a.label} ${a.address}`}
                    checked={sel?.address === a.address}
                    onChange={() => select(a.address)}
                    data-test="account-radio"
                  />
                </td>
                <td>
                  <div>{a.label} <span className="muted">({a.kind})</span></div>
                  <a className="mono" href={`#/address/${a.address}`} data-test="account-address">{a.address}</a>
                </td>
                <td data-test="account-balance">{bal[a.address] !== undefined ? eth(bal[a.address], 4) : '…'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}

function Send({ from }: { from?: Account }) {
  const [to, setTo] = useState('')
  const [amount, setAmount] = useState('')
  const [speed, setSpeed] = useState<Speed>('normal')
  const [fees, setFees] = useState<Fees>()
  const [status, setStatus] = useState<{ kind: 'pending' | 'mined' | 'failed' | 'error'; text: string; hash?: string }>()
  useEffect(() => {
    suggestFees().then(setFees, () => {})
  }, [])
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    if (!from) return
    if (!isAddress(to)) return setStatus({ kind: 'error', text: `"${to}" is not an address (0x + 40 hex digits)` })
    let value: bigint
    try {
      value = parseEther(amount || '0')
    } catch {
      return setStatus({ kind: 'error', text: `"${amount}" is not an amount of ETH` })
    }
    setStatus({ kind: 'pending', text: 'Signing and sending…' })
    try {
      const hash = await send(from, { to, value }, speed)
      setStatus({ kind: 'pending', text: 'Pending: waiting for a block…', hash })
      const r = await waitReceipt(hash)
      setStatus({ kind: r.status === '0x1' ? 'mined' : 'failed', text: `${r.status === '0x1' ? 'Mined' : 'Failed'} in block #${Number(r.blockNumber)}`, hash })
    } catch (err) {
      setStatus({ kind: 'error', text: errText(err) })
    }
  }
  return (
    <div className="card">
      <h2>Send</h2>
      <form onSubmit={submit} data-test="send-form">
        <p className="muted">From {from ? <span className="mono" data-test="send-from">{from.address}</span> : 'no account selected'}</p>
        <label htmlFor="send-to">To</label>
        <input id="send-to" data-test="send-to" spellCheck={false} value={to} onChange={(e) => setTo(e.target.value.trim())} placeholder="0x…" />
        <label htmlFor="send-amount">Amount (ETH)</label>
        <input id="send-amount" data-test="send-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value.trim())} placeholder="1.0" />
        <fieldset style={{ border: 0, padding: 0, margin: '0.6rem 0' }}>
          <legend style={{ fontWeight: 600 }}>Fee</legend>
          <div className="tabs">
            {(['slow', 'normal', 'fast'] as const).map((s) => (
              <button type="button" key={s} aria-pressed={speed === s} onClick={() => setSpeed(s)} data-test={`fee-${s}`}>
                {s}
                {fees && ` · tip ${gwei(fees.tips[s])}, ≤ ${gwei(feeFor(fees, s).maxFeePerGas)}`}
              </button>
            ))}
          </div>
          {fees && <p className="muted">Base fee {gwei(fees.baseFee)}; tips from the last 20 blocks (10th, 50th, 90th percentile).</p>}
        </fieldset>
        <button type="submit" disabled={!from || status?.kind === 'pending'} data-test="send-submit">Send</button>
      </form>
      {status && (
        <p
          role="status"
          className={`note ${status.kind === 'mined' ? 'ok' : status.kind === 'pending' ? 'warn' : 'bad'}`}
          data-test="send-status"
          data-state={status.kind}
          data-hash={status.hash}
        >
          {status.text}
          {status.hash && (
            <>
              {' '}· <a href={`#/tx/${status.hash}`} className="mono" data-test="send-tx-link">{short(status.hash)}</a>
            </>
          )}
        </p>
      )}
    </div>
  )
}

function History({ address }: { address?: string }) {
  const head = useHead()
  const [ots, setOts] = useState<{ hash: string; from: string; to: string | null; value: string; blockNumber: string }[]>()
  const [otsNote, setOtsNote] = useState('')
  const [mined, setMined] = useState<Record<string, string>>({})
  const local = history().filter((h) => !address || h.from.toLowerCase() === address.toLowerCase() || h.to?.toLowerCase() === address.toLowerCase())
  useEffect(() => {
    if (!address) return
    rpc<{ txs: any[] }>('ots_searchTransactionsBefore', [address, 0, 10]).then(
      (r) => setOts(r.txs),
      (e) => setOtsNote(isMethodNotFound(e) ? 'This peer does not serve ots_ (a light peer?): only transactions sent from this browser are listed.' : (e as Error).message),
    )
    rpcBatch(local.map((h) => ['eth_getTransactionReceipt', [h.hash]])).then((rs) => {
      const m: Record<string, string> = {}
      rs.forEach((r, i) => {
        if (r && !(r instanceof Error)) m[local[i].hash] = (r as any).status === '0x1' ? `mined #${Number((r as any).blockNumber)}` : 'failed'
      })
      setMined(m)
    })
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [address, head?.number, local.length])
  return (
    <div className="card">
      <h2>History</h2>
      <h3>Sent from this browser</h3>
      {!local.length && <p className="muted">Nothing sent yet.</p>}
      <ul data-test="history-local">
        {local.slice(0, 20).map((h) => (
          <li key={h.hash}>
            <a className="mono" href={`#/tx/${h.hash}`}>{short(h.hash)}</a> {eth(h.value, 4)} → <span className="mono">{short(h.to)}</span>{' '}
            <span className={`badge ${mined[h.hash]?.startsWith('mined') ? 'ok' : mined[h.hash] ? 'bad' : 'warn'}`}>{mined[h.hash] ?? 'pending'}</span>{' '}
            <span className="muted">{ago(h.time)}</span>
          </li>
        ))}
      </ul>
      <h3>On the chain (ots_searchTransactionsBefore)</h3>
      {otsNote && <p className="muted">{otsNote}</p>}
      {ots && !ots.length && <p className="muted">No transactions.</p>}
      <ul data-test="history-chain">
        {ots?.map((t) => (
          <li key={t.hash}>
            <a className="mono" href={`#/tx/${t.hash}`}>{short(t.hash)}</a> #{Number(t.blockNumber)} {eth(t.value, 4)}{' '}
            {t.from.toLowerCase() === address?.toLowerCase() ? 'out' : 'in'}
          </li>
        ))}
      </ul>
    </div>
  )
}

export default function WalletPage(_: PageProps) {
  const w = useWallet()
  const [err, setErr] = useState('')
  useEffect(() => {
    loadChainId().catch((e) => setErr((e as Error).message))
  }, [])
  const list = accounts(w)
  const sel = selectedAccount(w)
  return (
    <section data-test="page-wallet">
      <h1>Wallet</h1>
      {err && <p className="note bad">{err}</p>}
      {w.chainId === DEV_CHAIN_ID && (
        <p className="note warn" data-test="dev-note">
          Dev chain (id 1337): the dev accounts of the well-known test mnemonic are offered. Their keys are public: never use them elsewhere.
        </p>
      )}
      <div className="grid2">
        <div>
          <Accounts list={list} sel={sel} />
          <Send from={sel} />
        </div>
        <div>
          <Keys />
          <Injected />
          <History address={sel?.address} />
        </div>
      </div>
    </section>
  )
}
