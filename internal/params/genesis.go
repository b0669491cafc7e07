package params

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	gparams "github.com/ethereum/go-ethereum/params"
)

//go:embed dev-genesis.json
var devGenesisJSON []byte

// DevMnemonic is the well-known test mnemonic whose first accounts
// (m/44'/60'/0'/0/i) the dev genesis funds, as Hardhat and Anvil do.
const DevMnemonic = "test test test test test test test test test test test junk"

// DevAccounts is how many accounts of DevMnemonic the dev genesis funds.
const DevAccounts = 20

// DevChainID is the chain id of the embedded dev genesis.
const DevChainID = 1337

// Genesis is a checked genesis specification: go-ethereum's genesis with
// peerchain's proof-of-work parameters.
type Genesis struct {
	// Spec is the go-ethereum genesis; Spec.Config is filled and checked.
	Spec *core.Genesis
	// Pow holds the proof-of-work parameters, defaults filled in.
	Pow PowConfig

	block *types.Block
}

// Config returns the Ethereum chain configuration.
func (g *Genesis) Config() *gparams.ChainConfig { return g.Spec.Config }

// ChainID returns the chain id.
func (g *Genesis) ChainID() *big.Int { return g.Spec.Config.ChainID }

// Block returns the genesis block (computed once, then shared: do not modify).
func (g *Genesis) Block() *types.Block { return g.block }

// Hash returns the genesis block hash.
func (g *Genesis) Hash() common.Hash { return g.block.Hash() }

// DevGenesis returns the embedded dev genesis: chain id 1337, the first 20
// accounts of DevMnemonic funded with 10,000 ether each, a 2-second target
// block time.
func DevGenesis() (*Genesis, error) {
	g, err := ParseGenesis(devGenesisJSON)
	if err != nil {
		return nil, fmt.Errorf("embedded dev genesis: %w", err)
	}
	return g, nil
}

// LoadGenesis reads and checks a genesis JSON file.
func LoadGenesis(path string) (*Genesis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read genesis: %w", err)
	}
	g, err := ParseGenesis(data)
	if err != nil {
		return nil, fmt.Errorf("genesis %s: %w", path, err)
	}
	return g, nil
}

// powConfigJSON is the "peerchain" object inside a genesis "config".
type powConfigJSON struct {
	TargetBlockTime    *math.HexOrDecimal64  `json:"targetBlockTime"`
	DifficultyHalfLife *math.HexOrDecimal64  `json:"difficultyHalfLife"`
	MinimumDifficulty  *math.HexOrDecimal256 `json:"minimumDifficulty"`
	BlockReward        *math.HexOrDecimal256 `json:"blockReward"`
}

// ParseGenesis decodes go-ethereum genesis JSON, fills the defaults and
// checks every rule; the error names the field and the rule it breaks.
func ParseGenesis(data []byte) (*Genesis, error) {
	var spec core.Genesis
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("decode genesis JSON: %w", err)
	}
	var extra struct {
		Config *struct {
			Peerchain *powConfigJSON `json:"peerchain"`
		} `json:"config"`
	}
	if err := json.Unmarshal(data, &extra); err != nil {
		return nil, fmt.Errorf("decode genesis config.peerchain: %w", err)
	}
	pow := DefaultPowConfig()
	if extra.Config != nil && extra.Config.Peerchain != nil {
		p := extra.Config.Peerchain
		if p.TargetBlockTime != nil {
			pow.TargetBlockTime = uint64(*p.TargetBlockTime)
		}
		if p.DifficultyHalfLife != nil {
			pow.DifficultyHalfLife = uint64(*p.DifficultyHalfLife)
		}
		if p.MinimumDifficulty != nil {
			pow.MinimumDifficulty = (*big.Int)(p.MinimumDifficulty)
		}
		if p.BlockReward != nil {
			pow.BlockReward = (*big.Int)(p.BlockReward)
		}
	}
	g := &Genesis{Spec: &spec, Pow: pow}
	if err := g.check(); err != nil {
		return nil, err
	}
	g.block = spec.ToBlock()
	return g, nil
}

