package createorder

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// EnvMPVerify is the content of the verification file 公众平台 asks for when a domain
// is registered as 网页授权域名 (and JS接口安全域名, 业务域名): the file it offers for
// download is MP_verify_<content>.txt and must be reachable at the domain's root
// (https://<domain>/MP_verify_<content>.txt). The cashier's JSAPI scene needs the
// domain there for its snsapi_base OAuth. Setting the content (or the file's name)
// serves the file from this function, so no static host is needed in front of it.
const EnvMPVerify = "WXPAY_MP_VERIFY"

var mpVerifyToken = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// MPVerify returns the route and handler serving the verification file for setting
// (EnvMPVerify's value; "MP_verify_X.txt" is taken as X), or "" and nil when it is
// empty. A value that cannot be such a file is an error naming the setting.
func MPVerify(setting string) (pattern string, h http.Handler, err error) {
	token := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(setting), "MP_verify_"), ".txt")
	if token == "" {
		return "", nil, nil
	}
	if !mpVerifyToken.MatchString(token) {
		return "", nil, fmt.Errorf("%s=%q: want the letters and digits of the file 公众平台 offers (MP_verify_<these>.txt)", EnvMPVerify, setting)
	}
	return "GET /MP_verify_" + token + ".txt", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(token))
	}), nil
}
