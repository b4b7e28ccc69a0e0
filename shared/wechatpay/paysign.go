package wechatpay

import (
	"crypto/rsa"
	"strconv"
	"time"
)

// jsapiParams is what WeixinJSBridge.invoke('getBrandWCPayRequest', …) and the
// mini-program's wx.requestPayment take, field names as the client expects them.
type jsapiParams struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// SignJSAPI builds the JSAPI / mini-program pay bundle for a prepay_id, signing
// appId\ntimeStamp\nnonceStr\npackage\n with the merchant key.
func SignJSAPI(key *rsa.PrivateKey, appID, prepayID string, now time.Time) (jsapiParams, error) {
	nonce, err := newNonce(nil)
	if err != nil {
		return jsapiParams{}, err
	}
	return signJSAPI(key, appID, prepayID, now, nonce)
}

// signJSAPI is SignJSAPI with a given nonce, so that tests can check known answers.
func signJSAPI(key *rsa.PrivateKey, appID, prepayID string, now time.Time, nonce string) (jsapiParams, error) {
	var err error
	p := jsapiParams{AppID: appID, TimeStamp: strconv.FormatInt(now.Unix(), 10), NonceStr: nonce,
		Package: "prepay_id=" + prepayID, SignType: "RSA"}
	p.PaySign, err = SignMessage(key, lines(p.AppID, p.TimeStamp, p.NonceStr, p.Package))
	return p, err
}

// appParams is what the APP's OpenSDK PayReq takes.
type appParams struct {
	AppID     string `json:"appid"`
	PartnerID string `json:"partnerid"`
	PrepayID  string `json:"prepayid"`
	Package   string `json:"package"`
	NonceStr  string `json:"noncestr"`
	TimeStamp string `json:"timestamp"`
	Sign      string `json:"sign"`
}

// SignAPP builds the APP pay bundle, signing appid\ntimestamp\nnoncestr\nprepayid\n.
// partnerID is the merchant id that placed the order (sub_mchid in partner mode).
func SignAPP(key *rsa.PrivateKey, appID, partnerID, prepayID string, now time.Time) (appParams, error) {
	nonce, err := newNonce(nil)
	if err != nil {
		return appParams{}, err
	}
	return signAPP(key, appID, partnerID, prepayID, now, nonce)
}

// signAPP is SignAPP with a given nonce.
func signAPP(key *rsa.PrivateKey, appID, partnerID, prepayID string, now time.Time, nonce string) (appParams, error) {
	var err error
	p := appParams{AppID: appID, PartnerID: partnerID, PrepayID: prepayID, Package: "Sign=WXPay",
		NonceStr: nonce, TimeStamp: strconv.FormatInt(now.Unix(), 10)}
	p.Sign, err = SignMessage(key, lines(p.AppID, p.TimeStamp, p.NonceStr, p.PrepayID))
	return p, err
}

// lines joins fields each followed by "\n", the shape of every APIv3 signed string.
func lines(fields ...string) []byte {
	n := 0
	for _, f := range fields {
		n += len(f) + 1
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = append(b, f...)
		b = append(b, '\n')
	}
	return b
}
