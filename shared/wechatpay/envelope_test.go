package wechatpay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const sampleEnvelope = `{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"3TxpOF8YqF5Zy2cYQWrZNnmC1FWrxwIPvIv4WejUr+8ctmM6L3kxqQ6JS56S7JkVFMiCvfcMGkQFMtUifq09Wrt6+bNwMUNLKQ52zLyMLwS9uML2Y2Qmi1obactel3rwwTs+IXGir505F2eLBG9ruqtJxGd2dlsLQ+0Sl7OUA/mMCnxMXUhfwJC84lv2oZDC3T827Mzy0BQ5YmXfdpgOA0OCTl+OwokWMXJz2DiGafE1n0pqH/R0VgDyUCEAOb6l+dFRR7S0I1yVe7/6czAYp+i7mTgNrmudG7EgDoOVfGga9Wq9epO6PEew1ypK5M8PmIopNSzg34WEouFhOqvPZfi2paqib2gxexcqtniQQbdechavr4SH/3JSpg8Zbnnbeo3ClFDU7eRVO2FCAPQaMlcSmjU4zv2H98dvB9TnIyon/so+QwSo/ZwWMnTKeztviuYd5ICbrtzAPoeeDrPlYlB0pwlFT8Tz3lqC0QZWKvL0+FIj0+9P+2/JvZpr5aVrFosMI1Afb17P7zx69jnLFPFX0ph4AgBK/N8oRNg12uVqvJM3E07/4P7LWLKyrf9FySovQplbhlasAyOf5PWb3aBwEv19hr71uMvAyuCll39zhIZ9M1CZTcSLpuyeWDOUwt3Y7ww0mOMruvK5a5mREuowqfP/OVv73yX/mf/7MEo9wAvz2bNqAuS0c9xc2yn5EHN4rNSTgApcJh2OTNUVEZXu7sL04S/pKpApS4eXxTS1bnLeqVfk5rePQagXFXwMFJVfAPmLyMRLsBLpdc2lO2LIof+nx8HnqjHvKYnolRgJYAlUuHx1mdjsPrZreDjK12b3cBznrfC7gac+3VW4r42f2b533RCAvchchxb7l+sdzQSFImbxZ1IAZFO/ZozZEFFko2FypOh2SdZYigW6Rq6hxw8EFOrvp6GwKpkhGbb4xnQsGHupDAMte5QmiMb9M8KUP5DSIo7gCsO7FMWtXFrdetyQfLXsZ/CidA+JOlSGKL+8s/ISyajpl8YseGNhlq39Zci53GoQCETs/ixLPz4BOTeTLC9FASUoEGPKet+OvYhdo4Xlopbhs95jl6jjgZcT6Bkr5ivG2ocqi2aP5hpnnVDXq/OwXvdofTHxlp2oydlYo9xqXhg+emzSQ8woub6XXO22KOKuEcWMSCiSMWYm9gsP2v0QkCw54ZmJHuDoivV2jVrFQjdH9nO2m68SHj9I9PBj4eSbDG235d/gSxp6VrrH+UaP5b4fjZi4xZ+9Nr1oUAc1Z6RRqqvCVLY1DTMpp2H/aXr9gNUs8fL8kkfuiWEKTkcoW/JKTZjiizzbHEkXSU3+dm4AITiKWrdvSUs80OGg==","associated_data":"transaction","nonce":"4de73afd28b6"}}`

// The fast path must take the envelope WeChat Pay sends (the documented example and
// what SealNotification writes), or it saves nothing.
func TestFastEnvelopeTakesRealEnvelopes(t *testing.T) {
	aead, err := NewAEAD(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	_, sealed, err := SealNotification(aead, EventRefundSuccess, map[string]any{"out_refund_no": "R1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{[]byte(sampleEnvelope), sealed, []byte(strings.ReplaceAll(sampleEnvelope, ",", " ,\n\t"))} {
		var fast, slow Notification
		if !fastEnvelope(body, &fast) {
			t.Fatalf("fast path declined %s", body)
		}
		if err := json.Unmarshal(body, &slow); err != nil || fast != slow {
			t.Fatalf("fast %+v\nslow %+v (%v)", fast, slow, err)
		}
	}
}

// Whatever the fast path accepts, encoding/json accepts and decodes the same way.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		sampleEnvelope,
		`{}`, `{"id":"a"}`, `{"id":"a","id":"b"}`, `{"ID":"x"}`, `{"reſource":"x"}`, `{"id":"\u00e9"}`,
		`{"id":"a","extra":"b","resource":{"nonce":"n","x":"y"}}`, `{"id":"a"} x`, `{"id":"a",}`,
		`{"resource":{"nonce":1}}`, `{"id":null}`, "{\"id\":\"\xff\"}", `{"resource":{},"resource":{"algorithm":"A"}}`,
		` { "summary" : "支付成功" } `, `{"extra":{"a":[1,2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast Notification
		if !fastEnvelope(body, &fast) {
			return
		}
		var slow Notification
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, body)
		}
		if fast != slow {
			t.Fatalf("fast %+v\nslow %+v\nbody %q", fast, slow, body)
		}
	})
}

func mustKey(t *testing.T) APIv3Key {
	k, err := NewAPIv3Key(strings.Repeat("0123456789abcdef", 2))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
