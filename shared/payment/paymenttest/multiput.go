package paymenttest

import (
	"context"

	"github.com/paysls/wxpay/shared/store"
)

// PutAll implements store.MultiPutter, checking every record as Put does.
func (g *Guard) PutAll(ctx context.Context, recs []store.Record, conds []store.Condition) ([]store.Record, error) {
	for _, r := range recs {
		if err := g.check("PutAll", r.Key); err != nil {
			return nil, err
		}
	}
	mp, ok := g.Store.(store.MultiPutter)
	if !ok {
		return nil, store.ErrNoMultiPut
	}
	return mp.PutAll(ctx, recs, conds)
}
