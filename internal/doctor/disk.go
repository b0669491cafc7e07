package doctor

import (
	"io/fs"
	"path/filepath"
)

// OSDisk is the machine's filesystem.
type OSDisk struct{}

// Size is the bytes of the regular files under dir (files that vanish
// during the walk, as Pebble compacts, are skipped).
func (OSDisk) Size(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total, err
}
