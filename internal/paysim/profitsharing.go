package paysim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Profit sharing (分账) as WeChat Pay runs it for 电商收付通 platforms
// (/v3/ecommerce/profitsharing/*) and for service providers (/v3/profitsharing/*). The
// rules, limits and error texts are those documented in shared/wechatpay/profitsharing.go,
// which cites the pages. The money model, per payment placed with
// settle_info.profit_sharing=true:
//
//	splittable = total − WeChat Pay's fee (分账常见问题: the fee is taken first) + its subsidy
//	frozen     = splittable − shares (pending or successful) − released − refunds − subsidy returns
//
// clamped at zero: a refund (or subsidy return) takes what it can from the frozen
// money and the rest from the sub-merchant's available balance. A finish (完结分账),
// an unfreeze, a split with finish/unfreeze_unsplit, or the end of the freeze (180
// days e-commerce, 30 days partner) releases what is frozen to the available balance.
// A share moves money to its receiver; a return (分账回退) moves it back to the
// sub-merchant's available balance (分账回退的资金回到商户可用余额). GET
// /sim/profitsharing/balances shows every balance and checks that they add up.

// Modes of profit sharing: which API family a split went through.
const (
	modeEcommerce = "ecommerce"
	modePartner   = "partner"
)

// sharingConfig is how the simulated profit sharing behaves; GET and POST
// /sim/profitsharing/config read and change it (a POST changes only the fields it
// names).
type sharingConfig struct {
	// SettleAfter keeps a split PROCESSING for this long on the simulated clock before
	// it settles (the next profit-sharing call or /sim read after that settles it); 0
	// settles at once, right after the request is answered PROCESSING.
	SettleAfter Duration `json:"settle_after,omitempty"`
	// Manual leaves splits PROCESSING until POST /sim/profitsharing/orders/{out_order_no}/settle.
	Manual bool `json:"manual,omitempty"`
	// MaxRatio is the ceiling of shares to others, in ten-thousandths of the
	// splittable amount; 3000 (30%) when zero.
	MaxRatio int64 `json:"max_ratio,omitempty"`
	// NotifyURL receives the PROFITSHARING.* notifications of every MERCHANT_ID
	// receiver (WeChat Pay uses the URL each receiver configured in its merchant
	// platform); NotifyURLs overrides it per receiver account.
	NotifyURL  string            `json:"notify_url,omitempty"`
	NotifyURLs map[string]string `json:"notify_urls,omitempty"`
	// LegacyEventType sends TRANSACTION.SUCCESS instead of PROFITSHARING.SUCCESS and
	// PROFITSHARING.RETURN, as merchants report WeChat Pay doing.
	LegacyEventType bool `json:"legacy_event_type,omitempty"`
	// ReturnPending answers returns PROCESSING until POST
	// /sim/profitsharing/returns/{out_return_no}/settle; unsettled for 5 days they fail
	// TIME_OUT_CLOSED.
	ReturnPending bool `json:"return_pending,omitempty"`
	// FundBillPartRows splits an encrypted fund bill into files of at most this many
	// lines (WeChat Pay splits at about 16 GB); one file when zero.
	FundBillPartRows int `json:"fund_bill_part_rows,omitempty"`
	// FundBillFault spoils the next encrypted fund bill: "tamper" flips a byte of its
	// first file (the GCM tag fails), "hash" announces a wrong hash_value.
	FundBillFault string `json:"fund_bill_fault,omitempty"`
}

func (c sharingConfig) maxRatio() int64 {
	if c.MaxRatio <= 0 {
		return wechatpay.DefaultMaxShareRatio
	}
	return c.MaxRatio
}

// sharingState is the profit-sharing part of the simulator's state.
type sharingState struct {
	Config sharingConfig `json:"config"`
	// Receivers by receiverKey: the platform's (e-commerce) or a sub-merchant's (partner).
	Receivers map[string]*simReceiver `json:"receivers"`
	// Payments by transaction_id: what profit sharing did to a payment.
	Payments map[string]*sharePayment `json:"payments"`
	// Splits by splitKey (mode|out_order_no), finishes and unfreezes included.
	Splits map[string]*split `json:"splits"`
	// Returns by returnKey (mode|sub_mchid|out_return_no).
	Returns map[string]*shareReturn `json:"returns"`
	// Invalid are receiver accounts made invalid by the driver, with the fail reason.
	Invalid map[string]string `json:"invalid_accounts"`
	// Withdrawn is what receivers took out of their balance (driver), by account.
	Withdrawn map[string]int64 `json:"withdrawn"`
	// Subsidies by transaction_id; SubsidyReturns by sub_mchid|out_order_no; SubsidyFlags
	// are the subsidy amounts set at order (补差标识), by transaction_id.
	Subsidies      map[string]*subsidy       `json:"subsidies"`
	SubsidyReturns map[string]*subsidyReturn `json:"subsidy_returns"`
	SubsidyFlags   map[string]int64          `json:"subsidy_flags"`
}

func newSharingState() *sharingState {
	return &sharingState{
		Receivers: map[string]*simReceiver{}, Payments: map[string]*sharePayment{}, Splits: map[string]*split{},
		Returns: map[string]*shareReturn{}, Invalid: map[string]string{}, Withdrawn: map[string]int64{},
		Subsidies: map[string]*subsidy{}, SubsidyReturns: map[string]*subsidyReturn{}, SubsidyFlags: map[string]int64{},
	}
}

// simReceiver is an added receiver.
type simReceiver struct {
	Scope          string    `json:"scope"` // "ecommerce" or "partner/<sub_mchid>"
	Type           string    `json:"type"`
	Account        string    `json:"account"`
	RelationType   string    `json:"relation_type,omitempty"`
	CustomRelation string    `json:"custom_relation,omitempty"`
	Named          bool      `json:"named,omitempty"` // an encrypted name was given (not kept)
	AddedAt        time.Time `json:"added_at"`
}

