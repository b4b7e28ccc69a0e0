package createorder

// Combine orders (合单) through the order API, for a platform (WXPAY_MODE=ecommerce) or a
// service provider (partner): POST /orders with sub_orders instead of amount places one
// payment for several sub-merchants' sub-orders. The combine's order_id is its
// idempotency key and its combine_out_trade_no; each sub-order is an order of its own
// in the ledger (its order_id is its out_trade_no, under its sub_mchid), readable and
// refundable with the ordinary routes and ?sub_mchid=. GET, close and POST (replay,
// re-price) of the combine's order_id act on the combine; the ledger's record of it is
// payment.Combine (shared/payment/combine.go, which says how notifications apply).
//
// WeChat Pay's rules (shared/wechatpay/combine.go has them with the docs): 1–50
// sub-orders for a platform or service provider — the order API asks for at least 2,
// since one sub-order is an ordinary order; attach is required per sub-order (the
// sub-order's order_id when not given); H5 needs scene_info.device_id (商户端设备号:
// this bundle sends h5DeviceID); the combine and its sub-orders are queried and closed
// only through the combine APIs, never in the first 5 minutes.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paysls/wxpay/functions/createorder/cashier"
	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// MinCombineSubOrders is the fewest sub-orders the order API takes in a combine: a
// single one is an ordinary order (send amount instead).
const MinCombineSubOrders = orderapi.MinCombineSubOrders

// h5DeviceID is the scene_info.device_id of an H5 combine: WeChat Pay requires the
// merchant's terminal id there (合单下单-H5: "device_id 必填 商户端设备号",
// pay.weixin.qq.com/doc/v3/partner/4012760626); the bundle is that terminal.
const h5DeviceID = "WXPAY-H5"

// combineOrder is a validated combine create.
type combineOrder struct {
	*order // scene, payer, H5, client IP, expiry, … (amount is the total)
	subs   []payment.SubOrder
	// fromRecord: the create came without sub_orders for an existing combine (the
	// cashier page placing it in a scene): its sub-orders are the record's.
	fromRecord bool
}

