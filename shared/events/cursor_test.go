package events

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// A cursor whose percent-escape is broken was dropped by the query parser and the
// listing started again from its first page, which a client paging through owed events
// takes for the next page (and loops). It is refused: 400 INVALID_CURSOR with a hint,
// and nothing listed. A cursor this listing never returned is refused the same way.
func TestMalformedCursorIsRefused(t *testing.T) {
	st := openStore(t)
	now := time.Now().UTC()
	for _, k := range []string{"order/1900000001/CUR-A", "order/1900000001/CUR-B"} {
		putWithEvent(t, st, k, now)
	}
	mux := http.NewServeMux()
	(&API{Store: st, Marker: storeMarker{st}, Token: []byte("tok")}).Routes(mux)
	code, body := call(t, mux, http.MethodGet, "/events?undelivered=1&limit=1", "tok")
	var first Listing
	if code != http.StatusOK || json.Unmarshal(body, &first) != nil || first.NextCursor == "" {
		t.Fatalf("first page: %d %s", code, body)
	}
	for _, cursor := range []string{
		url.QueryEscape(first.NextCursor) + "%zz", // a broken escape
		"%",
		url.QueryEscape(first.NextCursor)[:2] + "%4", // cut short inside an escape
		"not-a-cursor-of-this-listing",
	} {
		code, body := call(t, mux, http.MethodGet, "/events?undelivered=1&limit=1&cursor="+cursor, "tok")
		var e struct{ Code, Message, Hint string }
		if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Code != "INVALID_CURSOR" || e.Message == "" || e.Hint == "" {
			t.Errorf("cursor %q: %d %s", cursor, code, body)
		}
	}
	// Another parameter broken the same way is a PARAM_ERROR, not a first page.
	if code, body := call(t, mux, http.MethodGet, "/events?undelivered=1&limit=%zz", "tok"); code != http.StatusBadRequest {
		t.Errorf("broken limit: %d %s", code, body)
	}
	// The cursor as returned, encoded, still pages on.
	code, body = call(t, mux, http.MethodGet, "/events?undelivered=1&limit=1&cursor="+url.QueryEscape(first.NextCursor), "tok")
	var second Listing
	if code != http.StatusOK || json.Unmarshal(body, &second) != nil || len(second.Events) != 1 || second.Events[0].ID == first.Events[0].ID {
		t.Fatalf("second page: %d %s", code, body)
	}
}