func receiverKey(scope, typ, account string) string { return scope + "|" + typ + "|" + account }

func receiverScope(mode, subMchID string) string {
	if mode == modeEcommerce {
		return modeEcommerce
	}
	return modePartner + "/" + subMchID
}

// sharePayment is what profit sharing did to one payment.
type sharePayment struct {
	TransactionID string    `json:"transaction_id"`
	Mode          string    `json:"mode"`   // the API family of its first split
	Splits        []string  `json:"splits"` // splitKeys in order
	Released      int64     `json:"released"`
	Finished      bool      `json:"finished"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	AutoReleased  bool      `json:"auto_released,omitempty"` // the freeze ended
}

// split is one split request, finish (完结分账) or unfreeze.
type split struct {
	Mode          string          `json:"mode"`
	Kind          string          `json:"kind"` // split, finish
	OrderID       string          `json:"order_id"`
	OutOrderNo    string          `json:"out_order_no"`
	SubMchID      string          `json:"sub_mchid"`
	TransactionID string          `json:"transaction_id"`
	AppID         string          `json:"appid,omitempty"`
	Receivers     []splitReceiver `json:"receivers,omitempty"`
	// Finish releases the rest after this split (finish, unfreeze_unsplit, or a finish order).
	Finish       bool      `json:"finish"`
	Description  string    `json:"description,omitempty"` // of a finish
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
	DueAt        time.Time `json:"due_at,omitzero"`
	FinishAmount int64     `json:"finish_amount,omitempty"`
	Fingerprint  string    `json:"fingerprint"`
}

type splitReceiver struct {
	Type        string    `json:"type"`
	Account     string    `json:"account"`
	Amount      int64     `json:"amount"`
	Description string    `json:"description"`
	Result      string    `json:"result"`
	FailReason  string    `json:"fail_reason,omitempty"`
	DetailID    string    `json:"detail_id"`
	FinishTime  time.Time `json:"finish_time,omitzero"`
}

// shareReturn is one return (分账回退).
type shareReturn struct {
	Mode        string    `json:"mode"`
	SplitKey    string    `json:"split"`
	SubMchID    string    `json:"sub_mchid"`
	OrderID     string    `json:"order_id"`
	OutOrderNo  string    `json:"out_order_no"`
	OutReturnNo string    `json:"out_return_no"`
	ReturnMchID string    `json:"return_mchid"`
	Amount      int64     `json:"amount"`
	Description string    `json:"description"`
	ReturnID    string    `json:"return_id"`
	Result      string    `json:"result"`
	FailReason  string    `json:"fail_reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	FinishTime  time.Time `json:"finish_time,omitzero"`
	Fingerprint string    `json:"fingerprint"`
}

func splitKey(mode, outOrderNo string) string { return mode + "|" + outOrderNo }

func returnKey(mode, subMchID, outReturnNo string) string {
	return mode + "|" + subMchID + "|" + outReturnNo
}

// routesSharing adds the profit-sharing, subsidy and encrypted fund-bill routes.
func (s *Simulator) routesSharing(m *http.ServeMux) {
	m.Handle("POST /v3/ecommerce/profitsharing/orders", s.api(s.ecomSplit))
	m.Handle("GET /v3/ecommerce/profitsharing/orders", s.api(s.ecomQuerySplit))
	m.Handle("GET /v3/ecommerce/profitsharing/orders/{transaction_id}/amounts", s.api(s.unsplitAmount))
	m.Handle("POST /v3/ecommerce/profitsharing/finish-order", s.api(s.ecomFinish))
	m.Handle("POST /v3/ecommerce/profitsharing/returnorders", s.api(s.returnShare(modeEcommerce)))
	m.Handle("GET /v3/ecommerce/profitsharing/returnorders", s.api(s.queryReturn(modeEcommerce)))
	m.Handle("POST /v3/ecommerce/profitsharing/receivers/add", s.api(s.addReceiver(modeEcommerce)))
	m.Handle("POST /v3/ecommerce/profitsharing/receivers/delete", s.api(s.deleteReceiver(modeEcommerce)))

	m.Handle("POST /v3/profitsharing/orders", s.api(s.partnerSplit))
	m.Handle("POST /v3/profitsharing/orders/unfreeze", s.api(s.partnerUnfreeze))
	m.Handle("GET /v3/profitsharing/orders/{out_order_no}", s.api(s.partnerQuerySplit))
	m.Handle("POST /v3/profitsharing/return-orders", s.api(s.returnShare(modePartner)))
	m.Handle("GET /v3/profitsharing/return-orders/{out_return_no}", s.api(s.queryReturn(modePartner)))
	m.Handle("GET /v3/profitsharing/transactions/{transaction_id}/amounts", s.api(s.unsplitAmount))
	m.Handle("GET /v3/profitsharing/merchant-configs/{sub_mchid}", s.api(s.maxRatio))
	m.Handle("POST /v3/profitsharing/receivers/add", s.api(s.addReceiver(modePartner)))
	m.Handle("POST /v3/profitsharing/receivers/delete", s.api(s.deleteReceiver(modePartner)))

	m.HandleFunc("GET /sim/profitsharing/config", s.simSharingConfig)
	m.HandleFunc("POST /sim/profitsharing/config", s.simSharingConfig)
	m.HandleFunc("POST /sim/profitsharing/orders/{out_order_no}/settle", s.simSettleSplit)
	m.HandleFunc("POST /sim/profitsharing/returns/{out_return_no}/settle", s.simSettleReturn)
	m.HandleFunc("POST /sim/profitsharing/receivers/{account}/invalid", s.simInvalidReceiver)
	m.HandleFunc("DELETE /sim/profitsharing/receivers/{account}/invalid", s.simInvalidReceiver)
	m.HandleFunc("POST /sim/profitsharing/accounts/{account}/withdraw", s.simWithdraw)
	m.HandleFunc("GET /sim/profitsharing/payments/{transaction_id}", s.simSharePayment)
	m.HandleFunc("GET /sim/profitsharing/balances", s.simBalances)

	s.routesSubsidies(m)
	s.routesFundBills(m)
}

