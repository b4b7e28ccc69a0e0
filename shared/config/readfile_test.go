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
	for _, n := range []int{0, 1, 33, 4095, 4096, 4097, 10000} {
		p := filepath.Join(dir, strconv.Itoa(n))
		want := bytes.Repeat([]byte{'k'}, n)
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := readFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: got %d bytes, %v", n, len(got), err)
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
