package host

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// The settings that choose a store, a secret store or an event sink. host reads them
// by name only to say that a build cannot honour them; the drivers do the reading.
const (
	envStoreURL     = "STORE_URL"
	envSecretPrefix = "WXPAY_SECRET_" // every secret store's settings start so (WXPAY_SECRET_ARN, …)
	envSecretARN    = "WXPAY_SECRET_ARN"
	envSSMParameter = "WXPAY_SECRET_SSM_PARAMETER"
	// envTencentSecret names a Tencent Cloud SSM secret (shared/secrets/tencentssm);
	// its region and version settings ask for nothing without it.
	envTencentSecret = "WXPAY_TENCENT_SECRET_NAME"
	envEventBus      = "WXPAY_EVENT_BUS"
	envWebhookURL    = "WXPAY_WEBHOOK_URL"
)

// The builds of a function: the folders under functions/<fn>/cmd.
const (
	buildLambda   = "lambda"
	buildSCFWeb   = "scfweb" // HTTP functions only
	buildSCFEvent = "scfevent"
	buildLocal    = "local"
)

// offer says which builds contain what a setting asks for: a summary of what each
// build's main imports, for the message of a build that lacks it (a build cannot look
// into the others). internal/deploytest holds every line to the mains: it starts each
// build with each setting and expects the builds named here, and only those, to go on.
type offer struct {
	setting string
	scheme  string // STORE_URL: the scheme asked for
	what    string
	builds  []string
}

var offers = []offer{
	{envStoreURL, "bolt", "bbolt store", []string{buildLambda, buildSCFWeb, buildSCFEvent, buildLocal}},
	{envStoreURL, "dynamodb", "DynamoDB store", []string{buildLambda, buildLocal}},
	{envStoreURL, "redis", "Redis store", []string{buildSCFWeb, buildSCFEvent, buildLocal}},
	{envStoreURL, "rediss", "Redis store", []string{buildSCFWeb, buildSCFEvent, buildLocal}},
	{envSecretARN, "", "AWS Secrets Manager secret source", []string{buildLambda, buildLocal}},
	{envSSMParameter, "", "AWS SSM parameter secret source", []string{buildLambda, buildLocal}},
	{envTencentSecret, "", "Tencent Cloud SSM secret source", []string{buildSCFWeb, buildSCFEvent, buildLocal}},
	{envEventBus, "", "EventBridge event sink", []string{buildLambda, buildLocal}},
	{envWebhookURL, "", "signed webhook sink", []string{buildLambda, buildSCFWeb, buildSCFEvent, buildLocal}},
}

// checkSettings refuses, in one line, every setting that asks b for something its
// main did not put in: a STORE_URL scheme without its driver, a secret store's
// variable that no secret source reads, a sink setting without its sink (for the
// functions that deliver events). environ lists the variables' names.
func checkSettings(b Build, getenv func(string) string, environ []string) error {
	var problems []string
	lacks := func(setting, shown, scheme, what string) {
		problems = append(problems, b.lacks(setting, shown, scheme, what))
	}

	switch raw := getenv(envStoreURL); {
	case raw == "":
		if !slices.ContainsFunc(b.Stores, func(d store.Driver) bool { return d.Default != nil }) {
			lacks(envStoreURL, envStoreURL+" (not set)", "bolt", "default store")
		}
	default:
		// A malformed URL or a scheme no build opens is the store's to report.
		if u, err := url.Parse(raw); err == nil && offered(envStoreURL, u.Scheme) && !slices.ContainsFunc(b.Stores, func(d store.Driver) bool { return slices.Contains(d.Schemes, u.Scheme) }) {
			lacks(envStoreURL, envStoreURL+"="+u.Scheme+"://…", u.Scheme, "")
		}
	}

	read := map[string]bool{}
	for _, s := range b.Secrets {
		for _, v := range s.Settings {
			read[v] = true
		}
	}
	var secretVars []string
	for _, kv := range environ {
		if name, val, _ := strings.Cut(kv, "="); (strings.HasPrefix(name, envSecretPrefix) || name == envTencentSecret) && val != "" && !read[name] {
			secretVars = append(secretVars, name)
		}
	}
	slices.Sort(secretVars)
	for _, name := range secretVars {
		lacks(name, name, "", "")
	}

	if len(b.Sinks) > 0 {
		for _, setting := range []string{envWebhookURL, envEventBus} {
			if getenv(setting) != "" && !slices.ContainsFunc(b.Sinks, func(d events.SinkDriver) bool { return d.Setting == setting }) {
				lacks(setting, setting, "", "")
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(problems, "; "))
}

// lacks is the message of a setting b cannot honour: the setting as shown, what it
// asks for, and the builds of this function that have it.
func (b Build) lacks(setting, shown, scheme, what string) string {
	here := b.path(b.Platform.Build)
	var o *offer
	for i := range offers {
		if offers[i].setting == setting && offers[i].scheme == scheme {
			o = &offers[i]
			break
		}
	}
	if o == nil { // a WXPAY_SECRET_* no build here knows
		return fmt.Sprintf("%s: this build (%s) has no secret source that reads it", shown, here)
	}
	if what == "" {
		what = o.what
	}
	var elsewhere []string
	for _, name := range o.builds {
		if name == b.Platform.Build || (name == buildSCFWeb && b.Platform.Serve == nil) {
			continue // this build; a job has no web-function build
		}
		elsewhere = append(elsewhere, b.path(name))
	}
	msg := fmt.Sprintf("%s: this build (%s) has no %s", shown, here, what)
	switch len(elsewhere) {
	case 0:
		return msg
	case 1:
		return msg + "; " + elsewhere[0] + " has it"
	default:
		return msg + "; " + strings.Join(elsewhere[:len(elsewhere)-1], ", ") + " and " + elsewhere[len(elsewhere)-1] + " have it"
	}
}

func offered(setting, scheme string) bool {
	return slices.ContainsFunc(offers, func(o offer) bool { return o.setting == setting && o.scheme == scheme })
}

func (b Build) path(build string) string { return "functions/" + b.Function + "/cmd/" + build }