// combineCreate serves POST /orders for a combine: a body with sub_orders, or — in a
// mode with combines — a body without sub_orders and sub_mchid for an order_id that is
// a combine (the cashier page placing it). It reports whether it answered.
func (h *Handler) combineCreate(w http.ResponseWriter, r *http.Request, req *orderapi.CreateRequest) bool {
	ctx := r.Context()
	var rec *payment.Combine
	if len(req.SubOrders) == 0 {
		if !h.partner || req.SubMchID != "" || ValidateOrderID(req.OrderID) != nil {
			return false
		}
		hist, err := h.ledger.Combine(ctx, h.cfg.MchID, req.OrderID)
		switch {
		case errors.Is(err, payment.ErrNotFound):
			return false
		case err != nil:
			h.writeError(w, r, err)
			return true
		}
		rec = hist.Current
	}
	co, e := h.validateCombine(r, req, rec)
	if e != nil {
		h.writeError(w, r, e)
		return true
	}
	c, subs, placed, wait, err := h.placeCombine(ctx, co)
	if err != nil {
		h.writeError(w, r, err)
		return true
	}
	v, err := h.combineAnswer(co, c, subs)
	wait() // the prepay answer is written while the pay parameters are signed
	if err != nil {
		h.writeError(w, r, err)
		return true
	}
	status := http.StatusOK
	if placed {
		status = http.StatusCreated
		h.log.Info("combine placed", "order_id", co.orderID, "combine_out_trade_no", c.CombineNo, "scene", c.Scene,
			"amount", c.Total(), "sub_orders", len(c.SubOrders))
	} else {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	apiauth.WriteJSON(w, status, v)
	return true
}

// validateCombine refuses a combine create the API or WeChat Pay would not take, before
// anything reaches the store or WeChat Pay. rec, when set, is the combine the request
// (without sub_orders) places in a scene.
func (h *Handler) validateCombine(r *http.Request, req *orderapi.CreateRequest, rec *payment.Combine) (*combineOrder, *apiError) {
	if !h.partner {
		return nil, badRequest("COMBINE_NOT_AVAILABLE", "combine orders (合单, sub_orders) are placed by a platform or a service provider for its sub-merchants; this deployment is a direct merchant").
			withHint("set " + config.EnvMode + "=ecommerce (电商收付通) or partner, or send one order per merchant with amount")
	}
	if e := ValidateOrderID(req.OrderID); e != nil {
		return nil, e
	}
	if req.SubMchID != "" || req.SubAppID != "" {
		return nil, badRequest(wechatpay.CodeParamError, "sub_mchid/sub_appid of a combine belong in each sub_orders[] entry").
			withHint("move them into the sub-orders: sub_orders[i].sub_mchid")
	}
	if req.GoodsTag != "" {
		return nil, badRequest(wechatpay.CodeParamError, "goods_tag is not taken for a combine")
	}
	if v := strings.TrimSpace(string(req.ProfitSharing)); v != "" && v != "null" && v != "false" {
		return nil, badRequest(wechatpay.CodeParamError, "profit_sharing of a combine belongs in each sub_orders[] entry: each sub-order is split on its own").
			withHint("move it into the sub-orders: sub_orders[i].profit_sharing")
	}
	co := &combineOrder{}
	var subs []payment.SubOrder
	var total int64
	if rec != nil {
		// The combine placed in a scene: its sub-orders as recorded, the amount the
		// caller saw (the cashier repeats it) must be the combine's.
		co.fromRecord = true
		subs = append(subs, rec.SubOrders...)
		total = rec.Total()
		if amt := int64(req.Amount); amt != total {
			return nil, fail(http.StatusConflict, "COMBINE_AMOUNT_DIFFERS",
				fmt.Sprintf("order %s is a combine of %d fen; the request says %d", req.OrderID, total, amt),
				"a combine's amount is the sum of its sub_orders; to change it send the combine again with its sub_orders")
		}
	} else {
		if req.Amount != 0 { // left out, or a typed client's zero
			return nil, badRequest(wechatpay.CodeParamError, "a combine has no amount of its own: it is the sum of its sub_orders").
				withHint("leave amount out and give each sub-order its amount in fen · 合单金额为各子单金额之和")
		}
		var e *apiError
		if subs, total, e = h.validateSubOrders(r.Context(), req); e != nil {
			return nil, e
		}
	}
	desc := req.Description
	if desc == "" {
		desc = combineDescription(subs)
	}
	single := *req
	single.Amount = orderapi.Fen(total)
	single.Description, single.SubMchID, single.SubAppID, single.SubOrders = desc, subs[0].SubMchID, "", nil
	o, e := h.validate(r, &single)
	if e != nil {
		return nil, e
	}
	// The combine is paid under combine_appid (the platform's sp_appid): the payer's
	// openid is under it (combine_payer_info.openid), and JSAPI/APP are signed for it.
	o.appID, o.signAppID, o.subMchID, o.subAppID = h.cfg.AppID, h.cfg.AppID, "", ""
	if o.payer != nil {
		if req.Payer != nil && req.Payer.SubOpenID != "" {
			return nil, badRequest(wechatpay.CodeParamError, "a combine's payer is payer.openid under the platform's appid %s (combine_payer_info.openid); sub_openid is not taken", h.cfg.AppID)
		}
		o.payer = &wechatpay.Payer{OpenID: cmp.Or(o.payer.SpOpenID, o.payer.OpenID)}
	}
	o.owner = h.cfg.MchID
	co.order, co.subs = o, subs
	if rec != nil && rec.Create.CashierFP != "" && o.scene != SceneCashier {
		o.cashierFP = rec.Create.CashierFP
	}
	o.fp = combineFingerprint(o, subs)
	return co, nil
}

// validateSubOrders checks sub_orders: 2 to 50 (WeChat Pay's maximum for a platform or
// service provider: "最多支持子单条数:50", 合单下单-H5, pay.weixin.qq.com/doc/v3/partner/
// 4012760626), each an order_id of its own (not the combine's, not repeated), a
// sub-merchant, an amount in integer fen, a description.
func (h *Handler) validateSubOrders(ctx context.Context, req *orderapi.CreateRequest) ([]payment.SubOrder, int64, *apiError) {
	n := len(req.SubOrders)
	hint := fmt.Sprintf("a combine has %d to %d sub-orders; one sub-order is an ordinary order (send amount instead of sub_orders) · 合单须包含%d-%d笔子单",
		MinCombineSubOrders, wechatpay.MaxCombineSubOrders, MinCombineSubOrders, wechatpay.MaxCombineSubOrders)
	if n < MinCombineSubOrders || n > wechatpay.MaxCombineSubOrders {
		return nil, 0, badRequest("SUB_ORDERS_COUNT", "sub_orders has %d entries; a combine takes %d to %d", n, MinCombineSubOrders, wechatpay.MaxCombineSubOrders).withHint(hint)
	}
	subs := make([]payment.SubOrder, n)
	seen := make(map[string]int, n)
	var total int64
	for i, s := range req.SubOrders {
		f := func(name string) string { return fmt.Sprintf("sub_orders[%d].%s", i, name) }
		if e := ValidateOrderID(s.OrderID); e != nil {
			e.message = f("order_id") + ": " + e.message
			return nil, 0, e
		}
		if s.OrderID == req.OrderID {
			return nil, 0, badRequest("DUPLICATE_SUB_ORDER", "%s %s is the combine's own order_id; each sub-order needs an order_id of its own", f("order_id"), s.OrderID).
				withHint("the combine's order_id names the whole cart, each sub-order's names one sub-merchant's order")
		}
		if j, dup := seen[s.OrderID]; dup {
			return nil, 0, badRequest("DUPLICATE_SUB_ORDER", "%s %s repeats sub_orders[%d]: each sub-order is an order of its own", f("order_id"), s.OrderID, j).
				withHint("give every sub-order a distinct order_id · 子单商户订单号不能重复")
		}
		seen[s.OrderID] = i
		sub := s.SubMchID
		if sub == "" && !h.cfg.Bundle.Ecommerce() {
			sub = h.cfg.Bundle.SubMchID // a service provider's default sub-merchant
		}
		if sub == "" {
			return nil, 0, badRequest(wechatpay.CodeParamError, "%s is required: the sub-merchant (二级商户) selling this sub-order", f("sub_mchid")).
				withHint("each sub-order names the sub-merchant it is paid to · 每笔子单须指定二级商户号 sub_mchid")
		}
		if len(sub) > 32 || len(s.SubAppID) > 32 {
			return nil, 0, badRequest(wechatpay.CodeParamError, "%s/sub_appid are at most 32 characters", f("sub_mchid"))
		}
		if !digits(sub) {
			return nil, 0, badRequest(wechatpay.CodeParamError, "%s %s is not a merchant number: a sub_mchid is digits, e.g. 1900000109", f("sub_mchid"), apiauth.Echo(sub))
		}
		if e := h.notOwnMchID(f("sub_mchid"), sub, s.SubMchID == ""); e != nil {
			return nil, 0, e
		}
		amt := int64(s.Amount)
		if e := checkAmount(s.Amount); e != nil {
			e.message = f("amount") + ": " + e.message
			return nil, 0, e
		}
		if err := wechatpay.ValidateAmount(f("amount"), amt); err != nil {
			return nil, 0, badRequest(wechatpay.CodeParamError, "%v", err)
		}
		if err := wechatpay.ValidateDescription(s.Description); err != nil {
			return nil, 0, badRequest(wechatpay.CodeParamError, "%s: %v", f("description"), err).
				withHint("each sub-order's description is shown in the user's WeChat bill: 1 to 127 characters")
		}
		attach := cmp.Or(s.Attach, s.OrderID)
		if len(attach) > 128 {
			return nil, 0, badRequest(wechatpay.CodeParamError, "%s is %d bytes; WeChat Pay accepts at most 128", f("attach"), len(attach))
		}
		share, e := h.parseSharing(ctx, s.ProfitSharing, f("profit_sharing"), sub, amt, true) // sharing.go
		if e != nil {
			return nil, 0, e
		}
		total += amt
		subs[i] = payment.SubOrder{OrderID: s.OrderID, SubMchID: sub, SubAppID: s.SubAppID, Amount: amt, Description: s.Description,
			Attach: attach, ProfitSharing: share != nil, Sharing: share}
	}
	if err := wechatpay.ValidateAmount("the combine's total", total); err != nil {
		return nil, 0, badRequest(wechatpay.CodeParamError, "%v", err)
	}
	return subs, total, nil
}

// combineDescription is the combine's description when the request gives none: its
// sub-orders', joined, within WeChat Pay's 127 characters.
func combineDescription(subs []payment.SubOrder) string {
	parts := make([]string, len(subs))
	for i, s := range subs {
		parts[i] = s.Description
	}
	d := strings.Join(parts, "、")
	if utf8.RuneCountInString(d) > 127 {
		d = string([]rune(d)[:126]) + "…"
	}
	return d
}

// combineFingerprint is the content of a combine that must match for a replay.
func combineFingerprint(o *order, subs []payment.SubOrder) string {
	type sub struct {
		OrderID, SubMchID, SubAppID, Description, Attach string
		Amount                                           int64
		Share                                            bool
		Sharing                                          *payment.Sharing `json:",omitempty"`
	}
	ss := make([]sub, len(subs))
	for i, s := range subs {
		ss[i] = sub{s.OrderID, s.SubMchID, s.SubAppID, s.Description, s.Attach, s.Amount, s.ProfitSharing, s.Sharing}
	}
	b, _ := json.Marshal(struct {
		Single string
		Subs   []sub
	}{fingerprint(o), ss})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// placeCombine runs the idempotent create of a combine, like create: the attempt to
// answer with, its sub-orders, and whether this call placed it. It waits for another
// create's live claim as create does (firstPoll): the claim is judged on the business
// clock, the wait bounded by the lease plus 2 s of it and by a number of polls.
func (h *Handler) placeCombine(ctx context.Context, co *combineOrder) (*payment.Combine, []*payment.Order, bool, func(), error) {
	began := h.now()
	wait := h.lease + 2*time.Second
	polls, retries := 0, 0
	pause := firstPoll
	none := func() {}
	busy := func() error {
		return fail(http.StatusConflict, "CREATE_IN_PROGRESS",
			fmt.Sprintf("combine %s is being created by another request that has not finished", co.orderID),
			"retry the same request in a few seconds; it is safe to repeat")
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, false, none, err
		}
		c, claim, subs, err := h.combineStep(ctx, co)
		switch {
		case errors.Is(err, errRetry):
			if retries++; retries < maxRetries {
				continue
			}
			return nil, nil, false, none, busy()
		case errors.Is(err, errWait):
		case errors.Is(err, errReplay):
			return c, subs, false, none, nil
		case err != nil:
			return nil, nil, false, none, err
		default:
			if co.scene != SceneCashier {
				// What is placed is the combine record: its sub-orders carry it first
				// (a concurrent re-price of the same attempt may have reserved them).
				if subs, err = h.ledger.SyncSubOrders(ctx, c, subs); err != nil {
					h.releaseCombine(c, claim)
					return nil, nil, false, none, err
				}
			}
			c, wait, err := h.prepayCombine(ctx, co, c, claim)
			return c, subs, err == nil, wait, err
		}
		// A live claim: wait for its answer, polling the record.
		if polls >= pollsFor(wait) || h.now().Sub(began) >= wait {
			return nil, nil, false, none, busy()
		}
		if err := h.sleep(ctx, pause); err != nil {
			return nil, nil, false, none, err
		}
		polls, retries = polls+1, 0
		pause = min(pause*2, maxPoll)
	}
}

// combineStep reads the combine and makes one move (see step).
func (h *Handler) combineStep(ctx context.Context, co *combineOrder) (*payment.Combine, string, []*payment.Order, error) {
	hist, err := h.ledger.Combine(ctx, h.cfg.MchID, co.orderID)
	var other *payment.OtherOrderError
	switch {
	case errors.As(err, &other):
		return nil, "", nil, fail(http.StatusConflict, "ORDER_ID_COLLISION", other.Error(),
			"choose another order_id (ids ending in _N can collide with re-priced attempts of another combine)")
	case errors.Is(err, payment.ErrNotFound):
		if co.fromRecord {
			return nil, "", nil, errRetry // it was there a moment ago: read again
		}
		return h.newCombine(ctx, co, 1)
	case err != nil:
		return nil, "", nil, fmt.Errorf("createorder: read combine %s: %w", co.orderID, err)
	}
	cur := hist.Current
	if err := h.ledger.PointSubOrders(ctx, cur); err != nil {
		return nil, "", nil, err
	}
	subs, err := h.ledger.SubOrders(ctx, cur)
	if err != nil {
		return nil, "", nil, err
	}
	act, err := h.judgeCombine(cur, subs, co)
	if err != nil {
		return nil, "", nil, err
	}
	if act != actReprice && act != actSwitch && paidSub(subs) == nil {
		// judgeCombine reads the current attempt only; as for a single order (step in
		// create.go), a combine paid through an attempt it replaced is never offered
		// for payment again, whatever the answer would be.
		prev, err := h.previousCombines(ctx, hist)
		if err != nil {
			return nil, "", nil, err
		}
		if err := paidEarlier(co.orderID, prev); err != nil {
			return nil, "", nil, err
		}
	}
	if act == actReprice && missing(subs) {
		// A create that stopped between the combine and its sub-orders: write them, so
		// that the retired attempt closes them and the new one's pointers have a first
		// attempt to move from.
		if subs, err = h.ledger.ReserveSubOrders(ctx, cur); err != nil {
			return nil, "", nil, h.takenError(err, co, cur.Attempt)
		}
	}
	switch act {
	case actReplay:
		return cur, "", subs, errReplay
	case actWait:
		return nil, "", nil, errWait
	case actPrepay, actUpgrade:
		claim := newClaimID()
		cr := payment.ClaimRequest{ID: claim, PayloadHash: co.fp, Lease: h.lease}
		var c *payment.Combine
		if act == actUpgrade {
			c, err = h.ledger.UpgradeCombine(ctx, cur, payment.Upgrade{Scene: co.scene, AppID: h.cfg.AppID, Create: combineInfo(co), Claim: cr})
		} else {
			c, err = h.ledger.ClaimCombine(ctx, cur, cr)
		}
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", nil, errRetry
		}
		if err != nil {
			return nil, "", nil, fmt.Errorf("createorder: claim %s: %w", cur.Key(), err)
		}
		if missing(subs) {
			// A create that stopped between the combine and its sub-orders: finish it.
			if subs, err = h.ledger.ReserveSubOrders(ctx, c); err != nil {
				h.releaseCombine(c, claim)
				return nil, "", nil, h.takenError(err, co, c.Attempt)
			}
		}
		return c, claim, subs, nil
	case actSwitch:
		return h.switchCombine(ctx, co, hist, subs) // combine_scene.go
	}
	return h.repriceCombine(ctx, co, hist, subs)
}

