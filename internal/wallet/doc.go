// Package wallet is the user's side of peerchain: keys on disk and the
// JSON-RPC calls that spend them. It owns
//
//   - a keystore: one directory of key files in go-ethereum's encrypted
//     (scrypt + AES-128-CTR, version 3) format, named as geth names them
//     (UTC--<time>--<address>), so geth, clef and MetaMask's JSON import read
//     them and peerchain reads theirs;
//   - key import from a hex private key or from a BIP-39 mnemonic and a
//     BIP-32 derivation path (m/44'/60'/0'/0/i by default, the accounts
//     Hardhat, Anvil and MetaMask derive);
//   - amounts ("1.5", "1.5ether", "2gwei", "1000wei") and addresses parsed
//     and checked, with errors that name the value and the rule;
//   - a JSON-RPC client (go-ethereum's ethclient) for balances and
//     EIP-1559 value transfers, and waiting for their receipts.
//
// Sending a transfer takes four steps, each its own call so a user interface
// can show the transaction before it asks for the passphrase:
//
//  1. Dial the node (the call checks a node answers eth_chainId).
//  2. PrepareTransfer fills chain id, pending nonce, fees (tip from
//     eth_maxPriorityFeePerGas, fee cap = tip + 2 × the latest base fee) and
//     gas (eth_estimateGas), and checks the balance covers the worst case.
//  3. Keystore.SignTx decrypts the sender's key with its passphrase and signs.
//  4. Client.Send submits the raw transaction; Client.WaitReceipt polls for
//     the receipt until it comes or the timeout passes.
//
// The keystore keeps no key in memory beyond one call and starts no
// goroutines; it re-reads the directory on every call, so several processes
// can share it.
//
// Errors wrap one of the Err values of errors.go with %w, so callers can
// classify them with errors.Is. Messages never contain a passphrase, a
// private key or a mnemonic.
//
// wallet imports no other peerchain package except params.
package wallet
