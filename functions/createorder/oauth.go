package createorder

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
)

// oauthAnswer is WeChat's /sns/oauth2/access_token answer (errors: errcode/errmsg).
type oauthAnswer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	OpenID      string `json:"openid"`
	Scope       string `json:"scope"`
	UnionID     string `json:"unionid"`
}

// oauthErrors maps WeChat's errcodes of the code exchange to our answers.
var oauthErrors = map[int]*apiError{
	40029: fail(http.StatusBadRequest, "INVALID_CODE", "WeChat says the code is invalid (40029 invalid code)",
		"a code lives 5 minutes and belongs to the appid that asked for it: send the user through /connect/oauth2/authorize again · code无效或已过期，请重新授权"),
	40163: fail(http.StatusBadRequest, "CODE_USED", "WeChat says the code was already used (40163 code been used)",
		"a code can be exchanged once: exchange it once and keep the openid (e.g. in the session), or authorize again · code只能使用一次"),
	41008: fail(http.StatusBadRequest, "CODE_MISSING", "WeChat says the code is missing (41008)", "pass ?code= from the authorize redirect"),
	40125: fail(http.StatusBadGateway, "INVALID_APP_SECRET", "WeChat refused the AppSecret (40125 invalid appsecret)",
		"set WXPAY_APP_SECRET to the official account's AppSecret (公众平台 → 设置与开发 → 基本配置)"),
	40001: fail(http.StatusBadGateway, "INVALID_APP_SECRET", "WeChat refused the AppSecret (40001 invalid credential)",
		"set WXPAY_APP_SECRET to the official account's AppSecret, and check the server's IP is in its IP whitelist"),
	40013: fail(http.StatusBadGateway, "INVALID_APPID", "WeChat says the appid is invalid (40013)", "check WXPAY_APPID is the official account's appid"),
	40164: fail(http.StatusBadGateway, "IP_NOT_WHITELISTED", "WeChat refused the caller's IP (40164 invalid ip, not in whitelist)",
		"add the function's outbound IP to the official account's IP whitelist (公众平台 → 基本配置 → IP白名单)"),
	45011: fail(http.StatusTooManyRequests, "OAUTH_RATE_LIMITED", "WeChat rate-limited the code exchange (45011)", "retry shortly"),
	-1:    fail(http.StatusServiceUnavailable, "WECHAT_BUSY", "WeChat is busy (-1 system error)", "retry shortly"),
}

func (h *Handler) oauthOpenID(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	if code == "" {
		h.writeError(w, r, badRequest("CODE_MISSING", "code is required: GET /oauth/openid?code=CODE, with the code WeChat's authorize redirect brought").
			withHint("redirect the user to https://open.weixin.qq.com/connect/oauth2/authorize?appid=APPID&redirect_uri=URL&response_type=code&scope=snsapi_base#wechat_redirect"))
		return
	}
	if len(code) > 512 {
		h.writeError(w, r, badRequest("INVALID_CODE", "code is longer than 512 characters"))
		return
	}
	if h.cfg.Bundle.AppSecret.IsZero() {
		h.writeError(w, r, fail(http.StatusNotImplemented, "OAUTH_NOT_CONFIGURED", "this deployment has no AppSecret, so it cannot exchange OAuth codes",
			"set "+config.EnvAppSecret+" to the official account's AppSecret"))
		return
	}
	ans, err := h.exchangeCode(r.Context(), code)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	apiauth.WriteJSON(w, http.StatusOK, ans)
}

// exchangeCode calls /sns/oauth2/access_token. Errors never carry the URL (it holds
// the AppSecret).
func (h *Handler) exchangeCode(ctx context.Context, code string) (*orderapi.OpenIDAnswer, error) {
	base := strings.TrimRight(cmp.Or(h.cfg.Bundle.OAuthBase, config.DefaultOAuthBase), "/")
	q := url.Values{"appid": {h.cfg.AppID}, "secret": {string(h.cfg.Bundle.AppSecret.Reveal())}, "code": {code}, "grant_type": {"authorization_code"}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sns/oauth2/access_token?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("createorder: oauth request to %s could not be built", base)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		// The URL holds the AppSecret: log the cause without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		h.log.Warn("oauth code exchange failed", "base", base, "error", err.Error())
		return nil, fail(http.StatusBadGateway, "OAUTH_UNREACHABLE", "WeChat's OAuth endpoint "+base+" could not be reached", "retry; check "+config.EnvOAuthBase)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode/100 != 2 {
		return nil, fail(http.StatusBadGateway, "OAUTH_ERROR", fmt.Sprintf("WeChat's OAuth endpoint answered HTTP %d", resp.StatusCode), "retry later")
	}
	var a oauthAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fail(http.StatusBadGateway, "OAUTH_ERROR", "WeChat's OAuth endpoint answered something that is not JSON", "check "+config.EnvOAuthBase)
	}
	if a.ErrCode != 0 {
		if e, ok := oauthErrors[a.ErrCode]; ok {
			cp := *e
			return nil, &cp
		}
		return nil, fail(http.StatusBadGateway, "OAUTH_ERROR", fmt.Sprintf("WeChat refused the code exchange: errcode %d %s", a.ErrCode, a.ErrMsg), "")
	}
	if a.OpenID == "" {
		return nil, fail(http.StatusBadGateway, "OAUTH_ERROR", "WeChat's answer carries no openid", "")
	}
	field := "payer.openid"
	if h.partner {
		field = "payer.sp_openid"
	}
	return &orderapi.OpenIDAnswer{OpenID: a.OpenID, AppID: h.cfg.AppID, Scope: a.Scope, UnionID: a.UnionID, PayerField: field}, nil
}
