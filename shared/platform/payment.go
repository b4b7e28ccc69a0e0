package platform

import (
	"context"
	"fmt"

	"github.com/paysls/wxpay/shared/payment"
)

// PaymentState asks WeChat Pay (查询订单) for the trade_state of the payment of order o
// that a refund naming transactionID takes money from, in the deployment's mode: a
// payment kept on o that is not its own by its transaction_id (as the refund names it,
// payment.WeChatRefund); a sub-order of a combine through the combine query (合单查询
// 订单: WeChat Pay lists a sub-order under its combine only); any other order by its
// out_trade_no, as the sub-merchant in partner and e-commerce mode. An order WeChat Pay
// does not know is the query's ORDER_NOT_EXIST error.
func (a API) PaymentState(ctx context.Context, o *payment.Order, transactionID string) (string, error) {
	cl := a.For(o.Owner, o.Create.SubAppID)
	switch {
	case transactionID != "" && (o.Payment == nil || transactionID != o.Payment.TransactionID):
		tx, err := cl.QueryByTransactionID(ctx, transactionID)
		if err != nil {
			return "", fmt.Errorf("platform: query payment %s: %w", transactionID, err)
		}
		return tx.TradeState, nil
	case o.Combine != nil:
		ct, err := a.Client.QueryCombine(ctx, o.Combine.CombineNo)
		if err != nil {
			return "", fmt.Errorf("platform: query combine %s of sub-order %s: %w", o.Combine.CombineNo, o.OutTradeNo, err)
		}
		for _, s := range ct.SubOrders {
			if s.OutTradeNo == o.OutTradeNo {
				return s.TradeState, nil
			}
		}
		// Not an answer about the sub-order: the caller must not take it for one.
		return "", fmt.Errorf("platform: combine %s does not list sub-order %s", o.Combine.CombineNo, o.OutTradeNo)
	}
	tx, err := cl.QueryByOutTradeNo(ctx, o.OutTradeNo)
	if err != nil {
		return "", fmt.Errorf("platform: query order %s: %w", o.OutTradeNo, err)
	}
	return tx.TradeState, nil
}
