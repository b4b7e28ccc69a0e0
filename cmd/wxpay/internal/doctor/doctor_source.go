package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
)

// setting is where one Config field can come from: its environment variable(s) and
// its file in a keys directory. Fixes name the one the user actually configures.
type setting struct {
	env     string // the variable to set (for files: the *_FILE variable)
	inline  string // the PEM-text variable, for files that can also be given inline
	file    string // the file in a keys dir
	isFile  bool   // env holds a path, not the value
	example string // what the file holds, for "write … to DIR/file"
	zh      string // the same in Chinese
}

var settings = map[string]setting{
	"MchID":               {env: config.EnvMchID, file: keysdir.FileMchID, example: "your merchant id (商户号)", zh: "商户号"},
	"AppID":               {env: config.EnvAppID, file: keysdir.FileAppID, example: "the AppID (wx…)", zh: "AppID（wx 开头）"},
	"MerchantSerial":      {env: config.EnvMerchantSerial, file: keysdir.FileMerchantSerial, example: "the API certificate serial", zh: "商户API证书序列号"},
	"PrivateKey":          {env: config.EnvPrivateKeyFile, inline: config.EnvPrivateKey, file: keysdir.FileMerchantKey, isFile: true, example: "apiclient_key.pem", zh: "apiclient_key.pem"},
	"MerchantCert":        {env: config.EnvMerchantCertFile, file: keysdir.FileMerchantCert, isFile: true, example: "apiclient_cert.pem", zh: "apiclient_cert.pem"},
	"APIv3Key":            {env: config.EnvAPIv3Key, file: keysdir.FileAPIv3Key, example: "the 32-character APIv3 key", zh: "32位APIv3密钥"},
	"PlatformCert":        {env: config.EnvPlatformCertFile, inline: config.EnvPlatformCert, file: keysdir.FilePlatformCert, isFile: true, example: "the platform certificate", zh: "平台证书"},
	"PlatformPublicKey":   {env: config.EnvPlatformPubKeyFile, inline: config.EnvPlatformPubKey, file: keysdir.FilePlatformPublicKey, isFile: true, example: "pub_key.pem", zh: "pub_key.pem"},
	"PlatformPublicKeyID": {env: config.EnvPlatformPublicKeyID, file: keysdir.FilePlatformPublicKeyID, example: "the PUB_KEY_ID_… id", zh: "公钥ID（PUB_KEY_ID_…）"},
	"NotifyURL":           {env: config.EnvNotifyURL, file: config.FileNotifyURL, example: "the notify_url", zh: "回调地址 notify_url"},
}

// fromDir reports whether fixes should name keys-dir files rather than variables: the
// configuration came from --keys-dir alone, or the field's value came from the dir.
func (d *Doctor) fromDir(field string) bool {
	src := d.Config.Source(field)
	switch {
	case d.KeysDir == "", strings.HasPrefix(src, "WXPAY_"):
		return false
	case d.Env == nil:
		return true
	default:
		return strings.HasPrefix(src, "keys dir")
	}
}

// place names where field is configured, for a fix: "WXPAY_MCHID" or "the file
// DIR/mchid". In the environment with WXPAY_KEYS_DIR it names both.
func (d *Doctor) place(field string) string {
	s := settings[field]
	path := ""
	if d.KeysDir != "" {
		path = filepath.Join(d.KeysDir, s.file)
		if alias := keysdir.Aliases[s.file]; len(alias) > 0 {
			path += " (or " + alias[0] + ")"
		}
	}
	switch {
	case d.fromDir(field):
		return path
	case d.KeysDir != "" && d.Env != nil:
		return s.env + " or " + path
	default:
		return s.env
	}
}

// setFix is the fix for an unset field: set the variable or write the file.
func (d *Doctor) setFix(field string) (zh, en string) {
	s := settings[field]
	p := d.place(field)
	if d.fromDir(field) {
		return fmt.Sprintf("把%s写入 %s", s.zh, p), fmt.Sprintf("write %s to %s", s.example, p)
	}
	if s.isFile {
		return fmt.Sprintf("设置 %s 为 %s 的路径", p, s.zh), fmt.Sprintf("set %s to the path of %s", p, s.example)
	}
	return fmt.Sprintf("设置 %s 为%s", p, s.zh), fmt.Sprintf("set %s to %s", p, s.example)
}

// problem is why a field holds nothing although the user configured it: a file that
// does not exist or cannot be read, or both the inline and the file variable set.
type problem struct{ detail, zh, en string }

// unloaded explains an empty field, or returns nil when it simply is not set. A field
// it explains is remembered: its loading error is not repeated under "configuration".
func (d *Doctor) unloaded(field string) *problem {
	p := d.explain(field)
	if p != nil {
		if d.explained == nil {
			d.explained = map[string]bool{}
		}
		d.explained[field] = true
	}
	return p
}

