// Package redisstore is the store.Store backend on Redis (a single node; not Cluster
// or Sentinel). Every write is one Lua script: one round trip that checks the
// condition, writes the hash, bumps the version, moves the record between pending
// indexes and sets its expiry, or returns the current record.
//
// A write Redis acknowledges is durable only if Redis persists it (appendonly yes,
// appendfsync everysec or always): Open checks the server's settings and warns when
// they fall short (durability.go).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paysls/wxpay/shared/store"
)

// defaultPrefix namespaces every key the store writes.
const defaultPrefix = "wxpay:"

// Store is a store.Store on Redis.
type Store struct {
	client redis.UniversalClient
	prefix string
	owned  bool // Close closes the client only if Open made it
	log    *slog.Logger
	// durability is Open's finding (nil for a store made with New); waived is the
	// URL's durability=none.
	durability *Durability
	waived     bool
}

var _ store.Store = (*Store)(nil)

// option configures Open.
type option func(*config)

type config struct {
	prefix string
	client []func(*redis.Options)
	log    *slog.Logger
}

// withLogger sets where the store's warnings and go-redis's own log lines go
// (default: JSON on stderr). go-redis has one logger per process: the last Open's
// logger receives them.
func withLogger(l *slog.Logger) option { return func(c *config) { c.log = l } }

// WithPrefix sets the key prefix (default "wxpay:").
func WithPrefix(p string) option { return func(c *config) { c.prefix = p } }

// withClientOptions adjusts the go-redis options parsed from the URL (timeouts, pool).
func withClientOptions(fn func(*redis.Options)) option {
	return func(c *config) { c.client = append(c.client, fn) }
}

// Open connects to redis://[user:pass@]host:port/db or rediss://… (TLS). The query
// parameter prefix=… sets the key prefix; durability=none accepts a server that does
// not persist acknowledged writes (see Durability); other parameters are go-redis's
// (e.g. dial_timeout=2s).
//
// Open makes one round trip: a PING, so that a wrong address or password fails here
// with a clear message rather than on the first notification, pipelined with CONFIG
// GET appendonly, appendfsync and save. DESIGN asks for no network at init; the PING
// predates this check, and the check rides in its round trip, so it costs a cold start
// nothing more. Checking lazily on the first write was the alternative, and worse: the
// warning would come only after a notification had been acknowledged on a server that
// may forget it. A server that is not durable (unless the URL waives it) is logged at
// WARN with what to set; Durability returns the finding and CheckDurability re-reads it.
func Open(ctx context.Context, rawURL string, opts ...option) (*Store, error) {
	cfg := config{prefix: defaultPrefix}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redisstore: malformed URL") // url errors echo the URL, password included
	}
	q := u.Query()
	if q.Has("prefix") {
		cfg.prefix = q.Get("prefix")
		q.Del("prefix")
	}
	waived := false
	if q.Has("durability") {
		switch v := q.Get("durability"); v {
		case "none":
			waived = true
		default:
			return nil, fmt.Errorf("redisstore: URL %s: unknown durability %q (the only value is none: accept losing acknowledged writes on a Redis restart)", u.Redacted(), v)
		}
		q.Del("durability")
	}
	u.RawQuery = q.Encode()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = defaultLogger()
	}
	routeRedisLog(cfg.log)
	ropts, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: URL %s: %w", u.Redacted(), err)
	}
	for _, fn := range cfg.client {
		fn(ropts)
	}
	client := redis.NewClient(ropts)
	d, err := checkDurability(ctx, client, true)
	if err != nil {
		client.Close()
		return nil, classify("ping "+u.Redacted(), err)
	}
	d.Waived = waived
	s := New(client, cfg.prefix)
	s.owned = true
	s.log = cfg.log
	s.durability = &d
	s.waived = waived
	s.warnDurability(ctx, d)
	return s, nil
}

// New uses an existing client; Close will not close it.
func New(client redis.UniversalClient, prefix string) *Store {
	return &Store{client: client, prefix: prefix, log: defaultLogger()}
}

// Close closes the client if Open created it.
func (s *Store) Close() error {
	if s.owned {
		return s.client.Close()
	}
	return nil
}

func (s *Store) recordKey(key string) string { return s.prefix + "r:" + key }
func (s *Store) indexPrefix() string         { return s.prefix + "p:" }

// Get reads the hash; Redis expires it natively, so an expired record is just absent.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Record{}, err
	}
	h, err := s.client.HGetAll(ctx, s.recordKey(key)).Result()
	if err != nil {
		return store.Record{}, classify(fmt.Sprintf("get %q", key), err)
	}
	if len(h) == 0 {
		return store.Record{}, fmt.Errorf("redisstore: get %q: %w", key, store.ErrNotFound)
	}
	rec, err := fromMap(key, h)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: get %q: %w", key, err)
	}
	return rec, nil
}

// Put writes rec whole if cond holds, in one script call.
func (s *Store) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if err := store.ValidateRecord(rec); err != nil {
		return store.Record{}, err
	}
	if err := store.ValidateCondition(cond); err != nil {
		return store.Record{}, err
	}
	rec = store.Normalize(rec, time.Now())
	args := []any{s.indexPrefix(), rec.Key}
	args = appendCond(args, cond)
	since, exp := "", ""
	if rec.Pending != "" {
		since = strconv.FormatInt(rec.PendingSince.UnixMicro(), 10)
	}
	if !rec.ExpiresAt.IsZero() {
		exp = strconv.FormatInt(rec.ExpiresAt.UnixMilli(), 10)
	}
	args = append(args, rec.Pending, since, exp, len(rec.Attrs))
	for k, v := range rec.Attrs {
		args = append(args, k, v)
	}
	res, err := scripts().put.Run(ctx, s.client, []string{s.recordKey(rec.Key)}, args...).Slice()
	if err != nil {
		return store.Record{}, classify(fmt.Sprintf("put %q", rec.Key), err)
	}
	status, payload, err := splitResult(res)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: put %q: %w", rec.Key, err)
	}
	if status != 1 {
		return store.Record{}, s.condFailed(rec.Key, payload)
	}
	ver, ok := payload.(int64)
	if !ok {
		return store.Record{}, fmt.Errorf("redisstore: put %q: unexpected script reply %T", rec.Key, payload)
	}
	rec.Version = ver
	return rec, nil
}