func missing(subs []*payment.Order) bool {
	for _, o := range subs {
		if o == nil {
			return true
		}
	}
	return false
}

// judgeCombine decides what a create with content co does with the current attempt.
func (h *Handler) judgeCombine(cur *payment.Combine, subs []*payment.Order, co *combineOrder) (action, error) {
	now := h.now()
	same := cur.Claim.PayloadHash == co.fp || (co.scene == SceneCashier && cur.Create.CashierFP == co.fp)
	var paid, review bool
	for _, o := range subs {
		if o != nil {
			paid = paid || o.Paid()
			review = review || o.InReview()
		}
	}
	switch {
	case review:
		return 0, fail(http.StatusConflict, "ORDER_IN_REVIEW", fmt.Sprintf("combine %s has a sub-order under review: a payment conflicts with it", co.orderID),
			"look at the combine (GET /orders/{order_id}) and settle the sub-order by hand")
	case paid:
		if same || co.fromRecord {
			return actReplay, nil
		}
		return 0, fail(http.StatusConflict, wechatpay.CodeOrderPaid,
			fmt.Sprintf("combine %s is paid (combine_out_trade_no %s); a paid combine is never re-priced", co.orderID, cur.CombineNo),
			"a new payment needs a new order_id; to give money back refund its sub-orders: POST /orders/{sub order_id}/refunds?sub_mchid=… · 合单已支付，不能改价")
	case cur.Closed, cur.Close != nil && !cur.Parked():
		return actReprice, nil
	}
	if cur.Claim.Live(now) {
		return actWait, nil
	}
	if !cur.ExpiresAt.IsZero() && !now.Before(cur.ExpiresAt) {
		return actReprice, nil
	}
	if cur.Scene == SceneCashier && !cur.Claim.Answer.Any() && co.scene != SceneCashier && sameSubOrders(cur.SubOrders, co.subs) {
		return actUpgrade, nil
	}
	if co.cashierFP != "" && (combineParked(cur, subs) || !same) {
		return actSwitch, nil // combine_scene.go
	}
	if !same {
		return actReprice, nil
	}
	if co.scene == SceneCashier || cur.Claim.Replayable(now) {
		return actReplay, nil
	}
	return actPrepay, nil
}

