package payment

// Profit-sharing receivers (分账接收方) the deployment added at WeChat Pay: an e-commerce
// platform's receivers are its own (any sub-merchant may split to them), a service
// provider's belong to one sub-merchant. The order API adds and removes them through
// WeChat Pay's receivers API and notes them here, so that a plan naming a receiver
// never added is refused before anything is sent. Not money: a plain record the ledger
// writes like the others (one writer per kind of record).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

const prefixReceiver = "receiver/"

// receiverKey is the store key of a receiver: scope is "ecommerce" or the sub_mchid
// of a service provider's.
func receiverKey(scope, typ, account string) string {
	return prefixReceiver + scope + "/" + typ + "/" + account
}

// ShareReceiverRecord is a receiver as added at WeChat Pay.
type ShareReceiverRecord struct {
	Scope        string    `json:"scope"`
	Type         string    `json:"type"`
	Account      string    `json:"account"`
	Name         string    `json:"name,omitempty"` // a merchant's full name (not a person's)
	RelationType string    `json:"relation_type,omitempty"`
	Added        bool      `json:"added"`
	At           time.Time `json:"at"`
}

// Receiver reads a receiver the deployment noted (ErrNotFound: never added).
func (l *Ledger) Receiver(ctx context.Context, scope, typ, account string) (*ShareReceiverRecord, error) {
	rec, err := l.Store.Get(ctx, receiverKey(scope, typ, account))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("payment: receiver %s %s: %w", typ, account, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("payment: read receiver %s: %w", account, err)
	}
	var r ShareReceiverRecord
	if err := json.Unmarshal([]byte(rec.Attrs[attrDoc]), &r); err != nil {
		return nil, fmt.Errorf("payment: decode receiver %s: %w", account, err)
	}
	return &r, nil
}

// NoteReceiver records that r was added at WeChat Pay (Added) or removed (not Added).
func (l *Ledger) NoteReceiver(ctx context.Context, r ShareReceiverRecord) error {
	r.At = l.now()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = l.Store.Put(ctx, store.Record{Key: receiverKey(r.Scope, r.Type, r.Account), Attrs: map[string]string{attrDoc: string(b)}}, store.Condition{})
	if err != nil {
		return fmt.Errorf("payment: note receiver %s: %w", r.Account, err)
	}
	return nil
}
