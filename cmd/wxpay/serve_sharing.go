package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/paysls/wxpay/internal/paysim"
)

// configureSimSharing points the simulator's profit-sharing notifications (分账动账通知,
// which WeChat Pay sends to the URL each MERCHANT_ID receiver set in its merchant
// platform — the platform's own among them) at the bundle's notify, so that `wxpay
// serve` follows splits and returns by notification as a deployed platform would. A
// URL set through the driver API (/sim/profitsharing/config) is left alone.
func configureSimSharing(sim *paysim.Simulator, notifyURL string, log *slog.Logger) {
	if sim == nil || notifyURL == "" {
		return
	}
	get := httptest.NewRecorder()
	sim.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/sim/profitsharing/config", nil))
	var cur struct {
		NotifyURL string `json:"notify_url"`
	}
	if json.Unmarshal(get.Body.Bytes(), &cur) == nil && cur.NotifyURL != "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"notify_url": notifyURL})
	set := httptest.NewRecorder()
	sim.ServeHTTP(set, httptest.NewRequest(http.MethodPost, "/sim/profitsharing/config", strings.NewReader(string(body))))
	if set.Code != http.StatusOK {
		log.Warn("simulator: profit-sharing notify URL not set", "status", set.Code, "body", set.Body.String())
	}
}
