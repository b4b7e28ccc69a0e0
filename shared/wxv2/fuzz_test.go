package wxv2

import (
	"errors"
	"reflect"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// fuzzKey signs and encrypts the seed corpus in testdata/fuzz/FuzzParse, so the fuzzer
// starts from genuine payments and refunds as well as hostile XML.
const fuzzKey = "fuzzkey0fuzzkey0fuzzkey0fuzzkey0"

// FuzzParse: Parse never panics; every error is classified (401/400) or ErrNoKey; a
// message it accepts re-encodes to the same fields; a payment it accepts still
// verifies after the round trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<xml><return_code>SUCCESS</return_code></xml>`,
		`<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><return_code>&a;</return_code></xml>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Parse(body, fuzzKey)
		if err != nil {
			var ne *wechatpay.NotifyError
			if !errors.As(err, &ne) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		back, err := ParseXML(n.Params.EncodeXML(), "xml")
		if err != nil || !reflect.DeepEqual(back, n.Params) {
			t.Fatalf("round trip: %v, %v != %v", err, back, n.Params)
		}
		if n.Kind == KindPayment {
			if err := verify(back, fuzzKey); err != nil {
				t.Fatalf("accepted payment no longer verifies: %v", err)
			}
		}
		if n.Kind == KindRefund && n.Refund == nil {
			t.Fatal("refund without notice")
		}
	})
}
