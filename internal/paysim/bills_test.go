package paysim

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func TestTradeBill(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	day := time.Date(2024, 6, 11, 10, 0, 0, 0, clock.CST)
	e.clock.Set(day)
	e.placeNative("BILL00000001", 12345, rc.url())
	e.placeNative("BILL00000002", 500, rc.url())
	e.placeNative("BILL00000003", 700, rc.url()) // never paid: not in the bill
	e.simCall("POST", "/sim/orders/BILL00000001/pay", nil, nil)
	e.simCall("POST", "/sim/orders/BILL00000002/pay", nil, nil)
	if r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: "BILL00000001", OutRefundNo: "BILLRF000001",
		Amount: wechatpay.RefundAmount{Refund: 345, Total: 12345, Currency: "CNY"}}); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}

	if r := e.call("GET", "/v3/bill/tradebill?bill_date=2024-06-11", nil); r.status != 400 || r.errorBody(t).Code != "STATEMENT_CREATING" {
		t.Fatalf("same-day bill: %d %s", r.status, r.body)
	}
	e.clock.Advance(24 * time.Hour) // 2024-06-12 10:00
	if r := e.call("GET", "/v3/bill/tradebill?bill_date=2024-06-10", nil); r.status != 400 || r.errorBody(t).Code != "NO_STATEMENT_EXIST" {
		t.Fatalf("quiet day: %d %s", r.status, r.body)
	}
	if r := e.call("GET", "/v3/bill/tradebill?bill_date=2024/06/11", nil); r.status != 400 || r.errorBody(t).Detail.Field != "bill_date" {
		t.Fatalf("bad date: %d %s", r.status, r.body)
	}

	r := e.call("GET", "/v3/bill/tradebill?bill_date=2024-06-11&bill_type=ALL&tar_type=GZIP", nil)
	if r.status != 200 || r.sigErr != nil {
		t.Fatalf("%d %s %v", r.status, r.body, r.sigErr)
	}
	var br wechatpay.BillResponse
	_ = json.Unmarshal(r.body, &br)
	u, err := url.Parse(br.DownloadURL)
	if err != nil || br.HashType != "SHA1" || !strings.HasPrefix(br.DownloadURL, e.srv.URL+"/v3/billdownload/file?token=") {
		t.Fatalf("bill response %+v", br)
	}
	dl := e.call("GET", u.RequestURI(), nil)
	if dl.status != 200 || dl.header.Get(wechatpay.HeaderSignature) != "" {
		t.Fatalf("download: %d, signed=%q", dl.status, dl.header.Get(wechatpay.HeaderSignature))
	}
	zr, err := gzip.NewReader(bytes.NewReader(dl.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	sum := sha1.Sum(plain)
	if hex.EncodeToString(sum[:]) != br.HashValue {
		t.Fatal("hash_value is not the SHA1 of the uncompressed bill")
	}
	recs, err := readCSV(plain)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(tradeBillAll, ",") || len(recs) != 6 {
		t.Fatalf("bill:\n%s", plain)
	}
	// Same-second events: payment 1, its refund, payment 2.
	for _, rec := range recs[1:4] {
		for _, f := range rec {
			if !strings.HasPrefix(f, "`") {
				t.Fatalf("field %q lacks the backtick", f)
			}
		}
	}
	col := func(rec []string, name string) string {
		for i, c := range tradeBillAll {
			if c == name {
				return strings.TrimPrefix(rec[i], "`")
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	if col(recs[1], "商户订单号") != "BILL00000001" || col(recs[1], "订单金额") != "123.45" || col(recs[1], "手续费") != "0.74" || col(recs[1], "交易状态") != "SUCCESS" {
		t.Fatalf("payment row %v", recs[1])
	}
	if col(recs[2], "交易状态") != "REFUND" || col(recs[2], "退款金额") != "3.45" || col(recs[2], "商户退款单号") != "BILLRF000001" || col(recs[2], "手续费") != "-0.02" {
		t.Fatalf("refund row %v", recs[2])
	}
	if strings.Join(recs[4], ",") != strings.Join(tradeBillTotals, ",") ||
		strings.Join(recs[5], ",") != "`3,`128.45,`3.45,`0.00,`0.75,`128.45,`3.45" {
		t.Fatalf("totals %v / %v", recs[4], recs[5])
	}

	// The download_url dies after 30 seconds.
	r = e.call("GET", "/v3/bill/tradebill?bill_date=2024-06-11&bill_type=SUCCESS", nil)
	_ = json.Unmarshal(r.body, &br)
	u, _ = url.Parse(br.DownloadURL)
	e.clock.Advance(31 * time.Second)
	if dl := e.call("GET", u.RequestURI(), nil); dl.status != 400 || !strings.Contains(dl.errorBody(t).Message, "30") {
		t.Fatalf("expired download: %d %s", dl.status, dl.body)
	}
	// The download needs a signed request too.
	if dl := e.callWith(e.id.MerchantSigner(), "GET", u.RequestURI(), nil, func(r *http.Request) { r.Header.Del("Authorization") }); dl.status != 401 {
		t.Fatalf("unsigned download: %d", dl.status)
	}

	r = e.call("GET", "/v3/bill/fundflowbill?bill_date=2024-06-11&account_type=BASIC", nil)
	_ = json.Unmarshal(r.body, &br)
	u, _ = url.Parse(br.DownloadURL)
	dl = e.call("GET", u.RequestURI(), nil)
	recs, err = readCSV(dl.body)
	if err != nil || len(recs) != 1+5+2 || strings.Join(recs[7], ",") != "`5,`2,`128.45,`3,`4.22" {
		t.Fatalf("fund flow bill %v:\n%s", err, dl.body)
	}
	if r := e.call("GET", "/v3/bill/fundflowbill?bill_date=2024-06-11&account_type=OPERATION", nil); r.errorBody(t).Code != "NO_STATEMENT_EXIST" {
		t.Fatalf("operation account: %s", r.body)
	}
}

// readCSV parses a bill; the totals lines have fewer fields than the detail lines.
func readCSV(b []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	return r.ReadAll()
}

// A service provider's bill with sub_mchid lists that sub-merchant's rows only, and a
// sub-merchant without a transaction that day has no bill: NO_STATEMENT_EXIST, as for
// any merchant (before, every sub-merchant's rows were served whatever sub_mchid said).
func TestSubMerchantTradeBill(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: testSubMchs})
	day := time.Date(2024, 6, 11, 10, 0, 0, 0, clock.CST)
	e.clock.Set(day)
	p := e.partnerOrder("SUBBILL0001")
	p.SubMchID = testSubMchs[0]
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", p); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	e.simCall("POST", "/sim/orders/SUBBILL0001/pay", nil, nil)
	e.clock.Advance(24 * time.Hour)
	if r := e.call("GET", "/v3/bill/tradebill?bill_date=2024-06-11&sub_mchid="+testSubMchs[1], nil); r.status != 400 || r.errorBody(t).Code != "NO_STATEMENT_EXIST" {
		t.Fatalf("quiet sub-merchant: %d %s", r.status, r.body)
	}
	for _, q := range []string{"&sub_mchid=" + testSubMchs[0], ""} {
		if r := e.call("GET", "/v3/bill/tradebill?bill_date=2024-06-11"+q, nil); r.status != 200 {
			t.Fatalf("bill%s: %d %s", q, r.status, r.body)
		}
	}
}
