// The search box: a block number, a block or transaction hash, an address.
import { useState } from 'react'
import { navigate } from '../router'
import { rpc } from '../rpc'

export default function Search() {
  const [q, setQ] = useState('')
  const [msg, setMsg] = useState('')
  const go = async (e: React.FormEvent) => {
    e.preventDefault()
    const s = q.trim()
    setMsg('')
    if (/^\d+$/.test(s)) return navigate(`/block/${s}`)
    if (/^0x[0-9a-fA-F]{40}$/.test(s)) return navigate(`/address/${s}`)
    if (/^0x[0-9a-fA-F]{64}$/.test(s)) {
      try {
        const tx = await rpc<unknown>('eth_getTransactionByHash', [s])
        if (tx) return navigate(`/tx/${s}`)
        const b = await rpc<unknown>('eth_getBlockByHash', [s, false])
        if (b) return navigate(`/block/${s}`)
        setMsg('No transaction or block has this hash on this peer.')
      } catch (err) {
        setMsg((err as Error).message)
      }
      return
    }
    setMsg('Enter a block number, a block or transaction hash (0x + 64 hex) or an address (0x + 40 hex).')
  }
  return (
    <form className="search" role="search" onSubmit={go}>
      <label htmlFor="search" className="skip">Search</label>
      <input
        id="search"
        data-test="search-input"
        placeholder="Block number, block or tx hash, address"
        aria-label="Search by block number, hash or address"
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      <button type="submit" data-test="search-go">Search</button>
      {msg && <p role="alert" className="note warn" data-test="search-msg">{msg}</p>}
    </form>
  )
}