// sharingNote is a profit-sharing notification to send once s.mu is released.
type sharingNote struct {
	url, event string
	resource   wechatpay.ProfitSharingNotice
}

// sendNotes delivers notifications with WeChat Pay's envelope, signature and retry
// schedule (and the notification faults). Call without s.mu.
func (s *Simulator) sendNotes(notes []sharingNote) {
	for _, n := range notes {
		if n.url == "" {
			s.log.Info("paysim: profit-sharing notification without a notify URL: not sent", "event", n.event, "order_id", n.resource.OrderID)
			continue
		}
		summary := "分账"
		if n.event == wechatpay.EventProfitSharingReturn {
			summary = "分账回退"
		}
		s.mu.Lock()
		legacy := s.st.Sharing.Config.LegacyEventType
		s.mu.Unlock()
		event := n.event
		if legacy {
			event = wechatpay.EventTransactionSuccess
		}
		plain, _ := json.Marshal(n.resource)
		aead, err := wechatpay.NewAEAD(s.id.APIv3Key)
		if err != nil {
			s.log.Error("paysim: profit-sharing notification", "err", err)
			continue
		}
		id := s.ids.uuid()
		body, err := wechatpay.BuildNotification(aead, wechatpay.NotificationInput{ID: id, CreateTime: s.now(), EventType: event,
			Summary: summary, OriginalType: "profitsharing", AssociatedData: "profitsharing", Resource: plain})
		if err != nil {
			s.log.Error("paysim: profit-sharing notification", "err", err)
			continue
		}
		s.schedule(&notification{id: id, url: n.url, event: event, body: body})
	}
}

// notifyURLFor is where a receiver's notifications go. Called under s.mu.
func (s *Simulator) notifyURLFor(account string) string {
	c := s.st.Sharing.Config
	if u, ok := c.NotifyURLs[account]; ok {
		return u
	}
	return c.NotifyURL
}

// paidShareOrder finds a paid partner-mode order by transaction_id for sub_mchid.
// Called under s.mu.
func (s *Simulator) paidShareOrder(transactionID, subMchID string) (*order, *reply) {
	o := s.st.byTransaction[transactionID]
	if o == nil || !o.Partner {
		return nil, errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: no paid order with transaction_id "+transactionID+" (profit sharing works on service-provider / 电商收付通 orders)")
	}
	if o.Request.SubMchID != subMchID {
		return nil, paramError("sub_mchid", subMchID, "must be the sub-merchant of the order ("+o.Request.SubMchID+")")
	}
	if o.TradeState != wechatpay.TradeStateSuccess && o.TradeState != wechatpay.TradeStateRefund {
		return nil, errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单状态不正确: order "+o.Request.OutTradeNo+" is "+o.TradeState+"; only paid orders are split")
	}
	if o.Request.SettleInfo == nil || !o.Request.SettleInfo.ProfitSharing {
		return nil, errReply(http.StatusBadRequest, "INVALID_REQUEST", "非分账订单不支持分账: the order was not placed with settle_info.profit_sharing=true")
	}
	return o, nil
}

// payment is the profit-sharing record of a transaction, made on first use. Called
// under s.mu.
func (s *Simulator) payment(transactionID, mode string) *sharePayment {
	p := s.st.Sharing.Payments[transactionID]
	if p == nil {
		p = &sharePayment{TransactionID: transactionID, Mode: mode}
		s.st.Sharing.Payments[transactionID] = p
	}
	return p
}

// paymentMoney is where a profit-sharing payment's money is, in fen.
type paymentMoney struct {
	TransactionID   string `json:"transaction_id"`
	OutTradeNo      string `json:"out_trade_no"`
	SubMchID        string `json:"sub_mchid"`
	Total           int64  `json:"total"`
	Fee             int64  `json:"fee"`
	Subsidy         int64  `json:"subsidy"`
	Splittable      int64  `json:"splittable"`
	SharedOut       int64  `json:"shared_out"` // pending and successful shares
	Pending         int64  `json:"pending"`    // shares not yet settled
	Returned        int64  `json:"returned"`   // successful returns: back to the sub-merchant's available balance
	Released        int64  `json:"released"`
	Refunded        int64  `json:"refunded"`
	SubsidyReturned int64  `json:"subsidy_returned"`
	Frozen          int64  `json:"frozen"`    // unsplit_amount
	Available       int64  `json:"available"` // released + returns − what refunds took from the available balance
	Finished        bool   `json:"finished"`
}

