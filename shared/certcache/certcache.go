// Package certcache keeps the downloaded WeChat Pay platform certificates in the store
// (wechatpay.CertCache), so a cold-started function verifies notifications without
// calling /v3/certificates first, and every instance shares one download.
package certcache

import (
	"context"
	"errors"
	"fmt"

	"github.com/paysls/wxpay/shared/store"
)

// Key is the record the certificates are kept under, one per merchant.
func Key(mchid string) string { return "platform-certificates/" + mchid }

// Store is a wechatpay.CertCache backed by a store record.
type Store struct {
	Store store.Store
	MchID string
}

// LoadCerts returns the cached PEM certificates, or nothing when none are cached.
func (c Store) LoadCerts(ctx context.Context) ([]byte, error) {
	rec, err := c.Store.Get(ctx, Key(c.MchID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certcache: %w", err)
	}
	return []byte(rec.Attrs["pem"]), nil
}

// SaveCerts replaces the cached certificates. Last writer wins: every writer saves a
// complete, verified download.
func (c Store) SaveCerts(ctx context.Context, pem []byte) error {
	_, err := c.Store.Put(ctx, store.Record{Key: Key(c.MchID), Attrs: map[string]string{"pem": string(pem)}}, store.Condition{})
	if err != nil {
		return fmt.Errorf("certcache: %w", err)
	}
	return nil
}
