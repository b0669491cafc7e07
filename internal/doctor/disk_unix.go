//go:build unix

package doctor

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Space is statfs of the filesystem holding path: the bytes free to
// unprivileged users and the total.
func (OSDisk) Space(path string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}
