//go:build wxpay_lambda && !wxpay_redis

package storeurl

import (
	"context"
	"errors"

	"github.com/paysls/wxpay/shared/store"
)

func openRedis(context.Context, string) (store.Store, error) {
	return nil, errors.New("storeurl: this Lambda binary was built without Redis (-tags wxpay_lambda); rebuild with -tags wxpay_lambda,wxpay_redis (make build LAMBDA_REDIS=1) to use redis:// stores")
}

const openRedisIsOff = true