func sameSubOrders(a, b []payment.SubOrder) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.OutTradeNo, y.OutTradeNo = "", ""
		if x != y {
			return false
		}
	}
	return true
}

// combineInfo is what the ledger keeps of a combine create beside the money.
func combineInfo(co *combineOrder) payment.CreateInfo {
	ci := payment.CreateInfo{Description: co.description, SignAppID: co.signAppID, CashierFP: co.cashierFP}
	if co.scene == SceneCashier {
		ci.CashierFP = co.fp
	}
	return ci
}

// newCombine reserves attempt n of a combine — the combine record with this request's
// claim, then its sub-orders — refusing sub-order ids another order holds. Nothing is
// left behind by a refusal.
func (h *Handler) newCombine(ctx context.Context, co *combineOrder, n int) (*payment.Combine, string, []*payment.Order, error) {
	if n == 1 {
		holders, err := h.ledger.SubOrderHolders(ctx, co.subs)
		if err != nil {
			return nil, "", nil, err
		}
		for i, o := range holders {
			if o != nil && (o.Combine == nil || o.Combine.OrderID != co.orderID) {
				holder := o.OrderID
				if o.Combine != nil {
					holder += " (a sub-order of combine " + o.Combine.OrderID + ")"
				}
				return nil, "", nil, subOrderTaken(i, co.subs[i], holder)
			}
		}
	}
	exp := co.expire
	if exp.IsZero() {
		exp = h.now().Add(cmpOr(h.cfg.Bundle.OrderTTL, 2*time.Hour))
	}
	exp = exp.Truncate(time.Second)
	claim := newClaimID()
	cr := &payment.ClaimRequest{ID: claim, PayloadHash: co.fp, Lease: h.lease}
	if co.scene == SceneCashier {
		// Nothing is placed at WeChat Pay, so there is no claim to hold: no owner, and a
		// lease over at once, or the page's first create would wait out the lease.
		cr.ID, claim, cr.Lease = "", "", 0
	}
	for _, s := range co.subs {
		if err := h.noteHolder(ctx, s.OrderID, s.SubMchID); err != nil { // holders.go
			return nil, "", nil, err
		}
	}
	c, subs, err := h.ledger.PlaceCombine(ctx, payment.NewCombine{Owner: h.cfg.MchID, AppID: h.cfg.AppID, OrderID: co.orderID, Attempt: n,
		Scene: co.scene, ExpiresAt: exp, SubOrders: co.subs, Create: combineInfo(co), Claim: cr})
	var ex *payment.CombineExistsError
	if errors.As(err, &ex) {
		if ex.Combine.OrderID == co.orderID && ex.Combine.Attempt == n {
			return nil, "", nil, errRetry
		}
		if n == 1 {
			return nil, "", nil, fail(http.StatusConflict, "ORDER_ID_COLLISION",
				fmt.Sprintf("combine_out_trade_no %s is already used (combine %q)", co.orderID, ex.Combine.OrderID),
				"choose another order_id (ids ending in _N can collide with re-priced attempts of another combine)")
		}
		return nil, "", nil, fail(http.StatusConflict, "ATTEMPT_NAME_TAKEN",
			fmt.Sprintf("combine %s cannot be re-priced: its next attempt needs combine_out_trade_no %s, which is already combine %q; nothing was changed", co.orderID, payment.AttemptNo(co.orderID, n), ex.Combine.OrderID),
			"keep the combine as it is, or close it and place the new cart under a new order_id")
	}
	if err != nil {
		return nil, "", nil, h.takenError(err, co, n)
	}
	return c, claim, subs, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func subOrderTaken(i int, s payment.SubOrder, holder string) *apiError {
	who := "an order this API did not create"
	if holder != "" {
		who = "order " + holder
	}
	return fail(http.StatusConflict, "SUB_ORDER_ID_TAKEN",
		fmt.Sprintf("sub_orders[%d].order_id %s is already %s of sub-merchant %s; nothing was created", i, s.OrderID, who, s.SubMchID),
		"each sub-order needs an order_id no other order holds (it becomes the sub-order's out_trade_no) · 子单商户订单号已被占用")
}

// takenError turns ReserveSubOrders' refusal into the merchant's answer.
func (h *Handler) takenError(err error, co *combineOrder, n int) error {
	var taken *payment.SubOrderTakenError
	if !errors.As(err, &taken) {
		return err
	}
	for i, s := range co.subs {
		if s.OrderID == taken.OrderID {
			if n > 1 {
				return fail(http.StatusConflict, "ATTEMPT_NAME_TAKEN",
					fmt.Sprintf("combine %s cannot be re-priced: sub-order %s's next attempt needs out_trade_no %s, which is already order %q; nothing was changed", co.orderID, s.OrderID, taken.OutTradeNo, taken.Holder),
					"keep the combine as it is, or close it and place the new cart under new order_ids")
			}
			return subOrderTaken(i, s, taken.Holder)
		}
	}
	return err
}

func (h *Handler) releaseCombine(c *payment.Combine, claim string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := h.ledger.ReleaseCombine(ctx, c, claim); err != nil {
		h.log.Warn("claim not released; it expires with its lease", "key", c.Key(), "error", err.Error())
	}
}

// repriceCombine replaces the current attempt by a new one: a new combine number and
// new sub-order numbers, reserved first (PlaceCombine: nothing is left of a refused
// reservation); then the old attempt is closed (or its close recorded, within WeChat
// Pay's 5 minutes) and the pointers move — the combine's, then its sub-orders'.
func (h *Handler) repriceCombine(ctx context.Context, co *combineOrder, hist *payment.CombineHistory, subs []*payment.Order) (*payment.Combine, string, []*payment.Order, error) {
	first, cur := hist.First, hist.Current
	n := first.NewestAttempt() + 1
	if e := h.attemptsLeft(co, n); e != nil {
		return nil, "", nil, e
	}
	if !sameSubOrderIDs(cur.SubOrders, co.subs) {
		return nil, "", nil, fail(http.StatusConflict, "COMBINE_SUB_ORDERS_CHANGED",
			fmt.Sprintf("combine %s was placed with other sub-orders (order_id and sub_mchid); a re-priced combine keeps its sub-orders and may change their amounts and descriptions", co.orderID),
			"close the combine (POST /orders/{order_id}/close) and place the new cart under a new order_id")
	}
	// An earlier attempt paid (a payment on an attempt replaced or left for another
	// scene is kept for review) means the combine is paid: never re-priced.
	prev, err := h.previousCombines(ctx, hist)
	if err != nil {
		return nil, "", nil, err
	}
	if err := paidEarlier(co.orderID, prev); err != nil {
		return nil, "", nil, err
	}
	// The pointer moves from the attempt attempt 1 names (the same as cur's, unless
	// it names one that is gone: then from there).
	from := max(cur.Attempt, first.Current)
	retire := func(ctx context.Context, c *payment.Combine, subs []*payment.Order) (*payment.Combine, error) {
		return h.retireCombine(ctx, c, subs, "reprice")
	}
	c, claim, newSubs, err := h.newCombine(ctx, co, n)
	if errors.Is(err, errRetry) {
		return nil, "", nil, h.takeOverCombine(ctx, co, first, cur, subs, from, n, retire)
	}
	if err != nil {
		return nil, "", nil, err
	}
	// From here on the reservation — the combine and its sub-orders — is never
	// removed, not even by this request, for the reasons a single order's is not
	// (reprice in create.go): its pointers may already have moved (an answer lost), and
	// a removed record re-created under the same name starts its version again under
	// the conditioned writes of whoever read it. A reservation this request gives up
	// is released, for the next create to take over (takeOverCombine).
	retired, err := h.retireCombine(ctx, cur, subs, "reprice")
	if err != nil && !errors.Is(err, errDeferred) {
		h.releaseCombine(c, claim)
		if errors.Is(err, errPaid) {
			return nil, "", nil, errRetry // judged again: paid → 409
		}
		return nil, "", nil, err
	}
	if retired != nil && retired.Key() == first.Key() {
		first = retired
	}
	if _, err := h.ledger.PointCombine(ctx, first, from, n); err != nil {
		h.releaseCombine(c, claim)
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", nil, errRetry
		}
		return nil, "", nil, fmt.Errorf("createorder: move combine %s to attempt %d: %w", co.orderID, n, err)
	}
	if err := h.ledger.PointSubOrders(ctx, c); err != nil {
		// The combine has moved; its sub-orders' pointers follow on the next read.
		h.log.Warn("sub-order pointers not moved yet", "order_id", co.orderID, "attempt", n, "error", err.Error())
	}
	h.log.Info("combine re-priced", "order_id", co.orderID, "previous", cur.CombineNo, "attempt", n, "amount", co.amount, "previous_amount", cur.Total())
	h.retireParkedCombines(ctx, combinesOf(prev)) // the other scenes' payments are at the old price
	return c, claim, newSubs, nil
}

