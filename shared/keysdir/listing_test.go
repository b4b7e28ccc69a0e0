package keysdir_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/paysls/wxpay/shared/keysdir"
)

// A Listing finds what Find finds — a file, its alias, neither, both — and fails the
// same way, from one read of the directory.
func TestListingFindsAsFindDoes(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{keysdir.FileMchID, "apiclient_key.pem", keysdir.FileMerchantCert, "apiclient_cert.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := keysdir.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keysdir.FileMchID, keysdir.FileMerchantKey, keysdir.FileMerchantCert, keysdir.FileAPIv3Key} {
		wp, werr := keysdir.Find(dir, name)
		gp, gerr := l.Find(name)
		if gp != wp || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%s: Listing.Find = %q, %v; Find = %q, %v", name, gp, gerr, wp, werr)
		}
	}
	if _, err := keysdir.List(filepath.Join(dir, "missing")); err == nil {
		t.Error("List of a missing directory succeeded")
	}
}
