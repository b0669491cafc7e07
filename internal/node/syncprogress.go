package node

// SyncProgress is the running sync's progress: the head, the best peer's
// head, and whether a sync runs (false without P2P). For the CLI's
// progress bar.
func (n *Node) SyncProgress() (current, highest uint64, syncing bool) {
	if n.syncer == nil {
		return 0, 0, false
	}
	p, ok := n.syncer.Progress()
	if !ok {
		return 0, 0, false
	}
	return p.Current, max(p.Highest, p.Current), true
}
