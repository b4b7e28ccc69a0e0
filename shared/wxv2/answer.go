package wxv2

import (
	"bytes"
	"net/http"
)

// The answer WeChat Pay expects (商户处理后同步返回给微信参数): return_code SUCCESS
// acknowledges; FAIL with return_msg (or no answer) makes it deliver again, on the
// 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h schedule.
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_7&index=8

// AckXML is the acknowledgement body.
const AckXML = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

// FailXML is a refusal body carrying reason as return_msg.
func FailXML(reason string) []byte {
	var b bytes.Buffer
	b.WriteString("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>")
	writeCDATA(&b, reason)
	b.WriteString("</return_msg></xml>")
	return b.Bytes()
}

// contentType is the Content-Type of answers.
const contentType = "text/xml; charset=utf-8"

// WriteAck answers 200 with AckXML.
func WriteAck(w http.ResponseWriter) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(AckXML))
}

// WriteFail answers status with FailXML(reason).
func WriteFail(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(FailXML(reason))
}

// Acknowledged reports whether an answer acknowledges a v2 notification: HTTP 200 and
// return_code SUCCESS in the XML body.
func Acknowledged(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	p, err := ParseXML(body, "xml")
	return err == nil && p["return_code"] == "SUCCESS"
}
