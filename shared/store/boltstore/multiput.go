package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/paysls/wxpay/shared/store"
)

var _ store.MultiPutter = (*Store)(nil)

// PutAll writes recs in one transaction (one fsync, sharing group commit with any
// concurrent writes), all or none: every condition is checked before anything is
// written, so a failed one is an answer that leaves the transaction untouched.
func (s *Store) PutAll(ctx context.Context, recs []store.Record, conds []store.Condition) ([]store.Record, error) {
	if len(recs) != len(conds) {
		return nil, fmt.Errorf("boltstore: put all: %d records, %d conditions: %w", len(recs), len(conds), store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: put all: %w", err)
	}
	now := s.now()
	out := make([]store.Record, len(recs))
	for i, rec := range recs {
		if err := store.ValidateRecord(rec); err != nil {
			return nil, err
		}
		if err := store.ValidateCondition(conds[i]); err != nil {
			return nil, err
		}
		out[i] = store.Normalize(rec, now)
	}
	seen := make(map[string]bool, len(recs))
	for _, r := range out {
		if seen[r.Key] {
			return nil, fmt.Errorf("boltstore: put all: %q twice: %w", r.Key, store.ErrInvalid)
		}
		seen[r.Key] = true
	}
	err := s.submit(ctx, now, func(tx *bolt.Tx) error {
		olds := make([]*store.Record, len(out))
		for i := range out {
			old, err := loadLive(tx, out[i].Key, now)
			if err != nil {
				return err
			}
			if !conds[i].Holds(old, now) {
				return &store.ConditionFailedError{Key: out[i].Key, Current: old}
			}
			olds[i] = old
		}
		for i := range out {
			out[i].Version = 1
			if olds[i] != nil {
				out[i].Version = olds[i].Version + 1
			}
			if err := write(tx, olds[i], &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("put all", out[0].Key, err)
	}
	return out, nil
}
