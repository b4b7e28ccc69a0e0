package billfetch

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Trade bill columns (交易账单, bill_type=ALL), located by name: WeChat Pay documents
// that the column order may change ("请根据返回文件中第一行表头的列名顺序获取明细字段").
const (
	colTime           = "交易时间"
	colAppID          = "公众账号ID"
	colMchID          = "商户号"
	colSubMchID       = "特约商户号"
	colTransactionID  = "微信订单号"
	colOutTradeNo     = "商户订单号"
	colTradeState     = "交易状态"
	colSettle         = "应结订单金额"
	colCoupon         = "代金券金额"
	colRefundID       = "微信退款单号"
	colOutRefundNo    = "商户退款单号"
	colRefund         = "退款金额"
	colRechargeRefund = "充值券退款金额"
	colRefundStatus   = "退款状态"
	colFee            = "手续费"
	colOrder          = "订单金额"
	colApplyRefund    = "申请退款金额"

	totCount          = "总交易单数"
	totSettle         = "应结订单总金额"
	totRefund         = "退款总金额"
	totRechargeRefund = "充值券退款总金额"
	totFee            = "手续费总金额"
	totOrder          = "订单总金额"
	totApplyRefund    = "申请退款总金额"
)

// TradeRow is one line of the trade bill, amounts in fen. A payment line has
// TradeState SUCCESS; a refund line REFUND (转入退款) with the refund columns set.
type TradeRow struct {
	Time          string // "2006-01-02 15:04:05", UTC+8
	AppID         string
	MchID         string
	SubMchID      string // "0" or "" for a direct merchant
	TransactionID string
	OutTradeNo    string
	TradeState    string
	Settle        int64 // 应结订单金额
	Coupon        int64 // 代金券金额
	Fee           int64 // 手续费 (negative on refunds: the fee given back)
	Order         int64 // 订单金额
	RefundID      string
	OutRefundNo   string
	RefundStatus  string
	Refund        int64 // 退款金额
	RechargeRef   int64 // 充值券退款金额
	ApplyRefund   int64 // 申请退款金额
}

// Owner is the merchant the row belongs to: the sub-merchant in partner mode.
func (r *TradeRow) Owner() string {
	if r.SubMchID != "" && r.SubMchID != "0" {
		return r.SubMchID
	}
	return r.MchID
}

// TradeTotals are the totals block of a trade bill (or the sums of its rows).
type TradeTotals struct {
	Count          int64 `json:"count"`
	Settle         int64 `json:"settle_fen"`
	Refund         int64 `json:"refund_fen"`
	RechargeRefund int64 `json:"recharge_refund_fen"`
	Fee            int64 `json:"fee_fen"`
	Order          int64 `json:"order_fen"`
	ApplyRefund    int64 `json:"apply_refund_fen"`
}

// ErrTotals is matched by a bill whose totals block disagrees with its rows (or is
// missing): the bill cannot be trusted and the run fails.
var ErrTotals = errors.New("billfetch: bill totals do not match its rows")

// TradeParser reads a trade bill as a stream: one row at a time, constant memory.
type TradeParser struct {
	c      *csvReader
	ncol   int
	ix     struct{ time, app, mch, sub, tx, otn, state, settle, coupon, rid, orn, refund, rch, rstatus, fee, order, apply int }
	sums   TradeTotals
	totals *TradeTotals
}

