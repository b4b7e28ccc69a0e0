package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

var testIdentity = sync.OnceValues(keysdir.Generate)

// simKeysDir writes the simulator's identity (with its platform private key).
func simKeysDir(t *testing.T) (*keysdir.Identity, string) {
	t.Helper()
	id, err := testIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	return id, dir
}

// verifyingEndpoint acknowledges only notifications that verify and decrypt.
func verifyingEndpoint(t *testing.T, id *keysdir.Identity) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v := wechatpay.Verifier{Keys: id.PlatformKeys()}
		if err := v.Verify(r.Context(), wechatpay.HeadersFrom(r.Header), body); err != nil {
			http.Error(w, `{"code":"FAIL","message":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		var n wechatpay.Notification
		aead, _ := wechatpay.NewAEAD(id.APIv3Key)
		if json.Unmarshal(body, &n) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if _, err := aead.Open(n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext); err != nil {
			http.Error(w, "decrypt", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTriggerCommand(t *testing.T) {
	id, dir := simKeysDir(t)
	good := verifyingEndpoint(t, id)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	base := []string{"trigger", "--keys-dir", dir, "--out-trade-no", "T20240520001", "--amount", "100"}

	code, out, errOut := runCmd(t, append(base, "--url", good.URL+"/notify", "--repeat", "2", "--mode", "pubkey")...)
	if code != 0 || !strings.Contains(out, "#2 ← HTTP 200") || !strings.Contains(out, "VERDICT ✔") || !strings.Contains(out, id.PlatformPublicKeyID) {
		t.Errorf("good endpoint: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, append(base, "--url", good.URL, "--signtest")...)
	if code != 0 || !strings.Contains(out, "rejected the forged signature") {
		t.Errorf("signtest against a verifying endpoint: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, append(base, "--url", broken.URL, "--event", "REFUND.SUCCESS", "--out-refund-no", "R20240520001")...)
	if code != 1 || !strings.Contains(out, "NOT acknowledged") || !strings.Contains(out, "boom") {
		t.Errorf("500 endpoint: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, append(base, "--url", broken.URL, "--json")...)
	var rep struct {
		OK         bool
		Deliveries []struct{ Attempt struct{ Status int } }
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.OK || rep.Deliveries[0].Attempt.Status != 500 {
		t.Errorf("--json: exit %d\n%s", code, out)
	}
}

func TestTriggerCommandNeedsSimulatorKeys(t *testing.T) {
	_, dir := simKeysDir(t)
	if err := os.Remove(filepath.Join(dir, keysdir.FilePlatformKey)); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "trigger", "--keys-dir", dir, "--url", "http://127.0.0.1:1/", "--out-trade-no", "T20240520001", "--amount", "1")
	if code != 1 || !strings.Contains(errOut, "wxpay sim --keys-dir") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
	t.Setenv("WXPAY_KEYS_DIR", filepath.Join(t.TempDir(), "missing"))
	code, _, errOut = runCmd(t, "trigger", "--url", "http://127.0.0.1:1/", "--out-trade-no", "T20240520001", "--amount", "1")
	if code != 1 || !strings.Contains(errOut, "holds no identity") || !strings.Contains(errOut, "wxpay sim --keys-dir") {
		t.Errorf("missing keys dir: exit %d, stderr %s", code, errOut)
	}
}
