package wechatpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestShareRequestsAreCheckedLocally(t *testing.T) {
	f := newFakeWX(t, func(*http.Request, []byte) reply { t.Error("nothing may be sent"); return reply{} })
	c, _ := f.client()
	c.SpMchID, c.SpAppID, c.SubMchID = "1900000100", "wx1234567890abcdef", "1900000109"
	ctx := context.Background()
	ok := EcommerceShareReceiver{Type: ReceiverMerchant, ReceiverAccount: "1900000201", Amount: 10, Description: "佣金"}
	many := make([]EcommerceShareReceiver, 51)
	for i := range many {
		many[i] = ok
	}
	cases := map[string]struct {
		req   EcommerceShareRequest
		field string
	}{
		"no transaction":       {EcommerceShareRequest{OutOrderNo: "P1", Receivers: []EcommerceShareReceiver{ok}}, "transaction_id"},
		"bad out_order_no":     {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P#1", Receivers: []EcommerceShareReceiver{ok}}, "out_order_no"},
		"51 receivers":         {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1", Receivers: many}, "receivers"},
		"no receivers":         {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1"}, "receivers"},
		"unknown type":         {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1", Receivers: []EcommerceShareReceiver{{Type: "PERSONAL_WECHATID", ReceiverAccount: "x", Amount: 1, Description: "d"}}}, "receivers[0].type"},
		"zero amount":          {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1", Receivers: []EcommerceShareReceiver{{Type: ReceiverMerchant, ReceiverAccount: "x", Description: "d"}}}, "receivers[0].amount"},
		"long description":     {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1", Receivers: []EcommerceShareReceiver{{Type: ReceiverMerchant, ReceiverAccount: "x", Amount: 1, Description: strings.Repeat("分", 81)}}}, "receivers[0].description"},
		"name without serial":  {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1", Receivers: []EcommerceShareReceiver{{Type: ReceiverMerchant, ReceiverAccount: "x", Amount: 1, Description: "d", ReceiverName: "c2VjcmV0"}}}, "receiver_name"},
		"person without appid": {EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1", Receivers: []EcommerceShareReceiver{{Type: ReceiverPersonalOpenID, ReceiverAccount: "o1", Amount: 1, Description: "d"}}}, ""},
	}
	for name, tc := range cases {
		cc := *c
		if name == "person without appid" {
			cc.SpAppID, cc.AppID = "", ""
			tc.field = "appid"
		}
		_, err := cc.EcommerceShare(ctx, tc.req)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v (want field %s)", name, err, tc.field)
		}
	}
	if _, err := c.EcommerceReturnShare(ctx, ReturnRequest{OrderID: "1", OutOrderNo: "2", OutReturnNo: "R1", ReturnMchID: "m", Amount: 1, Description: "d"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a return naming the split twice: %v", err)
	}
	if _, err := c.CreateSubsidy(ctx, SubsidyRequest{TransactionID: "42", Amount: MaxSubsidyAmount + 1, Description: "d"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a subsidy above 5000 yuan: %v", err)
	}
	if _, err := c.SubMerchantFundFlowBill(ctx, SubMerchantFundFlowBillRequest{BillDate: "2026-03-10", AccountType: "ALL"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ALL is the e-commerce API's account type: %v", err)
	}
}

// A split is retried after a transient failure: the same out_order_no splits once.
func TestShareIsRetried(t *testing.T) {
	n := 0
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		n++
		if n == 1 {
			return reply{status: 500, body: `{"code":"SYSTEM_ERROR","message":"系统错误"}`}
		}
		return reply{body: `{"sub_mchid":"1900000109","transaction_id":"42","out_order_no":"P1","order_id":"3008","status":"PROCESSING"}`}
	})
	c, sleeps := f.client()
	c.SpMchID, c.SubMchID = "1900000100", "1900000109"
	got, err := c.EcommerceShare(context.Background(), EcommerceShareRequest{TransactionID: "42", OutOrderNo: "P1",
		Receivers: []EcommerceShareReceiver{{Type: ReceiverMerchant, ReceiverAccount: "1900000201", Amount: 10, Description: "佣金"}}})
	if err != nil || got.OrderID != "3008" || len(*sleeps) != 1 {
		t.Fatalf("%v %+v %v", err, got, *sleeps)
	}
	reqs := f.requests()
	if len(reqs) != 2 || !bytes.Equal(reqs[0].body, reqs[1].body) || reqs[0].target != "/v3/ecommerce/profitsharing/orders" {
		t.Fatalf("requests: %+v", reqs)
	}
}

func TestDecodeProfitSharingNotice(t *testing.T) {
	plain := []byte(`{"sp_mchid":"1900000100","sub_mchid":"1900000109","transaction_id":"42","order_id":"3008","out_order_no":"P1",
		"receiver":{"type":"MERCHANT_ID","account":"1900000201","amount":100,"description":"佣金"},"success_time":"2026-03-10T10:00:00+08:00"}`)
	for event, kind := range map[string]string{EventProfitSharingSuccess: "split", EventProfitSharingReturn: "return", EventTransactionSuccess: ""} {
		n := &Notification{EventType: event}
		p, err := DecodeProfitSharingNotice(n, plain)
		if err != nil || p.Kind != kind || p.Receiver.Amount != 100 || !IsProfitSharingNotice(n, plain) {
			t.Errorf("%s: %v %+v", event, err, p)
		}
	}
	if _, err := DecodeProfitSharingNotice(&Notification{EventType: EventRefundSuccess}, plain); !errors.Is(err, ErrNotifyMalformed) {
		t.Errorf("a refund event: %v", err)
	}
	payment := []byte(`{"out_trade_no":"A1","trade_state":"SUCCESS","transaction_id":"42"}`)
	if IsProfitSharingNotice(&Notification{EventType: EventTransactionSuccess}, payment) {
		t.Error("a payment notification is not a profit-sharing one")
	}
}

const fundHeader = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号\r\n"

func TestFundBillParser(t *testing.T) {
	// WeChat Pay's own sample line and its totals written as "20.0" (资金账单结构说明),
	// ASCII parentheses in the header, a comma inside a note.
	bill := "\xef\xbb\xbf" + fundHeader +
		"`2018-02-01 04:21:23,`50000305742018020103387128253,`1900009231201802015884652186,`退款,`退款,`支出,`0.02,`0.17,`system,`缺货, 补发,`REF4200000068201801293084726067\r\n" +
		"`2018-02-01 05:00:00,`4200000068201801293084726067,`1900009231201802015884652187,`交易,`交易,`收入,`1.5,`1.67,`system,`,`A1\r\n" +
		"资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`2.0,`1.0,`1.50,`1.0,`0.02\r\n"
	p, err := NewFundBillParser(strings.NewReader(bill))
	if err != nil {
		t.Fatal(err)
	}
	var rows []FundBillRow
	for {
		var r FundBillRow
		err := p.Next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 || rows[0].Amount != -2 || rows[0].Balance != 17 || rows[0].Note != "缺货, 补发" || rows[1].Amount != 150 || p.Totals().In != 150 {
		t.Fatalf("rows %+v totals %+v", rows, p.Totals())
	}
	bad := map[string]string{
		"totals differ": fundHeader + "`t,`b,`f,`交易,`交易,`收入,`1.00,`1.00,`s,`,`v\r\n资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`1,`1,`2.00,`0,`0.00\r\n",
		"truncated":     fundHeader + "`t,`b,`f,`交易,`交易,`收入,`1.00,`1.00,`s,`,`v\r\n",
	}
	for name, b := range bad {
		p, err := NewFundBillParser(strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var r FundBillRow
		for err == nil {
			err = p.Next(&r)
		}
		if !errors.Is(err, errFundBillTotals) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for in, want := range map[string]int64{"12.34": 1234, "-0.5": -50, "7": 700, "0.01": 1} {
		if got, err := parseYuan([]byte(in)); err != nil || got != want {
			t.Errorf("ParseYuan(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1.234", "1e3", "-", "1.2.3"} {
		if _, err := parseYuan([]byte(in)); err == nil {
			t.Errorf("ParseYuan(%q) must fail", in)
		}
	}
}

// FetchEncryptedBill against a fake: files joined in bill_sequence order whatever the
// list's order, keys unwrapped with the merchant key, the list checked.
func TestFetchEncryptedBill(t *testing.T) {
	parts := []string{fundHeader + "`t,`b1,`f,`交易,`交易,`收入,`1.00,`1.00,`s,`,`v\r\n", "`t,`b2,`f,`交易,`交易,`收入,`2.00,`3.00,`s,`,`v\r\n",
		"资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`2,`2,`3.00,`0,`0.00\r\n"}
	files := map[string][]byte{}
	var list EncryptedBillList
	f := newFakeWX(t, func(r *http.Request, _ []byte) reply {
		b, ok := files[r.URL.Query().Get("token")]
		if !ok {
			return reply{status: 404, body: `{"code":"RESOURCE_NOT_EXISTS","message":"x"}`}
		}
		return reply{body: string(b), unsigned: true}
	})
	for i, p := range parts {
		key := []byte(strings.Repeat(string(rune('a'+i)), 32))
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write([]byte(p))
		zw.Close()
		var ct bytes.Buffer
		if _, err := SealBillPart(&ct, &zb, key, "nonce-of-file-"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
		tok := "t" + string(rune('0'+i))
		files[tok] = ct.Bytes()
		wrapped, _ := EncryptOAEP(&merchantKey(t).PublicKey, key)
		sum := sha1.Sum([]byte(p))
		list.DownloadBillList = append([]EncryptedBill{{BillSequence: i + 1, DownloadURL: f.srv.URL + "/v3/billdownload/file?token=" + tok,
			EncryptKey: wrapped, HashType: "SHA1", HashValue: hex.EncodeToString(sum[:]), Nonce: "nonce-of-file-" + string(rune('0'+i))}}, list.DownloadBillList...)
	}
	list.DownloadBillCount = 3
	c, _ := f.client()
	bill, err := c.FetchEncryptedBill(context.Background(), &list, FetchOptions{Gzipped: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(bill.Open())
	if err != nil || string(got) != strings.Join(parts, "") {
		t.Fatalf("%v\n%s", err, got)
	}
	if again, _ := io.ReadAll(bill.Open()); !bytes.Equal(again, got) {
		t.Fatal("a second Open reads the same bill")
	}
	bill.Close()
	if _, err := io.ReadAll(bill.Open()); err == nil {
		t.Fatal("reading a closed bill must fail")
	}
	broken := list
	broken.DownloadBillCount = 4
	if _, err := c.FetchEncryptedBill(context.Background(), &broken, FetchOptions{}); !errors.Is(err, errBillList) {
		t.Fatalf("count mismatch: %v", err)
	}
	broken = EncryptedBillList{DownloadBillCount: 2, DownloadBillList: []EncryptedBill{list.DownloadBillList[0], list.DownloadBillList[0]}}
	if _, err := c.FetchEncryptedBill(context.Background(), &broken, FetchOptions{}); !errors.Is(err, errBillList) {
		t.Fatalf("sequence gap: %v", err)
	}
	// A key wrapped for another merchant does not unwrap; no temporary file stays.
	other := list
	other.DownloadBillList = append([]EncryptedBill(nil), list.DownloadBillList...)
	other.DownloadBillList[0].EncryptKey, _ = EncryptOAEP(&platformKey(t).PublicKey, []byte(strings.Repeat("z", 32)))
	dir := t.TempDir()
	if _, err := c.FetchEncryptedBill(context.Background(), &other, FetchOptions{Gzipped: true, TempDir: dir}); err == nil || !strings.Contains(err.Error(), "merchant private key") {
		t.Fatalf("foreign key: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
