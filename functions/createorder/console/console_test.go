package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store/boltstore"
)

// fakeSource answers the handler tests; the real source is tested in ledger_test.go
// against the ledger and the simulator.
type fakeSource struct {
	mu      sync.Mutex
	reviews []Review
	calls   []string
}

func (f *fakeSource) note(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }
func (f *fakeSource) Days(context.Context, int) ([]Day, error) {
	return []Day{{Date: "2026-12-07", Paid: 12345, PaidCount: 2}, {Date: "2026-12-06", Refunded: 500, RefundCount: 1, FromBill: true}}, nil
}
func (f *fakeSource) Reviews(context.Context) ([]Review, error)      { return f.reviews, nil }
func (f *fakeSource) Events(context.Context) ([]EventItem, error)    { return nil, nil }
func (f *fakeSource) Bills(context.Context, int) ([]BillDay, error)  { return nil, nil }
func (f *fakeSource) Refunds(context.Context) ([]StuckRefund, error) { return nil, nil }
func (f *fakeSource) Find(context.Context, string) (*Story, error)   { return nil, nil }
func (f *fakeSource) ResendAll(context.Context, string) (int, error) {
	f.note("resend-all")
	return 0, nil
}
func (f *fakeSource) Resend(_ context.Context, who, id string) error {
	f.note("resend " + who + " " + id)
	return nil
}
func (f *fakeSource) RefundKept(_ context.Context, who, ref, tx string) error {
	f.note("refund " + ref + " " + tx)
	return nil
}
func (f *fakeSource) Resolve(_ context.Context, who, ref, note string) error {
	f.note("resolve " + who + " " + ref + " " + note)
	return nil
}
func (f *fakeSource) AbnormalRefund(_ context.Context, who string, r AbnormalRequest) error {
	f.note("abnormal " + r.OutRefundNo)
	return nil
}

const testPassword = "correct horse battery"

