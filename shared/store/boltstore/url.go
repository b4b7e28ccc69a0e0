package boltstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/paysls/wxpay/shared/store"
)

// URL is the store.Driver of bolt:///abs/path.db and bolt://rel/path.db, and of an
// empty STORE_URL: the file DefaultPath names.
var URL = store.Driver{
	Schemes: []string{"bolt"},
	What:    "bbolt file",
	Open: func(_ context.Context, u *url.URL, _ string) (store.Store, error) {
		path := u.Host + u.Path
		if u.Opaque != "" {
			path = u.Opaque // bolt:rel.db
		}
		if path == "" {
			return nil, errors.New("boltstore: bolt URL has no file path (want bolt:///abs/path.db)")
		}
		if u.RawQuery != "" {
			return nil, fmt.Errorf("boltstore: bolt URL takes no query parameters (got %q)", u.RawQuery)
		}
		return Open(path)
	},
	Default: func(context.Context) (store.Store, error) {
		path, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("boltstore: create data directory: %w", err)
		}
		return Open(path)
	},
}

// DefaultPath is the bbolt file used when no store URL is configured:
// $XDG_DATA_HOME/wxpay/wxpay.db, or ~/.local/share/wxpay/wxpay.db.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("boltstore: no store URL, and no home directory for the default store: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "wxpay", "wxpay.db"), nil
}
