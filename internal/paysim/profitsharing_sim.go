package paysim

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// The driver API of profit sharing (/sim/profitsharing/…), documented in README.md.

// simSharingConfig handles GET and POST /sim/profitsharing/config. A POST changes the
// fields it names.
func (s *Simulator) simSharingConfig(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c := s.st.Sharing.Config
	s.mu.Unlock()
	if r.Method == http.MethodPost {
		if err := readSimBody(r, &c); err != nil {
			simError(w, simBodyStatus(err), "%v", err)
			return
		}
		switch c.FundBillFault {
		case "", "tamper", "hash":
		default:
			simError(w, http.StatusBadRequest, "fund_bill_fault %q: want \"tamper\", \"hash\" or \"\"", c.FundBillFault)
			return
		}
		if c.MaxRatio < 0 || c.MaxRatio > 10000 || c.FundBillPartRows < 0 || c.SettleAfter < 0 {
			simError(w, http.StatusBadRequest, "max_ratio must be 0–10000 (ten-thousandths), fund_bill_part_rows and settle_after not negative")
			return
		}
		s.mu.Lock()
		s.st.Sharing.Config = c
		s.mu.Unlock()
	}
	simJSON(w, http.StatusOK, c)
}

// settleSplitRequest is the optional body of POST /sim/profitsharing/orders/{out_order_no}/settle.
type settleSplitRequest struct {
	// Result is SUCCESS (default: each pending receiver succeeds unless its account is
	// invalid or its relation was deleted) or CLOSED (each pending receiver fails).
	Result string `json:"result,omitempty"`
	// FailReason of a CLOSED result: ACCOUNT_ABNORMAL (default), NO_RELATION,
	// RECEIVER_HIGH_RISK, RECEIVER_REAL_NAME_NOT_VERIFIED or NO_AUTH.
	FailReason string `json:"fail_reason,omitempty"`
	// Mode is ecommerce (default) or partner: the API family of the split.
	Mode string `json:"mode,omitempty"`
}

var shareFailReasons = []string{wechatpay.ShareFailAccountAbnormal, wechatpay.ShareFailNoRelation, wechatpay.ShareFailHighRisk,
	wechatpay.ShareFailRealNameMissing, wechatpay.ShareFailNoAuth}

func (s *Simulator) simSettleSplit(w http.ResponseWriter, r *http.Request) {
	var p settleSplitRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	switch p.Result {
	case "", wechatpay.ShareResultSuccess, wechatpay.ShareResultClosed:
	default:
		simError(w, http.StatusBadRequest, "result %q: want SUCCESS or CLOSED", p.Result)
		return
	}
	if p.FailReason != "" && !slices.Contains(shareFailReasons, p.FailReason) {
		simError(w, http.StatusBadRequest, "fail_reason %q: want one of %v", p.FailReason, shareFailReasons)
		return
	}
	mode := cmp.Or(p.Mode, modeEcommerce)
	if mode != modeEcommerce && mode != modePartner {
		simError(w, http.StatusBadRequest, "mode %q: want ecommerce or partner", p.Mode)
		return
	}
	no := r.PathValue("out_order_no")
	s.mu.Lock()
	now := s.now()
	notes := s.sharingTick(now)
	sp := s.st.Sharing.Splits[splitKey(mode, no)]
	var status int
	var msg string
	if sp == nil {
		status, msg = http.StatusNotFound, fmt.Sprintf("no %s split %q", mode, no)
	} else if sp.Status != wechatpay.ShareProcessing {
		status, msg = http.StatusConflict, fmt.Sprintf("split %q is already %s", no, sp.Status)
	} else {
		notes = append(notes, s.settleSplit(sp, now, p.Result, p.FailReason)...)
	}
	var v any
	if sp != nil {
		if mode == modeEcommerce {
			v = ecomView(sp)
		} else {
			v = partnerView(sp)
		}
	}
	s.mu.Unlock()
	s.sendNotes(notes)
	if status != 0 {
		simError(w, status, "%s", msg)
		return
	}
	simJSON(w, http.StatusOK, v)
}

// settleReturnRequest is the optional body of POST /sim/profitsharing/returns/{out_return_no}/settle.
type settleReturnRequest struct {
	Result     string `json:"result,omitempty"`      // SUCCESS (default) or FAIL
	FailReason string `json:"fail_reason,omitempty"` // of FAIL: ACCOUNT_ABNORMAL (default), BALANCE_NOT_ENOUGH, TIME_OUT_CLOSED, PAYER_ACCOUNT_ABNORMAL
	SubMchID   string `json:"sub_mchid"`
	Mode       string `json:"mode,omitempty"` // ecommerce (default) or partner
}

