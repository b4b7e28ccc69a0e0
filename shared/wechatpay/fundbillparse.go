package wechatpay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The fund-flow bill (资金账单) as WeChat Pay documents it (资金账单详细说明,
// pay.weixin.qq.com/docs/merchant/products/bill-download/format-fundflow.html): a header
// line, data lines whose every field starts with a backtick, then the totals header and
// the totals line. Fields are comma-separated; the bill replaces \1 by a space and
// writes \r and \n inside a field as the two characters \r and \n, so a record is
// always one line. Columns are found by name (WeChat Pay says their order may
// change). The parser is here rather than in billfetch because the sub-merchant fund
// bills arrive encrypted and this package decrypts them (FetchEncryptedBill): one
// package takes the file from WeChat Pay's bytes to rows.

// Column and totals names of the fund-flow bill.
const (
	fundColTime      = "记账时间"
	fundColBizNo     = "微信支付业务单号"
	fundColFlowNo    = "资金流水单号"
	fundColName      = "业务名称"
	fundColKind      = "业务类型"
	fundColDirection = "收支类型"
	fundColAmount    = "收支金额（元）"
	fundColBalance   = "账户结余（元）"
	fundColApplicant = "资金变更提交申请人"
	fundColNote      = "备注"
	fundColVoucher   = "业务凭证号"
	// FundColSubMchID names the sub-merchant of a line in a bill covering several
	// (account_type=ALL of /v3/ecommerce/bill/fundflowbill). WeChat Pay's docs do not
	// show that bill's header; the simulator writes this column and the parser reads it
	// when present, so a real file without it still parses.
	FundColSubMchID = "二级商户号"

	fundTotCount    = "资金流水总笔数"
	fundTotInCount  = "收入笔数"
	fundTotIn       = "收入金额"
	fundTotOutCount = "支出笔数"
	fundTotOut      = "支出金额"

	FundIncome  = "收入"
	FundExpense = "支出"
)

// FundBillRow is one line of a fund-flow bill; amounts in fen.
type FundBillRow struct {
	Time      string // 记账时间, "2006-01-02 15:04:05" in +08:00
	BizNo     string // 微信支付业务单号: a transaction_id, refund_id, split order_id, …
	FlowNo    string // 资金流水单号
	Name      string // 业务名称: 交易, 退款, 分账, 补差, …
	Kind      string // 业务类型: 交易, 扣除交易手续费, 分账回退, …
	Amount    int64  // 收支金额, signed: income positive, expense negative
	Balance   int64  // 账户结余 after the line
	Applicant string // 资金变更提交申请人
	Note      string // 备注
	Voucher   string // 业务凭证号: usually the merchant's own number (out_trade_no, out_order_no, …)
	SubMchID  string // 二级商户号, when the bill has the column
}

// FundBillTotals are a fund-flow bill's totals block (or the sums of its lines).
type FundBillTotals struct {
	Count    int64 `json:"count"`
	InCount  int64 `json:"income_count"`
	In       int64 `json:"income_fen"`
	OutCount int64 `json:"expense_count"`
	Out      int64 `json:"expense_fen"`
}

// errFundBillTotals is matched by a bill whose totals block disagrees with its lines or
// is missing (a truncated file).
var errFundBillTotals = errors.New("wechatpay: fund-flow bill totals do not match its lines")

// fundBillParser reads a fund-flow bill one line at a time in constant memory.
type fundBillParser struct {
	br     *bufio.Reader
	buf    []byte
	fields [][]byte
	spans  [][2]int // fields as offsets into the line, for str
	ls     string   // the current data line as one string: every field string is a slice of it
	lineNo int
	ncol   int
	ix     struct{ time, biz, flow, name, kind, dir, amount, balance, applicant, note, voucher, sub int }
	sums   FundBillTotals
	totals *FundBillTotals
}

// NewFundBillParser reads the header line and locates the columns by name.
func NewFundBillParser(r io.Reader) (*fundBillParser, error) {
	p := &fundBillParser{br: bufio.NewReaderSize(r, 256<<10), fields: make([][]byte, 0, 16)}
	line, err := p.line()
	if err == io.EOF {
		return nil, errors.New("wechatpay: fund-flow bill is empty")
	}
	if err != nil {
		return nil, err
	}
	p.split(line)
	p.ncol = len(p.fields)
	col := func(name string) int {
		for i, f := range p.fields {
			if sameColumn(string(f), name) {
				return i
			}
		}
		return -1
	}
	x := &p.ix
	x.time, x.biz, x.flow, x.name, x.kind = col(fundColTime), col(fundColBizNo), col(fundColFlowNo), col(fundColName), col(fundColKind)
	x.dir, x.amount, x.balance, x.applicant = col(fundColDirection), col(fundColAmount), col(fundColBalance), col(fundColApplicant)
	x.note, x.voucher, x.sub = col(fundColNote), col(fundColVoucher), col(FundColSubMchID)
	if x.dir < 0 || x.amount < 0 || x.biz < 0 {
		return nil, fmt.Errorf("wechatpay: fund-flow bill header lacks %s, %s or %s (header: %q)", fundColBizNo, fundColDirection, fundColAmount, line)
	}
	return p, nil
}

// sameColumn compares header names ignoring the width of the parentheses: the docs
// write 收支金额(元) and 收支金额（元） both.
func sameColumn(a, b string) bool {
	if a == b {
		return true
	}
	r := strings.NewReplacer("(", "（", ")", "）", " ", "")
	return r.Replace(a) == r.Replace(b)
}

// line reads the next non-empty line without its ending.
func (p *fundBillParser) line() ([]byte, error) {
	for {
		l, err := p.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			p.buf = append(p.buf[:0], l...)
			for err == bufio.ErrBufferFull {
				if len(p.buf) > 1<<20 {
					return nil, fmt.Errorf("wechatpay: fund-flow bill line %d is longer than 1 MiB: not a bill", p.lineNo+1)
				}
				l, err = p.br.ReadSlice('\n')
				p.buf = append(p.buf, l...)
			}
			l = p.buf
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("wechatpay: fund-flow bill: %w", err)
		}
		if err == io.EOF && len(l) == 0 {
			return nil, io.EOF
		}
		p.lineNo++
		for len(l) > 0 && (l[len(l)-1] == '\n' || l[len(l)-1] == '\r') {
			l = l[:len(l)-1]
		}
		if p.lineNo == 1 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		if len(bytes.TrimSpace(l)) > 0 {
			return l, nil
		}
	}
}

