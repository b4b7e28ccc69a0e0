package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/paysls/wxpay/shared/store"
)

func TestPutAllIsAllOrNothingInOneTransaction(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "multi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "b", Attrs: map[string]string{"v": "old"}}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	absent := []store.Condition{{Absent: true}, {Absent: true}, {Absent: true}}
	recs := []store.Record{{Key: "a", Attrs: map[string]string{"v": "1"}}, {Key: "b", Attrs: map[string]string{"v": "2"}},
		{Key: "c", Attrs: map[string]string{"v": "3"}, Pending: "idx"}}
	var cf *store.ConditionFailedError
	if _, err := s.PutAll(ctx, recs, absent); !errors.As(err, &cf) || cf.Key != "b" || cf.Current == nil || cf.Current.Attrs["v"] != "old" {
		t.Fatalf("PutAll over an existing record: %v", err)
	}
	for _, k := range []string{"a", "c"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s written by a refused PutAll: %v", k, err)
		}
	}
	recs[1].Key = "d"
	tx0 := s.txs.Load()
	out, err := s.PutAll(ctx, recs, absent)
	if err != nil || len(out) != 3 || out[2].Version != 1 {
		t.Fatalf("PutAll: %+v %v", out, err)
	}
	if n := s.txs.Load() - tx0; n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
	page, err := s.ListPending(ctx, "idx", store.ListOptions{})
	if err != nil || len(page.Records) != 1 || page.Records[0].Key != "c" {
		t.Errorf("pending index: %+v %v", page.Records, err)
	}
	if _, err := s.PutAll(ctx, recs[:1], absent); err == nil {
		t.Error("mismatched conditions accepted")
	}
}
