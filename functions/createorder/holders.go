package createorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/paysls/wxpay/shared/store"
)

// In partner and ecommerce mode an order_id is unique per sub-merchant only (WeChat Pay
// keys out_trade_no by sub_mchid, and so does the ledger: order/{sub_mchid}/{no}), so
// two sub-merchants may each hold "SHARED01". The store reads by key and never scans,
// so nothing could say which sub-merchants hold a number: the console's Find, given the
// number alone, saw the default sub-merchant's order only. The order API notes each
// sub-merchant a number is created under in one small record per number — never money:
// the ledger's records stay the truth, this only says where to look.
const holdersPrefix = "holders/"

// holderAttr prefixes the attribute naming one holder: one attribute per sub-merchant,
// so two creates noting different sub-merchants at once both stay (an Update sets its
// own attribute and leaves the other's).
const holderAttr = "h_"

// holdersKey is the record listing the sub-merchants of platform (sp_mchid) holding
// orderID — or a refund number: the order API notes out_refund_no the same way, and
// Find tries a number as either under each holder.
func holdersKey(platform, orderID string) string { return holdersPrefix + platform + "/" + orderID }

// noteHolder records that owner (a sub_mchid) holds orderID. It runs before the ledger
// writes the order, so a crash between the two leaves a holder with nothing under it
// (Find reads it and finds nothing there), never an order Find cannot name. One read
// when the holder is already noted (a re-priced attempt, a replayed create).
func (h *Handler) noteHolder(ctx context.Context, orderID, owner string) error {
	if !h.partner {
		return nil
	}
	key := holdersKey(h.cfg.MchID, orderID)
	rec, err := h.st.Get(ctx, key)
	switch {
	case err == nil:
		if _, ok := rec.Attrs[holderAttr+owner]; ok {
			return nil
		}
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("createorder: read the holders of %s: %w", orderID, err)
	default:
		_, err = h.st.Put(ctx, store.Record{Key: key, Attrs: map[string]string{holderAttr + owner: "1"}}, store.Condition{Absent: true})
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return fmt.Errorf("createorder: note %s as a holder of %s: %w", owner, orderID, err)
		}
		// Another create noted its sub-merchant first: add this one beside it.
	}
	if _, err := h.st.Update(ctx, key, store.Change{Set: map[string]string{holderAttr + owner: "1"}}, store.Condition{}); err != nil {
		return fmt.Errorf("createorder: note %s as a holder of %s: %w", owner, orderID, err)
	}
	return nil
}

// holdersOf lists the sub-merchants noted as holding orderID, sorted (none when no
// create noted it: an order created before the list existed, or not by this API).
func (h *Handler) holdersOf(ctx context.Context, orderID string) ([]string, error) {
	rec, err := h.st.Get(ctx, holdersKey(h.cfg.MchID, orderID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("createorder: read the holders of %s: %w", orderID, err)
	}
	var out []string
	for name := range rec.Attrs {
		if owner, ok := strings.CutPrefix(name, holderAttr); ok {
			out = append(out, owner)
		}
	}
	slices.Sort(out)
	return out, nil
}
