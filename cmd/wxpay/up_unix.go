//go:build unix

package main

import (
	"errors"
	"syscall"
)

// detached starts serve in its own session: the terminal's Ctrl-C, and its closing,
// do not reach it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// processAlive reports whether pid is a running process (signal 0 checks without
// sending anything; EPERM means it runs under another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// stopProcess asks pid to stop as Ctrl-C would (serve treats SIGTERM the same).
func stopProcess(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
