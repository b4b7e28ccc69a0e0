package wechatpay

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// beijing is the +08:00 offset WeChat Pay writes its times in.
var beijing = time.FixedZone("CST", 8*3600)

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
func SealNotification(aead *AEAD, eventType string, resource any, now time.Time) ([]byte, error) {
	plain, err := json.Marshal(resource)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: notification resource: %w", err)
	}
	original := "transaction"
	if strings.HasPrefix(eventType, "REFUND.") {
		original = "refund"
	}
	nonce, err := NewNonce(nil)
	if err != nil {
		return nil, err
	}
	nonce = nonce[:12]
	ct, err := aead.Seal(nonce, original, plain)
	if err != nil {
		return nil, err
	}
	var idb [16]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, fmt.Errorf("wechatpay: notification id: %w", err)
	}
	id := fmt.Sprintf("%x-%x-%x-%x-%x", idb[0:4], idb[4:6], idb[6:8], idb[8:10], idb[10:16])
	summary := eventSummaries[eventType]
	if summary == "" {
		summary = eventType
	}
	return json.Marshal(Notification{
		ID: id, CreateTime: now.In(beijing).Format(time.RFC3339), ResourceType: "encrypt-resource",
		EventType: eventType, Summary: summary,
		Resource: EncryptedResource{OriginalType: original, Algorithm: AlgorithmAEAD, Ciphertext: ct,
			AssociatedData: original, Nonce: nonce},
	})
}

// FormatTime writes t as WeChat Pay does (RFC 3339 in +08:00), e.g. success_time.
func FormatTime(t time.Time) string { return t.In(beijing).Format(time.RFC3339) }
