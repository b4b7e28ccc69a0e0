// Package deploytest drives every function's built mains the way each platform does:
// the Lambda build through a stand-in for the AWS Lambda Runtime API, the SCF event
// build through net/rpc as SCF's Go1 runtime calls it, the SCF web build started by the
// scf_bootstrap that `make package` writes. Functions are found from
// functions/*/cmd/lambda/main.go, so a new function is covered by adding its mains (and,
// for a meaningful check, a probe in probes below). It also starts every build with
// every setting it cannot honour (settings_test.go), holds each build to what it
// leaves out (builds_test.go), renders template.yaml and the Tencent files as their
// tools would and starts the builds they deploy — the Lambda build, the SCF packages of
// `make package` — with exactly that environment (render_test.go, firstdeploy_test.go),
// and holds the handlers' routes to the deployments' (routes_test.go).
package deploytest
