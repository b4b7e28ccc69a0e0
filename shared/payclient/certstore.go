package payclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/paysls/wxpay/shared/store"
)

// certStore keeps the downloaded platform certificates in the store (the cache
// wechatpay's CertificateManager saves to), one record per merchant, so that a cold-started function
// verifies without calling /v3/certificates first and every instance shares one
// download.
type certStore struct {
	st    store.Store
	mchid string
}

func (c certStore) key() string { return "platform-certificates/" + c.mchid }

// LoadCerts returns the cached PEM certificates, or nothing when none are cached.
func (c certStore) LoadCerts(ctx context.Context) ([]byte, error) {
	if c.st == nil {
		return nil, nil
	}
	rec, err := c.st.Get(ctx, c.key())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cached platform certificates: %w", err)
	}
	return []byte(rec.Attrs["pem"]), nil
}

// SaveCerts replaces the cached certificates. Last writer wins: every writer saves a
// complete, verified download.
func (c certStore) SaveCerts(ctx context.Context, pem []byte) error {
	if c.st == nil {
		return nil
	}
	_, err := c.st.Put(ctx, store.Record{Key: c.key(), Attrs: map[string]string{"pem": string(pem)}}, store.Condition{})
	if err != nil {
		return fmt.Errorf("caching platform certificates: %w", err)
	}
	return nil
}
