package wechatpay

import (
	"crypto/x509"
	"math/big"
	"testing"
)

// WeChat Pay and its SDKs write serials as %X of the serial's bytes; a serial whose
// first byte is below 0x10 keeps its leading zero.
func TestCertificateSerialKeepsLeadingZero(t *testing.T) {
	for _, c := range []struct {
		serial string
		want   string
	}{
		{"0B72313D", "0B72313D"},
		{"5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"},
		{"01", "01"},
	} {
		n, _ := new(big.Int).SetString(c.serial, 16)
		if got := CertificateSerial(&x509.Certificate{SerialNumber: n}); got != c.want {
			t.Errorf("serial %s formatted as %s, want %s", c.serial, got, c.want)
		}
	}
}
