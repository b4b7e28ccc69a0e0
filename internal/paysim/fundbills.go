package paysim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// The sub-merchants' encrypted fund bills: GET /v3/ecommerce/bill/fundflowbill (every
// sub-merchant, account_type ALL) and GET /v3/bill/sub-merchant-fundflowbill (one
// sub-merchant, one account). Each file of the answer is the bill's plaintext (gzipped
// with tar_type=GZIP) sealed with AEAD_AES_256_GCM under a fresh 32-byte key and a
// 16-character nonce; the key is encrypted with RSA-OAEP for the merchant API
// certificate (encrypt_key); hash_value is the SHA1 of the uncompressed plaintext; the
// download_url lives 5 minutes. shared/wechatpay/fundbill.go cites the docs.
//
// The lines of a sub-merchant's basic account, per day: 交易/交易 (payment in),
// 交易/扣除交易手续费 (fee), 退款/退款, 分账/分账 (a share out, per receiver, when it
// succeeds), 分账/分账回退 (a return in), 补差/补差 (a subsidy in), 补差/补差回退. A
// release (完结分账, unfreeze) moves money from frozen to available inside the account
// and writes no line; neither does a share to the payer itself.

// encryptedBillLifetime: "账单文件的下载地址的有效时间为5min".
const encryptedBillLifetime = wechatpay.EncryptedBillURLLifetime

func (s *Simulator) routesFundBills(m *http.ServeMux) {
	m.Handle("GET /v3/ecommerce/bill/fundflowbill", s.api(s.ecomFundBill))
	m.Handle("GET /v3/bill/sub-merchant-fundflowbill", s.api(s.subMchFundBill))
}

// encryptedBillQuery checks algorithm and tar_type.
func encryptedBillQuery(r *apiRequest) (gz bool, rep *reply) {
	q := r.URL.Query()
	switch a := q.Get("algorithm"); a {
	case wechatpay.AlgorithmAEAD:
	case "":
		return false, queryParamError("algorithm", "", "is required: AEAD_AES_256_GCM")
	case wechatpay.BillAlgorithmSM4:
		return false, queryParamError("algorithm", a, "paysim does not simulate SM4_GCM: ask for AEAD_AES_256_GCM")
	default:
		return false, queryParamError("algorithm", a, "must be AEAD_AES_256_GCM or SM4_GCM")
	}
	return tarType(q.Get("tar_type"))
}

// ecomFundBill handles GET /v3/ecommerce/bill/fundflowbill.
func (s *Simulator) ecomFundBill(r *apiRequest) *reply {
	day, rep := s.billDay(r)
	if rep != nil {
		return rep
	}
	if a := r.URL.Query().Get("account_type"); a != wechatpay.AccountTypeAll {
		return queryParamError("account_type", a, "must be ALL: 本接口只支持填ALL")
	}
	gz, rep := encryptedBillQuery(r)
	if rep != nil {
		return rep
	}
	rows := s.subFundRows(day, "")
	if len(rows) == 0 {
		return errReply(http.StatusBadRequest, "NO_STATEMENT_EXIST", "请求的账单文件不存在: no sub-merchant fund flow on "+day.Format("2006-01-02"))
	}
	cols := append(append([]string(nil), fundBillColumns...), wechatpay.FundColSubMchID)
	return s.offerEncryptedBill(r, renderFundBill(cols, rows), gz)
}

