package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const orderSynopsis = `create|get|pay|close|refund [flags]

A thin client of the bundle's order API (what a merchant's backend calls), for trying
it from a terminal. The API token comes from --token, $WXPAY_API_TOKEN or
<keys-dir>/api_token (written by wxpay serve). 'wxpay order <subcommand> -h' shows a
subcommand's flags.

  wxpay order create --order-id ORDER10001 --amount 100 --description "Coffee" --scene native
  wxpay order create --order-id CART10001 --sub 1900000101:300 --sub 1900000102:200   (合单, ecommerce mode)
  wxpay order get ORDER10001
  wxpay order pay ORDER10001            (the simulator plays the payer: wxpay serve without credentials)
  wxpay order pay 'weixin://wxpay/bizpayurl?pr=…'   (or "scans" a Native code_url)
  wxpay order refund ORDER10001 --amount 50
  wxpay order close ORDER10001`

// orderSubSynopsis is each subcommand's usage line and what it does.
var orderSubSynopsis = map[string]string{
	"create": "--amount FEN [--order-id ID] [--description TEXT] [--scene native|h5|jsapi|miniprogram|app|auto|cashier] [--openid OPENID] [flags]\n" +
		"       --sub SUB_MCHID:FEN[:ORDER_ID] --sub … [--order-id ID] [flags]   (a combine order, 合单)\n\n" +
		"Creates an order through POST /orders and shows how it is paid: for native a QR code in the\n" +
		"terminal (pay it with 'wxpay order pay ORDER_ID' under wxpay serve). Repeating it with the\n" +
		"same --order-id answers the same order; another amount re-prices it. Two or more --sub make\n" +
		"a combine order (WXPAY_MODE=ecommerce): one payment for sub-orders of several sub-merchants.",
	"get":    "ORDER_ID [flags]\n\nReads an order (GET /orders/{order_id}); the bundle asks WeChat Pay when it is not settled.",
	"pay":    "ORDER_ID|CODE_URL [--sub-mchid ID] [flags]\n\nPlays the payer at wxpay serve's simulator: pays the order's current attempt, or \"scans\" a\nNative code_url (weixin://wxpay/bizpayurl?pr=…), then shows the order once notified.",
	"close":  "ORDER_ID [flags]\n\nCloses an unpaid order (POST /orders/{order_id}/close); in its first 5 minutes the close is\nrecorded and carried out by reconcile, as WeChat Pay requires.",
	"refund": "ORDER_ID --amount FEN [--out-refund-no N] [--reason TEXT] [flags]\n\nRefunds part or all of a paid order (POST /orders/{order_id}/refunds).",
}

// simDriver calls the simulator's driver API (POST /sim/pay) of a running wxpay serve:
// it plays the payer. The order API itself is called through orderapi.Client.
type simDriver struct {
	base string
	http *http.Client
}

// pay posts one of code_url / out_trade_no to /sim/pay and returns the transaction paid.
func (d simDriver) pay(ctx context.Context, field, value string) (*wechatpay.Transaction, error) {
	return d.post(ctx, "/sim/pay", map[string]string{field: value})
}

// payCombine pays every sub-order of a combine: POST /sim/combines/{id}/pay.
func (d simDriver) payCombine(ctx context.Context, combineOutTradeNo string) error {
	_, err := d.post(ctx, "/sim/combines/"+url.PathEscape(combineOutTradeNo)+"/pay", map[string]string{})
	return err
}

