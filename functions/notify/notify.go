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
	"log/slog"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Handler serves POST /notify.
type Handler struct {
	Notifier *wechatpay.Notifier
	// Ledger applies results to the store (its Merchants guard against foreign ones).
	Ledger *payment.Ledger
	Logger *slog.Logger
	// APIv2Key verifies v2 XML notifications (v2.go); unset, they are refused with a
	// message saying to set WXPAY_APIV2_KEY.
	APIv2Key config.Secret
	// Deliverer, when set with a Sink, sends the merchant event a notification's
	// transition recorded once, right after the write and before the answer, within
	// DeliverWithin. Whatever it does not deliver stays in the outbox for the timer
	// (`wxpay serve`) or reconcile.
	Deliverer *events.Deliverer
	// Budget bounds the whole request (verification, certificate download, store
	// writes, the delivery attempt): WeChat Pay gives a notify_url 5 s and counts a
	// slower answer as failed. Default DefaultBudget.
	Budget time.Duration
	// DeliverWithin bounds the immediate delivery attempt. Default DefaultDeliverWithin.
	DeliverWithin time.Duration
}

// Defaults of Handler's time limits.
const (
	DefaultBudget        = 4 * time.Second
	DefaultDeliverWithin = time.Second
)

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
	if h.serveV2(w, r, log) {
		return
	}
	log = log.With("request_id", r.Header.Get(wechatpay.HeaderRequestID), "serial", r.Header.Get(wechatpay.HeaderSerial))
	budget := h.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	res, err := h.handleWithin(ctx, r.WithContext(ctx))
	if err != nil {
		status := wechatpay.NotifyStatus(err)
		switch {
		case errors.Is(err, payment.ErrInvalid):
			// Input that can never succeed: 400, so WeChat Pay does not retry it for a day.
			status = http.StatusBadRequest
		case errors.Is(err, errDeadline):
			status = http.StatusServiceUnavailable
		}
		lvl := slog.LevelWarn
		if status >= http.StatusInternalServerError {
			lvl = slog.LevelError
		}
		log.Log(ctx, lvl, "notification rejected", "status", status, "event_type", res.event, "notification_id", res.id, "error", err.Error())
		fail(w, status, publicMessage(status, err))
		return
	}
	h.logOutcome(ctx, log, res)
	if res.applied.Event != nil {
		h.deliverNow(ctx, log, res.applied.Record)
	}
	w.WriteHeader(http.StatusNoContent)
}

type result struct {
	event, id, key, state string
	outcome               payment.Outcome
	applied               payment.Result
}

// errV2XML is answered to v2 notifications, which arrive as XML.
var errV2XML = &wechatpay.NotifyError{Class: wechatpay.ErrNotifyMalformed,
	Err: errors.New("this is a v2 XML notification (APIv2, or a refund made by hand in the merchant platform); this endpoint takes v3 JSON notifications")}

// handle verifies, decrypts and applies one notification. Its error maps to the HTTP
// status through wechatpay.NotifyStatus: 401 for the signature, 400 for input that can
// never succeed, 500 for everything that may pass (a wrong APIv3 key, the store down),
// so that WeChat Pay retries.
func (h *Handler) handle(r *http.Request) (result, error) {
	var res result
	env, plain, body, err := h.Notifier.ParseRequest(r)
	if err != nil {
		if len(body) > 0 && body[0] == '<' {
			return res, errV2XML
		}
		return res, err
	}
	res.event, res.id = env.EventType, env.ID
	ctx := r.Context()
	var applied payment.Result
	switch env.EventType {
	case wechatpay.EventTransactionSuccess:
		tx, err := wechatpay.DecodeTransaction(env, plain)
		if err != nil {
			return res, err
		}
		applied, err = h.Ledger.ApplyTransaction(ctx, tx, "notify")
		if err != nil {
			return res, err
		}
	case wechatpay.EventRefundSuccess, wechatpay.EventRefundAbnormal, wechatpay.EventRefundClosed:
		rn, err := wechatpay.DecodeRefundNotice(env, plain)
		if err != nil {
			return res, err
		}
		applied, err = h.Ledger.ApplyRefund(ctx, rn, "notify")
		if err != nil {
			return res, err
		}
	default:
		// Acknowledge events this bundle does not act on, or WeChat Pay retries for a day.
		res.outcome = "ignored"
		return res, nil
	}
	res.outcome, res.key, res.state = applied.Outcome, applied.Record.Key, stateOf(applied)
	res.applied = applied
	return res, nil
}

// publicMessage is what the answer body says. Problems with the notification itself
// (signature, format, a wrong APIv3 key) are explained, because that is what a person
// testing the endpoint needs; internal failures (the store) are not, because anyone
// can POST here — the log has the detail.
func publicMessage(status int, err error) string {
	if errors.Is(err, wechatpay.ErrUnknownSerial) {
		// The resolver's error may carry the certificate download's failure (addresses,
		// DNS answers): that is for the log. The sender is told what is wrong with its
		// notification.
		return "the Wechatpay-Serial of this notification matches no platform certificate or public key this deployment knows, also after refreshing its platform certificates: check that this notify_url belongs to the merchant that signed it, or configure the platform public key (PUB_KEY_ID_…) it is signed with"
	}
	if errors.Is(err, errDeadline) {
		return "the notification could not be recorded in time; it was not applied — retry"
	}
	if status < http.StatusInternalServerError || errors.Is(err, wechatpay.ErrNotifyDecrypt) {
		return err.Error()
	}
	return "temporary failure recording the notification; it was not applied — retry"
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wechatpay.NotifyAck{Code: "FAIL", Message: msg})
}

// stateOf is the state a ledger call left, for the log line.
func stateOf(r payment.Result) string {
	switch {
	case r.Refund != nil:
		return r.Refund.Status()
	case r.Order != nil:
		return r.Order.Status()
	}
	return ""
}
