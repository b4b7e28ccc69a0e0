// Package testserver starts real backend servers (redis-server, moto_server) on
// loopback for the tests of every package, so no backend is ever mocked.
package testserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Server is a started server process.
type Server struct {
	Port int
	cmd  *exec.Cmd
	log  *os.File
}

// Addr is host:port on loopback.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// ErrMissing reports a server binary that is not installed.
var ErrMissing = errors.New("server binary not installed")

// Start runs bin with args(port) on a free loopback port and waits up to wait for the
// port to accept connections. Its output goes to a temporary log shown on failure.
func Start(bin string, wait time.Duration, args func(port int) []string) (*Server, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, ErrMissing)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.CreateTemp("", bin+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args(port)...)
	cmd.Stdout, cmd.Stderr = log, log
	// Own process group, so Kill also ends children (moto_server is a python shim).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{Port: port, cmd: cmd, log: log}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(log.Name())
			s.Kill()
			return nil, fmt.Errorf("%s exited early: %s", bin, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			s.Kill()
			return nil, fmt.Errorf("%s did not listen on %s within %v: %s", bin, s.Addr(), wait, out)
		}
	}
}

// Kill ends the server with SIGKILL (the test of a crashed server uses it too) and
// removes its log.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	// Wait until the port is closed so the next dial fails predictably.
	for i := 0; i < 50; i++ {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	s.log.Close()
	os.Remove(s.log.Name())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Need stops a test that needs a server which could not be started (startErr): it
// skips when the binary is simply not installed on a developer's machine, and fails in
// CI (CI set) or when the server is installed but broken — nothing is skipped in CI.
func Need(t testing.TB, startErr error, install string) {
	t.Helper()
	if startErr == nil {
		return
	}
	if !errors.Is(startErr, ErrMissing) {
		t.Fatal(startErr)
	}
	msg := fmt.Sprintf("%v; install it with: %s", startErr, install)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Run starts bin for the test and stops it when the test ends: skipped where the binary
// is not installed on a developer's machine, failed in CI (see Need).
func Run(t testing.TB, bin, install string, args func(port int) []string) *Server {
	t.Helper()
	s, err := Start(bin, 60*time.Second, args)
	Need(t, err, install)
	t.Cleanup(s.Kill)
	return s
}

// Moto runs moto_server (DynamoDB, S3, Secrets Manager, SSM, EventBridge on one port)
// for the test and returns its http:// endpoint.
func Moto(t testing.TB) string {
	t.Helper()
	s := Run(t, "moto_server", "pip install 'moto[server]'", func(port int) []string {
		return []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	})
	return "http://" + s.Addr()
}
