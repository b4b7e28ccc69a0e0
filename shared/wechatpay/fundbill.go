package wechatpay

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// The sub-merchants' fund-flow bills (二级商户资金账单) are encrypted, unlike the trade
// and fund-flow bills of bill.go (申请二级商户资金账单,
// pay.weixin.qq.com/docs/partner/apis/ecommerce-bill-download/get-sub-merchant-fund-flow-bill.html;
// 下载单个子商户/二级商户资金账单, pay.weixin.qq.com/doc/v3/partner/4014314390):
//
//   - The API answers download_bill_count and download_bill_list: one entry per file,
//     {bill_sequence, download_url, encrypt_key, hash_type, hash_value, nonce}. A day
//     whose bill is large (about 16 GB uncompressed) comes in several files; their
//     plaintexts joined in bill_sequence order (starting at 1) are the bill.
//   - Each download_url lives 5 minutes (not the 30 s of the other bills): download
//     every file at once, concurrently as WeChat Pay suggests.
//   - encrypt_key is the file's AES key, encrypted by WeChat Pay with the public key of
//     the merchant API certificate (RSA-OAEP, as every APIv3 sensitive field) and
//     base64-encoded: it is unwrapped with the merchant private key that signs our
//     requests — not with a platform key.
//   - The file is the binary AEAD_AES_256_GCM ciphertext of the (gzipped, with
//     tar_type=GZIP) bill, tag appended, under that key and the entry's nonce,
//     associated_data empty; SM4_GCM is the other algorithm on offer and is not
//     supported here.
//   - hash_value (SHA1) is over the original bill — decrypted and, with GZIP,
//     uncompressed — not over the ciphertext (wechatpay-java's EncryptBillEntity:
//     "原始账单（gzip需要解压缩）的摘要值 … GCM算法加密的账单解密成功表示校验完整性通过").
//   - The file answer is not signed: the GCM tag and the hash are its integrity.

// Account types (account_type) of the sub-merchant fund bills, besides the BASIC,
// OPERATION and FEES of bill.go.
const (
	// AccountTypeAll is the only account_type of /v3/ecommerce/bill/fundflowbill: every
	// account of every sub-merchant of the platform.
	AccountTypeAll = "ALL"
	// AccountTypeDeposit (保证金账户) is accepted by /v3/bill/sub-merchant-fundflowbill.
	AccountTypeDeposit = "DEPOSIT"
)

// BillAlgorithmSM4 is the other file algorithm WeChat Pay offers; unsupported here.
const BillAlgorithmSM4 = "SM4_GCM"

// EncryptedBillURLLifetime is how long an encrypted bill's download_url works.
const EncryptedBillURLLifetime = 5 * time.Minute

// EncryptedBill is one file of an encrypted bill.
type EncryptedBill struct {
	BillSequence int    `json:"bill_sequence"` // from 1
	DownloadURL  string `json:"download_url"`
	EncryptKey   string `json:"encrypt_key"` // RSA-OAEP under the merchant certificate's key, base64
	HashType     string `json:"hash_type"`   // SHA1
	HashValue    string `json:"hash_value"`  // of the decrypted, uncompressed file
	Nonce        string `json:"nonce"`
}

// EncryptedBillList is the answer of the encrypted bill APIs.
type EncryptedBillList struct {
	DownloadBillCount int             `json:"download_bill_count"`
	DownloadBillList  []EncryptedBill `json:"download_bill_list"`
}

// EcommerceFundFlowBillRequest asks for the fund bill of every sub-merchant of the
// platform for one day (account_type ALL, the only value the API takes).
type EcommerceFundFlowBillRequest struct {
	BillDate string // YYYY-MM-DD; ready from about 10:00 the next day, kept three months
	Gzip     bool   // tar_type=GZIP
}

// EcommerceFundFlowBill applies for the sub-merchants' fund bill
// (GET /v3/ecommerce/bill/fundflowbill). Fetch it at once with FetchEncryptedBill.
func (c *Client) EcommerceFundFlowBill(ctx context.Context, r EcommerceFundFlowBillRequest) (*EncryptedBillList, error) {
	if err := checkBillDate(r.BillDate); err != nil {
		return nil, err
	}
	q := url.Values{"bill_date": {r.BillDate}, "account_type": {AccountTypeAll}, "algorithm": {AlgorithmAEAD}}
	if r.Gzip {
		q.Set("tar_type", "GZIP")
	}
	var out EncryptedBillList
	if err := c.do(ctx, http.MethodGet, "/v3/ecommerce/bill/fundflowbill", q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: sub-merchant fund bill %s: %w", r.BillDate, err)
	}
	return &out, nil
}

