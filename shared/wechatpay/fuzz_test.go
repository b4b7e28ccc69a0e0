package wechatpay

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add seeds below are the few
// that must always run, corpus or not.

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="c2ln",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="",signature="",timestamp="0",serial_no=""`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 =`)
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			if !errors.Is(err, errMalformedAuthorization) {
				t.Fatalf("error not classified: %v", err)
			}
			return
		}
		// Whatever parses must survive formatting and parsing again unchanged.
		b, err := ParseAuthorization(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip: %+v -> %q -> %+v, %v", a, a.String(), b, err)
		}
	})
}

// fuzzVerifier verifies with the fixture platform key at a fixed clock, under both a
// certificate serial and a public-key id.
func fuzzVerifier(f *testing.F) (*Verifier, *PlatformSigner) {
	pk := platformKey(f)
	clock := func() time.Time { return verifyNow }
	return &Verifier{Keys: StaticKeys{fixturePlatformSer: &pk.PublicKey, fixturePublicKeyID: &pk.PublicKey}, Now: clock},
		&PlatformSigner{Serial: fixturePlatformSer, Key: pk, Now: clock}
}

func FuzzVerifierHeaders(f *testing.F) {
	v, ps := fuzzVerifier(f)
	body := []byte(`{"prepay_id":"wx2024"}`)
	h, err := ps.Sign(body)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h.Timestamp, h.Nonce, h.Signature, h.Serial, body)
	f.Add(h.Timestamp, h.Nonce, SignTestPrefix+h.Signature, h.Serial, body)
	f.Add("-9223372036854775808", "n", "c2ln", "x", []byte{})
	f.Fuzz(func(t *testing.T, ts, nonce, sig, serial string, body []byte) {
		h := SignatureHeaders{Timestamp: ts, Nonce: nonce, Signature: sig, Serial: serial}
		if err := v.Verify(context.Background(), h, body); err != nil {
			return
		}
		// Accepted: it must be a genuine signature, by an independent check.
		if strings.HasPrefix(sig, SignTestPrefix) {
			t.Fatal("accepted a SIGNTEST probe")
		}
		if err := VerifyMessage(&platformKey(t).PublicKey, responseMessage(ts, nonce, body), sig); err != nil {
			t.Fatalf("accepted an invalid signature: %v", err)
		}
	})
}

func FuzzParseNotification(f *testing.F) {
	v, ps := fuzzVerifier(f)
	a := testAEAD(f)
	for _, in := range []NotificationInput{
		{ID: "EV-1", CreateTime: verifyNow, EventType: EventTransactionSuccess, OriginalType: "transaction", AssociatedData: "transaction", Resource: []byte(txResource)},
		{ID: "EV-2", CreateTime: verifyNow, EventType: EventRefundSuccess, OriginalType: "refund", Resource: []byte(refundResource)},
	} {
		body, err := BuildNotification(a, in)
		if err != nil {
			f.Fatal(err)
		}
		h, _ := ps.Sign(body)
		f.Add(h.Timestamp, h.Nonce, h.Signature, h.Serial, body)
	}
	f.Add("1700000000", "n", "", "S", []byte(`{"resource":{}}`))
	f.Fuzz(func(t *testing.T, ts, nonce, sig, serial string, body []byte) {
		h := SignatureHeaders{Timestamp: ts, Nonce: nonce, Signature: sig, Serial: serial}
		n, pt, err := ParseNotification(context.Background(), v, a, h, body)
		if err != nil {
			var ne *NotifyError
			if !errors.As(err, &ne) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if n == nil || pt == nil {
			t.Fatal("nil result without error")
		}
		if err := VerifyMessage(&platformKey(t).PublicKey, responseMessage(ts, nonce, body), sig); err != nil {
			t.Fatalf("accepted a notification without a valid signature: %v", err)
		}
	})
}

func FuzzAEADOpen(f *testing.F) {
	a := testAEAD(f)
	ct, _ := a.Seal("0123456789ab", "transaction", []byte(txResource))
	f.Add("0123456789ab", "transaction", ct)
	f.Add("0123456789ab", "", "")
	f.Add("short", "", "AAAA")
	f.Add("0123456789ab", "certificate", "\r\n"+ct)
	f.Fuzz(func(t *testing.T, nonce, ad, ctB64 string) {
		pt, err := a.Open(nonce, ad, ctB64)
		if err != nil {
			return
		}
		// Only authentic ciphertexts open: sealing the plaintext again gives the same
		// bytes (compared decoded, as base64 decoding tolerates newlines).
		again, err := a.Seal(nonce, ad, pt)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := base64.StdEncoding.DecodeString(ctB64)
		got, _ := base64.StdEncoding.DecodeString(again)
		if !bytes.Equal(got, want) {
			t.Fatalf("opened a ciphertext that is not the seal of its plaintext")
		}
	})
}
