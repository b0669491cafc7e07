package wallet

import "errors"

// Errors callers can classify with errors.Is. Every error this package
// returns for bad input or a failed step wraps one of them, with a message
// that names the value and the rule.
var (
	// ErrBadAddress: not a 0x-prefixed 20-byte hex address, or a mixed-case
	// address whose EIP-55 checksum does not match.
	ErrBadAddress = errors.New("bad address")
	// ErrBadAmount: not a non-negative decimal with an optional unit (wei,
	// gwei, ether), too many decimals for its unit, or above 2^256-1 wei.
	ErrBadAmount = errors.New("bad amount")
	// ErrBadKey: not a 32-byte hex secp256k1 private key.
	ErrBadKey = errors.New("bad private key")
	// ErrBadMnemonic: not a valid BIP-39 English mnemonic.
	ErrBadMnemonic = errors.New("bad mnemonic")
	// ErrBadPath: not a BIP-32 derivation path such as m/44'/60'/0'/0/0.
	ErrBadPath = errors.New("bad derivation path")
	// ErrWrongPassphrase: the passphrase does not decrypt the key file.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrUnknownAccount: no key file in the keystore for the address or
	// index.
	ErrUnknownAccount = errors.New("unknown account")
	// ErrAccountExists: the keystore already holds a key for the address.
	ErrAccountExists = errors.New("account already in keystore")
	// ErrBadKeyFile: a key file that cannot be read or decoded.
	ErrBadKeyFile = errors.New("bad key file")
	// ErrNodeUnreachable: no JSON-RPC node answers at the URL.
	ErrNodeUnreachable = errors.New("no node reachable")
	// ErrNodeRejected: the node answered a call with a JSON-RPC error (for
	// example eth_estimateGas or eth_sendRawTransaction refusing the
	// transaction).
	ErrNodeRejected = errors.New("node rejected the call")
	// ErrInsufficientFunds: the sender's balance does not cover value plus
	// the largest fee the transaction may pay.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrReceiptTimeout: no receipt before the wait timed out; the
	// transaction may still be mined later.
	ErrReceiptTimeout = errors.New("no receipt before timeout")
)
