package awslambda

import (
	"os"
	"path/filepath"
	"testing"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassifyAWS(t *testing.T) {
	for name, want := range map[string]awsEventKind{
		"aws-apigw-v1-request.json":   awsRESTAPI,
		"aws-apigw-v2-request.json":   awsHTTPAPI,
		"aws-lambda-url-request.json": awsFunctionURL,
	} {
		got, err := classifyAWS(fixture(t, name))
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", name, got, err, want)
		}
	}
}
