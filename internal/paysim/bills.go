package paysim

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Bill rules.
const (
	// billURLLifetime is how long a download_url works.
	billURLLifetime = 30 * time.Second
	// billReadyHour: WeChat Pay generates day T's bills from 09:00 on T+1.
	billReadyHour = 9
	// billHistory: bills are available for three months.
	billHistory = 92 * 24 * time.Hour
	// feeRateText is the simulated merchant fee rate (see fee).
	feeRateText = "0.60%"
)

// billFile is a generated bill waiting behind a download token.
type billFile struct {
	data    []byte // as served: gzip-compressed when asked for GZIP
	expires time.Time
}

// Column layouts of the three trade bill types, as WeChat Pay writes them.
var (
	tradeBillAll     = strings.Split("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注", ",")
	tradeBillSuccess = strings.Split("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注", ",")
	tradeBillRefund  = strings.Split("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注", ",")
	tradeBillTotals  = strings.Split("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额", ",")
	fundBillColumns  = strings.Split("记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号", ",")
	fundBillTotals   = strings.Split("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额", ",")
)

// yuan formats fen as yuan with two decimals, the unit of every bill amount.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// fee is the simulated 0.6% fee in fen, rounded half up.
func fee(fen int64) int64 { return (fen*6 + 500) / 1000 }

func billTime(t time.Time) string { return t.In(clock.CST).Format("2006-01-02 15:04:05") }

// billDay parses and checks bill_date: a past day whose bill has been generated,
// within the last three months.
func (s *Simulator) billDay(r *apiRequest) (time.Time, *reply) {
	raw := r.URL.Query().Get("bill_date")
	if raw == "" {
		return time.Time{}, queryParamError("bill_date", "", "is required, as yyyy-MM-dd")
	}
	day, err := time.ParseInLocation("2006-01-02", raw, clock.CST)
	if err != nil {
		return time.Time{}, queryParamError("bill_date", raw, "must be yyyy-MM-dd, e.g. 2024-06-11")
	}
	now := s.now().In(clock.CST)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, clock.CST)
	if !day.Before(today) || (day.Equal(today.AddDate(0, 0, -1)) && now.Hour() < billReadyHour) {
		return time.Time{}, errReply(http.StatusBadRequest, "STATEMENT_CREATING", "账单生成中: the bill of "+raw+" is generated from 09:00 (+08:00) the next day; ask after 10:00 and retry every half hour until it is ready or NO_STATEMENT_EXIST")
	}
	if today.Sub(day) > billHistory {
		return time.Time{}, errReply(http.StatusBadRequest, "INVALID_REQUEST", "仅支持三个月内的账单下载申请: bill_date "+raw+" is older than three months")
	}
	return day, nil
}

// tradeBill handles GET /v3/bill/tradebill.
func (s *Simulator) tradeBill(r *apiRequest) *reply {
	day, rep := s.billDay(r)
	if rep != nil {
		return rep
	}
	q := r.URL.Query()
	billType := q.Get("bill_type")
	layout := tradeBillAll
	switch billType {
	case "", "ALL":
		billType = "ALL"
	case "SUCCESS":
		layout = tradeBillSuccess
	case "REFUND":
		layout = tradeBillRefund
	default:
		return queryParamError("bill_type", billType, "must be ALL, SUCCESS or REFUND (paysim does not simulate RECHARGE_REFUND or the *_SPECIAL bills)")
	}
	gz, rep := tarType(q.Get("tar_type"))
	if rep != nil {
		return rep
	}
	rows := s.tradeRows(day, billType)
	if sub := q.Get("sub_mchid"); sub != "" {
		// A service provider's bill of one sub-merchant lists that sub-merchant's rows only;
		// without sub_mchid it lists every sub-merchant's (申请交易账单, pay.weixin.qq.com/
		// docs/partner/apis/partner-jsapi-payment/get-trade-bill.html).
		rows = slices.DeleteFunc(rows, func(r billRow) bool { return r.cols["特约商户号"] != sub })
	}
	if len(rows) == 0 {
		// A day without a transaction has no bill: 400 {"code":"NO_STATEMENT_EXIST",
		// "message":"请求的账单文件不存在"}, for a sub-merchant's bill likewise (常见问题,
		// pay.weixin.qq.com/doc/v3/merchant/4013071254: "请检查商户号当日是否有产生交易或退款").
		return errReply(http.StatusBadRequest, "NO_STATEMENT_EXIST", "请求的账单文件不存在: the merchant had no "+strings.ToLower(billType)+" transactions on "+day.Format("2006-01-02"))
	}
	var tot struct{ settle, refund, fee, order, apply int64 }
	for _, row := range rows {
		tot.settle += row.settle
		tot.refund += row.refund
		tot.fee += row.fee
		tot.order += row.order
		tot.apply += row.apply
	}
	body := renderBill(layout, rows, tradeBillTotals, []string{
		fmt.Sprint(len(rows)), yuan(tot.settle), yuan(tot.refund), yuan(0), yuan(tot.fee), yuan(tot.order), yuan(tot.apply),
	})
	return s.offerBill(r, body, gz)
}

