//go:build wxpay_noaws || (wxpay_lambda && !wxpay_redis)

package storeurl

import (
	"context"
	"strings"
	"testing"
)

// A platform build without a backend says which build leaves it out and how to
// get it, instead of an "unknown scheme".
func TestBackendLeftOutOfThisBuild(t *testing.T) {
	cases := map[string]string{}
	if openDynamoIsOff {
		cases["dynamodb://orders?region=us-east-1"] = "wxpay_noaws"
	}
	if openRedisIsOff {
		cases["redis://:s3cret@127.0.0.1:1/0"] = "wxpay_redis"
	}
	if len(cases) == 0 {
		t.Fatal("build tags select this file but no backend is off")
	}
	for raw, want := range cases {
		s, err := Open(context.Background(), raw)
		if err == nil {
			s.Close()
			t.Fatalf("%s opened in this build", raw)
		}
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v, want it to name %s", raw, err, want)
		}
	}
	if s, err := Open(context.Background(), "bolt://"+t.TempDir()+"/x.db"); err != nil {
		t.Errorf("bolt must stay in every build: %v", err)
	} else {
		s.Close()
	}
}
