package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

// TestTriggerCommandV2 plays v2 XML notifications against the real notify function
// configured from the same keys dir (its apiv2_key).
func TestTriggerCommandV2(t *testing.T) {
	_, dir := simKeysDir(t)
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "v2.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := notify.New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base := []string{"trigger", "--v2", "--keys-dir", dir, "--url", srv.URL + "/notify", "--out-trade-no", "T20240520002", "--amount", "100"}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--repeat", "2"}, 0, "#2 ← HTTP 200"},
		{[]string{"--sign-type", "HMAC-SHA256"}, 0, "sign_type HMAC-SHA256"},
		{[]string{"--event", "REFUND.CLOSED", "--out-refund-no", "R20240520002"}, 0, "refund_status REFUNDCLOSE"},
		{[]string{"--signtest"}, 0, "refused the forged v2 notification (HTTP 401)"},
		{[]string{"--event", "REFUND.SUCCESS", "--out-refund-no", "R20240520003", "--signtest"}, 0, "refused the forged v2 notification (HTTP 401)"},
		{[]string{"--sign-type", "SHA1"}, 2, ""},
	} {
		code, out, errOut := runCmd(t, append(base, c.args...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d\n%s%s", c.args, code, out, errOut)
		}
	}
}
