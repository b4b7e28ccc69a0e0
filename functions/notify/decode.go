package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// format is a notification's wire format, told from its body.
type format int

const (
	// v3: JSON signed with the Wechatpay-* headers, the resource AEAD-encrypted with the
	// APIv3 key. Answered 204, or 4xx/5xx with {"code":"FAIL","message":…}.
	v3 format = iota
	// v2: XML. Merchants on APIv3 still receive it: a refund made by hand in the
	// merchant platform (商户平台手动退款) is always notified in v2 XML, and orders placed
	// through APIv2 are too, at the same notify_url. Payments carry a sign (MD5 or
	// HMAC-SHA256 with the APIv2 key), refunds a req_info only the APIv2 key decrypts.
	// Answered with XML: 200 and return_code SUCCESS, or FAIL with return_msg
	// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_7&index=8).
	v2
)

func (f format) String() string {
	if f == v2 {
		return "v2"
	}
	return "v3"
}

// Sources recorded on what a notification applies.
const (
	sourceV3 = "notify"
	sourceV2 = "notify-v2"
)

// notice is one decoded notification, whatever its format: a payment result, a
// refund result, or neither — an event type this bundle does not act on, or a signed
// v2 failed payment — which is acknowledged all the same, or WeChat Pay retries it
// for a day.
type notice struct {
	event  string // v3 event_type, or v2.payment / v2.refund
	id     string // v3 notification id; v2 transaction_id or refund_id
	source string
	tx     *wechatpay.Transaction
	refund *wechatpay.RefundNotice
	// combine is a combine order's result (合单): every sub-order's (combine.go).
	combine *wechatpay.CombineTransaction
	// sharing is a profit-sharing notification (分账动账通知): a share or a return.
	sharing *wechatpay.ProfitSharingNotice
}

// maxBody bounds a notification body, either format: real ones are 1–2 KiB.
const maxBody = 64 << 10

var bom = []byte("\xef\xbb\xbf")

// read reads the body once, bounded, and tells the format: XML (after blanks or a
// UTF-8 BOM) is v2, anything else is taken for v3 JSON. A v3 body is returned as
// received, because its signature covers those exact bytes.
func read(r *http.Request) ([]byte, format, error) {
	if r.Body == nil {
		return nil, v3, malformed("empty body")
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	f := v3
	if rest := bytes.TrimLeft(bytes.TrimPrefix(buf, bom), " \t\r\n"); len(rest) > 0 && rest[0] == '<' {
		f = v2
	}
	switch {
	case err != nil:
		return nil, f, malformed("reading the notification: %v", err)
	case len(buf) > maxBody:
		return nil, f, malformed("notification body larger than %d bytes", maxBody)
	case f == v2:
		return bytes.TrimPrefix(buf, bom), f, nil
	}
	return buf, f, nil
}

func malformed(msg string, a ...any) error {
	return &wechatpay.NotifyError{Class: wechatpay.ErrNotifyMalformed, Err: fmt.Errorf(msg, a...)}
}

// decode verifies the notification and decodes it into a notice.
func (h *Handler) decode(ctx context.Context, f format, sig wechatpay.SignatureHeaders, body []byte) (notice, error) {
	if f == v2 {
		return h.decodeV2(body)
	}
	return h.decodeV3(ctx, sig, body)
}

// decodeV3 verifies the signature over the raw bytes, then decrypts the resource.
func (h *Handler) decodeV3(ctx context.Context, sig wechatpay.SignatureHeaders, body []byte) (notice, error) {
	env, plain, err := h.Notifier.Parse(ctx, sig, body)
	if err != nil {
		return notice{}, err
	}
	n := notice{event: env.EventType, id: env.ID, source: sourceV3}
	if wechatpay.IsProfitSharingNotice(env, plain) { // before payments, which may share TRANSACTION.SUCCESS
		n.sharing, err = wechatpay.DecodeProfitSharingNotice(env, plain)
		return n, err
	}
	switch env.EventType {
	case wechatpay.EventTransactionSuccess:
		if wechatpay.IsCombineResource(plain) { // a combine's: same event_type
			n.combine, err = wechatpay.DecodeCombineTransaction(env, plain)
			break
		}
		n.tx, err = wechatpay.DecodeTransaction(env, plain)
	case wechatpay.EventRefundSuccess, wechatpay.EventRefundAbnormal, wechatpay.EventRefundClosed:
		n.refund, err = wechatpay.DecodeRefundNotice(env, plain)
	}
	return n, err
}

// errNoV2Key refuses XML when no APIv2 key is configured. 500, so that WeChat Pay keeps
// retrying (for about 24 hours) and nothing is lost once the key is set. A type, not
// fmt.Errorf: at package init that was every cold start's first run of fmt (about
// 10 µs), for an error only a v2 notification without the key ever sees.
var errNoV2Key error = noV2Key{}

type noV2Key struct{}

func (noV2Key) Error() string {
	return wxv2.ErrNoKey.Error() + ": this is an APIv2 XML notification (a refund made by hand in the merchant platform, or an APIv2 order), " +
		"and verifying it needs the APIv2 key: set " + config.EnvAPIv2Key + " (商户平台 → 账户中心 → API安全 → APIv2密钥; keys dir file apiv2_key) — " +
		"WeChat Pay retries for about 24 hours, so nothing is lost once it is set"
}

func (noV2Key) Unwrap() error { return wxv2.ErrNoKey }

// decodeV2 verifies a v2 notification with the APIv2 key and converts it to the v3
// shapes, so that it applies exactly as a v3 one.
func (h *Handler) decodeV2(body []byte) (notice, error) {
	key := string(h.APIv2Key.Reveal())
	if key == "" {
		return notice{}, errNoV2Key
	}
	p, err := wxv2.Parse(body, key)
	if err != nil {
		return notice{}, err
	}
	n := notice{event: "v2." + p.Kind, source: sourceV2, tx: p.Transaction, refund: p.Refund}
	switch {
	case p.Refund != nil:
		n.id = p.Refund.RefundID
	case p.Transaction != nil:
		n.id = p.Transaction.TransactionID
	}
	return n, nil
}
