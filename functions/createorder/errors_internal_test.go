package createorder

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/paysls/wxpay/shared/payment"
)

// A transition that lost every round to concurrent writers changed nothing: the answer
// says so and invites the same request again (503 BUSY), not a 500 that reads as a fault.
func TestContendedIsBusy(t *testing.T) {
	h := &Handler{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	w := httptest.NewRecorder()
	h.writeError(w, httptest.NewRequest("POST", "/orders", nil), fmt.Errorf("create X: %w", payment.ErrContended))
	var body struct{ Code, Message, Hint string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != 503 || body.Code != "BUSY" || body.Hint == "" {
		t.Fatalf("contended write answered %d %+v", w.Code, body)
	}
}
