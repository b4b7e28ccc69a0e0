package wechatpay

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerifyRoundTripGeneratedKeys(t *testing.T) {
	k1, k2 := generatedKeys(t)
	msg := RequestMessage("POST", "/v3/refund/domestic/refunds", time.Now().Unix(), "N", []byte(`{"a":1}`))
	sig, err := SignMessage(k1, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyMessage(&k1.PublicKey, msg, sig); err != nil {
		t.Fatalf("own key: %v", err)
	}
	if err := VerifyMessage(&k2.PublicKey, msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	msg[len(msg)-2] = '2'
	if err := VerifyMessage(&k1.PublicKey, msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("altered message: %v", err)
	}
	if err := VerifyMessage(&k1.PublicKey, msg, "not base64!"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad base64: %v", err)
	}
}

func TestSignerAuthorizationParsesAndVerifies(t *testing.T) {
	k, _ := generatedKeys(t)
	s := &Signer{MchID: "1230000109", Serial: "ABC123", Key: k}
	body := []byte(`{"mchid":"1230000109"}`)
	h, err := s.Authorization("POST", "/v3/pay/transactions/out-trade-no/x123456/close", body)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuthorization(h)
	if err != nil {
		t.Fatal(err)
	}
	if a.MchID != "1230000109" || a.Serial != "ABC123" || len(a.Nonce) != 32 || time.Since(time.Unix(a.Timestamp, 0)) > time.Minute {
		t.Fatalf("parsed %+v", a)
	}
	msg := RequestMessage("POST", "/v3/pay/transactions/out-trade-no/x123456/close", a.Timestamp, a.Nonce, body)
	if err := VerifyMessage(&k.PublicKey, msg, a.Signature); err != nil {
		t.Fatal(err)
	}
	if a.String() != h {
		t.Fatalf("String() does not round-trip:\n%s\n%s", a.String(), h)
	}
}

func TestNewNonce(t *testing.T) {
	a, err := newNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newNonce(nil)
	if len(a) != 32 || a == b || strings.ToUpper(a) != a {
		t.Fatalf("nonces %q %q", a, b)
	}
	if _, err := newNonce(strings.NewReader("short")); err == nil {
		t.Fatal("want error from a failing reader")
	}
}

func TestParseAuthorization(t *testing.T) {
	full := `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="N1",signature="c2ln",timestamp="1554208460",serial_no="S1"`
	ok := []struct {
		name, in string
	}{
		{"canonical", full},
		{"SDK order", `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="N1",timestamp="1554208460",serial_no="S1",signature="c2ln"`},
		{"spaces after commas", `WECHATPAY2-SHA256-RSA2048 mchid="1900000001", nonce_str="N1", signature="c2ln", timestamp="1554208460", serial_no="S1"`},
		{"surrounding whitespace", "  " + full + " \t"},
		{"unknown parameter ignored", `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",extra="x",nonce_str="N1",signature="c2ln",timestamp="1554208460",serial_no="S1"`},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseAuthorization(c.in)
			if err != nil {
				t.Fatal(err)
			}
			want := Authorization{MchID: "1900000001", Nonce: "N1", Signature: "c2ln", Timestamp: 1554208460, Serial: "S1"}
			if a != want {
				t.Fatalf("got %+v", a)
			}
		})
	}
	bad := []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "scheme"},
		{"wrong scheme", strings.Replace(full, "WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SM2-WITH-SM3", 1), "scheme"},
		{"lower-case scheme", strings.ToLower(full[:25]) + full[25:], "scheme"},
		{"no parameters", "WECHATPAY2-SHA256-RSA2048", "scheme"},
		{"missing serial", `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",signature="s",timestamp="1"`, "missing serial_no"},
		{"missing two", `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",timestamp="1"`, "missing signature, serial_no"},
		{"duplicate", full + `,mchid="2"`, "given twice"},
		{"unquoted", `WECHATPAY2-SHA256-RSA2048 mchid=1900000001,nonce_str="N1"`, "quoted"},
		{"unterminated", `WECHATPAY2-SHA256-RSA2048 mchid="1900000001`, "unterminated"},
		{"no equals", `WECHATPAY2-SHA256-RSA2048 mchid`, "key="},
		{"junk between", `WECHATPAY2-SHA256-RSA2048 mchid="1" nonce_str="N"`, "expected ','"},
		{"timestamp not a number", strings.Replace(full, "1554208460", "soon", 1), "not Unix seconds"},
		{"negative timestamp", strings.Replace(full, "1554208460", "-5", 1), "not Unix seconds"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseAuthorization(c.in)
			if !errors.Is(err, errMalformedAuthorization) {
				t.Fatalf("err = %v, want ErrMalformedAuthorization", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("err %q does not mention %q", err, c.wantMsg)
			}
		})
	}
}