// SubMerchantFundFlowBillRequest asks for one sub-merchant's fund bill of one account.
type SubMerchantFundFlowBillRequest struct {
	SubMchID    string // the client's SubMchID when empty
	BillDate    string
	AccountType string // BASIC (default), OPERATION, FEES, DEPOSIT
	Gzip        bool
}

// SubMerchantFundFlowBill applies for one sub-merchant's encrypted fund bill
// (GET /v3/bill/sub-merchant-fundflowbill, 申请单个子商户资金账单).
func (c *Client) SubMerchantFundFlowBill(ctx context.Context, r SubMerchantFundFlowBillRequest) (*EncryptedBillList, error) {
	if err := checkBillDate(r.BillDate); err != nil {
		return nil, err
	}
	sub := cmp.Or(r.SubMchID, c.SubMchID)
	if sub == "" {
		return nil, invalid("sub_mchid", "is required: name the sub-merchant whose bill to fetch")
	}
	acct := cmp.Or(r.AccountType, AccountTypeBasic)
	switch acct {
	case AccountTypeBasic, AccountTypeOperation, AccountTypeFees, AccountTypeDeposit:
	default:
		return nil, invalid("account_type", "must be BASIC, OPERATION, FEES or DEPOSIT, got %q", acct)
	}
	q := url.Values{"sub_mchid": {sub}, "bill_date": {r.BillDate}, "account_type": {acct}, "algorithm": {AlgorithmAEAD}}
	if r.Gzip {
		q.Set("tar_type", "GZIP")
	}
	var out EncryptedBillList
	if err := c.do(ctx, http.MethodGet, "/v3/bill/sub-merchant-fundflowbill", q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: fund bill of %s %s: %w", sub, r.BillDate, err)
	}
	return &out, nil
}

// unwrapBillKey decrypts a file's encrypt_key with the merchant private key.
func unwrapBillKey(key *rsa.PrivateKey, encryptKey string) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: the merchant private key is needed to unwrap a bill's encrypt_key", ErrConfig)
	}
	k, err := DecryptOAEP(key, encryptKey)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: bill encrypt_key does not decrypt with the merchant private key (it is encrypted for the merchant API certificate of this mchid): %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("wechatpay: bill encrypt_key holds a %d-byte key, AEAD_AES_256_GCM needs 32", len(k))
	}
	return k, nil
}

// FetchOptions tune FetchEncryptedBill.
type FetchOptions struct {
	// Gzipped says the bill was asked with tar_type=GZIP.
	Gzipped bool
	// TempDir holds the decrypted files until Close (os.TempDir() when empty); with
	// Gzipped they stay compressed there.
	TempDir string
	// Parallel bounds the downloads at once (default 4); each uses 64 KiB.
	Parallel int
}

// errBillList is matched by a download_bill_list that is not a whole bill: a count
// that differs from the entries, or sequences that are not 1…n.
var errBillList = errors.New("wechatpay: download_bill_list is not a complete bill")

// FetchEncryptedBill downloads every file of list at once (their URLs live
// EncryptedBillURLLifetime), unwraps each key with the merchant private key
// (c.Signer's key), and decrypts and authenticates each file as a stream into a
// temporary file, in constant memory. It returns only when every file's GCM tag
// verified: what Open then reads is authentic. The SHA1 of each file is checked as
// Open reads it. Close the bill to remove the temporary files.
func (c *Client) FetchEncryptedBill(ctx context.Context, list *EncryptedBillList, opt FetchOptions) (*DecryptedBill, error) {
	if list == nil {
		return nil, fmt.Errorf("%w: no list", errBillList)
	}
	parts := append([]EncryptedBill(nil), list.DownloadBillList...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].BillSequence < parts[j].BillSequence })
	if len(parts) != list.DownloadBillCount || len(parts) == 0 {
		return nil, fmt.Errorf("%w: download_bill_count %d, %d entries", errBillList, list.DownloadBillCount, len(parts))
	}
	for i, p := range parts {
		if p.BillSequence != i+1 {
			return nil, fmt.Errorf("%w: bill_sequence %d where %d was expected (sequences are 1…%d)", errBillList, p.BillSequence, i+1, len(parts))
		}
		if !strings.EqualFold(p.HashType, "SHA1") {
			return nil, fmt.Errorf("wechatpay: bill file %d: unsupported hash_type %q (want SHA1)", p.BillSequence, p.HashType)
		}
	}
	if !c.Signer.hasKey() {
		return nil, fmt.Errorf("%w: Signer with the merchant private key is required", ErrConfig)
	}
	bill := &DecryptedBill{gzipped: opt.Gzipped, parts: make([]*billPart, len(parts))}
	par := opt.Parallel
	if par <= 0 {
		par = 4
	}
	sem := make(chan struct{}, par)
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			bill.parts[i], errs[i] = c.fetchPart(ctx, parts[i], opt.TempDir)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		bill.Close()
		return nil, err
	}
	return bill, nil
}

