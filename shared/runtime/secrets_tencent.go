//go:build wxpay_noaws

package runtime

import (
	"context"
	"fmt"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/secrets/tencentssm"
)

// Tencent SCF builds read the merchant's secrets from Tencent Cloud SSM at cold start
// (WXPAY_TENCENT_SECRET_NAME, with the execution role's temporary key), as Lambda
// builds read Secrets Manager: config.FromEnv merges them over the keys dir, which
// stays the fallback.
func init() {
	config.RegisterSecretSource(config.SecretSource{Name: "tencent ssm", Load: func(getenv func(string) string) (string, config.SecretValues, error) {
		ctx, cancel := context.WithTimeout(context.Background(), tencentssm.Timeout)
		defer cancel()
		from, b, err := tencentssm.Load(ctx, getenv)
		if err != nil || from == "" {
			return "", config.SecretValues{}, err
		}
		var v config.SecretValues
		if err := v.DecodeJSON(b); err != nil {
			return "", config.SecretValues{}, fmt.Errorf("%s: %w", from, err)
		}
		return from, v, nil
	}})
}
