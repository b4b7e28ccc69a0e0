package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/store"
)

// BenchmarkConditionalWrite measures a notification-style transition: an Update whose
// condition tests one attribute, flipping it back and forth so every write succeeds.
func BenchmarkConditionalWrite(b *testing.B, s store.Store) {
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"state": "A"}}, store.Condition{}); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		from, to := "A", "B"
		if i%2 == 1 {
			from, to = to, from
		}
		if _, err := s.Update(ctx, "k", store.Change{Set: map[string]string{"state": to}}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", from)}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures reading a record of about 1 KB.
func BenchmarkGet(b *testing.B, s store.Store) {
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"state": "A", "doc": strings.Repeat("x", 1000)}}, store.Condition{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}
