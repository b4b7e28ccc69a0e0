//go:build !wxpay_lambda || wxpay_redis

package storeurl

import (
	"context"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/redisstore"
)

func openRedis(ctx context.Context, rawURL string) (store.Store, error) {
	return redisstore.Open(ctx, rawURL)
}

const openRedisIsOff = false
