package chaindb

import (
	"errors"

	"github.com/ethereum/go-ethereum/ethdb"
)

// historyStaleKey marks pathdb's history indexes as stale: the state
// history was rolled back (a deep reorg) while they were not maintained.
var historyStaleKey = []byte("peerchain-history-stale")

// WriteHistoryIndexStale records that pathdb's history indexes no longer
// match the state history and must be rebuilt before they are used.
func WriteHistoryIndexStale(w ethdb.KeyValueWriter) error {
	return put(w, historyStaleKey, uint64(1), "history index stale marker")
}

// ReadHistoryIndexStale reports whether WriteHistoryIndexStale was called
// since the last DeleteHistoryIndexStale.
func ReadHistoryIndexStale(r ethdb.KeyValueReader) (bool, error) {
	_, err := get(r, historyStaleKey, "history index stale marker")
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// DeleteHistoryIndexStale clears the marker once the indexes are rebuilt.
func DeleteHistoryIndexStale(w ethdb.KeyValueWriter) error {
	return del(w, historyStaleKey, "history index stale marker")
}
