// Package dynamostore is the store.Store backend on DynamoDB. Every transition is one
// UpdateItem/PutItem/DeleteItem whose ConditionExpression carries the store.Condition,
// with ReturnValuesOnConditionCheckFailure=ALL_OLD so a failed condition brings the
// current item back in the same round trip. Pending records are found through a sparse
// GSI, so ListPending reads only pending items. Expired items read as absent before
// DynamoDB's TTL gets round to deleting them.
//
// Conditions on expiry use the client's clock; keep writers' clocks in sync (NTP).
// The GSI is eventually consistent: a record can show up in ListPending shortly after
// it left the index, so callers re-check with a conditional write (as they do anyway).
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/store"
)

// Store is a store.Store on one DynamoDB table.
type Store struct {
	client *client
	table  string
	now    func() time.Time
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*settings)

type settings struct {
	aws         awsconf.Options
	load        awsconf.Loader // nil: awsconf.FromEnv
	endpoint    string
	http        aws.HTTPClient
	maxAttempts int
}

// WithRegion sets the AWS region.
func WithRegion(region string) Option {
	return func(s *settings) { s.aws.Region = region }
}

// WithEndpoint points the client at another endpoint (DynamoDB Local, moto).
func WithEndpoint(url string) Option {
	return func(s *settings) { s.endpoint = url }
}

// WithStaticCredentials uses fixed credentials (local endpoints accept any).
func WithStaticCredentials(id, secret string) Option {
	return func(s *settings) { s.aws.AccessKeyID, s.aws.SecretAccessKey = id, secret }
}

// WithHTTPClient sends the calls through hc (the AWS configuration's, else a client
// on http.DefaultTransport).
func WithHTTPClient(hc aws.HTTPClient) Option {
	return func(s *settings) { s.http = hc }
}

// WithMaxAttempts bounds the tries of one call (retries included; default 3, the
// SDK's standard retryer's).
func WithMaxAttempts(n int) Option {
	return func(s *settings) { s.maxAttempts = n }
}

// Open builds a client from the AWS configuration (the environment alone, as Lambda
// provides it, unless WithLoader names another awsconf.Loader) adjusted by opts. It
// does not contact DynamoDB.
func Open(ctx context.Context, table string, opts ...Option) (*Store, error) {
	if table == "" {
		return nil, errors.New("dynamostore: empty table name")
	}
	var st settings
	for _, o := range opts {
		o(&st)
	}
	load := st.load
	if load == nil {
		load = awsconf.FromEnv
	}
	cfg, err := load(ctx, st.aws)
	if err != nil {
		return nil, fmt.Errorf("dynamostore: %w", err)
	}
	return &Store{client: newClient(cfg, st.endpoint, st.http, st.maxAttempts), table: table, now: time.Now}, nil
}

// Table is the table name.
func (s *Store) Table() string { return s.table }

// Close releases nothing: the client holds no resources that need closing.
func (s *Store) Close() error { return nil }

// TTLAttribute is the attribute DynamoDB's TTL deletes expired items by.
const TTLAttribute = attrExpiresAt

// TableDefinition is the table this store needs: partition key pk, on-demand billing,
// and the sparse pending index. template.yaml declares the same table (a test holds
// the two together); TTL on TTLAttribute is enabled separately.
func TableDefinition(table string) *CreateTableInput {
	return &CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: "S"},
			{AttributeName: aws.String(attrPending), AttributeType: "S"},
			{AttributeName: aws.String(attrPendingSince), AttributeType: "S"},
		},
		KeySchema: []KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: "HASH"}},
		GlobalSecondaryIndexes: []GlobalSecondaryIndex{{
			IndexName: aws.String(PendingIndex),
			KeySchema: []KeySchemaElement{
				{AttributeName: aws.String(attrPending), KeyType: "HASH"},
				{AttributeName: aws.String(attrPendingSince), KeyType: "RANGE"},
			},
			// ALL: a page of the index is the records themselves, no second read.
			Projection: &Projection{ProjectionType: "ALL"},
		}},
	}
}

