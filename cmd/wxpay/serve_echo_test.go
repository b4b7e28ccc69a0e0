package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Every answer that repeats a refused input names it by its start: at most 64
// characters then "…". An order_id (or scene, field name, header, event id, …) of
// 300 characters came back whole, in the answer and in the log line beside it.
// Each refusal is a clear {code,message,hint} and changes nothing: no order, no event.
func TestServeErrorsEchoAtMost64CharactersOfInput(t *testing.T) {
	srv, p := startPlatformServe(t, "ecommerce")
	// An order the path of a refund's read names (its out_refund_no is checked once the
	// order is found).
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": "ECHOREAL01", "sub_mchid": "1900000109", "amount": 100, "description": "echo", "scene": "native"}, true); status != http.StatusCreated {
		t.Fatalf("create ECHOREAL01: %d %v", status, a)
	}
	x, nines := strings.Repeat("X", 300), strings.Repeat("9", 300)
	order := func(extra map[string]any) map[string]any {
		b := map[string]any{"order_id": "ECHO000001", "sub_mchid": "1900000109", "amount": 100, "description": "echo", "scene": "native"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name, method, path string
		body               any
		contentType        string
		long               string // the run of one character the answer may repeat 64 of
	}{
		{"order_id", "POST", "/orders", order(map[string]any{"order_id": x}), "", x},
		{"order_id in the path", "GET", "/orders/" + x + "?sub_mchid=1900000109", nil, "", x},
		{"order_id of a refund", "POST", "/orders/" + x + "/refunds?sub_mchid=1900000109", map[string]any{"amount": 1}, "", x},
		{"order_id of a close", "POST", "/orders/" + x + "/close?sub_mchid=1900000109", nil, "", x},
		{"sub_mchid in the query", "GET", "/orders/ECHO000001?sub_mchid=" + x, nil, "", x},
		{"out_refund_no in the path", "GET", "/orders/ECHOREAL01/refunds/" + x + "?sub_mchid=1900000109", nil, "", x},
		{"scene", "POST", "/orders", order(map[string]any{"scene": x}), "", x},
		{"time_expire", "POST", "/orders", order(map[string]any{"time_expire": x}), "", x},
		{"redirect_url", "POST", "/orders", order(map[string]any{"scene": "h5", "redirect_url": x}), "", x},
		{"h5.type", "POST", "/orders", order(map[string]any{"scene": "h5", "h5": map[string]any{"type": x}}), "", x},
		{"amount as a string", "POST", "/orders", order(map[string]any{"amount": x}), "", x},
		{"amount of 300 digits", "POST", "/orders", `{"order_id":"ECHO000001","sub_mchid":"1900000109","amount":` + nines + `,"description":"echo","scene":"native"}`, "", nines},
		{"unknown field", "POST", "/orders", order(map[string]any{x: 1}), "", x},
		{"a field given twice", "POST", "/orders", `{"order_id":"ECHO000001","sub_mchid":"1900000109","amount":100,"description":"echo","scene":"native","` + x + `":1,"` + x + `":2}`, "", x},
		{"Content-Type", "POST", "/orders", order(nil), "text/" + x, x},
		{"sharing receiver type", "POST", "/orders", order(map[string]any{"profit_sharing": map[string]any{"receivers": []any{map[string]any{"type": x, "account": "1900000109", "rate": 0.1}}}}), "", x},
		{"sharing hold_until", "POST", "/orders", order(map[string]any{"profit_sharing": map[string]any{"hold_until": x}}), "", x},
		{"receiver type", "POST", "/profitsharing/receivers", map[string]any{"type": x, "account": "1900000109"}, "", x},
		{"receiver account", "POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": x, "name": "n"}, "", x},
		{"receiver sub_mchid", "POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000109", "name": "n", "sub_mchid": x}, "", x},
		{"event id", "POST", "/events/" + x + "/resend", nil, "", x},
		{"billfetch date", "POST", "/jobs/billfetch?date=" + x, nil, "", x},
		{"job name", "POST", "/jobs/" + x, nil, "", x},
	}
	for _, c := range cases {
		var rd io.Reader
		switch b := c.body.(type) {
		case nil:
		case string:
			rd = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rd = strings.NewReader(string(raw))
		}
		req, _ := http.NewRequest(c.method, srv.base+c.path, rd)
		req.Header.Set("Authorization", "Bearer "+srv.token)
		req.Header.Set("Content-Type", "application/json")
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var a map[string]string
		if err := json.Unmarshal(raw, &a); err != nil || res.StatusCode/100 != 4 || a["code"] == "" || a["message"] == "" || a["hint"] == "" {
			t.Errorf("%s: %d %s, want a 4xx {code,message,hint}", c.name, res.StatusCode, raw)
			continue
		}
		if strings.Contains(a["message"], c.long[:65]) || strings.Contains(a["hint"], c.long[:65]) {
			t.Errorf("%s: the answer repeats more than 64 characters of the input: %.200s…", c.name, raw)
		} else if !strings.Contains(a["message"], c.long[:50]) || !strings.Contains(a["message"], "…") {
			// At least 50 of the input's characters (the rest of the 64 may be a quote or
			// the "text/" of a media type), then the mark of the cut.
			t.Errorf("%s: the answer does not name the input by its start and mark the cut: %s", c.name, raw)
		}
	}
	if status, g := p.call("GET", "/orders/ECHO000001?sub_mchid=1900000109", nil, true); status != http.StatusNotFound {
		t.Errorf("after the refusals ECHO000001 reads %d %v, want 404", status, g)
	}
	if evs := p.eventsOf(); len(evs) != 0 {
		t.Errorf("the refusals recorded events: %v", evs)
	}
}
