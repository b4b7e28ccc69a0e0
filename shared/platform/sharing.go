package platform

// Profit sharing (分账) and subsidies (补差) in the deployment's mode: an e-commerce
// platform (电商收付通) splits through /v3/ecommerce/profitsharing/* and finishes with
// finish-order; a service provider (服务商) through the ordinary /v3/profitsharing/*,
// releasing the rest with unfreeze. The answers come back in the ledger's shapes
// (payment.ShareResult, ReturnResult, SubsidyAnswer), so reconcile's sharing job has one
// code path for both (shared/wechatpay/profitsharing*.go cite the docs).

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// errNoSharing: a direct merchant has no profit sharing in this bundle.
var errNoSharing = errors.New("platform: profit sharing needs WXPAY_MODE=ecommerce or partner")

// ShareAPI is the profit-sharing API family of the mode ("" for a direct merchant).
func (a API) ShareAPI() string {
	switch a.Mode {
	case config.ModeEcommerce:
		return payment.ShareAPIEcommerce
	case config.ModePartner:
		return payment.ShareAPIPartner
	}
	return ""
}

// finishDescription is the description of a finish (完结分账) or unfreeze.
const finishDescription = "分账完结"

// Split asks for split sp of transaction txid of sub-merchant owner (请求分账); finish is
// never set here: the order is finished on its own afterwards (Finish), so a split
// whose share is closed can be followed by another.
func (a API) Split(ctx context.Context, owner, txid string, sp payment.SplitLine) (payment.ShareResult, error) {
	cl := a.For(owner, "")
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		req := wechatpay.EcommerceShareRequest{SubMchID: owner, TransactionID: txid, OutOrderNo: sp.OutOrderNo}
		for _, r := range sp.Receivers {
			req.Receivers = append(req.Receivers, wechatpay.EcommerceShareReceiver{Type: r.Type, ReceiverAccount: r.Account, Amount: r.Amount, Description: r.Description})
		}
		res, err := cl.EcommerceShare(ctx, req)
		if err != nil {
			return payment.ShareResult{}, err
		}
		return ecomResult(res), nil
	case payment.ShareAPIPartner:
		req := wechatpay.ShareRequest{SubMchID: owner, TransactionID: txid, OutOrderNo: sp.OutOrderNo}
		for _, r := range sp.Receivers {
			req.Receivers = append(req.Receivers, wechatpay.ShareReceiver{Type: r.Type, Account: r.Account, Amount: r.Amount, Description: r.Description})
		}
		res, err := cl.Share(ctx, req)
		if err != nil {
			return payment.ShareResult{}, err
		}
		return partnerResult(res), nil
	}
	return payment.ShareResult{}, errNoSharing
}

// QuerySplit reads a split, or a finish, by its out_order_no (查询分账结果).
func (a API) QuerySplit(ctx context.Context, owner, txid, outOrderNo string) (payment.ShareResult, error) {
	cl := a.For(owner, "")
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		res, err := cl.EcommerceQueryShare(ctx, owner, txid, outOrderNo)
		if err != nil {
			return payment.ShareResult{}, err
		}
		return ecomResult(res), nil
	case payment.ShareAPIPartner:
		res, err := cl.QueryShare(ctx, owner, txid, outOrderNo)
		if err != nil {
			return payment.ShareResult{}, err
		}
		return partnerResult(res), nil
	}
	return payment.ShareResult{}, errNoSharing
}

// Finish releases what the payment still holds to the sub-merchant: 完结分账
// (finish-order, whose answer says only that it was accepted: PROCESSING here) or the
// partner's unfreeze.
func (a API) Finish(ctx context.Context, owner, txid, outOrderNo string) (payment.ShareResult, error) {
	cl := a.For(owner, "")
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		res, err := cl.EcommerceFinishShare(ctx, wechatpay.EcommerceFinishRequest{SubMchID: owner, TransactionID: txid, OutOrderNo: outOrderNo, Description: finishDescription})
		if err != nil {
			return payment.ShareResult{}, err
		}
		r := ecomResult(res)
		if r.State == "" {
			r.State = wechatpay.ShareProcessing
		}
		return r, nil
	case payment.ShareAPIPartner:
		res, err := cl.UnfreezeShare(ctx, wechatpay.UnfreezeRequest{SubMchID: owner, TransactionID: txid, OutOrderNo: outOrderNo, Description: finishDescription})
		if err != nil {
			return payment.ShareResult{}, err
		}
		return partnerResult(res), nil
	}
	return payment.ShareResult{}, errNoSharing
}

