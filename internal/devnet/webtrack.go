package devnet

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Polling of the tracker: every peer's head each headEvery, its
// connections (peerchain_peers, net_peerCount) every linksEvery ticks.
const (
	headEvery  = 250 * time.Millisecond
	linksEvery = 4
	// pollTimeout bounds one peer's answers in a tick.
	pollTimeout = 2 * time.Second
	// freshFor is how old the tracker's view of a peer may be for the
	// status line to use it instead of asking the peer itself.
	freshFor = 2 * time.Second
)

// PeerView is one peer as the devnet page shows it.
type PeerView struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Alive    bool   `json:"alive"`
	PID      int    `json:"pid"`
	RPC      string `json:"rpc"`
	ID       string `json:"peerId,omitempty"`
	Miner    bool   `json:"miner"`
	Coinbase string `json:"coinbase,omitempty"`
	// Head is the peer's head, HeadHash zero until it answered once
	// since it started.
	Head     uint64      `json:"head"`
	HeadHash common.Hash `json:"headHash"`
	// Connected names the peers (and, for a light peer, the sources) it
	// is connected to: the edges of the graph.
	Connected []string `json:"connected"`
	// PeerCount is net_peerCount (a light peer's sources in use).
	PeerCount uint64 `json:"peerCount"`
	// Group is the peer's group in the partition in force, -1 if none.
	Group int    `json:"group"`
	Err   string `json:"error,omitempty"`
	// Fronts names the peer the liar forwards to.
	Fronts string `json:"fronts,omitempty"`
	// Fault is the delay, loss and bandwidth on the peer's link, if any.
	Fault *Fault `json:"fault,omitempty"`
}

// WebState is GET /api/state: the whole devnet as the page draws it.
type WebState struct {
	// Seq grows by one with every change the tracker publishes.
	Seq       uint64      `json:"seq"`
	Time      int64       `json:"time"`
	Peers     []PeerView  `json:"peers"`
	Partition [][]string  `json:"partition"`
	Blocks    []BlockNode `json:"blocks"`
	Reorgs    []Reorg     `json:"reorgs"`
}

// WebEvent is one message of GET /api/events: "head", "reorg", "down",
// "up", "partition", "heal" or "fault", with the fields of its kind.
type WebEvent struct {
	Type   string     `json:"type"`
	Time   int64      `json:"time"`
	Peer   string     `json:"peer,omitempty"`
	Head   *HeadMove  `json:"head,omitempty"`
	Reorg  *Reorg     `json:"reorg,omitempty"`
	Groups [][]string `json:"groups,omitempty"`
	// Fault is a "fault" event's new fault on Peer's link ("-" cleared).
	Fault string `json:"fault,omitempty"`
}

// tracker polls every peer's head and connections, builds the block tree
// and publishes the state and its events to the page's subscribers. Its
// run goroutine owns the tree; readers get copies under mu.
type tracker struct {
	s    *Supervisor
	tree *blockTree
	// counted is, per peer, the pid whose peer count was last read: a
	// peer not counted since it started is asked everything each tick.
	counted map[string]int
	// poked asks for a tick now: a peer's process exited.
	poked chan struct{}
	mu    struct {
		sync.Mutex
		state WebState
		// polled is when each peer's head was last read.
		polled map[string]time.Time
		subs   map[chan []byte]struct{}
	}
}

func newTracker(s *Supervisor) *tracker {
	t := &tracker{s: s, tree: newBlockTree(), counted: make(map[string]int), poked: make(chan struct{}, 1)}
	t.mu.polled = make(map[string]time.Time)
	t.mu.subs = make(map[chan []byte]struct{})
	t.mu.state = WebState{Peers: []PeerView{}, Blocks: []BlockNode{}, Reorgs: []Reorg{}}
	return t
}

// polled is one peer's answers in a tick.
type polled struct {
	head      *blockRef
	connected []string // peer ids or source names; nil when not asked
	count     uint64
	counted   bool
	err       error
}

// run polls until ctx ends.
func (t *tracker) run(ctx context.Context) {
	tick := time.NewTicker(headEvery)
	defer tick.Stop()
	prev := map[string]PeerView{}
	var prevGroups [][]string
	poll := true
	for n := 0; ; n++ {
		prev, prevGroups = t.step(ctx, poll, poll && n%linksEvery == 0, prev, prevGroups)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			poll = true
		case <-t.poked:
			poll = false // publish who is down now, ask the peers next tick
		}
	}
}

