package notifycheck

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// expiryWindow is how early doctor fails a certificate: platform certificates are
// rotated by WeChat Pay, and a month is the time to notice and redeploy.
const expiryWindow = 30 * 24 * time.Hour

func (d *Doctor) checkMchID() Check {
	const name = "mchid"
	id := d.Config.MchID
	if id == "" {
		return fail(name, "not set", "设置 WXPAY_MCHID 为商户号（商户平台 → 账户中心 → 商户信息）",
			"set WXPAY_MCHID to your merchant id (商户平台 → 账户中心 → 商户信息)")
	}
	if strings.IndexFunc(id, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return fail(name, fmt.Sprintf("%q is not all digits", id),
			"商户号只含数字（如 1900000109），不是 AppID 也不是公司名",
			"the merchant id is digits only (e.g. 1900000109), not the AppID or a name")
	}
	return ok(name, id)
}

func (d *Doctor) checkAppID() Check {
	const name = "appid"
	switch id := d.Config.AppID; {
	case id == "":
		return warn(name, "not set: needed to place JSAPI/APP/H5/Native orders (WXPAY_APPID)")
	case !strings.HasPrefix(id, "wx"):
		return warn(name, fmt.Sprintf("%q does not start with wx: AppIDs of official accounts, mini programs and apps do", id))
	default:
		return ok(name, id)
	}
}

func isHex(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')
	}) < 0
}

// checkPrivateKey covers the merchant private key, the merchant serial and, when the
// merchant certificate is configured, that the three belong together: a key from one
// application and a serial from another is the classic cause of 401 SIGN_ERROR.
func (d *Doctor) checkPrivateKey() []Check {
	var out []Check
	cfg := d.Config
	key, keyErr := cfg.MerchantKey()
	switch {
	case cfg.PrivateKey.IsZero():
		out = append(out, fail("merchant private key", "not set",
			"设置 WXPAY_PRIVATE_KEY_FILE 指向 apiclient_key.pem（商户平台 → API安全 → 申请API证书时生成）",
			"set WXPAY_PRIVATE_KEY_FILE to apiclient_key.pem (generated when applying for the API certificate)"))
	case keyErr != nil:
		out = append(out, fail("merchant private key", keyErr.Error()+" ("+cfg.Source("PrivateKey")+")",
			"使用 apiclient_key.pem 的完整内容（含 PEM 头尾两行），不是 apiclient_cert.pem 或 .p12",
			"use the whole apiclient_key.pem (with its PEM header and footer lines), not apiclient_cert.pem or the .p12"))
	case key.N.BitLen() < 2048:
		out = append(out, fail("merchant private key", fmt.Sprintf("RSA-%d: WeChat Pay API keys are RSA-2048", key.N.BitLen()),
			"重新在商户平台申请API证书，使用其生成的 apiclient_key.pem", "re-apply for the API certificate and use its apiclient_key.pem"))
		key = nil
	default:
		out = append(out, ok("merchant private key", fmt.Sprintf("RSA-%d, parses (%s)", key.N.BitLen(), cfg.Source("PrivateKey"))))
	}

	serial := strings.ToUpper(strings.TrimSpace(cfg.MerchantSerial))
	cert, certErr := cfg.MerchantCertificate()
	const sname = "merchant serial"
	switch {
	case serial == "":
		out = append(out, fail(sname, "not set",
			"设置 WXPAY_MERCHANT_SERIAL 为商户API证书序列号（商户平台 → API安全 → 管理证书）",
			"set WXPAY_MERCHANT_SERIAL to the API certificate serial (商户平台 → API安全 → 管理证书)"))
	case !isHex(serial):
		out = append(out, fail(sname, fmt.Sprintf("%q is not hexadecimal", serial),
			"序列号是40位十六进制字符，不要带空格、冒号或 0x", "the serial is 40 hex digits, without spaces, colons or 0x"))
	case cert == nil && len(serial) != 40:
		out = append(out, fail(sname, fmt.Sprintf("is %d hex digits; WeChat Pay's merchant serials are 40", len(serial)),
			"从商户平台 → API安全 → 管理证书 复制完整序列号，或用 openssl x509 -noout -serial -in apiclient_cert.pem 查看",
			"copy the full serial from 商户平台 → API安全, or run openssl x509 -noout -serial -in apiclient_cert.pem"))
	case cert == nil:
		out = append(out, ok(sname, serial))
	case strings.TrimLeft(serial, "0") != strings.TrimLeft(wechatpay.CertificateSerial(cert), "0"):
		out = append(out, fail(sname, fmt.Sprintf("%s is not the merchant certificate's serial %s", serial, wechatpay.CertificateSerial(cert)),
			"WXPAY_MERCHANT_SERIAL 必须是与私钥配套的 apiclient_cert.pem 的序列号（换过证书后常见）",
			"WXPAY_MERCHANT_SERIAL must be the serial of the apiclient_cert.pem that goes with the key (common after a certificate renewal)"))
	default:
		out = append(out, ok(sname, serial+" (matches the merchant certificate)"))
	}

	const cname = "merchant certificate"
	now := d.now()
	switch {
	case len(cfg.MerchantCert) == 0:
		out = append(out, skip(cname, "not configured (WXPAY_MERCHANT_CERT_FILE): key ↔ certificate match not checked"))
	case certErr != nil:
		out = append(out, fail(cname, certErr.Error(),
			"WXPAY_MERCHANT_CERT_FILE 应指向 apiclient_cert.pem", "WXPAY_MERCHANT_CERT_FILE must point at apiclient_cert.pem"))
	case key != nil && !wechatpay.KeyMatchesCertificate(key, cert):
		out = append(out, fail(cname, "the private key does not belong to this certificate (serial "+wechatpay.CertificateSerial(cert)+"): requests would fail with 401 SIGN_ERROR",
			"私钥和证书必须来自同一次申请：使用同一个压缩包中的 apiclient_key.pem 与 apiclient_cert.pem",
			"key and certificate must come from the same application: use apiclient_key.pem and apiclient_cert.pem from the same bundle"))
	case now.After(cert.NotAfter):
		out = append(out, fail(cname, "expired on "+cert.NotAfter.Format(time.DateOnly),
			"在商户平台 → API安全 更换API证书，并更新私钥和序列号", "renew the API certificate in 商户平台 → API安全 and update key and serial"))
	default:
		out = append(out, ok(cname, "matches the private key, valid until "+cert.NotAfter.Format(time.DateOnly)))
	}
	return out
}

