package sync

// Topics lists the short names of the gossip topics a peer joins (for
// metrics that keep a series per topic from the start).
func Topics() []string { return []string{topicBlocks, topicCompact, topicTxs} }
