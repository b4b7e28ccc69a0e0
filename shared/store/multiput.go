package store

import (
	"context"
	"errors"
)

// MultiPutter is implemented by backends that can write several records in one atomic
// conditional write (one transaction, one round trip): every record is written if each
// one's condition holds, none otherwise. The ledger uses it to reserve a combine and
// its sub-orders at once; a store without it gets one Put per record.
type MultiPutter interface {
	// PutAll writes recs (each as Put would, with conds[i]) all or none, and returns
	// them as stored. A failed condition fails the whole with the
	// *ConditionFailedError of the first record whose condition failed.
	PutAll(ctx context.Context, recs []Record, conds []Condition) ([]Record, error)
}

// ErrNoMultiPut is PutAll's answer from a wrapper whose store has no multi-record
// write: write the records one by one.
var ErrNoMultiPut = errors.New("store: no multi-record write")
