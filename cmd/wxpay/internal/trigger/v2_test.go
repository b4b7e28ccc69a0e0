package trigger

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// v2Endpoint acknowledges only v2 notifications that wxv2.Parse accepts with key.
func v2Endpoint(t *testing.T, key string) (*httptest.Server, func() []*wxv2.Notification) {
	t.Helper()
	var mu sync.Mutex
	var got []*wxv2.Notification
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, err := wxv2.Parse(body, key)
		if err != nil {
			wxv2.WriteFail(w, wechatpay.NotifyStatus(err), err.Error())
			return
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		wxv2.WriteAck(w)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []*wxv2.Notification { mu.Lock(); defer mu.Unlock(); return got }
}

func TestTriggerV2(t *testing.T) {
	s := sender(t, "")
	ctx := context.Background()
	srv, got := v2Endpoint(t, s.apiv2Key)
	pay := Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520001", Amount: 1999}
	for _, typ := range []string{"", wxv2.SignTypeHMACSHA256} {
		r, err := s.TriggerV2(ctx, V2Options{Options: Options{URL: srv.URL, Event: pay, Repeat: 2}, SignType: typ})
		if err != nil || !r.OK || len(r.Deliveries) != 2 || r.Mode != modeV2 {
			t.Fatalf("%s: %+v, %v", typ, r, err)
		}
	}
	refund := Event{Type: wechatpay.EventRefundAbnormal, OutTradeNo: "T20240520001", Amount: 1999, RefundAmount: 999, OutRefundNo: "R20240520001"}
	if r, err := s.TriggerV2(ctx, V2Options{Options: Options{URL: srv.URL, Event: refund}}); err != nil || !r.OK ||
		!strings.Contains(string(r.Resource), `"refund_status":"CHANGE"`) {
		t.Fatalf("refund: %+v, %v", r, err)
	}
	ns := got()
	if len(ns) != 5 || ns[0].Transaction.OutTradeNo != "T20240520001" || ns[0].Transaction.Amount.Total != 1999 ||
		ns[2].SignType != wxv2.SignTypeHMACSHA256 || ns[4].Refund.RefundStatus != wechatpay.RefundStatusAbnormal || ns[4].Refund.Amount.Refund != 999 {
		t.Fatalf("endpoint received %+v", ns)
	}
	// Forged: a verifying endpoint refuses, an endpoint that acknowledges anything is flagged.
	for _, ev := range []Event{pay, refund} {
		r, err := s.TriggerV2(ctx, V2Options{Options: Options{URL: srv.URL, Event: ev, SignTest: true}})
		if err != nil || !r.OK || !strings.Contains(r.Deliveries[0].Verdict.Headline, "refused the forged") || r.Deliveries[0].Attempt.Status != http.StatusUnauthorized {
			t.Fatalf("forged %s: %+v, %v", ev.Type, r, err)
		}
		r, err = s.TriggerV2(ctx, V2Options{Options: Options{URL: fixed(t, 200, wxv2.AckXML).URL, Event: ev, SignTest: true}})
		if err != nil || r.OK || !strings.Contains(r.Deliveries[0].Verdict.Headline, "DANGER") {
			t.Fatalf("gullible endpoint %s: %+v, %v", ev.Type, r, err)
		}
	}
	if len(got()) != 5 {
		t.Fatal("a forged notification was accepted")
	}
	// v3-style answers and wrong keys are explained.
	for _, c := range []struct {
		srv  *httptest.Server
		want string
	}{
		{fixed(t, 204, ""), "acknowledged by its body"},
		{fixed(t, 200, `{"code":"SUCCESS"}`), "acknowledged by its body"},
		{fixed(t, 401, string(wxv2.FailXML("sign"))), "WXPAY_APIV2_KEY"},
		{fixed(t, 400, "bad json"), "not JSON"},
	} {
		r, err := s.TriggerV2(ctx, V2Options{Options: Options{URL: c.srv.URL, Event: pay}})
		if err != nil || r.OK || !strings.Contains(r.Deliveries[0].Verdict.Cause, c.want) {
			t.Errorf("want cause %q: %+v, %v", c.want, r, err)
		}
	}
	var b strings.Builder
	r, _ := s.TriggerV2(ctx, V2Options{Options: Options{URL: srv.URL, Event: pay}})
	r.WriteText(&b)
	if out := b.String(); !strings.Contains(out, "v2 payment result") || !strings.Contains(out, "VERDICT ✔") || strings.Contains(out, s.apiv2Key) {
		t.Errorf("text report:\n%s", out)
	}
	s.apiv2Key = ""
	if _, err := s.TriggerV2(ctx, V2Options{Options: Options{URL: srv.URL, Event: pay}}); err != errNoAPIv2Key {
		t.Errorf("no key: %v", err)
	}
}
