// Package storeurl opens a store.Store from one URL, so commands take a single
// setting (STORE_URL) for every backend:
//
//	""                                   bbolt at $XDG_DATA_HOME/wxpay/wxpay.db (or ~/.local/share/…)
//	bolt:///abs/path.db, bolt://rel.db   bbolt file
//	dynamodb://TABLE?region=R&endpoint=URL&create=1
//	redis://[user:pass@]host:port/db?prefix=P, rediss://…
//
// For dynamodb, credentials come from the AWS default chain; endpoint targets a local
// emulator; create=1 creates the table (with its index and TTL) if it is missing,
// otherwise the table must exist. Errors name the scheme, never the password.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
	"github.com/paysls/wxpay/shared/store/redisstore"
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
		return redisstore.Open(ctx, rawURL)
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

func openDynamo(ctx context.Context, u *url.URL) (store.Store, error) {
	table := u.Host
	if table == "" || strings.Trim(u.Path, "/") != "" {
		return nil, errors.New("storeurl: dynamodb URL must name a table: dynamodb://TABLE?region=…")
	}
	if u.User != nil {
		return nil, errors.New("storeurl: dynamodb URL must not carry credentials; use the AWS environment or profile")
	}
	var opts []dynamostore.Option
	create := false
	for name, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch name {
		case "region":
			opts = append(opts, dynamostore.WithRegion(v))
		case "endpoint":
			if _, err := url.ParseRequestURI(v); err != nil {
				return nil, fmt.Errorf("storeurl: dynamodb endpoint %q is not a URL", v)
			}
			opts = append(opts, dynamostore.WithEndpoint(v))
		case "create":
			create = v == "1" || v == "true"
		default:
			return nil, fmt.Errorf("storeurl: unknown dynamodb URL parameter %q (known: region, endpoint, create)", name)
		}
	}
	s, err := dynamostore.Open(ctx, table, opts...)
	if err != nil {
		return nil, err
	}
	if create {
		if err := s.CreateTable(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}
