package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// expiryWindow is how early doctor fails a certificate: platform certificates are
// rotated by WeChat Pay, and a month is the time to notice and redeploy.
const expiryWindow = 30 * 24 * time.Hour

func (d *Doctor) checkMchID() Check {
	const name = "mchid"
	id := d.Config.MchID
	if id == "" {
		c := d.notSet(name, "MchID", "")
		c.FixZH += "（商户平台 → 账户中心 → 商户信息）"
		c.FixEN += " (商户平台 → 账户中心 → 商户信息)"
		return c
	}
	if strings.IndexFunc(id, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return fail(name, fmt.Sprintf("%q is not all digits", id),
			"商户号只含数字（如 1900000109），不是 AppID 也不是公司名",
			"the merchant id is digits only (e.g. 1900000109), not the AppID or a name")
	}
	d.mchOK = true
	return ok(name, id)
}

func (d *Doctor) checkAppID() Check {
	const name = "appid"
	switch id := d.Config.AppID; {
	case id == "":
		return warn(name, "not set: needed to place JSAPI/APP/H5/Native orders ("+d.place("AppID")+")")
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
	keyZH, keyEN := "使用 apiclient_key.pem 的完整内容（含 PEM 头尾两行），不是 apiclient_cert.pem 或 .p12",
		"use the whole apiclient_key.pem (with its PEM header and footer lines), not apiclient_cert.pem or the .p12"
	if d.fromDir("PrivateKey") {
		keyZH, keyEN = "把 apiclient_key.pem 放入 "+d.place("PrivateKey")+"（不是 apiclient_cert.pem 或 .p12）",
			"put apiclient_key.pem at "+d.place("PrivateKey")+" (not apiclient_cert.pem or the .p12)"
	}
	broken := d.unloaded("PrivateKey") // configured, but unusable: the functions refuse to start
	switch {
	case broken != nil:
		out = append(out, fail("merchant private key", broken.detail, broken.zh, broken.en))
		key = nil
	case cfg.PrivateKey.IsZero():
		c := d.notSet("merchant private key", "PrivateKey", "")
		if !d.fromDir("PrivateKey") && d.unloaded("PrivateKey") == nil {
			c.FixZH += "（apiclient_key.pem 在 商户平台 → 账户中心 → API安全 → 申请API证书 时生成），或在 " + config.EnvPrivateKey + " 中直接填写 PEM 文本"
			c.FixEN += " (generated when applying for the API certificate), or give the PEM text in " + config.EnvPrivateKey
		}
		out = append(out, c)
		key = nil
	case keyErr != nil:
		out = append(out, fail("merchant private key", plain(keyErr)+" ("+cfg.Source("PrivateKey")+")", keyZH, keyEN))
		key = nil
	case key.N.BitLen() < 2048:
		out = append(out, fail("merchant private key", fmt.Sprintf("RSA-%d: WeChat Pay API keys are RSA-2048", key.N.BitLen()),
			"重新在商户平台申请API证书，使用其生成的 apiclient_key.pem", "re-apply for the API certificate and use its apiclient_key.pem"))
		key = nil
	default:
		out = append(out, ok("merchant private key", fmt.Sprintf("RSA-%d, parses (%s)", key.N.BitLen(), cfg.Source("PrivateKey"))))
	}
	d.key = key

	serial := strings.ToUpper(strings.TrimSpace(cfg.MerchantSerial))
	cert, certErr := cfg.MerchantCertificate()
	const sname = "merchant serial"
	switch {
	case serial == "":
		c := d.notSet(sname, "MerchantSerial", "")
		c.FixZH += "（商户平台 → 账户中心 → API安全 → 管理证书，或 openssl x509 -noout -serial -in apiclient_cert.pem）"
		c.FixEN += " (商户平台 → 账户中心 → API安全 → 管理证书, or openssl x509 -noout -serial -in apiclient_cert.pem)"
		out = append(out, c)
	case !isHex(serial):
		out = append(out, fail(sname, fmt.Sprintf("%q is not hexadecimal", serial),
			"序列号是40位十六进制字符，不要带空格、冒号或 0x", "the serial is 40 hex digits, without spaces, colons or 0x"))
	case cert == nil && len(serial) != 40:
		out = append(out, fail(sname, fmt.Sprintf("is %d hex digits; WeChat Pay's merchant serials are 40", len(serial)),
			"从商户平台 → 账户中心 → API安全 → 管理证书 复制完整序列号，或用 openssl x509 -noout -serial -in apiclient_cert.pem 查看",
			"copy the full serial from 商户平台 → 账户中心 → API安全 → 管理证书, or run openssl x509 -noout -serial -in apiclient_cert.pem"))
	case cert == nil:
		d.serialOK = true
		out = append(out, ok(sname, serial))
	case strings.TrimLeft(serial, "0") != strings.TrimLeft(wechatpay.CertificateSerial(cert), "0"):
		out = append(out, fail(sname, fmt.Sprintf("%s is not the merchant certificate's serial %s", serial, wechatpay.CertificateSerial(cert)),
			d.place("MerchantSerial")+" 必须是与私钥配套的 apiclient_cert.pem 的序列号（换过证书后常见）",
			d.place("MerchantSerial")+" must be the serial of the apiclient_cert.pem that goes with the key (common after a certificate renewal)"))
	default:
		d.serialOK = true
		out = append(out, ok(sname, serial+" (matches the merchant certificate)"))
	}

	const cname = "merchant certificate"
	now := d.now()
	switch broken := d.unloaded("MerchantCert"); {
	case broken != nil:
		out = append(out, fail(cname, broken.detail, broken.zh, broken.en))
	case len(cfg.MerchantCert) == 0:
		out = append(out, skip(cname, "not configured ("+d.place("MerchantCert")+"): key ↔ certificate match not checked"))
	case certErr != nil:
		out = append(out, fail(cname, plain(certErr)+" ("+cfg.Source("MerchantCert")+")",
			d.place("MerchantCert")+" 应为 apiclient_cert.pem", d.place("MerchantCert")+" must be apiclient_cert.pem"))
	case now.After(cert.NotAfter):
		out = append(out, fail(cname, "expired on "+cert.NotAfter.Format(time.DateOnly),
			"在 商户平台 → 账户中心 → API安全 更换API证书，并更新私钥和序列号", "renew the API certificate in 商户平台 → 账户中心 → API安全 and update key and serial"))
	case key == nil:
		// The key failed above: nothing to match against, and no ✔ may follow from it.
		out = append(out, skip(cname, "valid until "+cert.NotAfter.Format(time.DateOnly)+"; not matched against the private key, which did not load (see above)"))
	case !wechatpay.KeyMatchesCertificate(key, cert):
		out = append(out, fail(cname, "the private key does not belong to this certificate (serial "+wechatpay.CertificateSerial(cert)+"): requests would fail with 401 SIGN_ERROR",
			"私钥和证书必须来自同一次申请：使用同一个压缩包中的 apiclient_key.pem 与 apiclient_cert.pem",
			"key and certificate must come from the same application: use apiclient_key.pem and apiclient_cert.pem from the same bundle"))
		d.key = nil
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
	zhSet := "在 " + trigger.APIv3KeyConsolePath + " 设置的32位密钥（与APIv2密钥不同），完整复制到 " + d.place("APIv3Key")
	enSet := "copy the exact 32-character key set in " + trigger.APIv3KeyConsolePath + " (not the APIv2 key) to " + d.place("APIv3Key")
	switch {
	case cfg.APIv3Key.IsZero():
		if p := d.unloaded("APIv3Key"); p != nil {
			return fail(name, p.detail, p.zh, p.en)
		}
		return fail(name, "not set: v3 notifications cannot be decrypted ("+d.place("APIv3Key")+")", zhSet, enSet)
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
		d.v3OK = true
		return warn(name, fmt.Sprintf("32 bytes, but with surrounding whitespace (%s): wxpay trims it, other SDKs may not and then fail to decrypt", src))
	default:
		d.v3OK = true
		return ok(name, fmt.Sprintf("32 bytes (%s)", src))
	}
}

// checkPlatform checks what verifies WeChat Pay's signatures: the platform certificate
// (not expiring within 30 days) and/or the platform public key with its PUB_KEY_ID.
// With neither configured, the functions download the platform certificates from
// /v3/certificates with the merchant credentials; doctor then does exactly that.
func (d *Doctor) checkPlatform(ctx context.Context) []Check {
	cfg := d.Config
	hasCert, hasPub := len(cfg.PlatformCert) > 0, len(cfg.PlatformPublicKey) > 0 || cfg.PlatformPublicKeyID != ""
	for field, name := range map[string]string{"PlatformCert": "platform certificate", "PlatformPublicKey": "platform public key"} {
		if p := d.unloaded(field); p != nil {
			return []Check{fail(name, p.detail, p.zh, p.en)}
		}
	}
	if !hasCert && !hasPub {
		return []Check{d.checkDownload(ctx)}
	}
	var out []Check
	now := d.now()
	if hasCert {
		const name = "platform certificate"
		cert, err := cfg.PlatformCertificate()
		const zh = "下载最新的微信支付平台证书（GET /v3/certificates）或改用微信支付公钥；也可以不配置平台证书，由函数用商户凭据自动下载"
		const en = "download the current platform certificate (GET /v3/certificates) or switch to the WeChat Pay public key; or configure none and let the functions download it with the merchant credentials"
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
		const zh = "在 商户平台 → 账户中心 → API安全 → 微信支付公钥 下载 pub_key.pem，并填写页面上的公钥ID（PUB_KEY_ID_ 开头）"
		const en = "download pub_key.pem from 商户平台 → 账户中心 → API安全 → 微信支付公钥 and set its id (starting PUB_KEY_ID_)"
		switch {
		case len(cfg.PlatformPublicKey) == 0:
			out = append(out, fail(name, d.place("PlatformPublicKeyID")+" is set but the key is not ("+d.place("PlatformPublicKey")+")", zh, en))
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

// checkDownload does what notify does on its first notification when no platform key
// is configured: GET /v3/certificates signed as the merchant, verify the answer's
// signature and decrypt every certificate with the APIv3 key.
func (d *Doctor) checkDownload(ctx context.Context) Check {
	const name = "platform certificates"
	if !d.mchOK || !d.serialOK || d.key == nil || !d.v3OK {
		return skip(name, "neither a platform certificate nor a platform public key is configured, so the functions download the certificates "+
			"with the merchant id, private key, serial and APIv3 key — not tried, because one of those failed above")
	}
	cfg := d.Config
	v3, err := cfg.V3Key()
	if err != nil {
		return skip(name, "not tried: the APIv3 key does not load: "+err.Error())
	}
	aead, err := wechatpay.NewAEAD(v3)
	if err != nil {
		return skip(name, "not tried: "+err.Error())
	}
	base := d.apiBase()
	client := &wechatpay.Client{
		BaseURL: base, HTTP: d.httpClient(), MchID: cfg.MchID, MaxAttempts: 1,
		Signer: &wechatpay.Signer{MchID: cfg.MchID, Serial: strings.ToUpper(strings.TrimSpace(cfg.MerchantSerial)), Key: d.key},
	}
	m := wechatpay.NewCertificateManager(client, aead, nil)
	err = m.Refresh(ctx)
	var newest *x509.Certificate
	if err == nil {
		newest, err = m.Newest(ctx)
	}
	var apiErr *wechatpay.APIError
	var netErr net.Error
	switch {
	case err == nil:
	case errors.As(err, &apiErr):
		zh, en := "按 WeChat Pay 返回的错误码修复（SIGN_ERROR：私钥、序列号与商户号不匹配）", "fix what WeChat Pay's error code names (SIGN_ERROR: key, serial and mchid do not belong together)"
		return fail(name, fmt.Sprintf("GET %s/v3/certificates was refused: %v", base, err), zh, en)
	case errors.Is(err, wechatpay.ErrDecrypt):
		return fail(name, "downloaded, but the APIv3 key does not decrypt them: notifications would not decrypt either",
			"APIv3 密钥与 "+trigger.APIv3KeyConsolePath+" 中设置的不一致", "the APIv3 key differs from the one set in "+trigger.APIv3KeyConsolePath)
	case errors.Is(err, wechatpay.ErrCertificateDownload):
		return fail(name, err.Error(), "检查 API base 是否为微信支付（"+config.DefaultAPIBase+"）", "check that the API base is WeChat Pay's ("+config.DefaultAPIBase+")")
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return warn(name, fmt.Sprintf("could not reach %s to download them (not checked: %v); the functions download them on the first notification — run doctor where the API is reachable", base, err))
	default:
		return fail(name, fmt.Sprintf("downloading from %s failed: %v", base, err), "检查网络与 API base", "check the network and the API base")
	}
	serial := wechatpay.CertificateSerial(newest)
	now := d.now()
	left := newest.NotAfter.Sub(now)
	if left < expiryWindow {
		return warn(name, fmt.Sprintf("downloaded and verified; the newest, serial %s, expires in %d days: WeChat Pay should list its successor soon (the functions pick it up themselves)", serial, int(left.Hours()/24)))
	}
	return ok(name, fmt.Sprintf("downloaded from %s/v3/certificates, signature verified, decrypted with the APIv3 key: newest serial %s, valid until %s (what notify does on its first notification)",
		base, serial, newest.NotAfter.Format(time.DateOnly)))
}

// plain is an error's message without the package prefixes ("wechatpay: private key:
// got a CERTIFICATE" → "got a CERTIFICATE"): a doctor line already says what it checks.
func plain(err error) string {
	msg := err.Error()
	for _, p := range []string{"config: ", "wechatpay: ", "private key: ", "certificate: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}
