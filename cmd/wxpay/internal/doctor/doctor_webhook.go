package doctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/webhook"
)

// checkWebhook posts a signed "ping" event to WXPAY_WEBHOOK_URL, as the bundle posts
// merchant events, and wants a 2xx: anything else the bundle would retry forever.
func (d *Doctor) checkWebhook(ctx context.Context) Check {
	const name = "webhook"
	b := d.Config.Bundle
	if b.WebhookURL == "" {
		if b.EventBus != "" {
			return skip(name, "merchant events go to the event bus "+b.EventBus+" (not checked)")
		}
		return skip(name, config.EnvWebhookURL+" not set: merchant events are not pushed (read them with GET /events)")
	}
	if b.WebhookSecret.IsZero() {
		return fail(name, config.EnvWebhookURL+" is set but "+config.EnvWebhookSecret+" is not: events could not be signed",
			"设置 "+config.EnvWebhookSecret+"（或 keys dir 中的 webhook_secret 文件），商户端用它校验 Wxpay-Signature",
			"set "+config.EnvWebhookSecret+" (or the keys dir file webhook_secret); the receiver checks Wxpay-Signature with it")
	}
	now := d.now()
	id := "evt_doctor_" + strings.ToLower(rand.Text()[:16])
	body, _ := json.Marshal(map[string]any{
		"id": id, "type": "ping", "created_at": now.UTC().Format(time.RFC3339),
		"data": map[string]string{"message": "wxpay doctor: a signed test event; acknowledge it with any 2xx"},
	})
	ctx, cancel := context.WithTimeout(ctx, trigger.WeChatPayTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fail(name, fmt.Sprintf("%s is not a usable URL: %v", config.EnvWebhookURL, err), "填写完整的 https:// 地址", "give a full https:// URL")
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed as the deliverer signs (webhook.Sign): a receiver that accepts this ping
	// accepts real events.
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(body, now, b.WebhookSecret.Reveal()))
	req.Header.Set(webhook.HeaderEventID, id)
	hc := *d.httpClient()
	// As the deliverer: a redirect is not a delivery (the event's body does not follow it).
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return fail(name, fmt.Sprintf("%s is not reachable: %v", b.WebhookURL, err),
			"确认商户服务在运行、地址可从函数所在网络访问", "make sure the receiver runs and is reachable from where the functions run")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if loc := resp.Header.Get("Location"); loc != "" {
			b.WebhookURL += " (redirecting to " + loc + ": set the final URL)"
		}
		return fail(name, fmt.Sprintf("%s answered HTTP %d to a signed ping event: events would be retried, never acknowledged", b.WebhookURL, resp.StatusCode),
			"接收端应校验 Wxpay-Signature（HMAC-SHA256(secret, t + \".\" + body)）后对任何事件（包括 type=ping）返回 2xx",
			"the receiver should verify Wxpay-Signature (HMAC-SHA256(secret, t + \".\" + body)) and answer any event, type ping included, with a 2xx")
	}
	return ok(name, fmt.Sprintf("%s acknowledged a signed ping event (HTTP %d)", b.WebhookURL, resp.StatusCode))
}
