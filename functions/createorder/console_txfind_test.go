package createorder_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/config"
)

// On a platform with two sub-merchants, a payment of the one that is not the default is
// found by its transaction_id alone, as the default's is.
func TestPlatformConsoleFindsAnotherSubMerchantsPaymentByTransactionID(t *testing.T) {
	for _, mode := range []config.Mode{config.ModePartner, config.ModeEcommerce} {
		t.Run(string(mode), func(t *testing.T) {
			e := newConsoleEnv(t, envOptions{partner: true, mutate: func(c *config.Config) { c.Bundle.Mode = mode }})
			const other = "1900000778"
			for _, sub := range []string{e.owner(), other} {
				no := "TXFIND" + sub[len(sub)-4:]
				if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": no, "amount": 500, "description": "x", "scene": "native", "sub_mchid": sub}); st != http.StatusCreated {
					t.Fatalf("create under %s: %d %v", sub, st, m)
				}
				e.pay(t, no)
				var txid string
				for range 200 {
					if o, err := e.ledger().Attempt(context.Background(), sub, no); err == nil && o.Payment != nil {
						txid = o.Payment.TransactionID
						break
					}
					<-e.notified.Next()
				}
				if txid == "" {
					t.Fatalf("%s/%s never paid", sub, no)
				}
				if page := e.get("/console/find?q=" + txid); !strings.Contains(page, no+" · SUCCESS") || !strings.Contains(page, sub) {
					t.Errorf("find %s (the payment of %s/%s):\n%.3000s", txid, sub, no, page)
				}
			}
		})
	}
}