// CreateTableInput is DynamoDB's CreateTable request, as much of it as the table
// uses (member names and types as the API reference and the SDK have them).
type CreateTableInput struct {
	TableName              *string
	BillingMode            string
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeySchemaElement
	GlobalSecondaryIndexes []GlobalSecondaryIndex `json:",omitempty"`
}

// AttributeDefinition is a key attribute's name and type (S).
type AttributeDefinition struct {
	AttributeName *string
	AttributeType string
}

// KeySchemaElement is a key attribute and its role (HASH, RANGE).
type KeySchemaElement struct {
	AttributeName *string
	KeyType       string
}

// GlobalSecondaryIndex is an index's name, key and projection.
type GlobalSecondaryIndex struct {
	IndexName  *string
	KeySchema  []KeySchemaElement
	Projection *Projection
}

// Projection is what an index holds (ALL).
type Projection struct{ ProjectionType string }

// CreateTable creates the table (on-demand billing), its pending GSI and the TTL
// setting, and waits until it is active. An existing table is left as it is.
func (s *Store) CreateTable(ctx context.Context) error {
	err := s.client.call(ctx, "CreateTable", TableDefinition(s.table), nil)
	var api *apiError
	if errors.As(err, &api) && api.Code == "ResourceInUseException" {
		return nil
	}
	if err != nil {
		return classify(fmt.Sprintf("create table %s", s.table), err)
	}
	// Wait as the SDK's TableExistsWaiter does: until the table is ACTIVE, polling
	// from 200 ms up to 2 s apart, for 5 minutes at most.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for pause := 200 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
		var out describeTableOutput
		err := s.client.call(wctx, "DescribeTable", tableNameInput{TableName: s.table}, &out)
		if err == nil && out.Table.TableStatus == "ACTIVE" {
			break
		}
		if err != nil && !errors.As(err, &api) {
			return classify(fmt.Sprintf("wait for table %s", s.table), err)
		}
		select {
		case <-wctx.Done():
			return classify(fmt.Sprintf("wait for table %s", s.table), cmpErr(err, wctx.Err()))
		case <-time.After(pause):
		}
	}
	in := updateTimeToLiveInput{TableName: s.table}
	in.TimeToLiveSpecification.AttributeName, in.TimeToLiveSpecification.Enabled = attrExpiresAt, true
	if err := s.client.call(ctx, "UpdateTimeToLive", in, nil); err != nil {
		return classify(fmt.Sprintf("enable TTL on %s", s.table), err)
	}
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Get is a strongly consistent GetItem.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Record{}, err
	}
	var out getItemOutput
	err := s.client.call(ctx, "GetItem", getItemInput{TableName: s.table, Key: keyOf(key), ConsistentRead: true}, &out)
	if err != nil {
		return store.Record{}, classify(fmt.Sprintf("get %q", key), err)
	}
	rec, err := liveRecord(out.Item, s.now())
	if err != nil {
		return store.Record{}, fmt.Errorf("dynamostore: get %q: %w", key, err)
	}
	if rec == nil {
		return store.Record{}, fmt.Errorf("dynamostore: get %q: %w", key, store.ErrNotFound)
	}
	return *rec, nil
}

// Put replaces the record whole with one UpdateItem: SET attrs = :attrs replaces the
// attribute map and version = if_not_exists(version, 0) + 1 numbers the write, both
// server-side. Only overwriting an expired item that DynamoDB has not deleted yet
// takes a second call (its version must restart at 1, which an expression cannot
// decide); the first call's condition refuses that case and returns the item.
func (s *Store) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if err := store.ValidateRecord(rec); err != nil {
		return store.Record{}, err
	}
	if err := store.ValidateCondition(cond); err != nil {
		return store.Record{}, err
	}
	now := s.now()
	rec = store.Normalize(rec, now)
	for attempt := 0; ; attempt++ {
		out, err := s.putOver(ctx, rec, cond, now)
		if err == nil {
			return out, nil
		}
		ccf, ok := conditionFailed(err)
		if !ok {
			return store.Record{}, classify(fmt.Sprintf("put %q", rec.Key), err)
		}
		old, derr := fromFailure(ccf)
		if derr != nil {
			return store.Record{}, fmt.Errorf("dynamostore: put %q: %w", rec.Key, derr)
		}
		if old == nil || !old.Expired(now) || !cond.Holds(nil, now) || attempt == 2 {
			return store.Record{}, &store.ConditionFailedError{Key: rec.Key, Current: live(old, now)}
		}
		// The item is expired, so absent, and cond holds for an absent record.
		out, err = s.putFresh(ctx, rec, now)
		if err == nil {
			return out, nil
		}
		if _, ok := conditionFailed(err); !ok {
			return store.Record{}, classify(fmt.Sprintf("put %q", rec.Key), err)
		}
		// Someone re-created it meanwhile: evaluate cond against that record.
	}
}