func (g *Genesis) check() error {
	s := g.Spec
	if s.Config == nil {
		return errors.New("config: missing (a genesis needs at least config.chainId)")
	}
	if err := checkChainConfig(s.Config); err != nil {
		return err
	}
	if err := g.Pow.Validate(); err != nil {
		return fmt.Errorf("config.%w", err)
	}
	switch {
	case s.Number != 0:
		return fmt.Errorf("number %d: a genesis block is block 0", s.Number)
	case s.ParentHash != (common.Hash{}):
		return fmt.Errorf("parentHash %s: a genesis block has no parent", s.ParentHash)
	case s.GasUsed != 0:
		return fmt.Errorf("gasUsed %d: a genesis block runs no transactions", s.GasUsed)
	case s.Difficulty == nil || s.Difficulty.Sign() == 0:
		return fmt.Errorf("difficulty: missing or zero; proof of work needs at least minimumDifficulty (%v)", g.Pow.MinimumDifficulty)
	case s.Difficulty.Cmp(g.Pow.MinimumDifficulty) < 0:
		return fmt.Errorf("difficulty %v: below config.peerchain.minimumDifficulty %v", s.Difficulty, g.Pow.MinimumDifficulty)
	case s.Difficulty.BitLen() > 255:
		return fmt.Errorf("difficulty %v: must be below 2^255", s.Difficulty)
	case s.GasLimit < gparams.MinGasLimit:
		return fmt.Errorf("gasLimit %d: below the minimum %d", s.GasLimit, gparams.MinGasLimit)
	case s.GasLimit > gparams.MaxGasLimit:
		return fmt.Errorf("gasLimit %d: above the maximum %d", s.GasLimit, gparams.MaxGasLimit)
	case len(s.ExtraData) > MaxExtraDataSize:
		return fmt.Errorf("extraData: %d bytes, at most %d", len(s.ExtraData), MaxExtraDataSize)
	case s.BaseFee != nil && s.BaseFee.Sign() <= 0:
		return fmt.Errorf("baseFeePerGas %v: must be positive", s.BaseFee)
	case s.ExcessBlobGas != nil && *s.ExcessBlobGas != 0:
		return fmt.Errorf("excessBlobGas %d: blob transactions are not supported, must be 0", *s.ExcessBlobGas)
	case s.BlobGasUsed != nil && *s.BlobGasUsed != 0:
		return fmt.Errorf("blobGasUsed %d: blob transactions are not supported, must be 0", *s.BlobGasUsed)
	case s.SlotNumber != nil:
		return errors.New("slotNumber: not supported (an Amsterdam field)")
	}
	for addr, acc := range s.Alloc {
		if acc.Balance != nil && acc.Balance.Sign() < 0 {
			return fmt.Errorf("alloc %s: balance %v is negative", addr, acc.Balance)
		}
		if acc.Balance != nil && acc.Balance.BitLen() > 256 {
			return fmt.Errorf("alloc %s: balance %v does not fit in 256 bits", addr, acc.Balance)
		}
	}
	// The EIP-2935 block-hash history contract is part of every peerchain
	// genesis: blocks record their parent hash in it before their
	// transactions, as on mainnet, so contracts can read it.
	if s.Alloc == nil {
		s.Alloc = types.GenesisAlloc{}
	}
	if acc, ok := s.Alloc[gparams.HistoryStorageAddress]; ok {
		if string(acc.Code) != string(gparams.HistoryStorageCode) {
			return fmt.Errorf("alloc %s: reserved for the EIP-2935 block-hash history contract", gparams.HistoryStorageAddress)
		}
	} else {
		s.Alloc[gparams.HistoryStorageAddress] = types.Account{Nonce: 1, Code: gparams.HistoryStorageCode, Balance: common.Big0}
	}
	if s.BaseFee == nil {
		s.BaseFee = new(big.Int).SetUint64(gparams.InitialBaseFee)
	}
	return nil
}

// NewGenesis checks a genesis built in code (tests, tools).
func NewGenesis(spec *core.Genesis, pow PowConfig) (*Genesis, error) {
	g := &Genesis{Spec: spec, Pow: pow}
	if err := g.check(); err != nil {
		return nil, err
	}
	g.block = spec.ToBlock()
	return g, nil
}

// JSON renders the genesis in go-ethereum's format with the peerchain
// proof-of-work parameters under config.peerchain: what LoadGenesis reads.
func (g *Genesis) JSON() ([]byte, error) {
	base, err := json.Marshal(g.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode genesis: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("encode genesis: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(doc["config"], &cfg); err != nil {
		return nil, fmt.Errorf("encode genesis config: %w", err)
	}
	cfg["peerchain"] = map[string]any{
		"targetBlockTime":    g.Pow.TargetBlockTime,
		"difficultyHalfLife": g.Pow.DifficultyHalfLife,
		"minimumDifficulty":  (*math.HexOrDecimal256)(g.Pow.MinimumDifficulty),
		"blockReward":        (*math.HexOrDecimal256)(g.Pow.BlockReward),
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode genesis config: %w", err)
	}
	doc["config"] = cfgJSON
	return json.MarshalIndent(doc, "", "  ")
}