// takeOverCombine handles a re-price that found attempt n reserved by this combine
// already while the combine's pointer is not on it: another create is between its
// reservation and the pointer moves, gave up there, or died there. As for a single
// order (takeOver in create.go), its live claim is waited for (business clock); after
// that the reservation is finished, never removed — its creator, however late, can
// still move the pointers and place the combine at WeChat Pay, and only pointers that
// reach attempt n keep what is paid there on the combine (GET /orders/{combine id})
// and on each sub-order (GET /orders/{sub order id}). So this request closes the
// current attempt and moves the combine's pointer, then its sub-orders', to attempt n
// as its creator would have, without placing anything, and answers errRetry: the
// combine is judged anew on attempt n (the same content: its claim is taken and it is
// placed; other content: a re-price to n+1, which closes it). leave is what becomes of
// the current attempt: retired (a re-price), or parked when the cashier page switches
// scene.
func (h *Handler) takeOverCombine(ctx context.Context, co *combineOrder, first, cur *payment.Combine, subs []*payment.Order, from, n int,
	leave func(context.Context, *payment.Combine, []*payment.Order) (*payment.Combine, error)) error {
	a, err := h.ledger.CombineAttempt(ctx, h.cfg.MchID, payment.AttemptNo(co.orderID, n))
	switch {
	case errors.Is(err, payment.ErrNotFound):
		return errRetry
	case err != nil:
		return fmt.Errorf("createorder: read attempt %d of combine %s: %w", n, co.orderID, err)
	case a.OrderID != co.orderID || a.Attempt != n:
		return errRetry // judged again: newCombine names the holder
	case a.Claim.Live(h.now()):
		return errWait
	}
	// PlaceCombine writes a combine after all its sub-orders; one written otherwise
	// (by an earlier version, one record at a time) may lack some: reserve them before
	// any pointer can name them.
	have, err := h.ledger.SubOrders(ctx, a)
	if err != nil {
		return err
	}
	if missing(have) {
		if _, err := h.ledger.ReserveSubOrders(ctx, a); err != nil {
			return h.takenError(err, co, n)
		}
	}
	retired, err := leave(ctx, cur, subs)
	if err != nil && !errors.Is(err, errDeferred) {
		if errors.Is(err, errPaid) {
			return errRetry // judged again: paid → 409 (attempt n stays unplaced)
		}
		return err
	}
	if retired != nil && retired.Key() == first.Key() {
		first = retired
	}
	if _, err := h.ledger.PointCombine(ctx, first, from, n); err != nil && !errors.Is(err, payment.ErrRaced) {
		return fmt.Errorf("createorder: move combine %s to attempt %d: %w", co.orderID, n, err)
	}
	// PointSubOrders moves them only once the combine's pointer reaches attempt n
	// (a raced move above may have been another change of attempt 1).
	if err := h.ledger.PointSubOrders(ctx, a); err != nil {
		h.log.Warn("sub-order pointers not moved yet", "order_id", co.orderID, "attempt", n, "error", err.Error())
	}
	h.log.Info("combine re-price taken over", "order_id", co.orderID, "previous", cur.CombineNo, "attempt", n)
	return errRetry
}

func sameSubOrderIDs(a, b []payment.SubOrder) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].OrderID != b[i].OrderID || a[i].SubMchID != b[i].SubMchID {
			return false
		}
	}
	return true
}

// retireCombine closes a combine attempt being replaced or cancelled: never placed,
// locally; within WeChat Pay's first 5 minutes, recorded for reconcile; else at WeChat
// Pay now. errPaid when a sub-order turned out paid; errDeferred when WeChat Pay
// refused it as too early (recorded).
func (h *Handler) retireCombine(ctx context.Context, cur *payment.Combine, subs []*payment.Order, by string) (*payment.Combine, error) {
	if cur.Closed {
		return nil, nil
	}
	for _, o := range subs {
		if o != nil && (o.Paid() || o.InReview()) {
			return nil, errPaid
		}
	}
	if cur.Close != nil && !cur.Parked() {
		// Its close was asked for already, but a process stopped between the combine's
		// write and its sub-orders' leaves some of them without it: finish marking them
		// (a read each, a write for those left), so that nothing of this attempt is
		// payable without review once the pointer moves on.
		return h.deferCombineClose(ctx, cur, cur.Close.At, cur.Close.By)
	}
	if cur.Claim.Status == "" && !cur.Claim.Answer.Any() {
		// Never sent to WeChat Pay (a cashier link not opened yet): nothing there to close.
		c, err := h.ledger.MarkCombineClosed(ctx, cur, source)
		return c, err
	}
	if at := cur.CreatedAt.Add(closeAfter); h.now().Before(at) {
		// As retire (create.go): a close only recorded asks WeChat Pay nothing, so a
		// combine paid whose notification is late or lost is queried first; paid, the
		// payment is applied and the re-price (or close) refused. A failed query fails
		// a re-price; a close is recorded as before (a payment found later: REVIEW).
		if err := h.settleCombine(ctx, cur); err != nil {
			if !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
				if by == "reprice" {
					// Nothing is placed unanswered: the merchant retries.
					return nil, fmt.Errorf("createorder: ask WeChat Pay whether combine %s, being replaced, was paid: %w", cur.CombineNo, err)
				}
				h.log.Warn("the combine being closed could not be queried; its close is recorded unasked", "key", cur.Key(), "error", err.Error())
			}
		} else if now, err := h.ledger.SubOrders(ctx, cur); err == nil && paidSub(now) != nil {
			return nil, errPaid
		}
		return h.deferCombineClose(ctx, cur, at, by)
	}
	return h.closeCombineNow(ctx, cur, by)
}

