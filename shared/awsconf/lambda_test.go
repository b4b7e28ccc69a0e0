//go:build wxpay_lambda

package awsconf

import (
	"context"
	"testing"
)

func TestLambdaBuildNeedsCredentials(t *testing.T) {
	t.Setenv("AWS_REGION", "ap-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := Load(context.Background(), Options{}); err == nil {
		t.Fatal("want an error naming the missing variables")
	}
	if Chain != "lambda-env" {
		t.Errorf("Chain = %q", Chain)
	}
}
