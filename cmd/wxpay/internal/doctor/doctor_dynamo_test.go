package doctor

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/paysls/wxpay/internal/testserver"
)

func startMoto(t *testing.T) string { return testserver.Moto(t) }

// Redis: reachable passes; persistence is judged from the server's own settings — none
// fails (a restart forgets acknowledged payments), AOF with fsync passes, and
// ?durability=none is an accepted risk, a warning.
func TestDoctorStoreRedis(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		query string
		want  Status
		text  string
	}{
		{"no persistence", []string{"--save", "", "--appendonly", "no"}, "", StatusFail, "persists nothing"},
		{"aof", []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec"}, "", StatusOK, "appendfsync everysec"},
		{"waived", []string{"--save", "", "--appendonly", "no"}, "?durability=none", StatusWarn, "accepted risk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := testserver.Run(t, "redis-server", "apt-get install redis-server", func(port int) []string {
				// --dir: with appendonly yes, redis-server writes appendonlydir/ into its
				// working directory, which is this package's source directory.
				return append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", t.TempDir()}, c.args...)
			}).Addr()
			d := goodDoctor(t)
			d.StoreURL = "redis://" + addr + "/0" + c.query
			r := d.Run(context.Background())
			wantStatus(t, r, "store", StatusOK, "reachable")
			wantStatus(t, r, "store durability", c.want, c.text)
		})
	}
}

// The store check against a real DynamoDB (moto): the table the template deploys
// passes; a table without the pending index and a missing table fail, each saying so.
func TestDoctorStoreDynamoDB(t *testing.T) {
	endpoint := startMoto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	url := func(table, extra string) string {
		return "dynamodb://" + table + "?region=us-east-1&endpoint=" + endpoint + extra
	}
	d := goodDoctor(t)

	d.StoreURL = url("wxpay-full", "&create=1") // what template.yaml creates
	wantStatus(t, d.Run(context.Background()), "store", StatusOK, "pending index")

	client := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if _, err := client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String("wxpay-noindex"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	d.StoreURL = url("wxpay-noindex", "")
	c := wantStatus(t, d.Run(context.Background()), "store", StatusFail, "pending index cannot be read")
	if c.FixEN == "" {
		t.Error("no fix")
	}

	d.StoreURL = url("wxpay-missing", "")
	wantStatus(t, d.Run(context.Background()), "store", StatusFail, "not reachable")
}
