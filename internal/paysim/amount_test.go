package paysim

import (
	"strings"
	"testing"
)

// WeChat Pay's amount.total is a 32-bit int of fen (wechatpay.MaxAmount): the simulator
// refuses more, as the real API does, instead of taking 9,223,372,036,854,775,807 fen.
func TestPrepayRefusesAmountsBeyondInt32(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	for _, total := range []int64{1<<31 - 1 + 1, 1<<63 - 1} {
		r := e.call("POST", "/v3/pay/transactions/native", e.nativeOrder("AMOUNT000001", total, rc.url()))
		if r.status != 400 || r.errorBody(t).Code != "PARAM_ERROR" || !strings.Contains(r.errorBody(t).Message, "2147483647") {
			t.Fatalf("total %d: %d %s", total, r.status, r.body)
		}
	}
	e.placeNative("AMOUNT000002", 1<<31-1, rc.url()) // the largest is accepted
}