// billRow is one bill line: its columns by name, plus the amounts the totals add up.
type billRow struct {
	at                                time.Time
	cols                              map[string]string
	settle, refund, fee, order, apply int64
}

// tradeRows collects the day's payments (by success time) and refunds (by the time
// they were accepted), WeChat Pay's data times for the trade bill.
func (s *Simulator) tradeRows(day time.Time, billType string) []billRow {
	end := day.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(day) && t.Before(end) }
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []billRow
	for _, o := range s.sortedOrders() {
		base := s.orderColumns(o)
		if billType != "REFUND" && in(o.SuccessTime) {
			c := maps.Clone(base)
			total := o.Request.Amount.Total
			f := fee(total)
			c["交易时间"] = billTime(o.SuccessTime)
			c["交易状态"] = wechatpay.TradeStateSuccess
			c["应结订单金额"], c["代金券金额"] = yuan(total), yuan(0)
			c["微信退款单号"], c["商户退款单号"], c["退款金额"], c["充值券退款金额"] = "0", "0", yuan(0), yuan(0)
			c["手续费"], c["订单金额"], c["申请退款金额"] = yuan(f), yuan(total), yuan(0)
			rows = append(rows, billRow{at: o.SuccessTime, cols: c, settle: total, fee: f, order: total})
		}
		if billType == "SUCCESS" {
			continue
		}
		for _, no := range o.Refunds {
			rf := s.st.refunds[no]
			if rf == nil || !in(rf.CreatedAt) {
				continue
			}
			c := maps.Clone(base)
			amt := rf.Request.Amount.Refund
			f := -fee(amt)
			c["交易时间"] = billTime(rf.CreatedAt)
			c["交易状态"] = wechatpay.TradeStateRefund
			c["应结订单金额"], c["代金券金额"] = yuan(0), yuan(0)
			c["退款申请时间"] = billTime(rf.CreatedAt)
			if !rf.SuccessTime.IsZero() {
				c["退款成功时间"] = billTime(rf.SuccessTime)
			}
			c["微信退款单号"], c["商户退款单号"], c["退款金额"], c["充值券退款金额"] = rf.RefundID, no, yuan(amt), yuan(0)
			c["退款类型"], c["退款状态"] = "ORIGINAL", rf.Status
			c["手续费"], c["订单金额"], c["申请退款金额"] = yuan(f), yuan(0), yuan(amt)
			rows = append(rows, billRow{at: rf.CreatedAt, cols: c, refund: amt, fee: f, apply: amt})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	return rows
}

// orderColumns are the columns a payment and its refunds share. Called under s.mu.
func (s *Simulator) orderColumns(o *order) map[string]string {
	req := o.Request
	c := map[string]string{
		"微信订单号": o.TransactionID, "商户订单号": req.OutTradeNo, "用户标识": o.OpenID,
		"交易类型": tradeType(o.Kind), "付款银行": o.BankType, "货币种类": "CNY",
		"商品名称": req.Description, "商户数据包": req.Attach, "费率": feeRateText,
	}
	if o.Partner {
		c["公众账号ID"], c["商户号"], c["特约商户号"] = req.SpAppID, req.SpMchID, req.SubMchID
	} else {
		c["公众账号ID"], c["商户号"], c["特约商户号"] = req.AppID, req.MchID, "0"
	}
	if req.SceneInfo != nil {
		c["设备号"] = req.SceneInfo.DeviceID
	}
	return c
}

// renderBill writes a bill as WeChat Pay does: a header line, data lines whose every
// field starts with a backtick (so spreadsheets keep long numbers intact), then the
// totals header and the totals line, also backticked. Lines end in CRLF.
func renderBill(columns []string, rows []billRow, totalCols, totals []string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	_ = w.Write(columns)
	rec := make([]string, len(columns))
	for _, row := range rows {
		for i, col := range columns {
			rec[i] = "`" + row.cols[col]
		}
		_ = w.Write(rec)
	}
	_ = w.Write(totalCols)
	t := make([]string, len(totals))
	for i, v := range totals {
		t[i] = "`" + v
	}
	_ = w.Write(t)
	w.Flush()
	return buf.Bytes()
}

func tarType(v string) (gz bool, rep *reply) {
	switch v {
	case "":
		return false, nil
	case "GZIP":
		return true, nil
	}
	return false, queryParamError("tar_type", v, "must be GZIP or absent")
}

// offerBill stores a bill behind a fresh token and answers its hash and download_url.
// The hash is the SHA1 of the uncompressed file, as WeChat Pay documents.
func (s *Simulator) offerBill(r *apiRequest, body []byte, gz bool) *reply {
	sum := sha1.Sum(body)
	data := body
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: gzip: "+err.Error())
		}
		data = b.Bytes()
	}
	token := s.ids.alnum(48)
	s.mu.Lock()
	s.st.bills[token] = &billFile{data: data, expires: s.now().Add(billURLLifetime)}
	s.mu.Unlock()
	u := requestBase(r.Request) + "/v3/billdownload/file?token=" + token
	if gz {
		u += "&tartype=gzip"
	}
	return jsonReply(http.StatusOK, wechatpay.BillResponse{HashType: "SHA1", HashValue: hex.EncodeToString(sum[:]), DownloadURL: u})
}