// subMchFundBill handles GET /v3/bill/sub-merchant-fundflowbill.
func (s *Simulator) subMchFundBill(r *apiRequest) *reply {
	day, rep := s.billDay(r)
	if rep != nil {
		return rep
	}
	q := r.URL.Query()
	sub := q.Get("sub_mchid")
	if sub == "" {
		return queryParamError("sub_mchid", "", "is required")
	}
	if !s.knownSubMch(sub) {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "受理关系不存在: sub_mchid "+sub+" is not a sub-merchant of "+s.id.MchID)
	}
	acct := q.Get("account_type")
	switch acct {
	case wechatpay.AccountTypeBasic, wechatpay.AccountTypeOperation, wechatpay.AccountTypeFees, wechatpay.AccountTypeDeposit:
	default:
		return queryParamError("account_type", acct, "must be BASIC, OPERATION, FEES or DEPOSIT")
	}
	gz, rep := encryptedBillQuery(r)
	if rep != nil {
		return rep
	}
	var rows []billRow
	if acct == wechatpay.AccountTypeBasic {
		rows = s.subFundRows(day, sub)
	}
	if len(rows) == 0 {
		return errReply(http.StatusBadRequest, "NO_STATEMENT_EXIST", "请求的账单文件不存在: the "+acct+" account of "+sub+" had no fund flow on "+day.Format("2006-01-02"))
	}
	return s.offerEncryptedBill(r, renderFundBill(fundBillColumns, rows), gz)
}

