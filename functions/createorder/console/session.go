package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// Sessions live in the store, so a sign-out ends them on every instance and a function
// restart keeps them. The cookie carries a random id; the store holds only its SHA-256,
// so reading the table gives nobody a usable session.
const (
	cookieName = "wxpay_console"
	// sessionLife is absolute: a session ends this long after sign-in, whatever it did.
	sessionLife = 12 * time.Hour
	// idleLife ends a session nobody used for this long.
	idleLife = 2 * time.Hour
	// Failed sign-ins per user name within failWindow before the name is locked for the
	// rest of the window.
	maxFailures = 5
	failWindow  = 15 * time.Minute
)

type session struct {
	user    string
	csrf    string
	created time.Time
	seen    time.Time
	rec     store.Record
}

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "console/session/" + hex.EncodeToString(h[:])
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newSession records a session for user and returns its cookie value.
func (h *Handler) newSession(ctx context.Context, user string) (id string, s session, err error) {
	now := h.wall().UTC()
	id = randomToken()
	s = session{user: user, csrf: randomToken(), created: now, seen: now}
	exp := now.Add(idleLife)
	rec, err := h.st.Put(ctx, store.Record{Key: sessionKey(id), ExpiresAt: exp, Attrs: map[string]string{
		"user": user, "csrf": s.csrf, "created": now.Format(time.RFC3339Nano), "seen": now.Format(time.RFC3339Nano),
	}}, store.Condition{Absent: true})
	if err != nil {
		return "", session{}, fmt.Errorf("record session: %w", err)
	}
	s.rec = rec
	return id, s, nil
}

// session returns the live session of r's cookie, sliding its idle expiry.
func (h *Handler) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) != 43 {
		return session{}, false
	}
	rec, err := h.st.Get(r.Context(), sessionKey(c.Value))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("console session not read", "error", err.Error())
		}
		return session{}, false
	}
	now := h.wall().UTC()
	s := session{user: rec.Attrs["user"], csrf: rec.Attrs["csrf"], rec: rec}
	s.created, _ = time.Parse(time.RFC3339Nano, rec.Attrs["created"])
	s.seen, _ = time.Parse(time.RFC3339Nano, rec.Attrs["seen"])
	if s.user == "" || s.csrf == "" || now.Sub(s.created) >= sessionLife || now.Sub(s.seen) >= idleLife {
		return session{}, false
	}
	if _, known := h.users[s.user]; !known {
		return session{}, false // the user was removed from console_users
	}
	// Slide the idle expiry at most once a minute: one write per minute of use.
	if now.Sub(s.seen) > time.Minute {
		exp := now.Add(idleLife)
		if end := s.created.Add(sessionLife); end.Before(exp) {
			exp = end
		}
		if _, err := h.st.Update(r.Context(), rec.Key, store.Change{Set: map[string]string{"seen": now.Format(time.RFC3339Nano)}, ExpiresAt: &exp}, store.Condition{Exists: true}); err != nil {
			h.log.Warn("console session not extended", "error", err.Error())
		}
	}
	return s, true
}

func (h *Handler) endSession(ctx context.Context, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		// Ended by emptying it (the store's expiry removes it): one kind of write fewer
		// for the function to carry than a Delete.
		gone := h.wall()
		if _, err := h.st.Update(ctx, sessionKey(c.Value), store.Change{Set: map[string]string{"user": ""}, ExpiresAt: &gone}, store.Condition{Exists: true}); err != nil && !errors.Is(err, store.ErrConditionFailed) {
			h.log.Warn("console session not deleted", "error", err.Error())
		}
	}
}

func (h *Handler) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: h.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

// validCSRF reports whether the form's token is the session's.
func (s session) validCSRF(r *http.Request) bool {
	got := r.PostForm.Get("csrf") // ParseForm ran: console forms are urlencoded, never multipart
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

func failKey(name string) string {
	h := sha256.Sum256([]byte(name))
	return "console/signin_failures/" + hex.EncodeToString(h[:16])
}

// locked reports whether name has failed too often within the window.
func (h *Handler) locked(ctx context.Context, name string) bool {
	rec, err := h.st.Get(ctx, failKey(name))
	if err != nil {
		return false
	}
	n, _ := strconv.Atoi(rec.Attrs["count"])
	return n >= maxFailures
}

// failed counts a failed sign-in for name; the count expires with its window.
func (h *Handler) failed(ctx context.Context, name string) {
	for range 8 {
		rec, err := h.st.Get(ctx, failKey(name))
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = h.st.Put(ctx, store.Record{Key: failKey(name), ExpiresAt: h.wall().Add(failWindow),
				Attrs: map[string]string{"count": "1"}}, store.Condition{Absent: true})
		case err == nil:
			n, _ := strconv.Atoi(rec.Attrs["count"])
			_, err = h.st.Update(ctx, rec.Key, store.Change{Set: map[string]string{"count": strconv.Itoa(n + 1)}}, store.Condition{Version: rec.Version})
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			if err != nil {
				h.log.Warn("console sign-in failure not counted", "error", err.Error())
			}
			return
		}
	}
}
