package node

import (
	"github.com/peerchain/peerchain/internal/p2p"
	"github.com/peerchain/peerchain/internal/rpc"
)

// The network shapes the peer's own traffic for admin_setShape (the
// devnet's delay, loss and bandwidth faults).
var _ rpc.Shaper = network{}

func (w network) SetShape(s p2p.Shape) error   { return w.host.SetShape(s) }
func (w network) ShapeStatus() p2p.ShapeStatus { return w.host.ShapeStatus() }