// subFundRows lists the day's lines of the sub-merchants' basic accounts (one
// sub-merchant when sub is set), with running balances per sub-merchant; settle holds
// the signed amount.
func (s *Simulator) subFundRows(day time.Time, sub string) []billRow {
	end := day.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(day) && t.Before(end) }
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.st.Sharing
	var rows []billRow
	add := func(subMch string, at time.Time, bizNo, name, kind string, amount int64, note, voucher string) {
		dir := wechatpay.FundIncome
		if amount < 0 {
			dir = wechatpay.FundExpense
		}
		rows = append(rows, billRow{at: at, settle: amount, cols: map[string]string{
			"记账时间": billTime(at), "微信支付业务单号": bizNo, "资金流水单号": flowNo(bizNo, name+kind), "业务名称": name,
			"业务类型": kind, "收支类型": dir, "收支金额（元）": yuan(abs(amount)), "资金变更提交申请人": "system",
			"备注": note, "业务凭证号": voucher, wechatpay.FundColSubMchID: subMch,
		}})
	}
	for _, o := range s.sortedOrders() {
		sm := o.Request.SubMchID
		if !o.Partner || o.TransactionID == "" || (sub != "" && sm != sub) {
			continue
		}
		tx := o.TransactionID
		if in(o.SuccessTime) {
			total := o.Request.Amount.Total
			add(sm, o.SuccessTime, tx, "交易", "交易", total, "", o.Request.OutTradeNo)
			add(sm, o.SuccessTime, tx, "交易", "扣除交易手续费", -fee(total), "", o.Request.OutTradeNo)
		}
		for _, no := range o.Refunds {
			if rf := s.st.refunds[no]; rf != nil && in(rf.CreatedAt) && rf.Status != wechatpay.RefundStatusClosed {
				add(sm, rf.CreatedAt, rf.RefundID, "退款", "退款", -rf.Request.Amount.Refund, rf.Request.Reason, no)
			}
		}
		if p := sh.Payments[tx]; p != nil {
			for _, k := range p.Splits {
				sp := sh.Splits[k]
				for _, rc := range sp.Receivers {
					if rc.Result == wechatpay.ShareResultSuccess && rc.Account != sm && in(rc.FinishTime) {
						add(sm, rc.FinishTime, sp.OrderID, "分账", "分账", -rc.Amount, rc.Description, sp.OutOrderNo)
					}
				}
				for _, ret := range s.returnsOf(k) {
					if ret.Result == wechatpay.ReturnSuccess && in(ret.FinishTime) {
						add(sm, ret.FinishTime, ret.ReturnID, "分账", "分账回退", ret.Amount, ret.Description, ret.OutReturnNo)
					}
				}
			}
		}
		if sb := sh.Subsidies[tx]; sb != nil && sb.Result == wechatpay.SubsidySuccess && in(sb.SuccessTime) {
			add(sm, sb.SuccessTime, sb.SubsidyID, "补差", "补差", sb.Amount, sb.Description, cmp.Or(sb.OutSubsidyNo, tx))
		}
		for _, sr := range s.subsidyReturnsOf(tx) {
			if sr.Result == wechatpay.SubsidySuccess && in(sr.SuccessTime) {
				add(sm, sr.SuccessTime, sr.SubsidyRefundID, "补差", "补差回退", -sr.Amount, sr.Description, sr.OutOrderNo)
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	balance := map[string]int64{}
	for i := range rows {
		sm := rows[i].cols[wechatpay.FundColSubMchID]
		balance[sm] += rows[i].settle
		rows[i].cols["账户结余（元）"] = yuan(balance[sm])
	}
	return rows
}

// renderFundBill writes rows and the totals block as WeChat Pay's fund-flow bill.
func renderFundBill(cols []string, rows []billRow) []byte {
	var inN, outN int
	var inSum, outSum int64
	for _, r := range rows {
		if r.settle >= 0 {
			inN++
			inSum += r.settle
		} else {
			outN++
			outSum -= r.settle
		}
	}
	return renderBill(cols, rows, fundBillTotals, []string{
		fmt.Sprint(len(rows)), fmt.Sprint(inN), yuan(inSum), fmt.Sprint(outN), yuan(outSum),
	})
}

// splitBill cuts a rendered bill into files of at most n data lines each, at line
// ends: the first file starts with the header, the last ends with the totals. Joined
// in order they are the bill.
func splitBill(body []byte, n int) [][]byte {
	if n <= 0 {
		return [][]byte{body}
	}
	var parts [][]byte
	start, lines := 0, -1 // the header line does not count
	for i := 0; i < len(body); i++ {
		if body[i] != '\n' {
			continue
		}
		lines++
		if lines == n && len(body)-(i+1) > 0 {
			parts = append(parts, body[start:i+1])
			start, lines = i+1, 0
		}
	}
	return append(parts, body[start:])
}

// offerEncryptedBill seals a bill's files and answers their download list.
func (s *Simulator) offerEncryptedBill(r *apiRequest, body []byte, gz bool) *reply {
	s.mu.Lock()
	cfg := s.st.Sharing.Config
	s.st.Sharing.Config.FundBillFault = "" // a one-shot fault
	s.mu.Unlock()
	now := s.now()
	out := wechatpay.EncryptedBillList{}
	for i, plain := range splitBill(body, cfg.FundBillPartRows) {
		sum := sha1.Sum(plain)
		data := plain
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(plain)
			if err := zw.Close(); err != nil {
				return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: gzip: "+err.Error())
			}
			data = b.Bytes()
		}
		key, nonce := s.ids.alnum(32), s.ids.alnum(16)
		var ct bytes.Buffer
		if _, err := wechatpay.SealBillPart(&ct, bytes.NewReader(data), []byte(key), nonce); err != nil {
			return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: sealing the bill: "+err.Error())
		}
		wrapped, err := wechatpay.EncryptOAEP(s.merchantPublicKey(), []byte(key))
		if err != nil {
			return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: "+err.Error())
		}
		file := ct.Bytes()
		hash := hex.EncodeToString(sum[:])
		if i == 0 {
			switch cfg.FundBillFault {
			case "tamper":
				file[len(file)/2] ^= 0x20
			case "hash":
				other := sha1.Sum(append([]byte("paysim fault"), plain...))
				hash = hex.EncodeToString(other[:])
			}
		}
		token := s.ids.alnum(48)
		s.mu.Lock()
		s.st.bills[token] = &billFile{data: file, expires: now.Add(encryptedBillLifetime)}
		s.mu.Unlock()
		out.DownloadBillList = append(out.DownloadBillList, wechatpay.EncryptedBill{
			BillSequence: i + 1, DownloadURL: requestBase(r.Request) + "/v3/billdownload/file?token=" + token,
			EncryptKey: wrapped, HashType: "SHA1", HashValue: hash, Nonce: nonce,
		})
	}
	out.DownloadBillCount = len(out.DownloadBillList)
	return jsonReply(http.StatusOK, out)
}
