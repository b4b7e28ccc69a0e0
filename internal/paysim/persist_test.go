package paysim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// A restarted simulator is the same world: orders (with what tells a retry from a
// re-priced order), payments by transaction id, refunds, delivery history, the virtual
// clock, and a notification still owed, which the new simulator delivers.
func TestRestoreResumesTheSameWorld(t *testing.T) {
	id := testIdentity(t)
	// Retries 1.5 s apart: the old simulator is closed before the owed retry is due.
	e := newEnv(t, Config{Identity: id, RetryScale: 0.1})
	rc := newReceiver(t, nil)
	e.placeNative("PERSIST00001", 1000, rc.url())
	unpaid := e.placeNative("PERSIST00002", 500, rc.url())
	e.simCall("POST", "/sim/orders/PERSIST00001/pay", nil, nil)
	var paid wechatpay.Transaction
	e.open(t, rc.next(t), &paid)
	if r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: "PERSIST00001", OutRefundNo: "PERSISTRF001",
		NotifyURL: rc.url(), Amount: wechatpay.RefundAmount{Refund: 300, Total: 1000, Currency: "CNY"}}); r.status != 200 {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	e.advance("90m")
	// A receiver that refuses: the next notification stays owed (a retry is queued).
	down := newReceiver(t, func(int) int { return 503 })
	e.placeNative("PERSIST00003", 700, down.url())
	e.simCall("POST", "/sim/orders/PERSIST00003/pay", nil, nil)
	down.next(t)
	// The attempt is recorded once its answer is in, and its retry queued.
	for deadline := time.Now().Add(5 * time.Second); !hasFailedAttempt(e.sim.Deliveries()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refused attempt was never recorded")
		}
	}
	snap, err := e.sim.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	beforeDeliveries := len(e.sim.Deliveries())
	_ = e.sim.Close()
	for len(down.ch) > 0 {
		<-down.ch
	}

	// The same identity, a fresh process: restore, then check everything is back.
	e2 := newEnv(t, Config{Identity: id})
	if err := e2.sim.Restore(snap); err != nil {
		t.Fatal(err)
	}
	// Restoring and taking a snapshot again gives the same state: every field round-trips.
	again, err := e2.sim.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := stateJSON(t, snap), stateJSON(t, again); a != b {
		t.Fatalf("the state does not round-trip:\n%s\n%s", a, b)
	}
	if off := e2.sim.Clock().Offset(); off != 90*time.Minute {
		t.Fatalf("clock offset after restore: %v, want 90m", off)
	}
	// A retry of the same prepay is still a retry (same prepay answer), not OUT_TRADE_NO_USED.
	if p := e2.placeNative("PERSIST00002", 500, rc.url()); p.CodeURL != unpaid.CodeURL {
		t.Fatalf("replayed prepay after restore: %q, want %q", p.CodeURL, unpaid.CodeURL)
	}
	var tx wechatpay.Transaction
	if r := e2.call("GET", "/v3/pay/transactions/id/"+paid.TransactionID+"?mchid="+id.MchID, nil); r.status != 200 {
		t.Fatalf("query by transaction id after restore: %d %s", r.status, r.body)
	} else if _ = json.Unmarshal(r.body, &tx); tx.TradeState != "REFUND" || tx.OutTradeNo != "PERSIST00001" {
		t.Fatalf("transaction after restore: %s", r.body)
	}
	// The unpaid order can be paid now; the refund settles.
	if st := e2.simCall("POST", "/sim/orders/PERSIST00002/pay", nil, nil); st != 200 {
		t.Fatalf("pay an order created before the restart: %d", st)
	}
	if st := e2.simCall("POST", "/sim/refunds/PERSISTRF001/settle", nil, nil); st != 200 {
		t.Fatalf("settle a refund made before the restart: %d", st)
	}
	// The owed notification of PERSIST00003 is sent again by the new simulator (the
	// receiver refuses still: what matters is that the attempt is made).
	down.next(t)
	if got := len(e2.sim.Deliveries()); got < beforeDeliveries {
		t.Fatalf("delivery history: %d attempts after restore, %d before", got, beforeDeliveries)
	}
}

