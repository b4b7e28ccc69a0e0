package cashier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
)

// APIOrders adapts the order API's own http.Handler (createorder.Handler, mounted or
// not) to Orders, in process: POST /orders and GET /orders/{order_id} with the bearer
// token, the user's address as RemoteAddr (so the API's client-IP rule sees the user,
// not a proxy) and the browser's user agent in user_agent (so its scene checks apply).
//
// GET /orders/{order_id} answers the order's description (the page shows it and every
// scene's create repeats it); createorder takes the order's attach from the stored
// scene "cashier" order, which the page never sees. Status's ask=false cannot be honoured
// through GET /orders/{id}, which may ask WeChat Pay on its own; the page never
// concludes "unpaid" from a status read, so that is safe.
type APIOrders struct {
	API   http.Handler
	Token string
	// SubMchID names the sub-merchant in partner mode (?sub_mchid=); empty uses the
	// API's default (WXPAY_SUB_MCHID).
	SubMchID string
}

type apiCreate struct {
	CreateRequest
	UserAgent string `json:"user_agent,omitempty"`
}

func (o APIOrders) call(ctx context.Context, method, target string, body any, clientIP, ua string, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("cashier: order API request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(ctx, method, target, rd)
	req.Header.Set("Authorization", "Bearer "+o.Token)
	req.Header.Set("Content-Type", "application/json")
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	if clientIP != "" {
		req.RemoteAddr = net.JoinHostPort(clientIP, "0")
	}
	rec := httptest.NewRecorder()
	o.API.ServeHTTP(rec, req)
	if rec.Code/100 == 2 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			return fmt.Errorf("cashier: order API %s %s: unreadable answer: %w", method, target, err)
		}
		return nil
	}
	e := &Error{Status: rec.Code}
	if json.Unmarshal(rec.Body.Bytes(), e) != nil || e.Code == "" {
		e.Code, e.Message = http.StatusText(rec.Code), "order API answered "+http.StatusText(rec.Code)
	}
	if rec.Code == http.StatusNotFound && e.Code == "ORDER_NOT_FOUND" {
		return fmt.Errorf("%w: %s", ErrNotFound, e.Message)
	}
	return e
}

// Create implements Orders with POST /orders.
func (o APIOrders) Create(ctx context.Context, req CreateRequest, clientIP, userAgent string) (*Answer, error) {
	var a Answer
	if err := o.call(ctx, http.MethodPost, "/orders", apiCreate{req, userAgent}, clientIP, userAgent, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Status implements Orders with GET /orders/{order_id}.
func (o APIOrders) Status(ctx context.Context, orderID string, _ bool) (*Status, error) {
	target := "/orders/" + url.PathEscape(orderID)
	if o.SubMchID != "" {
		target += "?sub_mchid=" + url.QueryEscape(o.SubMchID)
	}
	var s Status
	if err := o.call(ctx, http.MethodGet, target, nil, "", "", &s); err != nil {
		return nil, err
	}
	return &s, nil
}
