// Package keysdirtest gives tests a generated WeChat Pay identity. Generating two
// RSA-2048 keys dominates the run time of a small test package, so one identity is
// made per test binary and shared; tests must not modify it.
package keysdirtest

import (
	"sync"
	"testing"

	"github.com/paysls/wxpay/shared/keysdir"
)

var shared = sync.OnceValues(keysdir.Generate)

// Identity returns the test binary's shared identity.
func Identity(t testing.TB) *keysdir.Identity {
	t.Helper()
	id, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Dir writes the shared identity to a fresh temporary keys directory, which the test
// may change freely.
func Dir(t testing.TB) (*keysdir.Identity, string) {
	t.Helper()
	id := Identity(t)
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	return id, dir
}
