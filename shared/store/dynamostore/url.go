package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/store"
)

// URL is the store.Driver of dynamodb://TABLE?region=R&endpoint=URL&create=1, with the
// AWS configuration load gives (awsconf.FromEnv on Lambda, the default chain
// elsewhere). endpoint targets a local emulator; create=1 creates the table (with its
// index and TTL) if it is missing, otherwise the table must exist and nothing is
// contacted.
func URL(load awsconf.Loader) store.Driver {
	return store.Driver{
		Schemes: []string{"dynamodb"},
		What:    "DynamoDB",
		Open: func(ctx context.Context, u *url.URL, _ string) (store.Store, error) {
			return openURL(ctx, u, load)
		},
	}
}

// withLoader reads the AWS configuration with load instead of awsconf.FromEnv.
func withLoader(load awsconf.Loader) option {
	return func(s *settings) { s.load = load }
}

func openURL(ctx context.Context, u *url.URL, load awsconf.Loader) (store.Store, error) {
	table := u.Host
	if table == "" || strings.Trim(u.Path, "/") != "" {
		return nil, errors.New("dynamostore: dynamodb URL must name a table: dynamodb://TABLE?region=…")
	}
	if u.User != nil {
		return nil, errors.New("dynamostore: dynamodb URL must not carry credentials; use the AWS environment or profile")
	}
	opts := []option{withLoader(load)}
	create := false
	q := u.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := q[name][len(q[name])-1]
		switch name {
		case "region":
			opts = append(opts, WithRegion(v))
		case "endpoint":
			if _, err := url.ParseRequestURI(v); err != nil {
				return nil, fmt.Errorf("dynamostore: dynamodb endpoint %q is not a URL", v)
			}
			opts = append(opts, WithEndpoint(v))
		case "create":
			create = v == "1" || v == "true"
		default:
			return nil, fmt.Errorf("dynamostore: unknown dynamodb URL parameter %q (known: region, endpoint, create)", name)
		}
	}
	s, err := Open(ctx, table, opts...)
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
