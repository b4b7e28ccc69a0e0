// Package deploytest drives every function's built binary the way each platform
// does: through a stand-in for the AWS Lambda Runtime API, through scf-go-lib's
// net/rpc event entry (SCF Go1 event functions), and as an SCF web function
// started by the scf_bootstrap that `make package` writes. Functions are found
// from functions/*/cmd/main.go, so a new function is covered by adding its main
// (and, for a meaningful check, a probe in probes below).
package deploytest
