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
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/store"
)

// Store is a store.Store on one DynamoDB table.
type Store struct {
	// client is built at the first call (Open): constructing the SDK client — its
	// options, retryer, endpoint resolver and middleware — is 50-90 µs of a cold
	// start that contacts nothing and can find nothing wrong that the configuration
	// Open loads has not already.
	client func() *dynamodb.Client
	table  string
	now    func() time.Time
}

var _ store.Store = (*Store)(nil)

// option configures Open.
type option func(*settings)

type settings struct {
	aws    awsconf.Options
	load   awsconf.Loader // nil: awsconf.FromEnv
	client []func(*dynamodb.Options)
}

// WithRegion sets the AWS region.
func WithRegion(region string) option {
	return func(s *settings) { s.aws.Region = region }
}

// WithEndpoint points the client at another endpoint (DynamoDB Local, moto).
func WithEndpoint(url string) option {
	return withClientOptions(func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(url) })
}

// WithStaticCredentials uses fixed credentials (local endpoints accept any).
func WithStaticCredentials(id, secret string) option {
	return func(s *settings) { s.aws.AccessKeyID, s.aws.SecretAccessKey = id, secret }
}

// withClientOptions adjusts the DynamoDB client (retries, APIOptions middleware, …).
func withClientOptions(fn func(*dynamodb.Options)) option {
	return func(s *settings) { s.client = append(s.client, fn) }
}

// Open loads the AWS configuration (the environment alone, as Lambda provides it,
// unless withLoader names another awsconf.Loader) adjusted by opts — a missing region
// or credentials fail here — and builds the client from it at the first call. It does
// not contact DynamoDB.
func Open(ctx context.Context, table string, opts ...option) (*Store, error) {
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
	return &Store{client: sync.OnceValue(func() *dynamodb.Client { return dynamodb.NewFromConfig(cfg, st.client...) }),
		table: table, now: time.Now}, nil
}

// New uses an existing client.
func New(client *dynamodb.Client, table string) *Store {
	return &Store{client: func() *dynamodb.Client { return client }, table: table, now: time.Now}
}

// Table is the table name.
func (s *Store) Table() string { return s.table }

// Close releases nothing: the SDK client holds no resources that need closing.
func (s *Store) Close() error { return nil }

// TTLAttribute is the attribute DynamoDB's TTL deletes expired items by.
const TTLAttribute = attrExpiresAt

// TableDefinition is the table this store needs: partition key pk, on-demand billing,
// and the sparse pending index. template.yaml declares the same table (a test holds
// the two together); TTL on TTLAttribute is enabled separately.
func TableDefinition(table string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrPending), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrPendingSince), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(PendingIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrPending), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrPendingSince), KeyType: types.KeyTypeRange},
			},
			// ALL: a page of the index is the records themselves, no second read.
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	}
}

// CreateTable creates the table (on-demand billing), its pending GSI and the TTL
// setting, and waits until it is active. An existing table is left as it is.
func (s *Store) CreateTable(ctx context.Context) error {
	_, err := s.client().CreateTable(ctx, TableDefinition(s.table))
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return classify(fmt.Sprintf("create table %s", s.table), err)
	}
	waiter := dynamodb.NewTableExistsWaiter(s.client(), func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, 5*time.Minute); err != nil {
		return classify(fmt.Sprintf("wait for table %s", s.table), err)
	}
	_, err = s.client().UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return classify(fmt.Sprintf("enable TTL on %s", s.table), err)
	}
	return nil
}

// Get is a strongly consistent GetItem.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Record{}, err
	}
	out, err := s.client().GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{attrPK: str(key)},
		ConsistentRead: aws.Bool(true),
	})
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
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
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
		if !errors.As(err, &ccf) {
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
	out, err := s.client().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 map[string]types.AttributeValue{attrPK: str(rec.Key)},
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(condExpr),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return store.Record{}, err
	}
	v, ok := out.Attributes[attrVersion].(*types.AttributeValueMemberN)
	if !ok {
		return store.Record{}, fmt.Errorf("dynamostore: put %q: no version in reply", rec.Key)
	}
	if _, err := fmt.Sscan(v.Value, &rec.Version); err != nil {
		return store.Record{}, fmt.Errorf("dynamostore: put %q: version %q: %w", rec.Key, v.Value, err)
	}
	return rec, nil
}

// putFresh writes rec at version 1 over an absent or expired item.
func (s *Store) putFresh(ctx context.Context, rec store.Record, now time.Time) (store.Record, error) {
	rec.Version = 1
	e := newExpr(now)
	names, values := e.used(exprAbsent)
	_, err := s.client().PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                toItem(&rec),
		ConditionExpression:                 aws.String(exprAbsent),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
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
	out, err := s.client().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 map[string]types.AttributeValue{attrPK: str(key)},
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(condExpr),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
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
	in := &dynamodb.DeleteItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 map[string]types.AttributeValue{attrPK: str(key)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if c := e.cond(cond); c != "" {
		in.ConditionExpression = aws.String(c)
		in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.used(c)
	}
	if _, err := s.client().DeleteItem(ctx, in); err != nil {
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
	var start map[string]types.AttributeValue
	if opts.Cursor != "" {
		pos, err := store.DecodeCursor(index, opts.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		start = map[string]types.AttributeValue{
			attrPK:           str(pos.Key),
			attrPending:      str(index),
			attrPendingSince: str(sinceKey(pos.Since, pos.Key)),
		}
	}
	var page store.Page
	for {
		out, err := s.client().Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(PendingIndex),
			KeyConditionExpression:    aws.String(keyCond),
			FilterExpression:          aws.String(filter),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ExclusiveStartKey:         start,
			// Limit counts items read before the filter, so keep asking until the page
			// is full or the index is exhausted.
			Limit: aws.Int32(int32(limit - len(page.Records))),
		})
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
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return classify(op, err)
	}
	old, derr := fromFailure(ccf)
	if derr != nil {
		return fmt.Errorf("dynamostore: %s: %w", op, derr)
	}
	return &store.ConditionFailedError{Key: key, Current: live(old, now)}
}

// fromFailure decodes the ALL_OLD item of a failed condition (nil when absent).
func fromFailure(ccf *types.ConditionalCheckFailedException) (*store.Record, error) {
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