// split cuts a line into fields. Data lines start every field with a backtick, so a
// field ends at a comma followed by a backtick (a comma inside a note does not cut
// it); header lines are plain comma-separated names.
func (p *fundBillParser) split(l []byte) {
	p.fields, p.spans = p.fields[:0], p.spans[:0]
	add := func(start, end int) {
		p.fields = append(p.fields, l[start:end])
		p.spans = append(p.spans, [2]int{start, end})
	}
	if len(l) == 0 || l[0] != '`' {
		start := 0
		for {
			i := bytes.IndexByte(l[start:], ',')
			if i < 0 {
				add(start, len(l))
				break
			}
			add(start, start+i)
			start += i + 1
		}
		for i, f := range p.fields {
			p.fields[i] = bytes.TrimSpace(f)
		}
		return
	}
	start := 1
	for {
		i := bytes.Index(l[start:], []byte(",`"))
		if i < 0 {
			add(start, len(l))
			return
		}
		add(start, start+i)
		start += i + 2
	}
}

func (p *fundBillParser) field(i int) []byte {
	if i < 0 || i >= len(p.fields) {
		return nil
	}
	return p.fields[i]
}

// str is field i as a string sharing the line's one allocation.
func (p *fundBillParser) str(i int) string {
	if i < 0 || i >= len(p.spans) {
		return ""
	}
	return p.ls[p.spans[i][0]:p.spans[i][1]]
}