// money computes where a payment's money is. Called under s.mu.
func (s *Simulator) money(o *order) paymentMoney {
	total := o.Request.Amount.Total
	m := paymentMoney{TransactionID: o.TransactionID, OutTradeNo: o.Request.OutTradeNo, SubMchID: o.Request.SubMchID,
		Total: total, Fee: fee(total), Refunded: s.refunded(o)}
	sh := s.st.Sharing
	if sub := sh.Subsidies[o.TransactionID]; sub != nil && sub.Result == wechatpay.SubsidySuccess {
		m.Subsidy = sub.Amount
	}
	for _, r := range s.subsidyReturnsOf(o.TransactionID) {
		if r.Result == wechatpay.SubsidySuccess {
			m.SubsidyReturned += r.Amount
		}
	}
	m.Splittable = total - m.Fee + m.Subsidy
	p := sh.Payments[o.TransactionID]
	if p != nil {
		m.Released, m.Finished = p.Released, p.Finished
		for _, k := range p.Splits {
			sp := sh.Splits[k]
			for _, r := range sp.Receivers {
				switch r.Result {
				case wechatpay.ShareResultPending:
					m.Pending += r.Amount
					m.SharedOut += r.Amount
				case wechatpay.ShareResultSuccess:
					m.SharedOut += r.Amount
				}
			}
			for _, ret := range s.returnsOf(k) {
				if ret.Result == wechatpay.ReturnSuccess {
					m.Returned += ret.Amount
				}
			}
		}
	}
	left := max(0, m.Splittable-m.SharedOut-m.Released)
	m.Frozen = max(0, left-m.Refunded-m.SubsidyReturned)
	fromFrozen := left - m.Frozen
	m.Available = m.Released + m.Returned - (m.Refunded + m.SubsidyReturned - fromFrozen)
	return m
}

// returnsOf lists a split's returns, oldest first. Called under s.mu.
func (s *Simulator) returnsOf(key string) []*shareReturn {
	var out []*shareReturn
	for _, r := range s.st.Sharing.Returns {
		if r.SplitKey == key {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.Before(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].OutReturnNo < out[j].OutReturnNo
	})
	return out
}

// freezeOf is how long a payment stays frozen.
func freezeOf(mode string) time.Duration {
	if mode == modePartner {
		return wechatpay.PartnerFreeze
	}
	return wechatpay.EcommerceFreeze
}

// release unfreezes what a payment still holds. Called under s.mu.
func (s *Simulator) release(o *order, p *sharePayment, now time.Time) int64 {
	amt := s.money(o).Frozen
	p.Released += amt
	if !p.Finished {
		p.Finished, p.FinishedAt = true, now
	}
	return amt
}

// sharingTick settles what is due on the simulated clock: splits past their delay,
// returns PROCESSING for 5 days (TIME_OUT_CLOSED), payments whose freeze ended.
// Called under s.mu; returns the notifications to send after unlocking.
func (s *Simulator) sharingTick(now time.Time) []sharingNote {
	sh := s.st.Sharing
	var notes []sharingNote
	keys := make([]string, 0, len(sh.Splits))
	for k, sp := range sh.Splits {
		if sp.Status == wechatpay.ShareProcessing && !sh.Config.Manual && !sp.DueAt.IsZero() && !now.Before(sp.DueAt) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		notes = append(notes, s.settleSplit(sh.Splits[k], now, "", "")...)
	}
	for _, r := range sh.Returns {
		if r.Result == wechatpay.ReturnProcessing && !now.Before(r.CreatedAt.Add(wechatpay.ReturnTimeout)) {
			r.Result, r.FailReason, r.FinishTime = returnFailed(r.Mode), wechatpay.ReturnFailTimeOutClosed, now
		}
	}
	txs := make([]string, 0, len(sh.Payments))
	for tx := range sh.Payments {
		txs = append(txs, tx)
	}
	sort.Strings(txs)
	for _, tx := range txs {
		p := sh.Payments[tx]
		o := s.st.byTransaction[tx]
		if o == nil || p.Finished || o.SuccessTime.IsZero() || now.Before(o.SuccessTime.Add(freezeOf(p.Mode))) {
			continue
		}
		s.release(o, p, o.SuccessTime.Add(freezeOf(p.Mode)))
		p.AutoReleased = true
	}
	return notes
}

func returnFailed(mode string) string {
	if mode == modePartner {
		return wechatpay.ReturnFailed
	}
	return wechatpay.ReturnFail
}

// settleSplit ends a PROCESSING split: each pending receiver succeeds, or is closed
// (forced by the driver, an invalid account, a receiver deleted meanwhile). Called
// under s.mu.
func (s *Simulator) settleSplit(sp *split, now time.Time, force, reason string) []sharingNote {
	if sp.Status != wechatpay.ShareProcessing {
		return nil
	}
	sh := s.st.Sharing
	o := s.st.byTransaction[sp.TransactionID]
	p := s.payment(sp.TransactionID, sp.Mode)
	var notes []sharingNote
	for i := range sp.Receivers {
		r := &sp.Receivers[i]
		if r.Result != wechatpay.ShareResultPending {
			continue
		}
		r.FinishTime = now
		switch {
		case force == wechatpay.ShareResultClosed:
			r.Result, r.FailReason = wechatpay.ShareResultClosed, cmp.Or(reason, wechatpay.ShareFailAccountAbnormal)
		case sh.Invalid[r.Account] != "":
			r.Result, r.FailReason = wechatpay.ShareResultClosed, sh.Invalid[r.Account]
		case !s.related(sp.Mode, sp.SubMchID, r.Type, r.Account):
			r.Result, r.FailReason = wechatpay.ShareResultClosed, wechatpay.ShareFailNoRelation
		default:
			r.Result = wechatpay.ShareResultSuccess
			if r.Type == wechatpay.ReceiverMerchant {
				n := wechatpay.ProfitSharingNotice{SpMchID: s.id.MchID, SubMchID: sp.SubMchID, TransactionID: sp.TransactionID,
					OrderID: sp.OrderID, OutOrderNo: sp.OutOrderNo, SuccessTime: rfc3339CST(now)}
				n.Receiver.Type, n.Receiver.Account, n.Receiver.Amount, n.Receiver.Description = r.Type, r.Account, r.Amount, r.Description
				notes = append(notes, sharingNote{url: s.notifyURLFor(r.Account), event: wechatpay.EventProfitSharingSuccess, resource: n})
			}
		}
		if r.Result == wechatpay.ShareResultClosed && p.Finished {
			p.Released += r.Amount // closed after the finish: straight to the sub-merchant
		}
	}
	sp.Status = wechatpay.ShareFinished
	if sp.Finish && o != nil {
		amt := s.release(o, p, now)
		if sp.Kind == "finish" {
			sp.FinishAmount = amt
		}
	}
	s.log.Info("paysim: split settled", "out_order_no", sp.OutOrderNo, "kind", sp.Kind)
	return notes
}

