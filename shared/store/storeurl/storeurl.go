// Package storeurl opens a store.Store from one URL, so commands take a single
// setting (STORE_URL) for every backend:
//
//	""                                   bbolt at $XDG_DATA_HOME/wxpay/wxpay.db (or ~/.local/share/…)
//	bolt:///abs/path.db, bolt://rel.db   bbolt file
//	dynamodb://TABLE?region=R&endpoint=URL&create=1
//	redis://[user:pass@]host:port/db?prefix=P, rediss://…
//
// For dynamodb, credentials come from shared/awsconf (the AWS default chain, or the
// Lambda environment in -tags wxpay_lambda builds); endpoint targets a local
// emulator; create=1 creates the table (with its index and TTL) if it is missing,
// otherwise the table must exist. Errors name the scheme, never the password.
//
// Build tags leave out the backends a platform does not use:
//
//	wxpay_noaws    no DynamoDB (and no AWS SDK): the Tencent SCF build
//	wxpay_lambda   no Redis, unless wxpay_redis is given as well: the Lambda build
//	               (DynamoDB is its store; `make build LAMBDA_REDIS=1` builds Redis in)
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

// Open opens the store named by rawURL ("" = the local default bbolt file).
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	if rawURL == "" {
		path, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("storeurl: create data directory: %w", err)
		}
		return boltstore.Open(path)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the whole URL, password included.
		return nil, errors.New("storeurl: malformed store URL")
	}
	switch u.Scheme {
	case "bolt":
		return openBolt(u)
	case "dynamodb":
		return openDynamo(ctx, u)
	case "redis", "rediss":
		return openRedis(ctx, rawURL)
	case "":
		return nil, fmt.Errorf("storeurl: store URL %q has no scheme (want bolt://, dynamodb:// or redis://)", u.Redacted())
	default:
		return nil, fmt.Errorf("storeurl: unknown store URL scheme %q (want bolt, dynamodb, redis or rediss)", u.Scheme)
	}
}

// DefaultPath is the bbolt file used when no store URL is configured.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("storeurl: no store URL, and no home directory for the default store: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "wxpay", "wxpay.db"), nil
}

// openBolt takes the path from bolt:///abs/path (Path) or bolt://rel/path (Host+Path).
func openBolt(u *url.URL) (store.Store, error) {
	path := u.Host + u.Path
	if u.Opaque != "" {
		path = u.Opaque // bolt:rel.db
	}
	if path == "" {
		return nil, errors.New("storeurl: bolt URL has no file path (want bolt:///abs/path.db)")
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("storeurl: bolt URL takes no query parameters (got %q)", u.RawQuery)
	}
	return boltstore.Open(path)
}
