package dynamostore

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/paysls/wxpay/shared/store"
)

// Item layout:
//
//	pk            S  record key (partition key)
//	version       N
//	attrs         M  attribute name -> S, or B for a value that is not valid UTF-8
//	                 (DynamoDB strings must be UTF-8; B keeps values byte-exact, and
//	                 conditions encode their values the same way, so they still match)
//	pending       S  pending index name           (only while pending: the GSI is sparse)
//	pending_since S  sinceKey(µs, key)            (GSI sort key; see sinceKey)
//	expires_at    N  unix seconds, rounded up     (DynamoDB's TTL attribute)
//	expires_ms    N  unix milliseconds            (exact expiry, used for reads/conditions)
//
// Attributes live in one map so that Put can replace them all in one UpdateItem
// (SET attrs = :attrs) and still compute the version server-side.
const (
	attrPK           = "pk"
	attrVersion      = "version"
	attrAttrs        = "attrs"
	attrPending      = "pending"
	attrPendingSince = "pending_since"
	attrExpiresAt    = "expires_at"
	attrExpiresMS    = "expires_ms"

	// PendingIndex is the sparse global secondary index over pending records.
	PendingIndex = "pending-index"
)

// sinceKey is the GSI sort key: the pending time as 20 fixed-width digits (sign bit
// flipped so pre-1970 sorts first) then the record key, so equal times order by key
// like on the other backends, and "< sinceKey(before, "")" means "strictly before".
func sinceKey(us int64, key string) string {
	return fmt.Sprintf("%020d", uint64(us)^(1<<63)) + "|" + key
}

func parseSinceKey(s string) (int64, error) {
	if len(s) < 21 {
		return 0, fmt.Errorf("malformed %s %q", attrPendingSince, s)
	}
	u, err := strconv.ParseUint(s[:20], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed %s %q", attrPendingSince, s)
	}
	return int64(u ^ (1 << 63)), nil
}

func value(v string) *av {
	if utf8.ValidString(v) {
		return str(v)
	}
	b := []byte(v)
	return &av{B: &b}
}

func str(v string) *av { return &av{S: &v} }
func num(n int64) *av {
	s := strconv.FormatInt(n, 10)
	return &av{N: &s}
}

func attrsValue(attrs map[string]string) *av {
	m := make(map[string]*av, len(attrs))
	for k, v := range attrs {
		m[k] = value(v)
	}
	return &av{M: &m}
}

// expirySeconds rounds up, so DynamoDB's TTL deletion never precedes the expiry.
func expirySeconds(t time.Time) int64 {
	ms := t.UnixMilli()
	s := ms / 1000
	if ms%1000 > 0 {
		s++
	}
	return s
}

func toItem(rec *store.Record) item {
	item := item{
		attrPK:      str(rec.Key),
		attrVersion: num(rec.Version),
		attrAttrs:   attrsValue(rec.Attrs),
	}
	if rec.Pending != "" {
		item[attrPending] = str(rec.Pending)
		item[attrPendingSince] = str(sinceKey(rec.PendingSince.UnixMicro(), rec.Key))
	}
	if !rec.ExpiresAt.IsZero() {
		item[attrExpiresAt] = num(expirySeconds(rec.ExpiresAt))
		item[attrExpiresMS] = num(rec.ExpiresAt.UnixMilli())
	}
	return item
}

func fromItem(item item) (store.Record, error) {
	var rec store.Record
	var err error
	getNum := func(name string) int64 {
		v := item[name]
		if v == nil || v.N == nil {
			err = fmt.Errorf("item attribute %s is not a number", name)
			return 0
		}
		n, perr := strconv.ParseInt(*v.N, 10, 64)
		if perr != nil {
			err = fmt.Errorf("item attribute %s: %w", name, perr)
		}
		return n
	}
	pk := item[attrPK]
	if pk == nil || pk.S == nil {
		return rec, fmt.Errorf("item without %s", attrPK)
	}
	rec.Key = *pk.S
	rec.Version = getNum(attrVersion)
	rec.Attrs = map[string]string{}
	if m := item[attrAttrs]; m != nil && m.M != nil {
		for k, v := range *m.M {
			switch {
			case v != nil && v.S != nil:
				rec.Attrs[k] = *v.S
			case v != nil && v.B != nil:
				rec.Attrs[k] = string(*v.B)
			default:
				return rec, fmt.Errorf("attribute %s is neither S nor B", k)
			}
		}
	}
	if p := item[attrPending]; p != nil && p.S != nil {
		rec.Pending = *p.S
		ps := item[attrPendingSince]
		if ps == nil || ps.S == nil {
			return rec, fmt.Errorf("pending item without %s", attrPendingSince)
		}
		us, perr := parseSinceKey(*ps.S)
		if perr != nil {
			return rec, perr
		}
		rec.PendingSince = store.FromMicros(us)
	}
	if _, ok := item[attrExpiresMS]; ok {
		rec.ExpiresAt = store.FromMillis(getNum(attrExpiresMS))
	}
	return rec, err
}

// liveRecord decodes an item returned by a failed condition or a read: nil when there
// is none or it has expired (DynamoDB's TTL deletes items up to days late).
func liveRecord(item item, now time.Time) (*store.Record, error) {
	if len(item) == 0 {
		return nil, nil
	}
	rec, err := fromItem(item)
	if err != nil {
		return nil, err
	}
	if rec.Expired(now) {
		return nil, nil
	}
	return &rec, nil
}

func keyOf(key string) item {
	return item{attrPK: str(key)}
}
