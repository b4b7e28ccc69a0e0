package notifycheck

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// startServer runs a real server binary on a free loopback port for this test (the
// store package's testserver is internal to it). Missing binaries skip, except in CI.
func startServer(t *testing.T, name, install string, args func(port int) []string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: %s", name, install)
		}
		t.Skipf("%s is not installed: %s", name, install)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, args(port)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr
}

func startMoto(t *testing.T) string {
	return "http://" + startServer(t, "moto_server", "pip install 'moto[server]'", func(port int) []string {
		return []string{"-H", "127.0.0.1", "-p", fmt.Sprint(port)}
	})
}

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
			addr := startServer(t, "redis-server", "apt-get install redis-server", func(port int) []string {
				return append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1"}, c.args...)
			})
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
