package createorder

import (
	"fmt"
	"net/http"
	"strings"
)

// EnvMPVerify is the content of the verification file 公众平台 asks for when a domain
// is registered as 网页授权域名 (and JS接口安全域名, 业务域名): the file it offers for
// download is MP_verify_<content>.txt and must be reachable at the domain's root
// (https://<domain>/MP_verify_<content>.txt). The cashier's JSAPI scene needs the
// domain there for its snsapi_base OAuth. Setting the content (or the file's name)
// serves the file from this function, so no static host is needed in front of it.
const EnvMPVerify = "WXPAY_MP_VERIFY"

// mpVerifyToken: 1 to 64 ASCII letters and digits. Not a regexp: {1,64} compiles to 64
// copies of its class, 0.2-0.9 ms of every createorder cold start.
func mpVerifyToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// MPVerify returns the route and handler serving the verification file for setting
// (EnvMPVerify's value; "MP_verify_X.txt" is taken as X), or "" and nil when it is
// empty. A value that cannot be such a file is an error naming the setting.
func MPVerify(setting string) (pattern string, h http.Handler, err error) {
	token := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(setting), "MP_verify_"), ".txt")
	if token == "" {
		return "", nil, nil
	}
	if !mpVerifyToken(token) {
		return "", nil, fmt.Errorf("%s=%q: want the letters and digits of the file 公众平台 offers (MP_verify_<these>.txt)", EnvMPVerify, setting)
	}
	return "GET /MP_verify_" + token + ".txt", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(token))
	}), nil
}
