//go:build !unix

package main

import (
	"os"
	"syscall"
)

func detached() *syscall.SysProcAttr { return nil }

// processAlive cannot check without signals here: a serve.json is trusted until
// its URL stops answering.
func processAlive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}

func stopProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
