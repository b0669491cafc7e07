//go:build !unix

package doctor

import "errors"

// Space is not measured on this system.
func (OSDisk) Space(string) (uint64, uint64, error) {
	return 0, 0, errors.New("free space is measured on Unix systems only")
}