// The state file: restored by OpenStateFile, written when the world changed, the
// final state saved by Close.
func TestStateFile(t *testing.T) {
	id := testIdentity(t)
	path := filepath.Join(t.TempDir(), "paysim.json")
	e := newEnv(t, Config{Identity: id})
	f, restored, err := e.sim.OpenStateFile(path, 10*time.Millisecond)
	if err != nil || restored {
		t.Fatalf("fresh state file: restored=%v err=%v", restored, err)
	}
	rc := newReceiver(t, nil)
	e.placeNative("STATEFILE001", 100, rc.url())
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "STATEFILE001") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the state file was not written after a change")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.advance("1h")
	_ = e.sim.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	e2 := newEnv(t, Config{Identity: id})
	f2, restored, err := e2.sim.OpenStateFile(path, time.Hour)
	if err != nil || !restored {
		t.Fatalf("reopen: restored=%v err=%v", restored, err)
	}
	defer f2.Close()
	if e2.sim.Clock().Offset() != time.Hour {
		t.Fatalf("offset %v", e2.sim.Clock().Offset())
	}
	var o OrderView
	if st := e2.simCall("GET", "/sim/orders/STATEFILE001", nil, &o); st != 200 || o.Transaction.TradeState != "NOTPAY" {
		t.Fatalf("order after reopen: %d %+v", st, o)
	}

	// A file that is not a snapshot stops the start with the way out.
	bad := filepath.Join(t.TempDir(), "paysim.json")
	_ = os.WriteFile(bad, []byte("{nope"), 0o600)
	if _, _, err := newEnv(t, Config{Identity: id}).sim.OpenStateFile(bad, time.Hour); err == nil || !strings.Contains(err.Error(), "--reset") {
		t.Fatalf("unreadable state file: %v", err)
	}
}

// Every field of state is kept by a snapshot: exported with a JSON tag (the seam for
// new simulator state), carried explicitly (the fields that predate it), or an index
// rebuilt on restore. A field that is none of these would silently be forgotten by a
// restart of wxpay serve; so would an unexported field inside a new field's values.
func TestSnapshotCoversEveryStateField(t *testing.T) {
	st := reflect.TypeOf(state{})
	for i := range st.NumField() {
		f := st.Field(i)
		if legacyFields[f.Name] {
			continue
		}
		if !f.IsExported() {
			t.Errorf("state.%s is unexported: a restart of wxpay serve would forget it. Export it with a JSON tag (SEAMS.md: simulator state)", f.Name)
			continue
		}
		switch tag := f.Tag.Get("json"); tag {
		case "-":
			continue // an index into another field, rebuilt by reindex
		case "":
			t.Errorf("state.%s has no JSON tag: give it one so snapshots name it stably", f.Name)
		}
		checkExportedDeep(t, "state."+f.Name, f.Type, map[reflect.Type]bool{})
	}
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

func checkExportedDeep(t *testing.T, path string, typ reflect.Type, seen map[reflect.Type]bool) {
	t.Helper()
	if seen[typ] || typ.Implements(jsonMarshaler) || reflect.PointerTo(typ).Implements(jsonMarshaler) {
		return
	}
	seen[typ] = true
	switch typ.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		checkExportedDeep(t, path+"[]", typ.Elem(), seen)
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() && !f.Anonymous {
				t.Errorf("%s: field %s of %s is unexported: a snapshot would lose it", path, f.Name, typ)
				continue
			}
			if f.Tag.Get("json") == "-" {
				continue
			}
			checkExportedDeep(t, path+"."+f.Name, f.Type, seen)
		}
	}
}

// A restored snapshot never moves the clock back, and a snapshot of another version
// is refused rather than half read.
func TestRestoreRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	e.advance("5h")
	if err := e.sim.Restore([]byte(`{"version":1,"clock_offset_ns":3600000000000,"state":{}}`)); err != nil {
		t.Fatal(err)
	}
	if off := e.sim.Clock().Offset(); off != 5*time.Hour {
		t.Fatalf("restore moved the clock back to %v", off)
	}
	if err := e.sim.Restore([]byte(`{"version":99,"state":{}}`)); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("future version: %v", err)
	}
}

func hasFailedAttempt(ds []Delivery) bool {
	for _, d := range ds {
		if d.Status == 503 {
			return true
		}
	}
	return false
}

// stateJSON is the state member of a snapshot, re-encoded (maps in key order).
func stateJSON(t *testing.T, snap []byte) string {
	t.Helper()
	var v struct {
		State any `json:"state"`
	}
	if err := json.Unmarshal(snap, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v.State)
	return string(b)
}
