// An address: balance, nonce, code, and its transactions (ots_searchTransactionsBefore, paged).
import type { PageProps } from '.'
import { findContract } from '../contracts'
import { ago, eth, hexNum, short } from '../format'
import { isMethodNotFound, rpc, rpcBatch, useHead, usePoll } from '../rpc'
import { query } from '../router'

const PAGE = 10

export default function Address({ params, path }: PageProps) {
  const address = params.address
  const before = Number(query(path).get('before') ?? 0)
  const head = useHead()
  const { data: info, error } = usePoll(
    () => rpcBatch([['eth_getBalance', [address, 'latest']], ['eth_getTransactionCount', [address, 'latest']], ['eth_getCode', [address, 'latest']]]),
    0,
    [address, head?.number],
  )
  const txs = usePoll<{ txs: any[]; receipts: any[]; firstPage: boolean; lastPage: boolean }>(
    () => rpc('ots_searchTransactionsBefore', [address, before, PAGE]),
    0,
    [address, before, before === 0 ? head?.number : 0],
  )
  const [bal, nonce, code] = (info ?? []) as string[]
  const contract = findContract(address)
  const last = txs.data?.txs[txs.data.txs.length - 1]
  return (
    <section data-test="page-address">
      <h1>Address</h1>
      <p className="mono" data-test="address">{address}</p>
      {error && <p className="note bad">{error.message}</p>}
      <div className="card">
        <dl className="kv">
          <dt>Balance</dt><dd data-test="address-balance">{typeof bal === 'string' ? eth(bal, 18) : '…'}</dd>
          <dt>Nonce</dt><dd>{typeof nonce === 'string' ? hexNum(nonce) : '…'}</dd>
          <dt>Code</dt>
          <dd>
            {typeof code === 'string' ? (code === '0x' ? 'none (an account)' : `${(code.length - 2) / 2} bytes`) : '…'}
            {contract ? <> · <a href={`#/contracts/${address}`} data-test="address-contract">{contract.name}: read and write</a></> : code && code !== '0x' ? <> · <a href={`#/contracts/${address}`}>import its ABI</a></> : null}
          </dd>
        </dl>
      </div>
      <div className="card">
        <h2>Transactions</h2>
        {txs.error && <p className="muted" data-test="ots-missing">{isMethodNotFound(txs.error) ? 'This peer does not serve ots_searchTransactionsBefore (a light peer?): no transaction list.' : txs.error.message}</p>}
        {txs.data && (
          <>
            <div className="scroll">
              <table data-test="address-txs">
                <thead><tr><th>Hash</th><th>Block</th><th>Direction</th><th>Value</th><th className="hide-phone">Age</th></tr></thead>
                <tbody>
                  {txs.data.txs.map((t, k) => (
                    <tr key={t.hash}>
                      <td><a className="mono" href={`#/tx/${t.hash}`}>{short(t.hash)}</a></td>
                      <td><a href={`#/block/${hexNum(t.blockNumber)}`}>#{hexNum(t.blockNumber)}</a></td>
                      <td>{t.from.toLowerCase() === address.toLowerCase() ? <>out → <span className="mono">{short(t.to ?? '', 4) || 'create'}</span></> : <>in ← <span className="mono">{short(t.from, 4)}</span></>}</td>
                      <td>{eth(t.value, 4)}</td>
                      <td className="hide-phone">{txs.data!.receipts[k]?.timestamp ? ago(hexNum(txs.data!.receipts[k].timestamp)) : ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {!txs.data.txs.length && <p className="muted">No transactions.</p>}
            <p className="row">
              {before !== 0 && <a href={`#/address/${address}`}>Newest</a>}
              {!txs.data.lastPage && last && <a href={`#/address/${address}?before=${hexNum(last.blockNumber)}`} data-test="address-older">Older →</a>}
            </p>
          </>
        )}
      </div>
    </section>
  )
}
