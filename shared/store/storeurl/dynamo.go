//go:build !wxpay_noaws

package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/dynamostore"
)

func openDynamo(ctx context.Context, u *url.URL) (store.Store, error) {
	table := u.Host
	if table == "" || strings.Trim(u.Path, "/") != "" {
		return nil, errors.New("storeurl: dynamodb URL must name a table: dynamodb://TABLE?region=…")
	}
	if u.User != nil {
		return nil, errors.New("storeurl: dynamodb URL must not carry credentials; use the AWS environment or profile")
	}
	var opts []dynamostore.Option
	create := false
	for name, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch name {
		case "region":
			opts = append(opts, dynamostore.WithRegion(v))
		case "endpoint":
			if _, err := url.ParseRequestURI(v); err != nil {
				return nil, fmt.Errorf("storeurl: dynamodb endpoint %q is not a URL", v)
			}
			opts = append(opts, dynamostore.WithEndpoint(v))
		case "create":
			create = v == "1" || v == "true"
		default:
			return nil, fmt.Errorf("storeurl: unknown dynamodb URL parameter %q (known: region, endpoint, create)", name)
		}
	}
	s, err := dynamostore.Open(ctx, table, opts...)
	if err != nil {
		return nil, err
	}
	if create {
		if err := s.CreateTable(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

const openDynamoIsOff = false