// checkAPIv3Key catches the mistakes behind "the callback never arrives / cannot be
// decrypted": no key at all, the APIv2 key, a truncated copy, stray whitespace.
func (d *Doctor) checkAPIv3Key() Check {
	const name = "APIv3 key"
	cfg := d.Config
	raw := string(cfg.APIv3Key.Reveal())
	key := strings.TrimSpace(raw)
	src := cfg.Source("APIv3Key")
	const zhSet = "在 商户平台 → 账户中心 → API安全 → 设置APIv3密钥，复制完整的32位密钥（与APIv2密钥不同）"
	const enSet = "copy the exact 32-character key set in 商户平台 → 账户中心 → API安全 → APIv3密钥 (not the APIv2 key)"
	switch {
	case cfg.APIv3Key.IsZero():
		return fail(name, "not set: v3 notifications cannot be decrypted (WXPAY_APIV3_KEY)", zhSet, enSet)
	case strings.IndexFunc(key, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsSpace(r) }) >= 0:
		return fail(name, fmt.Sprintf("contains spaces or non-ASCII characters (%s)", src),
			"密钥只含字母和数字，可能复制时带入了全角字符或空格", "the key is letters and digits only: a full-width character or a space was pasted")
	case !cfg.APIv2Key.IsZero() && key == strings.TrimSpace(string(cfg.APIv2Key.Reveal())):
		return fail(name, "is the APIv2 key: APIv2 and APIv3 keys are separate settings", zhSet, enSet)
	case len(key) == 40 && isHex(key):
		return fail(name, fmt.Sprintf("is 40 hex digits — that is a certificate serial, not the APIv3 key (%s)", src), zhSet, enSet)
	case len(key) != 32:
		return fail(name, fmt.Sprintf("is %d bytes; it must be exactly 32 (%s)", len(key), src), zhSet, enSet)
	case key != raw:
		return warn(name, fmt.Sprintf("32 bytes, but with surrounding whitespace (%s): wxpay trims it, other SDKs may not and then fail to decrypt", src))
	default:
		return ok(name, fmt.Sprintf("32 bytes (%s)", src))
	}
}

