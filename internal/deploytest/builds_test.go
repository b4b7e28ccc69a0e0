package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// What each platform's build must leave out (issue 11: binary size and cold start).
var leftOut = map[string]struct {
	tags string
	deny []string
}{
	"lambda": {lambdaTags, []string{
		"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/service/sso", "github.com/aws/aws-sdk-go-v2/service/ssooidc",
		"github.com/aws/aws-sdk-go-v2/service/sts", "github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
		"github.com/redis/go-redis/v9", "github.com/tencentyun/scf-go-lib/cloudfunction", "net/rpc", "html/template",
	}},
	"scf-event": {scfEventTags, []string{"github.com/aws/aws-sdk-go-v2/aws", "github.com/aws/aws-lambda-go/lambda", "github.com/awslabs/aws-lambda-go-api-proxy/core"}},
	"scf-web":   {"lambda.norpc,wxpay_noaws,wxpay_noscf", []string{"github.com/aws/aws-sdk-go-v2/aws", "github.com/aws/aws-lambda-go/lambda", "net/rpc", "html/template"}},
}

// TestBuildsLeaveOutWhatThePlatformDoesNotUse: a package that loads the AWS default
// configuration chain (config.LoadDefaultConfig) instead of shared/awsconf, or opens
// Redis outside storeurl, puts megabytes back into every Lambda bootstrap; this
// names the package that did.
func TestBuildsLeaveOutWhatThePlatformDoesNotUse(t *testing.T) {
	for _, fn := range functions(t) {
		for platform, rule := range leftOut {
			if platform == "scf-web" && !fn.http {
				continue
			}
			t.Run(fn.name+"/"+platform, func(t *testing.T) {
				cmd := exec.Command("go", "list", "-deps", "-tags", rule.tags, "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "./functions/"+fn.name+"/cmd")
				cmd.Dir = root
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("go list: %v", err)
				}
				for _, line := range strings.Split(string(out), "\n") {
					pkg, imports, _ := strings.Cut(line, ": ")
					for _, imp := range strings.Fields(imports) {
						for _, deny := range rule.deny {
							if imp == deny {
								t.Errorf("%s imports %s, which the %s build leaves out (tags %s)", pkg, deny, platform, rule.tags)
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
			cmd := exec.Command("go", "build", "-trimpath", "-tags", lambdaTags, "-ldflags", "-s -w", "-o", out, "./functions/"+fn.name+"/cmd")
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