// related reports whether account may receive a share of sub_mchid's payment: the
// payer itself ("可以设置出资商户作为分账接收方"), the platform (a receiver by default,
// 平台收付通分账业务示例), or an added receiver. Called under s.mu.
func (s *Simulator) related(mode, subMchID, typ, account string) bool {
	if typ == wechatpay.ReceiverMerchant && (account == subMchID || (mode == modeEcommerce && account == s.id.MchID)) {
		return true
	}
	return s.st.Sharing.Receivers[receiverKey(receiverScope(mode, subMchID), typ, account)] != nil
}

// splitInput is a split request of either API family, normalised.
type splitInput struct {
	mode, subMchID, appID, subAppID, transactionID, outOrderNo string
	receivers                                                  []receiverInput
	finish                                                     bool
	fingerprint                                                string
}

type receiverInput struct {
	typ, account, name, description string
	amount                          int64
}

// decryptsName checks that an encrypted name opens with a platform key and that the
// request named a platform key in Wechatpay-Serial, as WeChat Pay needs to decrypt it.
func (s *Simulator) decryptsName(r *apiRequest, field, name string) *reply {
	if name == "" {
		return nil
	}
	serial := r.Header.Get(wechatpay.HeaderSerial)
	s.mu.Lock()
	keys := append([]*platformKey(nil), s.keys...)
	s.mu.Unlock()
	known := false
	for _, k := range keys {
		// A missing header names no key, even one without a PUB_KEY_ID.
		if serial != "" && (strings.EqualFold(serial, k.serial) || serial == k.pubKeyID) {
			known = true
			if _, err := wechatpay.DecryptOAEP(k.key, name); err == nil {
				return nil
			}
		}
	}
	if !known {
		return paramError("Wechatpay-Serial", nonEmpty(serial), "请求参数中的敏感字段需要用微信支付公钥或平台证书加密: the header must name the platform certificate serial or PUB_KEY_ID that encrypted "+field)
	}
	return paramError(field, nil, "解密失败: "+field+" does not decrypt with the platform key named by Wechatpay-Serial (RSA-OAEP with SHA-1, base64)")
}

// checkSplitInput applies the field rules common to both families.
func (s *Simulator) checkSplitInput(r *apiRequest, in *splitInput) *reply {
	if in.subMchID == "" {
		return paramError("sub_mchid", nil, "is required")
	}
	if !s.knownSubMch(in.subMchID) {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "受理关系不存在: sub_mchid "+in.subMchID+" is not a sub-merchant of "+s.id.MchID)
	}
	if in.transactionID == "" {
		return paramError("transaction_id", nil, "is required")
	}
	if err := wechatpay.ValidateShareNo("out_order_no", in.outOrderNo); err != nil {
		return validationReply(err, in.outOrderNo)
	}
	if len(in.receivers) == 0 {
		return paramError("receivers", nil, "is required: at least one receiver")
	}
	if len(in.receivers) > wechatpay.MaxReceiversPerShare {
		return paramError("receivers", len(in.receivers), fmt.Sprintf("has %d receivers; at most %d per split", len(in.receivers), wechatpay.MaxReceiversPerShare))
	}
	for i, rc := range in.receivers {
		f := fmt.Sprintf("receivers[%d]", i)
		switch rc.typ {
		case wechatpay.ReceiverMerchant:
		case wechatpay.ReceiverPersonalOpenID:
			if in.appID == "" {
				return paramError("appid", nil, "is required when a receiver is PERSONAL_OPENID")
			}
		case wechatpay.ReceiverPersonalSubOpenID:
			if in.mode == modeEcommerce {
				return paramError(f+".type", rc.typ, "must be MERCHANT_ID or PERSONAL_OPENID")
			}
			if in.subAppID == "" {
				return paramError("sub_appid", nil, "is required when a receiver is PERSONAL_SUB_OPENID")
			}
		default:
			return paramError(f+".type", rc.typ, "must be MERCHANT_ID, PERSONAL_OPENID or PERSONAL_SUB_OPENID")
		}
		if rc.account == "" {
			return paramError(f+".account", nil, "is required")
		}
		if rc.amount <= 0 {
			return paramError(f+".amount", rc.amount, "must be a positive whole number of fen")
		}
		if rc.description == "" || len([]rune(rc.description)) > 80 {
			return paramError(f+".description", rc.description, "is required, at most 80 characters")
		}
		if rep := s.decryptsName(r, f+".name", rc.name); rep != nil {
			return rep
		}
	}
	return nil
}