func (d *Doctor) explain(field string) *problem {
	s := settings[field]
	if d.Env != nil {
		inline, path := "", ""
		if s.inline != "" {
			inline, _ = d.Env(s.inline)
		}
		if s.isFile {
			path, _ = d.Env(s.env)
		}
		switch {
		case inline != "" && path != "":
			return &problem{
				detail: fmt.Sprintf("both %s and %s are set: the bundle refuses to guess which one is meant", s.inline, s.env),
				zh:     fmt.Sprintf("只保留一个：删除 %s（PEM 文本）或 %s（文件路径）", s.inline, s.env),
				en:     fmt.Sprintf("keep one: unset %s (the PEM text) or %s (the file path)", s.inline, s.env),
			}
		case path != "":
			if _, err := os.ReadFile(path); err != nil {
				return fileProblem(s.env+"="+path, err, s.example,
					fmt.Sprintf("让 %s 指向真实存在的文件（Lambda/SCF 中文件需随代码包部署），或改用 %s 直接填写 PEM 文本", s.env, s.inline),
					fmt.Sprintf("point %s at a file that exists (on Lambda/SCF the file must ship with the package), or give the PEM text in %s", s.env, s.inline))
			}
		}
		if v, ok := d.Env(s.env); ok && v != "" {
			return nil // set from the environment; nothing to explain
		}
		if inline != "" {
			return nil
		}
	}
	if d.KeysDir == "" {
		return nil
	}
	p, err := keysdir.Find(d.KeysDir, s.file)
	if err == nil {
		_, err = os.ReadFile(p)
	}
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist):
		return nil
	case strings.HasPrefix(err.Error(), "both "):
		return &problem{detail: err.Error(), zh: "删除其中一个文件（两者内容可能不同）", en: "remove one of the two files (they may differ)"}
	default:
		return fileProblem(p, err, s.example, "检查该文件的读取权限", "check the file's read permission")
	}
}

func fileProblem(where string, err error, what, zh, en string) *problem {
	why := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	if errors.Is(err, fs.ErrNotExist) {
		why = "the file does not exist"
	}
	return &problem{detail: fmt.Sprintf("%s: %s (%s)", where, why, what), zh: zh, en: en}
}

// notSet is the failure for a field nobody configured, or the problem that emptied it.
func (d *Doctor) notSet(name, field, why string) Check {
	if p := d.unloaded(field); p != nil {
		return fail(name, p.detail, p.zh, p.en)
	}
	zh, en := d.setFix(field)
	if d.fromDir(field) {
		detail := d.place(field) + " does not exist"
		if why != "" {
			detail += ": " + why
		}
		return fail(name, detail, zh, en)
	}
	detail := "not set"
	if why != "" {
		detail += ": " + why
	}
	return fail(name, detail+" ("+d.place(field)+")", zh, en)
}

// checkKeysDir fails once for a keys directory that is not there: every other check
// would fail for the same reason.
func (d *Doctor) checkKeysDir() *Check {
	if d.KeysDir == "" {
		return nil
	}
	st, err := os.Stat(d.KeysDir)
	var detail string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		detail = d.KeysDir + " does not exist"
	case err != nil:
		detail = d.KeysDir + ": " + err.Error()
	case !st.IsDir():
		detail = d.KeysDir + " is a file, not a directory"
	default:
		return nil
	}
	c := fail("keys dir", detail+": nothing else can be checked",
		fmt.Sprintf("模拟器：wxpay sim --keys-dir %[1]s 会创建它；真实商户：mkdir %[1]s，放入 apiclient_key.pem、apiclient_cert.pem，并写入 mchid、merchant_serial、apiv3_key、notify_url 文件", d.KeysDir),
		fmt.Sprintf("for the simulator, `wxpay sim --keys-dir %[1]s` creates it; for a real merchant, mkdir %[1]s and put apiclient_key.pem, apiclient_cert.pem and the files mchid, merchant_serial, apiv3_key, notify_url in it", d.KeysDir))
	return &c
}

// unexplained drops from the loading errors those a field check reported itself (a
// missing file, both variables set): each cause is reported once, where it belongs.
func (d *Doctor) unexplained(err error) []error {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []error
	for _, e := range errs {
		msg := e.Error()
		explained := strings.Contains(msg, "is not a readable directory")
		for field, s := range settings {
			if !d.explained[field] {
				continue
			}
			names := append([]string{s.env, s.file}, keysdir.Aliases[s.file]...)
			if s.inline != "" {
				names = append(names, s.inline)
			}
			for _, n := range names {
				if n != "" && (strings.Contains(msg, n+":") || strings.Contains(msg, n+" ") || strings.Contains(msg, "/"+n)) {
					explained = true
				}
			}
		}
		if !explained {
			out = append(out, e)
		}
	}
	return out
}
