package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/paysls/wxpay/shared/store"
)

// classify wraps err with the operation, marking what a retry may cure as
// store.ErrUnavailable (throttling, 5xx, network failures, timeouts, cancellation),
// and an item over DynamoDB's size limit as store.ErrInvalid.
func classify(op string, err error) error {
	if retryable(err) {
		return store.Unavailable("dynamostore: "+op, err)
	}
	var api *apiError
	if errors.As(err, &api) && api.Code == "ValidationException" && strings.Contains(strings.ToLower(api.Message), "size") {
		return fmt.Errorf("dynamostore: %s: %w: %s", op, store.ErrInvalid, api.Message)
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
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true // the connection failed, or broke mid-answer
	}
	var api *apiError
	return errors.As(err, &api) && (retryableCodes[api.Code] || api.Status >= 500)
}
