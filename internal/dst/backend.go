package dst

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
	"github.com/paysls/wxpay/shared/store/redisstore"
)

// Store backends a history runs on.
const (
	Bolt   = "bolt"
	Redis  = "redis"
	Dynamo = "dynamodb"
)

// backend is a history's own store: open connects to it (again after a crash: the
// data is the same, the connection new), destroy removes it after the history.
type backend interface {
	open() (store.Store, error)
	destroy()
}

// namespaces keeps two runs of one seed in one process apart on a shared server.
var namespaces atomic.Int64

func (o Options) openBackend(tmp string, seed int64) (backend, error) {
	ns := fmt.Sprintf("dst%d-%d", seed, namespaces.Add(1))
	switch o.Backend {
	case "", Bolt:
		return boltBackend(filepath.Join(tmp, "wxpay.db")), nil
	case Redis:
		if o.RedisAddr == "" {
			return nil, fmt.Errorf("dst: backend redis needs Options.RedisAddr")
		}
		return &redisBackend{addr: o.RedisAddr, prefix: ns + ":"}, nil
	case Dynamo:
		if o.DynamoEndpoint == "" {
			return nil, fmt.Errorf("dst: backend dynamodb needs Options.DynamoEndpoint")
		}
		return &dynamoBackend{endpoint: o.DynamoEndpoint, table: ns}, nil
	}
	return nil, fmt.Errorf("dst: unknown backend %q (bolt, redis or dynamodb)", o.Backend)
}

// boltBackend reopens the same file: what a restarted process finds on disk.
type boltBackend string

func (b boltBackend) open() (store.Store, error) { return boltstore.Open(string(b)) }
func (b boltBackend) destroy()                   {}

type redisBackend struct{ addr, prefix string }

func (b *redisBackend) open() (store.Store, error) {
	return redisstore.Open(context.Background(), "redis://"+b.addr+"/0?durability=none", redisstore.WithPrefix(b.prefix))
}

func (b *redisBackend) destroy() {
	c := redis.NewClient(&redis.Options{Addr: b.addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, b.prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}

type dynamoBackend struct {
	endpoint, table string
	created         bool
}

func (b *dynamoBackend) open() (store.Store, error) {
	s, err := dynamostore.Open(context.Background(), b.table, dynamostore.WithRegion("us-east-1"),
		dynamostore.WithEndpoint(b.endpoint), dynamostore.WithStaticCredentials("dst", "dst"))
	if err != nil {
		return nil, err
	}
	if !b.created {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.CreateTable(ctx); err != nil {
			return nil, err
		}
		b.created = true
	}
	return s, nil
}

// destroy leaves the table: moto keeps it in memory until the test server stops.
func (b *dynamoBackend) destroy() {}