// NewTradeParser reads the header line and locates the columns by name.
func NewTradeParser(r io.Reader) (*TradeParser, error) {
	c := newCSVReader(r)
	if err := c.next(); err != nil {
		if err == io.EOF {
			return nil, errors.New("billfetch: trade bill is empty")
		}
		return nil, fmt.Errorf("billfetch: trade bill header: %w", err)
	}
	h := newHeader(c.fields)
	p := &TradeParser{c: c, ncol: len(c.fields)}
	var missing []string
	need := func(name string) int {
		i := h.col(name)
		if i < 0 {
			missing = append(missing, name)
		}
		return i
	}
	x := &p.ix
	x.time, x.mch, x.tx, x.otn, x.state = need(colTime), need(colMchID), need(colTransactionID), need(colOutTradeNo), need(colTradeState)
	x.settle, x.fee = need(colSettle), need(colFee)
	if len(missing) > 0 {
		return nil, fmt.Errorf("billfetch: trade bill header lacks %q (header: %q)", missing, c.line)
	}
	x.app, x.sub, x.coupon = h.col(colAppID), h.col(colSubMchID), h.col(colCoupon)
	x.rid, x.orn, x.refund, x.rch, x.rstatus = h.col(colRefundID), h.col(colOutRefundNo), h.col(colRefund), h.col(colRechargeRefund), h.col(colRefundStatus)
	x.order, x.apply = h.col(colOrder), h.col(colApplyRefund)
	return p, nil
}

// Next fills row with the next line. At the end it checks the totals block against the
// rows and returns io.EOF, or an error matching ErrTotals.
func (p *TradeParser) Next(row *TradeRow) error {
	if p.totals != nil {
		return io.EOF
	}
	c := p.c
	if err := c.next(); err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: the bill ends after %d rows without its totals block (truncated?)", ErrTotals, p.sums.Count)
		}
		return fmt.Errorf("billfetch: trade bill: %w", err)
	}
	if len(c.fields) > 0 && string(c.fields[0]) == totCount {
		return p.readTotals()
	}
	if len(c.fields) != p.ncol {
		// Columns would shift: never guess which value belongs where.
		return fmt.Errorf("billfetch: trade bill line %d has %d fields, the header %d", c.lineNo, len(c.fields), p.ncol)
	}
	x := &p.ix
	var err error
	amount := func(i int, name string) int64 {
		v, e := yuanToFen(c.field(i))
		if e != nil && err == nil {
			err = fmt.Errorf("billfetch: trade bill line %d, %s: %w", c.lineNo, name, e)
		}
		return v
	}
	// Columns that repeat from row to row (app, merchant, state, often the second)
	// keep the previous row's string instead of allocating a new one.
	prev := *row
	*row = TradeRow{
		Time: reuse(prev.Time, c.field(x.time)), AppID: reuse(prev.AppID, c.field(x.app)), MchID: reuse(prev.MchID, c.field(x.mch)),
		SubMchID: reuse(prev.SubMchID, c.field(x.sub)), TransactionID: string(c.field(x.tx)), OutTradeNo: string(c.field(x.otn)),
		TradeState: reuse(prev.TradeState, c.field(x.state)),
		Settle:     amount(x.settle, colSettle), Coupon: amount(x.coupon, colCoupon), Fee: amount(x.fee, colFee),
		Order:    amount(x.order, colOrder),
		RefundID: string(c.field(x.rid)), OutRefundNo: string(c.field(x.orn)), RefundStatus: reuse(prev.RefundStatus, c.field(x.rstatus)),
		Refund: amount(x.refund, colRefund), RechargeRef: amount(x.rch, colRechargeRefund), ApplyRefund: amount(x.apply, colApplyRefund),
	}
	if err != nil {
		return err
	}
	if row.RefundID == "0" {
		row.RefundID = ""
	}
	if row.OutRefundNo == "0" {
		row.OutRefundNo = ""
	}
	s := &p.sums
	s.Count++
	s.Settle += row.Settle
	s.Refund += row.Refund
	s.RechargeRefund += row.RechargeRef
	s.Fee += row.Fee
	s.Order += row.Order
	s.ApplyRefund += row.ApplyRefund
	return nil
}