// createSplit runs a split request of either family and returns the split as
// answered (PROCESSING) and the notifications of an immediate settlement.
func (s *Simulator) createSplit(r *apiRequest, in splitInput) (*split, []sharingNote, *reply) {
	if rep := s.checkSplitInput(r, &in); rep != nil {
		return nil, nil, rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	notes := s.sharingTick(now)
	sh := s.st.Sharing
	key := splitKey(in.mode, in.outOrderNo)
	if sp := sh.Splits[key]; sp != nil {
		if sp.Fingerprint != in.fingerprint {
			return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "商户分账单号重复: out_order_no "+in.outOrderNo+" was used for another split; a retry must repeat the request exactly, a new split (or finish) needs a new out_order_no")
		}
		v := *sp
		v.Receivers = append([]splitReceiver(nil), sp.Receivers...)
		return &v, notes, nil // the same request again: the same split (同一分账单号多次请求等同一次)
	}
	o, rep := s.paidShareOrder(in.transactionID, in.subMchID)
	if rep != nil {
		return nil, notes, rep
	}
	if rep := s.splitAllowed(o, in.mode, now); rep != nil {
		return nil, notes, rep
	}
	p := s.payment(in.transactionID, in.mode)
	for _, rc := range in.receivers {
		if !s.related(in.mode, in.subMchID, rc.typ, rc.account) {
			return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "分账接收方关系不存在,请检查参数中每个接收方的关系: "+rc.typ+" "+rc.account+" was not added as a receiver ("+receiverAPI(in.mode)+"/receivers/add)")
		}
	}
	m := s.money(o)
	var sum, others int64
	for _, rc := range in.receivers {
		sum += rc.amount
		if rc.account != in.subMchID {
			others += rc.amount
		}
	}
	if sum > m.Frozen {
		return nil, notes, errReply(http.StatusForbidden, "NOT_ENOUGH", fmt.Sprintf("分账金额不足: the split asks %d fen, the order holds %d fen unsplit (paid %d − fee %d + subsidy %d − shared %d − released %d − refunded %d)",
			sum, m.Frozen, m.Total, m.Fee, m.Subsidy, m.SharedOut, m.Released, m.Refunded))
	}
	ceiling := m.Splittable * sh.Config.maxRatio() / 10000
	if prev := s.sharedToOthers(p, in.subMchID); prev+others > ceiling {
		return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("分账金额超出最大分账比例: shares to others would total %d fen, above %d (%d.%02d%% of the %d fen splittable)",
			prev+others, ceiling, sh.Config.maxRatio()/100, sh.Config.maxRatio()%100, m.Splittable))
	}
	sp := &split{Mode: in.mode, Kind: "split", OrderID: "30" + now.In(clock.CST).Format("20060102") + s.ids.digits(18), OutOrderNo: in.outOrderNo,
		SubMchID: in.subMchID, TransactionID: in.transactionID, AppID: in.appID, Finish: in.finish,
		Status: wechatpay.ShareProcessing, CreatedAt: now, Fingerprint: in.fingerprint}
	for _, rc := range in.receivers {
		sp.Receivers = append(sp.Receivers, splitReceiver{Type: rc.typ, Account: rc.account, Amount: rc.amount, Description: rc.description,
			Result: wechatpay.ShareResultPending, DetailID: "36" + now.In(clock.CST).Format("20060102") + s.ids.digits(18)})
	}
	s.schedulePending(sp, now)
	sh.Splits[key] = sp
	p.Splits = append(p.Splits, key)
	answered := *sp
	answered.Receivers = append([]splitReceiver(nil), sp.Receivers...)
	if !sp.DueAt.IsZero() && !now.Before(sp.DueAt) && !sh.Config.Manual {
		notes = append(notes, s.settleSplit(sp, now, "", "")...)
	}
	s.log.Info("paysim: split requested", "out_order_no", in.outOrderNo, "transaction_id", in.transactionID, "amount", sum)
	return &answered, notes, nil
}

// schedulePending sets when a new split settles by itself. Called under s.mu.
func (s *Simulator) schedulePending(sp *split, now time.Time) {
	if !s.st.Sharing.Config.Manual {
		sp.DueAt = now.Add(time.Duration(s.st.Sharing.Config.SettleAfter))
	}
}

func receiverAPI(mode string) string {
	if mode == modeEcommerce {
		return "/v3/ecommerce/profitsharing"
	}
	return "/v3/profitsharing"
}

// sharedToOthers sums a payment's pending and successful shares to anyone but the
// payer. Called under s.mu.
func (s *Simulator) sharedToOthers(p *sharePayment, subMchID string) int64 {
	var n int64
	for _, k := range p.Splits {
		for _, r := range s.st.Sharing.Splits[k].Receivers {
			if r.Account != subMchID && r.Result != wechatpay.ShareResultClosed {
				n += r.Amount
			}
		}
	}
	return n
}

// splitAllowed applies the order-level rules of a split or finish. Called under s.mu.
func (s *Simulator) splitAllowed(o *order, mode string, now time.Time) *reply {
	sh := s.st.Sharing
	p := sh.Payments[o.TransactionID]
	if p != nil && p.Mode != mode {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "this payment is split through "+receiverAPI(p.Mode)+"; paysim keeps one API family per payment")
	}
	if now.Sub(o.SuccessTime) < wechatpay.ShareNotBefore {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("订单处理中,暂时无法分账,请稍后重试: paid at %s; split 1 minute after payment at the earliest", rfc3339CST(o.SuccessTime)))
	}
	if p != nil && p.Finished {
		why := "the order was finished (完结分账/解冻剩余资金)"
		if p.AutoReleased {
			why = "the freeze ended and the rest was released to the sub-merchant"
		}
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已完结分账,不能再分账: "+why)
	}
	if p != nil && len(p.Splits) >= wechatpay.MaxSharesPerOrder {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("分账请求次数超过上限: an order takes at most %d split requests", wechatpay.MaxSharesPerOrder))
	}
	if want, flagged := sh.SubsidyFlags[o.TransactionID]; flagged && want > 0 {
		sub := sh.Subsidies[o.TransactionID]
		if sub == nil || (sub.Result != wechatpay.SubsidySuccess && !sub.Cancelled) {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单需要先补差: the order was placed with a subsidy amount; subsidise it (/v3/ecommerce/subsidies/create) or cancel the subsidy before splitting")
		}
	}
	return nil
}

