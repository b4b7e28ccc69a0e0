package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/paysls/wxpay/shared/store"
)

// classify wraps err with the operation, marking what a retry may cure as
// store.ErrUnavailable (throttling, 5xx, network failures, timeouts, cancellation),
// and an item over DynamoDB's size limit as store.ErrInvalid.
func classify(op string, err error) error {
	if retryable(err) {
		return store.Unavailable("dynamostore: "+op, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationException" && strings.Contains(strings.ToLower(api.ErrorMessage()), "size") {
		return fmt.Errorf("dynamostore: %s: %w: %s", op, store.ErrInvalid, api.ErrorMessage())
	}
	return fmt.Errorf("dynamostore: %s: %w", op, err)
}

var retryableCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"ThrottlingException":                    true,
	"InternalServerError":                    true,
	"ServiceUnavailable":                     true,
	"TransactionConflictException":           true,
	"LimitExceededException":                 true,
}

func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var canceled *aws.RequestCanceledError
	var attempts *retry.MaxAttemptsError
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &canceled) || errors.As(err, &ne) || errors.As(err, &oe) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && retryableCodes[api.ErrorCode()] {
		return true
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return true
	}
	// Retries exhausted on something the SDK itself deemed retryable.
	return errors.As(err, &attempts)
}
