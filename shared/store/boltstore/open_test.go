package boltstore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Reopening an existing database writes nothing: no empty write transaction
// (two fsyncs) on every cold start.
func TestReopenDoesNotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("reopening rewrote the file (a write transaction at open)")
	}
}
