package storetest

import (
	"context"

	"github.com/paysls/wxpay/shared/store"
)

// PutAll passes a multi-record write on (counted as one write: one round trip) when the
// store has one, else fails with ErrNoMultiPut so the caller writes one by one.
func (c *Counting) PutAll(ctx context.Context, recs []store.Record, conds []store.Condition) ([]store.Record, error) {
	mp, ok := c.Store.(store.MultiPutter)
	if !ok {
		return nil, store.ErrNoMultiPut
	}
	out, err := mp.PutAll(ctx, recs, conds)
	c.wrote(err)
	return out, err
}
