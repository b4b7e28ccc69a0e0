package storetest

import (
	"context"
	"sync/atomic"

	"github.com/paysls/wxpay/shared/store"
)

// Counting passes every call through to a real store and counts them, for tests that
// hold a code path to its store cost (one conditional write per notification, reads
// per reconcile run that do not grow with the table, a re-run that writes nothing).
// Each backend's own tests show that one call is one round trip.
type Counting struct {
	store.Store
	// Reads counts Get and ListPending; Writes counts Put, Update and Delete, refused
	// or not; Applied counts the writes that succeeded.
	Reads, Writes, Applied atomic.Int64
}

// Calls is every call made so far.
func (c *Counting) Calls() int64 { return c.Reads.Load() + c.Writes.Load() }

func (c *Counting) wrote(err error) {
	c.Writes.Add(1)
	if err == nil {
		c.Applied.Add(1)
	}
}

// Get implements store.Store.
func (c *Counting) Get(ctx context.Context, key string) (store.Record, error) {
	c.Reads.Add(1)
	return c.Store.Get(ctx, key)
}

// ListPending implements store.Store.
func (c *Counting) ListPending(ctx context.Context, index string, opts store.ListOptions) (store.Page, error) {
	c.Reads.Add(1)
	return c.Store.ListPending(ctx, index, opts)
}

// Put implements store.Store.
func (c *Counting) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	r, err := c.Store.Put(ctx, rec, cond)
	c.wrote(err)
	return r, err
}

// Update implements store.Store.
func (c *Counting) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	r, err := c.Store.Update(ctx, key, ch, cond)
	c.wrote(err)
	return r, err
}

// Delete implements store.Store.
func (c *Counting) Delete(ctx context.Context, key string, cond store.Condition) error {
	err := c.Store.Delete(ctx, key, cond)
	c.wrote(err)
	return err
}
