package payment

import (
	"errors"
	"net/http"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// A refusal that denies the payment is confirmed only by an order query saying WeChat
// Pay holds no paid order: unknown there (ORDER_NOT_EXIST) or in a state 申请退款
// refuses (NOTPAY, CLOSED, REVOKED, PAYERROR). Paid there (SUCCESS, REFUND), still
// being paid (USERPAYING), or a query that failed leaves it unconfirmed — transient.
func TestConfirmRefusal(t *testing.T) {
	notExist := &wechatpay.APIError{StatusCode: http.StatusNotFound, Code: wechatpay.CodeOrderNotExist, Message: "订单不存在"}
	down := &wechatpay.APIError{StatusCode: http.StatusInternalServerError, Code: "SYSTEM_ERROR", Message: "系统错误"}
	for _, c := range []struct {
		state     string
		err       error
		confirmed bool
	}{
		{"", notExist, true},
		{wechatpay.TradeStateNotPay, nil, true},
		{wechatpay.TradeStateClosed, nil, true},
		{wechatpay.TradeStateRevoked, nil, true},
		{wechatpay.TradeStatePayError, nil, true},
		{wechatpay.TradeStateSuccess, nil, false},
		{wechatpay.TradeStateRefund, nil, false},
		{wechatpay.TradeStateUserPaying, nil, false},
		{"", down, false},
		{"", errors.New("dial tcp: connection refused"), false},
	} {
		err := ConfirmRefusal(c.state, c.err)
		if c.confirmed && err != nil || !c.confirmed && !errors.Is(err, ErrRefusalUnconfirmed) {
			t.Errorf("ConfirmRefusal(%q, %v) = %v, want confirmed %v", c.state, c.err, err, c.confirmed)
		}
	}
}
