package wechatpay

// 异常退款 (apply-abnormal-refund): a refund that ended ABNORMAL (the original card was
// cancelled or frozen) is sent again to the user's bank card or to the merchant's bank
// account. Facts from WeChat Pay's docs (发起异常退款):
//
//   - Direct merchants and service providers: POST
//     /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund; a service provider
//     adds sub_mchid (pay.weixin.qq.com/docs/partner/apis/refund/refunds/
//     create-abnormal-refund.html). Platforms (平台商户, 电商收付通): POST
//     /v3/ecommerce/refunds/{refund_id}/apply-abnormal-refund with sub_mchid
//     (pay.weixin.qq.com/doc/v3/partner/4015181616).
//   - Body: out_refund_no, type USER_BANK_CARD (to the user's card: bank_type, bank_account
//     and real_name required) or MERCHANT_BANK_CARD (to the merchant's settlement account).
//     Only debit cards (bank_type …_DEBIT) of 15 banks are accepted.
//   - bank_account and real_name are encrypted with WeChat Pay's public key (recommended)
//     or a platform certificate's key, RSA-OAEP, and the Wechatpay-Serial header names
//     that key (its PUB_KEY_ID_… or certificate serial).

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Abnormal refund destinations (type).
const (
	AbnormalRefundUserBankCard     = "USER_BANK_CARD"     // to the user's debit card
	AbnormalRefundMerchantBankCard = "MERCHANT_BANK_CARD" // to the merchant's bank account
)

// EncryptionKey is the WeChat Pay public key that sensitive request fields are
// encrypted with, and the serial (PUB_KEY_ID_… or certificate serial) sent in
// Wechatpay-Serial to name it.
type EncryptionKey struct {
	Serial string
	Key    *rsa.PublicKey
}

// EncryptionKeyFromCertificate is the encryption key of a platform certificate.
func EncryptionKeyFromCertificate(c *x509.Certificate) (EncryptionKey, error) {
	k, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return EncryptionKey{}, fmt.Errorf("wechatpay: platform certificate %s has no RSA public key", CertificateSerial(c))
	}
	return EncryptionKey{Serial: CertificateSerial(c), Key: k}, nil
}

// EncryptionKey is the newest platform certificate's key, the one WeChat Pay expects
// sensitive fields to be encrypted with in certificate mode.
func (m *CertificateManager) EncryptionKey(ctx context.Context) (EncryptionKey, error) {
	c, err := m.Newest(ctx)
	if err != nil {
		return EncryptionKey{}, err
	}
	return EncryptionKeyFromCertificate(c)
}

// AbnormalRefund is an abnormal refund application in plain text; the client encrypts
// the card fields. It never formats them: String and LogValue redact.
type AbnormalRefund struct {
	// SubMchID is required of service providers and platforms; the client's (ForSub)
	// when empty.
	SubMchID    string
	OutRefundNo string
	Type        string // AbnormalRefundUserBankCard or AbnormalRefundMerchantBankCard
	BankType    string // e.g. CMB_DEBIT; USER_BANK_CARD only
	BankAccount string // the card number; USER_BANK_CARD only
	RealName    string // the card holder's name; USER_BANK_CARD only
}

// String redacts the card number and the name.
func (a AbnormalRefund) String() string {
	return fmt.Sprintf("AbnormalRefund{out_refund_no=%s type=%s bank_type=%s bank_account=REDACTED real_name=REDACTED}", a.OutRefundNo, a.Type, a.BankType)
}

// GoString redacts like String.
func (a AbnormalRefund) GoString() string { return a.String() }

// LogValue redacts like String.
func (a AbnormalRefund) LogValue() slog.Value {
	return slog.GroupValue(slog.String("out_refund_no", a.OutRefundNo), slog.String("type", a.Type), slog.String("bank_type", a.BankType))
}

// AbnormalRefundRequest is the body of …/apply-abnormal-refund as sent: bank_account and
// real_name are RSA-OAEP ciphertexts (base64).
type AbnormalRefundRequest struct {
	SubMchID    string `json:"sub_mchid,omitempty"`
	OutRefundNo string `json:"out_refund_no"`
	Type        string `json:"type"`
	BankType    string `json:"bank_type,omitempty"`
	BankAccount string `json:"bank_account,omitempty"`
	RealName    string `json:"real_name,omitempty"`
}

