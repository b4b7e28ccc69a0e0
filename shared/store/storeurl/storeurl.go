// Package storeurl opens a store.Store from any STORE_URL, with every backend linked
// in, for programs that take whatever store they are pointed at: the CLI (`wxpay
// serve`, reconcile, billfetch, doctor) and the soak.
//
//	""                                   bbolt at $XDG_DATA_HOME/wxpay/wxpay.db (or ~/.local/share/…)
//	bolt:///abs/path.db, bolt://rel.db   bbolt file
//	dynamodb://TABLE?region=R&endpoint=URL&create=1
//	redis://[user:pass@]host:port/db?prefix=P, rediss://…
//
// DynamoDB reads its credentials through the AWS default chain (profiles, SSO, roles).
// A function's main does not use this package: it lists the drivers its platform
// needs (store.Driver; shared/host), so a Lambda bootstrap carries no Redis client and
// an SCF package no AWS SDK. Errors name the scheme, never the password.
package storeurl

import (
	"context"

	"github.com/paysls/wxpay/shared/awsconf/defaultchain"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
	"github.com/paysls/wxpay/shared/store/redisstore"
)

// drivers are every backend: bbolt (also the default store), DynamoDB through the AWS
// default chain, Redis.
func drivers() []store.Driver {
	return []store.Driver{boltstore.URL, dynamostore.URL(defaultchain.Load), redisstore.URL}
}

// Open opens the store named by rawURL ("" = the local default bbolt file).
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	return store.OpenURL(ctx, rawURL, drivers()...)
}

// defaultPath is the bbolt file used when no store URL is configured.
func defaultPath() (string, error) { return boltstore.DefaultPath() }