func ecomResult(res *wechatpay.EcommerceShareOrder) payment.ShareResult {
	out := payment.ShareResult{OrderID: res.OrderID, State: res.Status, FinishAmount: res.FinishAmount}
	for _, r := range res.Receivers {
		out.Receivers = append(out.Receivers, payment.SplitReceiver{Type: r.Type, Account: cmp.Or(r.ReceiverAccount, r.ReceiverMchID), Amount: r.Amount,
			Description: r.Description, Result: r.Result, FailReason: r.FailReason, DetailID: r.DetailID, FinishTime: r.FinishTime})
	}
	return out
}

func partnerResult(res *wechatpay.ShareOrder) payment.ShareResult {
	// The partner API does not say what an unfreeze released.
	out := payment.ShareResult{OrderID: res.OrderID, State: res.State, FinishAmount: -1}
	for _, r := range res.Receivers {
		out.Receivers = append(out.Receivers, payment.SplitReceiver{Type: r.Type, Account: r.Account, Amount: r.Amount,
			Description: r.Description, Result: r.Result, FailReason: r.FailReason, DetailID: r.DetailID, FinishTime: r.FinishTime})
	}
	return out
}

// returnDescription is a return's description: why the money comes back.
func returnDescription(rl payment.ReturnLine) string {
	if rl.Refund != "" {
		return "退款 " + rl.Refund + " 分账回退"
	}
	return "分账回退"
}

// Return asks receiver rl.ReturnMchID for money back (请求分账回退): synchronous, but it
// may answer PROCESSING.
func (a API) Return(ctx context.Context, owner, txid string, rl payment.ReturnLine) (payment.ReturnResult, error) {
	cl := a.For(owner, "")
	req := wechatpay.ReturnRequest{SubMchID: owner, OutOrderNo: rl.OutOrderNo, OutReturnNo: rl.OutReturnNo, ReturnMchID: rl.ReturnMchID,
		Amount: rl.Amount, Description: returnDescription(rl)}
	var res *wechatpay.ReturnOrder
	var err error
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		req.TransactionID = txid
		res, err = cl.EcommerceReturnShare(ctx, req)
	case payment.ShareAPIPartner:
		res, err = cl.ReturnShare(ctx, req)
	default:
		return payment.ReturnResult{}, errNoSharing
	}
	if err != nil {
		return payment.ReturnResult{}, err
	}
	return returnResult(res), nil
}

// QueryReturn reads a return (查询分账回退结果).
func (a API) QueryReturn(ctx context.Context, owner string, rl payment.ReturnLine) (payment.ReturnResult, error) {
	cl := a.For(owner, "")
	var res *wechatpay.ReturnOrder
	var err error
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		res, err = cl.EcommerceQueryReturn(ctx, owner, "", rl.OutOrderNo, rl.OutReturnNo)
	case payment.ShareAPIPartner:
		res, err = cl.QueryReturn(ctx, owner, rl.OutOrderNo, rl.OutReturnNo)
	default:
		return payment.ReturnResult{}, errNoSharing
	}
	if err != nil {
		return payment.ReturnResult{}, err
	}
	return returnResult(res), nil
}

func returnResult(res *wechatpay.ReturnOrder) payment.ReturnResult {
	return payment.ReturnResult{ReturnID: cmp.Or(res.ReturnNo, res.ReturnID), Result: res.Result, FailReason: res.FailReason, FinishTime: res.FinishTime,
		Amount: res.Amount, ReturnMchID: res.ReturnMchID}
}

