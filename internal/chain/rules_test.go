package chain

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
)

// TestEveryRuleRejects builds, for each consensus rule, a block that breaks
// only that rule (re-sealed so its PoW holds) and checks the chain rejects
// it naming that rule, and never stores it.
func TestEveryRuleRejects(t *testing.T) {
	e := newEnv(t, chaingen.GenesisOptions{})
	base := e.chain(e.gen.Genesis(), 12, nil)
	e.insert(base...)
	parent := base[11]
	// A valid block with one transfer, the template every case breaks.
	valid := e.chain(parent, 1, func(b *chaingen.BlockGen) { b.Transfer(0, addrA, big.NewInt(1)) })[0]
	signer := e.gen.Signer()

	reseal := func(b *types.Block, h *types.Header) *types.Block {
		out, err := e.gen.Reseal(b, h)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	header := func(f func(h *types.Header)) *types.Block {
		h := valid.Header()
		f(h)
		return reseal(valid, h)
	}
	withTxs := func(txs ...*types.Transaction) *types.Block {
		h := valid.Header()
		h.TxHash = types.DeriveSha(types.Transactions(txs), trie.NewStackTrie(nil))
		b := types.NewBlockWithHeader(h).WithBody(types.Body{Transactions: txs, Withdrawals: []*types.Withdrawal{}})
		return reseal(b, h)
	}
	sign := func(inner types.TxData) *types.Transaction {
		tx, err := types.SignTx(types.NewTx(inner), signer, chaingen.Key(0))
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	baseFee := valid.BaseFee()
	feeCap := new(big.Int).Mul(baseFee, big.NewInt(2))
	transfer := func(nonce uint64, gas uint64, value *big.Int, cap *big.Int) *types.Transaction {
		return sign(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: nonce, GasTipCap: big.NewInt(1), GasFeeCap: cap,
			Gas: gas, To: &addrA, Value: value})
	}
	ok := func(v uint64) *uint64 { return &v }

	cases := []struct {
		name  string
		block *types.Block
		rule  Rule
	}{
		{"extra data over 32 bytes", header(func(h *types.Header) { h.Extra = make([]byte, 33) }), RuleExtraData},
		{"timestamp at the median", header(func(h *types.Header) { h.Time = base[5].Time() }), RuleTimeMedian},
		{"difficulty off by one", header(func(h *types.Header) { h.Difficulty = new(big.Int).Add(h.Difficulty, common.Big1) }), RuleDifficulty},
		{"nonce that misses the target", func() *types.Block {
			h := valid.Header()
			for n := uint64(0); ; n++ {
				h.Nonce = types.EncodeNonce(n)
				if err := e.c.val.VerifyHeader(h, parent.Header(), e.anchor(parent), e.c); err != nil && err.Rule == RulePoW {
					return valid.WithSeal(h)
				}
			}
		}(), RulePoW},
		{"mix digest not the parent's PoW hash", header(func(h *types.Header) { h.MixDigest = common.Hash{1} }), RuleMixDigest},
		{"gas limit doubled", header(func(h *types.Header) { h.GasLimit *= 2 }), RuleGasLimit},
		{"gas used above the limit", header(func(h *types.Header) { h.GasUsed = h.GasLimit + 1 }), RuleGasUsed},
		{"gas used not what execution used", header(func(h *types.Header) { h.GasUsed++ }), RuleGasUsed},
		{"base fee off by one", header(func(h *types.Header) { h.BaseFee = new(big.Int).Add(h.BaseFee, common.Big1) }), RuleBaseFee},
		{"uncle hash of a non-empty list", header(func(h *types.Header) { h.UncleHash = common.Hash{2} }), RuleUncles},
		{"withdrawals root missing", header(func(h *types.Header) { h.WithdrawalsHash = nil }), RuleWithdrawals},
		{"excess blob gas non-zero", header(func(h *types.Header) { h.ExcessBlobGas = ok(1) }), RuleBlobGas},
		{"parent beacon root non-zero", header(func(h *types.Header) { h.ParentBeaconRoot = &common.Hash{3} }), RuleBeaconRoot},
		{"requests hash of nothing", header(func(h *types.Header) { h.RequestsHash = &common.Hash{} }), RuleRequestsHash},
		{"Amsterdam slot number", header(func(h *types.Header) { h.SlotNumber = ok(9) }), RuleLaterFork},
		{"transactions root of another body", header(func(h *types.Header) { h.TxHash = types.EmptyTxsHash }), RuleTxRoot},
		{"blob transaction", withTxs(sign(&types.BlobTx{ChainID: uint256.NewInt(1337), GasTipCap: uint256.NewInt(1),
			GasFeeCap: uint256.MustFromBig(feeCap), Gas: 21000, To: addrA, BlobFeeCap: uint256.NewInt(1),
			BlobHashes: []common.Hash{{0x01}}})), RuleBlobTx},
		{"block over 8 MiB", withTxs(sign(&types.DynamicFeeTx{ChainID: big.NewInt(1337), GasTipCap: big.NewInt(1), GasFeeCap: feeCap,
			Gas: 10_000_000, To: &addrA, Data: make([]byte, 9<<20)})), RuleBlockSize},
		{"nonce too high", withTxs(transfer(5, 21000, big.NewInt(1), feeCap)), RuleTransaction},
		{"value above the balance", withTxs(transfer(0, 21000, new(big.Int).Mul(big.NewInt(2000), chaingen.Ether), feeCap)), RuleTransaction},
		{"gas below the intrinsic cost", withTxs(transfer(0, 20999, big.NewInt(1), feeCap)), RuleTransaction},
		{"fee cap below the base fee", withTxs(transfer(0, 21000, big.NewInt(1), big.NewInt(1))), RuleTransaction},
		{"gas above the EIP-7825 cap", withTxs(transfer(0, 1<<24+1, big.NewInt(1), feeCap)), RuleTransaction},
		{"signature for another chain", withTxs(func() *types.Transaction {
			tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1), GasTipCap: big.NewInt(1), GasFeeCap: feeCap,
				Gas: 21000, To: &addrA}), types.LatestSignerForChainID(big.NewInt(1)), chaingen.Key(0))
			if err != nil {
				t.Fatal(err)
			}
			return tx
		}()), RuleTransaction},
		{"receipts root of other receipts", header(func(h *types.Header) { h.ReceiptHash = common.Hash{4} }), RuleReceiptRoot},
		{"logs bloom with a bit set", header(func(h *types.Header) { h.Bloom[0] = 1 }), RuleBloom},
		{"state root of another state", header(func(h *types.Header) { h.Root = common.Hash{5} }), RuleStateRoot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.c.InsertBlock(c.block)
			re, isRule := asRuleError(err)
			if !isRule || re.Rule != c.rule {
				t.Fatalf("got %v, want rule %s", err, c.rule)
			}
			if e.c.HasBlock(c.block.Hash(), c.block.NumberU64()) {
				t.Fatal("invalid block was stored")
			}
			if e.c.CurrentBlock().Hash() != parent.Hash() {
				t.Fatal("head moved")
			}
			t.Log(err)
		})
	}
	// A child of an invalid block is rejected without a look at its body.
	bad := cases[len(cases)-1].block
	child := types.NewBlockWithHeader(&types.Header{ParentHash: bad.Hash(), Number: big.NewInt(14), Difficulty: big.NewInt(1)})
	if _, err := e.c.InsertBlock(child); func() bool { re, ok := asRuleError(err); return !ok || re.Rule != RuleBadAncestor }() {
		t.Fatalf("child of a bad block: %v, want %s", err, RuleBadAncestor)
	}
	// Block 0 that is not the genesis.
	if _, err := e.c.InsertBlock(types.NewBlockWithHeader(&types.Header{Number: big.NewInt(0), Difficulty: big.NewInt(1)})); func() bool {
		re, ok := asRuleError(err)
		return !ok || re.Rule != RuleNumber
	}() {
		t.Fatalf("foreign block 0: %v, want %s", err, RuleNumber)
	}
	// A body that is not the one the header commits to is refused, and does
	// not condemn the block the header names: anyone could pair a fresh
	// block's header with a wrong body.
	other := e.chain(parent, 1, func(b *chaingen.BlockGen) { b.Transfer(0, addrA, big.NewInt(2)) })[0]
	none := []*types.Withdrawal{}
	for _, c := range []struct {
		name string
		body types.Body
		rule Rule
	}{
		{"another block's transactions", types.Body{Transactions: other.Transactions(), Withdrawals: none}, RuleTxRoot},
		{"no transactions", types.Body{Withdrawals: none}, RuleTxRoot},
		{"an uncle", types.Body{Transactions: valid.Transactions(), Uncles: []*types.Header{parent.Header()}, Withdrawals: none}, RuleUncles},
		{"a withdrawal", types.Body{Transactions: valid.Transactions(), Withdrawals: []*types.Withdrawal{{Index: 1}}}, RuleWithdrawals},
		{"no withdrawals list", types.Body{Transactions: valid.Transactions()}, RuleWithdrawals},
	} {
		swapped := types.NewBlockWithHeader(valid.Header()).WithBody(c.body)
		if swapped.Hash() != valid.Hash() {
			t.Fatalf("%s: swapped body changed the hash", c.name)
		}
		_, err := e.c.InsertBlock(swapped)
		if re, ok := asRuleError(err); !ok || re.Rule != c.rule {
			t.Fatalf("%s: got %v, want rule %s", c.name, err, c.rule)
		}
		if re, bad := e.c.IsBad(valid.Hash()); bad {
			t.Fatalf("%s: the genuine block was marked bad: %v", c.name, re)
		}
	}
	// A body that matches its header but breaks a rule condemns the block.
	for _, c := range cases {
		if c.rule == RuleBlobTx {
			if _, bad := e.c.IsBad(c.block.Hash()); !bad {
				t.Fatalf("%s: block not marked bad", c.name)
			}
		}
	}
	// After all that, the valid block is still accepted.
	e.insert(valid)
}

func (e *env) anchor(b *types.Block) uint64 {
	m, err := e.c.getMeta(b.Hash(), b.NumberU64())
	if err != nil {
		e.t.Fatal(err)
	}
	return m.AnchorTime
}