func (s *Simulator) simSettleReturn(w http.ResponseWriter, r *http.Request) {
	var p settleReturnRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	if p.Result != "" && p.Result != "SUCCESS" && p.Result != "FAIL" {
		simError(w, http.StatusBadRequest, "result %q: want SUCCESS or FAIL", p.Result)
		return
	}
	mode := cmp.Or(p.Mode, modeEcommerce)
	no := r.PathValue("out_return_no")
	s.mu.Lock()
	now := s.now()
	notes := s.sharingTick(now)
	ret := s.st.Sharing.Returns[returnKey(mode, p.SubMchID, no)]
	var status int
	var msg string
	var v any
	switch {
	case ret == nil:
		status, msg = http.StatusNotFound, fmt.Sprintf("no %s return %q of sub_mchid %q", mode, no, p.SubMchID)
	case ret.Result != wechatpay.ReturnProcessing:
		status, msg = http.StatusConflict, fmt.Sprintf("return %q is already %s", no, ret.Result)
	default:
		force := ""
		if p.Result == "FAIL" {
			force = "FAIL"
		}
		notes = append(notes, s.settleReturn(ret, now, force, p.FailReason)...)
		v = returnView(ret)
	}
	s.mu.Unlock()
	s.sendNotes(notes)
	if status != 0 {
		simError(w, status, "%s", msg)
		return
	}
	simJSON(w, http.StatusOK, v)
}

// invalidReceiverRequest is the optional body of POST /sim/profitsharing/receivers/{account}/invalid.
type invalidReceiverRequest struct {
	Reason string `json:"reason,omitempty"` // ACCOUNT_ABNORMAL (default) or another share fail reason
}

// simInvalidReceiver makes a receiver account invalid (POST) or valid again (DELETE):
// splits to it close with the reason, returns from it fail ACCOUNT_ABNORMAL.
func (s *Simulator) simInvalidReceiver(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	if r.Method == http.MethodDelete {
		s.mu.Lock()
		delete(s.st.Sharing.Invalid, account)
		s.mu.Unlock()
		simJSON(w, http.StatusOK, map[string]any{"account": account, "invalid": false})
		return
	}
	var p invalidReceiverRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	reason := cmp.Or(p.Reason, wechatpay.ShareFailAccountAbnormal)
	if !slices.Contains(shareFailReasons, reason) {
		simError(w, http.StatusBadRequest, "reason %q: want one of %v", reason, shareFailReasons)
		return
	}
	s.mu.Lock()
	s.st.Sharing.Invalid[account] = reason
	s.mu.Unlock()
	simJSON(w, http.StatusOK, map[string]any{"account": account, "invalid": true, "reason": reason})
}

// withdrawRequest is the body of POST /sim/profitsharing/accounts/{account}/withdraw.
type withdrawRequest struct {
	Amount int64 `json:"amount"` // fen taken out of what the receiver got from splits
}

// simWithdraw plays a receiver spending its shares, so that a later return fails
// BALANCE_NOT_ENOUGH.
func (s *Simulator) simWithdraw(w http.ResponseWriter, r *http.Request) {
	var p withdrawRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	account := r.PathValue("account")
	s.mu.Lock()
	bal := s.receiverBalance(account)
	ok := p.Amount > 0 && p.Amount <= bal
	if ok {
		s.st.Sharing.Withdrawn[account] += p.Amount
		bal -= p.Amount
	}
	s.mu.Unlock()
	if !ok {
		simError(w, http.StatusBadRequest, "amount %d: want 1 to the receiver's balance %d", p.Amount, bal)
		return
	}
	simJSON(w, http.StatusOK, map[string]any{"account": account, "balance": bal})
}

// SharePaymentView is GET /sim/profitsharing/payments/{transaction_id}: a payment's
// money, splits, returns and subsidy.
type SharePaymentView struct {
	Money          paymentMoney     `json:"money"`
	Splits         []*split         `json:"splits"`
	Returns        []*shareReturn   `json:"returns"`
	Subsidy        *subsidy         `json:"subsidy,omitempty"`
	SubsidyReturns []*subsidyReturn `json:"subsidy_returns,omitempty"`
}

func (s *Simulator) simSharePayment(w http.ResponseWriter, r *http.Request) {
	tx := r.PathValue("transaction_id")
	s.mu.Lock()
	notes := s.sharingTick(s.now())
	o := s.st.byTransaction[tx]
	var v SharePaymentView
	if o != nil {
		v.Money = s.money(o)
		if p := s.st.Sharing.Payments[tx]; p != nil {
			for _, k := range p.Splits {
				v.Splits = append(v.Splits, s.st.Sharing.Splits[k])
				v.Returns = append(v.Returns, s.returnsOf(k)...)
			}
		}
		v.Subsidy = s.st.Sharing.Subsidies[tx]
		v.SubsidyReturns = s.subsidyReturnsOf(tx)
	}
	s.mu.Unlock()
	s.sendNotes(notes)
	if o == nil {
		simError(w, http.StatusNotFound, "no paid order with transaction_id %q", tx)
		return
	}
	simJSON(w, http.StatusOK, v)
}

