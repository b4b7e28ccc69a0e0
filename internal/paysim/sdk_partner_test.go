package paysim

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments"
	pjsapi "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/jsapi"
	pnative "github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/profitsharing"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/paysls/wxpay/internal/keysdirtest"
)

// TestOfficialSDKPartner drives the simulator's partner (服务商) endpoints with the
// official Go SDK's partnerpayments, refunddomestic and profitsharing services, in both
// platform-certificate and public-key mode, with the SDK's response validation on:
// prepay (JSAPI with the SDK's pay-bundle signing, Native), query by out_trade_no and by
// transaction_id, pay and the notification parsed into the SDK's partner Transaction, a
// refund with sub_mchid and its notification, then profit sharing — a receiver whose
// name the SDK encrypts for the platform key, a split, its query, the unsplit amount,
// the sub-merchant's ratio, a return and its query, and the unfreeze of the rest — and
// the partner close. Each answer must parse into the SDK's own models: a field name or
// a time format the simulator gets wrong fails here, not only in our client.
func TestOfficialSDKPartner(t *testing.T) {
	const sub, supplier = "1900000109", "1900000201"
	for _, mode := range []string{ModeCert, ModePubKey} {
		t.Run(mode, func(t *testing.T) {
			id, dir := keysdirtest.Dir(t) // the SDK reads the files, the simulator the identity
			e := newEnv(t, Config{Identity: id, Mode: mode, SubMchIDs: []string{sub}})
			m := newSDKMerchant(t, dir, mode, e.srv.URL)
			notifyURL, notices := sdkReceiver(t, m)
			ctx := context.Background()
			stamp := strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
			no := func(kind string) string { return "SDKP" + kind + stamp }
			openid := openID(m.appid, "carol")

			js := pjsapi.JsapiApiService{Client: m.client}
			order := func(outTradeNo string, total int64) pjsapi.PrepayRequest {
				return pjsapi.PrepayRequest{
					SpAppid: core.String(m.appid), SpMchid: core.String(m.mchid), SubMchid: core.String(sub),
					Description: core.String("SDK 服务商 JSAPI"), OutTradeNo: core.String(outTradeNo), NotifyUrl: core.String(notifyURL),
					Amount: &pjsapi.Amount{Total: core.Int64(total)}, Payer: &pjsapi.Payer{SpOpenid: core.String(openid)},
					SettleInfo: &pjsapi.SettleInfo{ProfitSharing: core.Bool(true)},
				}
			}
			jr, _, err := js.PrepayWithRequestPayment(ctx, order(no("J"), 10000), m.appid)
			if err != nil {
				t.Fatalf("partner jsapi prepay: %v", err)
			}
			if !strings.HasPrefix(*jr.PrepayId, "wx") || *jr.Package != "prepay_id="+*jr.PrepayId {
				t.Fatalf("partner jsapi prepay response %+v", jr)
			}
			nr, _, err := (&pnative.NativeApiService{Client: m.client}).Prepay(ctx, pnative.PrepayRequest{
				SpAppid: core.String(m.appid), SpMchid: core.String(m.mchid), SubMchid: core.String(sub),
				Description: core.String("SDK 服务商 Native"), OutTradeNo: core.String(no("N")), NotifyUrl: core.String(notifyURL),
				Amount: &pnative.Amount{Total: core.Int64(100)},
			})
			if err != nil || !strings.HasPrefix(*nr.CodeUrl, "weixin://wxpay/bizpayurl?pr=") {
				t.Fatalf("partner native prepay: %v %+v", err, nr)
			}
			// A sub-merchant the service provider does not serve is refused.
			bad := order(no("X"), 100)
			bad.SubMchid = core.String("1900000999")
			if _, _, err := js.Prepay(ctx, bad); apiErrorCode(t, err) != "INVALID_REQUEST" {
				t.Fatalf("unknown sub_mchid: %v", err)
			}

			tx, _, err := js.QueryOrderByOutTradeNo(ctx, pjsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no("J")), SpMchid: core.String(m.mchid), SubMchid: core.String(sub)})
			if err != nil || *tx.TradeState != "NOTPAY" || *tx.SubMchid != sub || *tx.SpMchid != m.mchid {
				t.Fatalf("query unpaid: %v %+v", err, tx)
			}

			if st := e.simCall("POST", "/sim/orders/"+no("J")+"/pay", nil, nil); st != 200 {
				t.Fatalf("sim pay: %d", st)
			}
			n := nextNotice(t, notices)
			if n.EventType != "TRANSACTION.SUCCESS" || n.Resource.OriginalType != "transaction" {
				t.Fatalf("envelope %+v", n)
			}
			var paid partnerpayments.Transaction
			if err := json.Unmarshal([]byte(n.Resource.Plaintext), &paid); err != nil {
				t.Fatal(err)
			}
			if *paid.TradeState != "SUCCESS" || *paid.OutTradeNo != no("J") || *paid.SubMchid != sub || *paid.SpMchid != m.mchid ||
				*paid.Amount.Total != 10000 || *paid.Payer.SpOpenid != openid || *paid.TradeType != "JSAPI" {
				t.Fatalf("notified partner transaction %s", n.Resource.Plaintext)
			}
			byID, _, err := js.QueryOrderById(ctx, pjsapi.QueryOrderByIdRequest{TransactionId: paid.TransactionId, SpMchid: core.String(m.mchid), SubMchid: core.String(sub)})
			if err != nil || *byID.TradeState != "SUCCESS" || *byID.OutTradeNo != no("J") {
				t.Fatalf("query by id: %v %+v", err, byID)
			}
			e.clock.Advance(2 * time.Minute) // a split waits a minute after the payment

			// Profit sharing (服务商分账): the receiver's name is encrypted by the SDK
			// for the platform key it was configured with (Wechatpay-Serial set by it).
			ps := profitsharing.ReceiversApiService{Client: m.client}
			if _, _, err := ps.AddReceiver(ctx, profitsharing.AddReceiverRequest{
				SubMchid: core.String(sub), Appid: core.String(m.appid), Type: profitsharing.RECEIVERTYPE_MERCHANT_ID.Ptr(),
				Account: core.String(supplier), Name: core.String("供应商有限公司"), RelationType: profitsharing.RECEIVERRELATIONTYPE_SUPPLIER.Ptr(),
			}); err != nil {
				t.Fatalf("add receiver: %v", err)
			}
			ratio, _, err := (&profitsharing.MerchantsApiService{Client: m.client}).QueryMerchantRatio(ctx, profitsharing.QueryMerchantRatioRequest{SubMchid: core.String(sub)})
			if err != nil || *ratio.MaxRatio != 3000 {
				t.Fatalf("merchant ratio: %v %+v", err, ratio)
			}
			os := profitsharing.OrdersApiService{Client: m.client}
			split, _, err := os.CreateOrder(ctx, profitsharing.CreateOrderRequest{
				SubMchid: core.String(sub), Appid: core.String(m.appid), TransactionId: paid.TransactionId, OutOrderNo: core.String(no("S")),
				UnfreezeUnsplit: core.Bool(false),
				Receivers: []profitsharing.CreateOrderReceiver{{Type: core.String("MERCHANT_ID"), Account: core.String(supplier),
					Amount: core.Int64(1000), Description: core.String("供应商货款")}},
			})
			if err != nil || *split.OutOrderNo != no("S") || *split.OrderId == "" || len(split.Receivers) != 1 || *split.Receivers[0].Amount != 1000 {
				t.Fatalf("split: %v %+v", err, split)
			}
			q, _, err := os.QueryOrder(ctx, profitsharing.QueryOrderRequest{SubMchid: core.String(sub), TransactionId: paid.TransactionId, OutOrderNo: core.String(no("S"))})
			if err != nil || *q.State != profitsharing.ORDERSTATUS_FINISHED || *q.Receivers[0].Result != profitsharing.DETAILSTATUS_SUCCESS || *q.Receivers[0].DetailId == "" {
				t.Fatalf("split query: %v %+v", err, q)
			}
			left, _, err := (&profitsharing.TransactionsApiService{Client: m.client}).QueryOrderAmount(ctx, profitsharing.QueryOrderAmountRequest{TransactionId: paid.TransactionId})
			if err != nil || *left.UnsplitAmount <= 0 || *left.UnsplitAmount >= 10000-1000 {
				t.Fatalf("unsplit amount: %v %+v", err, left)
			}
			rs := profitsharing.ReturnOrdersApiService{Client: m.client}
			ret, _, err := rs.CreateReturnOrder(ctx, profitsharing.CreateReturnOrderRequest{
				SubMchid: core.String(sub), OutOrderNo: core.String(no("S")), OutReturnNo: core.String(no("R")),
				ReturnMchid: core.String(supplier), Amount: core.Int64(300), Description: core.String("退款回退"),
			})
			if err != nil || *ret.OutReturnNo != no("R") || *ret.Amount != 300 || *ret.ReturnMchid != supplier {
				t.Fatalf("return: %v %+v", err, ret)
			}
			rq, _, err := rs.QueryReturnOrder(ctx, profitsharing.QueryReturnOrderRequest{SubMchid: core.String(sub), OutOrderNo: core.String(no("S")), OutReturnNo: core.String(no("R"))})
			if err != nil || *rq.Result != profitsharing.RETURNORDERSTATUS_SUCCESS || *rq.ReturnId == "" {
				t.Fatalf("return query: %v %+v", err, rq)
			}
			uf, _, err := os.UnfreezeOrder(ctx, profitsharing.UnfreezeOrderRequest{SubMchid: core.String(sub), TransactionId: paid.TransactionId,
				OutOrderNo: core.String(no("U")), Description: core.String("解冻剩余资金")})
			if err != nil || *uf.OutOrderNo != no("U") {
				t.Fatalf("unfreeze: %v %+v", err, uf)
			}
			if left, _, err := (&profitsharing.TransactionsApiService{Client: m.client}).QueryOrderAmount(ctx, profitsharing.QueryOrderAmountRequest{TransactionId: paid.TransactionId}); err != nil || *left.UnsplitAmount != 0 {
				t.Fatalf("unsplit after unfreeze: %v %+v", err, left)
			}

			// A partner refund names the sub-merchant; its notification parses in the SDK.
			rf, _, err := (&refunddomestic.RefundsApiService{Client: m.client}).Create(ctx, refunddomestic.CreateRequest{
				SubMchid: core.String(sub), TransactionId: paid.TransactionId, OutRefundNo: core.String(no("F")), NotifyUrl: core.String(notifyURL),
				Amount: &refunddomestic.AmountReq{Refund: core.Int64(500), Total: core.Int64(10000), Currency: core.String("CNY")},
			})
			if err != nil || *rf.Amount.Refund != 500 || *rf.OutTradeNo != no("J") {
				t.Fatalf("partner refund: %v %+v", err, rf)
			}
			if st := e.simCall("POST", "/sim/refunds/"+no("F")+"/settle", nil, nil); st != 200 {
				t.Fatalf("sim settle: %d", st)
			}
			n = nextNotice(t, notices)
			var notice struct {
				SpMchID      string `json:"sp_mchid"`
				SubMchID     string `json:"sub_mchid"`
				RefundStatus string `json:"refund_status"`
				OutRefundNo  string `json:"out_refund_no"`
			}
			if err := json.Unmarshal([]byte(n.Resource.Plaintext), &notice); err != nil {
				t.Fatal(err)
			}
			if n.EventType != "REFUND.SUCCESS" || notice.RefundStatus != "SUCCESS" || notice.SubMchID != sub || notice.SpMchID != m.mchid || notice.OutRefundNo != no("F") {
				t.Fatalf("partner refund notification %+v %s", n, n.Resource.Plaintext)
			}
			got, _, err := (&refunddomestic.RefundsApiService{Client: m.client}).QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String(no("F")), SubMchid: core.String(sub)})
			if err != nil || *got.Status != refunddomestic.STATUS_SUCCESS {
				t.Fatalf("partner refund query: %v %+v", err, got)
			}

			// Close the unpaid Native order after the 5-minute rule.
			e.clock.Advance(6 * time.Minute)
			ns := pnative.NativeApiService{Client: m.client}
			if _, err := ns.CloseOrder(ctx, pnative.CloseOrderRequest{OutTradeNo: core.String(no("N")), SpMchid: core.String(m.mchid), SubMchid: core.String(sub)}); err != nil {
				t.Fatalf("partner close: %v", err)
			}
			ntx, _, err := ns.QueryOrderByOutTradeNo(ctx, pnative.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no("N")), SpMchid: core.String(m.mchid), SubMchid: core.String(sub)})
			if err != nil || *ntx.TradeState != "CLOSED" {
				t.Fatalf("query closed: %v %+v", err, ntx)
			}
		})
	}
}
