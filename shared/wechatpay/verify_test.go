package wechatpay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

var verifyNow = time.Unix(1700000000, 0)

func signedFixture(t *testing.T, body []byte, ts time.Time) (SignatureHeaders, *Verifier) {
	t.Helper()
	pk := platformKey(t)
	ps := &PlatformSigner{Serial: fixturePlatformSer, Key: pk, Now: func() time.Time { return ts }}
	h, err := ps.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: StaticKeys{fixturePlatformSer: &pk.PublicKey}, Now: func() time.Time { return verifyNow }}
	return h, v
}

func TestVerifierAcceptsGenuine(t *testing.T) {
	body := []byte(`{"prepay_id":"wx2024"}`)
	h, v := signedFixture(t, body, verifyNow)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatal(err)
	}
	// Hex serials are matched case-insensitively.
	h.Serial = "3a8a4d1f0c2b6e9d7f1e2a3b4c5d6e7f80912ab3"
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("lower-case serial: %v", err)
	}
}

func TestVerifierRejects(t *testing.T) {
	body := []byte(`{"id":"EV-2018022511223320873","resource":{"ciphertext":"x"}}`)
	ctx := context.Background()
	type mut func(h *SignatureHeaders, b *[]byte)
	cases := []struct {
		name string
		m    mut
		want error
	}{
		{"missing timestamp", func(h *SignatureHeaders, _ *[]byte) { h.Timestamp = "" }, errMissingSignature},
		{"missing nonce", func(h *SignatureHeaders, _ *[]byte) { h.Nonce = "" }, errMissingSignature},
		{"missing signature", func(h *SignatureHeaders, _ *[]byte) { h.Signature = "" }, errMissingSignature},
		{"missing serial", func(h *SignatureHeaders, _ *[]byte) { h.Serial = "" }, errMissingSignature},
		{"SIGNTEST probe", func(h *SignatureHeaders, _ *[]byte) { h.Signature = SignTestPrefix + h.Signature }, ErrSignatureProbe},
		{"timestamp not a number", func(h *SignatureHeaders, _ *[]byte) { h.Timestamp = "17e8" }, ErrTimestampSkew},
		{"unknown serial", func(h *SignatureHeaders, _ *[]byte) { h.Serial = "00DEADBEEF" }, ErrUnknownSerial},
		{"tampered body", func(_ *SignatureHeaders, b *[]byte) { *b = bytes.Replace(*b, []byte("x"), []byte("y"), 1) }, ErrBadSignature},
		{"other nonce", func(h *SignatureHeaders, _ *[]byte) { h.Nonce += "0" }, ErrBadSignature},
		{"signature of another message", func(h *SignatureHeaders, _ *[]byte) {
			s, _ := SignMessage(merchantKey(t), responseMessage(h.Timestamp, h.Nonce, body))
			h.Signature = s
		}, ErrBadSignature},
		{"re-marshalled JSON body", func(_ *SignatureHeaders, b *[]byte) {
			var v any
			if err := json.Unmarshal(*b, &v); err != nil {
				t.Fatal(err)
			}
			// Same data, different bytes (key order, spacing): must not verify.
			out, _ := json.MarshalIndent(v, "", " ")
			*b = out
		}, ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, v := signedFixture(t, body, verifyNow)
			b := bytes.Clone(body)
			c.m(&h, &b)
			err := v.Verify(ctx, h, b)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestVerifierClockSkew(t *testing.T) {
	body := []byte(`{}`)
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{
		{0, true},
		{5 * time.Minute, true}, // boundary: exactly 5 minutes is still accepted
		{-5 * time.Minute, true},
		{5*time.Minute + time.Second, false},
		{-5*time.Minute - time.Second, false},
		{time.Hour, false},
		{-24 * time.Hour, false},
	} {
		t.Run(c.offset.String(), func(t *testing.T) {
			h, v := signedFixture(t, body, verifyNow.Add(c.offset))
			err := v.Verify(context.Background(), h, body)
			if c.ok && err != nil {
				t.Fatalf("offset %v: %v", c.offset, err)
			}
			if !c.ok && !errors.Is(err, ErrTimestampSkew) {
				t.Fatalf("offset %v: err = %v, want ErrTimestampSkew", c.offset, err)
			}
		})
	}
	// A custom tolerance applies.
	h, v := signedFixture(t, body, verifyNow.Add(-2*time.Minute))
	v.Tolerance = time.Minute
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, ErrTimestampSkew) {
		t.Fatalf("tolerance 1m, skew 2m: %v", err)
	}
	// Extreme timestamps must not overflow into acceptance.
	h.Timestamp = strconv.FormatInt(-1<<63, 10)
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, ErrTimestampSkew) {
		t.Fatalf("MinInt64: %v", err)
	}
}

func TestVerifierNoKeysIsConfigError(t *testing.T) {
	h, _ := signedFixture(t, []byte("{}"), verifyNow)
	v := &Verifier{Now: func() time.Time { return verifyNow }}
	if err := v.Verify(context.Background(), h, []byte("{}")); !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
}

func TestHeadersFromAndApply(t *testing.T) {
	in := SignatureHeaders{Timestamp: "1", Nonce: "n", Signature: "s", Serial: "S"}
	hh := http.Header{}
	in.Apply(hh)
	if got := HeadersFrom(hh); got != in {
		t.Fatalf("got %+v", got)
	}
	if hh.Get(headerSignatureType) != AuthScheme {
		t.Fatal("signature type not set")
	}
	// Header names are case-insensitive on the wire.
	raw := http.Header{}
	raw.Set("wechatpay-timestamp", "1")
	if HeadersFrom(raw).Timestamp != "1" {
		t.Fatal("canonicalisation")
	}
}

func TestStaticKeysPublicKeyID(t *testing.T) {
	pk := platformKey(t)
	keys := StaticKeys{fixturePublicKeyID: &pk.PublicKey}
	if _, err := keys.PublicKey(context.Background(), fixturePublicKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.PublicKey(context.Background(), "PUB_KEY_ID_OTHER"); !errors.Is(err, ErrUnknownSerial) {
		t.Fatalf("err = %v", err)
	}
}