// putOver is the one-call Put, refusing to write over an expired item.
func (s *Store) putOver(ctx context.Context, rec store.Record, cond store.Condition, now time.Time) (store.Record, error) {
	e := newExpr(now)
	u := updateExpr{set: []string{"#attrs = " + e.val(attrsValue(rec.Attrs)), "#version = if_not_exists(#version, " + e.val(num(0)) + ") + " + e.val(num(1))}}
	u.pending(e, rec.Pending, rec.PendingSince, rec.Key)
	u.expiry(e, rec.ExpiresAt)
	update := u.String()
	condExpr := and(exprNotExpired, e.cond(cond))
	names, values := e.used(update, condExpr)
	var out updateItemOutput
	err := s.client.call(ctx, "UpdateItem", writeInput{
		TableName:                           s.table,
		Key:                                 keyOf(rec.Key),
		UpdateExpression:                    update,
		ConditionExpression:                 condExpr,
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        "UPDATED_NEW",
		ReturnValuesOnConditionCheckFailure: "ALL_OLD",
	}, &out)
	if err != nil {
		return store.Record{}, err
	}
	v := out.Attributes[attrVersion]
	if v == nil || v.N == nil {
		return store.Record{}, fmt.Errorf("dynamostore: put %q: no version in reply", rec.Key)
	}
	if _, err := fmt.Sscan(*v.N, &rec.Version); err != nil {
		return store.Record{}, fmt.Errorf("dynamostore: put %q: version %q: %w", rec.Key, *v.N, err)
	}
	return rec, nil
}

// putFresh writes rec at version 1 over an absent or expired item.
func (s *Store) putFresh(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	rec.Version = 1
	e := newExpr(now)
	names, values := e.used(exprAbsent)
	err := s.client.call(ctx, "PutItem", writeInput{
		TableName:                           s.table,
		Item:                                toItem(&rec),
		ConditionExpression:                 exprAbsent,
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: "ALL_OLD",
	}, nil)
	return rec, err
}

// Update is one UpdateItem returning ALL_NEW, or on a failed condition the current item.
func (s *Store) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if err := store.ValidateUpdate(key, ch, cond); err != nil {
		return store.Record{}, err
	}
	now := s.now()
	var norm store.Record // Change.Apply on a scratch record normalizes pending/expiry
	ch.Apply(&norm, now)
	e := newExpr(now)
	u := updateExpr{set: []string{"#version = #version + " + e.val(num(1))}}
	for name, v := range ch.Set {
		u.set = append(u.set, e.attr(name)+" = "+e.val(value(v)))
	}
	seen := map[string]bool{}
	for _, name := range ch.Remove {
		// Set wins; and DynamoDB rejects one path twice in an expression.
		if _, ok := ch.Set[name]; ok || seen[name] {
			continue
		}
		seen[name] = true
		u.remove = append(u.remove, e.attr(name))
	}
	if ch.Pending != nil {
		u.pending(e, norm.Pending, norm.PendingSince, key)
	}
	if ch.ExpiresAt != nil {
		u.expiry(e, norm.ExpiresAt)
	}
	update := u.String()
	condExpr := and(exprLive, e.cond(cond))
	names, values := e.used(update, condExpr)
	var out updateItemOutput
	err := s.client.call(ctx, "UpdateItem", writeInput{
		TableName:                           s.table,
		Key:                                 keyOf(key),
		UpdateExpression:                    update,
		ConditionExpression:                 condExpr,
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        "ALL_NEW",
		ReturnValuesOnConditionCheckFailure: "ALL_OLD",
	}, &out)
	if err != nil {
		return store.Record{}, s.failed(fmt.Sprintf("update %q", key), key, err, now)
	}
	rec, err := fromItem(out.Attributes)
	if err != nil {
		return store.Record{}, fmt.Errorf("dynamostore: update %q: %w", key, err)
	}
	return rec, nil
}