// Next fills row with the next line. After the last line it checks the totals block
// against the lines and returns io.EOF, or an error matching errFundBillTotals.
func (p *fundBillParser) Next(row *FundBillRow) error {
	if p.totals != nil {
		return io.EOF
	}
	l, err := p.line()
	if err == io.EOF {
		return fmt.Errorf("%w: the bill ends after %d lines without its totals block (truncated?)", errFundBillTotals, p.sums.Count)
	}
	if err != nil {
		return err
	}
	p.split(l)
	if l[0] != '`' && len(p.fields) > 0 && string(p.fields[0]) == fundTotCount {
		return p.readTotals()
	}
	if len(p.fields) != p.ncol {
		return fmt.Errorf("wechatpay: fund-flow bill line %d has %d fields, the header %d", p.lineNo, len(p.fields), p.ncol)
	}
	x := &p.ix
	amt, err := parseYuan(p.field(x.amount))
	if err != nil {
		return fmt.Errorf("wechatpay: fund-flow bill line %d, %s: %w", p.lineNo, fundColAmount, err)
	}
	var bal int64
	if x.balance >= 0 {
		if bal, err = parseYuan(p.field(x.balance)); err != nil {
			return fmt.Errorf("wechatpay: fund-flow bill line %d, %s: %w", p.lineNo, fundColBalance, err)
		}
	}
	// One allocation per line: the unique columns are slices of it; the columns that
	// repeat from line to line keep the previous line's string.
	p.ls = string(l)
	prev := *row
	*row = FundBillRow{
		Time: p.str(x.time), BizNo: p.str(x.biz), FlowNo: p.str(x.flow),
		Name: reuseString(prev.Name, p.field(x.name)), Kind: reuseString(prev.Kind, p.field(x.kind)),
		Balance: bal, Applicant: reuseString(prev.Applicant, p.field(x.applicant)),
		Note: reuseString(prev.Note, p.field(x.note)), Voucher: p.str(x.voucher),
		SubMchID: reuseString(prev.SubMchID, p.field(x.sub)),
	}
	s := &p.sums
	s.Count++
	switch dir := p.field(x.dir); string(dir) {
	case FundIncome:
		row.Amount = amt
		s.InCount++
		s.In += amt
	case FundExpense:
		row.Amount = -amt
		s.OutCount++
		s.Out += amt
	default:
		return fmt.Errorf("wechatpay: fund-flow bill line %d: %s %q is neither %s nor %s", p.lineNo, fundColDirection, dir, FundIncome, FundExpense)
	}
	return nil
}

// reuseString returns prev when b holds the same text, sparing an allocation for the
// columns that repeat from line to line.
func reuseString(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

func (p *fundBillParser) readTotals() error {
	names := make([]string, len(p.fields))
	for i, f := range p.fields {
		names[i] = string(f)
	}
	l, err := p.line()
	if err != nil {
		return fmt.Errorf("%w: totals header without a totals line", errFundBillTotals)
	}
	p.split(l)
	get := func(name string) []byte {
		for i, n := range names {
			if n == name {
				return p.field(i)
			}
		}
		return nil
	}
	var t FundBillTotals
	var errs []error
	count := func(name string, dst *int64) {
		// Counts are written "20.0" in WeChat Pay's own example (资金账单结构说明).
		v := strings.TrimSuffix(strings.TrimSuffix(string(get(name)), ".0"), ".00")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a count", name, get(name)))
		}
		*dst = n
	}
	amount := func(name string, dst *int64) {
		v, err := parseYuan(get(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		*dst = v
	}
	count(fundTotCount, &t.Count)
	count(fundTotInCount, &t.InCount)
	amount(fundTotIn, &t.In)
	count(fundTotOutCount, &t.OutCount)
	amount(fundTotOut, &t.Out)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errFundBillTotals, errors.Join(errs...))
	}
	if t != p.sums {
		return fmt.Errorf("%w: totals block %+v, lines add up to %+v", errFundBillTotals, t, p.sums)
	}
	if _, err := p.line(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: line %d after the totals line", errFundBillTotals, p.lineNo)
		}
		return err
	}
	p.totals = &t
	return io.EOF
}

// Totals are the verified totals, once Next returned io.EOF.
func (p *fundBillParser) Totals() FundBillTotals {
	if p.totals == nil {
		return FundBillTotals{}
	}
	return *p.totals
}

// parseYuan turns a bill amount in yuan ("12.34", "-0.5", "7") into fen, exactly:
// never through a float.
func parseYuan(b []byte) (int64, error) {
	s := b
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, fmt.Errorf("amount %q is empty", b)
	}
	var v int64
	frac := -1
	for _, c := range s {
		switch {
		case c == '.' && frac < 0:
			frac = 0
		case c >= '0' && c <= '9':
			if frac >= 0 {
				if frac == 2 {
					return 0, fmt.Errorf("amount %q has more than two decimals", b)
				}
				frac++
			}
			if v > (1<<62)/10 {
				return 0, fmt.Errorf("amount %q is too large", b)
			}
			v = v*10 + int64(c-'0')
		default:
			return 0, fmt.Errorf("amount %q is not a number of yuan", b)
		}
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < 2; frac++ {
		v *= 10
	}
	if neg {
		v = -v
	}
	return v, nil
}
