package notify_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// One limit for both formats, each refused in its own format: 64 KiB is accepted
// as far as the limit goes, one byte more is 400 — JSON for v3, XML for v2.
func TestOversizedBodyIsRefusedInItsFormat(t *testing.T) {
	f := newFixture(t)
	f.h.APIv2Key = config.NewSecret([]byte(f.id.APIv2Key))
	json := []byte(`{"id":"` + strings.Repeat("x", 64<<10) + `"}`)
	wantFail(t, f.post(t, json, f.signed(t, json)), http.StatusBadRequest, "larger than 65536 bytes")
	xml := []byte("\xef\xbb\xbf\n<xml><a>" + strings.Repeat("x", 64<<10) + "</a></xml>")
	w := postXML(t, f.handler, xml)
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusBadRequest, "FAIL", "larger than 65536 bytes")

	// Just under the limit, the body reaches verification (and fails there, unsigned).
	under := []byte(`{"id":"` + strings.Repeat("x", 64<<10-10) + `"}`)
	r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(under))
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, r)
	wantFail(t, rec, http.StatusUnauthorized, "not signed")
}

// A v2 notification goes through the same pipeline as v3 to the end: its merchant
// event is delivered right after the write, before the XML SUCCESS.
func TestV2EventDeliveredRightAfterTheWrite(t *testing.T) {
	f := newFixture(t)
	f.h.APIv2Key = config.NewSecret([]byte(f.id.APIv2Key))
	rcv := newReceiver(t, 0)
	f.h.Deliverer = &events.Deliverer{Store: f.st, Marker: f.h.Ledger, Sink: &events.Webhook{URL: rcv.srv.URL, Secret: []byte("s")}}
	body := f.v2payment(t, "V2DELIVER1", "4200000000700001", 100, "", f.id.APIv2Key)
	w := postXML(t, f.handler, body)
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusOK, "SUCCESS", "OK")
	if rcv.hits.Load() != 1 {
		t.Fatalf("webhook hits = %d, want 1", rcv.hits.Load())
	}
	if owed := events.Owed(f.order(t, "V2DELIVER1")); len(owed) != 0 {
		t.Fatalf("event still owed: %+v", owed)
	}
	// Its v3 copy is a duplicate: nothing more is sent.
	v3 := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("V2DELIVER1", "4200000000700001", 100))
	want204(t, f.post(t, v3, f.signed(t, v3)), "v3 copy")
	if rcv.hits.Load() != 1 {
		t.Fatalf("webhook hits after the duplicate = %d, want 1", rcv.hits.Load())
	}
}
