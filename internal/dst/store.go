package dst

import (
	"context"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// faultStore is the store as one incarnation of the bundle sees it: every call is a
// yield point of the scheduler, the step's faults are injected here, and once the
// incarnation has crashed every call fails.
type faultStore struct {
	inner store.Store
	w     *world
	inc   *incarnation
}

var _ store.Store = (*faultStore)(nil)

// callTimeout bounds a real backend call (Redis, DynamoDB); the code under test's own
// deadlines are not passed on, so that how long a thread waited for its turn never
// decides anything.
const callTimeout = 30 * time.Second

func (s *faultStore) enter(op, key, on string) (string, error) {
	if s.inc.dead.Load() {
		return "", errCrashed
	}
	s.w.sched.yield("store."+op+" "+key, s.inc)
	if s.inc.dead.Load() {
		return "", errCrashed
	}
	return s.w.plan.next(on), nil
}

func (s *faultStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
}

func (s *faultStore) Get(ctx context.Context, key string) (store.Record, error) {
	f, err := s.enter("Get", key, onRead)
	if err != nil {
		return store.Record{}, err
	}
	if f == unavailable {
		return store.Record{}, store.Unavailable("get", fmt.Errorf("dst: injected"))
	}
	c, cancel := s.ctx(ctx)
	defer cancel()
	return s.inner.Get(c, key)
}

func (s *faultStore) ListPending(ctx context.Context, index string, opts store.ListOptions) (store.Page, error) {
	f, err := s.enter("ListPending", index, onRead)
	if err != nil {
		return store.Page{}, err
	}
	if f == unavailable {
		return store.Page{}, store.Unavailable("list", fmt.Errorf("dst: injected"))
	}
	c, cancel := s.ctx(ctx)
	defer cancel()
	return s.inner.ListPending(c, index, opts)
}

// write runs one write under the step's fault for it.
func (s *faultStore) write(op, key string, do func(context.Context) error) error {
	f, err := s.enter(op, key, onWrite)
	if err != nil {
		return err
	}
	switch f {
	case crashBefore:
		s.w.crash(s.inc)
		return errCrashed
	case unavailable:
		s.w.disruptions.Add(1)
		return store.Unavailable(op, fmt.Errorf("dst: injected"))
	}
	c, cancel := s.ctx(context.Background())
	defer cancel()
	err = do(c)
	switch f {
	case crashAfter:
		s.w.crash(s.inc)
		return errCrashed
	case timeout:
		s.w.disruptions.Add(1)
		return store.Unavailable(op, fmt.Errorf("dst: injected timeout after the write"))
	}
	return err
}

func (s *faultStore) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	var out store.Record
	err := s.write("Put", rec.Key, func(c context.Context) error {
		var err error
		out, err = s.inner.Put(c, rec, cond)
		return err
	})
	return out, err
}

func (s *faultStore) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	var out store.Record
	err := s.write("Update", key, func(c context.Context) error {
		var err error
		out, err = s.inner.Update(c, key, ch, cond)
		return err
	})
	return out, err
}

func (s *faultStore) Delete(ctx context.Context, key string, cond store.Condition) error {
	return s.write("Delete", key, func(c context.Context) error { return s.inner.Delete(c, key, cond) })
}

// Close is the incarnation's business (world.restart), not the code under test's.
func (s *faultStore) Close() error { return nil }
