package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The secret a secret store holds (AWS Secrets Manager, an SSM SecureString,
// Tencent Cloud SSM) is one JSON object of strings. Its keys, all optional (an
// unknown key is an error, so a typo does not silently leave a key unset):
var SecretJSONKeys = []string{"private_key", "apiv3_key", "apiv2_key", "api_token", "webhook_secret", "app_secret", "platform_public_key", "store_password", "console_users"}

// DecodeJSON merges the secret JSON object b into v: keys present and non-empty
// replace v's fields. Errors name keys, never values. store_password is the
// password of the Redis STORE_URL, so that the URL in the plain environment carries
// none.
func (v *SecretValues) DecodeJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		// json's syntax errors quote no input, but type errors might: say less.
		return errors.New("value is not a JSON object of strings (keys: " + strings.Join(SecretJSONKeys, ", ") + ")")
	}
	var unknown []string
	for k, val := range m {
		if val == "" {
			continue
		}
		switch k {
		case "private_key":
			v.PrivateKey = NewSecret([]byte(unescapePEM(val)))
		case "apiv3_key":
			v.APIv3Key = NewSecret([]byte(val))
		case "apiv2_key":
			v.APIv2Key = NewSecret([]byte(strings.TrimSpace(val)))
		case "api_token":
			v.APIToken = NewSecret([]byte(strings.TrimSpace(val)))
		case "webhook_secret":
			v.WebhookSecret = NewSecret([]byte(strings.TrimSpace(val)))
		case "app_secret":
			v.AppSecret = NewSecret([]byte(strings.TrimSpace(val)))
		case "platform_public_key":
			v.PlatformPublicKey = []byte(unescapePEM(val))
		case "store_password":
			v.StorePassword = NewSecret([]byte(val))
		case "console_users":
			v.ConsoleUsers = NewSecret([]byte(strings.TrimSpace(val)))
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown key(s) %s (known: %s)", strings.Join(unknown, ", "), strings.Join(SecretJSONKeys, ", "))
	}
	return nil
}
