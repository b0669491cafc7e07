// Contracts: deploy from a compiler artifact, import by address + ABI, and a
// form per function (views are called, others sent with the wallet), with
// revert reasons and custom errors decoded.
import { type FunctionFragment, type ParamType, getAddress, isAddress, parseEther } from 'ethers'
import { useState } from 'react'
import type { PageProps } from '.'
import {
  type Artifact,
  type KnownContract,
  decodeRevert,
  findContract,
  fmtValue,
  iface,
  listContracts,
  parseArtifact,
  removeContract,
  revertData,
  saveContract,
} from '../contracts'
import { short } from '../format'
import { rpc } from '../rpc'
import { selectedAccount, send, useWallet, waitReceipt } from '../wallet'

function parseArg(p: ParamType, s: string): unknown {
  const t = s.trim()
  if (p.baseType === 'array' || p.baseType === 'tuple') return JSON.parse(t)
  if (p.baseType === 'bool') {
    if (!/^(true|false)$/i.test(t)) throw new Error(`${p.name || p.type}: want true or false`)
    return t.toLowerCase() === 'true'
  }
  if (/^u?int/.test(p.baseType)) return BigInt(t)
  return t
}

function errText(e: unknown, abi: unknown[]): string {
  const d = revertData(e)
  if (d) return decodeRevert(d, abi)
  return (e as Error).message
}

function Status({ s, test }: { s?: { ok: boolean | null; text: string }; test: string }) {
  if (!s) return null
  return (
    <p role="status" className={`note ${s.ok === null ? 'warn' : s.ok ? 'ok' : 'bad'}`} data-test={test} data-ok={String(s.ok)}>
      {s.text}
    </p>
  )
}

