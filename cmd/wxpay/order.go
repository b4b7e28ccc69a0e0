package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/paysls/wxpay/shared/config"
)

const orderSynopsis = `create|get|pay|close|refund [flags]

A thin client of the bundle's order API (what a merchant's backend calls), for trying
it from a terminal. The API token comes from --token, $WXPAY_API_TOKEN or
<keys-dir>/api_token (written by wxpay serve). 'wxpay order <subcommand> -h' shows a
subcommand's flags.

  wxpay order create --order-id ORDER10001 --amount 100 --description "Coffee" --scene native
  wxpay order get ORDER10001
  wxpay order pay ORDER10001            (the simulator plays the payer: wxpay serve without credentials)
  wxpay order pay 'weixin://wxpay/bizpayurl?pr=…'   (or "scans" a Native code_url)
  wxpay order refund ORDER10001 --amount 50
  wxpay order close ORDER10001`

// orderSubSynopsis is each subcommand's usage line and what it does.
var orderSubSynopsis = map[string]string{
	"create": "--amount FEN [--order-id ID] [--description TEXT] [--scene native|h5|jsapi|miniprogram|app|auto|cashier] [--openid OPENID] [flags]\n\n" +
		"Creates an order through POST /orders and shows how it is paid: for native a QR code in the\n" +
		"terminal (pay it with 'wxpay order pay ORDER_ID' under wxpay serve). Repeating it with the\n" +
		"same --order-id answers the same order; another amount re-prices it.",
	"get":    "ORDER_ID [flags]\n\nReads an order (GET /orders/{order_id}); the bundle asks WeChat Pay when it is not settled.",
	"pay":    "ORDER_ID|CODE_URL [flags]\n\nPlays the payer at wxpay serve's simulator: pays the order's current attempt, or \"scans\" a\nNative code_url (weixin://wxpay/bizpayurl?pr=…), then shows the order once notified.",
	"close":  "ORDER_ID [flags]\n\nCloses an unpaid order (POST /orders/{order_id}/close); in its first 5 minutes the close is\nrecorded and carried out by reconcile, as WeChat Pay requires.",
	"refund": "ORDER_ID --amount FEN [--out-refund-no N] [--reason TEXT] [flags]\n\nRefunds part or all of a paid order (POST /orders/{order_id}/refunds).",
}

// orderClient calls the order API of a running bundle.
type orderClient struct {
	base  string
	token string
	http  *http.Client
}

func (c *orderClient) do(ctx context.Context, method, path string, body any) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is wxpay serve running? start it with make start, or wxpay up)", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%s %s: HTTP %d, not JSON: %.200s", method, path, resp.StatusCode, raw)
		}
	}
	if resp.StatusCode/100 != 2 {
		var msg string
		if e, ok := out["error"].(string); ok && out["message"] == nil {
			msg = fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, e) // the simulator's driver API
		} else {
			msg = fmt.Sprintf("%s %s: HTTP %d %v: %v", method, path, resp.StatusCode, out["code"], out["message"])
		}
		if h, ok := out["hint"].(string); ok && h != "" {
			msg += "\n  hint: " + h
		}
		return out, errors.New(msg)
	}
	return out, nil
}

