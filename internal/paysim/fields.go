package paysim

import (
	"reflect"
	"sort"
	"strings"
)

// unknownFieldHint lists the JSON fields v accepts, for the error about an unknown
// one: at the top level and inside each nested object or list of objects, with a
// "did you mean" when a valid name is close to the unknown one (skew → skew_clock).
func unknownFieldHint(unknown string, v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	groups := map[string][]string{}
	collectFields(t, "", groups)
	var all []string
	for _, names := range groups {
		all = append(all, names...)
	}
	var b strings.Builder
	if guess := closest(unknown, all); guess != "" {
		b.WriteString(" (did you mean \"" + guess + "\"?)")
	}
	b.WriteString("; valid fields: ")
	b.WriteString(strings.Join(groups[""], ", "))
	var nested []string
	for path := range groups {
		if path != "" {
			nested = append(nested, path)
		}
	}
	sort.Strings(nested)
	for _, path := range nested {
		b.WriteString("; in " + path + ": " + strings.Join(groups[path], ", "))
	}
	b.WriteString(" (every field is described in internal/paysim/README.md)")
	return b.String()
}

// collectFields records the JSON names of struct t's fields under path, recursing into
// embedded structs (same path) and into struct, *struct and []struct fields.
func collectFields(t reflect.Type, path string, groups map[string][]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, path, groups)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		groups[path] = append(groups[path], name)
		suffix := ""
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			if ft.Kind() == reflect.Slice {
				suffix = "[]"
			}
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.NumField() > 0 && ft.PkgPath() == reflect.TypeOf(Faults{}).PkgPath() {
			sub := name + suffix
			if path != "" {
				sub = path + "." + sub
			}
			collectFields(ft, sub, groups)
		}
	}
}

// closest is the valid name that contains the unknown one or is contained in it, or
// else is at most two edits away (case-insensitive, ignoring - and _), or "".
func closest(unknown string, valid []string) string {
	norm := func(s string) string { return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s)) }
	u := norm(unknown)
	if u == "" {
		return ""
	}
	for _, v := range valid {
		if n := norm(v); n != u && (strings.Contains(n, u) || strings.Contains(u, n)) {
			return v
		}
	}
	for _, v := range valid {
		if editDistance(u, norm(v)) <= 2 {
			return v
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
