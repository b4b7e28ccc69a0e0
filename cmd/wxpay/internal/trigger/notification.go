// Package trigger plays WeChat Pay against a merchant's notify endpoint: it builds,
// signs and delivers a notification (v3 JSON or v2 XML) and judges the answer as WeChat
// Pay would. `wxpay trigger` wraps it; `wxpay doctor --probe` uses it.
//
// A notification built here is byte-for-byte what WeChat Pay sends: a JSON envelope
// whose resource is AEAD_AES_256_GCM-encrypted with the APIv3 key, signed with
// SHA256withRSA over "timestamp\nnonce\nbody\n" by the platform private key. Only a keys
// directory written by the simulator holds that private key, which is why trigger needs
// one: against the real service only WeChat Pay itself can sign.
package trigger

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/paysls/wxpay/internal/paysim"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Signature modes: which Wechatpay-Serial the notification carries.
const (
	ModeCert   = "cert"   // platform certificate serial (平台证书)
	ModePubKey = "pubkey" // PUB_KEY_ID_… (微信支付公钥, the default for new merchants since 2024)
)

// Events trigger can send.
var Events = []string{
	wechatpay.EventTransactionSuccess, wechatpay.EventRefundSuccess,
	wechatpay.EventRefundAbnormal, wechatpay.EventRefundClosed,
}

// ErrNoPlatformKey means the keys directory has no platform private key: the user
// pointed trigger at a real merchant's keys, which cannot sign as WeChat Pay.
var ErrNoPlatformKey = errors.New("the keys dir has no " + keysdir.FilePlatformKey +
	": trigger plays WeChat Pay and must sign with the platform's private key, which only the simulator has. " +
	"Use a keys dir written by `wxpay sim --keys-dir DIR`, and configure your endpoint with that dir's platform_cert.pem / platform_public_key.pem " +
	"(trigger 扮演微信支付，需要模拟器的平台私钥：请使用 `wxpay sim --keys-dir DIR` 生成的目录)")

// Sender builds, signs and delivers notifications as WeChat Pay would.
type Sender struct {
	// Client delivers; its Timeout should be WeChat Pay's 5 s (NewSender sets it).
	Client *http.Client

	mchID, appID string
	apiv3Key     wechatpay.APIv3Key
	apiv2Key     string // v2 XML notifications (TriggerV2)
	signer       *wechatpay.PlatformSigner
	mode         string
}

// WeChatPayTimeout is how long WeChat Pay waits for the answer to a notification: the
// merchant must verify and answer within 5 seconds or the delivery counts as failed.
const WeChatPayTimeout = 5 * time.Second

// NewSender prepares a sender from a keys directory identity. mode is ModeCert,
// ModePubKey or "" (certificate if the directory has one, else public key).
func NewSender(id *keysdir.Identity, mode string) (*Sender, error) {
	if id.PlatformKey == nil {
		return nil, ErrNoPlatformKey
	}
	if mode == "" {
		mode = ModeCert
		if id.PlatformCert == nil {
			mode = ModePubKey
		}
	}
	var serial string
	var pub *rsa.PublicKey
	switch mode {
	case ModeCert:
		if id.PlatformCert == nil {
			return nil, fmt.Errorf("--mode cert needs %s in the keys dir", keysdir.FilePlatformCert)
		}
		serial, pub = id.PlatformSerial(), id.PlatformCert.PublicKey.(*rsa.PublicKey)
	case ModePubKey:
		if id.PlatformPublicKey == nil || id.PlatformPublicKeyID == "" {
			return nil, fmt.Errorf("--mode pubkey needs %s and %s in the keys dir", keysdir.FilePlatformPublicKey, keysdir.FilePlatformPublicKeyID)
		}
		serial, pub = id.PlatformPublicKeyID, id.PlatformPublicKey
	default:
		return nil, fmt.Errorf("mode %q: want %s or %s", mode, ModeCert, ModePubKey)
	}
	// A signature the endpoint's configured key cannot verify would make every verdict
	// a false alarm, so refuse a directory whose private and public halves disagree.
	if !pub.Equal(&id.PlatformKey.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to the %s key (serial %s) in the keys dir", keysdir.FilePlatformKey, mode, serial)
	}
	return &Sender{
		mchID: id.MchID, appID: id.AppID, apiv3Key: id.APIv3Key, apiv2Key: id.APIv2Key, mode: mode,
		signer: &wechatpay.PlatformSigner{Serial: serial, Key: id.PlatformKey},
		Client: NewClient(WeChatPayTimeout),
	}, nil
}

// NewClient is an HTTP client that behaves like WeChat Pay's notifier for our purposes:
// a hard timeout and no redirect following, so a 301/302 is reported as the answer it is
// rather than silently succeeding against another URL.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// now is the wall clock: a notification's timestamp is a signature timestamp, which
// the endpoint checks against its own clock (±5 min).
func (s *Sender) now() time.Time { return time.Now() }

// Event describes the business content of one notification.
type Event struct {
	Type          string // wechatpay.EventTransactionSuccess, EventRefund…
	OutTradeNo    string
	Amount        int64 // order total, fen
	RefundAmount  int64 // refunds only; defaults to Amount
	OutRefundNo   string
	TransactionID string // generated when empty
	RefundID      string // generated when empty
	OpenID        string // generated when empty
	// SubMchID names the sub-merchant of a service provider's or platform's order: the
	// notification then carries sp_appid/sp_mchid (the keys dir's) and sub_mchid, as
	// WeChat Pay sends it for partner and e-commerce orders ("": a direct merchant's).
	SubMchID string
}