// ValidateAbnormalRefund applies the rules of an application; the simulator answers the
// same failures with PARAM_ERROR.
func ValidateAbnormalRefund(r *AbnormalRefundRequest) error {
	if err := ValidateOutTradeNo("out_refund_no", r.OutRefundNo, 64); err != nil {
		return err
	}
	switch r.Type {
	case AbnormalRefundUserBankCard:
		if r.BankType == "" || r.BankAccount == "" || r.RealName == "" {
			return invalid("bank_type/bank_account/real_name", "are required to refund to the user's bank card (USER_BANK_CARD)")
		}
		if !strings.HasSuffix(r.BankType, "_DEBIT") {
			return invalid("bank_type", "%q is not a debit card: only debit cards (…_DEBIT) of the 15 listed banks are accepted", r.BankType)
		}
	case AbnormalRefundMerchantBankCard:
		if r.BankType != "" || r.BankAccount != "" || r.RealName != "" {
			return invalid("bank_type/bank_account/real_name", "are for USER_BANK_CARD only; MERCHANT_BANK_CARD refunds to the merchant's settlement account")
		}
	default:
		return invalid("type", "must be %s or %s, got %q", AbnormalRefundUserBankCard, AbnormalRefundMerchantBankCard, r.Type)
	}
	return nil
}

// ApplyAbnormalRefund sends an ABNORMAL refund again (发起异常退款), as a direct merchant
// or a service provider (with sub_mchid): POST
// /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund. The refund goes back to
// PROCESSING; its result arrives like any refund's.
func (c *Client) ApplyAbnormalRefund(ctx context.Context, refundID string, a AbnormalRefund, key EncryptionKey) (*Refund, error) {
	if c.Partner() {
		a.SubMchID = cmp.Or(a.SubMchID, c.SubMchID)
		if a.SubMchID == "" {
			return nil, invalid("sub_mchid", "is required in partner mode: use client.ForSub")
		}
	} else if a.SubMchID != "" {
		return nil, invalid("sub_mchid", "is a partner-mode field; this client is in direct mode")
	}
	var out Refund
	if err := c.applyAbnormal(ctx, "/v3/refund/domestic/refunds/", refundID, a, key, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApplyEcommerceAbnormalRefund is ApplyAbnormalRefund for a platform's e-commerce refund:
// POST /v3/ecommerce/refunds/{refund_id}/apply-abnormal-refund with sub_mchid.
func (c *Client) ApplyEcommerceAbnormalRefund(ctx context.Context, refundID string, a AbnormalRefund, key EncryptionKey) (*EcommerceRefund, error) {
	if !c.Partner() {
		return nil, fmt.Errorf("%w: e-commerce refunds are a platform's (电商平台) API: set SpMchID/SpAppID", ErrConfig)
	}
	a.SubMchID = cmp.Or(a.SubMchID, c.SubMchID)
	if a.SubMchID == "" {
		return nil, invalid("sub_mchid", "is required: use client.ForSub")
	}
	var out EcommerceRefund
	if err := c.applyAbnormal(ctx, "/v3/ecommerce/refunds/", refundID, a, key, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) applyAbnormal(ctx context.Context, prefix, refundID string, a AbnormalRefund, key EncryptionKey, out any) error {
	if refundID == "" {
		return invalid("refund_id", "is required: the ABNORMAL refund's refund_id")
	}
	req := AbnormalRefundRequest{SubMchID: a.SubMchID, OutRefundNo: a.OutRefundNo, Type: a.Type, BankType: a.BankType,
		BankAccount: a.BankAccount, RealName: a.RealName}
	if err := ValidateAbnormalRefund(&req); err != nil {
		return err
	}
	if a.Type == AbnormalRefundUserBankCard {
		if key.Key == nil || key.Serial == "" {
			return fmt.Errorf("%w: bank_account and real_name must be encrypted with WeChat Pay's public key: pass its EncryptionKey (Serial and Key)", ErrConfig)
		}
		var err error
		if req.BankAccount, err = EncryptOAEP(key.Key, []byte(a.BankAccount)); err != nil {
			return err
		}
		if req.RealName, err = EncryptOAEP(key.Key, []byte(a.RealName)); err != nil {
			return err
		}
	}
	cl := call{method: http.MethodPost, path: prefix + url.PathEscape(refundID) + "/apply-abnormal-refund", body: &req, out: out}
	cl.serial = key.Serial // required with encrypted fields; harmless without
	if err := c.send(ctx, cl); err != nil {
		return fmt.Errorf("wechatpay: abnormal refund %s (refund_id %s): %w", a.OutRefundNo, refundID, err)
	}
	return nil
}
