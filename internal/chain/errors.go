package chain

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Rule names a validation rule a block can break.
type Rule string

// The rules every block must follow. RuleError.Rule is one of these.
const (
	RuleBadAncestor  Rule = "bad-ancestor"  // descends from a block known to be invalid
	RuleNumber       Rule = "number"        // number is parent's + 1
	RuleExtraData    Rule = "extra-data"    // extra data at most 32 bytes
	RuleTimeMedian   Rule = "time-median"   // time above the median of the last 11 blocks
	RuleTimeFuture   Rule = "time-future"   // time at most 15 s ahead of the local clock
	RuleDifficulty   Rule = "difficulty"    // difficulty follows the ASERT rule
	RulePoW          Rule = "pow"           // PoW hash at or below 2^256/difficulty
	RuleMixDigest    Rule = "mix-digest"    // mix digest is the parent's PoW hash
	RuleGasLimit     Rule = "gas-limit"     // gas limit within 1/1024 of the parent's and ≥ 5000
	RuleGasUsed      Rule = "gas-used"      // gas used ≤ limit and equal to the sum of the receipts
	RuleBaseFee      Rule = "base-fee"      // EIP-1559 base fee from the parent
	RuleUncles       Rule = "uncles"        // no uncles
	RuleWithdrawals  Rule = "withdrawals"   // empty withdrawals list and root
	RuleBlobGas      Rule = "blob-gas"      // blob gas fields present and zero
	RuleBeaconRoot   Rule = "beacon-root"   // parent beacon root present and zero
	RuleRequestsHash Rule = "requests-hash" // requests hash of the empty request list
	RuleLaterFork    Rule = "later-fork"    // no fields of forks after Osaka
	RuleTxRoot       Rule = "tx-root"       // transactions root matches the body
	RuleBlockSize    Rule = "block-size"    // RLP size within the EIP-7934 cap
	RuleBlobTx       Rule = "blob-tx"       // no blob transactions
	RuleTransaction  Rule = "transaction"   // every transaction valid: signature, nonce, balance, gas, fee cap
	RuleReceiptRoot  Rule = "receipt-root"  // receipts root matches execution
	RuleBloom        Rule = "bloom"         // logs bloom matches execution
	RuleStateRoot    Rule = "state-root"    // state root matches execution
)

// RuleError is a block that breaks a consensus rule.
type RuleError struct {
	Rule   Rule
	Number uint64
	Hash   common.Hash
	Err    error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("invalid block %d (%s): rule %s: %v", e.Number, e.Hash.TerminalString(), e.Rule, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Permanent reports whether the block can never become valid. A block from
// the future may become valid later; a peer that sends one is not
// misbehaving (clocks differ).
func (e *RuleError) Permanent() bool { return e.Rule != RuleTimeFuture }

// BodyMismatch reports whether the error, from [Validator.VerifyBody], says
// only that a body does not belong to its header: the sender is at fault,
// but the block the header names may still be valid with its own body.
func (e *RuleError) BodyMismatch() bool {
	return e.Rule == RuleUncles || e.Rule == RuleWithdrawals || e.Rule == RuleTxRoot
}

// Errors for blocks that are not invalid but cannot be imported now.
var (
	// ErrKnownBlock: the block is already stored.
	ErrKnownBlock = errors.New("block already known")
	// ErrUnknownParent: the parent is not stored; the caller should fetch
	// it first.
	ErrUnknownParent = errors.New("unknown parent")
	// ErrStateUnavailable: the state a block needs is gone and cannot be
	// rebuilt (deeper than the retained state history).
	ErrStateUnavailable = errors.New("state unavailable")
	// ErrClosed: the chain is closed.
	ErrClosed = errors.New("chain closed")
)

func ruleErr(rule Rule, number uint64, hash common.Hash, format string, args ...any) *RuleError {
	return &RuleError{Rule: rule, Number: number, Hash: hash, Err: fmt.Errorf(format, args...)}
}
