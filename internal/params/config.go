package params

import (
	"fmt"
	"math/big"

	gparams "github.com/ethereum/go-ethereum/params"
)

// Protocol constants shared by every peerchain network.
const (
	// SafeDepth is how many blocks below the head the "safe" block tag
	// points: a block with this many confirmations.
	SafeDepth = 6
	// FinalizedDepth is how many blocks below the head the "finalized"
	// block tag points. Proof of work has no finality; this depth is where
	// a reorg would need an attacker with a majority of the hash rate for a
	// long time.
	FinalizedDepth = 32
	// StateRetention is how many recent blocks keep their state in memory
	// layers; a reorg deeper than this rolls the persisted state back and
	// re-executes the new branch.
	StateRetention = 128
	// MaxFutureBlockTime is how far (in seconds) a block timestamp may run
	// ahead of the local clock.
	MaxFutureBlockTime = 15
	// MedianTimeSpan is how many ancestors the median-time-past rule looks
	// at: a block's timestamp must be greater than their median.
	MedianTimeSpan = 11
	// MaxExtraDataSize is the largest header extra-data field.
	MaxExtraDataSize = 32
	// ClientName is what web3_clientVersion and the logs call us.
	ClientName = "peerchain"
)

// Version is the client version reported by web3_clientVersion.
const Version = "0.1.0"

// PowConfig holds the proof-of-work parameters of a chain. They are part of
// consensus: every peer of a network must use the same values.
type PowConfig struct {
	// TargetBlockTime is the block interval (seconds) the difficulty rule
	// steers toward. Required, at least 1.
	TargetBlockTime uint64 `json:"targetBlockTime"`
	// DifficultyHalfLife is the ASERT half-life in seconds: a chain that is
	// this far ahead of (behind) its schedule mines at twice (half) the
	// difficulty. Required, at least TargetBlockTime.
	DifficultyHalfLife uint64 `json:"difficultyHalfLife"`
	// MinimumDifficulty is the floor of the difficulty rule. Required, ≥ 1.
	MinimumDifficulty *big.Int `json:"minimumDifficulty"`
	// BlockReward is paid to the coinbase of every block on top of the
	// priority fees. May be zero.
	BlockReward *big.Int `json:"blockReward"`
}

// Validate reports the first parameter that breaks its rule.
func (c *PowConfig) Validate() error {
	switch {
	case c.TargetBlockTime < 1:
		return fmt.Errorf("peerchain.targetBlockTime %d: must be at least 1 second", c.TargetBlockTime)
	case c.DifficultyHalfLife < c.TargetBlockTime:
		return fmt.Errorf("peerchain.difficultyHalfLife %d: must be at least targetBlockTime (%d)", c.DifficultyHalfLife, c.TargetBlockTime)
	case c.MinimumDifficulty == nil || c.MinimumDifficulty.Sign() <= 0:
		return fmt.Errorf("peerchain.minimumDifficulty %v: must be at least 1", c.MinimumDifficulty)
	case c.MinimumDifficulty.BitLen() > 255:
		return fmt.Errorf("peerchain.minimumDifficulty %v: must be below 2^255", c.MinimumDifficulty)
	case c.BlockReward == nil || c.BlockReward.Sign() < 0:
		return fmt.Errorf("peerchain.blockReward %v: must be zero or more", c.BlockReward)
	case c.BlockReward.BitLen() > 128:
		return fmt.Errorf("peerchain.blockReward %v: must be below 2^128", c.BlockReward)
	}
	return nil
}

// DefaultPowConfig is used for every field a genesis file leaves out: a
// short block time suited to development and teaching.
func DefaultPowConfig() PowConfig {
	return PowConfig{
		TargetBlockTime:    2,
		DifficultyHalfLife: 60,
		MinimumDifficulty:  big.NewInt(1 << 16),
		BlockReward:        new(big.Int).Mul(big.NewInt(2), big.NewInt(gparams.Ether)),
	}
}

// NewChainConfig returns the Ethereum chain configuration of a peerchain
// network with the given chain id: every fork through Osaka at genesis, no
// terminal total difficulty, nothing after Osaka.
func NewChainConfig(chainID *big.Int) *gparams.ChainConfig {
	zero := uint64(0)
	return &gparams.ChainConfig{
		ChainID:             new(big.Int).Set(chainID),
		HomesteadBlock:      big.NewInt(0),
		EIP150Block:         big.NewInt(0),
		EIP155Block:         big.NewInt(0),
		EIP158Block:         big.NewInt(0),
		ByzantiumBlock:      big.NewInt(0),
		ConstantinopleBlock: big.NewInt(0),
		PetersburgBlock:     big.NewInt(0),
		IstanbulBlock:       big.NewInt(0),
		MuirGlacierBlock:    big.NewInt(0),
		BerlinBlock:         big.NewInt(0),
		LondonBlock:         big.NewInt(0),
		ArrowGlacierBlock:   big.NewInt(0),
		GrayGlacierBlock:    big.NewInt(0),
		ShanghaiTime:        &zero,
		CancunTime:          &zero,
		PragueTime:          &zero,
		OsakaTime:           &zero,
		BlobScheduleConfig: &gparams.BlobScheduleConfig{
			Cancun: gparams.DefaultCancunBlobConfig,
			Prague: gparams.DefaultPragueBlobConfig,
		},
	}
}

