package rpc

import (
	"errors"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/peerchain/peerchain/internal/params"
)

var errNoNetwork = errors.New("this node runs without peer-to-peer networking")

// peerchainAPI is the peerchain_ namespace: the node's view of its
// network.
type peerchainAPI struct{ b Backend }

// Peers is peerchain_peers: every connected peer with its addresses,
// direction, latency and the head it told us.
func (api *peerchainAPI) Peers() []PeerInfo {
	if api.b.Net == nil {
		return []PeerInfo{}
	}
	return api.b.Net.Peers()
}

// NodeInfo is peerchain_nodeInfo: this node's identity, chain and head.
func (api *peerchainAPI) NodeInfo() map[string]any {
	head := api.b.Chain.CurrentHeader()
	out := map[string]any{
		"client":  params.ClientName + "/v" + params.Version,
		"chainId": (*hexutil.Big)(api.b.Chain.Config().ChainID),
		"genesis": api.b.Chain.Genesis().Hash(),
		"head": map[string]any{
			"number":          hexutil.Uint64(head.Number.Uint64()),
			"hash":            head.Hash(),
			"totalDifficulty": (*hexutil.Big)(api.b.Chain.GetTD(head.Hash(), head.Number.Uint64())),
		},
		"mining": api.b.Miner != nil,
	}
	if api.b.Miner != nil {
		out["coinbase"] = api.b.Miner.Coinbase()
		out["hashrate"] = hexutil.Uint64(api.b.Miner.Hashrate())
	}
	if api.b.Net != nil {
		ni := api.b.Net.NodeInfo()
		out["id"], out["listenAddrs"], out["banned"] = ni.ID, ni.Listen, ni.Banned
		out["peers"] = api.b.Net.PeerCount()
		_, syncing := api.b.Net.Syncing()
		out["syncing"] = syncing
	}
	return out
}

// adminAPI is the admin_ namespace, served only when the RPC listens on a
// loopback address.
type adminAPI struct{ b Backend }

// AddPeer is admin_addPeer: dial a multiaddr ending in /p2p/<id>.
func (api *adminAPI) AddPeer(addr string) (bool, error) {
	if api.b.Net == nil {
		return false, errNoNetwork
	}
	if err := api.b.Net.AddPeer(addr); err != nil {
		return false, err
	}
	return true, nil
}

// BlockPeers is admin_blockPeers: refuse and drop the given peer ids (a
// devnet partition).
func (api *adminAPI) BlockPeers(ids []string) (bool, error) {
	if api.b.Net == nil {
		return false, errNoNetwork
	}
	if err := api.b.Net.BlockPeers(ids); err != nil {
		return false, err
	}
	return true, nil
}

// UnblockPeers is admin_unblockPeers: lift every block and reconnect.
func (api *adminAPI) UnblockPeers() (bool, error) {
	if api.b.Net == nil {
		return false, errNoNetwork
	}
	api.b.Net.UnblockPeers()
	return true, nil
}
