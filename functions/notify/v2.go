package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// APIv2 XML notifications. Merchants on APIv3 still receive them: a refund made by hand
// in the merchant platform (商户平台手动退款) is always notified in v2 XML, and orders
// placed through APIv2 are notified that way too. They arrive at the same notify_url,
// so POST /notify tells them apart by the body (XML, not JSON), verifies them with the
// APIv2 key (sign for payments, req_info's encryption for refunds), converts them to the
// v3 shapes and applies them through the payment package exactly as v3 notifications.
// The answer is XML, as v2 expects: 200 with return_code SUCCESS once durably applied
// (or already), else FAIL with the reason — 401 for a forged one, 400 for a malformed
// one, 500 for what may pass on retry.

// sourceV2 is the source recorded on what a v2 notification applies.
const sourceV2 = "notify-v2"

// applyV2 is the one call site of the payment package for v2 notifications: the same
// transitions as v3. n carries either a successful payment or a refund result.
func applyV2(ctx context.Context, l *payment.Ledger, n *wxv2.Notification) (payment.Result, error) {
	if n.Refund != nil {
		return l.ApplyRefund(ctx, n.Refund, sourceV2)
	}
	return l.ApplyTransaction(ctx, n.Transaction, sourceV2)
}

// errNoV2Key refuses XML when no APIv2 key is configured. 500, so that WeChat Pay keeps
// retrying (for about 24 hours) and nothing is lost once the key is set.
var errNoV2Key = fmt.Errorf("%w: this is an APIv2 XML notification (a refund made by hand in the merchant platform, or an APIv2 order), "+
	"and verifying it needs the APIv2 key: set %s (商户平台 → 账户中心 → API安全 → APIv2密钥; keys dir file apiv2_key) — "+
	"WeChat Pay retries for about 24 hours, so nothing is lost once it is set", wxv2.ErrNoKey, config.EnvAPIv2Key)

// serveV2 answers the request when its body is XML and reports whether it did;
// otherwise the body is put back untouched for the v3 path.
func (h *Handler) serveV2(w http.ResponseWriter, r *http.Request, log *slog.Logger) bool {
	body, isXML, err := peekXML(r)
	if !isXML {
		return false
	}
	log = log.With("format", "v2")
	if err != nil {
		log.Warn("notification rejected", "status", http.StatusBadRequest, "error", err.Error())
		wxv2.WriteFail(w, http.StatusBadRequest, err.Error())
		return true
	}
	res, err := h.handleV2(r.Context(), body)
	if err != nil {
		status := wechatpay.NotifyStatus(err)
		if errors.Is(err, payment.ErrInvalid) {
			status = http.StatusBadRequest
		}
		log.Warn("notification rejected", "status", status, "event_type", res.event, "notification_id", res.id, "error", err.Error())
		msg := publicMessage(status, err)
		if errors.Is(err, wxv2.ErrNoKey) {
			msg = err.Error()
		}
		wxv2.WriteFail(w, status, msg)
		return true
	}
	attrs := []any{"event_type", res.event, "notification_id", res.id, "key", res.key, "outcome", string(res.outcome), "state", res.state}
	if res.outcome == payment.Review {
		// The ledger made the REVIEW loud (ERROR + metric) once.
		log.Info("notification applied; the record is in REVIEW", append(attrs, "reason", res.reason)...)
	} else {
		log.Info("notification applied", attrs...)
	}
	wxv2.WriteAck(w)
	return true
}

// handleV2 verifies, converts and applies one v2 notification.
func (h *Handler) handleV2(ctx context.Context, body []byte) (v2result, error) {
	var res v2result
	key := string(h.APIv2Key.Reveal())
	if key == "" {
		return res, errNoV2Key
	}
	n, err := wxv2.Parse(body, key)
	if err != nil {
		return res, err
	}
	res.event = "v2." + n.Kind
	switch {
	case n.Refund != nil:
		res.id = n.Refund.RefundID
	case n.Transaction != nil:
		res.id = n.Transaction.TransactionID
	default:
		// A signed result_code FAIL: the payment failed, nothing to apply. Acknowledge
		// it, or WeChat Pay retries for a day.
		res.outcome = "ignored"
		return res, nil
	}
	applied, err := applyV2(ctx, h.Ledger, n)
	if err != nil {
		return res, err
	}
	res.outcome, res.key, res.state, res.reason = applied.Outcome, applied.Record.Key, stateOf(applied), applied.Reason
	return res, nil
}

type v2result struct {
	result
	reason string
}

// peekXML reads the body (bounded) when it starts with '<' (after blanks or a UTF-8
// BOM) and returns it; any other body is put back in r.Body as it was, unread.
func peekXML(r *http.Request) (body []byte, isXML bool, err error) {
	if r.Body == nil {
		return nil, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, wxv2.MaxBody+1))
	rest := bytes.TrimLeft(bytes.TrimPrefix(buf, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(rest) == 0 || rest[0] != '<' {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil, false, nil
	}
	switch {
	case err != nil:
		return nil, true, fmt.Errorf("reading the notification: %w", err)
	case len(buf) > wxv2.MaxBody:
		return nil, true, fmt.Errorf("notification body larger than %d bytes", wxv2.MaxBody)
	}
	return bytes.TrimPrefix(buf, []byte("\xef\xbb\xbf")), true, nil
}