// checkChainConfig fills the fork fields a genesis file left out and rejects
// any that differ from peerchain's fixed rule set.
func checkChainConfig(c *gparams.ChainConfig) error {
	if c.ChainID == nil || c.ChainID.Sign() <= 0 {
		return fmt.Errorf("config.chainId %v: must be a positive integer", c.ChainID)
	}
	if c.ChainID.BitLen() > 63 {
		return fmt.Errorf("config.chainId %v: must fit in 63 bits", c.ChainID)
	}
	blocks := []struct {
		name string
		v    **big.Int
	}{
		{"homesteadBlock", &c.HomesteadBlock}, {"eip150Block", &c.EIP150Block},
		{"eip155Block", &c.EIP155Block}, {"eip158Block", &c.EIP158Block},
		{"byzantiumBlock", &c.ByzantiumBlock}, {"constantinopleBlock", &c.ConstantinopleBlock},
		{"petersburgBlock", &c.PetersburgBlock}, {"istanbulBlock", &c.IstanbulBlock},
		{"muirGlacierBlock", &c.MuirGlacierBlock}, {"berlinBlock", &c.BerlinBlock},
		{"londonBlock", &c.LondonBlock}, {"arrowGlacierBlock", &c.ArrowGlacierBlock},
		{"grayGlacierBlock", &c.GrayGlacierBlock},
	}
	for _, b := range blocks {
		if *b.v == nil {
			*b.v = big.NewInt(0)
		} else if (*b.v).Sign() != 0 {
			return fmt.Errorf("config.%s %v: peerchain activates every fork through Osaka at block 0", b.name, *b.v)
		}
	}
	times := []struct {
		name string
		v    **uint64
	}{
		{"shanghaiTime", &c.ShanghaiTime}, {"cancunTime", &c.CancunTime},
		{"pragueTime", &c.PragueTime}, {"osakaTime", &c.OsakaTime},
	}
	for _, t := range times {
		if *t.v == nil {
			zero := uint64(0)
			*t.v = &zero
		} else if **t.v != 0 {
			return fmt.Errorf("config.%s %d: peerchain activates every fork through Osaka at time 0", t.name, **t.v)
		}
	}
	later := []struct {
		name string
		set  bool
	}{
		{"bpo1Time", c.BPO1Time != nil}, {"bpo2Time", c.BPO2Time != nil}, {"bpo3Time", c.BPO3Time != nil},
		{"bpo4Time", c.BPO4Time != nil}, {"bpo5Time", c.BPO5Time != nil},
		{"amsterdamTime", c.AmsterdamTime != nil}, {"bogotaTime", c.BogotaTime != nil},
		{"ubtTime", c.UBTTime != nil}, {"enableUBTAtGenesis", c.EnableUBTAtGenesis},
		{"mergeNetsplitBlock", c.MergeNetsplitBlock != nil},
		{"daoForkBlock", c.DAOForkBlock != nil},
	}
	for _, l := range later {
		if l.set {
			return fmt.Errorf("config.%s: not supported, peerchain runs the Osaka rule set without later forks", l.name)
		}
	}
	if c.TerminalTotalDifficulty != nil {
		return fmt.Errorf("config.terminalTotalDifficulty %v: peerchain is proof of work and never merges", c.TerminalTotalDifficulty)
	}
	if c.Clique != nil {
		return fmt.Errorf("config.clique: peerchain is proof of work, clique is not supported")
	}
	if c.BlobScheduleConfig == nil {
		c.BlobScheduleConfig = &gparams.BlobScheduleConfig{}
	}
	if c.BlobScheduleConfig.Cancun == nil {
		c.BlobScheduleConfig.Cancun = gparams.DefaultCancunBlobConfig
	}
	if c.BlobScheduleConfig.Prague == nil {
		c.BlobScheduleConfig.Prague = gparams.DefaultPragueBlobConfig
	}
	c.Ethash = nil
	if err := c.CheckConfigForkOrder(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