// reuse returns prev when b holds the same text (no allocation), else a new string.
func reuse(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

func (p *TradeParser) readTotals() error {
	c := p.c
	h := newHeader(c.fields)
	if err := c.next(); err != nil {
		return fmt.Errorf("%w: totals header without a totals line", ErrTotals)
	}
	var t TradeTotals
	var errs []error
	get := func(name string, dst *int64, required bool) {
		i := h.col(name)
		if i < 0 {
			if required {
				errs = append(errs, fmt.Errorf("totals block lacks %s", name))
			}
			return
		}
		v, err := yuanToFen(c.field(i))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		*dst = v
	}
	n, err := strconv.ParseInt(string(c.field(h.col(totCount))), 10, 64)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s %q is not a count", totCount, c.field(h.col(totCount))))
	}
	t.Count = n
	get(totSettle, &t.Settle, true)
	get(totRefund, &t.Refund, true)
	get(totFee, &t.Fee, true)
	get(totRechargeRefund, &t.RechargeRefund, false)
	get(totOrder, &t.Order, false)
	get(totApplyRefund, &t.ApplyRefund, false)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrTotals, errors.Join(errs...))
	}
	s := p.sums
	// Optional totals absent from the block are not compared.
	if h.col(totRechargeRefund) < 0 {
		s.RechargeRefund = t.RechargeRefund
	}
	if h.col(totOrder) < 0 {
		s.Order = t.Order
	}
	if h.col(totApplyRefund) < 0 {
		s.ApplyRefund = t.ApplyRefund
	}
	if s != t {
		return fmt.Errorf("%w: totals block %+v, rows add up to %+v", ErrTotals, t, s)
	}
	if err := c.next(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: line %d after the totals line", ErrTotals, c.lineNo)
		}
		return fmt.Errorf("billfetch: trade bill: %w", err)
	}
	p.totals = &t
	return io.EOF
}

// Totals are the verified totals, once Next returned io.EOF.
func (p *TradeParser) Totals() TradeTotals {
	if p.totals == nil {
		return TradeTotals{}
	}
	return *p.totals
}

// Fund-flow bill (资金账单) columns and totals.
const (
	colFundTime    = "记账时间"
	colFundBizNo   = "微信支付业务单号"
	colFundFlowNo  = "资金流水单号"
	colFundName    = "业务名称"
	colFundKind    = "业务类型"
	colFundDir     = "收支类型"
	colFundAmount  = "收支金额（元）"
	colFundVoucher = "业务凭证号"

	totFundCount  = "资金流水总笔数"
	totFundInN    = "收入笔数"
	totFundIn     = "收入金额"
	totFundOutN   = "支出笔数"
	totFundOut    = "支出金额"
	fundDirIncome = "收入"
	fundDirSpend  = "支出"
)

// FundRow is one line of the fund-flow bill; Amount is signed (income positive).
type FundRow struct {
	Time, BizNo, FlowNo, Name, Kind, Voucher string
	Amount                                   int64
}

// FundTotals are the totals block of a fund-flow bill.
type FundTotals struct {
	Count     int64 `json:"count"`
	InCount   int64 `json:"income_count"`
	In        int64 `json:"income_fen"`
	OutCount  int64 `json:"expense_count"`
	Out       int64 `json:"expense_fen"`
	FeeOut    int64 `json:"fee_fen"`    // 扣除交易手续费 lines
	RefundOut int64 `json:"refund_fen"` // 退款 lines
}

// FundParser reads a fund-flow bill as a stream.
type FundParser struct {
	c      *csvReader
	ncol   int
	ix     struct{ time, biz, flow, name, kind, dir, amount, voucher int }
	sums   FundTotals
	totals *FundTotals
}

// NewFundParser reads the header line.
func NewFundParser(r io.Reader) (*FundParser, error) {
	c := newCSVReader(r)
	if err := c.next(); err != nil {
		if err == io.EOF {
			return nil, errors.New("billfetch: fund-flow bill is empty")
		}
		return nil, fmt.Errorf("billfetch: fund-flow bill header: %w", err)
	}
	h := newHeader(c.fields)
	p := &FundParser{c: c, ncol: len(c.fields)}
	x := &p.ix
	x.time, x.biz, x.flow, x.name, x.kind = h.col(colFundTime), h.col(colFundBizNo), h.col(colFundFlowNo), h.col(colFundName), h.col(colFundKind)
	x.dir, x.amount, x.voucher = h.col(colFundDir), h.col(colFundAmount), h.col(colFundVoucher)
	if x.dir < 0 || x.amount < 0 {
		return nil, fmt.Errorf("billfetch: fund-flow bill header lacks %s/%s (header: %q)", colFundDir, colFundAmount, c.line)
	}
	return p, nil
}

