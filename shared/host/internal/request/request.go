// Package request holds what the platform adapters share when they turn a platform's
// request into an *http.Request: a sorted view of header maps (so two spellings of one
// header never depend on map order) and the client address SCF reports.
package request

import (
	"net"
	"net/netip"
	"slices"
	"strings"
)

// SCFRemoteAddr is where SCF function URLs put the client's address
// (https://cloud.tencent.cn/document/product/583/96099); it may carry a port.
const SCFRemoteAddr = "x-scf-remote-addr"

// HostOnly strips a port from an address: "1.2.3.4:80" → "1.2.3.4",
// "[2001:db8::1]:80" → "2001:db8::1"; a bare IPv4 or IPv6 address is returned as is.
func HostOnly(addr string) string {
	addr = strings.TrimSpace(addr)
	if _, err := netip.ParseAddr(addr); err == nil {
		return addr
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// SortedKeys are m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
