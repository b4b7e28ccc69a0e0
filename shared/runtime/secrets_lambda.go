//go:build wxpay_lambda

package runtime

// Lambda builds read the merchant's secrets from Secrets Manager / SSM at cold
// start (WXPAY_SECRET_ARN, WXPAY_SECRET_SSM_PARAMETER): config.FromEnv merges them.
import _ "github.com/paysls/wxpay/shared/secrets"
