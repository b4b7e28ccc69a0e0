package webhook_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/webhook"
)

var (
	secret = []byte("whsec_current")
	old    = []byte("whsec_previous")
	body   = []byte(`{"id":"evt_k3a","type":"order.paid","created_at":"2026-11-26T10:00:00Z","data":{"order_id":"A1001","amount":1999}}`)
)

func TestSignedDeliveryVerifies(t *testing.T) {
	h := webhook.Sign(body, time.Now(), secret)
	if !strings.HasPrefix(h, "t=") || strings.Count(h, ",v1=") != 1 {
		t.Fatalf("header %q", h)
	}
	ev, err := webhook.Verify(body, h, 0, secret)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "evt_k3a" || ev.Type != "order.paid" || string(ev.Data) != `{"order_id":"A1001","amount":1999}` || ev.CreatedAt.IsZero() {
		t.Fatalf("event = %+v", ev)
	}
}

// A delivery captured and replayed within the tolerance under fresh Wxpay-Event-Id
// headers verifies — the headers are not signed — but Verify returns the signed event
// each time, with the same id, so a receiver de-duplicating by that id acts once.
func TestReplayUnderANewHeaderIDIsTheSameSignedEvent(t *testing.T) {
	sig := webhook.Sign(body, time.Now(), secret)
	acted := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		ev, err := webhook.Verify(b, r.Header.Get(webhook.HeaderSignature), 0, secret)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		acted[ev.ID]++ // the receiver's de-duplication key: the signed id
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	for i := range 5 {
		req, _ := http.NewRequest(http.MethodPost, rcv.URL, strings.NewReader(string(body)))
		req.Header.Set(webhook.HeaderSignature, sig)
		req.Header.Set(webhook.HeaderEventID, "evt_forged_"+strconv.Itoa(i)) // fresh, unsigned
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("replay %d: %d", i, resp.StatusCode)
		}
	}
	if len(acted) != 1 || acted["evt_k3a"] != 5 {
		t.Fatalf("ids seen by the receiver = %v, want only the signed evt_k3a", acted)
	}
}