// Update applies ch if cond holds, in one script call that returns the stored record.
func (s *Store) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if err := store.ValidateUpdate(key, ch, cond); err != nil {
		return store.Record{}, err
	}
	args := []any{s.indexPrefix(), key, store.MaxRecordSize}
	args = appendCond(args, cond)
	args = append(args, len(ch.Set))
	for k, v := range ch.Set {
		args = append(args, k, v)
	}
	args = append(args, len(ch.Remove))
	for _, k := range ch.Remove {
		args = append(args, k)
	}
	// Change.Apply on a scratch record gives the normalized pending/expiry values.
	var norm store.Record
	ch.Apply(&norm, time.Now())
	switch {
	case ch.Pending == nil:
		args = append(args, "", "", "")
	case *ch.Pending == "":
		args = append(args, "0", "", "")
	default:
		args = append(args, "1", norm.Pending, strconv.FormatInt(norm.PendingSince.UnixMicro(), 10))
	}
	switch {
	case ch.ExpiresAt == nil:
		args = append(args, "", "")
	case norm.ExpiresAt.IsZero():
		args = append(args, "0", "")
	default:
		args = append(args, "1", strconv.FormatInt(norm.ExpiresAt.UnixMilli(), 10))
	}
	res, err := scripts().update.Run(ctx, s.client, []string{s.recordKey(key)}, args...).Slice()
	if err != nil {
		return store.Record{}, classify(fmt.Sprintf("update %q", key), err)
	}
	status, payload, err := splitResult(res)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: update %q: %w", key, err)
	}
	switch status {
	case 0:
		return store.Record{}, s.condFailed(key, payload)
	case 2:
		return store.Record{}, fmt.Errorf("redisstore: update %q: %w: record of %v bytes would exceed %d", key, store.ErrInvalid, payload, store.MaxRecordSize)
	}
	h, err := pairs(payload)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: update %q: %w", key, err)
	}
	rec, err := fromMap(key, h)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: update %q: %w", key, err)
	}
	return rec, nil
}

// Delete removes the record if cond holds, in one script call.
func (s *Store) Delete(ctx context.Context, key string, cond store.Condition) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if err := store.ValidateCondition(cond); err != nil {
		return err
	}
	args := appendCond([]any{s.indexPrefix(), key}, cond)
	res, err := scripts().delete.Run(ctx, s.client, []string{s.recordKey(key)}, args...).Slice()
	if err != nil {
		return classify(fmt.Sprintf("delete %q", key), err)
	}
	status, payload, err := splitResult(res)
	if err != nil {
		return fmt.Errorf("redisstore: delete %q: %w", key, err)
	}
	if status != 1 {
		return s.condFailed(key, payload)
	}
	return nil
}

// ListPending reads one page of the index's sorted set and its records in one script.
func (s *Store) ListPending(ctx context.Context, index string, opts store.ListOptions) (store.Page, error) {
	limit, err := store.ValidateListOptions(index, opts)
	if err != nil {
		return store.Page{}, err
	}
	min, after, max := "-inf", "", "+inf"
	if opts.Cursor != "" {
		pos, err := store.DecodeCursor(index, opts.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		min, after = strconv.FormatInt(pos.Since, 10), pos.Key
	}
	if !opts.Before.IsZero() {
		max = "(" + strconv.FormatInt(opts.Before.UnixMicro(), 10)
	}
	res, err := scripts().list.Run(ctx, s.client, []string{s.indexPrefix() + index}, s.prefix+"r:", min, after, max, limit, index).Slice()
	if err != nil {
		return store.Page{}, classify(fmt.Sprintf("list %q", index), err)
	}
	if len(res) == 0 || len(res)%2 != 1 {
		return store.Page{}, fmt.Errorf("redisstore: list %q: malformed script reply", index)
	}
	var page store.Page
	for i := 1; i < len(res); i += 2 {
		key, _ := res[i].(string)
		h, err := pairs(res[i+1])
		if err != nil {
			return store.Page{}, fmt.Errorf("redisstore: list %q: %w", index, err)
		}
		rec, err := fromMap(key, h)
		if err != nil {
			return store.Page{}, fmt.Errorf("redisstore: list %q: %w", index, err)
		}
		page.Records = append(page.Records, rec)
	}
	if more, _ := res[0].(int64); more == 1 && len(page.Records) > 0 {
		last := page.Records[len(page.Records)-1]
		page.Cursor = store.EncodeCursor(store.Position{Index: index, Since: last.PendingSince.UnixMicro(), Key: last.Key})
	}
	return page, nil
}

func (s *Store) condFailed(key string, payload any) error {
	h, err := pairs(payload)
	if err != nil {
		return fmt.Errorf("redisstore: %q: %w", key, err)
	}
	if len(h) == 0 {
		return &store.ConditionFailedError{Key: key}
	}
	rec, err := fromMap(key, h)
	if err != nil {
		return fmt.Errorf("redisstore: %q: %w", key, err)
	}
	return &store.ConditionFailedError{Key: key, Current: &rec}
}
