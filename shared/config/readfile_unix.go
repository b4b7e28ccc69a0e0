//go:build unix

package config

import (
	"bytes"
	"io/fs"
	"syscall"
)

// readFile is os.ReadFile in four system calls (open, read to the end, close) where
// os.ReadFile makes ten: os.Open offers a regular file to the network poller (which
// refuses it) and os.ReadFile asks for its size first.
func readFile(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var buf [2048]byte // a PEM key or certificate fits; a larger file grows onto the heap
	b, err := readFD(fd, path, buf[:0])
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil // exact size; empty, not nil, for an empty file, as os.ReadFile
}

// readFD reads fd to its end, appending to buf, and closes it; path is what errors
// call the file. The secrets a keys dir holds are small: read into a buffer on the
// caller's stack, each is copied once, into what keeps it (a fresh 4 KiB heap buffer
// per file cost a cold start a page fault for every other file, about 30 µs in all).
// The result is buf's array unless the file outgrew it.
func readFD(fd int, path string, buf []byte) ([]byte, error) {
	defer syscall.Close(fd)
	b := buf
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
