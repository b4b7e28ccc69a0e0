package wechatpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
)

const billCSV = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号\n" +
	"`2024-05-01 10:00:00,`wxd678efh567hg6787,`1900000001,`0,`,`4200000985202103031441826014,`1217752501201407033233368018\n" +
	"总交易单数,应结订单总金额,退款总金额\n`1,`1.00,`0.00\n"

func TestTradeBillAndDownload(t *testing.T) {
	sum := sha1.Sum([]byte(billCSV))
	hashUpper := strings.ToUpper(hex.EncodeToString(sum[:])) // hex case must not matter
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(billCSV))
	zw.Close()

	var f *fakeWX
	f = newFakeWX(t, func(r *http.Request, _ []byte) reply {
		switch r.URL.Path {
		case "/v3/bill/tradebill", "/v3/bill/fundflowbill":
			return reply{body: `{"hash_type":"SHA1","hash_value":"` + hashUpper + `","download_url":"` + f.srv.URL + `/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO"}`}
		case "/v3/billdownload/file":
			// The download answer is not signed, as WeChat Pay's isn't.
			if r.URL.Query().Get("token") == "expired" {
				return reply{status: 400, unsigned: true, body: `{"code":"INVALID_REQUEST","message":"token expired"}`}
			}
			if r.Header.Get("X-Plain") != "" {
				return reply{unsigned: true, body: billCSV}
			}
			return reply{unsigned: true, body: gz.String()}
		}
		return reply{status: 404, body: `{"code":"NOT_FOUND","message":"?"}`}
	})
	c, _ := f.client()
	ctx := context.Background()
	br, err := c.TradeBill(ctx, TradeBillRequest{BillDate: "2024-05-01", BillType: BillTypeAll, Gzip: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].target; got != "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL&tar_type=GZIP" {
		t.Fatalf("target %s", got)
	}
	var out bytes.Buffer
	n, err := c.DownloadBill(ctx, *br, true, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(billCSV)) || out.String() != billCSV {
		t.Fatalf("n=%d content %q", n, out.String())
	}
	dl := f.requests()[1]
	if dl.target != "/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO" || dl.header.Get("Authorization") == "" {
		t.Fatalf("download request %+v", dl)
	}

	// Bad hash.
	bad := *br
	bad.HashValue = strings.Repeat("0", 40)
	if _, err := c.DownloadBill(ctx, bad, true, &bytes.Buffer{}); !errors.Is(err, ErrBillHash) {
		t.Fatalf("bad hash: %v", err)
	}
	// Gzip expected but plain served.
	plainClient := *c
	plainClient.HTTP = &http.Client{Transport: headerRT{"X-Plain", "1"}}
	if _, err := plainClient.DownloadBill(ctx, *br, true, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("plain served as gzip: %v", err)
	}
	// Plain download.
	out.Reset()
	if _, err := plainClient.DownloadBill(ctx, *br, false, &out); err != nil || out.String() != billCSV {
		t.Fatalf("plain: %v", err)
	}
	// Expired URL: the error says why.
	exp := *br
	exp.DownloadURL = f.srv.URL + "/v3/billdownload/file?token=expired"
	_, err = c.DownloadBill(ctx, exp, true, &bytes.Buffer{})
	if !IsCode(err, CodeInvalidRequest) || !strings.Contains(err.Error(), "30s") {
		t.Fatalf("expired: %v", err)
	}
	// Unknown hash type, foreign plain-http host.
	if _, err := c.DownloadBill(ctx, BillResponse{HashType: "MD5", DownloadURL: br.DownloadURL}, true, &out); err == nil {
		t.Fatal("MD5 accepted")
	}
	if _, err := c.DownloadBill(ctx, BillResponse{HashType: "SHA1", DownloadURL: "http://evil.example/x"}, true, &out); err == nil {
		t.Fatal("foreign http host accepted")
	}

	if _, err := c.FundFlowBill(ctx, FundFlowBillRequest{BillDate: "2024-05-01", AccountType: AccountTypeBasic, Gzip: true}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if got := reqs[len(reqs)-1].target; got != "/v3/bill/fundflowbill?account_type=BASIC&bill_date=2024-05-01&tar_type=GZIP" {
		t.Fatalf("fundflow target %s", got)
	}
	if _, err := c.TradeBill(ctx, TradeBillRequest{BillDate: "20240501"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad date: %v", err)
	}
	// Partner mode adds sub_mchid.
	pc := c.ForSub("1900000109", "")
	pc.SpMchID = "1230000109"
	if _, err := pc.TradeBill(ctx, TradeBillRequest{BillDate: "2024-05-01"}); err != nil {
		t.Fatal(err)
	}
	reqs = f.requests()
	if got := reqs[len(reqs)-1].target; got != "/v3/bill/tradebill?bill_date=2024-05-01&sub_mchid=1900000109" {
		t.Fatalf("partner target %s", got)
	}
}

// headerRT adds a header to every request (to steer the fake).
type headerRT [2]string

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h[0], h[1])
	return http.DefaultTransport.RoundTrip(r)
}
