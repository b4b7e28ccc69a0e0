package events

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/store"
)

// API is the merchant's view of its events, behind the bundle's bearer token:
//
//	GET  /events?undelivered=1[&limit=N][&cursor=C]  events still owed, oldest due first
//	GET  /events/{id}                               one event and its delivery state
//	POST /events/{id}/resend                        make an event owed again, due now
//
// The listing reads only the outbox index (ListPending), so its cost grows with the
// undelivered events, never with the table; limit counts records (each may owe more
// than one event) and cursor continues where the previous page's next_cursor left.
// It lives here rather than in functions/notify because it is the outbox's own
// interface: any HTTP function of the bundle (notify in a deployment, `wxpay serve`
// locally) mounts it beside its routes.
type API struct {
	Store store.Store
	// Token is the bearer token (WXPAY_API_TOKEN); empty refuses every request.
	Token []byte
	// Marker records a resend on the event's record (the ledger).
	Marker Marker
	// Deliverer, when set, attempts a resent event at once (else the next delivery run
	// sends it).
	Deliverer *Deliverer
	Now       func() time.Time
}

// EventView is an event as the API shows it: the payload the merchant receives, plus
// its delivery state.
type EventView struct {
	Event
	Delivery Delivery `json:"delivery"`
}

// Delivery is an event's delivery state. State is "pending" (owed, next attempt at
// NextAt), "delivered", or "abandoned" (retries gave up; resend revives it).
type Delivery struct {
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// marker is the records' owner: Marker, else the deliverer's; nil when neither is set.
func (a *API) marker() Marker {
	if a.Marker == nil && a.Deliverer != nil {
		return a.Deliverer.Marker
	}
	return a.Marker
}

// view is e as the API shows it: the payload as the merchant receives it (the
// Marker's), plus its delivery state.
func (a *API) view(rec store.Record, e Entry) EventView {
	d := Delivery{Attempts: e.Attempts, NextAt: e.NextAt, DeliveredAt: e.DeliveredAt, LastStatus: e.LastStatus, LastError: e.LastError}
	switch {
	case !e.DeliveredAt.IsZero():
		d.State = "delivered"
	case e.owed():
		d.State = "pending"
	default:
		d.State = "abandoned"
	}
	ev := e.Event
	if m := a.marker(); m != nil {
		ev = m.EventPayload(rec, ev)
	}
	return EventView{Event: ev, Delivery: d}
}

// Listing is the answer of GET /events.
type Listing struct {
	Events     []EventView `json:"events"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// ServeHTTP implements http.Handler (the bearer check included).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	apiauth.Require(a.Token, http.HandlerFunc(a.serve)).ServeHTTP(w, r)
}

// Routes mounts the API on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.Handle("GET /events", a)
	mux.Handle("GET /events/{id}", a)
	mux.Handle("POST /events/{id}/resend", a)
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch {
	case id == "" && r.Method == http.MethodGet:
		a.list(w, r)
	case id != "" && r.Method == http.MethodGet:
		a.show(w, r, id)
	case id != "" && r.Method == http.MethodPost:
		a.resend(w, r, id)
	default:
		apiauth.Error(w, http.StatusNotFound, "NOT_FOUND", "no such route", "GET /events?undelivered=1, GET /events/{id}, POST /events/{id}/resend")
	}
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	// url.URL.Query drops a pair it cannot unescape: a cursor with a broken
	// percent-escape would silently restart the listing from its first page.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		if badCursor(r.URL.RawQuery) {
			invalidCursor(w, "the cursor is not percent-encoded correctly ("+err.Error()+")")
			return
		}
		apiauth.Error(w, http.StatusBadRequest, "PARAM_ERROR", "the query string is not percent-encoded correctly: "+err.Error(),
			"encode each parameter value (encodeURIComponent, url.QueryEscape)")
		return
	}
	if q.Get("undelivered") != "1" {
		apiauth.Error(w, http.StatusBadRequest, "PARAM_ERROR", "GET /events lists undelivered events only: add undelivered=1",
			"delivered events are not indexed (listing them would read every record); GET /events/{id} shows any one event by its Wxpay-Event-Id")
		return
	}
	opts := store.ListOptions{Limit: 100, Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			apiauth.Error(w, http.StatusBadRequest, "PARAM_ERROR", "limit must be an integer from 1 to 1000", "leave limit out for 100 a page, or send e.g. limit=500; next_cursor pages on")
			return
		}
		opts.Limit = n
	}
	// The listing walks the outbox (events owed), then the abandoned index (events
	// retries gave up on: undelivered too); a cursor into the second carries a prefix.
	out := Listing{Events: []EventView{}}
	inner, abandoned := strings.CutPrefix(opts.Cursor, abandonedCursor)
	if !abandoned {
		page, err := a.Store.ListPending(r.Context(), IndexOutbox, opts)
		if err != nil {
			a.listFailed(w, opts.Cursor)
			return
		}
		for _, rec := range page.Records {
			for _, e := range Owed(rec) {
				out.Events = append(out.Events, a.view(rec, e))
			}
		}
		if page.Cursor != "" {
			out.NextCursor = page.Cursor
			apiauth.WriteJSON(w, http.StatusOK, out)
			return
		}
		// The outbox is done: the rest of this page comes from the abandoned index.
		if opts.Limit -= len(out.Events); opts.Limit <= 0 {
			out.NextCursor = abandonedCursor
			apiauth.WriteJSON(w, http.StatusOK, out)
			return
		}
		inner = ""
	}
	opts.Cursor = inner
	gone, next, err := Abandoned(r.Context(), a.Store, opts)
	if err != nil {
		a.listFailed(w, opts.Cursor)
		return
	}
	for _, u := range gone {
		out.Events = append(out.Events, a.view(u.Record, u.Entry))
	}
	if next != "" {
		out.NextCursor = abandonedCursor + next
	}
	apiauth.WriteJSON(w, http.StatusOK, out)
}

// abandonedCursor prefixes a listing cursor that points into the abandoned index.
const abandonedCursor = "abandoned~"

func (a *API) listFailed(w http.ResponseWriter, cursor string) {
	if cursor != "" {
		invalidCursor(w, "the cursor is not one this listing returned, or it expired")
		return
	}
	apiauth.Error(w, http.StatusServiceUnavailable, "STORE_UNAVAILABLE", "the store could not be read; try again", retryHint)
}

// invalidCursor answers 400 INVALID_CURSOR: nothing was listed, nothing changed.
func invalidCursor(w http.ResponseWriter, message string) {
	apiauth.Error(w, http.StatusBadRequest, "INVALID_CURSOR", message,
		"pass next_cursor exactly as the last page returned it, percent-encoded (url.QueryEscape), or start again without cursor")
}

// badCursor reports whether a cursor parameter of raw cannot be unescaped.
func badCursor(raw string) bool {
	for pair := range strings.SplitSeq(raw, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(k); err == nil && k == "cursor" {
			if _, err := url.QueryUnescape(v); err != nil {
				return true
			}
		}
	}
	return false
}

// retryHint is the hint of a store failure: nothing was changed, so the same request
// is safe to send again.
const retryHint = "retry the same request in a moment: it is safe to repeat · 请稍后重试"

// find reads the event id names, answering 400/404/503 itself when it cannot.
func (a *API) find(w http.ResponseWriter, r *http.Request, id string) (store.Record, Entry, bool) {
	key, attr, err := Locate(id)
	if err != nil {
		apiauth.Error(w, http.StatusBadRequest, "PARAM_ERROR", "malformed event id: "+apiauth.Echo(id), "use the id of an event as delivered (Wxpay-Event-Id) or listed by GET /events")
		return store.Record{}, Entry{}, false
	}
	rec, err := a.Store.Get(r.Context(), key)
	if err == nil {
		for _, e := range Entries(rec) {
			if e.Attr == attr && e.ID == id {
				return rec, e, true
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		apiauth.Error(w, http.StatusServiceUnavailable, "STORE_UNAVAILABLE", "the store could not be read; try again", retryHint)
		return store.Record{}, Entry{}, false
	}
	apiauth.Error(w, http.StatusNotFound, "NOT_FOUND", "no event "+apiauth.Echo(id), "the id is the Wxpay-Event-Id of a delivery or an id GET /events?undelivered=1 lists; an event is kept with its order, so an id of a record since removed finds nothing")
	return store.Record{}, Entry{}, false
}

func (a *API) show(w http.ResponseWriter, r *http.Request, id string) {
	if rec, e, ok := a.find(w, r, id); ok {
		apiauth.WriteJSON(w, http.StatusOK, a.view(rec, e))
	}
}

func (a *API) resend(w http.ResponseWriter, r *http.Request, id string) {
	if _, _, ok := a.find(w, r, id); !ok {
		return
	}
	m := a.marker()
	if m == nil {
		apiauth.Error(w, http.StatusServiceUnavailable, "NOT_CONFIGURED", "this deployment cannot record a resend", "this events API was built without the ledger that marks an event for resending (a deployment fault): resend it from the operations console meanwhile")
		return
	}
	if _, err := Resend(r.Context(), a.Store, m, id, a.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			apiauth.Error(w, http.StatusNotFound, "NOT_FOUND", "no event "+apiauth.Echo(id), "the id is the Wxpay-Event-Id of a delivery or an id GET /events?undelivered=1 lists; an event is kept with its order, so an id of a record since removed finds nothing")
			return
		}
		apiauth.Error(w, http.StatusServiceUnavailable, "STORE_UNAVAILABLE", "the event could not be marked for resending; try again", retryHint)
		return
	}
	rec, e, ok := a.find(w, r, id)
	if !ok {
		return
	}
	if a.Deliverer != nil && a.Deliverer.Sink != nil {
		if _, _, err := a.Deliverer.DeliverRecord(r.Context(), rec, false); err == nil {
			if again, e2, ok := a.find(w, r, id); ok {
				rec, e = again, e2
			} else {
				return
			}
		}
	}
	apiauth.WriteJSON(w, http.StatusAccepted, a.view(rec, e))
}
