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
