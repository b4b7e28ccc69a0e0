package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// A Driver opens the stores of its URL schemes (STORE_URL). There is no registry:
// a program lists the drivers it links — a function's main the ones its platform
// uses (shared/host), the CLI every one (shared/store/storeurl) — and OpenURL refuses
// a scheme none of them takes, by name.
type Driver struct {
	// Schemes the driver opens: "bolt"; "redis", "rediss".
	Schemes []string
	// What names the backend in messages: "DynamoDB".
	What string
	// Open opens the store u names; raw is the URL as given (drivers that hand it to
	// a client library whole). Errors name the scheme, never a password.
	Open func(ctx context.Context, u *url.URL, raw string) (Store, error)
	// Default, when set, opens the store of an empty URL (bbolt's local file). The
	// first driver that has one serves "".
	Default func(ctx context.Context) (Store, error)
}

// NoDriverError is OpenURL's answer to a URL whose scheme no given driver opens.
type NoDriverError struct {
	Scheme string   // "" for an empty URL without a default driver
	Have   []string // the schemes the program opens
}

func (e *NoDriverError) Error() string {
	if e.Scheme == "" {
		return fmt.Sprintf("store: no store URL, and this program has no default store (it opens %s)", strings.Join(e.Have, ", "))
	}
	return fmt.Sprintf("store: this program does not open %s:// stores (it opens %s)", e.Scheme, strings.Join(e.Have, ", "))
}

// OpenURL opens the store rawURL names with the driver of its scheme ("" = the first
// driver's default store).
func OpenURL(ctx context.Context, rawURL string, drivers ...Driver) (Store, error) {
	var have []string
	for _, d := range drivers {
		for _, s := range d.Schemes {
			have = append(have, s+"://")
		}
	}
	if rawURL == "" {
		for _, d := range drivers {
			if d.Default != nil {
				return d.Default(ctx)
			}
		}
		return nil, &NoDriverError{Have: have}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the whole URL, password included.
		return nil, errors.New("store: malformed store URL")
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("store: store URL %q has no scheme (want %s)", u.Redacted(), strings.Join(have, ", "))
	}
	for _, d := range drivers {
		if slices.Contains(d.Schemes, u.Scheme) {
			return d.Open(ctx, u, rawURL)
		}
	}
	return nil, &NoDriverError{Scheme: u.Scheme, Have: have}
}
