// Package notify is the notify function: POST /notify receives WeChat Pay's v3 payment
// and refund notifications, verifies them on the raw bytes, decrypts them, applies them
// to the store through the payment state machine, and answers as WeChat Pay expects:
// 204 once the result is durably written (or was already), 4xx/5xx with
// {"code":"FAIL","message":…} otherwise, so that WeChat Pay retries.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// MaxBody bounds a notification body; real ones are a few KB.
const MaxBody = 1 << 20

// Handler serves POST /notify.
type Handler struct {
	Verifier *wechatpay.Verifier
	AEAD     *wechatpay.AEAD
	Store    store.Store
	Logger   *slog.Logger
	Now      func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "WeChat Pay notifications are POSTed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		fail(w, http.StatusBadRequest, "could not read the body")
		return
	}
	if len(body) > MaxBody {
		fail(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB is not a WeChat Pay notification")
		return
	}
	log = log.With("request_id", r.Header.Get(wechatpay.HeaderRequestID), "serial", r.Header.Get(wechatpay.HeaderSerial))
	res, status, err := h.handle(r.Context(), wechatpay.HeadersFrom(r.Header), body)
	if err != nil {
		log.Warn("notification rejected", "status", status, "error", err.Error())
		fail(w, status, err.Error())
		return
	}
	log.Info("notification applied", "event_type", res.event, "notification_id", res.id, "key", res.key, "outcome", string(res.outcome), "state", res.state)
	w.WriteHeader(http.StatusNoContent)
}

type result struct {
	event, id, key, state string
	outcome               payment.Outcome
}

// handle verifies, decrypts and applies one notification. It returns the HTTP status
// to answer on error: 401 for anything about the signature, 400 for input that can
// never succeed, 500 when the failure may pass (store down) so WeChat Pay retries.
func (h *Handler) handle(ctx context.Context, sh wechatpay.SignatureHeaders, body []byte) (result, int, error) {
	if len(body) > 0 && body[0] == '<' {
		return result{}, http.StatusBadRequest, errors.New("this is a v2 XML notification (APIv2, or a refund made by hand in the merchant platform); this endpoint takes v3 JSON notifications")
	}
	if err := h.Verifier.Verify(ctx, sh, body); err != nil {
		return result{}, http.StatusUnauthorized, err
	}
	var n wechatpay.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return result{}, http.StatusBadRequest, errors.New("body is not a notification JSON object: " + err.Error())
	}
	if n.Resource.Algorithm != wechatpay.AlgorithmAEAD {
		return result{}, http.StatusBadRequest, errors.New("resource.algorithm is " + n.Resource.Algorithm + ", want " + wechatpay.AlgorithmAEAD)
	}
	plain, err := h.AEAD.Open(n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext)
	if err != nil {
		// A genuine, signed notification that does not decrypt means our APIv3 key is
		// wrong: a 500 keeps WeChat Pay retrying while the key is fixed.
		return result{}, http.StatusInternalServerError, err
	}
	res := result{event: n.EventType, id: n.ID}
	var rec store.Record
	switch n.EventType {
	case wechatpay.EventTransactionSuccess:
		var tx wechatpay.Transaction
		if err := json.Unmarshal(plain, &tx); err != nil {
			return res, http.StatusBadRequest, errors.New("decrypted transaction is not JSON: " + err.Error())
		}
		res.outcome, rec, err = payment.ApplyTransaction(ctx, h.Store, &tx, "notify", h.now())
	case wechatpay.EventRefundSuccess, wechatpay.EventRefundAbnormal, wechatpay.EventRefundClosed:
		var rn wechatpay.RefundNotice
		if err := json.Unmarshal(plain, &rn); err != nil {
			return res, http.StatusBadRequest, errors.New("decrypted refund is not JSON: " + err.Error())
		}
		res.outcome, rec, err = payment.ApplyRefund(ctx, h.Store, &rn, "notify", h.now())
	default:
		// Acknowledge events this bundle does not act on, or WeChat Pay retries for a day.
		res.outcome = "ignored"
		return res, 0, nil
	}
	if err != nil {
		// Nothing was written: a 500 makes WeChat Pay retry, and reconcile catches
		// whatever is still missed once the store is back.
		return res, http.StatusInternalServerError, err
	}
	res.key, res.state = rec.Key, rec.Attrs[payment.AttrState]
	return res, 0, nil
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wechatpay.NotifyAck{Code: "FAIL", Message: msg})
}