func (h *Handler) deferCombineClose(ctx context.Context, cur *payment.Combine, at time.Time, by string) (*payment.Combine, error) {
	c, out, err := h.ledger.RequestCombineClose(ctx, cur, at, by)
	if err != nil {
		return nil, err
	}
	if out == payment.Refused {
		return c, errPaid
	}
	return c, nil
}

// closeSubOrders are the sub_orders a combine close repeats, exactly as placed.
func (h *Handler) closeSubOrders(c *payment.Combine) []wechatpay.CombineCloseSubOrder {
	out := make([]wechatpay.CombineCloseSubOrder, len(c.SubOrders))
	for i, s := range c.SubOrders {
		out[i] = wechatpay.CombineCloseSubOrder{MchID: c.Owner, OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID, SubAppID: s.SubAppID}
	}
	return out
}

// closeCombineNow closes a combine at WeChat Pay (合单关单) and records it closed.
func (h *Handler) closeCombineNow(ctx context.Context, cur *payment.Combine, by string) (*payment.Combine, error) {
	err := h.client.CloseCombine(ctx, cur.CombineNo, h.closeSubOrders(cur))
	switch {
	case err == nil, wechatpay.IsCode(err, wechatpay.CodeOrderNotExist), wechatpay.IsCode(err, wechatpay.CodeOrderClosed):
	case wechatpay.IsCode(err, wechatpay.CodeOrderPaid):
		if qerr := h.settleCombine(ctx, cur); qerr != nil {
			h.log.Warn("paid combine could not be queried", "key", cur.Key(), "error", qerr.Error())
		}
		return cur, errPaid
	case wechatpay.IsCode(err, wechatpay.CodeRuleLimit):
		at := cur.CreatedAt.Add(closeAfter)
		if now := h.now(); !at.After(now) {
			at = now.Add(time.Minute)
		}
		c, err := h.deferCombineClose(ctx, cur, at, by)
		if err != nil {
			return cur, err
		}
		return c, errDeferred
	default:
		return cur, err
	}
	return h.ledger.MarkCombineClosed(ctx, cur, source)
}

// settleCombine asks WeChat Pay about a combine (合单查询) and applies the answer to its
// sub-orders through the ledger, as the notification would have.
func (h *Handler) settleCombine(ctx context.Context, c *payment.Combine) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ct, err := h.client.QueryCombine(qctx, c.CombineNo)
	cancel()
	if err != nil {
		return err
	}
	_, err = h.ledger.ApplyCombine(ctx, ct, "query")
	return err
}

// prepayCombine places the combine at WeChat Pay and records the answer (the claim
// COMPLETED) in the background: wait returns once it is written (or failed to be:
// then a replay prepays again and WeChat Pay answers the same session).
func (h *Handler) prepayCombine(ctx context.Context, co *combineOrder, c *payment.Combine, claim string) (*payment.Combine, func(), error) {
	none := func() {}
	if co.scene == SceneCashier {
		return c, none, nil // the cashier page places it when opened
	}
	req := wechatpay.CombinePrepayRequest{CombineAppID: h.cfg.AppID, CombineMchID: h.cfg.MchID, CombineOutTradeNo: c.CombineNo,
		NotifyURL: h.notifyURL, SubOrders: make([]wechatpay.CombineSubOrder, len(c.SubOrders))}
	if !c.ExpiresAt.IsZero() {
		req.TimeExpire = wechatpay.FormatTime(c.ExpiresAt)
	}
	for i, s := range c.SubOrders {
		so := wechatpay.CombineSubOrder{MchID: h.cfg.MchID, Attach: cmp.Or(s.Attach, s.OrderID), OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID,
			SubAppID: s.SubAppID, Description: s.Description, Amount: wechatpay.CombineAmount{TotalAmount: s.Amount, Currency: "CNY"}}
		if s.ProfitSharing {
			so.SettleInfo = &wechatpay.CombineSettleInfo{ProfitSharing: true}
			if s.Sharing != nil {
				so.SettleInfo.SubsidyAmount = s.Sharing.SubsidyAmount // 补差 (sharing.go)
			}
		}
		req.SubOrders[i] = so
	}
	if co.payer != nil {
		req.CombinePayerInfo = &wechatpay.CombinePayerInfo{OpenID: co.payer.OpenID}
	}
	if co.wx == wechatpay.SceneH5 {
		req.SceneInfo = &wechatpay.CombineSceneInfo{PayerClientIP: co.clientIP, DeviceID: h5DeviceID, H5Info: co.h5}
	}
	budget := max(h.lease-time.Second, time.Second)
	pctx, cancel := context.WithTimeout(ctx, budget)
	resp, err := h.client.CombinePrepay(pctx, co.wx, req)
	cancel()
	if err != nil {
		h.releaseCombine(c, claim)
		if wechatpay.IsCode(err, wechatpay.CodeOutTradeNoUsed) {
			// A sub-order's number is another order's at WeChat Pay (another sub-merchant's:
			// the ledger's SUB_ORDER_ID_TAKEN sees only the same sub-merchant's). Closed
			// without events, as discardIfTaken does for a single order.
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			if _, _, derr := h.ledger.DiscardCombine(dctx, c); derr != nil {
				h.log.Warn("a combine WeChat Pay refused as OUT_TRADE_NO_USED was not closed; reconcile closes it", "key", c.Key(), "error", derr.Error())
			}
			dcancel()
		}
		return nil, none, err
	}
	now := h.now()
	var ans payment.Prepay
	until := c.ExpiresAt
	switch {
	case resp.PrepayID != "":
		ans.PrepayID = resp.PrepayID
		if t := now.Add(prepayIDLife); until.IsZero() || t.Before(until) {
			until = t
		}
	case resp.H5URL != "":
		ans.H5URL = resp.H5URL
		if t := now.Add(h5URLLife); until.IsZero() || t.Before(until) {
			until = t
		}
	case resp.CodeURL != "":
		ans.CodeURL = resp.CodeURL
	default:
		h.releaseCombine(c, claim)
		return nil, none, fmt.Errorf("createorder: combine prepay %s answered none of prepay_id, h5_url, code_url", c.CombineNo)
	}
	if until.IsZero() {
		until = now.Add(prepayIDLife)
	}
	out := *c
	out.Claim = payment.Claim{Status: payment.ClaimCompleted, ID: claim, PayloadHash: co.fp, Answer: ans, Expiry: until}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer wcancel()
		if _, err := h.ledger.CompleteCombine(wctx, c, claim, ans, until); err != nil {
			h.log.Warn("combine prepay answer not recorded", "key", c.Key(), "error", err.Error())
		}
	}()
	return &out, func() { <-done }, nil
}

// combineState is the combine's state as a whole (see CombineView).
func combineState(c *payment.Combine, subs []*payment.Order) string {
	return payment.CombineStatus(c, subs)
}