// checkPlatform checks what verifies WeChat Pay's signatures: the platform certificate
// (not expiring within 30 days) and/or the platform public key with its PUB_KEY_ID.
func (d *Doctor) checkPlatform() []Check {
	cfg := d.Config
	hasCert, hasPub := len(cfg.PlatformCert) > 0, len(cfg.PlatformPublicKey) > 0 || cfg.PlatformPublicKeyID != ""
	if !hasCert && !hasPub {
		return []Check{fail("platform key", "neither a platform certificate nor a platform public key is configured: notifications cannot be verified",
			"新商户：在 商户平台 → API安全 → 微信支付公钥 下载 pub_key.pem 并设置 WXPAY_PLATFORM_PUBLIC_KEY_FILE 和 WXPAY_PLATFORM_PUBLIC_KEY_ID；老商户可下载平台证书设置 WXPAY_PLATFORM_CERT_FILE",
			"download the WeChat Pay public key (商户平台 → API安全 → 微信支付公钥) and set WXPAY_PLATFORM_PUBLIC_KEY_FILE and WXPAY_PLATFORM_PUBLIC_KEY_ID, or set WXPAY_PLATFORM_CERT_FILE to a platform certificate")}
	}
	var out []Check
	now := d.now()
	if hasCert {
		const name = "platform certificate"
		cert, err := cfg.PlatformCertificate()
		const zh = "下载最新的微信支付平台证书（GET /v3/certificates）或改用微信支付公钥"
		const en = "download the current platform certificate (GET /v3/certificates) or switch to the WeChat Pay public key"
		switch {
		case err != nil:
			out = append(out, fail(name, err.Error(), zh, en))
		case strings.EqualFold(wechatpay.CertificateSerial(cert), strings.TrimSpace(cfg.MerchantSerial)):
			out = append(out, fail(name, "is your merchant certificate (apiclient_cert.pem), not WeChat Pay's platform certificate",
				"平台证书是微信支付的证书，不是自己的 apiclient_cert.pem", "the platform certificate is WeChat Pay's, not your own apiclient_cert.pem"))
		case now.After(cert.NotAfter):
			out = append(out, fail(name, fmt.Sprintf("serial %s expired on %s: notifications signed with the new certificate fail verification",
				wechatpay.CertificateSerial(cert), cert.NotAfter.Format(time.DateOnly)), zh, en))
		case now.Before(cert.NotBefore):
			out = append(out, fail(name, "not valid before "+cert.NotBefore.Format(time.RFC3339)+": is the local clock wrong?",
				"校准服务器时间（NTP）", "fix the server clock (NTP)"))
		case cert.NotAfter.Sub(now) < expiryWindow:
			out = append(out, fail(name, fmt.Sprintf("serial %s expires in %d days (%s)", wechatpay.CertificateSerial(cert),
				int(cert.NotAfter.Sub(now).Hours()/24), cert.NotAfter.Format(time.DateOnly)), zh, en))
		default:
			out = append(out, ok(name, fmt.Sprintf("serial %s, valid until %s", wechatpay.CertificateSerial(cert), cert.NotAfter.Format(time.DateOnly))))
		}
	}
	if hasPub {
		const name = "platform public key"
		const zh = "在 商户平台 → API安全 → 微信支付公钥 下载 pub_key.pem，并填写页面上的公钥ID（PUB_KEY_ID_ 开头）"
		const en = "download pub_key.pem from 商户平台 → API安全 → 微信支付公钥 and set its id (starting PUB_KEY_ID_)"
		switch {
		case len(cfg.PlatformPublicKey) == 0:
			out = append(out, fail(name, "WXPAY_PLATFORM_PUBLIC_KEY_ID is set but the key file is not (WXPAY_PLATFORM_PUBLIC_KEY_FILE)", zh, en))
		case !strings.HasPrefix(cfg.PlatformPublicKeyID, wechatpay.PublicKeyIDPrefix):
			out = append(out, fail(name, fmt.Sprintf("id %q must start with %s", cfg.PlatformPublicKeyID, wechatpay.PublicKeyIDPrefix), zh, en))
		default:
			if _, err := wechatpay.ParsePublicKey(cfg.PlatformPublicKey); err != nil {
				out = append(out, fail(name, err.Error(), zh, en))
			} else {
				out = append(out, ok(name, cfg.PlatformPublicKeyID))
			}
		}
	}
	return out
}
