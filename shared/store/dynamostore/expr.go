package dynamostore

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/paysls/wxpay/shared/store"
)

// expr collects expression attribute names and values. Every attribute name goes
// through a placeholder, so names never clash with DynamoDB's reserved words.
type expr struct {
	names  map[string]string
	values map[string]types.AttributeValue
	n      int
}

func newExpr(now time.Time) *expr {
	e := &expr{names: map[string]string{}, values: map[string]types.AttributeValue{}}
	for _, a := range []string{attrPK, attrVersion, attrAttrs, attrPending, attrPendingSince, attrExpiresAt, attrExpiresMS} {
		e.names["#"+a] = a
	}
	e.values[":now"] = num(now.UnixMilli())
	return e
}

// attr returns the document path of a record attribute, attrs.#aN.
func (e *expr) attr(name string) string {
	for k, v := range e.names {
		if v == name && strings.HasPrefix(k, "#a") {
			return "#attrs." + k
		}
	}
	e.n++
	k := fmt.Sprintf("#a%d", e.n)
	e.names[k] = name
	return "#attrs." + k
}

func (e *expr) val(v types.AttributeValue) string {
	e.n++
	k := fmt.Sprintf(":v%d", e.n)
	e.values[k] = v
	return k
}

// Liveness in expressions: an item whose expires_ms has passed is absent.
const (
	exprLive       = "(attribute_exists(#pk) AND (attribute_not_exists(#expires_ms) OR #expires_ms > :now))"
	exprAbsent     = "(attribute_not_exists(#pk) OR #expires_ms <= :now)"
	exprNotExpired = "(attribute_not_exists(#pk) OR attribute_not_exists(#expires_ms) OR #expires_ms > :now)"
)

// cond translates a store.Condition; "" when it always holds. It must agree with
// store.Condition.Holds, which the conformance suite checks.
func (e *expr) cond(c store.Condition) string {
	var parts []string
	if c.Absent {
		parts = append(parts, exprAbsent)
	}
	if c.RequiresExistence() {
		parts = append(parts, exprLive)
	}
	if c.Version != 0 {
		parts = append(parts, "#version = "+e.val(num(c.Version)))
	}
	for _, t := range c.Attrs {
		path := e.attr(t.Name)
		var vals []string
		for _, v := range t.Values {
			vals = append(vals, e.val(value(v)))
		}
		in := path + " IN (" + strings.Join(vals, ", ") + ")"
		if slices.Contains(t.Values, "") {
			in = "(attribute_not_exists(" + path + ") OR " + in + ")"
		}
		parts = append(parts, in)
	}
	return strings.Join(parts, " AND ")
}

func and(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " AND " + b
}

// used drops the placeholders an expression does not mention: DynamoDB rejects
// unused expression attribute names and values.
func (e *expr) used(exprs ...string) (map[string]string, map[string]types.AttributeValue) {
	all := strings.Join(exprs, " ")
	names := map[string]string{}
	for k, v := range e.names {
		if containsToken(all, k) {
			names[k] = v
		}
	}
	values := map[string]types.AttributeValue{}
	for k, v := range e.values {
		if containsToken(all, k) {
			values[k] = v
		}
	}
	if len(names) == 0 {
		names = nil
	}
	if len(values) == 0 {
		values = nil
	}
	return names, values
}

// containsToken finds placeholder tok not followed by another name character (so
// ":v1" does not match inside ":v12").
func containsToken(s, tok string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], tok)
		if j < 0 {
			return false
		}
		end := i + j + len(tok)
		if end == len(s) || !isNameChar(s[end]) {
			return true
		}
		i = end
	}
}

func isNameChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// updateExpr collects the SET and REMOVE parts of an UpdateExpression.
type updateExpr struct {
	set, remove []string
}

// pending puts the item into index (sorted by since, ties by key) or, with index "",
// takes it out: without the attributes the sparse index no longer holds it.
func (u *updateExpr) pending(e *expr, index string, since time.Time, key string) {
	if index == "" {
		u.remove = append(u.remove, "#pending", "#pending_since")
		return
	}
	u.set = append(u.set, "#pending = "+e.val(str(index)), "#pending_since = "+e.val(str(sinceKey(since.UnixMicro(), key))))
}

// expiry sets the TTL attributes (seconds for DynamoDB's TTL, milliseconds for our own
// reads and conditions), or with a zero time removes them.
func (u *updateExpr) expiry(e *expr, at time.Time) {
	if at.IsZero() {
		u.remove = append(u.remove, "#expires_at", "#expires_ms")
		return
	}
	u.set = append(u.set, "#expires_at = "+e.val(num(expirySeconds(at))), "#expires_ms = "+e.val(num(at.UnixMilli())))
}

func (u *updateExpr) String() string {
	s := "SET " + strings.Join(u.set, ", ")
	if len(u.remove) > 0 {
		s += " REMOVE " + strings.Join(u.remove, ", ")
	}
	return s
}
