package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/storetest"
)

func open(t testing.TB) *Store {
	s, err := Open(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file description, so a second Open in this process
	// contends exactly like a second process would.
	start := time.Now()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open = %v, want a locked-file error naming %s", err, path)
	}
	if d := time.Since(start); d > LockTimeout+2*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"a": "\xff"}, Pending: "p", PendingSince: time.Unix(1, 0)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.ListPending(ctx, "p", store.ListOptions{})
	if err != nil || len(page.Records) != 1 || page.Records[0].Attrs["a"] != "\xff" {
		t.Fatalf("after reopen: %+v, %v", page, err)
	}
}

// TestOneTransactionPerTransition proves the notification-style transition (and its
// duplicate) is one bbolt transaction, and that ListPending reads only the index.
func TestOneTransactionPerTransition(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "order/1", Attrs: map[string]string{"state": "NOTPAY"}}, store.Condition{Absent: true}); err != nil {
		t.Fatal(err)
	}
	ch := store.Change{Set: map[string]string{"state": "SUCCESS"}}
	cond := store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY", "USERPAYING")}}
	before := s.txs.Load()
	if _, err := s.Update(ctx, "order/1", ch, cond); err != nil {
		t.Fatal(err)
	}
	if n := s.txs.Load() - before; n != 1 {
		t.Fatalf("transition took %d transactions, want 1", n)
	}
	before = s.txs.Load()
	_, err := s.Update(ctx, "order/1", ch, cond)
	cf, ok := err.(*store.ConditionFailedError)
	if !ok || cf.Current == nil || cf.Current.Attrs["state"] != "SUCCESS" {
		t.Fatalf("duplicate: %v", err)
	}
	if n := s.txs.Load() - before; n != 1 {
		t.Fatalf("duplicate took %d transactions, want 1", n)
	}
}

func TestSweepDeletesUnreadExpired(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.Put(ctx, store.Record{Key: fmt.Sprint("e", i), ExpiresAt: time.Now().Add(-time.Second)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	// Any write sweeps; the expired records are gone from the file, not just hidden.
	if _, err := s.Put(ctx, store.Record{Key: "live"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	var n int
	s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketRecords).Stats().KeyN + tx.Bucket(bucketExpiry).Stats().KeyN
		return nil
	})
	if n != 1 {
		t.Fatalf("%d keys left in records+expiry, want 1 (the live record)", n)
	}
}

func BenchmarkConditionalWrite(b *testing.B) {
	s := open(b)
	defer s.Close()
	storetest.BenchmarkConditionalWrite(b, s)
}

func BenchmarkGet(b *testing.B) {
	s := open(b)
	defer s.Close()
	storetest.BenchmarkGet(b, s)
}
