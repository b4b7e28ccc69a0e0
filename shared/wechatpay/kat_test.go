package wechatpay

import (
	"testing"
	"time"
)

// Known answers. The expected signatures were computed independently with
//
//	printf '<message>' | openssl dgst -sha256 -sign testdata/merchant_key.pem | base64 -w0
//
// PKCS#1 v1.5 signatures are deterministic, so these only change with the key.
const (
	katTS    = 1554208460
	katNonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
	katBody  = `{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}`

	katSigGET   = "h56Ox4pT+M0xBv4GabNP23YyHsmlI4rW1nIIYdzqyvNQfWX0RkxoWXj5dpE+qxSGjWJZY7avCvNfgfihxON6gUrWTB8wv7opdc9SZfrMlrqAUWJo8Q5YCSDy4ZEs7MrhWU/VC9/XNtQ2G3Z9fjo/55Jx8kfZpfMm4tD/0Q0Yuqlt83Z3cEkrNcwYjXzWecmZrgV5KfYw3pmXaBBFHebFmWOO9Q6uJh+e4mlOlU/Ss7d9fWWifu9x5bJbkVKCariMDsuJjK6o6LvNQgXMyzyM+hzp2rIksjvDI/IXwafBIBPGKr+D4iyR6ru7ZnLHiI/k4b4c7Iy33LSvzYFKNwdm4Q=="
	katSigPOST  = "LmVzqK9/+qI2XQhu1VJNTQvgjOMGp5R1lvd1w3CC3yYIcdMq0BMz+Ez6CkgcU2ZGvKtW1+Fb7ahWbBwIw1LeIMBrulDNJpCKphOQ8IYWHnQeeFsMVCqRIJ1Cf4Rtai5KvdKunuaCfDkGaDTTtJaGVEaiDA/DzEMGBJbXfopMirRB+ivM5WeWxPbVSUiWEYHu1j8mYRoTfkKVSIA5e0qjQKDl5+RA0YLiJFXpSEhNqcWqDWHPRvduk0Hhcn9ELk2hd0/2zaYCRJ84VDtXlr/RNgh421UYR/+tcYqj4tmwj4xUGjhvIo0lKFey+AANw+/yFPb8qKNcvpbu3z+Sgz+ZjQ=="
	katSigQuery = "aURRo8fSMT7Qrlij1xVBAR2ytdG++X2QJSdzpfsP+P0wTIyxOneS2PaAaFCAY5xpGFoR0DheH0oZXBCTajQ1nXhQ4t3/gZ4Kli5fEtq7MonFWr0pRE9h2yC3e2qVX6w9AsWbbOIA2FySGoUm7dVZPdAuU9TbPS5S2WOa7GamI/w4gNBYU4I05334IoV7Kbt2Jp06oLIWF9ee0i3RHK0STJG501bDu9fdlrrxj/jCu9+v3RF5fRqk4OVAfednutcygT2tG8gh1kyEdDdV4ppmwh+RQQiu66TvbE2mQYnkGnqH41MWSCtnk2UMT9d8PYvz5R6MJAPywf++B9veoPPCWQ=="
	katSigResp  = "ot0Zf+U7F/ABZCtbGYjJ/wEiJDr5ZcwE1+Qyuv9O5ud7P7oouMIAOr+GFGdeefmeCflKY/Z5362l/VfAwsGxTl2X/HJh6VNgwc6RjyvhwzLtIDnJwhnXtDjZt8e+RqJq7i92PZ4xwjBraBC/bO7MQL/iVbzJgMcEvTS/hoIRAj9ZtpBf6vRGzuN54YgOcXC+PJdbv0gOp60O7WkGor8Fa/yINp8V6IVS+m5uPsNOk1DFXTsHsUEiu85LljAvpCf8HUUUfPJl7U8Z+59L/brTReapfn3Im+PeGIrl+4dK5AF0MTkbTu8/qPtDlHOyfdyj15LLcaPhpbiApeZQYTVlRA=="
	katSigJSAPI = "sq1RcxIuPuruP84aZFZpkproyQFmm1gjZb4NH5sboOCUYDiyRVpu4ZL5Xee9v/HF6m2fwVYMt6ezrMP3Zi3WeAaGWKCWrmCGVJxS0oEOaXEYaVfwraAHlN7Kg3mfaNSpg8w2gui0Y53wKME5vf7AGqg/GGU2ForcTOiZ0zqNi00CPE+qjMz93aIKG7Ux5Scc9rLzuatGYJoFdQEUkz61x0pTKEEFGmKjFaUdRe5zpQot93cVUJh1YU5gKp5+EMCJkHcofzXg/184HEa23K6p1DgFgRW8JFazhuxMAvlUsy90jvV5wD0PJg3TxqdXdKvA9QmHZ+12mGC61/sGMLfSkg=="
	katSigAPP   = "tAriRyPTbW4BLinoOmwTkWqg/e9Jsh0L5Z8P4G8vAma4/wzRJOBx01p6DFlBjUUL1o+jjhbn6ZZAp8szaOH3CNSVT2JvqOTmr4tiI6DylHSmBJO/D3akXgE84ybg46yLtAHweodyNn9GW1uGUlhxdm8N1zfwFunLgktR71/3xJCWnR7U7C21NrEXVsG5/sIhhMOCJgetckYLpP6zR418a9u0/eiBE7SZKWMZ+JUoZLc2Bp5TSxcfCMXohza21I/egz8kUxnmGqMZknXDogyLxbGjQ7DSwFkalrG9f0sz6tkJp5T47iXy9iZ316i0I4k1p+ZN+kE7xnJUWrMxfpHmdQ=="
	katSigZero  = "NnRTP8Um9i7bEOtUk++HVNXsmD00RAUgRLhaXUL8HgZtKAIPVg7DpQwzhyb7RCvMWfoJhc13SeYnk1+gppEVAVTl6MMAVv23sOVV4ZpMgZl+OGgAVn2SlmnuOSyIfCismaC/Xye78erJtdY3cItEApd/9qENb92c5UWVOBk9ktLqVawzrWO+eyZl7hCXiDwspR4o8ZQ1rzgKtaSUa2kGmOruRW0UdThC8ZIcgwY5qWaiE6iVyk7rQoo9wpAsczt1uZcjMXhA7H/9fntxTwL9NA5fBiOvIUTpnKH4Telvz3rkdmAPiGHXVEEBvfhmFUFr4xF+kbVL6epJHjKqRkfZPQ=="
)