func (h *Handler) combineView(c *payment.Combine, subs []*payment.Order) *orderapi.CombineView {
	v := &orderapi.CombineView{OrderID: c.OrderID, CombineOutTradeNo: c.CombineNo, Combine: true, Scene: c.Scene, State: combineState(c, subs),
		Amount: c.Total(), Description: c.Create.Description, Attempts: max(c.Attempt, 1),
		ClosePending: c.Close != nil && !c.Closed && !c.Parked(), SubOrders: make([]orderapi.SubOrderView, len(c.SubOrders))}
	if !c.ExpiresAt.IsZero() {
		v.ExpiresAt = wechatpay.FormatTime(c.ExpiresAt)
	}
	for i, s := range c.SubOrders {
		sv := orderapi.SubOrderView{OrderID: s.OrderID, OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID, SubAppID: s.SubAppID, Amount: s.Amount,
			Description: s.Description, State: wechatpay.TradeStateNotPay}
		if c.Closed {
			sv.State = wechatpay.TradeStateClosed
		}
		if o := subs[i]; o != nil {
			sv.State, sv.Refunded, sv.ReviewReason = o.Status(), o.Refunded(), o.Review.Reason()
			sv.ProfitSharing = sharingView(o, h.now()) // sharing_view.go
			if o.Payment != nil {
				sv.TransactionID, sv.PaidAt = o.Payment.TransactionID, o.Payment.SuccessTime
			}
		}
		v.SubOrders[i] = sv
	}
	return v
}

// combineAnswer renders a combine for its create: its view and, while unpaid, the pay
// parameters of its scene exactly as for a single order (fresh pay-sign fields).
func (h *Handler) combineAnswer(co *combineOrder, c *payment.Combine, subs []*payment.Order) (*orderapi.CombineView, error) {
	v := h.combineView(c, subs)
	if co.scene == SceneCashier {
		v.Scene = SceneCashier
	}
	if v.State != wechatpay.TradeStateNotPay && v.State != wechatpay.TradeStateUserPaying {
		return v, nil
	}
	ans := c.Claim.Answer
	switch v.Scene {
	case SceneCashier:
		now := h.now()
		ttl := c.ExpiresAt.Sub(now)
		if c.ExpiresAt.IsZero() || ttl < time.Minute {
			ttl = time.Minute
		}
		link := cashier.Link(h.publicURL, c.OrderID, h.cashierKey, now, ttl)
		png, err := QRPNG(link)
		if err != nil {
			return nil, err
		}
		v.Pay = rawJSON(orderapi.CashierPay{CashierURL: link, QRPNG: png})
	case SceneJSAPI, SceneMiniProgram:
		p, err := wechatpay.SignJSAPI(h.key(), h.cfg.AppID, ans.PrepayID, time.Now())
		if err != nil {
			return nil, fmt.Errorf("createorder: sign JSAPI: %w", err)
		}
		v.Pay = rawJSON(orderapi.JSAPIPay(p))
	case SceneApp:
		// 合单 APP调起支付: appid is combine_appid, partnerid combine_mchid.
		p, err := wechatpay.SignAPP(h.key(), h.cfg.AppID, h.cfg.MchID, ans.PrepayID, time.Now())
		if err != nil {
			return nil, fmt.Errorf("createorder: sign APP: %w", err)
		}
		v.Pay = rawJSON(orderapi.APPPay(p))
	case SceneH5:
		u := ans.H5URL
		if co.redirectURL != "" {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += sep + "redirect_url=" + url.QueryEscape(co.redirectURL)
		}
		v.Pay = rawJSON(orderapi.H5Pay{H5URL: u})
		v.ExpiresAt = wechatpay.FormatTime(c.Claim.Expiry)
	case SceneNative:
		png, err := QRPNG(ans.CodeURL)
		if err != nil {
			return nil, err
		}
		v.Pay = rawJSON(orderapi.NativePay{CodeURL: ans.CodeURL, QRPNG: png})
	}
	return v, nil
}

// combineIn is the combine the URL's order_id names, when this deployment takes
// combines and the URL names no sub-merchant (a sub-order is read with ?sub_mchid=);
// nil when there is none.
func (h *Handler) combineIn(r *http.Request) (*payment.CombineHistory, error) {
	if !h.partner || r.URL.Query().Get("sub_mchid") != "" {
		return nil, nil
	}
	id := r.PathValue("order_id")
	if ValidateOrderID(id) != nil {
		return nil, nil
	}
	hist, err := h.ledger.Combine(r.Context(), h.cfg.MchID, id)
	if errors.Is(err, payment.ErrNotFound) {
		return nil, nil
	}
	return hist, err
}

// getCombine answers GET /orders/{order_id} for a combine: it and its sub-orders, asking
// WeChat Pay (合单查询) when a placed combine is not settled and was not asked just now.
func (h *Handler) getCombine(w http.ResponseWriter, r *http.Request, hist *payment.CombineHistory) {
	ctx := r.Context()
	cur := hist.Current
	if err := h.ledger.PointSubOrders(ctx, cur); err != nil {
		h.log.Warn("sub-order pointers not moved yet", "key", cur.Key(), "error", err.Error())
	}
	subs, err := h.ledger.SubOrders(ctx, cur)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	unsettled := false
	for _, o := range subs {
		unsettled = unsettled || (o != nil && o.Unsettled() && !o.InReview())
	}
	if unsettled && !cur.Closed && cur.Placed() && !h.recentlyChecked(cur.Key()) {
		if err := h.settleCombine(ctx, cur); err != nil {
			if !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
				h.log.Warn("combine status: query failed; answering from the store", "key", cur.Key(), "error", err.Error())
			}
		} else if subs, err = h.ledger.SubOrders(ctx, cur); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	v := h.combineView(cur, subs)
	prev, err := h.previousCombines(ctx, hist) // combine_scene.go
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.previousView(v, hist.First, prev)
	if v.State != wechatpay.TradeStateNotPay && v.State != wechatpay.TradeStateUserPaying {
		// Paid, closed or in review: the cashier page's other scenes are not wanted.
		h.retireParkedCombines(ctx, combinesOf(prev))
	}
	apiauth.WriteJSON(w, http.StatusOK, v)
}

// previousView adds a combine's other attempts to its view (GET): each with its
// sub-orders; a sub-order paid or in review there puts the combine in REVIEW, as an
// earlier attempt's payment does for a single order.
func (h *Handler) previousView(v *orderapi.CombineView, first *payment.Combine, prev []combineAttempt) {
	v.Attempts = max(v.Attempts, first.NewestAttempt())
	for _, p := range prev {
		pv := h.combineView(p.c, p.subs)
		v.Previous = append(v.Previous, orderapi.CombineAttempt{CombineOutTradeNo: p.c.CombineNo, Scene: p.c.Scene, State: pv.State,
			Amount: pv.Amount, SubOrders: pv.SubOrders})
		for _, o := range p.subs {
			if o == nil || (!o.Paid() && !o.InReview()) {
				continue
			}
			detail := fmt.Sprintf("sub-order %s of attempt %s was paid after the combine left that attempt (%s)", o.OutTradeNo, p.c.CombineNo, o.Status())
			if r := o.Review.Reason(); r != "" {
				detail += ": " + r
			}
			if v.State != payment.StateReview {
				v.State, v.ReviewReason = payment.StateReview, detail
			}
			c := orderapi.Cause{Kind: string(payment.CauseEarlierAttemptPaid), Detail: detail, Amount: o.Amount}
			if o.Payment != nil {
				c.TransactionID = o.Payment.TransactionID
			} else if f := o.Review.First(); f != nil {
				c.TransactionID, c.Amount = f.TransactionID, f.Amount // the money kept for review
			}
			v.ReviewCauses = append(v.ReviewCauses, c)
		}
	}
}

