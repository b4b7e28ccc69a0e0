//go:build wxpay_noaws

package storeurl

import (
	"context"
	"errors"
	"net/url"

	"github.com/paysls/wxpay/shared/store"
)

func openDynamo(context.Context, *url.URL) (store.Store, error) {
	return nil, errors.New("storeurl: this binary was built without AWS (-tags wxpay_noaws, the Tencent SCF build) and cannot open dynamodb:// stores; use redis:// or a build without the tag")
}

const openDynamoIsOff = true
