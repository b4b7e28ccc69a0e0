package dynamostore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The DynamoDB API (awsJson1_0, SigV4), spoken here rather than through the SDK's
// service/dynamodb: that package's init compiles its endpoint tables' regexps and
// builds its rules — 0.3-0.4 ms of every Lambda cold start (GODEBUG=inittrace=1),
// more than all of the function's own start-up — for six operations whose JSON is
// fixed (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/). The signer
// and aws.Config are the SDK's (awsconf.CallJSON signs the other AWS calls the same
// way).

// av is an AttributeValue in its JSON form, one member set: S, N (a decimal string),
// B (base64 in JSON) or M. Other members (BOOL, L, …) are never written; an item
// holding one decodes with none set, which fromItem refuses.
type av struct {
	S *string         `json:"S,omitempty"`
	N *string         `json:"N,omitempty"`
	B *[]byte         `json:"B,omitempty"`
	M *map[string]*av `json:"M,omitempty"`
}

// item is an item, a key or an expression's values.
type item = map[string]*av

// apiError is an answer other than 200: the exception's name (after '#' in __type),
// its message, and for ConditionalCheckFailedException the item as it is
// (ReturnValuesOnConditionCheckFailure=ALL_OLD).
type apiError struct {
	Status  int
	Code    string
	Message string
	Item    item
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

const codeConditionFailed = "ConditionalCheckFailedException"

// client signs and sends the calls, retrying what a retry may cure.
type client struct {
	cfg         aws.Config
	url         string
	http        aws.HTTPClient
	maxAttempts int
}

// defaultMaxAttempts is the SDK's standard retryer's.
const defaultMaxAttempts = 3

func newClient(cfg aws.Config, endpoint string, hc aws.HTTPClient, maxAttempts int) *client {
	url := "https://dynamodb." + cfg.Region + ".amazonaws.com/"
	if strings.HasPrefix(cfg.Region, "cn-") {
		url = "https://dynamodb." + cfg.Region + ".amazonaws.com.cn/"
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint // AWS_ENDPOINT_URL
	}
	if endpoint != "" {
		url = strings.TrimRight(endpoint, "/") + "/"
	}
	if hc == nil {
		hc = cfg.HTTPClient
	}
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	if maxAttempts <= 0 {
		maxAttempts = defaultMaxAttempts
	}
	return &client{cfg: cfg, url: url, http: hc, maxAttempts: maxAttempts}
}

// call makes operation op (DynamoDB_20120810.<op>) with in, decoding the answer into
// out (nil: discarded). A failure a retry may cure (retryable) is tried again, up to
// maxAttempts in all, after a jittered exponential pause (50 ms, 100 ms, … ≤ 1 s:
// DynamoDB's own SDK base); the context bounds it all.
func (c *client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = c.once(ctx, op, body, out)
		if err == nil || attempt >= c.maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		pause := min(50*time.Millisecond<<(attempt-1), time.Second)
		t := time.NewTimer(rand.N(pause) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (c *client) once(ctx context.Context, op string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	if c.cfg.Credentials == nil {
		return fmt.Errorf("no AWS credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "dynamodb", c.cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		// An error body names the exception and a message, never the request.
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
			Item    item   `json:"Item"`
		}
		_ = json.Unmarshal(raw, &e)
		if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
			e.Type = e.Type[i+1:]
		}
		return &apiError{Status: resp.StatusCode, Code: e.Type, Message: cmpOr(e.Message, e.Msg), Item: e.Item}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s answer: %w", op, err)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The requests and answers used, by the API reference's member names.

type getItemInput struct {
	TableName      string
	Key            item
	ConsistentRead bool `json:",omitempty"`
}

type getItemOutput struct{ Item item }

type writeInput struct { // PutItem, UpdateItem, DeleteItem
	TableName                           string
	Key                                 item              `json:",omitempty"`
	Item                                item              `json:",omitempty"`
	UpdateExpression                    string            `json:",omitempty"`
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           item              `json:",omitempty"`
	ReturnValues                        string            `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

type updateItemOutput struct{ Attributes item }

type queryInput struct {
	TableName                 string
	IndexName                 string
	KeyConditionExpression    string
	FilterExpression          string            `json:",omitempty"`
	ExpressionAttributeNames  map[string]string `json:",omitempty"`
	ExpressionAttributeValues item              `json:",omitempty"`
	ExclusiveStartKey         item              `json:",omitempty"`
	Limit                     int32             `json:",omitempty"`
}

type queryOutput struct {
	Items            []item
	LastEvaluatedKey item
}

type tableNameInput struct{ TableName string }

type describeTableOutput struct {
	Table struct {
		TableStatus            string
		GlobalSecondaryIndexes []struct{ IndexStatus string }
	}
}

type updateTimeToLiveInput struct {
	TableName               string
	TimeToLiveSpecification struct {
		AttributeName string
		Enabled       bool
	}
}
