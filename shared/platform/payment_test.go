package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const sub = "1900000109"

// PaymentState is what confirms a refund refused as RESOURCE_NOT_EXISTS ("订单不存在")
// before the order goes to REVIEW (payment.ConfirmRefusal): each answer of WeChat
// Pay's order query (查询订单) must come back as what WeChat Pay said — a trade_state, or
// the query's error with its code — never as another state. Against the simulator, on
// an e-commerce platform (the sub-merchant's order by its out_trade_no, and a payment
// kept on an order by the transaction_id a refund names).
func TestPaymentState(t *testing.T) {
	var revoke atomic.Pointer[string] // out_trade_no whose answer becomes REVOKED
	var w *testenv.World
	w = testenv.New(t, testenv.Options{WrapV3: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if no := revoke.Load(); no == nil || !strings.HasSuffix(r.URL.Path, "/out-trade-no/"+*no) {
				sim.ServeHTTP(rw, r)
				return
			}
			// REVOKED (已撤销) is answered only for a 付款码 payment reversed, which the
			// simulator does not take: its SUCCESS answer rewritten, signed as WeChat Pay
			// signs answers.
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, r)
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["trade_state"] != wechatpay.TradeStateSuccess {
				t.Errorf("the answer to rewrite: %d %s", rec.Code, rec.Body)
			}
			m["trade_state"], m["trade_state_desc"] = wechatpay.TradeStateRevoked, "已撤销"
			body, _ := json.Marshal(m)
			sig, err := (&wechatpay.PlatformSigner{Serial: w.ID.PlatformSerial(), Key: w.ID.PlatformKey, Now: time.Now}).Sign(body)
			if err != nil {
				t.Fatal(err)
			}
			h := rec.Header().Clone()
			sig.Apply(h)
			for k, v := range h {
				rw.Header()[k] = v
			}
			rw.WriteHeader(http.StatusOK)
			_, _ = rw.Write(body)
		})
	}})
	cfg := w.Config
	cfg.Bundle.Mode, cfg.Bundle.Partner = config.ModeEcommerce, true
	cfg.NotifyURL = "http://127.0.0.1:9/notify"
	client, err := payclient.New(cfg, w.Store, nil, payclient.Options{AllowLoopbackNotifyURL: true})
	if err != nil {
		t.Fatal(err)
	}
	api := platform.New(client, cfg)
	ctx := context.Background()
	place := func(no string) *payment.Order {
		t.Helper()
		exp := w.Clock.Now().Add(time.Hour)
		if _, err := client.ForSub(sub, "").Prepay(ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{OutTradeNo: no, Description: "state",
			NotifyURL: cfg.NotifyURL, TimeExpire: wechatpay.FormatTime(exp), Amount: wechatpay.Amount{Total: 100, Currency: "CNY"}}); err != nil {
			t.Fatal(err)
		}
		return &payment.Order{Owner: sub, OutTradeNo: no}
	}
	pay := func(no, result string) string {
		t.Helper()
		tx, _, _, err := w.Sim.Pay(sub+"/"+no, paysim.PayRequest{Result: result})
		if err != nil {
			t.Fatal(err)
		}
		return tx.TransactionID
	}

	paid := place("PSSUCCESS1")
	pay("PSSUCCESS1", wechatpay.TradeStateSuccess)
	unpaid := place("PSNOTPAY01")
	closed := place("PSCLOSED01")
	w.Clock.Advance(6 * time.Minute) // WeChat Pay closes an order 5 minutes after it was placed at the earliest
	if err := client.ForSub(sub, "").Close(ctx, "PSCLOSED01"); err != nil {
		t.Fatal(err)
	}
	failed := place("PSPAYERR01")
	pay("PSPAYERR01", wechatpay.TradeStatePayError)
	revoked := place("PSREVOKED1")
	pay("PSREVOKED1", wechatpay.TradeStateSuccess)
	revoke.Store(&revoked.OutTradeNo)
	// A payment kept on another order (a second payment, kept for review): the refund
	// names its transaction_id, and the query must ask about that one.
	place("PSKEPT0001")
	txid := pay("PSKEPT0001", wechatpay.TradeStateSuccess)
	keeper := place("PSKEEPER01") // NOTPAY itself
	keeper.Payment = &payment.Payment{TransactionID: "4200000000000000000000000001"}

	for _, c := range []struct {
		name    string
		o       *payment.Order
		txid    string
		state   string
		confirm bool // payment.ConfirmRefusal takes it as WeChat Pay holding no paid order
	}{
		{"SUCCESS", paid, "", wechatpay.TradeStateSuccess, false},
		{"NOTPAY", unpaid, "", wechatpay.TradeStateNotPay, true},
		{"CLOSED", closed, "", wechatpay.TradeStateClosed, true},
		{"PAYERROR", failed, "", wechatpay.TradeStatePayError, true},
		{"REVOKED", revoked, "", wechatpay.TradeStateRevoked, true},
		{"kept payment by transaction_id", keeper, txid, wechatpay.TradeStateSuccess, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			state, err := api.PaymentState(ctx, c.o, c.txid)
			if err != nil || state != c.state {
				t.Fatalf("%q %v, want %s", state, err, c.state)
			}
			if got := payment.ConfirmRefusal(state, err); (got == nil) != c.confirm {
				t.Fatalf("ConfirmRefusal(%s): %v", state, got)
			}
		})
	}

	t.Run("ORDER_NOT_EXIST", func(t *testing.T) {
		for _, c := range []struct {
			o    *payment.Order
			txid string
		}{{&payment.Order{Owner: sub, OutTradeNo: "PSNEVER001"}, ""}, {keeper, "4200000000000000000000000099"}} {
			state, err := api.PaymentState(ctx, c.o, c.txid)
			var ae *wechatpay.APIError
			if state != "" || !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) || !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
				t.Fatalf("%q %v, want ORDER_NOT_EXIST (404)", state, err)
			}
			if !strings.Contains(err.Error(), cmpOr(c.txid, c.o.OutTradeNo)) {
				t.Fatalf("the error does not say what was asked: %v", err)
			}
			if payment.ConfirmRefusal(state, err) != nil {
				t.Fatalf("an order WeChat Pay does not know confirms the refusal")
			}
		}
	})
	t.Run("transport error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + ln.Addr().String()
		ln.Close() // nobody answers there
		dcfg := cfg
		dcfg.APIBase = down
		dc, err := payclient.New(dcfg, w.Store, nil, payclient.Options{AllowLoopbackNotifyURL: true})
		if err != nil {
			t.Fatal(err)
		}
		state, err := platform.New(dc, dcfg).PaymentState(ctx, paid, "")
		if state != "" || err == nil || wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
			t.Fatalf("%q %v, want the transport's error", state, err)
		}
		if got := payment.ConfirmRefusal(state, err); !errors.Is(got, payment.ErrRefusalUnconfirmed) {
			t.Fatalf("a failed query confirms the refusal: %v", got)
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