// poke makes the next tick happen now, so that a peer that died is marked
// down without waiting for the tick.
func (t *tracker) poke() {
	select {
	case t.poked <- struct{}{}:
	default:
	}
}

// step is one tick: ask every alive peer (unless poll is false), update
// the tree, publish.
func (t *tracker) step(ctx context.Context, poll, links bool, prev map[string]PeerView, prevGroups [][]string) (map[string]PeerView, [][]string) {
	procs := t.s.procs()
	infos := make([]Peer, len(procs))
	answers := make([]polled, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		infos[i] = t.s.infoOf(p)
		if !infos[i].Alive || !poll {
			continue
		}
		// A peer (re)started since the last tick is asked everything.
		all := links || t.counted[infos[i].Name] != infos[i].PID
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = pollPeer(ctx, infos[i].RPC, all)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return prev, prevGroups
	}
	t.s.mu.Lock()
	groups := t.s.mu.partition
	var liar *Peer
	if t.s.mu.liar != nil {
		l := *t.s.mu.liar
		liar = &l
	}
	t.s.mu.Unlock()

	now := time.Now()
	ms := now.UnixMilli()
	var events []WebEvent
	var fresh []string               // the peers whose head and count are read
	names := make(map[string]string) // peer id or RPC URL → name
	for _, info := range infos {
		names[info.ID], names[info.RPC] = info.Name, info.Name
	}
	if liar != nil {
		names[liar.RPC] = liar.Name
	}
	group := map[string]int{}
	for gi, g := range groups {
		for _, n := range g {
			group[n] = gi
		}
	}
	next := make(map[string]PeerView, len(infos))
	views := make([]PeerView, 0, len(infos)+1)
	for i, info := range infos {
		v := PeerView{Name: info.Name, Kind: info.Kind, Alive: info.Alive, PID: info.PID, RPC: info.RPC, ID: info.ID,
			Miner: info.Miner, Coinbase: info.Coinbase, Group: -1, Connected: []string{}, Fault: info.Fault}
		if gi, ok := group[info.Name]; ok {
			v.Group = gi
		}
		old, seen := prev[info.Name]
		switch {
		case seen && old.Alive && !info.Alive:
			events = append(events, WebEvent{Type: "down", Time: ms, Peer: info.Name})
			t.tree.forget(info.Name)
		case seen && !old.Alive && info.Alive:
			events = append(events, WebEvent{Type: "up", Time: ms, Peer: info.Name})
		}
		if seen && faultText(old.Fault) != faultText(info.Fault) {
			events = append(events, WebEvent{Type: "fault", Time: ms, Peer: info.Name, Fault: faultText(info.Fault)})
		}
		a := answers[i]
		if info.Alive && seen && old.Alive && old.PID == info.PID {
			// Keep what this tick did not ask (connections) or could
			// not read.
			v.Head, v.HeadHash, v.Connected, v.PeerCount = old.Head, old.HeadHash, old.Connected, old.PeerCount
		}
		if !info.Alive {
			next[info.Name] = v
			views = append(views, v)
			continue
		}
		if a.err != nil {
			v.Err = a.err.Error()
		}
		if a.head != nil {
			v.Head, v.HeadHash = a.head.Number, a.head.Hash
			url := info.RPC
			fetch := func(h common.Hash) (blockRef, error) { return fetchBlock(ctx, url, h) }
			move, reorg := t.tree.observe(info.Name, *a.head, now, fetch)
			if move != nil {
				events = append(events, WebEvent{Type: "head", Time: ms, Peer: info.Name, Head: move})
			}
			if reorg != nil {
				events = append(events, WebEvent{Type: "reorg", Time: ms, Peer: info.Name, Reorg: reorg})
			}
		}
		if a.counted {
			v.PeerCount = a.count
			t.counted[info.Name] = info.PID
		}
		if a.head != nil && t.counted[info.Name] == info.PID {
			fresh = append(fresh, info.Name)
		}
		if a.connected != nil {
			v.Connected = []string{}
			for _, id := range a.connected {
				if n, ok := names[id]; ok && n != info.Name {
					v.Connected = append(v.Connected, n)
				}
			}
			slices.Sort(v.Connected)
			v.Connected = slices.Compact(v.Connected)
		}
		next[info.Name] = v
		views = append(views, v)
	}
	if liar != nil {
		views = append(views, PeerView{Name: liar.Name, Kind: liar.Kind, Alive: liar.Alive, RPC: liar.RPC,
			Group: -1, Connected: []string{}, Fronts: liar.Fronts})
	}
	if !reflect.DeepEqual(groups, prevGroups) {
		if groups != nil {
			events = append(events, WebEvent{Type: "partition", Time: ms, Groups: groups})
		} else {
			events = append(events, WebEvent{Type: "heal", Time: ms})
		}
	}
	blocks, reorgs := t.tree.snapshot()
	t.publish(WebState{Time: ms, Peers: views, Partition: groups, Blocks: blocks, Reorgs: reorgs}, events, fresh, now)
	return next, groups
}

