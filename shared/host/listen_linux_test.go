package host

import (
	"net"
	"syscall"
	"testing"
)

// The platforms' listener is plain TCP, not the Multipath TCP socket net.Listen asks
// for first (dearer to make, of no use to SCF's proxy).
func TestListenIsPlainTCP(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var proto int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		proto, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if proto != syscall.IPPROTO_TCP {
		t.Fatalf("listener protocol %d, want IPPROTO_TCP (%d)", proto, syscall.IPPROTO_TCP)
	}
}