// Delete is one DeleteItem, conditional unless cond is zero.
func (s *Store) Delete(ctx context.Context, key string, cond store.Condition) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if err := store.ValidateCondition(cond); err != nil {
		return err
	}
	now := s.now()
	e := newExpr(now)
	in := writeInput{TableName: s.table, Key: keyOf(key), ReturnValuesOnConditionCheckFailure: "ALL_OLD"}
	if c := e.cond(cond); c != "" {
		in.ConditionExpression = c
		in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.used(c)
	}
	if err := s.client.call(ctx, "DeleteItem", in, nil); err != nil {
		return s.failed(fmt.Sprintf("delete %q", key), key, err, now)
	}
	return nil
}

// ListPending queries the sparse GSI from the cursor, skipping expired items.
func (s *Store) ListPending(ctx context.Context, index string, opts store.ListOptions) (store.Page, error) {
	limit, err := store.ValidateListOptions(index, opts)
	if err != nil {
		return store.Page{}, err
	}
	now := s.now()
	e := newExpr(now)
	keyCond := "#pending = " + e.val(str(index))
	if !opts.Before.IsZero() {
		keyCond += " AND #pending_since < " + e.val(str(sinceKey(opts.Before.UnixMicro(), "")[:21]))
	}
	filter := "attribute_not_exists(#expires_ms) OR #expires_ms > :now"
	names, values := e.used(keyCond, filter)
	var start item
	if opts.Cursor != "" {
		pos, err := store.DecodeCursor(index, opts.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		start = item{
			attrPK:           str(pos.Key),
			attrPending:      str(index),
			attrPendingSince: str(sinceKey(pos.Since, pos.Key)),
		}
	}
	var page store.Page
	for {
		var out queryOutput
		err := s.client.call(ctx, "Query", queryInput{
			TableName:                 s.table,
			IndexName:                 PendingIndex,
			KeyConditionExpression:    keyCond,
			FilterExpression:          filter,
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ExclusiveStartKey:         start,
			// Limit counts items read before the filter, so keep asking until the page
			// is full or the index is exhausted.
			Limit: int32(limit - len(page.Records)),
		}, &out)
		if err != nil {
			return store.Page{}, classify(fmt.Sprintf("list %q", index), err)
		}
		for _, item := range out.Items {
			rec, err := fromItem(item)
			if err != nil {
				return store.Page{}, fmt.Errorf("dynamostore: list %q: %w", index, err)
			}
			page.Records = append(page.Records, rec)
		}
		start = out.LastEvaluatedKey
		if len(start) == 0 {
			return page, nil
		}
		if len(page.Records) == limit {
			last := page.Records[limit-1]
			page.Cursor = store.EncodeCursor(store.Position{Index: index, Since: last.PendingSince.UnixMicro(), Key: last.Key})
			return page, nil
		}
	}
}

// failed turns a write error into a *ConditionFailedError carrying the item DynamoDB
// returned with it, or classifies it.
func (s *Store) failed(op, key string, err error, now time.Time) error {
	ccf, ok := conditionFailed(err)
	if !ok {
		return classify(op, err)
	}
	old, derr := fromFailure(ccf)
	if derr != nil {
		return fmt.Errorf("dynamostore: %s: %w", op, derr)
	}
	return &store.ConditionFailedError{Key: key, Current: live(old, now)}
}

// conditionFailed is err as a failed condition.
func conditionFailed(err error) (*apiError, bool) {
	var api *apiError
	if errors.As(err, &api) && api.Code == codeConditionFailed {
		return api, true
	}
	return nil, false
}

// fromFailure decodes the ALL_OLD item of a failed condition (nil when absent).
func fromFailure(ccf *apiError) (*store.Record, error) {
	if len(ccf.Item) == 0 {
		return nil, nil
	}
	rec, err := fromItem(ccf.Item)
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

func live(rec *store.Record, now time.Time) *store.Record {
	if rec == nil || rec.Expired(now) {
		return nil
	}
	return rec
}
