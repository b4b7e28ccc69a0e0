// Package deploytest drives every function's built mains the way each platform does:
// the Lambda build through a stand-in for the AWS Lambda Runtime API, the SCF event
// build through net/rpc as SCF's Go1 runtime calls it, the SCF web build started by the
// scf_bootstrap that `make package` writes. Functions are found from
// functions/*/cmd/lambda/main.go, so a new function is covered by adding its mains (and,
// for a meaningful check, a probe in probes below). It also starts every build with
// every setting it cannot honour (settings_test.go) and holds each build to what it
// leaves out (builds_test.go).
package deploytest
