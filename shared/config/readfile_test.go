package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// readFile reads what os.ReadFile reads, and fails where it fails, the same way.
func TestReadFileIsOSReadFile(t *testing.T) {
	dir := t.TempDir()
	// Around the stack buffer's size (2048) and the old heap buffer's (4096).
	for _, n := range []int{0, 1, 33, 2047, 2048, 2049, 4095, 4096, 4097, 10000} {
		p := filepath.Join(dir, strconv.Itoa(n))
		want := bytes.Repeat([]byte{'k'}, n)
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := readFile(p); err != nil || !bytes.Equal(got, want) || got == nil {
			t.Errorf("%d bytes: got %d bytes (nil: %t), %v", n, len(got), got == nil, err)
		}
	}
	for _, p := range []string{filepath.Join(dir, "missing"), dir} {
		_, want := os.ReadFile(p)
		_, got := readFile(p)
		if got == nil || want == nil || got.Error() != want.Error() || errors.Is(got, fs.ErrNotExist) != errors.Is(want, fs.ErrNotExist) {
			t.Errorf("%s: readFile error %v, os.ReadFile error %v", p, got, want)
		}
	}
}
