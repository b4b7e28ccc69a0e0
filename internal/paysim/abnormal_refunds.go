package paysim

// 异常退款 (apply-abnormal-refund): an ABNORMAL refund re-routed to the user's debit card
// or the merchant's bank account, on both paths WeChat Pay serves it (the domestic one
// of direct merchants and service providers, the e-commerce one of platforms), with the
// card fields RSA-OAEP-encrypted under the platform key that Wechatpay-Serial names. The
// rules are recorded, with the docs, in shared/wechatpay/abnormal_refund.go.
//
// The refund goes back to PROCESSING; the driver settles it as any refund (POST
// /sim/refunds/{out_refund_no}/settle: SUCCESS, or ABNORMAL again), and from the
// application on the refund shows the new destination (channel OTHER_BANKCARD,
// user_received_account the card). Only the card's last four digits and the masked name
// are kept: the simulator's state is snapshotted as JSON.

import (
	"cmp"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// abnormalRefund is one 异常退款 application.
type abnormalRefund struct {
	Type        string    `json:"type"`
	BankType    string    `json:"bank_type,omitempty"`
	AccountTail string    `json:"account_tail,omitempty"` // the card's last 4 digits
	NameMasked  string    `json:"name_masked,omitempty"`
	Serial      string    `json:"serial,omitempty"` // the key Wechatpay-Serial named
	AppliedAt   time.Time `json:"applied_at"`
}

func (s *Simulator) routesAbnormalRefunds(m *http.ServeMux) {
	m.Handle("POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund", s.api(s.applyAbnormalRefund(false)))
	m.Handle("POST /v3/ecommerce/refunds/{refund_id}/apply-abnormal-refund", s.api(s.applyAbnormalRefund(true)))
}

// bankNames name the debit cards 异常退款 accepts in user_received_account
// ("{银行名称}{卡类型}{卡尾号}"); another …_DEBIT shows its code.
var bankNames = map[string]string{
	"ICBC_DEBIT": "工商银行", "ABC_DEBIT": "农业银行", "BOC_DEBIT": "中国银行", "CCB_DEBIT": "建设银行",
	"CMB_DEBIT": "招商银行", "COMM_DEBIT": "交通银行", "SPDB_DEBIT": "浦发银行", "CITIC_DEBIT": "中信银行",
	"CEB_DEBIT": "光大银行", "CMBC_DEBIT": "民生银行", "CIB_DEBIT": "兴业银行", "GDB_DEBIT": "广发银行",
	"PSBC_DEBIT": "邮储银行", "SPABANK_DEBIT": "平安银行", "NBCB_DEBIT": "宁波银行",
}

// applyAbnormalRefund handles POST …/refunds/{refund_id}/apply-abnormal-refund.
func (s *Simulator) applyAbnormalRefund(ecommerce bool) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		var req wechatpay.AbnormalRefundRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误 (the body is not valid JSON for an abnormal refund): "+err.Error())
		}
		if err := wechatpay.ValidateAbnormalRefund(&req); err != nil {
			return validationReply(err, nil)
		}
		if ecommerce && req.SubMchID == "" {
			return paramError("sub_mchid", nil, "is required: the sub-merchant (二级商户) of the refunded order")
		}
		id := r.PathValue("refund_id")
		serial := r.Header.Get(wechatpay.HeaderSerial)

		s.mu.Lock()
		defer s.mu.Unlock()
		rf := s.refundByID(id, ecommerce)
		if rf == nil {
			return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在: no refund with refund_id "+id+" on this endpoint (an e-commerce refund is sent again on /v3/ecommerce/refunds/…, any other on /v3/refund/domestic/refunds/…)")
		}
		if o := s.st.orderOf(rf); o.Partner && req.SubMchID != o.Request.SubMchID {
			if req.SubMchID == "" {
				return paramError("sub_mchid", nil, "is required of a service provider: the refund's sub-merchant")
			}
			return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在: sub-merchant "+req.SubMchID+" has no refund "+id)
		} else if !o.Partner && req.SubMchID != "" {
			return paramError("sub_mchid", req.SubMchID, "is a service provider's field; this refund is a direct merchant's")
		}
		if req.OutRefundNo != rf.Request.OutRefundNo {
			return paramError("out_refund_no", req.OutRefundNo, "is not refund "+id+"'s out_refund_no ("+rf.Request.OutRefundNo+")")
		}
		if prev, ok := s.st.AbnormalRefunds[rf.Request.OutRefundNo]; ok && rf.Status == wechatpay.RefundStatusProcessing {
			if prev.Type != req.Type {
				return errReply(http.StatusBadRequest, "INVALID_REQUEST", "退款处理中: refund "+id+" was already sent again ("+prev.Type+"); wait for its result")
			}
			return s.abnormalAnswer(rf, ecommerce) // a retry of the same application
		}
		if rf.Status != wechatpay.RefundStatusAbnormal {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "退款单状态不是退款异常: refund "+id+" is "+rf.Status+"; only an ABNORMAL refund can be sent again with 异常退款")
		}
		a := &abnormalRefund{Type: req.Type, BankType: req.BankType, AppliedAt: s.now()}
		if req.Type == wechatpay.AbnormalRefundUserBankCard {
			if serial == "" {
				return headerParamError(wechatpay.HeaderSerial, "", "is required: name the WeChat Pay public key (PUB_KEY_ID_…) or platform certificate serial bank_account and real_name are encrypted with")
			}
			key := s.privateKeyFor(serial)
			if key == nil {
				return headerParamError(wechatpay.HeaderSerial, serial, "names no WeChat Pay public key or platform certificate: fetch the current one (/v3/certificates, or the public key in the merchant platform)")
			}
			account, err := wechatpay.DecryptOAEP(key, req.BankAccount)
			if err != nil {
				return paramError("bank_account", nil, "解密失败: encrypt it with RSA-OAEP (SHA-1) under the key "+serial+" names, base64")
			}
			name, err := wechatpay.DecryptOAEP(key, req.RealName)
			if err != nil {
				return paramError("real_name", nil, "解密失败: encrypt it with RSA-OAEP (SHA-1) under the key "+serial+" names, base64")
			}
			if !digitsOnly(string(account)) || len(account) < 12 || len(account) > 30 {
				return paramError("bank_account", nil, "decrypts to something that is not a bank card number (12 to 30 digits)")
			}
			if utf8.RuneCount(name) == 0 {
				return paramError("real_name", nil, "decrypts to an empty name")
			}
			a.AccountTail, a.NameMasked, a.Serial = string(account[len(account)-4:]), maskName(string(name)), serial
		}
		s.st.AbnormalRefunds[rf.Request.OutRefundNo] = a
		rf.Status, rf.SuccessTime = wechatpay.RefundStatusProcessing, time.Time{}
		s.log.Info("paysim: abnormal refund applied", "out_refund_no", rf.Request.OutRefundNo, "type", req.Type)
		return s.abnormalAnswer(rf, ecommerce)
	}
}

