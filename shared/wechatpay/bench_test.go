package wechatpay

// Benchmarks, run by `make bench`:
//
//	go test -run '^$' -bench . -benchmem ./shared/...
//
// The *Ratio benchmarks interleave rounds of ours / the official SDK / the bare
// cryptographic primitives and report the ratios of the medians from one run, so the
// numbers are comparable even on a busy machine.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/credentials"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
)

// notifyBench holds one genuine notification and the three ways to process it.
type notifyBench struct {
	body []byte
	h    SignatureHeaders
	hh   http.Header

	ours *Notifier
	sdk  *notify.Handler

	// bare: prebuilt inputs of one RSA verification and one GCM open.
	pub    *rsa.PublicKey
	digest []byte
	sig    []byte
	gcm    cipher.AEAD
	nonce  []byte
	ad     []byte
	ct     []byte
	ptBuf  []byte
}

func newNotifyBench(b *testing.B) *notifyBench {
	pk := platformKey(b)
	a := testAEAD(b)
	body, err := BuildNotification(a, NotificationInput{ID: "EV-2018022511223320873", CreateTime: time.Now(),
		EventType: EventTransactionSuccess, Summary: "支付成功", OriginalType: "transaction", AssociatedData: "transaction",
		Resource: []byte(txResource)})
	if err != nil {
		b.Fatal(err)
	}
	// Signed with the real clock: the SDK checks the timestamp against time.Now.
	h, err := (&PlatformSigner{Serial: fixturePlatformSer, Key: pk}).Sign(body)
	if err != nil {
		b.Fatal(err)
	}
	nb := &notifyBench{body: body, h: h, hh: http.Header{}, pub: &pk.PublicKey}
	h.Apply(nb.hh)
	nb.ours = &Notifier{Verifier: &Verifier{Keys: StaticKeys{fixturePlatformSer: &pk.PublicKey}}, AEAD: a}
	nb.sdk, err = notify.NewRSANotifyHandler(fixtureAPIv3KeyText, verifiers.NewSHA256WithRSAPubkeyVerifier(fixturePlatformSer, pk.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256(responseMessage(h.Timestamp, h.Nonce, body))
	nb.digest = d[:]
	nb.sig, _ = base64.StdEncoding.DecodeString(h.Signature)
	var n Notification
	json.Unmarshal(body, &n)
	blk, _ := aes.NewCipher([]byte(fixtureAPIv3KeyText))
	nb.gcm, _ = cipher.NewGCM(blk)
	nb.nonce, nb.ad = []byte(n.Resource.Nonce), []byte(n.Resource.AssociatedData)
	nb.ct, _ = base64.StdEncoding.DecodeString(n.Resource.Ciphertext)
	nb.ptBuf = make([]byte, 0, len(nb.ct))
	return nb
}

func (nb *notifyBench) runOurs(b *testing.B) {
	_, pt, err := nb.ours.Parse(context.Background(), nb.h, nb.body)
	if err != nil || len(pt) == 0 {
		b.Fatal(err)
	}
}

func (nb *notifyBench) runSDK(b *testing.B) {
	req := &http.Request{Method: "POST", Header: nb.hh, Body: io.NopCloser(bytes.NewReader(nb.body))}
	var content json.RawMessage // the plaintext, as ours returns it: no model decoding on either side
	if _, err := nb.sdk.ParseNotifyRequest(context.Background(), req, &content); err != nil {
		b.Fatal(err)
	}
}

func (nb *notifyBench) runBare(b *testing.B) {
	if err := rsa.VerifyPKCS1v15(nb.pub, crypto.SHA256, nb.digest, nb.sig); err != nil {
		b.Fatal(err)
	}
	if _, err := nb.gcm.Open(nb.ptBuf[:0], nb.nonce, nb.ct, nb.ad); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkNotifyVerifyDecrypt(b *testing.B) {
	nb := newNotifyBench(b)
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			nb.runOurs(b)
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			nb.runSDK(b)
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			nb.runBare(b)
		}
	})
}

// signBench holds one request to sign three ways.
type signBench struct {
	ours   *Signer
	sdk    *credentials.WechatPayCredentials
	key    *rsa.PrivateKey
	digest []byte
	target string
	body   []byte
}

func newSignBench(b *testing.B) *signBench {
	k := merchantKey(b)
	sb := &signBench{key: k, target: "/v3/pay/transactions/jsapi", body: []byte(katBody),
		ours: &Signer{MchID: fixtureMchID, Serial: fixtureMerchantSer, Key: k},
		sdk:  &credentials.WechatPayCredentials{Signer: &signers.SHA256WithRSASigner{MchID: fixtureMchID, CertificateSerialNo: fixtureMerchantSer, PrivateKey: k}}}
	d := sha256.Sum256(RequestMessage("POST", sb.target, katTS, katNonce, sb.body))
	sb.digest = d[:]
	k.Precompute()
	return sb
}

func (sb *signBench) runOurs(b *testing.B) {
	if _, err := sb.ours.Authorization("POST", sb.target, sb.body); err != nil {
		b.Fatal(err)
	}
}

func (sb *signBench) runSDK(b *testing.B) {
	if _, err := sb.sdk.GenerateAuthorizationHeader(context.Background(), "POST", sb.target, string(sb.body)); err != nil {
		b.Fatal(err)
	}
}

func (sb *signBench) runBare(b *testing.B) {
	if _, err := rsa.SignPKCS1v15(nil, sb.key, crypto.SHA256, sb.digest); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSignRequest(b *testing.B) {
	sb := newSignBench(b)
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sb.runOurs(b)
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sb.runSDK(b)
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sb.runBare(b)
		}
	})
}

// ratioRounds interleaves rounds of the three variants — k operations each, in an
// order that rotates every round so that none always runs on a warm or cold cache —
// and reports the medians of the per-operation times and their ratios.
func ratioRounds(b *testing.B, k int, ours, sdk, bare func(*testing.B)) {
	fns := []func(*testing.B){ours, sdk, bare}
	var per [3][]float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range 3 {
			v := (i + j) % 3
			start := time.Now()
			for range k {
				fns[v](b)
			}
			per[v] = append(per[v], float64(time.Since(start).Nanoseconds())/float64(k))
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	o, s, r := med(per[0]), med(per[1]), med(per[2])
	b.ReportMetric(o, "ours_ns")
	b.ReportMetric(s, "sdk_ns")
	b.ReportMetric(r, "bare_ns")
	b.ReportMetric(o/s, "x_sdk")
	b.ReportMetric(o/r, "x_bare")
}

func BenchmarkNotifyRatio(b *testing.B) {
	nb := newNotifyBench(b)
	ratioRounds(b, 50, nb.runOurs, nb.runSDK, nb.runBare)
}

func BenchmarkSignRatio(b *testing.B) {
	sb := newSignBench(b)
	ratioRounds(b, 5, sb.runOurs, sb.runSDK, sb.runBare)
}
