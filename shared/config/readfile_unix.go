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
	return readFD(fd, path)
}

// readFD reads fd to its end and closes it. The secrets a keys dir holds are small:
// each is read into a buffer on the stack and kept as an exact-size copy. A fresh
// 4 KiB heap buffer per file cost a cold start a page fault for every other file,
// about 30 µs in all.
func readFD(fd int, path string) ([]byte, error) {
	defer syscall.Close(fd)
	var buf [2048]byte // a PEM key or certificate fits; a larger file grows onto the heap
	b := buf[:0]
	for {
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return bytes.Clone(b), nil // empty, not nil, for an empty file, as os.ReadFile
		}
		if b = b[:len(b)+n]; len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}
