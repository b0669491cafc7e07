package params

import (
	"math/big"
	"strings"
	"testing"

	gparams "github.com/ethereum/go-ethereum/params"
)

func TestDevGenesis(t *testing.T) {
	g, err := DevGenesis()
	if err != nil {
		t.Fatal(err)
	}
	if g.ChainID().Int64() != DevChainID {
		t.Fatalf("chain id %v", g.ChainID())
	}
	if len(g.Spec.Alloc) != DevAccounts+1 {
		t.Fatalf("%d allocations, want %d dev accounts and the EIP-2935 contract", len(g.Spec.Alloc), DevAccounts)
	}
	if _, ok := g.Spec.Alloc[gparams.HistoryStorageAddress]; !ok {
		t.Fatal("EIP-2935 history contract missing from genesis")
	}
	c := g.Config()
	if !c.IsOsaka(common0, 0) || c.IsAmsterdam(common0, 0) || c.TerminalTotalDifficulty != nil {
		t.Fatal("dev chain must run Osaka and nothing later, without a merge")
	}
	h := g.Block().Header()
	if h.WithdrawalsHash == nil || h.RequestsHash == nil || h.ParentBeaconRoot == nil || h.ExcessBlobGas == nil {
		t.Fatal("genesis header lacks post-London fields")
	}
	if g.Pow.TargetBlockTime != 2 {
		t.Fatalf("dev target block time %d", g.Pow.TargetBlockTime)
	}
}

func TestGenesisErrorsNameTheRule(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{`, "decode genesis JSON"},
		{`{"difficulty":"0x1","gasLimit":"0x5000","alloc":{}}`, "config: missing"},
		{`{"config":{},"difficulty":"0x1","gasLimit":"0x5000","alloc":{}}`, "config.chainId"},
		{`{"config":{"chainId":5,"londonBlock":3},"difficulty":"0x1","gasLimit":"0x5000","alloc":{}}`, "config.londonBlock 3"},
		{`{"config":{"chainId":5,"osakaTime":100},"difficulty":"0x1","gasLimit":"0x5000","alloc":{}}`, "config.osakaTime 100"},
		{`{"config":{"chainId":5,"amsterdamTime":0},"difficulty":"0x1","gasLimit":"0x5000","alloc":{}}`, "config.amsterdamTime"},
		{`{"config":{"chainId":5,"terminalTotalDifficulty":0},"difficulty":"0x1","gasLimit":"0x5000","alloc":{}}`, "terminalTotalDifficulty"},
		{`{"config":{"chainId":5},"gasLimit":"0x5000","alloc":{}}`, "missing required field 'difficulty'"},
		{`{"config":{"chainId":5},"difficulty":"0x0","gasLimit":"0x5000","alloc":{}}`, "difficulty: missing or zero"},
		{`{"config":{"chainId":5,"peerchain":{"minimumDifficulty":"0x100"}},"difficulty":"0x10","gasLimit":"0x5000","alloc":{}}`, "below config.peerchain.minimumDifficulty"},
		{`{"config":{"chainId":5,"peerchain":{"targetBlockTime":0}},"difficulty":"0x10000","gasLimit":"0x5000","alloc":{}}`, "targetBlockTime 0"},
		{`{"config":{"chainId":5,"peerchain":{"targetBlockTime":10,"difficultyHalfLife":5}},"difficulty":"0x10000","gasLimit":"0x5000","alloc":{}}`, "difficultyHalfLife 5"},
		{`{"config":{"chainId":5},"difficulty":"0x10000","gasLimit":"0x10","alloc":{}}`, "gasLimit 16"},
		{`{"config":{"chainId":5},"difficulty":"0x10000","gasLimit":"0x5000","extraData":"0x` + strings.Repeat("00", 33) + `","alloc":{}}`, "extraData: 33 bytes"},
		{`{"config":{"chainId":5},"difficulty":"0x10000","gasLimit":"0x5000","excessBlobGas":"0x1","alloc":{}}`, "excessBlobGas 1"},
		{`{"config":{"chainId":5},"number":"0x3","difficulty":"0x10000","gasLimit":"0x5000","alloc":{}}`, "number 3"},
	}
	for _, c := range cases {
		_, err := ParseGenesis([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n  got %v\n  want an error containing %q", c.json, err, c.want)
		}
	}
	g, err := ParseGenesis([]byte(`{"config":{"chainId":5},"difficulty":"0x10000","gasLimit":"0x5000","alloc":{}}`))
	if err != nil {
		t.Fatalf("minimal genesis: %v", err)
	}
	if g.Pow.TargetBlockTime != DefaultPowConfig().TargetBlockTime || g.Config().LondonBlock.Sign() != 0 {
		t.Fatal("defaults not filled")
	}
}

// FuzzParseGenesis: any input gets a genesis or an error, never a crash.
func FuzzParseGenesis(f *testing.F) {
	f.Add(devGenesisJSON)
	f.Add([]byte(`{"config":{"chainId":5},"difficulty":"0x10000","gasLimit":"0x5000","alloc":{"0x0000000000000000000000000000000000000001":{"balance":"0x1"}}}`))
	f.Add([]byte(`{"config":{"chainId":5,"peerchain":{"blockReward":"-1"}},"difficulty":"0x10000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGenesis(data)
		if err == nil && (g.Block() == nil || g.Config().ChainID.Sign() <= 0) {
			t.Fatal("accepted genesis without a block or chain id")
		}
	})
}

var common0 = new(big.Int)

func TestGenesisJSONRoundTrip(t *testing.T) {
	g, err := ParseGenesis([]byte(`{"config":{"chainId":77,"peerchain":{"targetBlockTime":5,"difficultyHalfLife":50,"minimumDifficulty":"0x3","blockReward":"0x7"}},"difficulty":"0x100","gasLimit":"0x1000000","timestamp":"0x10","alloc":{"0x0000000000000000000000000000000000000001":{"balance":"0x5"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := g.JSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseGenesis(data)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, data)
	}
	if back.Hash() != g.Hash() || back.Pow.TargetBlockTime != 5 || back.Pow.MinimumDifficulty.Int64() != 3 || back.Pow.BlockReward.Int64() != 7 {
		t.Fatalf("round trip changed the genesis:\n%s", data)
	}
}
