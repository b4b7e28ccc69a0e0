package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

var (
	errMethod = errors.New("WeChat Pay notifications are POSTed")
	// errDeadline: the work did not finish within the budget. Answered 503 before
	// WeChat Pay's own 5 s timeout, so that WeChat Pay retries.
	errDeadline = errors.New("the notification was not recorded within the handler's budget (store too slow or unreachable)")
)

// answers is POST /notify's one error→status table, for both formats: the first row
// whose error matches decides. Any non-2xx makes WeChat Pay deliver again, for about
// 24 hours; 4xx says the notification itself can never succeed, 5xx that a retry may.
// An empty msg answers the error's own text — problems with the notification (its
// signature, its format, a wrong APIv3 or missing APIv2 key) are explained, because
// that is what a person testing the endpoint needs; a fixed msg keeps what is internal
// (certificate download failures, the store) for the log, because anyone can POST here.
var answers = []struct {
	err    error
	status int
	msg    string
}{
	{errMethod, http.StatusMethodNotAllowed, ""},
	{errDeadline, http.StatusServiceUnavailable, "the notification could not be recorded in time; it was not applied — retry"},
	{wechatpay.ErrUnknownSerial, http.StatusUnauthorized, "the Wechatpay-Serial of this notification matches no platform certificate or public key this deployment knows, also after refreshing its platform certificates: " +
		"check that this notify_url belongs to the merchant that signed it, or configure the platform public key (PUB_KEY_ID_…) it is signed with"},
	{wechatpay.ErrNotifySignature, http.StatusUnauthorized, ""}, // v3 headers, v2 sign or req_info
	{wechatpay.ErrNotifyMalformed, http.StatusBadRequest, ""},   // not a notification this code understands; oversized
	{payment.ErrInvalid, http.StatusBadRequest, ""},             // a result no retry can make applicable
	{wechatpay.ErrNotifyDecrypt, http.StatusInternalServerError, ""},
	{wxv2.ErrNoKey, http.StatusInternalServerError, ""},
}

// failedToRecord answers every other error (the store failing).
const failedToRecord = "temporary failure recording the notification; it was not applied — retry"

// statusOf looks err up in answers.
func statusOf(err error) (int, string) {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			return a.status, cmp.Or(a.msg, err.Error())
		}
	}
	return http.StatusInternalServerError, failedToRecord
}

// answer writes the answer in the notification's own format, and logs a refusal.
func answer(ctx context.Context, w http.ResponseWriter, log *slog.Logger, f format, err error) {
	if err == nil {
		if f == v2 {
			wxv2.WriteAck(w)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	status, msg := statusOf(err)
	lvl := slog.LevelWarn
	if status >= http.StatusInternalServerError {
		lvl = slog.LevelError
	}
	log.Log(ctx, lvl, "notification rejected", "status", status, "error", err.Error())
	if f == v2 {
		wxv2.WriteFail(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wechatpay.NotifyAck{Code: "FAIL", Message: msg})
}