// ecomSplit handles POST /v3/ecommerce/profitsharing/orders.
func (s *Simulator) ecomSplit(r *apiRequest) *reply {
	var req wechatpay.EcommerceShareRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	in := splitInput{mode: modeEcommerce, subMchID: req.SubMchID, appID: req.AppID, transactionID: req.TransactionID,
		outOrderNo: req.OutOrderNo, finish: req.Finish}
	for _, rc := range req.Receivers {
		in.receivers = append(in.receivers, receiverInput{typ: rc.Type, account: rc.ReceiverAccount, name: rc.ReceiverName, description: rc.Description, amount: rc.Amount})
	}
	in.fingerprint = shareFingerprint(req)
	sp, notes, rep := s.createSplit(r, in)
	s.sendNotes(notes)
	if rep != nil {
		return rep
	}
	return jsonReply(http.StatusOK, ecomView(sp))
}

// shareFingerprint is a request without its encrypted fields, which differ on every
// encryption of the same name.
func shareFingerprint(v any) string {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if rs, ok := m["receivers"].([]any); ok {
		for _, r := range rs {
			if rm, ok := r.(map[string]any); ok {
				delete(rm, "receiver_name")
				delete(rm, "name")
			}
		}
	}
	b, _ = json.Marshal(m)
	return string(b)
}

func ecomView(sp *split) wechatpay.EcommerceShareOrder {
	v := wechatpay.EcommerceShareOrder{SubMchID: sp.SubMchID, TransactionID: sp.TransactionID, OutOrderNo: sp.OutOrderNo,
		OrderID: sp.OrderID, Status: sp.Status}
	if sp.Kind == "finish" {
		v.FinishAmount, v.FinishDescription = sp.FinishAmount, sp.Description
		return v
	}
	for _, r := range sp.Receivers {
		rv := wechatpay.EcommerceShareReceiverResult{Type: r.Type, ReceiverAccount: r.Account, Amount: r.Amount, Description: r.Description,
			Result: r.Result, FailReason: r.FailReason, DetailID: r.DetailID}
		if r.Type == wechatpay.ReceiverMerchant {
			rv.ReceiverMchID = r.Account
		}
		if !r.FinishTime.IsZero() {
			rv.FinishTime = rfc3339CST(r.FinishTime)
		}
		v.Receivers = append(v.Receivers, rv)
	}
	return v
}

func partnerView(sp *split) wechatpay.ShareOrder {
	v := wechatpay.ShareOrder{SubMchID: sp.SubMchID, TransactionID: sp.TransactionID, OutOrderNo: sp.OutOrderNo, OrderID: sp.OrderID, State: sp.Status}
	for _, r := range sp.Receivers {
		rv := wechatpay.ShareReceiverResult{Type: r.Type, Account: r.Account, Amount: r.Amount, Description: r.Description,
			Result: r.Result, FailReason: r.FailReason, DetailID: r.DetailID, CreateTime: rfc3339CST(sp.CreatedAt)}
		if !r.FinishTime.IsZero() {
			rv.FinishTime = rfc3339CST(r.FinishTime)
		}
		v.Receivers = append(v.Receivers, rv)
	}
	return v
}

// lookupSplit reads a split for a query, after settling what is due.
func (s *Simulator) lookupSplit(mode, subMchID, transactionID, outOrderNo string) (*split, []sharingNote, *reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	notes := s.sharingTick(s.now())
	sp := s.st.Sharing.Splits[splitKey(mode, outOrderNo)]
	if sp == nil || sp.SubMchID != subMchID || (transactionID != "" && sp.TransactionID != transactionID) {
		return nil, notes, errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "记录不存在: no split "+outOrderNo+" of sub_mchid "+subMchID+" and transaction_id "+transactionID)
	}
	v := *sp
	v.Receivers = append([]splitReceiver(nil), sp.Receivers...)
	return &v, notes, nil
}

// ecomQuerySplit handles GET /v3/ecommerce/profitsharing/orders.
func (s *Simulator) ecomQuerySplit(r *apiRequest) *reply {
	q := r.URL.Query()
	for _, f := range []string{"sub_mchid", "transaction_id", "out_order_no"} {
		if q.Get(f) == "" {
			return queryParamError(f, "", "is required")
		}
	}
	sp, notes, rep := s.lookupSplit(modeEcommerce, q.Get("sub_mchid"), q.Get("transaction_id"), q.Get("out_order_no"))
	s.sendNotes(notes)
	if rep != nil {
		return rep
	}
	return jsonReply(http.StatusOK, ecomView(sp))
}

// partnerSplit handles POST /v3/profitsharing/orders.
func (s *Simulator) partnerSplit(r *apiRequest) *reply {
	var req wechatpay.ShareRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	in := splitInput{mode: modePartner, subMchID: req.SubMchID, appID: req.AppID, subAppID: req.SubAppID, transactionID: req.TransactionID,
		outOrderNo: req.OutOrderNo, finish: req.UnfreezeUnsplit}
	for _, rc := range req.Receivers {
		in.receivers = append(in.receivers, receiverInput{typ: rc.Type, account: rc.Account, name: rc.Name, description: rc.Description, amount: rc.Amount})
	}
	in.fingerprint = shareFingerprint(req)
	sp, notes, rep := s.createSplit(r, in)
	s.sendNotes(notes)
	if rep != nil {
		return rep
	}
	return jsonReply(http.StatusOK, partnerView(sp))
}

