package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
)

// The job commands (reconcile, billfetch) run against the same bundle as `make run`:
// the same keys dir (.wxpay/sim unless told), the same store (wxpay.db beside it), and
// the simulator when the keys dir is a simulator's. A bbolt store admits one process,
// so while that bundle's serve runs the job is run by it (POST /jobs/{name}).

// jobTarget is what a job command runs against.
type jobTarget struct {
	keysDir   string     // "" when the configuration comes from the environment alone
	simulator bool       // keysDir is a simulator identity
	serve     *serveInfo // the serve running for keysDir, if any
	stateDir  string     // where the store and bills are kept by default
}

// resolveJobTarget picks the keys dir: --keys-dir, else $WXPAY_KEYS_DIR, else the
// default one when it holds an identity, else none (WXPAY_* alone).
func resolveJobTarget(keysDir string) jobTarget {
	if keysDir == "" {
		keysDir = os.Getenv(config.EnvKeysDir)
	}
	if keysDir == "" && keysdir.HasIdentity(defaultKeysDir) {
		keysDir = defaultKeysDir
	}
	t := jobTarget{keysDir: keysDir, stateDir: filepath.Dir(filepath.Clean(cmp.Or(keysDir, defaultKeysDir)))}
	if keysDir != "" {
		t.simulator = keysdir.IsSimulator(keysDir)
		if info, ok := liveServe(t.stateDir); ok {
			t.serve = info
		}
	}
	return t
}

// config loads the job's configuration with the one loader: a simulator's identity
// from its keys dir alone, a merchant's from the keys dir and WXPAY_*, settings from
// the environment.
func (t jobTarget) config() (config.Config, error) {
	if t.simulator {
		return config.LoadKeysDir(t.keysDir)
	}
	return config.Load(t.keysDir)
}

// storeURL is the store the job opens itself: --store, else $STORE_URL, else the one
// wxpay serve uses for this keys dir.
func (t jobTarget) storeURL(flagValue string) string {
	return cmp.Or(flagValue, os.Getenv("STORE_URL"), "bolt://"+filepath.Join(t.stateDir, "wxpay.db"))
}

// noSimulator explains why a simulator's keys dir cannot be used without its serve.
func (t jobTarget) noSimulator(job string) error {
	return fmt.Errorf("%s is a simulator's keys dir and no wxpay serve runs for it; the simulator runs inside wxpay serve: start it (wxpay up, or make start) and run wxpay %s again — or pass --api-base of a wxpay sim", t.keysDir, job)
}

// runJobAt asks the running serve to run a job now (POST /jobs/{name}) and returns its
// JSON report; a failed job's report comes back with the error.
func runJobAt(ctx context.Context, info *serveInfo, keysDir, name string, q url.Values) (json.RawMessage, error) {
	tok, err := apiToken("", keysDir)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(info.URL, "/") + "/jobs/" + name
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the wxpay serve at %s (which holds the store) did not run %s: %w", info.URL, name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return body, nil
	}
	var failed struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Hint    string          `json:"hint"`
		Report  json.RawMessage `json:"report"`
	}
	if json.Unmarshal(body, &failed) != nil || failed.Message == "" {
		return nil, fmt.Errorf("POST %s: HTTP %d: %s", u, resp.StatusCode, bytes.TrimSpace(body))
	}
	msg := failed.Message
	if failed.Hint != "" {
		msg += " (" + failed.Hint + ")"
	}
	return failed.Report, fmt.Errorf("%s", msg)
}