func TestRotation(t *testing.T) {
	now := time.Now()
	// The sender signs with both secrets while the receiver still has the old one…
	both := webhook.Sign(body, now, secret, old)
	if strings.Count(both, ",v1=") != 2 {
		t.Fatalf("header %q, want two v1", both)
	}
	for name, secrets := range map[string][][]byte{
		"receiver has the old secret":   {old},
		"receiver has the new secret":   {secret},
		"receiver has both, new first":  {secret, old},
		"receiver has both, old first":  {old, secret},
		"unrelated secret then the new": {[]byte("other"), secret},
	} {
		if _, err := webhook.Verify(body, both, 0, secrets...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// …and a receiver holding both accepts a sender still on the old one.
	if _, err := webhook.Verify(body, webhook.Sign(body, now, old), 0, secret, old); err != nil {
		t.Fatalf("old-only sender, receiver with both: %v", err)
	}
	// Once the old secret is retired, deliveries signed only with it fail.
	if _, err := webhook.Verify(body, webhook.Sign(body, now, old), 0, secret); !errors.Is(err, webhook.ErrNoValidSignature) {
		t.Fatalf("retired secret: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	now := time.Now()
	good := webhook.Sign(body, now, secret)
	v1 := good[strings.Index(good, "v1="):]
	ts := strconv.FormatInt(now.Unix(), 10)
	tampered := []byte(strings.Replace(string(body), "1999", "1", 1))
	cases := []struct {
		name    string
		body    []byte
		header  string
		secrets [][]byte
		want    error
	}{
		{"no header", body, "", [][]byte{secret}, webhook.ErrNotSigned},
		{"blank header", body, "  ", [][]byte{secret}, webhook.ErrNotSigned},
		{"tampered body", tampered, good, [][]byte{secret}, webhook.ErrNoValidSignature},
		{"wrong secret", body, good, [][]byte{[]byte("nope")}, webhook.ErrNoValidSignature},
		{"no secret", body, good, nil, webhook.ErrNoValidSignature},
		{"empty secret", body, webhook.Sign(body, now, []byte{}), [][]byte{{}}, webhook.ErrNoValidSignature},
		{"too old", body, webhook.Sign(body, now.Add(-6*time.Minute), secret), [][]byte{secret}, webhook.ErrTooOld},
		{"too far ahead", body, webhook.Sign(body, now.Add(6*time.Minute), secret), [][]byte{secret}, webhook.ErrTooOld},
		{"timestamp changed", body, "t=" + strconv.FormatInt(now.Unix()-1, 10) + "," + v1, [][]byte{secret}, webhook.ErrNoValidSignature},
		{"no t", body, v1, [][]byte{secret}, webhook.ErrInvalidHeader},
		{"two t", body, "t=" + ts + "," + good, [][]byte{secret}, webhook.ErrInvalidHeader},
		{"t not a number", body, "t=soon," + v1, [][]byte{secret}, webhook.ErrInvalidHeader},
		{"negative t", body, "t=-5," + v1, [][]byte{secret}, webhook.ErrInvalidHeader},
		{"pair without =", body, good + ",garbage", [][]byte{secret}, webhook.ErrInvalidHeader},
		{"empty key", body, "=x," + good, [][]byte{secret}, webhook.ErrInvalidHeader},
		{"no v1", body, "t=" + ts, [][]byte{secret}, webhook.ErrNoValidSignature},
		{"v1 not hex", body, "t=" + ts + ",v1=zz", [][]byte{secret}, webhook.ErrNoValidSignature},
		{"only a v0", body, "t=" + ts + ",v0=" + v1[3:], [][]byte{secret}, webhook.ErrNoValidSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := webhook.Verify(c.body, c.header, 5*time.Minute, c.secrets...)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %+v, %v; want %v", ev, err, c.want)
			}
			for _, other := range []error{webhook.ErrNotSigned, webhook.ErrInvalidHeader, webhook.ErrNoValidSignature, webhook.ErrTooOld} {
				if other != c.want && errors.Is(err, other) {
					t.Fatalf("%v also matches %v", err, other)
				}
			}
			if ev.ID != "" {
				t.Fatalf("a refused delivery returned an event: %+v", ev)
			}
		})
	}
}

func TestToleranceAndUnknownParts(t *testing.T) {
	now := time.Now()
	h := webhook.Sign(body, now.Add(-90*time.Second), secret)
	if _, err := webhook.Verify(body, h, time.Minute, secret); !errors.Is(err, webhook.ErrTooOld) {
		t.Fatalf("90 s old, tolerance 1 min: %v", err)
	}
	if _, err := webhook.Verify(body, h, 2*time.Minute, secret); err != nil {
		t.Fatalf("90 s old, tolerance 2 min: %v", err)
	}
	// Spaces after commas and a future scheme's v2= are tolerated.
	spaced := strings.ReplaceAll(webhook.Sign(body, now, secret), ",", ", ") + ", v2=abcdef"
	if _, err := webhook.Verify(body, spaced, 0, secret); err != nil {
		t.Fatalf("%q: %v", spaced, err)
	}
}

func TestSignedBodyMustBeAnEvent(t *testing.T) {
	for _, b := range []string{`not json`, `{"type":"order.paid"}`} {
		_, err := webhook.Verify([]byte(b), webhook.Sign([]byte(b), time.Now(), secret), 0, secret)
		if err == nil || !strings.Contains(err.Error(), "not an event") {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// The header parser never panics, and whatever it accepts it accepts only with a MAC
// computed under the secret.
func FuzzVerifyHeader(f *testing.F) {
	now := time.Now()
	f.Add(webhook.Sign(body, now, secret))
	f.Add(webhook.Sign(body, now, secret, old))
	f.Add("t=1,v1=00")
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Add("t=9223372036854775807,v1=" + strings.Repeat("a", 64))
	f.Add("t=-9223372036854775808")
	f.Add("v1=" + strings.Repeat("0", 64) + ",t=1")
	f.Fuzz(func(t *testing.T, header string) {
		ev, err := webhook.Verify(body, header, 0, secret)
		if err == nil {
			// Only a header carrying the genuine MAC for its own timestamp verifies.
			var genuine bool
			for part := range strings.SplitSeq(header, ",") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
					if n, perr := strconv.ParseInt(v, 10, 64); perr == nil {
						want := webhook.Sign(body, time.Unix(n, 0), secret)
						genuine = strings.Contains(strings.ToLower(header), want[strings.Index(want, ",v1="):])
					}
				}
			}
			if !genuine || ev.ID != "evt_k3a" {
				t.Fatalf("accepted %q: %+v", header, ev)
			}
			return
		}
		n := 0
		for _, e := range []error{webhook.ErrNotSigned, webhook.ErrInvalidHeader, webhook.ErrNoValidSignature, webhook.ErrTooOld} {
			if errors.Is(err, e) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%q: %v matches %d named errors", header, err, n)
		}
	})
}
