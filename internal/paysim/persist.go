package paysim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Persistence: `wxpay serve` keeps the bundle's store on disk, so the simulated WeChat
// Pay beside it must survive a restart too, or an order created before cannot be paid
// and events stamped on an advanced virtual clock are never due again. A snapshot is
// the JSON of the whole state struct, the virtual clock's offset and the notifications
// still queued for delivery; Restore puts them back into a fresh Simulator.
//
// The state struct is marshalled generically: every exported, JSON-tagged field of
// state (the seam every branch adding simulator state codes against) is kept without
// further work. The fields that predate the seam are unexported and are carried
// explicitly below (legacyState); TestSnapshotCoversEveryStateField fails when a field
// is neither. What is deliberately not kept: faults (a restart switches them off),
// rotated platform keys (the keys dir's key signs again), and bill download links
// (they live 30 s).

// snapshotVersion is bumped when the file's shape changes incompatibly.
const snapshotVersion = 1

// snapshot is the file's shape.
type snapshot struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"saved_at"` // wall clock, for the person reading the file
	// ClockOffset is how far the simulated calendar is ahead of the wall clock.
	ClockOffset time.Duration `json:"clock_offset_ns"`
	State       *state        `json:"state"`
	// Pending are the notification attempts still due (first tries and retries), with
	// the notifications the out-of-order fault held back.
	Pending []pendingAttempt `json:"pending,omitempty"`
}

// pendingAttempt is a queued delivery attempt.
type pendingAttempt struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Event   string    `json:"event"`
	Body    []byte    `json:"body"` // the sealed notification, re-signed on every attempt
	Due     time.Time `json:"due"`  // real time, as the scheduler runs on it
	Attempt int       `json:"attempt"`
	Copy    int       `json:"copy,omitempty"`
	Probe   bool      `json:"probe,omitempty"`
}

// stateFields is state without its methods: its exported fields marshal as encoding/json
// always does. Embedded in the legacy wrapper below, they are promoted beside the
// fields that predate the seam.
type stateFields state

// legacyState carries the unexported fields of state (and the unexported fields of
// their values) that predate the exported-field seam.
type legacyState struct {
	*stateFields
	LegacyOrders     map[string]*orderJSON     `json:"orders"`
	LegacyRefunds    map[string]*refundJSON    `json:"refunds"`
	LegacyDeliveries []*Delivery               `json:"deliveries"`
	LegacyOAuthCodes map[string]*oauthCodeJSON `json:"oauth_codes"`
	LegacyH5Links    map[string]*h5LinkJSON    `json:"h5_links"`
}

// legacyFields are the state fields legacyState carries; byTransaction is an index of
// orders, rebuilt by reindex; bills are download links that live 30 s.
var legacyFields = map[string]bool{
	"orders": true, "refunds": true, "deliveries": true, "oauthCodes": true, "h5Links": true,
	"byTransaction": true, "bills": true,
}

type orderJSON struct {
	order
	Fingerprint string `json:"fingerprint"`
	PrepayID    string `json:"prepay_id,omitempty"`
}

type refundJSON struct {
	refund
	Fingerprint string `json:"fingerprint"`
}

type oauthCodeJSON struct {
	AppID   string    `json:"appid"`
	OpenID  string    `json:"openid"`
	Scope   string    `json:"scope"`
	Expires time.Time `json:"expires"`
	Used    bool      `json:"used,omitempty"`
}

type h5LinkJSON struct {
	OutTradeNo string    `json:"out_trade_no"`
	Package    string    `json:"package"`
	Created    time.Time `json:"created"`
}

// MarshalJSON is the state as a snapshot holds it.
func (st *state) MarshalJSON() ([]byte, error) {
	l := legacyState{stateFields: (*stateFields)(st),
		LegacyOrders: map[string]*orderJSON{}, LegacyRefunds: map[string]*refundJSON{},
		LegacyDeliveries: st.deliveries,
		LegacyOAuthCodes: map[string]*oauthCodeJSON{}, LegacyH5Links: map[string]*h5LinkJSON{}}
	for k, o := range st.orders {
		l.LegacyOrders[k] = &orderJSON{order: *o, Fingerprint: o.fingerprint, PrepayID: o.prepayID}
	}
	for k, r := range st.refunds {
		l.LegacyRefunds[k] = &refundJSON{refund: *r, Fingerprint: r.fingerprint}
	}
	for k, c := range st.oauthCodes {
		l.LegacyOAuthCodes[k] = &oauthCodeJSON{AppID: c.appID, OpenID: c.openID, Scope: c.scope, Expires: c.expires, Used: c.used}
	}
	for k, h := range st.h5Links {
		l.LegacyH5Links[k] = &h5LinkJSON{OutTradeNo: h.outTradeNo, Package: h.pkg, Created: h.created}
	}
	return json.Marshal(l)
}

// UnmarshalJSON restores a state from a snapshot into st, which newState made.
func (st *state) UnmarshalJSON(b []byte) error {
	l := legacyState{stateFields: (*stateFields)(st)}
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	for k, o := range l.LegacyOrders {
		if o == nil {
			continue
		}
		v := o.order
		v.fingerprint, v.prepayID = o.Fingerprint, o.PrepayID
		st.orders[k] = &v
	}
	for k, r := range l.LegacyRefunds {
		if r == nil {
			continue
		}
		v := r.refund
		v.fingerprint = r.Fingerprint
		st.refunds[k] = &v
	}
	st.deliveries = l.LegacyDeliveries
	for k, c := range l.LegacyOAuthCodes {
		if c != nil {
			st.oauthCodes[k] = &oauthCode{appID: c.AppID, openID: c.OpenID, scope: c.Scope, expires: c.Expires, used: c.Used}
		}
	}
	for k, h := range l.LegacyH5Links {
		if h != nil {
			st.h5Links[k] = &h5Link{outTradeNo: h.OutTradeNo, pkg: h.Package, created: h.Created}
		}
	}
	st.reindex()
	return nil
}

// reindex rebuilds the indexes that point into other maps (they would be copies, not
// the same records, if they were kept in the snapshot).
func (st *state) reindex() {
	// A snapshot from before orders were keyed per merchant holds them by out_trade_no
	// alone: key every order afresh.
	orders := make(map[string]*order, len(st.orders))
	for _, o := range st.orders {
		orders[o.key()] = o
	}
	st.orders = orders
	st.byTransaction = map[string]*order{}
	for _, o := range st.orders {
		if o.TransactionID != "" {
			st.byTransaction[o.TransactionID] = o
		}
	}
}

// snapshot is the simulator's world as JSON: its state, the virtual clock and the
// notifications still to deliver. It can be taken while the simulator serves.
func (s *Simulator) snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshot{Version: snapshotVersion, SavedAt: time.Now().UTC(), ClockOffset: s.cfg.Clock.Offset(), State: s.st}
	held := append([]*job(nil), s.held...)
	s.sched.mu.Lock()
	queued := append([]*job(nil), s.sched.queue...)
	s.sched.mu.Unlock()
	for _, j := range append(queued, held...) {
		snap.Pending = append(snap.Pending, pendingAttempt{ID: j.n.id, URL: j.n.url, Event: j.n.event, Body: j.n.body,
			Due: j.due, Attempt: j.attempt, Copy: j.copy, Probe: j.probe})
	}
	return json.Marshal(snap)
}

// Restore replaces the simulator's world with a snapshot: call it before the
// simulator serves. The virtual clock moves forward to the snapshot's offset (it never
// runs back), and pending notifications are queued again: those already due go out at
// once.
func (s *Simulator) Restore(b []byte) error {
	var snap snapshot
	snap.State = newState()
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("paysim: the saved state is not readable: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("paysim: the saved state has version %d, this simulator reads %d", snap.Version, snapshotVersion)
	}
	if snap.ClockOffset < 0 || snap.ClockOffset > maxClockOffset {
		return fmt.Errorf("paysim: the saved clock offset %s is out of range", snap.ClockOffset)
	}
	var jobs []*job
	bodies := map[string]*notification{}
	for _, p := range snap.Pending {
		n := bodies[p.ID]
		if n == nil {
			n = &notification{id: p.ID, url: p.URL, event: p.Event, body: p.Body}
			bodies[p.ID] = n
		}
		jobs = append(jobs, &job{n: n, due: p.Due, attempt: max(p.Attempt, 1), copy: p.Copy, probe: p.Probe})
	}
	s.mu.Lock()
	s.st = snap.State
	s.held = nil
	if d := snap.ClockOffset - s.cfg.Clock.Offset(); d > 0 {
		s.cfg.Clock.Advance(d)
	}
	s.mu.Unlock()
	s.sched.add(jobs...)
	return nil
}

// StateFile keeps a Simulator's world in a file: OpenStateFile restores it, then the
// file is rewritten whenever the world changed (checked every interval) and once more
// by Close. Writes are atomic (a temporary file renamed over the old one), so a crash
// leaves the previous snapshot, at most one interval old.
type StateFile struct {
	s     *Simulator
	path  string
	every time.Duration

	mu   sync.Mutex // serialises saves
	last [sha256.Size]byte

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// OpenStateFile restores s from path when the file exists (restored reports it) and
// starts saving s there every interval it changed (1 s when zero). Call Close after
// the simulator stopped, for the final save.
func (s *Simulator) OpenStateFile(path string, interval time.Duration) (f *StateFile, restored bool, err error) {
	if interval <= 0 {
		interval = time.Second
	}
	f = &StateFile{s: s, path: path, every: interval, stop: make(chan struct{}), done: make(chan struct{})}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := s.Restore(b); err != nil {
			return nil, false, fmt.Errorf("%w (%s; start afresh with wxpay serve --reset)", err, path)
		}
		restored = true
		f.last = sha256.Sum256(b)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, false, fmt.Errorf("paysim: read saved state: %w", err)
	}
	go f.run()
	return f, restored, nil
}

func (f *StateFile) run() {
	defer close(f.done)
	wait := f.every
	for {
		select {
		case <-f.stop:
			return
		case <-time.After(wait):
		}
		start := time.Now()
		if err := f.Save(); err != nil {
			f.s.log.Error("paysim: saving the simulator's state failed", "path", f.path, "err", err.Error())
		}
		// A large world (the soak's thousands of orders) is not re-marshalled more
		// than about 5 % of the time.
		wait = max(f.every, 20*time.Since(start))
	}
}

// Save writes the snapshot now when it differs from the last one written.
func (f *StateFile) Save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.s.snapshot()
	if err != nil {
		return err
	}
	// The snapshot's saved_at changes every time: compare without it.
	sum := sha256.Sum256(withoutSavedAt(b))
	if sum == f.last {
		return nil
	}
	if err := writeAtomic(f.path, b); err != nil {
		return fmt.Errorf("paysim: save state: %w", err)
	}
	f.last = sum
	return nil
}

// Close stops the periodic saves and saves once more.
func (f *StateFile) Close() error {
	f.once.Do(func() { close(f.stop); <-f.done })
	return f.Save()
}

// withoutSavedAt drops the "saved_at" member, which Snapshot writes second.
func withoutSavedAt(b []byte) []byte {
	const key = `"saved_at":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return b
	}
	j := bytes.IndexByte(b[i+len(key):], '"')
	if j < 0 {
		return b
	}
	return append(append([]byte(nil), b[:i]...), b[i+len(key)+j+1:]...)
}

// writeAtomic replaces path with data: a fresh temporary file (0600) beside it,
// synced, then renamed over path.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