func (d simDriver) post(ctx context.Context, route string, body map[string]string) (*wechatpay.Transaction, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(d.base, "/")+route, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w (is wxpay serve running? start it with make start, or wxpay up)", route, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: reading the answer: %w", route, err)
	}
	var out struct {
		Transaction wechatpay.Transaction `json:"transaction"`
		Error       string                `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("POST %s: HTTP %d, not JSON: %.200s", route, resp.StatusCode, raw)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: HTTP %d: %s", route, resp.StatusCode, out.Error)
	}
	return &out.Transaction, nil
}

// apiFailure words an order API failure for the terminal: the route, the status, the
// API's code and message, and its hint on a line of its own.
func apiFailure(route string, err error) error {
	var e *orderapi.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s: %w (is wxpay serve running? start it with make start, or wxpay up)", route, err)
	}
	msg := fmt.Sprintf("%s: HTTP %d %s: %s", route, e.Status, e.Code, e.Message)
	if e.Hint != "" {
		msg += "\n  hint: " + e.Hint
	}
	if strings.Contains(e.Message, "sub_mchid is required") {
		msg += "\n  (wxpay order: name it with --sub-mchid)"
	}
	if e.Code == "ORDER_IS_COMBINE" {
		msg += "\n  (wxpay order: name a combine without --sub-mchid)"
	}
	return errors.New(msg)
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
		orderID, desc, scene, openid, outRefundNo, reason, subMchID string
		amount                                                      int64
		subs                                                        subOrderFlags
	)
	fs.StringVar(&subMchID, "sub-mchid", "", "the sub-merchant (partner and ecommerce mode; default: the bundle's)")
	switch sub {
	case "create":
		fs.Var(&subs, "sub", "a combine's sub-order `SUB_MCHID:FEN[:ORDER_ID]` (repeat; two or more make a combine order)")
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
	if len(subs) > 0 {
		switch {
		case len(subs) < orderapi.MinCombineSubOrders:
			return usagef("one --sub is not a combine: give two or more (or --amount for a single order)")
		case flagSet(fs, "amount"):
			return usagef("--amount and --sub: a combine's amount is its sub-orders' sum; give one or the other")
		case subMchID != "":
			return usagef("--sub-mchid and --sub: each sub-order names its sub-merchant")
		}
	} else if sub == "create" || sub == "refund" {
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
	hc := &http.Client{Timeout: 30 * time.Second}
	c := orderapi.New(*base, tok, hc)
	var out any
	switch sub {
	case "create":
		if orderID == "" {
			orderID = "T" + time.Now().Format("20060102150405")
		}
		req := orderapi.CreateRequest{OrderID: orderID, Amount: orderapi.Fen(amount), Description: desc, Scene: scene, SubMchID: subMchID}
		if openid != "" {
			req.Payer = &orderapi.Payer{OpenID: openid}
		}
		if len(subs) > 0 {
			req.SubOrders = subs.orders(orderID, desc)
			out, err = c.CreateCombine(ctx, req)
		} else {
			out, err = c.Create(ctx, req)
		}
		err = wrap("POST /orders", err)
	case "get":
		out, err = getOrder(ctx, c, orderID, subMchID)
		err = wrap("GET /orders/"+orderID, err)
	case "close":
		out, err = c.Close(ctx, orderID, subMchID)
		err = wrap("POST /orders/"+orderID+"/close", err)
	case "refund":
		out, err = c.Refund(ctx, orderID, subMchID, orderapi.RefundRequest{OutRefundNo: outRefundNo, Amount: orderapi.Fen(amount), Reason: reason})
		err = wrap("POST /orders/"+orderID+"/refunds", err)
	case "pay":
		out, err = pay(ctx, c, simDriver{base: *base, http: hc}, orderID, subMchID)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	printAnswer(stdout, out)
	return nil
}

// subOrderFlags are the --sub flags of a combine create: SUB_MCHID:FEN[:ORDER_ID].
type subOrderFlags []orderapi.SubOrder

func (f *subOrderFlags) String() string { return "" }

func (f *subOrderFlags) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return fmt.Errorf("want SUB_MCHID:FEN[:ORDER_ID], e.g. 1900000101:300, got %q", v)
	}
	fen, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || fen <= 0 {
		return fmt.Errorf("%q: the amount is a positive number of fen (分), e.g. 1900000101:300 for ¥3.00", v)
	}
	so := orderapi.SubOrder{SubMchID: parts[0], Amount: orderapi.Fen(fen)}
	if len(parts) == 3 {
		so.OrderID = parts[2]
	}
	*f = append(*f, so)
	return nil
}

// orders are the sub-orders of combine orderID: unnamed ones are orderID-1, -2, …
func (f subOrderFlags) orders(orderID, desc string) []orderapi.SubOrder {
	out := slices.Clone(f)
	for i := range out {
		out[i].OrderID = cmp.Or(out[i].OrderID, fmt.Sprintf("%s-%d", orderID, i+1))
		out[i].Description = desc
	}
	return out
}

// getOrder reads an order, or a combine: GET /orders/{id} answers a combine with its
// sub-orders and no out_trade_no of its own, so one without is read again as such.
func getOrder(ctx context.Context, c *orderapi.Client, orderID, subMchID string) (any, error) {
	v, err := c.Order(ctx, orderID, subMchID)
	if err != nil || v.OutTradeNo != "" || subMchID != "" {
		return v, err
	}
	return c.Combine(ctx, orderID)
}

// wrap is apiFailure for a failed call, nil otherwise.
func wrap(route string, err error) error {
	if err == nil {
		return nil
	}
	return apiFailure(route, err)
}

// pay plays the payer through the simulator: it pays the order's current attempt, or
// "scans" a Native code_url (weixin://wxpay/bizpayurl?pr=…) given instead of an order
// id. Paying an order waits for the notification's effect and answers the order.
func pay(ctx context.Context, c *orderapi.Client, sim simDriver, orderID, subMchID string) (any, error) {
	if strings.HasPrefix(orderID, "weixin://") {
		tx, err := sim.pay(ctx, "code_url", orderID)
		if err != nil {
			return nil, fmt.Errorf("%w\n  (pay works against wxpay serve's simulator only: a real code is scanned in WeChat)", err)
		}
		return tx, nil
	}
	view, err := c.Order(ctx, orderID, subMchID)
	if err != nil {
		return nil, apiFailure("GET /orders/"+orderID, err)
	}
	if view.OutTradeNo == "" && subMchID == "" { // a combine order
		return payCombine(ctx, c, sim, orderID)
	}
	if _, err := sim.pay(ctx, "out_trade_no", view.OutTradeNo); err != nil {
		return nil, fmt.Errorf("%w\n  (pay works against wxpay serve's simulator only: a real order is paid in WeChat)", err)
	}
	// The notification is delivered asynchronously; read the state it produced.
	for range 20 {
		if view, err = c.Order(ctx, orderID, subMchID); err != nil || view.State == "SUCCESS" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, apiFailure("GET /orders/"+orderID, err)
	}
	return view, nil
}

// payCombine pays a combine's sub-orders at the simulator and answers the combine once
// its one notification is applied.
func payCombine(ctx context.Context, c *orderapi.Client, sim simDriver, orderID string) (any, error) {
	cv, err := c.Combine(ctx, orderID)
	if err != nil {
		return nil, apiFailure("GET /orders/"+orderID, err)
	}
	if err := sim.payCombine(ctx, cv.CombineOutTradeNo); err != nil {
		return nil, fmt.Errorf("%w\n  (pay works against wxpay serve's simulator only: a real order is paid in WeChat)", err)
	}
	for range 20 {
		if cv, err = c.Combine(ctx, orderID); err != nil || cv.State == "SUCCESS" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, apiFailure("GET /orders/"+orderID, err)
	}
	return cv, nil
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

// printAnswer shows an answer for a person: state, amount in yuan, and for Native the
// QR code in the terminal beside the code_url it holds.
func printAnswer(w io.Writer, out any) {
	switch a := out.(type) {
	case *orderapi.CreateAnswer:
		fmt.Fprintf(w, "order %s (out_trade_no %s): %s, %s\n", a.OrderID, a.OutTradeNo, a.State, yuan(a.Amount))
		printPay(w, a)
	case *orderapi.CombineView:
		fmt.Fprintf(w, "combine order %s (combine_out_trade_no %s): %s, %s\n", a.OrderID, a.CombineOutTradeNo, a.State, yuan(a.Amount))
		for _, so := range a.SubOrders {
			fmt.Fprintf(w, "  sub-order %s (out_trade_no %s, sub_mchid %s): %s, %s\n", so.OrderID, so.OutTradeNo, so.SubMchID, so.State, yuan(so.Amount))
		}
		if len(a.Pay) > 0 {
			printPay(w, &orderapi.CreateAnswer{OrderID: a.OrderID, Scene: a.Scene, Pay: a.Pay})
		}
	case *orderapi.OrderView:
		fmt.Fprintf(w, "order %s (out_trade_no %s): %s, %s\n", a.OrderID, a.OutTradeNo, a.State, yuan(a.Amount))
	case *orderapi.CloseAnswer:
		fmt.Fprintf(w, "order %s (out_trade_no %s): %s\n%s\n", a.OrderID, a.OutTradeNo, a.State, a.Message)
	case *orderapi.RefundView:
		fmt.Fprintf(w, "refund %s: %s, %s\n", a.OutRefundNo, a.State, yuan(a.Amount))
	case *wechatpay.Transaction:
		amount := "amount unknown"
		if a.Amount != nil {
			amount = yuan(a.Amount.Total)
		}
		fmt.Fprintf(w, "out_trade_no %s (transaction %s): %s, %s\n", a.OutTradeNo, a.TransactionID, a.TradeState, amount)
	}
}

// printPay shows how a created order is paid, by scene.
func printPay(w io.Writer, a *orderapi.CreateAnswer) {
	if len(a.Pay) == 0 {
		return
	}
	switch a.Scene {
	case orderapi.SceneNative:
		var p orderapi.NativePay
		if a.DecodePay(&p) == nil && p.CodeURL != "" {
			fmt.Fprintf(w, "scan with WeChat (or: wxpay order pay %s):\n", a.OrderID)
			printQR(w, p.CodeURL)
			fmt.Fprintf(w, "code_url: %s\n", p.CodeURL)
		}
	case orderapi.SceneH5:
		var p orderapi.H5Pay
		if a.DecodePay(&p) == nil {
			fmt.Fprintf(w, "open in the phone's browser (not inside WeChat): %s\n", p.H5URL)
		}
	case orderapi.SceneCashier:
		var p orderapi.CashierPay
		if a.DecodePay(&p) == nil {
			fmt.Fprintf(w, "cashier: %s\n", p.CashierURL)
		}
	default: // jsapi, miniprogram, app: the client's pay parameters
		var p bytes.Buffer
		if json.Indent(&p, a.Pay, "  ", "  ") == nil {
			fmt.Fprintf(w, "pay parameters for the client:\n  %s\n", p.String())
		}
	}
}

// yuan formats fen as ¥12.34.
func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }

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