// partnerQuerySplit handles GET /v3/profitsharing/orders/{out_order_no}.
func (s *Simulator) partnerQuerySplit(r *apiRequest) *reply {
	q := r.URL.Query()
	for _, f := range []string{"sub_mchid", "transaction_id"} {
		if q.Get(f) == "" {
			return queryParamError(f, "", "is required")
		}
	}
	sp, notes, rep := s.lookupSplit(modePartner, q.Get("sub_mchid"), q.Get("transaction_id"), r.PathValue("out_order_no"))
	s.sendNotes(notes)
	if rep != nil {
		return rep
	}
	return jsonReply(http.StatusOK, partnerView(sp))
}

// finish runs a finish order (e-commerce 完结分账) or an unfreeze (partner 解冻剩余资金):
// a split without receivers that releases the rest.
func (s *Simulator) finish(mode, subMchID, transactionID, outOrderNo, description string) (*split, []sharingNote, *reply) {
	if subMchID == "" || transactionID == "" {
		return nil, nil, paramError("sub_mchid", nil, "sub_mchid and transaction_id are required")
	}
	if err := wechatpay.ValidateShareNo("out_order_no", outOrderNo); err != nil {
		return nil, nil, validationReply(err, outOrderNo)
	}
	if description == "" || len([]rune(description)) > 80 {
		return nil, nil, paramError("description", description, "is required, at most 80 characters")
	}
	fp := strings.Join([]string{mode, subMchID, transactionID, outOrderNo, description}, "|")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	notes := s.sharingTick(now)
	sh := s.st.Sharing
	key := splitKey(mode, outOrderNo)
	if sp := sh.Splits[key]; sp != nil {
		if sp.Fingerprint != fp {
			return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "商户分账单号重复: out_order_no "+outOrderNo+" was used for another request")
		}
		v := *sp
		return &v, notes, nil
	}
	o, rep := s.paidShareOrder(transactionID, subMchID)
	if rep != nil {
		return nil, notes, rep
	}
	if rep := s.splitAllowed(o, mode, now); rep != nil {
		return nil, notes, rep
	}
	p := s.payment(transactionID, mode)
	sp := &split{Mode: mode, Kind: "finish", OrderID: "30" + now.In(clock.CST).Format("20060102") + s.ids.digits(18), OutOrderNo: outOrderNo,
		SubMchID: subMchID, TransactionID: transactionID, Finish: true, Description: description,
		Status: wechatpay.ShareProcessing, CreatedAt: now, Fingerprint: fp}
	s.schedulePending(sp, now)
	sh.Splits[key] = sp
	p.Splits = append(p.Splits, key)
	answered := *sp
	if !sp.DueAt.IsZero() && !now.Before(sp.DueAt) && !sh.Config.Manual {
		notes = append(notes, s.settleSplit(sp, now, "", "")...)
	}
	return &answered, notes, nil
}

// ecomFinish handles POST /v3/ecommerce/profitsharing/finish-order.
func (s *Simulator) ecomFinish(r *apiRequest) *reply {
	var req wechatpay.EcommerceFinishRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	sp, notes, rep := s.finish(modeEcommerce, req.SubMchID, req.TransactionID, req.OutOrderNo, req.Description)
	s.sendNotes(notes)
	if rep != nil {
		return rep
	}
	v := ecomView(sp)
	v.Status, v.FinishAmount, v.FinishDescription = "", 0, "" // the finish answers its numbers only
	return jsonReply(http.StatusOK, v)
}

// partnerUnfreeze handles POST /v3/profitsharing/orders/unfreeze.
func (s *Simulator) partnerUnfreeze(r *apiRequest) *reply {
	var req wechatpay.UnfreezeRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	sp, notes, rep := s.finish(modePartner, req.SubMchID, req.TransactionID, req.OutOrderNo, req.Description)
	s.sendNotes(notes)
	if rep != nil {
		return rep
	}
	return jsonReply(http.StatusOK, partnerView(sp))
}

// unsplitAmount handles GET …/orders/{transaction_id}/amounts (e-commerce) and
// …/transactions/{transaction_id}/amounts (partner).
func (s *Simulator) unsplitAmount(r *apiRequest) *reply {
	tx := r.PathValue("transaction_id")
	s.mu.Lock()
	notes := s.sharingTick(s.now())
	o := s.st.byTransaction[tx]
	var m paymentMoney
	if o != nil {
		m = s.money(o)
		if p := s.st.Sharing.Payments[tx]; p == nil && !o.SuccessTime.IsZero() && !s.now().Before(o.SuccessTime.Add(wechatpay.EcommerceFreeze)) {
			m.Frozen = 0 // the freeze ended untouched
		}
	}
	s.mu.Unlock()
	s.sendNotes(notes)
	if o == nil || !o.Partner {
		return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: no paid order with transaction_id "+tx)
	}
	if o.Request.SettleInfo == nil || !o.Request.SettleInfo.ProfitSharing {
		m.Frozen = 0
	}
	return jsonReply(http.StatusOK, wechatpay.UnsplitAmount{TransactionID: tx, UnsplitAmount: m.Frozen})
}

// maxRatio handles GET /v3/profitsharing/merchant-configs/{sub_mchid}.
func (s *Simulator) maxRatio(r *apiRequest) *reply {
	sub := r.PathValue("sub_mchid")
	if !s.knownSubMch(sub) {
		return errReply(http.StatusForbidden, "NO_AUTH", "非服务商下的签约子商户: "+sub)
	}
	s.mu.Lock()
	ratio := s.st.Sharing.Config.maxRatio()
	s.mu.Unlock()
	return jsonReply(http.StatusOK, wechatpay.MaxShareRatio{SubMchID: sub, MaxRatio: ratio})
}
