package tencentssm

import (
	"context"
	"fmt"

	"github.com/paysls/wxpay/shared/config"
)

// Source is the secret source of the builds that run on Tencent Cloud (the SCF
// mains, and the local ones): it reads the secret WXPAY_TENCENT_SECRET_NAME names at
// cold start with the execution role's temporary key, as the Lambda builds read
// Secrets Manager, and config.FromEnv merges it over the environment and the keys
// dir, which stays the fallback. It does no I/O until config.FromEnv asks it. A build
// without it refuses WXPAY_TENCENT_SECRET_NAME at start-up (shared/host).
func Source() config.SecretSource {
	return config.SecretSource{
		Name:     "Tencent Cloud SSM",
		Settings: []string{envSecretName, envSecretVersion},
		Load: func(getenv func(string) string) (string, config.SecretValues, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			from, b, err := load(ctx, getenv)
			if err != nil || from == "" {
				return "", config.SecretValues{}, err
			}
			var v config.SecretValues
			if err := v.DecodeJSON(b); err != nil {
				return "", config.SecretValues{}, fmt.Errorf("%s: %w", from, err)
			}
			return from, v, nil
		},
	}
}