// closeCombine answers POST /orders/{order_id}/close for a combine: it closes the
// combine and every sub-order (合单关单), deferred in its first 5 minutes like a single
// order's close.
func (h *Handler) closeCombine(w http.ResponseWriter, r *http.Request, hist *payment.CombineHistory) {
	ctx := r.Context()
	cur := hist.Current
	subs, err := h.ledger.SubOrders(ctx, cur)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ans := orderapi.CloseAnswer{OrderID: cur.OrderID, OutTradeNo: cur.CombineNo}
	paidErr := fail(http.StatusConflict, wechatpay.CodeOrderPaid, fmt.Sprintf("combine %s is paid and cannot be closed", cur.OrderID),
		"refund its sub-orders instead: POST /orders/{sub order_id}/refunds?sub_mchid=… · 合单已支付，请按子单退款")
	state := combineState(cur, subs)
	switch {
	case state == payment.StateReview:
		h.writeError(w, r, fail(http.StatusConflict, "ORDER_IN_REVIEW", "combine "+cur.OrderID+" has a sub-order under review and cannot be closed", "look at it by hand"))
		return
	case cur.Closed:
		ans.State, ans.Close, ans.Message = wechatpay.TradeStateClosed, "done", "the combine is closed"
		apiauth.WriteJSON(w, http.StatusOK, ans)
		return
	case state != wechatpay.TradeStateNotPay && state != wechatpay.TradeStateUserPaying && state != wechatpay.TradeStateClosed:
		h.writeError(w, r, paidErr)
		return
	}
	if prev, err := h.previousCombines(ctx, hist); err == nil {
		h.retireParkedCombines(ctx, combinesOf(prev)) // the cashier page's other scenes close with the combine
	}
	at := cur.CreatedAt.Add(closeAfter)
	closing := cur.Close != nil && !cur.Parked()
	if closing {
		at = cur.Close.At
	}
	var c *payment.Combine
	if closing || (h.now().Before(at) && (cur.Claim.Status != "" || cur.Placed())) {
		c, err = h.deferCombineClose(ctx, cur, at, "merchant")
		if err == nil {
			err = errDeferred
		}
	} else {
		c, err = h.retireCombine(ctx, cur, subs, "merchant")
	}
	switch {
	case errors.Is(err, errPaid):
		h.writeError(w, r, paidErr)
	case errors.Is(err, errDeferred):
		ans.State, ans.Close, ans.CloseAt = state, "scheduled", wechatpay.FormatTime(at)
		ans.Message = "WeChat Pay does not close a combine in its first 5 minutes (订单生成后5分钟内不能关单): the close is recorded and carried out at close_at with every sub-order; a payment made before then is kept for review, never lost"
		apiauth.WriteJSON(w, http.StatusAccepted, ans)
	case err != nil:
		h.writeError(w, r, err)
	default:
		if c != nil && c.Closed {
			state = wechatpay.TradeStateClosed
		}
		ans.State, ans.Close, ans.Message = state, "done", "closed at WeChat Pay, with every sub-order"
		apiauth.WriteJSON(w, http.StatusOK, ans)
	}
}

// refundCombine answers a refund asked of a combine: refunds are per sub-order.
func (h *Handler) refundCombine(w http.ResponseWriter, r *http.Request, hist *payment.CombineHistory) {
	ids := make([]string, len(hist.Current.SubOrders))
	for i, s := range hist.Current.SubOrders {
		ids[i] = s.OrderID + "?sub_mchid=" + s.SubMchID
	}
	h.writeError(w, r, fail(http.StatusBadRequest, "REFUND_PER_SUB_ORDER",
		"order "+hist.Current.OrderID+" is a combine: its money was paid to each sub-order's sub-merchant, and each sub-order is refunded on its own",
		"POST /orders/{sub order_id}/refunds?sub_mchid=… for one of: "+strings.Join(ids, ", ")+" · 合单按子单退款"))
}

// settleSubOrder asks WeChat Pay about a sub-order's combine, when the combine was
// placed, and returns the sub-order as it is afterwards.
func (h *Handler) settleSubOrder(ctx context.Context, o *payment.Order) *payment.Order {
	c, err := h.ledger.CombineAttempt(ctx, o.Combine.Owner, o.Combine.CombineNo)
	if err != nil || !c.Placed() || c.Closed {
		return o
	}
	if err := h.settleCombine(ctx, c); err != nil {
		if !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
			h.log.Warn("sub-order status: combine query failed; answering from the store", "key", o.Key(), "error", err.Error())
		}
		return o
	}
	if fresh, err := h.ledger.Attempt(ctx, o.Owner, o.OutTradeNo); err == nil {
		return fresh
	}
	return o
}

// combineRoute answers a route for the combine combineIn found (or its read error).
func (h *Handler) combineRoute(w http.ResponseWriter, r *http.Request, c *payment.CombineHistory, err error,
	serve func(http.ResponseWriter, *http.Request, *payment.CombineHistory)) {
	if err != nil {
		h.writeError(w, r, fmt.Errorf("createorder: read combine: %w", err))
		return
	}
	serve(w, r, c)
}

func advanceView(a *payment.Advance) *orderapi.Advance {
	if a == nil {
		return nil
	}
	state := a.State
	if state == payment.AdvanceOwed {
		state = "OWED"
	}
	return &orderapi.Advance{State: state, ReturnAmount: a.Amount, AdvanceReturnID: a.ReturnID, SuccessTime: a.SuccessTime}
}

// followCombine reads a sub-order at its combine's current attempt: a re-priced (or
// scene-switched) combine moves its sub-orders' pointers after its own, and a process
// stopped between the two leaves a sub-order behind (or ahead), which its next read
// finishes moving (payment.PointSubOrders). Other orders are returned as they are.
func (h *Handler) followCombine(ctx context.Context, hist *payment.History) (*payment.History, error) {
	ref := hist.First.Combine
	if ref == nil {
		return hist, nil
	}
	ch, err := h.ledger.Combine(ctx, ref.Owner, ref.OrderID)
	if err != nil || max(ch.Current.Attempt, 1) == max(hist.Current.Attempt, 1) {
		return hist, nil // a combine not found here is not the sub-order's problem
	}
	if err := h.ledger.PointSubOrders(ctx, ch.Current); err != nil {
		return nil, fmt.Errorf("createorder: move the sub-orders of %s: %w", ref.OrderID, err)
	}
	fresh, err := h.ledger.Order(ctx, hist.First.Owner, hist.First.OrderID)
	if err != nil {
		return nil, fmt.Errorf("createorder: read order %s: %w", hist.First.OrderID, err)
	}
	return fresh, nil
}