// message is one built notification.
type message struct {
	Envelope  wechatpay.Notification
	Body      []byte // the exact bytes to sign and send
	Plaintext []byte // the decrypted resource, for display and tests
}

// fakeIDs makes the WeChat-shaped ids of a triggered notification (the simulator's).
var fakeIDs = paysim.NewIDs(nil)

// build makes the plaintext resource for ev, encrypts it and wraps it in the envelope.
func (s *Sender) build(ev Event) (*message, error) {
	if err := wechatpay.ValidateOutTradeNo("out_trade_no", ev.OutTradeNo, 32); err != nil {
		return nil, err
	}
	if err := wechatpay.ValidateAmount("amount", ev.Amount); err != nil {
		return nil, err
	}
	if ev.SubMchID != "" && strings.Trim(ev.SubMchID, "0123456789") != "" {
		return nil, fmt.Errorf("sub_mchid %q is not a merchant number (digits)", ev.SubMchID)
	}
	now := s.now().In(clock.CST)
	if ev.TransactionID == "" {
		ev.TransactionID = fakeIDs.TransactionID(now)
	}
	var (
		plaintext    any
		refundStatus string
	)
	switch ev.Type {
	case wechatpay.EventTransactionSuccess:
		if ev.OpenID == "" {
			ev.OpenID = fakeIDs.OpenID()
		}
		tx := wechatpay.Transaction{
			AppID: s.appID, MchID: s.mchID, OutTradeNo: ev.OutTradeNo, TransactionID: ev.TransactionID,
			TradeType: wechatpay.TradeTypeJSAPI, TradeState: wechatpay.TradeStateSuccess,
			TradeStateDesc: "支付成功", BankType: "OTHERS", SuccessTime: now.Format(time.RFC3339),
			Payer:  &wechatpay.Payer{OpenID: ev.OpenID},
			Amount: &wechatpay.Amount{Total: ev.Amount, PayerTotal: ev.Amount, Currency: "CNY", PayerCurrency: "CNY"},
		}
		if ev.SubMchID != "" {
			// A partner payment names both merchants; the payer is the sp_appid's user.
			tx.AppID, tx.MchID, tx.SpAppID, tx.SpMchID, tx.SubMchID = "", "", s.appID, s.mchID, ev.SubMchID
			tx.Payer = &wechatpay.Payer{SpOpenID: ev.OpenID}
		}
		plaintext = tx
	case wechatpay.EventRefundSuccess, wechatpay.EventRefundAbnormal, wechatpay.EventRefundClosed:
		if err := wechatpay.ValidateOutTradeNo("out_refund_no", ev.OutRefundNo, 64); err != nil {
			return nil, err
		}
		refund := ev.RefundAmount
		if refund == 0 {
			refund = ev.Amount
		}
		if refund <= 0 || refund > ev.Amount {
			return nil, fmt.Errorf("refund amount %d fen must be between 1 and the order amount %d", refund, ev.Amount)
		}
		if ev.RefundID == "" {
			ev.RefundID = fakeIDs.RefundID(now)
		}
		switch ev.Type {
		case wechatpay.EventRefundSuccess:
			refundStatus = wechatpay.RefundStatusSuccess
		case wechatpay.EventRefundAbnormal:
			refundStatus = wechatpay.RefundStatusAbnormal
		default:
			refundStatus = wechatpay.RefundStatusClosed
		}
		n := wechatpay.RefundNotice{
			MchID: s.mchID, OutTradeNo: ev.OutTradeNo, TransactionID: ev.TransactionID,
			OutRefundNo: ev.OutRefundNo, RefundID: ev.RefundID, RefundStatus: refundStatus,
			UserReceivedAccount: "支付用户零钱",
			Amount:              wechatpay.RefundAmount{Total: ev.Amount, Refund: refund, PayerTotal: ev.Amount, PayerRefund: refund},
		}
		if ev.SubMchID != "" {
			n.MchID, n.SpMchID, n.SubMchID = "", s.mchID, ev.SubMchID
		}
		if refundStatus == wechatpay.RefundStatusSuccess {
			n.SuccessTime = now.Format(time.RFC3339) // only a successful refund has one
		}
		plaintext = n
	default:
		return nil, fmt.Errorf("event %q: want one of %v", ev.Type, Events)
	}
	aead, err := wechatpay.NewAEAD(s.apiv3Key)
	if err != nil {
		return nil, err
	}
	env, body, err := wechatpay.SealNotification(aead, ev.Type, plaintext, now)
	if err != nil {
		return nil, err
	}
	pt, err := json.Marshal(plaintext)
	if err != nil {
		return nil, fmt.Errorf("encode resource: %w", err)
	}
	return &message{Envelope: env, Body: body, Plaintext: pt}, nil
}

// sign returns the Wechatpay-* headers for body. With signTest the signature is a
// WECHATPAY/SIGNTEST/ probe, as WeChat Pay sends to check that merchants verify: the
// body and other headers are genuine, so only a verifying endpoint can tell.
func (s *Sender) sign(body []byte, signTest bool) (wechatpay.SignatureHeaders, error) {
	p := *s.signer
	p.Now = s.now
	h, err := p.Sign(body)
	if err != nil {
		return h, fmt.Errorf("sign: %w", err)
	}
	if signTest {
		junk := make([]byte, 256)
		_, _ = rand.Read(junk)
		h.Signature = wechatpay.SignTestPrefix + base64.StdEncoding.EncodeToString(junk)
	}
	return h, nil
}
