package host

import (
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/config"
)

func TestWithStorePassword(t *testing.T) {
	pw := config.NewSecret([]byte("s3cr3t/pa ss"))
	if got, err := withStorePassword("redis://10.0.0.5:6379/0", config.Secret{}); err != nil || got != "redis://10.0.0.5:6379/0" {
		t.Errorf("no password in the secret: %q %v", got, err)
	}
	got, err := withStorePassword("redis://10.0.0.5:6379/0", pw)
	if err != nil || got != "redis://:s3cr3t%2Fpa%20ss@10.0.0.5:6379/0" {
		t.Errorf("password from the secret: %q %v", got, err)
	}
	if got, err := withStorePassword("rediss://user@r.example:6380/1", pw); err != nil || !strings.HasPrefix(got, "rediss://user:s3cr3t") {
		t.Errorf("rediss with a user: %q %v", got, err)
	}
	for _, raw := range []string{"redis://:inurl@10.0.0.5:6379/0", "dynamodb://table", "bolt:///tmp/x.db"} {
		_, err := withStorePassword(raw, pw)
		if err == nil || strings.Contains(err.Error(), "inurl") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: %v (want an error that shows no password)", raw, err)
		}
	}
}