// balances is GET /sim/profitsharing/balances: every sub-merchant's frozen and
// available money from profit-sharing payments, every receiver's balance, and the
// check that nothing was created or lost:
//
//	paid − fees + subsidies − refunds − subsidy returns
//	  = frozen + available + receivers' balances + withdrawn + pending shares
type balances struct {
	SubMerchants []subMerchantBalance `json:"sub_merchants"`
	Receivers    []receiverBalance    `json:"receivers"`
	In           int64                `json:"in"`  // paid − fees + subsidies − refunds − subsidy returns
	Out          int64                `json:"out"` // frozen + available + receivers + withdrawn + pending
	Conserved    bool                 `json:"conserved"`
}

// subMerchantBalance sums a sub-merchant's profit-sharing payments.
type subMerchantBalance struct {
	SubMchID        string `json:"sub_mchid"`
	Payments        int    `json:"payments"`
	Paid            int64  `json:"paid"`
	Fees            int64  `json:"fees"`
	Subsidies       int64  `json:"subsidies"`
	Refunded        int64  `json:"refunded"`
	SubsidyReturned int64  `json:"subsidy_returned"`
	SharedOut       int64  `json:"shared_out"`
	Pending         int64  `json:"pending"`
	Returned        int64  `json:"returned"`
	Released        int64  `json:"released"`
	Frozen          int64  `json:"frozen"`
	Available       int64  `json:"available"`
}

// receiverBalance is what a receiver holds from splits.
type receiverBalance struct {
	Account   string `json:"account"`
	Received  int64  `json:"received"`
	Returned  int64  `json:"returned"`
	Withdrawn int64  `json:"withdrawn"`
	Balance   int64  `json:"balance"`
}

// SharingBalances computes Balances; tests call it directly.
func (s *Simulator) SharingBalances() balances {
	s.mu.Lock()
	notes := s.sharingTick(s.now())
	b := s.balances()
	s.mu.Unlock()
	s.sendNotes(notes)
	return b
}

// balances is SharingBalances under s.mu.
func (s *Simulator) balances() balances {
	sh := s.st.Sharing
	subs := map[string]*subMerchantBalance{}
	var b balances
	for _, o := range s.sortedOrders() {
		if !o.Partner || o.TransactionID == "" || o.SuccessTime.IsZero() || o.Request.SettleInfo == nil || !o.Request.SettleInfo.ProfitSharing {
			continue
		}
		m := s.money(o)
		if sh.Payments[o.TransactionID] == nil && !s.now().Before(o.SuccessTime.Add(freezeOf(modeEcommerce))) {
			m.Available += m.Frozen // released by the end of the freeze, untouched
			m.Released += m.Frozen
			m.Frozen = 0
		}
		sb := subs[m.SubMchID]
		if sb == nil {
			sb = &subMerchantBalance{SubMchID: m.SubMchID}
			subs[m.SubMchID] = sb
		}
		sb.Payments++
		sb.Paid += m.Total
		sb.Fees += m.Fee
		sb.Subsidies += m.Subsidy
		sb.Refunded += m.Refunded
		sb.SubsidyReturned += m.SubsidyReturned
		sb.SharedOut += m.SharedOut
		sb.Pending += m.Pending
		sb.Returned += m.Returned
		sb.Released += m.Released
		sb.Frozen += m.Frozen
		sb.Available += m.Available
		b.In += m.Total - m.Fee + m.Subsidy - m.Refunded - m.SubsidyReturned
		b.Out += m.Frozen + m.Available + m.Pending
	}
	accounts := map[string]*receiverBalance{}
	get := func(a string) *receiverBalance {
		if accounts[a] == nil {
			accounts[a] = &receiverBalance{Account: a}
		}
		return accounts[a]
	}
	for _, sp := range sh.Splits {
		for _, r := range sp.Receivers {
			if r.Result == wechatpay.ShareResultSuccess {
				get(r.Account).Received += r.Amount
			}
		}
	}
	for _, ret := range sh.Returns {
		if ret.Result == wechatpay.ReturnSuccess {
			get(ret.ReturnMchID).Returned += ret.Amount
		}
	}
	for a, n := range sh.Withdrawn {
		get(a).Withdrawn += n
	}
	for _, a := range accounts {
		a.Balance = a.Received - a.Returned - a.Withdrawn
		b.Receivers = append(b.Receivers, *a)
		b.Out += a.Balance + a.Withdrawn
	}
	for _, sb := range subs {
		b.SubMerchants = append(b.SubMerchants, *sb)
	}
	sort.Slice(b.SubMerchants, func(i, j int) bool { return b.SubMerchants[i].SubMchID < b.SubMerchants[j].SubMchID })
	sort.Slice(b.Receivers, func(i, j int) bool { return b.Receivers[i].Account < b.Receivers[j].Account })
	b.Conserved = b.In == b.Out
	return b
}

func (s *Simulator) simBalances(w http.ResponseWriter, _ *http.Request) {
	simJSON(w, http.StatusOK, s.SharingBalances())
}
