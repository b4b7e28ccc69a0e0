package dst

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Addresses of the in-process network. WeChat Pay is the simulator; the bundle's
// notify_url is its notify handler; lostURL is where a v2 notification goes that never
// arrives. Loopback http:// URLs, which the bundle accepts in simulator mode.
const (
	wechatPayBase = "http://127.0.0.1:9"
	notifyURL     = "http://127.0.0.1:7/notify"
	lostURL       = "http://127.0.0.1:8/lost"
)

// toWeChatPay is the HTTP transport of one incarnation's WeChat Pay clients: each call
// is a yield point, the step's WeChat Pay faults are injected here, and the simulator
// serves the call in the calling thread. Request contexts are not consulted: a
// timeout is a fault the step injects, not how long a thread waited for its turn.
type toWeChatPay struct {
	w   *world
	inc *incarnation
}

func (t toWeChatPay) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if t.inc.dead.Load() {
		return nil, errCrashed
	}
	t.w.sched.yield("wechatpay "+req.Method+" "+req.URL.Path, t.inc)
	if t.inc.dead.Load() {
		return nil, errCrashed
	}
	if req.URL.Host != strings.TrimPrefix(wechatPayBase, "http://") {
		return nil, fmt.Errorf("dst: no route to %s", req.URL.Host)
	}
	if strings.HasPrefix(req.URL.Path, "/v3/ecommerce/subsidies/") && t.w.plan.every(onSubsidy) == lostAnswer {
		serve(t.w.sim, req)
		return nil, errors.New("dst: connection reset after the subsidy request was sent (the answer is lost)")
	}
	if req.URL.Path == "/v3/ecommerce/profitsharing/orders" && t.w.plan.every(onShareAnswer) == shareLie { // a split asked, or its query
		return t.w.lieAboutSplit(req, serve(t.w.sim, req)), nil
	}
	if req.Method == http.MethodPost && (req.URL.Path == "/v3/refund/domestic/refunds" || req.URL.Path == "/v3/ecommerce/refunds/apply") &&
		t.w.plan.next(onRefund) == refundRefused {
		return response(req, http.StatusNotFound, http.Header{"Content-Type": {"application/json"}},
			[]byte(`{"code":"RESOURCE_NOT_EXISTS","message":"订单不存在 (dst fault: refused once, the order is paid)"}`)), nil
	}
	switch t.w.plan.next(onWeChatPay) {
	case fault5xx:
		return response(req, http.StatusInternalServerError, http.Header{"Content-Type": {"application/json"}},
			[]byte(`{"code":"SYSTEM_ERROR","message":"系统异常,请稍后重试 (dst fault)"}`)), nil
	case lostAnswer:
		serve(t.w.sim, req)
		return nil, errors.New("dst: connection reset after the request was sent (the answer is lost)")
	}
	return serve(t.w.sim, req), nil
}

// toBundle is the transport of the simulator's notifications: POSTs to notify_url
// reach the current incarnation's notify handler (a crashed one answers nothing).
type toBundle struct{ w *world }

func (t toBundle) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	inc := t.w.inc
	switch {
	case req.URL.String() == lostURL:
		return nil, errors.New("dst: the notification was lost on the way")
	case req.URL.String() != notifyURL:
		return nil, fmt.Errorf("dst: no route to %s", req.URL)
	case inc == nil || inc.dead.Load():
		return nil, errors.New("dst: connection refused (the bundle is down)")
	}
	return serve(inc.notify, req), nil
}

// serve runs h on a server-side copy of req in the calling goroutine.
func serve(h http.Handler, req *http.Request) *http.Response {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	in := req.Clone(req.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.ContentLength = int64(len(body))
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	rw := &recorder{header: http.Header{}}
	h.ServeHTTP(rw, in)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return response(req, rw.status, rw.header, rw.body.Bytes())
}

func response(req *http.Request, status int, hdr http.Header, body []byte) *http.Response {
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: hdr,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