// Next fills row with the next line; at the end it checks the totals and returns io.EOF.
func (p *FundParser) Next(row *FundRow) error {
	if p.totals != nil {
		return io.EOF
	}
	c := p.c
	if err := c.next(); err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: the fund-flow bill ends without its totals block (truncated?)", ErrTotals)
		}
		return fmt.Errorf("billfetch: fund-flow bill: %w", err)
	}
	if len(c.fields) > 0 && string(c.fields[0]) == totFundCount {
		return p.readTotals()
	}
	if len(c.fields) != p.ncol {
		return fmt.Errorf("billfetch: fund-flow bill line %d has %d fields, the header %d", c.lineNo, len(c.fields), p.ncol)
	}
	x := &p.ix
	amt, err := yuanToFen(c.field(x.amount))
	if err != nil {
		return fmt.Errorf("billfetch: fund-flow bill line %d: %w", c.lineNo, err)
	}
	*row = FundRow{Time: string(c.field(x.time)), BizNo: string(c.field(x.biz)), FlowNo: string(c.field(x.flow)),
		Name: string(c.field(x.name)), Kind: string(c.field(x.kind)), Voucher: string(c.field(x.voucher))}
	s := &p.sums
	s.Count++
	switch string(c.field(x.dir)) {
	case fundDirIncome:
		row.Amount = amt
		s.InCount++
		s.In += amt
	case fundDirSpend:
		row.Amount = -amt
		s.OutCount++
		s.Out += amt
		switch row.Name {
		case "手续费":
			s.FeeOut += amt
		case "退款":
			s.RefundOut += amt
		}
	default:
		return fmt.Errorf("billfetch: fund-flow bill line %d: %s %q is neither %s nor %s", c.lineNo, colFundDir, c.field(x.dir), fundDirIncome, fundDirSpend)
	}
	return nil
}

func (p *FundParser) readTotals() error {
	c := p.c
	h := newHeader(c.fields)
	if err := c.next(); err != nil {
		return fmt.Errorf("%w: totals header without a totals line", ErrTotals)
	}
	var t FundTotals
	var errs []error
	count := func(name string, dst *int64) {
		v, err := strconv.ParseInt(string(c.field(h.col(name))), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a count", name, c.field(h.col(name))))
		}
		*dst = v
	}
	amount := func(name string, dst *int64) {
		if h.col(name) < 0 {
			errs = append(errs, fmt.Errorf("totals block lacks %s", name))
			return
		}
		v, err := yuanToFen(c.field(h.col(name)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		*dst = v
	}
	count(totFundCount, &t.Count)
	count(totFundInN, &t.InCount)
	amount(totFundIn, &t.In)
	count(totFundOutN, &t.OutCount)
	amount(totFundOut, &t.Out)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrTotals, errors.Join(errs...))
	}
	t.FeeOut, t.RefundOut = p.sums.FeeOut, p.sums.RefundOut // not in the block: reported as summed
	if p.sums != t {
		return fmt.Errorf("%w: fund-flow totals block %+v, rows add up to %+v", ErrTotals, t, p.sums)
	}
	if err := c.next(); err != io.EOF {
		return fmt.Errorf("%w: line %d after the totals line", ErrTotals, c.lineNo)
	}
	p.totals = &t
	return io.EOF
}

// Totals are the verified totals, once Next returned io.EOF.
func (p *FundParser) Totals() FundTotals {
	if p.totals == nil {
		return FundTotals{}
	}
	return *p.totals
}
