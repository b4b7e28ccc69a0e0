package billfetch

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestYuanToFen(t *testing.T) {
	ok := map[string]int64{"": 0, "0": 0, "0.00": 0, "1.00": 100, "12.34": 1234, "-0.01": -1, "+5": 500,
		"1.5": 150, "0.00000": 0, "0.06000": 6, "92233720368547.75": 9223372036854775}
	for in, want := range ok {
		if got, err := yuanToFen([]byte(in)); err != nil || got != want {
			t.Errorf("yuanToFen(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"1.005", "abc", "1,00", "-", ".", "1.2.3", "１.00", "0.001", "99999999999999999999"} {
		if got, err := yuanToFen([]byte(in)); err == nil {
			t.Errorf("yuanToFen(%q) = %d, want an error", in, got)
		}
	}
}

const allHeader = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
const allTotals = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"

func TestTradeParserColumnsByNameQuotesAndTotals(t *testing.T) {
	// Columns reordered (order/state swapped), a BOM, backticked headers, an unquoted
	// comma inside a product name, a quoted field with an escaped quote.
	header := "\ufeff`交易状态,`商户订单号,`交易时间,`公众账号ID,`商户号,`特约商户号,`微信订单号,`应结订单金额,`代金券金额,`微信退款单号,`商户退款单号,`退款金额,`充值券退款金额,`退款状态,`商品名称,`手续费,`订单金额,`申请退款金额"
	bill := header + "\r\n" +
		"`SUCCESS,`ORDER0001,`2026-11-25 10:00:00,`wxapp,`1900000001,`0,`4200000001,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`coffee, large,`0.01,`1.00,`0.00\r\n" +
		"`REFUND,`ORDER0001,`2026-11-25 11:00:00,`wxapp,`1900000001,`0,`4200000001,`0.00,`0.00,`5000001,`R0001,`0.40,`0.00,`SUCCESS,\"`say \"\"hi\"\"\",`-0.00,`0.00,`0.40\r\n" +
		allTotals + "\r\n`2,`1.00,`0.40,`0.00,`0.01,`1.00,`0.40\r\n"
	p, err := NewTradeParser(strings.NewReader(bill))
	if err != nil {
		t.Fatal(err)
	}
	var rows []TradeRow
	for {
		var r TradeRow
		err := p.Next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 || rows[0].OutTradeNo != "ORDER0001" || rows[0].Settle != 100 || rows[0].Fee != 1 || rows[0].Owner() != "1900000001" ||
		rows[1].TradeState != "REFUND" || rows[1].OutRefundNo != "R0001" || rows[1].Refund != 40 || rows[0].RefundID != "" {
		t.Fatalf("rows = %+v", rows)
	}
	if got := p.Totals(); got.Count != 2 || got.Settle != 100 || got.Refund != 40 || got.Fee != 1 {
		t.Fatalf("totals = %+v", got)
	}
}

func TestTradeParserRejectsTotalsMismatchAndTruncation(t *testing.T) {
	row := "`2026-11-25 10:00:00,`wxapp,`1900000001,`0,`,`4200000001,`ORDER0001,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.01,`0.60%,`1.00,`0.00,`"
	cases := map[string]string{
		"count":     allHeader + "\n" + row + "\n" + allTotals + "\n`2,`1.00,`0.00,`0.00,`0.01,`1.00,`0.00\n",
		"settle":    allHeader + "\n" + row + "\n" + allTotals + "\n`1,`1.01,`0.00,`0.00,`0.01,`1.00,`0.00\n",
		"fee":       allHeader + "\n" + row + "\n" + allTotals + "\n`1,`1.00,`0.00,`0.00,`0.02,`1.00,`0.00\n",
		"truncated": allHeader + "\n" + row + "\n",
		"trailing":  allHeader + "\n" + row + "\n" + allTotals + "\n`1,`1.00,`0.00,`0.00,`0.01,`1.00,`0.00\n" + row + "\n",
	}
	for name, bill := range cases {
		p, err := NewTradeParser(strings.NewReader(bill))
		if err != nil {
			t.Fatal(err)
		}
		var r TradeRow
		for err == nil {
			err = p.Next(&r)
		}
		if !errors.Is(err, ErrTotals) {
			t.Errorf("%s: err = %v, want ErrTotals", name, err)
		}
	}
}

func TestTradeParserRejectsShiftedColumns(t *testing.T) {
	row := "`2026-11-25 10:00:00,`wxapp,`1900000001,`0,`,`4200000001,`ORDER0001,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.01,`0.60%,`1.00,`0.00,`"
	short := strings.Replace(row, ",`OTHERS", "", 1)
	p, err := NewTradeParser(strings.NewReader(allHeader + "\n" + short + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var r TradeRow
	if err := p.Next(&r); err == nil || !strings.Contains(err.Error(), "fields") {
		t.Fatalf("a row with a missing column: %v", err)
	}
}

func TestFundParser(t *testing.T) {
	bill := "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号\r\n" +
		"`2026-03-10 09:01:00,`4200001,`1001,`交易,`交易,`收入,`1.00,`1.00,`system,`,`O1\r\n" +
		"`2026-03-10 09:01:00,`4200001,`1002,`手续费,`扣除交易手续费,`支出,`0.01,`0.99,`system,`,`O1\r\n" +
		"`2026-03-10 09:02:00,`5030001,`1003,`退款,`退款,`支出,`0.50,`0.49,`system,`reason, with comma,`O1\r\n" +
		"资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`3,`1,`1.00,`2,`0.51\r\n"
	p, err := NewFundParser(strings.NewReader(bill))
	if err != nil {
		t.Fatal(err)
	}
	var r FundRow
	n := 0
	for err = p.Next(&r); err == nil; err = p.Next(&r) {
		n++
	}
	if err != io.EOF || n != 3 {
		t.Fatalf("rows %d, err %v", n, err)
	}
	if got := p.Totals(); got != (FundTotals{Count: 3, InCount: 1, In: 100, OutCount: 2, Out: 51, FeeOut: 1, RefundOut: 50}) {
		t.Fatalf("totals = %+v", got)
	}
	bad := strings.Replace(bill, "`2,`0.51", "`2,`0.52", 1)
	p, _ = NewFundParser(strings.NewReader(bad))
	for err = p.Next(&r); err == nil; err = p.Next(&r) {
	}
	if !errors.Is(err, ErrTotals) {
		t.Fatalf("fund totals mismatch: %v", err)
	}
}
