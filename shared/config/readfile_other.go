//go:build !unix

package config

import "os"

// readFile is os.ReadFile (readfile_unix.go says why unix has its own).
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
