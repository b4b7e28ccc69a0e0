package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// go-redis has one process-wide logger, which by default prints plain-text lines
// ("redis: 2024/01/02 pool.go:…") to stderr, in the middle of the bundle's JSON log.
// Open replaces it, once, with an adapter that writes each line as one slog record
// (level WARN, component "go-redis") to the logger of the most recent Open.

// defaultLogger writes JSON to stderr, as the functions do.
func defaultLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(os.Stderr, nil)) }

var (
	redisLog     atomic.Pointer[slog.Logger]
	installRedis sync.Once
)

// slogAdapter is go-redis's Logging interface on top of slog.
type slogAdapter struct{}

func (slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	l := redisLog.Load()
	if l == nil {
		l = defaultLogger()
	}
	msg := strings.TrimSpace(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
	l.WarnContext(ctx, "go-redis: "+msg, "component", "go-redis")
}

// routeRedisLog makes go-redis log through l.
func routeRedisLog(l *slog.Logger) {
	redisLog.Store(l)
	installRedis.Do(func() { redis.SetLogger(slogAdapter{}) })
}
