package node

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/rpc"
	"github.com/peerchain/peerchain/internal/sync"
)

// scrape is one parse of a node's /metrics.
type scrape map[string]*dto.MetricFamily

func scrapeNode(t *testing.T, n *Node) scrape {
	t.Helper()
	resp, err := http.Get("http://" + n.RPCAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	return fams
}

// value sums the samples of a family whose labels include want (a
// counter's or gauge's value, a histogram's count), -1 when the family
// is missing.
func (s scrape) value(name string, want ...string) float64 {
	f, ok := s[name]
	if !ok {
		return -1
	}
	sum := 0.0
metrics:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue metrics
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// runPair starts a mining peer and a follower bootstrapped to it.
func runPair(t *testing.T) (miner, follower *Node) {
	t.Helper()
	g, err := chaingen.Genesis(chaingen.GenesisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mcfg := Config{DataDir: t.TempDir(), Genesis: g, Mine: true, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P}
	mcfg.Miner.Coinbase = common.HexToAddress("0xc0ffee0000000000000000000000000000000004")
	if miner, err = New(mcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runNodeValue(t, miner))
	fcfg := Config{DataDir: t.TempDir(), Genesis: g, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P}
	fcfg.P2P.Bootnodes = miner.P2PAddrs()
	if follower, err = New(fcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runNodeValue(t, follower))
	return miner, follower
}

// waitScrape scrapes n until ok holds, failing after 60 s.
func waitScrape(t *testing.T, n *Node, what string, ok func(scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := scrapeNode(t, n)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A miner and a follower on real libp2p: each /metrics parses as
// Prometheus text and moves as blocks arrive (head, total difficulty,
// imports and their timings, bytes, gossip deliveries, arrivals); peers
// are counted by direction; RPC calls are counted per method.
func TestMetricsMoveAsBlocksArrive(t *testing.T) {
	miner, follower := runPair(t)
	first := waitScrape(t, follower, "the follower imported no gossiped block", func(s scrape) bool {
		return s.value("peerchain_sync_block_arrivals_total", "via", "gossip") >= 1
	})
	head0 := first.value("peerchain_chain_head_number")
	second := waitScrape(t, follower, "the follower's head did not move", func(s scrape) bool {
		return s.value("peerchain_chain_head_number") > head0 &&
			s.value("peerchain_p2p_gossip_messages_total", "topic", "cblocks/1", "outcome", "delivered") >
				first.value("peerchain_p2p_gossip_messages_total", "topic", "cblocks/1", "outcome", "delivered")
	})
	moved := []struct {
		name   string
		labels []string
	}{
		{"peerchain_chain_head_number", nil},
		{"peerchain_chain_total_difficulty", nil},
		{"peerchain_chain_block_inserts_total", []string{"outcome", "head"}},
		{"peerchain_chain_block_import_seconds", nil},
		{"peerchain_chain_block_validation_seconds", nil},
		{"peerchain_chain_block_execution_seconds", nil},
		{"peerchain_chain_blocks_executed_total", nil},
		{"peerchain_p2p_bytes_total", []string{"direction", "in"}},
		{"peerchain_p2p_gossip_messages_total", []string{"outcome", "delivered"}},
		{"peerchain_sync_block_arrivals_total", []string{"via", "gossip"}},
		{"peerchain_sync_block_propagation_seconds", nil},
		{"peerchain_sync_compact_blocks_total", []string{"outcome", "rebuilt"}},
	}
	for _, m := range moved {
		a, b := first.value(m.name, m.labels...), second.value(m.name, m.labels...)
		if a < 0 || b <= a {
			t.Errorf("%s%v did not move: %v then %v", m.name, m.labels, a, b)
		}
	}
	if v := second.value("peerchain_p2p_peers", "direction", "outbound"); v != 1 {
		t.Errorf("follower: %v outbound peers, want 1 (the miner it dialled)", v)
	}
	if v := second.value("peerchain_p2p_bytes_total", "protocol", "status/1"); v <= 0 {
		t.Errorf("follower: no bytes counted for the status/1 handshake: %v", v)
	}
	ms := waitScrape(t, miner, "the miner counted no inbound peer and no mined block", func(s scrape) bool {
		return s.value("peerchain_p2p_peers", "direction", "inbound") == 1 &&
			s.value("peerchain_sync_block_arrivals_total", "via", "mined") >= 1
	})
	if v := ms.value("peerchain_miner_hashes_per_second"); v < 0 {
		t.Error("the miner has no hash rate metric")
	}

	c, err := ethclient.Dial("http://" + follower.RPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := max(scrapeNode(t, follower).value("peerchain_rpc_requests_total", "method", "eth_blockNumber"), 0)
	for range 3 {
		if _, err := c.BlockNumber(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	after := scrapeNode(t, follower)
	if got := after.value("peerchain_rpc_requests_total", "method", "eth_blockNumber") - before; got != 3 {
		t.Errorf("eth_blockNumber counted %v times, want 3", got)
	}
	if after.value("peerchain_rpc_request_duration_seconds", "method", "eth_blockNumber") < 3 {
		t.Error("eth_blockNumber's latency was not observed")
	}
}

// A garbler connects to the follower, answers its handshake and gossips
// a block that does not decode: the follower's metrics count a gossip
// rejection (validation_failed, the sender's penalty) and a ban for a
// malformed message, and the garbler is banned now.
func TestMetricsCountGossipPenaltiesAndBans(t *testing.T) {
	miner, follower := runPair(t)
	waitScrape(t, follower, "the follower imported no block", func(s scrape) bool {
		return s.value("peerchain_chain_head_number") >= 1
	})
	g := follower.cfg.Genesis
	garbler, err := p2p.New(p2p.Config{
		Network: sync.NetworkName(g.ChainID(), g.Hash()), KeyFile: filepath.Join(t.TempDir(), "key"),
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer garbler.Close()
	status, err := rlp.EncodeToBytes(&sync.Status{Version: 1, ChainID: g.ChainID().Uint64(), Genesis: g.Hash(), Head: g.Hash(), TD: g.Block().Difficulty()})
	if err != nil {
		t.Fatal(err)
	}
	garbler.Handle("status/1", 1<<10, func(context.Context, peer.ID, []byte) ([]byte, error) { return status, nil })
	topic, err := garbler.JoinTopic("blocks/1", p2p.TopicOptions{ContentIDs: true},
		func(context.Context, peer.ID, peer.ID, []byte) p2p.Verdict { return p2p.Accept }, func(peer.ID, peer.ID, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := garbler.Start(); err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromString(follower.P2PAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := garbler.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	for !containsPeer(topic.Peers(), follower.host.ID()) {
		if ctx.Err() != nil {
			t.Fatal("the follower never joined the garbler's blocks topic")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := scrapeNode(t, follower)
	for i := 0; !follower.host.IsBanned(garbler.ID()); i++ {
		if ctx.Err() != nil {
			t.Fatal("the follower never banned the garbler")
		}
		if err := topic.Publish(ctx, []byte(fmt.Sprintf("\xff not a block %d", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := scrapeNode(t, follower)
	rej := func(s scrape) float64 {
		return s.value("peerchain_p2p_gossip_rejections_total", "topic", "blocks/1", "reason", "validation_failed")
	}
	if rej(s) <= rej(before) {
		t.Errorf("gossip rejections (validation_failed) %v then %v: the garbled block was not counted", rej(before), rej(s))
	}
	if v := s.value("peerchain_p2p_bans_total", "reason", p2p.BanMalformed); v != 1 {
		t.Errorf("bans for malformed messages: %v, want 1", v)
	}
	if v := s.value("peerchain_p2p_banned_peers"); v != 1 {
		t.Errorf("banned peers: %v, want 1 (the garbler)", v)
	}
	if follower.host.IsBanned(miner.host.ID()) {
		t.Error("the honest miner was banned")
	}
}

func containsPeer(ps []peer.ID, p peer.ID) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
