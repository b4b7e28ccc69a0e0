package host

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// Stand-ins for the drivers a main lists: only their schemes and settings matter here.
var (
	bolt       = store.Driver{Schemes: []string{"bolt"}, Default: func(context.Context) (store.Store, error) { return nil, nil }}
	redis      = store.Driver{Schemes: []string{"redis", "rediss"}}
	dynamo     = store.Driver{Schemes: []string{"dynamodb"}}
	awsSecrets = config.SecretSource{Name: "aws", Settings: []string{envSecretARN, envSSMParameter}}
	bus        = events.SinkDriver{Setting: envEventBus}
	serve      = func(http.Handler, *slog.Logger) error { return nil }
)

func scfWebNotify() Build {
	return Build{Function: "notify", Platform: Platform{Build: "scfweb", Serve: serve},
		Stores: []store.Driver{redis, bolt}, Sinks: []events.SinkDriver{events.WebhookSink}}
}

func lambdaNotify() Build {
	return Build{Function: "notify", Platform: Platform{Build: "lambda", Serve: serve},
		Stores: []store.Driver{dynamo, bolt}, Secrets: []config.SecretSource{awsSecrets}, Sinks: []events.SinkDriver{events.WebhookSink, bus}}
}

func check(b Build, env ...string) error {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return checkSettings(b, func(k string) string { return m[k] }, env)
}

// Each setting a build cannot honour stops it, in one line naming the setting, this
// build and the builds that have what it asks for.
func TestSettingsThisBuildCannotHonour(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build Build
		env   []string
		want  string
	}{
		{"scf given dynamodb", scfWebNotify(), []string{"STORE_URL=dynamodb://orders?region=ap-east-1"},
			"STORE_URL=dynamodb://…: this build (functions/notify/cmd/scfweb) has no DynamoDB store; functions/notify/cmd/lambda and functions/notify/cmd/local have it"},
		{"scf given a secret ARN", scfWebNotify(), []string{"WXPAY_SECRET_ARN=arn:aws:secretsmanager:ap-east-1:1:secret:x"},
			"WXPAY_SECRET_ARN: this build (functions/notify/cmd/scfweb) has no AWS Secrets Manager secret source; functions/notify/cmd/lambda and functions/notify/cmd/local have it"},
		{"scf given an event bus", scfWebNotify(), []string{"WXPAY_EVENT_BUS=pay"},
			"WXPAY_EVENT_BUS: this build (functions/notify/cmd/scfweb) has no EventBridge event sink; functions/notify/cmd/lambda and functions/notify/cmd/local have it"},
		{"lambda given redis, no password shown", lambdaNotify(), []string{"STORE_URL=redis://:s3cret@10.0.0.5:6379/0"},
			"STORE_URL=redis://…: this build (functions/notify/cmd/lambda) has no Redis store; functions/notify/cmd/scfweb, functions/notify/cmd/scfevent and functions/notify/cmd/local have it"},
		{"a job has no web build", Build{Function: "reconcile", Platform: Platform{Build: "lambda", Run: func(Job, *slog.Logger) error { return nil }}, Stores: []store.Driver{dynamo}},
			[]string{"STORE_URL=rediss://h:6379/0"},
			"STORE_URL=rediss://…: this build (functions/reconcile/cmd/lambda) has no Redis store; functions/reconcile/cmd/scfevent and functions/reconcile/cmd/local have it"},
		{"lambda given a Tencent SSM secret", lambdaNotify(), []string{"WXPAY_TENCENT_SECRET_NAME=wxpay-prod", "WXPAY_TENCENT_REGION=ap-guangzhou"},
			"WXPAY_TENCENT_SECRET_NAME: this build (functions/notify/cmd/lambda) has no Tencent Cloud SSM secret source; functions/notify/cmd/scfweb, functions/notify/cmd/scfevent and functions/notify/cmd/local have it"},
		{"an unknown secret store", lambdaNotify(), []string{"WXPAY_SECRET_TENCENT=wxpay/prod"},
			"WXPAY_SECRET_TENCENT: this build (functions/notify/cmd/lambda) has no secret source that reads it"},
		{"two at once, one line", scfWebNotify(), []string{"STORE_URL=dynamodb://t", "WXPAY_SECRET_SSM_PARAMETER=/wxpay"},
			"STORE_URL=dynamodb://…: this build (functions/notify/cmd/scfweb) has no DynamoDB store; functions/notify/cmd/lambda and functions/notify/cmd/local have it; WXPAY_SECRET_SSM_PARAMETER: this build (functions/notify/cmd/scfweb) has no AWS SSM parameter secret source; functions/notify/cmd/lambda and functions/notify/cmd/local have it"},
		{"no default store", Build{Function: "notify", Platform: Platform{Build: "lambda", Serve: serve}, Stores: []store.Driver{dynamo}}, nil,
			"STORE_URL (not set): this build (functions/notify/cmd/lambda) has no default store; functions/notify/cmd/scfweb, functions/notify/cmd/scfevent and functions/notify/cmd/local have it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.build, tc.env...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "\n")) {
				t.Errorf("the line leaks a password or spans lines: %q", err)
			}
		})
	}
}

// What a build contains passes; what a function does not use is not its business.
func TestSettingsThisBuildHonours(t *testing.T) {
	for name, tc := range map[string]struct {
		build Build
		env   []string
	}{
		"lambda's own":            {lambdaNotify(), []string{"STORE_URL=dynamodb://t", "WXPAY_SECRET_ARN=arn", "WXPAY_EVENT_BUS=pay"}},
		"scf's own":               {scfWebNotify(), []string{"STORE_URL=redis://h:6379/0", "WXPAY_WEBHOOK_URL=https://m.example.com/hook"}},
		"default store":           {scfWebNotify(), nil},
		"an empty secret setting": {scfWebNotify(), []string{"WXPAY_SECRET_ARN="}},
		"billfetch delivers no events": {Build{Function: "billfetch", Platform: Platform{Build: "scfevent", Run: func(Job, *slog.Logger) error { return nil }}, Stores: []store.Driver{bolt}},
			[]string{"WXPAY_EVENT_BUS=pay"}},
		"an unknown scheme is the store's to report": {scfWebNotify(), []string{"STORE_URL=ftp://x"}},
	} {
		if err := check(tc.build, tc.env...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Every line of offers names builds that exist and a setting host knows.
func TestOffers(t *testing.T) {
	known := []string{buildLambda, buildSCFWeb, buildSCFEvent, buildLocal}
	for _, o := range offers {
		for _, b := range o.builds {
			if !strings.Contains(strings.Join(known, " "), b) {
				t.Errorf("%s %s: unknown build %q", o.setting, o.scheme, b)
			}
		}
		if o.scheme != "" {
			if _, err := url.Parse(o.scheme + "://x"); err != nil || o.setting != envStoreURL {
				t.Errorf("%s %s: a scheme belongs to STORE_URL", o.setting, o.scheme)
			}
		}
	}
}
