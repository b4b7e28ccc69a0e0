package host

import (
	"errors"
	"net/url"

	"github.com/paysls/wxpay/shared/config"
)

// withStorePassword puts the secret's store_password (config.Config.StorePassword)
// into a redis:// or rediss:// STORE_URL, so that the URL in a function's plain
// environment (SCF shows it to anyone who can read the function's configuration)
// names the instance but carries no password. Errors never show the URL's password.
func withStorePassword(raw string, pw config.Secret) (string, error) {
	if pw.IsZero() {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return "", errors.New("the secret's store_password is for a redis:// STORE_URL; STORE_URL is not one")
	}
	if _, has := u.User.Password(); has {
		return "", errors.New("STORE_URL carries a password and the secret has store_password: keep the password in the secret only (redis://HOST:PORT/DB)")
	}
	u.User = url.UserPassword(u.User.Username(), string(pw.Reveal()))
	return u.String(), nil
}