func TestRequestMessageKAT(t *testing.T) {
	key := merchantKey(t)
	cases := []struct {
		name, method, target string
		body                 []byte
		wantMsg, wantSig     string
	}{
		{"GET empty body", "GET", "/v3/certificates", nil,
			"GET\n/v3/certificates\n1554208460\n" + katNonce + "\n\n", katSigGET},
		{"GET with query", "GET", "/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109", []byte{},
			"GET\n/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109\n1554208460\n" + katNonce + "\n\n", katSigQuery},
		{"POST JSON", "POST", "/v3/pay/transactions/jsapi", []byte(katBody),
			"POST\n/v3/pay/transactions/jsapi\n1554208460\n" + katNonce + "\n" + katBody + "\n", katSigPOST},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := RequestMessage(c.method, c.target, katTS, katNonce, c.body)
			if string(msg) != c.wantMsg {
				t.Fatalf("message\n got %q\nwant %q", msg, c.wantMsg)
			}
			sig, err := SignMessage(key, msg)
			if err != nil {
				t.Fatal(err)
			}
			if sig != c.wantSig {
				t.Fatalf("signature\n got %s\nwant %s", sig, c.wantSig)
			}
			if err := VerifyMessage(&key.PublicKey, msg, sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestResponseMessageKAT(t *testing.T) {
	msg := responseMessage("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", []byte(`{"data":[]}`))
	if want := "1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{\"data\":[]}\n"; string(msg) != want {
		t.Fatalf("got %q want %q", msg, want)
	}
	sig, err := SignMessage(merchantKey(t), msg)
	if err != nil {
		t.Fatal(err)
	}
	if sig != katSigResp {
		t.Fatalf("signature %s, want %s", sig, katSigResp)
	}
	// An empty body (204) is still terminated.
	if got := responseMessage("1", "n", nil); string(got) != "1\nn\n\n" {
		t.Fatalf("empty body: %q", got)
	}
}

func TestPaySignKAT(t *testing.T) {
	key := merchantKey(t)
	now := time.Unix(1414561699, 0)
	const nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
	j, err := signJSAPI(key, "wx8888888888888888", "wx201410272009395522657a690389285100", now, nonce)
	if err != nil {
		t.Fatal(err)
	}
	want := jsapiParams{AppID: "wx8888888888888888", TimeStamp: "1414561699", NonceStr: nonce,
		Package: "prepay_id=wx201410272009395522657a690389285100", SignType: "RSA", PaySign: katSigJSAPI}
	if j != want {
		t.Fatalf("JSAPI\n got %+v\nwant %+v", j, want)
	}
	a, err := signAPP(key, "wx8888888888888888", "1900000109", "WX1217752501201407033233368018", now, nonce)
	if err != nil {
		t.Fatal(err)
	}
	wantA := appParams{AppID: "wx8888888888888888", PartnerID: "1900000109", PrepayID: "WX1217752501201407033233368018",
		Package: "Sign=WXPay", NonceStr: nonce, TimeStamp: "1414561699", Sign: katSigAPP}
	if a != wantA {
		t.Fatalf("APP\n got %+v\nwant %+v", a, wantA)
	}
}

func TestPaySignRandomNonceVerifies(t *testing.T) {
	key := merchantKey(t)
	now := time.Unix(1700000000, 0)
	j, err := SignJSAPI(key, "wxapp", "wx2024", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.NonceStr) != 32 || j.TimeStamp != "1700000000" || j.SignType != "RSA" {
		t.Fatalf("bad bundle %+v", j)
	}
	if err := VerifyMessage(&key.PublicKey, []byte("wxapp\n1700000000\n"+j.NonceStr+"\nprepay_id=wx2024\n"), j.PaySign); err != nil {
		t.Fatal(err)
	}
	a, err := SignAPP(key, "wxapp", "1900000109", "wx2024", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyMessage(&key.PublicKey, []byte("wxapp\n1700000000\n"+a.NonceStr+"\nwx2024\n"), a.Sign); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorizationHeaderKAT(t *testing.T) {
	s := &Signer{MchID: fixtureMchID, Serial: fixtureMerchantSer, Key: merchantKey(t),
		Now: func() time.Time { return time.Unix(katTS, 0) }, Rand: zeroReader{}}
	got, err := s.Authorization("GET", "/v3/certificates", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="00000000000000000000000000000000",signature="` +
		katSigZero + `",timestamp="1554208460",serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1"`
	if got != want {
		t.Fatalf("Authorization\n got %s\nwant %s", got, want)
	}
}
