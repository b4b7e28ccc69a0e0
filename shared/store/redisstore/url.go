package redisstore

import (
	"context"
	"net/url"

	"github.com/paysls/wxpay/shared/store"
)

// URL is the store.Driver of redis:// and rediss:// URLs (Open).
var URL = store.Driver{
	Schemes: []string{"redis", "rediss"},
	What:    "Redis",
	Open: func(ctx context.Context, _ *url.URL, raw string) (store.Store, error) {
		return Open(ctx, raw)
	},
}