// Subsidy asks for the order's subsidy (请求补差; e-commerce only), or its cancel.
func (a API) Subsidy(ctx context.Context, owner, txid string, sub payment.SubsidyLine) (payment.SubsidyAnswer, error) {
	if a.ShareAPI() != payment.ShareAPIEcommerce {
		return payment.SubsidyAnswer{}, fmt.Errorf("platform: subsidies (补差) are an e-commerce platform's (WXPAY_MODE=ecommerce)")
	}
	cl := a.For(owner, "")
	if sub.Cancel {
		res, err := cl.CancelSubsidy(ctx, wechatpay.SubsidyCancelRequest{SubMchID: owner, TransactionID: txid, Description: sub.Description})
		if err != nil {
			return payment.SubsidyAnswer{}, err
		}
		return payment.SubsidyAnswer{Result: res.Result}, nil
	}
	res, err := cl.CreateSubsidy(ctx, wechatpay.SubsidyRequest{SubMchID: owner, TransactionID: txid, Amount: sub.Amount, Description: sub.Description,
		OutSubsidyNo: sub.OutSubsidyNo, RefundID: sub.RefundID})
	if err != nil {
		return payment.SubsidyAnswer{}, err
	}
	return payment.SubsidyAnswer{ID: res.SubsidyID, Result: res.Result, SuccessTime: res.SuccessTime, Amount: res.Amount}, nil
}

// ReturnSubsidy gives part of the subsidy back after a refund (请求补差回退).
func (a API) ReturnSubsidy(ctx context.Context, owner, txid string, sr payment.SubsidyReturn, subsidyID string) (payment.SubsidyAnswer, error) {
	if a.ShareAPI() != payment.ShareAPIEcommerce {
		return payment.SubsidyAnswer{}, fmt.Errorf("platform: subsidies (补差) are an e-commerce platform's (WXPAY_MODE=ecommerce)")
	}
	res, err := a.For(owner, "").ReturnSubsidy(ctx, wechatpay.SubsidyReturnRequest{SubMchID: owner, OutOrderNo: sr.OutOrderNo, TransactionID: txid,
		RefundID: sr.RefundID, Amount: sr.Amount, Description: "退款 " + sr.OutRefundNo + " 补差回退", SubsidyID: subsidyID})
	if err != nil {
		return payment.SubsidyAnswer{}, err
	}
	return payment.SubsidyAnswer{ID: res.SubsidyRefundID, Result: res.Result, SuccessTime: res.SuccessTime, Amount: res.Amount}, nil
}

// ReceiverInput is a receiver to add or remove.
type ReceiverInput struct {
	SubMchID     string // a service provider's receivers belong to one sub-merchant
	Type         string
	Account      string
	Name         string // a merchant's full name (商户全称): in clear for e-commerce, encrypted for partner
	RelationType string
	// Key encrypts Name for the partner API (WeChat Pay's public key or platform certificate).
	Key wechatpay.EncryptionKey
}

// AddReceiver adds a receiver (添加分账接收方). The platform itself is a receiver of
// every e-commerce split from the start: WeChat Pay refuses adding it ("操作已完成,无需
// 二次请求", 平台收付通分账业务示例), which counts as added.
func (a API) AddReceiver(ctx context.Context, r ReceiverInput) error {
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		if r.Type == wechatpay.ReceiverMerchant && r.Account == a.Client.MchID {
			return nil
		}
		_, err := a.Client.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: r.Type, Account: r.Account, Name: r.Name, RelationType: r.RelationType})
		return err
	case payment.ShareAPIPartner:
		rc := wechatpay.Receiver{SubMchID: r.SubMchID, Type: r.Type, Account: r.Account, RelationType: r.RelationType}
		if r.Name != "" {
			// The partner API takes the name encrypted with WeChat Pay's public key.
			if r.Key.Key == nil || r.Key.Serial == "" {
				return fmt.Errorf("%w: a service provider's receiver name is sent encrypted with WeChat Pay's public key, which is not configured", wechatpay.ErrConfig)
			}
			var err error
			if rc.Name, err = wechatpay.EncryptOAEP(r.Key.Key, []byte(r.Name)); err != nil {
				return err
			}
			rc.Serial = r.Key.Serial
		}
		_, err := a.Client.AddReceiver(ctx, rc)
		return err
	}
	return errNoSharing
}

// DeleteReceiver removes a receiver (删除分账接收方).
func (a API) DeleteReceiver(ctx context.Context, r ReceiverInput) error {
	switch a.ShareAPI() {
	case payment.ShareAPIEcommerce:
		_, err := a.Client.EcommerceDeleteReceiver(ctx, wechatpay.EcommerceReceiver{Type: r.Type, Account: r.Account})
		return err
	case payment.ShareAPIPartner:
		_, err := a.Client.DeleteReceiver(ctx, wechatpay.Receiver{SubMchID: r.SubMchID, Type: r.Type, Account: r.Account})
		return err
	}
	return errNoSharing
}
