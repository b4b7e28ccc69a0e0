package orderapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls the order API. Its methods are safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New is a client of the order API at baseURL (e.g. https://pay.example.com, or a
// path prefix such as https://x.execute-api…/prod) with the bearer token
// (WXPAY_API_TOKEN). hc may be nil: a client with a 30 s timeout.
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: hc}
}

// InProcess is a client that calls h directly, without a network: each request is
// served by h.ServeHTTP in the calling goroutine. Requests come from RemoteAddr
// 127.0.0.1 (what an H5 order takes as the user's IP unless TRUSTED_PROXIES says
// otherwise), or from the user a context names (OnBehalfOf).
func InProcess(h http.Handler, token string) *Client {
	return New("http://in-process", token, &http.Client{Transport: handlerTransport{h}})
}

type peerKey struct{}

// peer is where a user's request came from, as the platform handed it over.
type peer struct {
	remoteAddr   string
	forwardedFor []string
}

// OnBehalfOf marks the in-process calls made with the returned context as made for the
// user whose request r is (a page served beside the API, such as the cashier): the
// handler sees r's RemoteAddr and X-Forwarded-For, so the API's client-IP rule
// (TRUSTED_PROXIES) finds the user's address exactly as it would on the user's own
// call. Over HTTP it changes nothing: the API sees the caller.
func OnBehalfOf(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, peerKey{}, peer{remoteAddr: r.RemoteAddr, forwardedFor: r.Header.Values("X-Forwarded-For")})
}

// Error is an answer of the API other than 2xx: the status and the API's code,
// message and hint. A body that is not the API's JSON (a proxy's error page) gets
// code HTTP_<status> and the start of the body as message.
type Error struct {
	Status  int
	Code    string
	Message string
	Hint    string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("order API %d %s: %s", e.Status, e.Code, e.Message)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Create is POST /orders.
func (c *Client) Create(ctx context.Context, req CreateRequest) (*CreateAnswer, error) {
	var a CreateAnswer
	hdr, err := c.do(ctx, http.MethodPost, "/orders", req, &a)
	if err != nil {
		return nil, err
	}
	a.Replayed = hdr.Get("Idempotent-Replayed") == "true"
	return &a, nil
}

// CreateCombine is POST /orders for a combine order (合单): req.SubOrders set, Amount 0.
func (c *Client) CreateCombine(ctx context.Context, req CreateRequest) (*CombineView, error) {
	var v CombineView
	if _, err := c.do(ctx, http.MethodPost, "/orders", req, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Combine is GET /orders/{order_id} of a combine order.
func (c *Client) Combine(ctx context.Context, orderID string) (*CombineView, error) {
	var v CombineView
	if _, err := c.do(ctx, http.MethodGet, orderPath(orderID, "", ""), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Order is GET /orders/{order_id}. subMchID is for partner mode ("" = the default).
func (c *Client) Order(ctx context.Context, orderID, subMchID string) (*OrderView, error) {
	var v OrderView
	if _, err := c.do(ctx, http.MethodGet, orderPath(orderID, subMchID, ""), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Close is POST /orders/{order_id}/close.
func (c *Client) Close(ctx context.Context, orderID, subMchID string) (*CloseAnswer, error) {
	var a CloseAnswer
	if _, err := c.do(ctx, http.MethodPost, orderPath(orderID, subMchID, "/close"), struct{}{}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Refund is POST /orders/{order_id}/refunds.
func (c *Client) Refund(ctx context.Context, orderID, subMchID string, req RefundRequest) (*RefundView, error) {
	var v RefundView
	if _, err := c.do(ctx, http.MethodPost, orderPath(orderID, subMchID, "/refunds"), req, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RefundStatus is GET /orders/{order_id}/refunds/{out_refund_no}.
func (c *Client) RefundStatus(ctx context.Context, orderID, subMchID, outRefundNo string) (*RefundView, error) {
	var v RefundView
	if _, err := c.do(ctx, http.MethodGet, orderPath(orderID, subMchID, "/refunds/"+url.PathEscape(outRefundNo)), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// openID is GET /oauth/openid?code=…: the openid of an OAuth snsapi_base code.
func (c *Client) openID(ctx context.Context, code string) (*OpenIDAnswer, error) {
	var a OpenIDAnswer
	if _, err := c.do(ctx, http.MethodGet, "/oauth/openid?code="+url.QueryEscape(code), nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func orderPath(orderID, subMchID, rest string) string {
	p := "/orders/" + url.PathEscape(orderID) + rest
	if subMchID != "" {
		p += "?sub_mchid=" + url.QueryEscape(subMchID)
	}
	return p
}

// maxAnswer bounds an answer body; the largest (a Native order with its QR PNG) is a
// few KB.
const maxAnswer = 1 << 20

func (c *Client) do(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("orderapi: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("orderapi: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("orderapi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("orderapi: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.Header, decodeError(resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("orderapi: %s %s: answer %d is not the expected JSON: %w", method, path, resp.StatusCode, err)
	}
	return resp.Header, nil
}

func decodeError(status int, b []byte) *Error {
	var eb ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Code != "" {
		return &Error{Status: status, Code: eb.Code, Message: eb.Message, Hint: eb.Hint}
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return &Error{Status: status, Code: fmt.Sprintf("HTTP_%d", status), Message: msg}
}

// handlerTransport serves requests with a handler in the calling goroutine.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A server-side request: the body stays readable by the handler, the peer is local.
	in := req.Clone(req.Context())
	in.RequestURI = in.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	in.Header.Del("X-Forwarded-For")
	if p, ok := req.Context().Value(peerKey{}).(peer); ok {
		in.RemoteAddr = p.remoteAddr
		for _, v := range p.forwardedFor {
			in.Header.Add("X-Forwarded-For", v)
		}
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &recorder{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process call.
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
