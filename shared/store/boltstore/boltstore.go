// Package boltstore is the embedded store.Store backend on a bbolt file: the default
// when no store URL is configured. Every write evaluates its condition in Go
// (store.Condition.Holds), writes the record and maintains the pending index in one
// bbolt read-write transaction, so index and record never disagree. A write alone
// has its own transaction; writes that arrive while another commits share the next
// one (group commit, batch.go), each still judged on its own.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/paysls/wxpay/shared/store"
)

var (
	bucketRecords = []byte("records")
	// bucketPending holds one empty-valued entry per pending record, keyed by
	// pendingKey: ListPending is a range scan over it and never touches the rest.
	bucketPending = []byte("pending")
	// bucketExpiry holds one entry per expiring record, oldest expiry first, so
	// writes can sweep expired records without a background goroutine.
	bucketExpiry = []byte("expiry")
)

// sweepBatch bounds the expired records a single write deletes on the side.
const sweepBatch = 16

// lockTimeout is how long Open waits for another process's lock on the file.
const lockTimeout = 2 * time.Second

// Store is a store.Store on a bbolt file.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
	// txs counts bbolt transactions, so tests can prove one transition is one tx.
	txs atomic.Int64

	// Group commit (batch.go): mu guards queue and leading.
	mu      sync.Mutex
	queue   []*writeOp
	leading bool
	// unbatched gives every write its own transaction (for the benchmark's baseline).
	unbatched bool
	// faults counts batches rolled back and re-run one write at a time.
	faults atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt database at path. A file held by another
// process fails after lockTimeout instead of hanging.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: database file %s is locked by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	// A write transaction costs two fsyncs even when it changes nothing; an
	// existing database (every start but the first) has its buckets already.
	ready := false
	_ = db.View(func(tx *bolt.Tx) error {
		ready = tx.Bucket(bucketRecords) != nil && tx.Bucket(bucketPending) != nil && tx.Bucket(bucketExpiry) != nil
		return nil
	})
	if ready {
		return &Store{db: db, path: path, now: time.Now}, nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketPending, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db, path: path, now: time.Now}, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database file.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.txs.Add(1)
	return s.db.View(fn)
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	s.txs.Add(1)
	return s.db.Update(fn)
}

// Get returns the record, or ErrNotFound when it is absent or expired.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("boltstore: get %q: %w", key, err)
	}
	if err := store.ValidateKey(key); err != nil {
		return store.Record{}, err
	}
	now := s.now()
	var rec *store.Record
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = read(tx, key)
		return err
	})
	if err != nil {
		return store.Record{}, fmt.Errorf("boltstore: get %q: %w", key, err)
	}
	if rec != nil && rec.Expired(now) {
		s.purge([]string{key})
		rec = nil
	}
	if rec == nil {
		return store.Record{}, fmt.Errorf("boltstore: get %q: %w", key, store.ErrNotFound)
	}
	return *rec, nil
}

// Put writes rec whole if cond holds.
func (s *Store) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("boltstore: put %q: %w", rec.Key, err)
	}
	if err := store.ValidateRecord(rec); err != nil {
		return store.Record{}, err
	}
	if err := store.ValidateCondition(cond); err != nil {
		return store.Record{}, err
	}
	now := s.now()
	rec = store.Normalize(rec, now)
	err := s.submit(ctx, now, func(tx *bolt.Tx) error {
		old, err := loadLive(tx, rec.Key, now)
		if err != nil {
			return err
		}
		if !cond.Holds(old, now) {
			return &store.ConditionFailedError{Key: rec.Key, Current: old}
		}
		rec.Version = 1
		if old != nil {
			rec.Version = old.Version + 1
		}
		return write(tx, old, &rec)
	})
	if err != nil {
		return store.Record{}, wrap("put", rec.Key, err)
	}
	return rec, nil
}

// Update applies ch to the existing record if cond holds.
func (s *Store) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, fmt.Errorf("boltstore: update %q: %w", key, err)
	}
	if err := store.ValidateUpdate(key, ch, cond); err != nil {
		return store.Record{}, err
	}
	now := s.now()
	var rec store.Record
	err := s.submit(ctx, now, func(tx *bolt.Tx) error {
		old, err := loadLive(tx, key, now)
		if err != nil {
			return err
		}
		if old == nil || !cond.Holds(old, now) {
			return &store.ConditionFailedError{Key: key, Current: old}
		}
		// old was decoded into fresh memory, so it can be modified into the new record
		// once its index entries are known; keep a shallow copy for those.
		prev := *old
		rec = *old
		rec.Attrs = make(map[string]string, len(old.Attrs)+len(ch.Set))
		maps.Copy(rec.Attrs, old.Attrs)
		ch.Apply(&rec, now)
		rec.Version = old.Version + 1
		if n := rec.Size(); n > store.MaxRecordSize {
			return fmt.Errorf("%w: record of %d bytes would exceed %d", store.ErrInvalid, n, store.MaxRecordSize)
		}
		return write(tx, &prev, &rec)
	})
	if err != nil {
		return store.Record{}, wrap("update", key, err)
	}
	return rec, nil
}

// Delete removes the record if cond holds.
func (s *Store) Delete(ctx context.Context, key string, cond store.Condition) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: delete %q: %w", key, err)
	}
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if err := store.ValidateCondition(cond); err != nil {
		return err
	}
	now := s.now()
	err := s.submit(ctx, now, func(tx *bolt.Tx) error {
		old, err := loadLive(tx, key, now)
		if err != nil {
			return err
		}
		if !cond.Holds(old, now) {
			return &store.ConditionFailedError{Key: key, Current: old}
		}
		if old != nil {
			return remove(tx, old)
		}
		return nil
	})
	return wrap("delete", key, err)
}