function Deploy() {
  const w = useWallet()
  const [text, setText] = useState('')
  const [arts, setArts] = useState<Artifact[]>([])
  const [pick, setPick] = useState(0)
  const [args, setArgs] = useState<string[]>([])
  const [status, setStatus] = useState<{ ok: boolean | null; text: string; address?: string }>()
  const load = (t: string) => {
    setText(t)
    setStatus(undefined)
    if (!t.trim()) return setArts([])
    try {
      const a = parseArtifact(t).filter((x) => x.bytecode.length > 2)
      if (!a.length) throw new Error('the artifact has no deployable bytecode (an interface or abstract contract?)')
      setArts(a)
      setPick(0)
      setArgs([])
    } catch (e) {
      setArts([])
      setStatus({ ok: false, text: (e as Error).message })
    }
  }
  const art = arts[pick]
  const ctor = art ? iface(art.abi)?.deploy : undefined
  const deploy = async (e: React.FormEvent) => {
    e.preventDefault()
    const acct = selectedAccount(w)
    if (!art || !ctor) return
    if (!acct) return setStatus({ ok: false, text: 'Choose or create an account on the Wallet page first.' })
    try {
      const vals = ctor.inputs.map((p, i) => parseArg(p, args[i] ?? ''))
      const data = art.bytecode + iface(art.abi)!.encodeDeploy(vals).slice(2)
      setStatus({ ok: null, text: `Deploying ${art.name} from ${short(acct.address)}…` })
      const hash = await send(acct, { data })
      setStatus({ ok: null, text: `Pending: ${hash}` })
      const r = await waitReceipt(hash)
      if (r.status !== '0x1' || !r.contractAddress) throw new Error(`deployment failed in block #${Number(r.blockNumber)} (tx ${hash})`)
      const address = getAddress(r.contractAddress)
      saveContract({ address, name: art.name, abi: art.abi, deployTx: hash })
      setStatus({ ok: true, text: `${art.name} deployed at ${address}`, address })
      location.hash = `#/contracts/${address}`
    } catch (err) {
      setStatus({ ok: false, text: errText(err, art.abi) })
    }
  }
  return (
    <div className="card">
      <h2>Deploy</h2>
      <p className="muted">Paste or load a compiler artifact: solc standard-JSON output, solc --combined-json abi,bin, a Hardhat artifact or a Foundry out/*.json.</p>
      <label htmlFor="artifact-file">Artifact file</label>
      <input
        id="artifact-file"
        type="file"
        accept=".json,application/json"
        data-test="artifact-file"
        onChange={(e) => e.target.files?.[0]?.text().then(load)}
      />
      <label htmlFor="artifact-text">Artifact JSON</label>
      <textarea id="artifact-text" data-test="artifact-input" spellCheck={false} value={text} onChange={(e) => load(e.target.value)} />
      {arts.length > 0 && (
        <form onSubmit={deploy}>
          <label htmlFor="artifact-contract">Contract</label>
          <select id="artifact-contract" data-test="artifact-contract" value={pick} onChange={(e) => { setPick(Number(e.target.value)); setArgs([]) }}>
            {arts.map((a, i) => (
              <option key={i} value={i}>{a.name} ({(a.bytecode.length - 2) / 2} bytes)</option>
            ))}
          </select>
          {ctor?.inputs.map((p, i) => (
            <div key={i}>
              <label htmlFor={`ctor-${i}`}>{p.name || `arg ${i}`} ({p.type})</label>
              <input id={`ctor-${i}`} data-test={`ctor-arg-${i}`} value={args[i] ?? ''} onChange={(e) => { const a = [...args]; a[i] = e.target.value; setArgs(a) }} />
            </div>
          ))}
          <p><button type="submit" data-test="deploy-submit">Deploy {art?.name}</button></p>
        </form>
      )}
      <Status s={status} test="deploy-status" />
    </div>
  )
}

function Import() {
  const [address, setAddress] = useState('')
  const [name, setName] = useState('')
  const [abi, setAbi] = useState('')
  const [status, setStatus] = useState<{ ok: boolean; text: string }>()
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    try {
      if (!isAddress(address)) throw new Error(`"${address}" is not an address`)
      let parsed: unknown[]
      try {
        parsed = parseArtifact(abi)[0].abi
      } catch {
        throw new Error('the ABI is not a JSON array or an artifact holding one')
      }
      const code = await rpc<string>('eth_getCode', [address, 'latest'])
      if (code === '0x') throw new Error(`${address} has no code on this chain`)
      const a = getAddress(address)
      saveContract({ address: a, name: name || 'Imported', abi: parsed })
      location.hash = `#/contracts/${a}`
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message })
    }
  }
  return (
    <div className="card">
      <h2>Import an existing contract</h2>
      <form onSubmit={submit}>
        <label htmlFor="import-address">Address</label>
        <input id="import-address" data-test="import-address" value={address} onChange={(e) => setAddress(e.target.value.trim())} />
        <label htmlFor="import-name">Name</label>
        <input id="import-name" value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor="import-abi">ABI (JSON)</label>
        <textarea id="import-abi" data-test="import-abi" value={abi} onChange={(e) => setAbi(e.target.value)} />
        <p><button type="submit" data-test="import-submit">Import</button></p>
      </form>
      {status && <Status s={status} test="import-status" />}
    </div>
  )
}

function Fn({ c, f }: { c: KnownContract; f: FunctionFragment }) {
  const w = useWallet()
  const [args, setArgs] = useState<string[]>([])
  const [value, setValue] = useState('')
  const [status, setStatus] = useState<{ ok: boolean | null; text: string }>()
  const view = f.constant
  const i = iface(c.abi)!
  const id = `fn-${f.name}`
  const run = async (e: React.FormEvent) => {
    e.preventDefault()
    try {
      const vals = f.inputs.map((p, k) => parseArg(p, args[k] ?? ''))
      const data = i.encodeFunctionData(f, vals)
      const acct = selectedAccount(w)
      if (view) {
        setStatus({ ok: null, text: 'Calling…' })
        const out = await rpc<string>('eth_call', [{ to: c.address, data, from: acct?.address }, 'latest'])
        const res = i.decodeFunctionResult(f, out)
        setStatus({ ok: true, text: f.outputs.length ? f.outputs.map((o, k) => `${o.name || o.type}: ${fmtValue(res[k])}`).join('\n') : '(no outputs)' })
        return
      }
      if (!acct) throw new Error('Choose or create an account on the Wallet page first.')
      const v = f.payable && value ? parseEther(value) : 0n
      setStatus({ ok: null, text: 'Sending…' })
      const hash = await send(acct, { to: c.address, data, value: v })
      setStatus({ ok: null, text: `Pending: ${hash}` })
      const r = await waitReceipt(hash)
      if (r.status === '0x1') setStatus({ ok: true, text: `Mined in block #${Number(r.blockNumber)} · tx ${hash}` })
      else {
        let why = 'reverted'
        try {
          why = decodeRevert(await rpc<string>('ots_getTransactionError', [hash]), c.abi)
        } catch {
          // no ots_
        }
        setStatus({ ok: false, text: `Failed in block #${Number(r.blockNumber)}: ${why}` })
      }
    } catch (err) {
      setStatus({ ok: false, text: errText(err, c.abi) })
    }
  }
  return (
    <form className="fn" onSubmit={run} data-test={id}>
      <h3>
        <code>{f.name}</code> <span className="badge warn">{f.stateMutability}</span>
      </h3>
      {f.inputs.map((p, k) => (
        <div key={k}>
          <label htmlFor={`${c.address}-${f.selector}-${k}`}>{p.name || `arg ${k}`} ({p.type})</label>
          <input id={`${c.address}-${f.selector}-${k}`} data-test={`${id}-arg-${k}`} value={args[k] ?? ''} onChange={(e) => { const a = [...args]; a[k] = e.target.value; setArgs(a) }} />
        </div>
      ))}
      {f.payable && (
        <>
          <label htmlFor={`${c.address}-${f.selector}-value`}>Value (ETH)</label>
          <input id={`${c.address}-${f.selector}-value`} data-test={`${id}-value`} value={value} onChange={(e) => setValue(e.target.value)} />
        </>
      )}
      <p><button type="submit" className={view ? 'secondary' : ''} data-test={`${id}-submit`}>{view ? 'Call' : 'Send'}</button></p>
      {status && (
        <p role="status" className={`note result ${status.ok === null ? 'warn' : status.ok ? 'ok' : 'bad'}`} data-test={`${id}-result`} data-ok={String(status.ok)}>
          {status.text}
        </p>
      )}
    </form>
  )
}

function ContractView({ address }: { address: string }) {
  const c = findContract(address)
  if (!c) {
    return (
      <section data-test="page-contract">
        <h1>Contract</h1>
        <p className="note warn">No ABI is known for <code>{address}</code> in this browser: import it with its ABI below.</p>
        <Import />
      </section>
    )
  }
  const i = iface(c.abi)
  const fns = i ? i.fragments.filter((f): f is FunctionFragment => f.type === 'function') : []
  const views = fns.filter((f) => f.constant)
  const writes = fns.filter((f) => !f.constant)
  return (
    <section data-test="page-contract">
      <h1>{c.name}</h1>
      <p>
        <a className="mono" href={`#/address/${c.address}`} data-test="contract-address">{c.address}</a>
        {c.deployTx && (
          <> · deployed in <a className="mono" href={`#/tx/${c.deployTx}`}>{short(c.deployTx)}</a></>
        )}
      </p>
      <div className="grid2">
        <div className="card" data-test="read-functions">
          <h2>Read</h2>
          {!views.length && <p className="muted">No view functions.</p>}
          {views.map((f) => <Fn key={f.selector} c={c} f={f} />)}
        </div>
        <div className="card" data-test="write-functions">
          <h2>Write</h2>
          <p className="muted">Sent from the account chosen on the Wallet page.</p>
          {!writes.length && <p className="muted">No state-changing functions.</p>}
          {writes.map((f) => <Fn key={f.selector} c={c} f={f} />)}
        </div>
      </div>
    </section>
  )
}

export default function Contracts({ params }: PageProps) {
  const [, setTick] = useState(0)
  if (params.address) return <ContractView address={params.address} key={params.address} />
  const known = listContracts()
  return (
    <section data-test="page-contracts">
      <h1>Contracts</h1>
      <div className="grid2">
        <div>
          <Deploy />
        </div>
        <div>
          <div className="card">
            <h2>Your contracts</h2>
            {!known.length && <p className="muted">None yet: deploy or import one.</p>}
            <ul data-test="known-contracts">
              {known.map((c) => (
                <li key={c.address}>
                  <a href={`#/contracts/${c.address}`}>{c.name}</a> <span className="mono">{short(c.address)}</span>{' '}
                  <button className="secondary" aria-label={`Forget ${c.name}`} onClick={() => { removeContract(c.address); setTick((t) => t + 1) }}>Forget</button>
                </li>
              ))}
            </ul>
          </div>
          <Import />
        </div>
      </div>
    </section>
  )
}
