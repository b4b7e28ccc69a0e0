package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
)

// resourceTypeEncrypted is the resource_type of every APIv3 notification.
const resourceTypeEncrypted = "encrypt-resource"

// Notification failure classes. Every error of ParseNotification matches exactly one,
// and NotifyStatus maps it to the HTTP status to answer. Any non-2xx answer makes
// WeChat Pay deliver again (for about 24 hours), so the status is for logs and
// dashboards; what matters is never answering 2xx to something not processed.
var (
	// ErrNotifySignature: the notification is not provably from WeChat Pay (missing or
	// bad signature, SIGNTEST probe, stale timestamp, unknown serial). Answer 401.
	ErrNotifySignature = errors.New("wechatpay: notification signature rejected")
	// ErrNotifyMalformed: signed, but not a notification this code understands (bad
	// JSON, unknown resource_type or algorithm, broken nonce/ciphertext encoding).
	// Answer 400: delivering the same bytes again cannot succeed.
	ErrNotifyMalformed = errors.New("wechatpay: malformed notification")
	// ErrNotifyDecrypt: signed and well-formed, yet the resource does not decrypt
	// under our APIv3 key. Since the signature proves WeChat Pay sent it, the APIv3 key
	// configured here is wrong. Answer 500: WeChat Pay keeps retrying, so nothing is
	// lost once the key is fixed.
	ErrNotifyDecrypt = errors.New("wechatpay: notification resource does not decrypt with the configured APIv3 key")
)

// NotifyError is a classified notification failure.
type NotifyError struct {
	Class error // ErrNotifySignature, ErrNotifyMalformed or ErrNotifyDecrypt
	Err   error // the cause
}

func (e *NotifyError) Error() string { return e.Class.Error() + ": " + e.Err.Error() }

// Unwrap exposes both the class and the cause to errors.Is/As.
func (e *NotifyError) Unwrap() []error { return []error{e.Class, e.Err} }

// NotifyStatus is the HTTP status to answer a notification that failed with err:
// 401 for signature problems, 400 for malformed ones, 500 otherwise (decryption with
// a wrong key, store failures: conditions WeChat Pay should retry through).
func NotifyStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotifySignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNotifyMalformed):
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

func notifyErr(class, err error) error { return &NotifyError{Class: class, Err: err} }

// ParseNotification verifies and decrypts an APIv3 notification: the signature over
// the raw body bytes first (nothing of an unverified body is parsed), then the
// envelope is decoded once, its resource type and algorithm checked, and the resource
// decrypted. It returns the envelope and the plaintext resource JSON.
func ParseNotification(ctx context.Context, v *Verifier, aead *AEAD, h SignatureHeaders, body []byte) (*Notification, []byte, error) {
	if v == nil || aead == nil {
		return nil, nil, fmt.Errorf("%w: ParseNotification needs a Verifier and an AEAD", ErrConfig)
	}
	if err := v.Verify(ctx, h, body); err != nil {
		return nil, nil, notifyErr(ErrNotifySignature, err)
	}
	n := new(Notification)
	if err := decodeEnvelope(body, n); err != nil {
		return nil, nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("envelope is not JSON: %w", err))
	}
	if n.ResourceType != resourceTypeEncrypted {
		return nil, nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("resource_type %q, want %q", n.ResourceType, resourceTypeEncrypted))
	}
	r := &n.Resource
	if r.Algorithm != AlgorithmAEAD {
		return nil, nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("resource.algorithm %q, want %s", r.Algorithm, AlgorithmAEAD))
	}
	pt, err := aead.Open(r.Nonce, r.AssociatedData, r.Ciphertext)
	if err != nil {
		if errors.Is(err, ErrDecrypt) {
			return nil, nil, notifyErr(ErrNotifyDecrypt, fmt.Errorf("notification %s (%s): %w", n.ID, n.EventType, err))
		}
		return nil, nil, notifyErr(ErrNotifyMalformed, err)
	}
	return n, pt, nil
}

// Notifier verifies and decrypts notifications with keys parsed once: build it at
// init and share it between invocations.
type Notifier struct {
	Verifier *Verifier
	AEAD     *AEAD
}

// Parse is ParseNotification with the Notifier's keys.
func (n *Notifier) Parse(ctx context.Context, h SignatureHeaders, body []byte) (*Notification, []byte, error) {
	return ParseNotification(ctx, n.Verifier, n.AEAD, h, body)
}

// DecodeTransaction decodes the plaintext of a TRANSACTION.* notification.
func DecodeTransaction(n *Notification, plaintext []byte) (*Transaction, error) {
	if !strings.HasPrefix(n.EventType, "TRANSACTION.") {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("event_type %q is not a payment notification", n.EventType))
	}
	var t Transaction
	if err := json.Unmarshal(plaintext, &t); err != nil {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("transaction resource: %w", err))
	}
	if t.OutTradeNo == "" || t.TradeState == "" {
		return nil, notifyErr(ErrNotifyMalformed, errors.New("transaction resource lacks out_trade_no or trade_state"))
	}
	return &t, nil
}

// DecodeRefundNotice decodes the plaintext of a REFUND.* notification.
func DecodeRefundNotice(n *Notification, plaintext []byte) (*RefundNotice, error) {
	if !strings.HasPrefix(n.EventType, "REFUND.") {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("event_type %q is not a refund notification", n.EventType))
	}
	var r RefundNotice
	if err := json.Unmarshal(plaintext, &r); err != nil {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("refund resource: %w", err))
	}
	if r.OutRefundNo == "" || r.RefundStatus == "" {
		return nil, notifyErr(ErrNotifyMalformed, errors.New("refund resource lacks out_refund_no or refund_status"))
	}
	return &r, nil
}

// NotificationInput describes a notification to build: what the simulator and
// `wxpay trigger` send, and what tests feed to handlers.
type NotificationInput struct {
	ID           string    // e.g. a UUID
	CreateTime   time.Time // written as RFC 3339 in UTC+8, as WeChat Pay does
	EventType    string    // EventTransactionSuccess, EventRefundSuccess, ...
	Summary      string    // e.g. 支付成功
	OriginalType string    // transaction, refund
	// AssociatedData is the resource's associated_data (WeChat Pay sends
	// "transaction" or "refund"; it may be empty).
	AssociatedData string
	Resource       []byte // plaintext resource JSON
}

// BuildNotification encrypts in.Resource with aead under a fresh random nonce and
// returns the envelope JSON. Sign the returned bytes with a PlatformSigner. Unlike
// SealNotification it takes every envelope field from the caller (id, summary,
// associated_data), which tests use to build exact cases such as an empty
// associated_data.
func BuildNotification(aead *AEAD, in NotificationInput) ([]byte, error) {
	_, body, err := buildNotification(aead, in)
	return body, err
}

func buildNotification(aead *AEAD, in NotificationInput) (Notification, []byte, error) {
	nonce := aeadNonce()
	ct, err := aead.Seal(nonce, in.AssociatedData, in.Resource)
	if err != nil {
		return Notification{}, nil, err
	}
	n := Notification{
		ID: in.ID, CreateTime: in.CreateTime.In(clock.CST).Format(time.RFC3339), ResourceType: resourceTypeEncrypted,
		EventType: in.EventType, Summary: in.Summary,
		Resource: EncryptedResource{OriginalType: in.OriginalType, Algorithm: AlgorithmAEAD, Ciphertext: ct,
			AssociatedData: in.AssociatedData, Nonce: nonce},
	}
	body, err := json.Marshal(n)
	if err != nil {
		return Notification{}, nil, fmt.Errorf("wechatpay: notification: %w", err)
	}
	return n, body, nil
}
