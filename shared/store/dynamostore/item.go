package dynamostore

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

func value(v string) types.AttributeValue {
	if utf8.ValidString(v) {
		return &types.AttributeValueMemberS{Value: v}
	}
	return &types.AttributeValueMemberB{Value: []byte(v)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func attrsValue(attrs map[string]string) types.AttributeValue {
	m := make(map[string]types.AttributeValue, len(attrs))
	for k, v := range attrs {
		m[k] = value(v)
	}
	return &types.AttributeValueMemberM{Value: m}
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

func toItem(rec *store.Record) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
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

func fromItem(item map[string]types.AttributeValue) (store.Record, error) {
	var rec store.Record
	var err error
	getNum := func(name string) int64 {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			err = fmt.Errorf("item attribute %s is %T, want N", name, item[name])
			return 0
		}
		n, perr := strconv.ParseInt(v.Value, 10, 64)
		if perr != nil {
			err = fmt.Errorf("item attribute %s: %w", name, perr)
		}
		return n
	}
	pk, ok := item[attrPK].(*types.AttributeValueMemberS)
	if !ok {
		return rec, fmt.Errorf("item without %s", attrPK)
	}
	rec.Key = pk.Value
	rec.Version = getNum(attrVersion)
	rec.Attrs = map[string]string{}
	if m, ok := item[attrAttrs].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			switch v := v.(type) {
			case *types.AttributeValueMemberS:
				rec.Attrs[k] = v.Value
			case *types.AttributeValueMemberB:
				rec.Attrs[k] = string(v.Value)
			default:
				return rec, fmt.Errorf("attribute %s is %T, want S or B", k, v)
			}
		}
	}
	if p, ok := item[attrPending].(*types.AttributeValueMemberS); ok {
		rec.Pending = p.Value
		ps, ok := item[attrPendingSince].(*types.AttributeValueMemberS)
		if !ok {
			return rec, fmt.Errorf("pending item without %s", attrPendingSince)
		}
		us, perr := parseSinceKey(ps.Value)
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
func liveRecord(item map[string]types.AttributeValue, now time.Time) (*store.Record, error) {
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

func keyOf(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(key)}
}
