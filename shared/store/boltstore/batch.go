package boltstore

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/paysls/wxpay/shared/store"
)

// Group commit.
//
// A bbolt write transaction ends in an fsync, which is most of a write's cost. When a
// write arrives while another one is committing, it waits in a queue; the writer
// that finishes committing hands the lead to the first waiter, which then commits
// everything queued so far in one transaction and one fsync. A lone write never
// waits: it finds nobody committing, leads at once and commits alone, exactly as
// before (one transaction per write, no timer, no added latency). Batches form only
// while another write is in flight, and grow with the load.
//
// bbolt's own DB.Batch does the same but fails the whole batch when one function
// returns an error and then re-runs that function alone, after a timer. Here every
// write is evaluated separately and in queue order inside the shared transaction: a
// failed condition (or an oversized update) is that write's answer and changes
// nothing, its batch-mates commit regardless, and a later write in the batch sees the
// effect of an earlier one, just as if they had run one after the other. Only a
// fault — an error after which the transaction may hold a partial write, or a failed
// commit — rolls the batch back; each of its writes is then run alone, so every
// caller gets the result it would have got without batching. A write that panics is
// such a fault too; the panic resumes in its own writer's goroutine.

// maxBatch bounds the writes that share one transaction.
const maxBatch = 256

// writeOp is one queued write.
type writeOp struct {
	ctx context.Context
	now time.Time
	// apply performs the write inside tx. It must return nil, an answer (a
	// *store.ConditionFailedError or an error matching store.ErrInvalid) without having
	// written anything that matters, or any other error (a fault). It may run more than
	// once, each time in a fresh transaction, so it must recompute its results from tx
	// and not depend on what an earlier run did.
	apply func(tx *bolt.Tx) error
	err   error
	// panicked holds what apply panicked with; the writer's own goroutine re-panics
	// with it, so a bug in one write never unwinds through another writer.
	panicked any
	// done: err is final (the transaction that decided it has ended).
	done bool
	// wake receives true when this op must lead the next batch, false when another
	// leader has committed it and err is final.
	wake chan bool
}

// errNoWrite rolls back a transaction in which every write was refused.
var errNoWrite = errors.New("boltstore: no write succeeded")

// errPanicked is the fault of a write whose apply panicked.
var errPanicked = errors.New("boltstore: write panicked")

// run applies op in tx, turning a panic into the fault errPanicked.
func (op *writeOp) run(tx *bolt.Tx) (err error) {
	op.panicked = nil
	defer func() {
		if r := recover(); r != nil {
			op.panicked, err = r, errPanicked
		}
	}()
	return op.apply(tx)
}

// answer reports whether err is a write's own result, after which the transaction
// holds nothing of that write.
func answer(err error) bool {
	var cf *store.ConditionFailedError
	return errors.As(err, &cf) || errors.Is(err, store.ErrInvalid)
}

// submit runs fn as one write, batched with concurrent ones, and returns its result.
func (s *Store) submit(ctx context.Context, now time.Time, fn func(tx *bolt.Tx) error) error {
	op := &writeOp{ctx: ctx, now: now, apply: fn}
	if s.unbatched {
		s.commit([]*writeOp{op})
		return op.result()
	}
	op.wake = make(chan bool, 1)
	s.mu.Lock()
	s.queue = append(s.queue, op)
	if s.leading {
		s.mu.Unlock()
		if lead := <-op.wake; !lead {
			return op.result()
		}
		s.mu.Lock()
	}
	// This op leads: nobody else is committing and it is first in the queue (a lone
	// write finds the queue empty; a handed-over lead goes to the queue's head).
	s.leading = true
	n := min(len(s.queue), maxBatch)
	batch := s.queue[:n:n]
	s.queue = append([]*writeOp(nil), s.queue[n:]...)
	s.mu.Unlock()
	s.lead(batch)
	return op.result()
}

// result is op's answer to its writer; a write that panicked panics here, in the
// writer's goroutine.
func (op *writeOp) result() error {
	if op.panicked != nil {
		panic(op.panicked)
	}
	return op.err
}

// lead commits batch, then hands the lead to the next waiter (or gives it up) and
// wakes the batch's other writers — even if bbolt itself panicked, so that the store
// never stays locked.
func (s *Store) lead(batch []*writeOp) {
	defer func() {
		for _, op := range batch {
			if !op.done {
				op.err = errors.New("boltstore: the transaction panicked; the write did not happen")
			}
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			next := s.queue[0]
			s.mu.Unlock()
			next.wake <- true
		} else {
			s.leading = false
			s.mu.Unlock()
		}
		for _, op := range batch[1:] {
			op.wake <- false
		}
	}()
	s.commit(batch)
}

// commit runs batch in one transaction, falling back to one transaction per write
// after a fault. It sets every op's err.
func (s *Store) commit(batch []*writeOp) {
	var now time.Time
	err := s.update(func(tx *bolt.Tx) error {
		written := 0
		for _, op := range batch {
			if err := op.ctx.Err(); err != nil {
				// Canceled while queued: answered without touching the store.
				op.err = err
				continue
			}
			op.err = op.run(tx)
			switch {
			case op.err == nil:
				written++
			case !answer(op.err):
				return op.err // a fault: tx may hold part of this write
			}
			if op.now.After(now) {
				now = op.now
			}
		}
		if written == 0 {
			return errNoWrite // nothing to commit (and no fsync)
		}
		return sweep(tx, now)
	})
	switch {
	case err == nil || errors.Is(err, errNoWrite):
	case len(batch) == 1:
		batch[0].err = err
	default:
		// A fault or a failed commit rolled back every write of the batch. Run each
		// alone so that each gets its own result, as without batching.
		s.faults.Add(1)
		for _, op := range batch {
			s.commit([]*writeOp{op})
		}
		return
	}
	for _, op := range batch {
		op.done = true
	}
}