func runOrder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlagSet("order", orderSynopsis, stdout, stderr)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return usagef("a subcommand is required: create, get, pay, close or refund")
	}
	sub, args := args[0], args[1:]
	synopsis, ok := orderSubSynopsis[sub]
	if !ok {
		return usagef("unknown subcommand %q: want create, get, pay, close or refund", sub)
	}
	fs := newFlagSet("order "+sub, synopsis, stdout, stderr)
	base := fs.String("url", "", "base `URL` of the bundle (default: the wxpay serve running for --keys-dir, else http://127.0.0.1:8080)")
	keysDir := fs.String("keys-dir", filepath.Join(".wxpay", "sim"), "keys `DIR` holding api_token (as wxpay serve writes it)")
	token := fs.String("token", "", "the API `TOKEN` (default $"+config.EnvAPIToken+", else <keys-dir>/api_token)")
	asJSON := fs.Bool("json", false, "print the raw JSON answer")
	var (
		orderID, desc, scene, openid, outRefundNo, reason string
		amount                                            int64
	)
	switch sub {
	case "create":
		fs.StringVar(&orderID, "order-id", "", "your order id (the idempotency key; default: generated)")
		fs.Int64Var(&amount, "amount", 0, "amount in `FEN` (分): 100 = ¥1.00 (required)")
		fs.StringVar(&desc, "description", "wxpay test order", "what is bought")
		fs.StringVar(&scene, "scene", "native", "jsapi, miniprogram, app, h5, native, auto or cashier")
		fs.StringVar(&openid, "openid", "", "payer openid (jsapi, miniprogram)")
	case "refund":
		fs.Int64Var(&amount, "amount", 0, "refund amount in `FEN` (required)")
		fs.StringVar(&outRefundNo, "out-refund-no", "", "refund id (the idempotency key; default: generated)")
		fs.StringVar(&reason, "reason", "", "refund reason shown to the payer")
	}
	// The order id may come first (wxpay order get ORDER1 --json) or after the flags.
	if sub != "create" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		orderID, args = args[0], args[1:]
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if sub != "create" && orderID == "" && fs.NArg() == 1 {
		orderID = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if sub != "create" && orderID == "" {
		return usagef("which order? wxpay order %s ORDER_ID", sub)
	}
	if sub == "create" || sub == "refund" {
		switch {
		case !flagSet(fs, "amount"):
			return usagef("--amount is required: a positive number of fen (分), e.g. --amount 100 for ¥1.00")
		case amount == 0:
			return usagef("--amount 0: WeChat Pay takes no zero amounts (amount.total is at least 1 fen); give a positive number of fen, e.g. --amount 100 for ¥1.00")
		case amount < 0:
			return usagef("--amount %d: an amount is a positive number of fen (分), e.g. --amount 100 for ¥1.00", amount)
		}
	}
	if *base == "" {
		*base = "http://127.0.0.1:8080"
		if info, ok := liveServe(filepath.Dir(filepath.Clean(*keysDir))); ok {
			*base = info.URL
		}
	}
	tok, err := apiToken(*token, *keysDir)
	if err != nil {
		return err
	}
	c := &orderClient{base: *base, token: tok, http: &http.Client{Timeout: 30 * time.Second}}
	var out map[string]any
	switch sub {
	case "create":
		if orderID == "" {
			orderID = "T" + time.Now().Format("20060102150405")
		}
		body := map[string]any{"order_id": orderID, "amount": amount, "description": desc, "scene": scene}
		if openid != "" {
			body["payer"] = map[string]string{"openid": openid}
		}
		out, err = c.do(ctx, http.MethodPost, "/orders", body)
	case "get":
		out, err = c.do(ctx, http.MethodGet, "/orders/"+orderID, nil)
	case "close":
		out, err = c.do(ctx, http.MethodPost, "/orders/"+orderID+"/close", nil)
	case "refund":
		body := map[string]any{"amount": amount}
		if outRefundNo != "" {
			body["out_refund_no"] = outRefundNo
		}
		if reason != "" {
			body["reason"] = reason
		}
		out, err = c.do(ctx, http.MethodPost, "/orders/"+orderID+"/refunds", body)
	case "pay":
		out, err = c.pay(ctx, orderID)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	printOrder(stdout, sub, out)
	return nil
}

// pay plays the payer through the simulator: it pays the order's current attempt, or
// "scans" a Native code_url (weixin://wxpay/bizpayurl?pr=…) given instead of an order id.
func (c *orderClient) pay(ctx context.Context, orderID string) (map[string]any, error) {
	if strings.HasPrefix(orderID, "weixin://") {
		out, err := c.do(ctx, http.MethodPost, "/sim/pay", map[string]string{"code_url": orderID})
		if err != nil {
			return nil, fmt.Errorf("%w\n  (pay works against wxpay serve's simulator only: a real code is scanned in WeChat)", err)
		}
		return out, nil
	}
	view, err := c.do(ctx, http.MethodGet, "/orders/"+orderID, nil)
	if err != nil {
		return nil, err
	}
	no, _ := view["out_trade_no"].(string)
	if _, err := c.do(ctx, http.MethodPost, "/sim/pay", map[string]string{"out_trade_no": no}); err != nil {
		return nil, fmt.Errorf("%w\n  (pay works against wxpay serve's simulator only: a real order is paid in WeChat)", err)
	}
	// The notification is delivered asynchronously; read the state it produced.
	for range 20 {
		if view, err = c.do(ctx, http.MethodGet, "/orders/"+orderID, nil); err != nil || view["state"] == "SUCCESS" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return view, err
}

func apiToken(flagToken, keysDir string) (string, error) {
	if flagToken != "" {
		return flagToken, nil
	}
	if v := os.Getenv(config.EnvAPIToken); v != "" {
		return strings.TrimSpace(v), nil
	}
	b, err := os.ReadFile(filepath.Join(keysDir, config.FileAPIToken))
	if err != nil {
		return "", fmt.Errorf("no API token: pass --token, set %s, or run wxpay serve once to create %s", config.EnvAPIToken, filepath.Join(keysDir, config.FileAPIToken))
	}
	return strings.TrimSpace(string(b)), nil
}

// printOrder shows an answer for a person: state, amount in yuan, and for Native the QR
// code in the terminal beside the code_url it holds.
func printOrder(w io.Writer, sub string, out map[string]any) {
	str := func(k string) string { s, _ := out[k].(string); return s }
	if id := str("out_refund_no"); id != "" && sub == "refund" {
		fmt.Fprintf(w, "refund %s: %s, %s\n", id, str("state"), yuanOf(out["amount"]))
		return
	}
	fmt.Fprintf(w, "order %s (out_trade_no %s): %s, %s\n", str("order_id"), str("out_trade_no"), str("state"), yuanOf(out["amount"]))
	if m := str("message"); m != "" {
		fmt.Fprintf(w, "%s\n", m)
	}
	pay, _ := out["pay"].(map[string]any)
	if code, _ := pay["code_url"].(string); code != "" {
		fmt.Fprintf(w, "scan with WeChat (or: wxpay order pay %s):\n", str("order_id"))
		printQR(w, code)
		fmt.Fprintf(w, "code_url: %s\n", code)
	}
	if u, _ := pay["h5_url"].(string); u != "" {
		fmt.Fprintf(w, "open in the phone's browser (not inside WeChat): %s\n", u)
	}
	if u, _ := pay["cashier_url"].(string); u != "" {
		fmt.Fprintf(w, "cashier: %s\n", u)
	}
	if pkg, _ := pay["package"].(string); pkg != "" {
		b, _ := json.MarshalIndent(pay, "  ", "  ")
		fmt.Fprintf(w, "pay parameters for the client:\n  %s\n", b)
	}
}

func yuanOf(v any) string {
	f, ok := v.(float64)
	if !ok {
		return "amount unknown"
	}
	fen := int64(f)
	return fmt.Sprintf("¥%d.%02d", fen/100, fen%100)
}

// printQR draws a QR code with half-block characters: two modules a character row, a
// quiet zone of 2 modules, dark on a light terminal background inverted so that phone
// cameras read it on dark terminals too.
func printQR(w io.Writer, text string) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		fmt.Fprintf(w, "(QR code: %v)\n", err)
		return
	}
	const quiet = 2
	dark := func(x, y int) bool {
		if x < 0 || y < 0 || x >= c.Size || y >= c.Size {
			return false
		}
		return c.Black(x, y)
	}
	for y := -quiet; y < c.Size+quiet; y += 2 {
		var b strings.Builder
		for x := -quiet; x < c.Size+quiet; x++ {
			top, bottom := !dark(x, y), !dark(x, y+1) // light modules are drawn
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		fmt.Fprintln(w, b.String())
	}
}