func newTestConsole(t *testing.T, src Source) (*Handler, *httptest.Server) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	line, err := HashPassword("ops", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Users: []byte("# operators\n" + line + "\n"), Store: st, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	// httptest's TLS server: the session cookie is Secure, as it is in production.
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func client(t *testing.T, srv *httptest.Server) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func signIn(t *testing.T, c *http.Client, srv *httptest.Server) string {
	t.Helper()
	resp, _ := do(t, c, "POST", srv.URL+"/console/signin", url.Values{"user": {"ops"}, "password": {testPassword}, "next": {"/console/review"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/review" {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := do(t, c, "GET", srv.URL+"/console/review", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the signed-in page:\n%s", page)
	}
	return m[1]
}

func TestWithoutSessionNothingIsRevealed(t *testing.T) {
	_, srv := newTestConsole(t, &fakeSource{})
	c := client(t, srv)
	for _, p := range []string{"/console/", "/console/review", "/console/no/such/thing", "/console/events/resend"} {
		resp, body := do(t, c, "GET", srv.URL+p, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/console/signin"`) {
			t.Errorf("GET %s without a session: %d, want the sign-in form", p, resp.StatusCode)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s", p, h)
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/console/review/resolve", "/console/nonexistent", "/console/events/resend-all"} {
		resp, _ := do(t, c, "POST", srv.URL+p, url.Values{"ref": {"x"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", p, resp.StatusCode)
		}
	}
	if resp, _ := do(t, c, "DELETE", srv.URL+"/console/review", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without a session: %d", resp.StatusCode)
	}
}

func TestSignInCookieAndLockout(t *testing.T) {
	_, srv := newTestConsole(t, &fakeSource{})
	c := client(t, srv)
	resp, body := do(t, c, "POST", srv.URL+"/console/signin", url.Values{"user": {"ops"}, "password": {"wrong password!"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "用户名或密码不正确") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", srv.URL+"/console/signin", url.Values{"user": {"ops"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password: %d", resp.StatusCode)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/console/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	other := client(t, srv)
	for i := range maxFailures - 1 { // one failure above already counts
		resp, _ := do(t, other, "POST", srv.URL+"/console/signin", url.Values{"user": {"ops"}, "password": {"guess " + string(rune('a'+i))}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, body = do(t, other, "POST", srv.URL+"/console/signin", url.Values{"user": {"ops"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "15") {
		t.Fatalf("after %d failures the right password: %d, want 429", maxFailures, resp.StatusCode)
	}
}

func TestActionsNeedCSRFAndSameOrigin(t *testing.T) {
	src := &fakeSource{}
	_, srv := newTestConsole(t, src)
	c := client(t, srv)
	tok := signIn(t, c, srv)
	form := url.Values{"ref": {"r1"}, "note": {"checked with the bank"}}
	if resp, _ := do(t, c, "POST", srv.URL+"/console/review/resolve", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no token: %d, want 403", resp.StatusCode)
	}
	form.Set("csrf", tok+"x")
	if resp, _ := do(t, c, "POST", srv.URL+"/console/review/resolve", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong token: %d, want 403", resp.StatusCode)
	}
	form.Set("csrf", tok)
	if resp, _ := do(t, c, "POST", srv.URL+"/console/review/resolve", form, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %d, want 403", resp.StatusCode)
	}
	if len(src.calls) != 0 {
		t.Fatalf("refused actions reached the source: %v", src.calls)
	}
	resp, _ := do(t, c, "POST", srv.URL+"/console/review/resolve", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/review?ok=") {
		t.Fatalf("action: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(src.calls) != 1 || src.calls[0] != "resolve ops r1 checked with the bank" {
		t.Fatalf("source calls %v", src.calls)
	}
	_, audit := do(t, c, "GET", srv.URL+"/console/audit", nil)
	if !strings.Contains(audit, "checked with the bank") || !strings.Contains(audit, "<code>resolve</code>") {
		t.Fatalf("the action is not in the audit log:\n%s", audit)
	}
	// Signing out ends the session everywhere: the old cookie no longer works.
	resp, _ = do(t, c, "POST", srv.URL+"/console/signout", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "POST", srv.URL+"/console/review/resolve", form); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d, want 401", resp.StatusCode)
	}
}

func TestSessionsExpire(t *testing.T) {
	h, srv := newTestConsole(t, &fakeSource{})
	now := time.Now()
	h.wall = func() time.Time { return now }
	c := client(t, srv)
	signIn(t, c, srv)
	for _, step := range []time.Duration{idleLife - time.Minute, idleLife - time.Minute, idleLife - time.Minute} {
		now = now.Add(step) // used within its idle window: still signed in
		if _, body := do(t, c, "GET", srv.URL+"/console/review", nil); strings.Contains(body, `action="/console/signin"`) {
			t.Fatalf("signed out after %v of use", step)
		}
	}
	now = now.Add(sessionLife) // past the absolute limit
	if _, body := do(t, c, "GET", srv.URL+"/console/review", nil); !strings.Contains(body, `action="/console/signin"`) {
		t.Fatal("a session outlived its absolute life")
	}
}

func TestHostileValuesAreInert(t *testing.T) {
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>'`
	src := &fakeSource{reviews: []Review{{Ref: evil, OrderID: evil, OutTradeNo: evil, MchID: evil, Amount: 100,
		Causes: []Cause{{Kind: evil, Detail: evil}}, Kept: []Kept{{TransactionID: evil, Kind: evil, Time: evil, Refundable: true}}}}}
	_, srv := newTestConsole(t, src)
	c := client(t, srv)
	signIn(t, c, srv)
	_, body := do(t, c, "GET", srv.URL+"/console/review?ok="+url.QueryEscape(evil), nil)
	for _, bad := range []string{"<script>alert", "<img src=x", `onerror=alert(2)>`} {
		if strings.Contains(body, bad) {
			t.Fatalf("hostile value rendered live (%q) in:\n%s", bad, body)
		}
	}
	if strings.Count(body, "&lt;script&gt;") < 5 {
		t.Fatalf("hostile value not shown escaped:\n%s", body)
	}
}

func TestLanguage(t *testing.T) {
	for _, c := range []struct{ accept, want string }{
		{"", langZH}, {"en-US,en;q=0.9", langEN}, {"en;q=0.5,zh-CN;q=0.9", langZH}, {"fr", langZH}, {"zh-TW", langZH},
	} {
		r := httptest.NewRequest("GET", "/console/", nil)
		r.Header.Set("Accept-Language", c.accept)
		if got := pickLang(r); got != c.want {
			t.Errorf("Accept-Language %q: %s, want %s", c.accept, got, c.want)
		}
	}
}

func TestUsersFileErrorsNameTheLineNotTheSecret(t *testing.T) {
	_, err := parseUsers([]byte("ops:pbkdf2-sha256$600000$c2VjcmV0$AAAA\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("err = %v", err)
	}
	if _, err := HashPassword("ops", "short"); err == nil {
		t.Fatal("a short password was accepted")
	}
}
