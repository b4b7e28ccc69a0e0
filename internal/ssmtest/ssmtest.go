// Package ssmtest is a stand-in for Tencent Cloud SSM's API endpoint in tests (there
// is no Tencent server here): GetSecretValue and ListSecretVersionIds, answered in
// the API 3.0 shape, for requests whose TC3-HMAC-SHA256 signature really verifies
// against the test's key (Verify recomputes it from the request as received). A
// request signed wrongly, with another key, without the temporary key's token or with
// a stale timestamp is refused with the API's error codes.
package ssmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Key is a Tencent Cloud API key: SecretId, SecretKey and, for a temporary key, its
// session token (the fields of the client's credentials in shared/secrets/tencentssm,
// which convert to it).
type Key struct {
	SecretID, SecretKey, Token string
}

// Version is one version of a secret.
type Version struct {
	ID         string
	CreateTime int64
	String     string
}

// Server is a running stand-in.
type Server struct {
	URL   string
	creds Key

	mu      sync.Mutex
	secrets map[string][]Version // by region + "/" + name
	calls   []string             // "Action SecretName", in order
	refused []string             // why requests were refused
}

// Start serves secrets (keyed by "region/name") for the key creds until the test ends.
func Start(t testing.TB, creds Key, secrets map[string][]Version) *Server {
	t.Helper()
	s := &Server{creds: creds, secrets: secrets}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Calls are the actions served (or refused), in order.
func (s *Server) Calls() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.calls) }

// Refused are the reasons requests were refused, in order.
func (s *Server) Refused() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.refused) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	answer := func(v map[string]any) {
		v["RequestId"] = "ssmtest-" + time.Now().Format("150405.000000")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"Response": v})
	}
	fail := func(code, msg string) {
		s.mu.Lock()
		s.refused = append(s.refused, code+": "+msg)
		s.mu.Unlock()
		answer(map[string]any{"Error": map[string]string{"Code": code, "Message": msg}})
	}
	action := r.Header.Get("X-TC-Action")
	var in struct{ SecretName, VersionId string }
	_ = json.Unmarshal(body, &in)
	s.mu.Lock()
	s.calls = append(s.calls, action+" "+in.SecretName)
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("X-TC-Version") != "2019-09-23" {
		fail("InvalidParameter", "POST with X-TC-Version 2019-09-23")
		return
	}
	if err := Verify(r, body, "ssm", time.Now(), func(id string) (string, string, bool) {
		if id != s.creds.SecretID {
			return "", "", false
		}
		return s.creds.SecretKey, s.creds.Token, true
	}); err != nil {
		code, msg, _ := strings.Cut(err.Error(), ": ")
		fail(code, msg)
		return
	}
	region := r.Header.Get("X-TC-Region")
	s.mu.Lock()
	versions, ok := s.secrets[region+"/"+in.SecretName]
	s.mu.Unlock()
	if !ok {
		fail("ResourceNotFound", "secret "+in.SecretName+" does not exist in "+region)
		return
	}
	switch action {
	case "ListSecretVersionIds":
		var list []map[string]any
		for _, v := range versions {
			list = append(list, map[string]any{"VersionId": v.ID, "CreateTime": v.CreateTime})
		}
		answer(map[string]any{"SecretName": in.SecretName, "Versions": list})
	case "GetSecretValue":
		for _, v := range versions {
			if v.ID == in.VersionId {
				answer(map[string]any{"SecretName": in.SecretName, "VersionId": v.ID, "SecretString": v.String, "SecretBinary": ""})
				return
			}
		}
		fail("ResourceNotFound", "version "+in.VersionId+" of "+in.SecretName+" does not exist")
	default:
		fail("InvalidAction", "action "+action+" is not served here")
	}
}
