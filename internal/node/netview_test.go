package node

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/peerchain/peerchain/internal/chain/chaingen"
	"github.com/peerchain/peerchain/internal/rpc"
)

// A mining peer and a follower: the follower's network view, over the
// RPC, shows the miner with bytes, its sync version and mesh place; the
// network subscription pushes an arrival of a block gossiped by the
// miner; the propagation histogram counts it; the node status reports
// version, uptime and disk use.
func TestNetworkViewOverRPC(t *testing.T) {
	g, err := chaingen.Genesis(chaingen.GenesisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mcfg := Config{DataDir: t.TempDir(), Genesis: g, Mine: true, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P}
	mcfg.Miner.Coinbase = common.HexToAddress("0xc0ffee0000000000000000000000000000000003")
	miner, err := New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	stopMiner := runNodeValue(t, miner)
	defer stopMiner()
	fcfg := Config{DataDir: t.TempDir(), Genesis: g, RPC: rpc.Config{Addr: "127.0.0.1:0"}, P2P: testP2P}
	fcfg.P2P.Bootnodes = miner.P2PAddrs()
	follower, err := New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	stopFollower := runNodeValue(t, follower)
	defer stopFollower()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := gethrpc.DialWebsocket(ctx, "ws://"+follower.RPCAddr(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events := make(chan rpc.NetEvent, 256)
	sub, err := c.Subscribe(ctx, "peerchain", events, "network")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	minerID := miner.host.ID().String()
	var arrival *rpc.BlockArrival
	for arrival == nil {
		select {
		case ev := <-events:
			if ev.Type == "arrival" && ev.Arrival != nil && ev.Arrival.Via == "gossip" {
				arrival = ev.Arrival
			}
		case err := <-sub.Err():
			t.Fatalf("subscription ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no gossiped arrival pushed within 60s")
		}
	}
	if arrival.From != minerID {
		t.Fatalf("arrival from %s, want the miner %s", arrival.From, minerID)
	}

	var peers []rpc.PeerInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := c.CallContext(ctx, &peers, "peerchain_peers"); err != nil {
			t.Fatal(err)
		}
		if len(peers) == 1 && peers[0].BytesIn > 0 && peers[0].BytesOut > 0 && slices.Contains(peers[0].Mesh, "blocks/1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers %+v: want the miner with bytes both ways in the blocks mesh", peers)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p := peers[0]; p.ID != minerID || p.SyncVersion != 1 || p.Direction != "outbound" || p.Head == nil {
		t.Fatalf("peer %+v: want the miner, sync version 1, outbound, with a head", p)
	}
	var prop rpc.Propagation
	if err := c.CallContext(ctx, &prop, "peerchain_propagation"); err != nil {
		t.Fatal(err)
	}
	if prop.Blocks < 1 || prop.P50Ms == nil || prop.P95Ms == nil || len(prop.Counts) != len(prop.BoundsMs)+1 {
		t.Fatalf("propagation %+v: want the gossiped blocks counted", prop)
	}
	var arrivals []rpc.BlockArrival
	if err := c.CallContext(ctx, &arrivals, "peerchain_blockArrivals", 10); err != nil {
		t.Fatal(err)
	}
	if len(arrivals) == 0 || !slices.ContainsFunc(arrivals, func(a rpc.BlockArrival) bool { return a.Hash == arrival.Hash }) {
		t.Fatalf("blockArrivals %+v lacks the pushed arrival %s", arrivals, arrival.Hash)
	}
	if err := c.CallContext(ctx, &arrivals, "peerchain_blockArrivals", 10_000); err == nil {
		t.Fatal("a count of 10,000 was accepted")
	}
	var raw json.RawMessage
	if err := c.CallContext(ctx, &raw, "peerchain_nodeStatus"); err != nil {
		t.Fatal(err)
	}
	var st rpc.NodeStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Version == "" || st.UptimeSec <= 0 || st.Disk.Bytes <= 0 || st.Peers != 1 || st.Mining.Enabled || st.Head.Number == 0 {
		t.Fatalf("node status %s: want version, uptime, disk use, one peer, not mining, a head", raw)
	}
	var tips rpc.ChainTips
	if err := c.CallContext(ctx, &tips, "peerchain_chainTips"); err != nil {
		t.Fatal(err)
	}
	if tips.Head.Number == 0 || tips.Head.TotalDifficulty == nil {
		t.Fatalf("chain tips %+v: want the head", tips)
	}
	var bans []rpc.BanInfo
	if err := c.CallContext(ctx, &bans, "peerchain_bans"); err != nil || len(bans) != 0 {
		t.Fatalf("bans %+v (%v): want none", bans, err)
	}
}

// runNodeValue runs n until the returned stop is called.
func runNodeValue(t *testing.T, n *Node) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("node stopped at start: %v", err)
	}
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("node did not stop within 20s")
		}
	}
}
