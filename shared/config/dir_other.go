//go:build !linux

package config

import (
	"fmt"
	"os"
)

// dir is a keys dir (dir_linux.go says why Linux opens its files relative to it).
type dir struct{}

func openDir(path string) (*dir, error) {
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", path)
	}
	return &dir{}, nil
}

func (d *dir) read(name, path string, _ []byte) ([]byte, error) { return readFile(path) }

func (d *dir) close() {}