// downloadBill handles GET /v3/billdownload/file. It needs a signed request like any
// other call, but the file itself is not signed (verify it with hash_value instead).
func (s *Simulator) downloadBill(r *apiRequest) *reply {
	token := r.URL.Query().Get("token")
	s.mu.Lock()
	f, ok := s.st.bills[token]
	expired := ok && s.now().After(f.expires)
	if expired {
		delete(s.st.bills, token)
	}
	s.mu.Unlock()
	switch {
	case token == "":
		return queryParamError("token", "", "is required: use the download_url exactly as the bill API returned it")
	case !ok:
		return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "账单文件不存在: unknown or already expired download token; apply for the bill again")
	case expired:
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "下载地址已过期: a download_url is valid for 30 seconds; apply for the bill again and download right away")
	}
	ctype := "text/plain; charset=utf-8"
	if r.URL.Query().Get("tartype") == "gzip" {
		ctype = "application/octet-stream"
	}
	return &reply{status: http.StatusOK, body: f.data, ctype: ctype, unsigned: true}
}

// fundFlowBill handles GET /v3/bill/fundflowbill. The simulated basic account (BASIC)
// takes in each payment, pays out its fee and each refund; the operation and fees
// accounts have no activity.
func (s *Simulator) fundFlowBill(r *apiRequest) *reply {
	day, rep := s.billDay(r)
	if rep != nil {
		return rep
	}
	q := r.URL.Query()
	acct := q.Get("account_type")
	switch acct {
	case "", "BASIC":
		acct = "BASIC"
	case "OPERATION", "FEES":
	default:
		return queryParamError("account_type", acct, "must be BASIC, OPERATION or FEES")
	}
	gz, rep := tarType(q.Get("tar_type"))
	if rep != nil {
		return rep
	}
	var rows []billRow
	if acct == "BASIC" {
		rows = s.fundRows(day)
	}
	if len(rows) == 0 {
		return errReply(http.StatusBadRequest, "NO_STATEMENT_EXIST", "请求的账单文件不存在: the "+acct+" account had no fund flow on "+day.Format("2006-01-02"))
	}
	var inN, outN int
	var inSum, outSum, balance int64
	for i := range rows {
		if rows[i].settle >= 0 {
			inN++
			inSum += rows[i].settle
		} else {
			outN++
			outSum -= rows[i].settle
		}
		balance += rows[i].settle
		rows[i].cols["账户结余（元）"] = yuan(balance)
	}
	body := renderBill(fundBillColumns, rows, fundBillTotals, []string{
		fmt.Sprint(len(rows)), fmt.Sprint(inN), yuan(inSum), fmt.Sprint(outN), yuan(outSum),
	})
	return s.offerBill(r, body, gz)
}

// fundRows lists the basic account's movements of the day; settle holds the signed
// amount (income positive).
func (s *Simulator) fundRows(day time.Time) []billRow {
	end := day.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(day) && t.Before(end) }
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []billRow
	add := func(at time.Time, bizNo, name, kind string, amount int64, note, voucher string) {
		dir := "收入"
		if amount < 0 {
			dir = "支出"
		}
		rows = append(rows, billRow{at: at, settle: amount, cols: map[string]string{
			"记账时间": billTime(at), "微信支付业务单号": bizNo, "资金流水单号": flowNo(bizNo, name), "业务名称": name,
			"业务类型": kind, "收支类型": dir, "收支金额（元）": yuan(abs(amount)), "资金变更提交申请人": "system",
			"备注": note, "业务凭证号": voucher,
		}})
	}
	for _, o := range s.sortedOrders() {
		if in(o.SuccessTime) {
			total := o.Request.Amount.Total
			add(o.SuccessTime, o.TransactionID, "交易", "交易", total, "", o.Request.OutTradeNo)
			add(o.SuccessTime, o.TransactionID, "手续费", "扣除交易手续费", -fee(total), "", o.Request.OutTradeNo)
		}
		for _, no := range o.Refunds {
			if rf := s.st.refunds[no]; rf != nil && in(rf.CreatedAt) && rf.Status != wechatpay.RefundStatusClosed {
				add(rf.CreatedAt, rf.RefundID, "退款", "退款", -rf.Request.Amount.Refund, rf.Request.Reason, no)
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	return rows
}

// flowNo is a movement's 资金流水单号: stable across downloads, as a real bill is the
// same file each time it is fetched.
func flowNo(bizNo, name string) string {
	sum := sha1.Sum([]byte(bizNo + "/" + name))
	var b strings.Builder
	for _, c := range sum[:14] {
		fmt.Fprintf(&b, "%02d", c%100)
	}
	return b.String()
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// sortedOrders lists orders by creation, then out_trade_no, so that bills list
// same-second events in a stable order. Called under s.mu.
func (s *Simulator) sortedOrders() []*order {
	out := make([]*order, 0, len(s.st.orders))
	for _, o := range s.st.orders {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Request.OutTradeNo < out[j].Request.OutTradeNo
	})
	return out
}
