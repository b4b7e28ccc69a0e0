package wechatpay

import (
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Bill types of the trade bill (bill_type) and account types of the fund-flow bill
// (account_type).
const (
	BillTypeAll     = "ALL"
	billTypeSuccess = "SUCCESS"
	billTypeRefund  = "REFUND"

	AccountTypeBasic     = "BASIC"
	AccountTypeOperation = "OPERATION"
	AccountTypeFees      = "FEES"
)

// BillURLLifetime is how long a download_url stays valid after it was issued.
const BillURLLifetime = 30 * time.Second

// ErrBillHash means the downloaded bill does not match hash_value: the data written
// to dst is incomplete or altered and must be discarded.
var ErrBillHash = errors.New("wechatpay: downloaded bill does not match hash_value (SHA1 of the uncompressed bill); discard it and download again")

// TradeBillRequest asks for the trade bill (交易账单) of one day.
type TradeBillRequest struct {
	BillDate string // YYYY-MM-DD, UTC+8; available from about 10:00 the next day
	BillType string // ALL (default), SUCCESS, REFUND
	Gzip     bool   // tar_type=GZIP: smaller download, hash still over the uncompressed bill
}

// FundFlowBillRequest asks for the fund-flow bill (资金账单) of one day.
type FundFlowBillRequest struct {
	BillDate    string // YYYY-MM-DD
	AccountType string // BASIC (default), OPERATION, FEES
	Gzip        bool
}

func checkBillDate(d string) error {
	if _, err := time.Parse(time.DateOnly, d); err != nil {
		return invalid("bill_date", "must be a date as YYYY-MM-DD, got %q", d)
	}
	return nil
}

// TradeBill applies for a trade bill and returns its download_url and hash. Download
// it at once with DownloadBill: the URL lives BillURLLifetime.
func (c *Client) TradeBill(ctx context.Context, r TradeBillRequest) (*BillResponse, error) {
	if err := checkBillDate(r.BillDate); err != nil {
		return nil, err
	}
	q := url.Values{"bill_date": {r.BillDate}}
	if r.BillType != "" {
		q.Set("bill_type", r.BillType)
	}
	if r.Gzip {
		q.Set("tar_type", "GZIP")
	}
	if c.Partner() && c.SubMchID != "" {
		q.Set("sub_mchid", c.SubMchID) // without it a partner gets its own, aggregated bill
	}
	var out BillResponse
	if err := c.do(ctx, http.MethodGet, "/v3/bill/tradebill", q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: trade bill %s: %w", r.BillDate, err)
	}
	return &out, nil
}

// FundFlowBill applies for a fund-flow bill.
func (c *Client) FundFlowBill(ctx context.Context, r FundFlowBillRequest) (*BillResponse, error) {
	if err := checkBillDate(r.BillDate); err != nil {
		return nil, err
	}
	q := url.Values{"bill_date": {r.BillDate}}
	if r.AccountType != "" {
		q.Set("account_type", r.AccountType)
	}
	if r.Gzip {
		q.Set("tar_type", "GZIP")
	}
	var out BillResponse
	if err := c.do(ctx, http.MethodGet, "/v3/bill/fundflowbill", q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: fund-flow bill %s: %w", r.BillDate, err)
	}
	return &out, nil
}

// downloadHTTP has no overall timeout: a bill may take longer than an API call, and
// the caller's ctx bounds it.
var downloadHTTP = &http.Client{}

// DownloadBill downloads the bill of b into dst, gunzipping it when gzipped (the
// request's tar_type was GZIP), and checks the SHA1 of the uncompressed bill against
// b.HashValue. It streams in constant memory and returns the uncompressed size.
//
// The request is signed like any API call, but the answer is not signed by WeChat
// Pay, so there is nothing to verify but the hash. On ErrBillHash, or any error, what
// was written to dst must be discarded.
func (c *Client) DownloadBill(ctx context.Context, b BillResponse, gzipped bool, dst io.Writer) (int64, error) {
	if !strings.EqualFold(b.HashType, "SHA1") {
		return 0, fmt.Errorf("wechatpay: bill: unsupported hash_type %q (want SHA1)", b.HashType)
	}
	resp, err := c.openBillURL(ctx, b.DownloadURL, BillURLLifetime)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var src io.Reader = resp.Body
	if gzipped {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return 0, fmt.Errorf("wechatpay: bill download: not gzip data although tar_type=GZIP was asked: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	h := sha1.New()
	n, err := io.Copy(io.MultiWriter(h, dst), src)
	if err != nil {
		return n, fmt.Errorf("wechatpay: bill download after %d bytes: %w", n, err)
	}
	if got := sumHex(h); !strings.EqualFold(got, strings.TrimSpace(b.HashValue)) {
		return n, fmt.Errorf("%w: got %s, want %s", ErrBillHash, got, b.HashValue)
	}
	return n, nil
}

// openBillURL sends the signed GET of a bill's download_url and returns the answer
// when it is 200; lifetime is how long the URL lives, for the error that says so.
func (c *Client) openBillURL(ctx context.Context, downloadURL string, lifetime time.Duration) (*http.Response, error) {
	u, err := url.Parse(downloadURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("wechatpay: bill: bad download_url %q", downloadURL)
	}
	// Only send our signature to WeChat Pay (https) or to the configured BaseURL host
	// (the simulator).
	if base, _ := url.Parse(c.baseURL()); u.Scheme != "https" && (base == nil || base.Host != u.Host) {
		return nil, fmt.Errorf("wechatpay: bill: download_url %q is neither https nor on %s", downloadURL, c.baseURL())
	}
	if !c.Signer.hasKey() {
		return nil, fmt.Errorf("%w: Signer with the merchant private key is required", ErrConfig)
	}
	auth, err := c.Signer.Authorization(http.MethodGet, requestTarget(u), nil)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: bill: %w", err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json") // as WeChat Pay's examples send it
	req.Header.Set("User-Agent", userAgent)
	hc := c.HTTP
	if hc == nil {
		hc = downloadHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: bill download: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := decodeAPIError(resp.StatusCode, resp.Header, body)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return nil, fmt.Errorf("wechatpay: bill download: %w (a download_url is valid for only %s after the bill API returned it: apply again and download at once)", e, lifetime)
		}
		return nil, fmt.Errorf("wechatpay: bill download: %w", e)
	}
	return resp, nil
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