// publish stores st (with the next Seq) and sends the events, then the
// state when it changed, to every subscriber; a subscriber too slow to
// take them misses them (the state it gets next is whole).
func (t *tracker) publish(st WebState, events []WebEvent, fresh []string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range fresh {
		t.mu.polled[name] = now
	}
	old := t.mu.state
	st.Seq = old.Seq
	cmp := st
	cmp.Time = old.Time
	changed := !reflect.DeepEqual(old, cmp)
	if changed {
		st.Seq++
		t.mu.state = st
	}
	var msgs [][]byte
	for _, e := range events {
		if data, err := json.Marshal(e); err == nil {
			msgs = append(msgs, sseMessage(e.Type, data))
		}
	}
	if changed {
		if data, err := json.Marshal(st); err == nil {
			msgs = append(msgs, sseMessage("state", data))
		}
	}
	for ch := range t.mu.subs {
		for _, m := range msgs {
			select {
			case ch <- m:
			default:
			}
		}
	}
}

func sseMessage(event string, data []byte) []byte {
	out := make([]byte, 0, len(data)+len(event)+16)
	out = append(out, "event: "...)
	out = append(out, event...)
	out = append(out, "\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// subscribe returns a channel of SSE messages and the state now; cancel
// ends the subscription.
func (t *tracker) subscribe() (<-chan []byte, WebState, func()) {
	ch := make(chan []byte, 256)
	t.mu.Lock()
	t.mu.subs[ch] = struct{}{}
	st := t.mu.state
	t.mu.Unlock()
	return ch, st, func() {
		t.mu.Lock()
		delete(t.mu.subs, ch)
		t.mu.Unlock()
	}
}

// state returns the state last published.
func (t *tracker) state() WebState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.state
}

// fresh returns peer name's head and peer count when the tracker read
// them within freshFor of now, for the status line.
func (t *tracker) fresh(name string, pid int, now time.Time) (PeerView, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.mu.polled[name]
	if !ok || now.Sub(at) > freshFor {
		return PeerView{}, false
	}
	for _, v := range t.mu.state.Peers {
		if v.Name == name && v.PID == pid && v.Alive && v.HeadHash != (common.Hash{}) {
			return v, true
		}
	}
	return PeerView{}, false
}

// pollPeer asks one peer for its head and, with links, its connections.
func pollPeer(ctx context.Context, url string, links bool) polled {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	var out polled
	head, err := getBlock(ctx, url, "eth_getBlockByNumber", "latest")
	if err != nil {
		out.err = err
		return out
	}
	out.head = &head
	if !links {
		return out
	}
	var count hexutil.Uint64
	if err := call(ctx, url, &count, "net_peerCount"); err != nil {
		out.err = err
		return out
	}
	out.count, out.counted = uint64(count), true
	var peers []struct {
		ID string `json:"id"`
	}
	if err := call(ctx, url, &peers, "peerchain_peers"); err != nil {
		out.err = err
		return out
	}
	out.connected = make([]string, len(peers))
	for i, p := range peers {
		out.connected[i] = p.ID
	}
	return out
}

// fetchBlock reads the block with hash h from the peer at url.
func fetchBlock(ctx context.Context, url string, h common.Hash) (blockRef, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	return getBlock(ctx, url, "eth_getBlockByHash", h)
}

func getBlock(ctx context.Context, url, method string, id any) (blockRef, error) {
	var b *struct {
		Number hexutil.Uint64 `json:"number"`
		Hash   common.Hash    `json:"hash"`
		Parent common.Hash    `json:"parentHash"`
		Miner  common.Address `json:"miner"`
	}
	if err := call(ctx, url, &b, method, id, false); err != nil {
		return blockRef{}, err
	}
	if b == nil {
		return blockRef{}, errNoBlock
	}
	return blockRef{Number: uint64(b.Number), Hash: b.Hash, Parent: b.Parent, Miner: b.Miner}, nil
}

// faultText is a fault as the page's event log says it, "-" for none.
func faultText(f *Fault) string {
	if f == nil {
		return "-"
	}
	return f.Text
}
