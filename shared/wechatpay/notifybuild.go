package wechatpay

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
)

// eventSummaries are the summary texts WeChat Pay puts in notification envelopes.
var eventSummaries = map[string]string{
	EventTransactionSuccess: "支付成功",
	EventRefundSuccess:      "退款成功",
	EventRefundAbnormal:     "退款异常",
	EventRefundClosed:       "退款关闭",
}

// SealNotification builds a notification body the way WeChat Pay does: resource
// marshalled to JSON and encrypted with AEAD_AES_256_GCM under a fresh 12-character
// nonce, associated_data and original_type "transaction" or "refund" by event, wrapped
// in the envelope. Sign the returned bytes with PlatformSigner.Sign to deliver them.
// It is what the simulator, `wxpay trigger` and the tests send.
func SealNotification(aead *AEAD, eventType string, resource any, now time.Time) (Notification, []byte, error) {
	plain, err := json.Marshal(resource)
	if err != nil {
		return Notification{}, nil, fmt.Errorf("wechatpay: notification resource: %w", err)
	}
	original := "transaction"
	if strings.HasPrefix(eventType, "REFUND.") {
		original = "refund"
	}
	summary := eventSummaries[eventType]
	if summary == "" {
		summary = eventType
	}
	return buildNotification(aead, NotificationInput{ID: newUUID(), CreateTime: now, EventType: eventType,
		Summary: summary, OriginalType: original, AssociatedData: original, Resource: plain})
}

// FormatTime writes t as WeChat Pay does (RFC 3339 in +08:00), e.g. success_time.
func FormatTime(t time.Time) string { return t.In(clock.CST).Format(time.RFC3339) }

// newUUID is a random RFC 4122 version-4 id, the shape of notification ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// aeadNonce is a fresh 12-character AEAD_AES_256_GCM nonce.
func aeadNonce() string { return rand.Text()[:12] }
