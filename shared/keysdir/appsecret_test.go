package keysdir_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/keysdir"
)

func TestAppSecret(t *testing.T) {
	dir := t.TempDir()
	id, _, err := keysdir.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id.AppSecret) {
		t.Fatalf("app secret %q: want 32 hex digits like WeChat's", id.AppSecret)
	}
	fi, err := os.Stat(filepath.Join(dir, keysdir.FileAppSecret))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v; a secret must be 0600", keysdir.FileAppSecret, fi, err)
	}
	back, err := keysdir.Load(dir)
	if err != nil || back.AppSecret != id.AppSecret {
		t.Fatalf("reload: %v, %q", err, back.AppSecret)
	}
	if s := fmt.Sprintf("%v %+v %#v", id, id, id); strings.Contains(s, id.AppSecret) {
		t.Fatalf("app secret printed: %s", s)
	}

	// A directory from before app_secret existed gets one added (0600), once.
	if err := os.Remove(filepath.Join(dir, keysdir.FileAppSecret)); err != nil {
		t.Fatal(err)
	}
	old, created, err := keysdir.LoadOrCreate(dir)
	if err != nil || created || old.AppSecret == "" || old.AppSecret == id.AppSecret {
		t.Fatalf("old dir: %v created=%v secret=%q", err, created, old.AppSecret)
	}
	again, _, err := keysdir.LoadOrCreate(dir)
	if err != nil || again.AppSecret != old.AppSecret {
		t.Fatalf("the added secret must be kept: %v %q %q", err, again.AppSecret, old.AppSecret)
	}
	if fi, err := os.Stat(filepath.Join(dir, keysdir.FileAppSecret)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("added %s: %v %v", keysdir.FileAppSecret, fi, err)
	}
}
