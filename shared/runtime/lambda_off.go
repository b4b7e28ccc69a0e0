//go:build wxpay_noaws

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

var errNoLambda = errors.New("runtime: this binary was built for Tencent SCF (-tags wxpay_noaws) and cannot serve AWS Lambda; deploy the Lambda build (make build / sam build)")

func startLambdaHTTP(http.Handler) error { return errNoLambda }

func startLambdaJob(func(context.Context, json.RawMessage) (Report, error)) error {
	return errNoLambda
}
