package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// What each build must leave out (size and cold start): a main that imports one of
// these — directly, or through a package that does — puts it back in every binary of
// that build. The imports of each main are what its binary contains; nothing else
// decides.
var leftOut = map[string][]string{
	buildLambda: {
		// The SDK's default configuration chain: awsconf.FromEnv reads what Lambda gives.
		"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/service/sso", "github.com/aws/aws-sdk-go-v2/service/ssooidc",
		"github.com/aws/aws-sdk-go-v2/service/sts", "github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
		// One call each, signed by hand (awsconf.CallJSON): the SDK clients cost a megabyte and their init.
		"github.com/aws/aws-sdk-go-v2/service/eventbridge", "github.com/aws/aws-sdk-go-v2/service/secretsmanager", "github.com/aws/aws-sdk-go-v2/service/ssm",
		// dynamodb ≥ v1.69 builds 7,800 schema values at package init: 1 ms of every cold
		// start (a third of a hello-world server's start). go.mod keeps v1.68; do not
		// upgrade it without measuring `make startup`.
		"github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas",
		"github.com/redis/go-redis/v9", "github.com/tencentyun/scf-go-lib/cloudfunction", "net/rpc", "html/template",
		// Tencent Cloud SSM: the SCF and local mains' secret source.
		"github.com/paysls/wxpay/shared/secrets/tencentssm",
	},
	buildSCFWeb: {
		"github.com/aws/aws-sdk-go-v2/aws", "github.com/aws/aws-lambda-go/lambda", "github.com/tencentyun/scf-go-lib/cloudfunction", "net/rpc", "html/template",
	},
	// scf-go-lib's messages only: its cloudfunction (net/rpc) doubled the binary (host/scfevent/rpc.go).
	buildSCFEvent: {"github.com/aws/aws-sdk-go-v2/aws", "github.com/aws/aws-lambda-go/lambda", "github.com/awslabs/aws-lambda-go-api-proxy/core",
		"github.com/tencentyun/scf-go-lib/cloudfunction", "net/rpc", "html/template"},
	buildLocal: {"github.com/aws/aws-lambda-go/lambda", "github.com/tencentyun/scf-go-lib/cloudfunction", "net/rpc"},
}

// TestBuildsLeaveOutWhatThePlatformDoesNotUse names the package that put back what a
// build leaves out (a package that loads the AWS default chain instead of taking an
// awsconf.Loader, opens Redis outside its driver, …).
func TestBuildsLeaveOutWhatThePlatformDoesNotUse(t *testing.T) {
	for _, fn := range functions(t) {
		for _, b := range fn.builds {
			t.Run(fn.name+"/"+b, func(t *testing.T) {
				cmd := exec.Command("go", "list", "-deps", "-tags", goTags, "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "./functions/"+fn.name+"/cmd/"+b)
				cmd.Dir = root
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("go list: %v", err)
				}
				for _, line := range strings.Split(string(out), "\n") {
					pkg, imports, _ := strings.Cut(line, ": ")
					for _, imp := range strings.Fields(imports) {
						for _, deny := range leftOut[b] {
							if imp == deny {
								t.Errorf("%s imports %s, which the %s build leaves out", pkg, deny, b)
							}
						}
					}
				}
			})
		}
	}
}

// TestLambdaBootstrapSize: each arm64 Lambda bootstrap stays within 10 MB.
func TestLambdaBootstrapSize(t *testing.T) {
	const limit = 10_000_000 // bytes: 10 MB
	for _, fn := range functions(t) {
		t.Run(fn.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bootstrap")
			cmd := exec.Command("go", "build", "-trimpath", "-tags", goTags, "-ldflags", "-s -w", "-o", out, "./functions/"+fn.name+"/cmd/lambda")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, b)
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s arm64 bootstrap: %.2f MB", fn.name, float64(st.Size())/1e6)
			if st.Size() > limit {
				t.Errorf("%s bootstrap is %.2f MB, over the 10 MB budget", fn.name, float64(st.Size())/1e6)
			}
		})
	}
}
