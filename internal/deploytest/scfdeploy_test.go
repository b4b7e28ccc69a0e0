package deploytest

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/keysdirtest"
)

// TestSCFPackageIsWhatIsDeployed holds `make package SCF_KEYS_DIR=…` to what the Tencent
// deployment files deploy and to how the functions then find their secrets:
//   - build/scf/<fn>.zip holds exactly the files of build/scf/<fn>/, the folder the
//     serverless.yml files point `src` at (the framework zips that folder itself), with the
//     same modes;
//   - the keys dir travels as keys/, and a web function started from the unpacked package
//     with WXPAY_KEYS_DIR=<package>/keys and no secret in its environment (as the SCF files
//     deploy it: /var/user/keys) takes its API token from there.
func TestSCFPackageIsWhatIsDeployed(t *testing.T) {
	if _, err := exec.LookPath("zip"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zip not installed: make package needs it (apt-get install zip)")
		}
		t.Skip("zip not installed: make package needs it")
	}
	_, ids := keysdirtest.Dir(t)
	keys := t.TempDir()
	if err := os.CopyFS(keys, os.DirFS(ids)); err != nil {
		t.Fatal(err)
	}
	const token = "packaged-token"
	if err := os.WriteFile(filepath.Join(keys, "api_token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, fn := range functions(t) {
		t.Run(fn.name, func(t *testing.T) {
			cmd := exec.Command("make", "-s", "build/scf/"+fn.name+".zip", "SCF_KEYS_DIR="+keys)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make: %v\n%s", err, b)
			}
			folder := filepath.Join(root, "build", "scf", fn.name)
			inZip := zipEntries(t, filepath.Join(root, "build", "scf", fn.name+".zip"))
			inFolder := map[string]string{}
			err := filepath.WalkDir(folder, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(folder, p)
				inFolder[filepath.ToSlash(rel)] = fmt.Sprintf("%v %d %x", info.Mode().Perm(), len(b), b[:min(len(b), 64)])
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !mapsEqual(inZip, inFolder) {
				t.Errorf("build/scf/%s.zip differs from build/scf/%s/ (what serverless.yml deploys):\nzip    %v\nfolder %v", fn.name, fn.name, keysOf(inZip), keysOf(inFolder))
			}
			for _, want := range []string{"bootstrap", "keys/api_token", "keys/apiv3_key"} {
				if _, ok := inZip[want]; !ok {
					t.Errorf("package has no %s", want)
				}
			}
			if !fn.http {
				return
			}
			dir := unzip(t, filepath.Join(root, "build", "scf", fn.name+".zip"))
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			var e []string
			for _, kv := range env(t, "WXPAY_SCF_WEB_ADDR="+addr) {
				switch {
				case strings.HasPrefix(kv, "WXPAY_API_TOKEN="), strings.HasPrefix(kv, "WXPAY_KEYS_DIR="):
				default:
					e = append(e, kv)
				}
			}
			e = append(e, "WXPAY_KEYS_DIR="+filepath.Join(dir, "keys"))
			start(t, "/bin/bash", e, filepath.Join(dir, "scf_bootstrap"))
			waitPort(t, addr)
			// The function works from the packaged keys alone (the usual probe)...
			pr := probeFor(fn.name)
			req, _ := http.NewRequestWithContext(context.Background(), pr.method, "http://"+addr+pr.path, strings.NewReader(pr.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pr.check(t, resp.StatusCode, resp.Header, body)
			// ...and its bearer token is the packaged api_token.
			path := map[string]string{"notify": "/events", "createorder": "/orders/NOSUCHORDER1"}[fn.name]
			if path == "" {
				t.Logf("no bearer-guarded GET known for %s", fn.name)
				return
			}
			status := func(auth string) (int, []byte) {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, body
			}
			if code, body := status(""); code != http.StatusUnauthorized {
				t.Logf("GET %s without a token: %d %s — not bearer-guarded in this build (route not merged yet?): token check not run", path, code, body)
				return
			}
			if code, _ := status("Bearer wrong"); code != http.StatusUnauthorized {
				t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
			}
			if code, body := status("Bearer " + token); code == http.StatusUnauthorized {
				t.Errorf("GET %s with the packaged api_token: %d %s; the token must come from the packaged keys dir", path, code, body)
			}
		})
	}
}

func zipEntries(t *testing.T, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]string{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = fmt.Sprintf("%v %d %x", f.Mode().Perm(), len(b), b[:min(len(b), 64)])
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
