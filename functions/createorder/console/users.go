package console

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A console user is one line of the console_users secret (WXPAY_CONSOLE_USERS, or the
// file console_users in the keys dir):
//
//	name:pbkdf2-sha256$600000$<salt, base64>$<key, base64>
//
// `wxpay console passwd <name>` writes such a line. Passwords are never stored or
// compared in the clear; PBKDF2-HMAC-SHA256 at OWASP's 2023 iteration count makes an
// offline guess as expensive as a sign-in (about 0.2 s of CPU).
const (
	hashScheme  = "pbkdf2-sha256"
	hashIter    = 600_000
	hashKeySize = 32
)

// user is a parsed console_users line.
type user struct {
	name string
	iter int
	salt []byte
	key  []byte
}

// ErrUsers matches every problem with the console_users secret.
var ErrUsers = errors.New("console users")

// parseUsers reads the console_users secret. Blank lines and lines starting with # are
// skipped; any other malformed line is an error naming its line number (never its
// content, which holds a password hash).
func parseUsers(b []byte) (map[string]user, error) {
	out := map[string]user{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := parseUser(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrUsers, n, err)
		}
		if _, dup := out[u.name]; dup {
			return nil, fmt.Errorf("%w: line %d: user %q is listed twice", ErrUsers, n, u.name)
		}
		out[u.name] = u
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no user is configured", ErrUsers)
	}
	return out, nil
}

func parseUser(line string) (user, error) {
	name, hash, ok := strings.Cut(line, ":")
	if !ok || !validName(name) {
		return user{}, errors.New(`want name:pbkdf2-sha256$iterations$salt$key, name of 1–32 letters, digits, "._-@"`)
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return user{}, fmt.Errorf("user %q: the hash is not %s$iterations$salt$key (make one with `wxpay console passwd %s`)", name, hashScheme, name)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 100_000 || iter > 10_000_000 {
		return user{}, fmt.Errorf("user %q: iterations must be 100000–10000000", name)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 16 || len(key) != hashKeySize {
		return user{}, fmt.Errorf("user %q: salt or key is not unpadded base64 of 16+ and %d bytes", name, hashKeySize)
	}
	return user{name: name, iter: iter, salt: salt, key: key}, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// HashPassword returns the console_users line for name and password.
func HashPassword(name, password string) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf(`user name %q: use 1–32 letters, digits, "._-@"`, name)
	}
	if len(password) < 12 {
		return "", errors.New("the password must have at least 12 characters")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, hashIter, hashKeySize)
	if err != nil {
		return "", err
	}
	return name + ":" + hashScheme + "$" + strconv.Itoa(hashIter) + "$" +
		base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key), nil
}

// check reports whether password is u's. It always derives a key, so an unknown user
// costs what a known one does (no user enumeration by timing).
func (u user) check(password string) bool {
	iter, salt, want := u.iter, u.salt, u.key
	if want == nil {
		iter, salt, want = hashIter, make([]byte, 16), make([]byte, hashKeySize)
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, hashKeySize)
	return err == nil && u.key != nil && subtle.ConstantTimeCompare(got, want) == 1
}
