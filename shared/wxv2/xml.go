// Package wxv2 reads WeChat Pay's APIv2 XML notifications: payment results signed with
// the APIv2 key (MD5 or HMAC-SHA256), and refund results whose req_info is AES-256-ECB
// encrypted with md5(APIv2 key). Merchants on APIv3 still receive them: a refund made by
// hand in the merchant platform (商户平台手动退款) is always notified in v2 XML. Parsed
// notifications are converted to the v3 shapes (*wechatpay.Transaction,
// *wechatpay.RefundNotice), so the one payment state machine applies both.
//
// WeChat Pay's documents (APIv2, JSAPI payment; the other products have the same pages):
//
//	签名算法 (安全规范)  https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3
//	支付结果通知        https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_7&index=8
//	退款结果通知        https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16&index=10
//	退款结果通知 (机构)  https://pay.weixin.qq.com/wiki/doc/api/wxpay/ch/pay/NativePay/chapter8_8.shtml
//	回调通知注意事项     the answer must be bare XML: no JSON, no text, no characters between tags
//
// In partner mode (服务商) the messages add sub_appid and sub_mch_id (listed in the 机构
// refund page above) and, for payments, sub_openid; appid/mch_id are then the service
// provider's. The payment page of the partner documents (jsapi_sl.php) was not
// available to check here; its field names are the ones WeChat Pay's SDKs use.
//
// The XML reader is deliberately narrow: one root element holding flat, unique,
// attribute-free child elements of text or CDATA — exactly what WeChat Pay sends. A
// DOCTYPE (and with it any entity declaration) is refused, encoding/xml never fetches
// external entities, and bodies are bounded, so XXE and entity-expansion attacks have
// nothing to work with. Duplicate fields are refused because the signature would cover
// one copy while the code might read the other.
package wxv2

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// MaxBody bounds a v2 notification body. Real ones are under 2 KiB.
const MaxBody = 64 << 10

// maxFields bounds the number of fields of one message (a payment with many coupons
// has a few dozen).
const maxFields = 256

// Params is a flat v2 message: field name → value, as the XML carried it.
type Params map[string]string

// errFormat is the class of every parsing error: the body is not a v2 message.
var errFormat = errors.New("wxv2: not a v2 XML message")

func formatErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errFormat}, a...)...)
}

// ParseXML reads a flat v2 XML message. root is the required root element name
// ("xml" for notifications; "" accepts any, as the decrypted req_info uses <root>).
func ParseXML(body []byte, root string) (Params, error) {
	if len(body) > MaxBody {
		return nil, formatErr("body larger than %d bytes", MaxBody)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	// No CharsetReader: anything but UTF-8 is refused, as WeChat Pay sends UTF-8.
	p := Params{}
	depth := 0
	var field string
	var val strings.Builder
	seenRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formatErr("%v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			// <!DOCTYPE …> and <!ENTITY …>: never in a WeChat Pay message.
			return nil, formatErr("DOCTYPE and other <!…> declarations are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || seenRoot {
				return nil, formatErr("unexpected processing instruction <?%s?>", t.Target)
			}
		case xml.Comment:
			// ignored wherever it is
		case xml.StartElement:
			if len(t.Attr) > 0 {
				return nil, formatErr("element <%s> has attributes", t.Name.Local)
			}
			if t.Name.Space != "" {
				return nil, formatErr("element <%s:%s> has a namespace", t.Name.Space, t.Name.Local)
			}
			switch depth {
			case 0:
				if seenRoot {
					return nil, formatErr("more than one root element")
				}
				if root != "" && t.Name.Local != root {
					return nil, formatErr("root element <%s>, want <%s>", t.Name.Local, root)
				}
				seenRoot = true
			case 1:
				field = t.Name.Local
				if _, dup := p[field]; dup {
					return nil, formatErr("field %s appears twice", field)
				}
				if len(p) >= maxFields {
					return nil, formatErr("more than %d fields", maxFields)
				}
				val.Reset()
			default:
				return nil, formatErr("field %s is not flat: nested element <%s>", field, t.Name.Local)
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				p[field] = val.String()
			}
		case xml.CharData:
			switch depth {
			case 2:
				val.Write(t)
			default:
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, formatErr("text outside a field")
				}
			}
		}
	}
	if !seenRoot {
		return nil, formatErr("no root element")
	}
	return p, nil
}

// EncodeXML writes p as WeChat Pay does: <xml>, one element per field in name order,
// every value in CDATA.
func (p Params) EncodeXML() []byte { return p.encode("xml") }

func (p Params) encode(root string) []byte {
	var b bytes.Buffer
	b.WriteString("<" + root + ">")
	for _, k := range p.keys() {
		b.WriteString("<" + k + ">")
		writeCDATA(&b, p[k])
		b.WriteString("</" + k + ">")
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}

// writeCDATA writes v as CDATA; a "]]>" inside is split across two sections.
func writeCDATA(b *bytes.Buffer, v string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}

func (p Params) keys() []string {
	ks := make([]string, 0, len(p))
	for k := range p {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