func (c *Client) fetchPart(ctx context.Context, p EncryptedBill, dir string) (*billPart, error) {
	mk, err := c.Signer.key()
	if err != nil {
		return nil, fmt.Errorf("bill file %d: %w", p.BillSequence, err)
	}
	key, err := unwrapBillKey(mk, p.EncryptKey)
	if err != nil {
		return nil, fmt.Errorf("bill file %d: %w", p.BillSequence, err)
	}
	resp, err := c.openBillURL(ctx, p.DownloadURL, EncryptedBillURLLifetime)
	if err != nil {
		return nil, fmt.Errorf("bill file %d: %w", p.BillSequence, err)
	}
	defer resp.Body.Close()
	f, err := os.CreateTemp(dir, "wxpay-fundbill-*.part")
	if err != nil {
		return nil, fmt.Errorf("wechatpay: bill file %d: temporary file: %w", p.BillSequence, err)
	}
	os.Remove(f.Name()) // unlinked: it goes with the handle, whatever happens
	n, err := openBillPart(f, resp.Body, key, p.Nonce)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bill file %d: %w", p.BillSequence, err)
	}
	return &billPart{seq: p.BillSequence, f: f, size: n, hash: strings.ToLower(strings.TrimSpace(p.HashValue))}, nil
}

// DecryptedBill is an encrypted bill downloaded and authenticated, waiting in
// temporary files.
type DecryptedBill struct {
	gzipped bool
	parts   []*billPart
}

type billPart struct {
	seq  int
	f    *os.File
	size int64 // decrypted (still compressed with GZIP) bytes
	hash string
}

// Files is the number of files the bill came in.
func (b *DecryptedBill) Files() int { return len(b.parts) }

// Size is the decrypted size of all files, compressed when the bill was asked GZIP.
func (b *DecryptedBill) Size() int64 {
	var n int64
	for _, p := range b.parts {
		n += p.size
	}
	return n
}

// Open returns the bill's plaintext: every file, uncompressed, in bill_sequence
// order. At the end of each file it checks the file's SHA1; a mismatch ends the
// reading with an error matching ErrBillHash, and everything read must be discarded.
// Open may be called again to read the bill again.
func (b *DecryptedBill) Open() io.Reader { return &billReader{b: b} }

// Close removes the temporary files.
func (b *DecryptedBill) Close() error {
	var errs []error
	for _, p := range b.parts {
		if p != nil && p.f != nil {
			errs = append(errs, p.f.Close())
			p.f = nil
		}
	}
	return errors.Join(errs...)
}

type billReader struct {
	b   *DecryptedBill
	i   int
	cur io.Reader
	h   hash.Hash
	zr  *gzip.Reader
	err error
}

func (r *billReader) Read(p []byte) (int, error) {
	for r.err == nil {
		if r.cur == nil {
			if r.i == len(r.b.parts) {
				r.err = io.EOF
				break
			}
			part := r.b.parts[r.i]
			if part.f == nil {
				r.err = errors.New("wechatpay: the decrypted bill is closed")
				break
			}
			var src io.Reader = bufio.NewReaderSize(io.NewSectionReader(part.f, 0, part.size), 64<<10)
			if r.b.gzipped {
				var err error
				if r.zr == nil {
					r.zr, err = gzip.NewReader(src)
				} else {
					err = r.zr.Reset(src)
				}
				if err != nil {
					r.err = fmt.Errorf("wechatpay: bill file %d is not gzip data although tar_type=GZIP was asked: %w", part.seq, err)
					break
				}
				src = r.zr
			}
			if r.h == nil {
				r.h = sha1.New()
			}
			r.h.Reset()
			r.cur = io.TeeReader(src, r.h)
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			part := r.b.parts[r.i]
			if got := sumHex(r.h); got != part.hash {
				r.err = fmt.Errorf("%w: bill file %d: got %s, want %s", ErrBillHash, part.seq, got, part.hash)
				return n, r.err
			}
			r.cur = nil
			r.i++
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			r.err = fmt.Errorf("wechatpay: reading bill file %d: %w", r.b.parts[r.i].seq, err)
		}
		return n, r.err
	}
	return 0, r.err
}