func (s *Simulator) abnormalAnswer(rf *refund, ecommerce bool) *reply {
	if ecommerce {
		return jsonReply(http.StatusOK, s.ecommerceView(rf, s.st.EcommerceRefunds[rf.Request.OutRefundNo]))
	}
	return jsonReply(http.StatusOK, s.refundView(rf))
}

// refundByID finds a refund by refund_id among e-commerce refunds or the others. Called
// under s.mu.
func (s *Simulator) refundByID(id string, ecommerce bool) *refund {
	if ecommerce {
		rf, _ := s.ecommerceRefundByID(id)
		return rf
	}
	for no, rf := range s.st.refunds {
		if _, e := s.st.EcommerceRefunds[no]; !e && rf.RefundID == id {
			return rf
		}
	}
	return nil
}

// privateKeyFor is the platform private key published under serial (certificate serial
// or PUB_KEY_ID), current or rotated out. Called under s.mu.
func (s *Simulator) privateKeyFor(serial string) *rsa.PrivateKey {
	for _, k := range s.keys {
		if strings.EqualFold(k.serial, serial) || k.pubKeyID == serial {
			return k.key
		}
	}
	return nil
}

// abnormalDestination shows where an applied refund goes instead of its original path.
// Called under s.mu by refundView.
func (s *Simulator) abnormalDestination(rf *refund, v *wechatpay.Refund) {
	a, ok := s.st.AbnormalRefunds[rf.Request.OutRefundNo]
	if !ok {
		return
	}
	v.Channel = "OTHER_BANKCARD"
	if a.Type == wechatpay.AbnormalRefundMerchantBankCard {
		v.UserReceivedAccount = "商户结算银行账户"
		return
	}
	v.UserReceivedAccount = cmp.Or(bankNames[a.BankType], a.BankType) + "借记卡" + a.AccountTail
}

func headerParamError(field, value, issue string) *reply {
	return jsonReply(http.StatusBadRequest, wechatpay.ErrorBody{
		Code: "PARAM_ERROR", Message: "参数错误: " + field + " " + issue,
		Detail: &wechatpay.ErrorDetail{Field: field, Value: nonEmpty(value), Issue: issue, Location: "header"},
	})
}

func digitsOnly(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}

// maskName keeps a name's last character: 张三 → *三.
func maskName(n string) string {
	r := []rune(n)
	return strings.Repeat("*", len(r)-1) + string(r[len(r)-1])
}
