// Package runtime runs one plain Go handler under AWS Lambda, Tencent Cloud SCF
// or a local server, so that every function is written and tested once as an
// http.Handler or a Job.
//
// A function's main calls ServeHTTP (HTTP functions) or RunJob (scheduled
// functions); Detect picks the platform from the environment.
//
// Request conventions on every platform:
//   - the body is exactly the bytes the client sent: gateway base64 bodies are
//     decoded, never re-encoded or re-marshalled (signatures cover these bytes);
//   - r.RemoteAddr is the gateway's source IP (a bare IP on Lambda and SCF,
//     "ip:port" locally), and X-Forwarded-For is left exactly as sent, so a
//     handler that needs the real client IP can choose which one to trust.
package runtime

import (
	"os"
	"strings"
)

// Platform is where the current process runs.
type Platform int

const (
	// Local is a developer machine or any plain server: listen on an address.
	Local Platform = iota
	// Lambda is AWS Lambda (AWS_LAMBDA_RUNTIME_API is set by the Lambda runtime).
	Lambda
	// SCFEvent is a Tencent Cloud SCF event function on the Go runtime,
	// served through scf-go-lib's cloudfunction.Start.
	SCFEvent
	// SCFWeb is a Tencent Cloud SCF web function, started by scf_bootstrap
	// and reached over plain HTTP on port 9000.
	SCFWeb
)

func (p Platform) String() string {
	switch p {
	case Lambda:
		return "lambda"
	case SCFEvent:
		return "scf-event"
	case SCFWeb:
		return "scf-web"
	default:
		return "local"
	}
}

// Environment variables read by Detect.
const (
	envLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API" // set by every Lambda runtime
	envSCFRunEnv        = "TENCENTCLOUD_RUNENV"    // documented SCF built-in, value "SCF"
	envSCFRuntime       = "SCF_RUNTIME"            // reserved SCF_ prefix; set by SCF
	envSCFFunctionName  = "SCF_FUNCTIONNAME"       // reserved SCF_ prefix; set by SCF
	envSCFGoServerPort  = "_LAMBDA_SERVER_PORT"    // the port scf-go-lib's cloudfunction.Start listens on
	envSCFRuntimeAPI    = "SCF_RUNTIME_API"        // SCF custom runtime (bootstrap) API host
	envSCFMode          = "WXPAY_SCF_MODE"         // ours: "web" or "event", set in scf_bootstrap / function config
	envSCFWebAddr       = "WXPAY_SCF_WEB_ADDR"     // ours, tests only: listen address of a web function instead of 0.0.0.0:9000
)

// Detect reports the platform from the environment, first match wins:
//
//   - AWS_LAMBDA_RUNTIME_API set → Lambda;
//   - WXPAY_SCF_MODE=web → SCFWeb, WXPAY_SCF_MODE=event → SCFEvent: our
//     scf_bootstrap exports WXPAY_SCF_MODE=web, and that alone selects web mode
//     (a web function's container need not carry any other SCF marker);
//   - _LAMBDA_SERVER_PORT set (without AWS_LAMBDA_RUNTIME_API) → SCFEvent: only
//     SCF's Go runtime sets it, for scf-go-lib's cloudfunction.Start to listen on;
//   - other SCF markers (TENCENTCLOUD_RUNENV=SCF, SCF_RUNTIME, SCF_FUNCTIONNAME):
//     SCFEvent with a custom runtime's SCF_RUNTIME_API, else SCFWeb (nothing but an
//     HTTP listener can serve a function that has no event channel);
//   - anything else → Local.
func Detect() Platform { return detect(os.Getenv) }

func detect(getenv func(string) string) Platform {
	if getenv(envLambdaRuntimeAPI) != "" {
		return Lambda
	}
	switch strings.ToLower(strings.TrimSpace(getenv(envSCFMode))) {
	case "web":
		return SCFWeb
	case "event":
		return SCFEvent
	}
	if getenv(envSCFGoServerPort) != "" {
		return SCFEvent
	}
	if getenv(envSCFRunEnv) != "SCF" && getenv(envSCFRuntime) == "" && getenv(envSCFFunctionName) == "" {
		return Local
	}
	if getenv(envSCFRuntimeAPI) != "" {
		return SCFEvent
	}
	return SCFWeb
}
