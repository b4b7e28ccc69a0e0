package redisstore

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/paysls/wxpay/shared/store"
)

// appendCond encodes a condition the way the scripts' cond_holds reads it.
func appendCond(args []any, c store.Condition) []any {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	args = append(args, flag(c.Absent), flag(c.Exists), c.Version, len(c.Attrs))
	for _, t := range c.Attrs {
		args = append(args, t.Name, len(t.Values))
		for _, v := range t.Values {
			args = append(args, v)
		}
	}
	return args
}

// splitResult splits a write script's {status, payload} reply.
func splitResult(res []any) (int64, any, error) {
	if len(res) == 0 {
		return 0, nil, errors.New("empty script reply")
	}
	status, ok := res[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected script status %T", res[0])
	}
	var payload any
	if len(res) > 1 {
		payload = res[1]
	}
	return status, payload, nil
}

// pairs turns an HGETALL-shaped flat array reply into a map.
func pairs(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	flat, ok := v.([]any)
	if !ok || len(flat)%2 != 0 {
		return nil, fmt.Errorf("malformed hash in script reply (%T)", v)
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		val, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("non-string field in script reply")
		}
		m[k] = val
	}
	return m, nil
}

// fromMap decodes a record hash.
func fromMap(key string, h map[string]string) (store.Record, error) {
	rec := store.Record{Key: key, Attrs: make(map[string]string, len(h))}
	for k, v := range h {
		if len(k) == 0 || k[0] != '_' {
			rec.Attrs[k] = v
			continue
		}
		var err error
		switch k {
		case "_v":
			rec.Version, err = strconv.ParseInt(v, 10, 64)
		case "_p":
			rec.Pending = v
		case "_s":
			var us int64
			us, err = strconv.ParseInt(v, 10, 64)
			rec.PendingSince = store.FromMicros(us)
		case "_e":
			var ms int64
			ms, err = strconv.ParseInt(v, 10, 64)
			rec.ExpiresAt = store.FromMillis(ms)
		}
		if err != nil {
			return store.Record{}, fmt.Errorf("record field %s: %w", k, err)
		}
	}
	if rec.Version == 0 {
		return store.Record{}, errors.New("record hash without a version")
	}
	return rec, nil
}