// ListPending range-scans the index bucket from the cursor, reading only the records
// that sit in the index.
func (s *Store) ListPending(ctx context.Context, index string, opts store.ListOptions) (store.Page, error) {
	if err := ctx.Err(); err != nil {
		return store.Page{}, fmt.Errorf("boltstore: list %q: %w", index, err)
	}
	limit, err := store.ValidateListOptions(index, opts)
	if err != nil {
		return store.Page{}, err
	}
	prefix := indexPrefix(index)
	seek := prefix
	var after *store.Position
	if opts.Cursor != "" {
		pos, err := store.DecodeCursor(index, opts.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		after = &pos
		seek = pendingKey(index, pos.Since, pos.Key)
	}
	now := s.now()
	var page store.Page
	var expired []string
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		for k, _ := c.Seek(seek); k != nil; k, _ = c.Next() {
			since, key, ok := splitPendingKey(prefix, k)
			if !ok {
				break
			}
			if after != nil && since == after.Since && key == after.Key {
				continue // the cursor's own entry ended the previous page
			}
			if !opts.Before.IsZero() && since >= opts.Before.UnixMicro() {
				break
			}
			rec, err := read(tx, key)
			if err != nil {
				return err
			}
			if rec == nil {
				continue // cannot happen: index and record are written together
			}
			if rec.Expired(now) {
				expired = append(expired, key)
				continue
			}
			if len(page.Records) == limit {
				last := page.Records[limit-1]
				page.Cursor = store.EncodeCursor(store.Position{Index: index, Since: last.PendingSince.UnixMicro(), Key: last.Key})
				break
			}
			page.Records = append(page.Records, *rec)
		}
		return nil
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("boltstore: list %q: %w", index, err)
	}
	if len(expired) > 0 {
		s.purge(expired)
	}
	return page, nil
}

// purge deletes records found expired by a read, re-checking under the write lock. It
// is best effort: a failure leaves them for the next sweep, and readers skip them.
func (s *Store) purge(keys []string) {
	now := s.now()
	_ = s.submit(context.Background(), now, func(tx *bolt.Tx) error {
		for _, key := range keys {
			if _, err := loadLive(tx, key, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// read decodes the record at key, nil when there is none; expiry is not checked.
func read(tx *bolt.Tx, key string) (*store.Record, error) {
	v := tx.Bucket(bucketRecords).Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	return decodeRecord(key, v)
}

// loadLive reads the record in a write transaction, deleting it if it has expired.
func loadLive(tx *bolt.Tx, key string, now time.Time) (*store.Record, error) {
	rec, err := read(tx, key)
	if err != nil || rec == nil {
		return nil, err
	}
	if rec.Expired(now) {
		return nil, remove(tx, rec)
	}
	return rec, nil
}

// write stores rec, replacing old (nil when absent), with its index entries.
func write(tx *bolt.Tx, old, rec *store.Record) error {
	if old != nil {
		if err := unindex(tx, old); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketRecords).Put([]byte(rec.Key), encodeRecord(rec)); err != nil {
		return err
	}
	if rec.Pending != "" {
		k := pendingKey(rec.Pending, rec.PendingSince.UnixMicro(), rec.Key)
		if err := tx.Bucket(bucketPending).Put(k, nil); err != nil {
			return err
		}
	}
	if !rec.ExpiresAt.IsZero() {
		if err := tx.Bucket(bucketExpiry).Put(expiryKey(rec.ExpiresAt.UnixMilli(), rec.Key), nil); err != nil {
			return err
		}
	}
	return nil
}

func remove(tx *bolt.Tx, rec *store.Record) error {
	if err := unindex(tx, rec); err != nil {
		return err
	}
	return tx.Bucket(bucketRecords).Delete([]byte(rec.Key))
}

func unindex(tx *bolt.Tx, rec *store.Record) error {
	if rec.Pending != "" {
		if err := tx.Bucket(bucketPending).Delete(pendingKey(rec.Pending, rec.PendingSince.UnixMicro(), rec.Key)); err != nil {
			return err
		}
	}
	if !rec.ExpiresAt.IsZero() {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(rec.ExpiresAt.UnixMilli(), rec.Key)); err != nil {
			return err
		}
	}
	return nil
}

// sweep deletes up to sweepBatch expired records, oldest expiry first, so records
// nobody reads again do not stay in the file forever.
func sweep(tx *bolt.Tx, now time.Time) error {
	var entries [][]byte
	c := tx.Bucket(bucketExpiry).Cursor()
	for k, _ := c.First(); k != nil && len(entries) < sweepBatch; k, _ = c.Next() {
		if len(k) < 8 || unsortable(k[:8]) > now.UnixMilli() {
			break
		}
		entries = append(entries, append([]byte(nil), k...))
	}
	for _, k := range entries {
		if _, err := loadLive(tx, string(k[8:]), now); err != nil {
			return err
		}
		// Normally gone with its record; deleting it again also drops an orphan
		// entry that would otherwise stall the sweep.
		if err := tx.Bucket(bucketExpiry).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// wrap adds context to an error from a write, leaving validation and condition
// failures recognisable (errors.Is/As still see them).
func wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var cf *store.ConditionFailedError
	if errors.As(err, &cf) {
		return cf
	}
	return fmt.Errorf("boltstore: %s %q: %w", op, key, err)
}
