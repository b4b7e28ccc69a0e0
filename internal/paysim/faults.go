package paysim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// Faults are the misbehaviours the simulator can put on, each one a real-world
// failure merchants have to survive: lost, repeated, reordered and late notifications,
// a rotated platform certificate, a skewed clock, signature probes, and a WeChat Pay
// endpoint that fails or hangs.
type Faults struct {
	// DropNext drops the next N notifications entirely (no attempt, no retry).
	DropNext int `json:"drop_next,omitempty"`
	// DropAll drops every notification.
	DropAll bool `json:"drop_all,omitempty"`
	// Duplicate delivers every notification twice (two independent deliveries).
	Duplicate bool `json:"duplicate,omitempty"`
	// OutOfOrder holds a notification back and delivers it right after the next one.
	OutOfOrder bool `json:"out_of_order,omitempty"`
	// Delay postpones the first attempt of every notification.
	Delay Duration `json:"delay,omitempty"`
	// SkewClock shifts the timestamps WeChat Pay signs (Wechatpay-Timestamp) by this
	// much; beyond 5 minutes a correct receiver rejects them.
	SkewClock Duration `json:"skew_clock,omitempty"`
	// SignTestProbe precedes every notification with a probe whose
	// Wechatpay-Signature starts with WECHATPAY/SIGNTEST/: the receiver must reject it.
	SignTestProbe bool `json:"signtest_probe,omitempty"`
	// RotateCertificate, when set in a POST /sim/faults body or in Config, rotates the
	// platform key once: a new key and certificate (and PUB_KEY_ID) sign from then on,
	// and /v3/certificates lists the old and the new certificate. It is an action, not a
	// switch: GET /sim/faults reports it as false and counts rotations instead.
	RotateCertificate bool `json:"rotate_certificate,omitempty"`
	// Endpoints make matching /v3 requests fail with a 5xx or 429, or hang.
	Endpoints []EndpointFault `json:"endpoints,omitempty"`
	// CombineFailSubOrder makes the next N combine payments fail their last sub-order
	// (PAYERROR) while the others are paid; the combine's one notification carries both.
	CombineFailSubOrder int `json:"combine_fail_sub_order,omitempty"`
	// FrequencyLimited is a FREQUENCY_LIMITED storm: a share of /v3 requests is
	// answered 429 {"code":"FREQUENCY_LIMITED","message":"频率超限"}, signed, as WeChat
	// Pay answers a merchant over its rate limit.
	FrequencyLimited *FrequencyLimit `json:"frequency_limited,omitempty"`
	// RefuseRefundOnce names orders (out_trade_no) whose next new refund request, on
	// either refund API, is refused once with 404 RESOURCE_NOT_EXISTS "订单不存在"
	// although the order is paid, and the name is then dropped: the transient refusal
	// merchants report right after a payment, which the same request, repeated,
	// gets past. The refund is not created; the order's query still answers its state.
	RefuseRefundOnce []string `json:"refuse_refund_once,omitempty"`
}

// FrequencyLimit configures the FREQUENCY_LIMITED storm.
//
// WeChat Pay's error tables list it as HTTP 429, code FREQUENCY_LIMITED, message
// 频率超限, fix 请降低请求接口频率 (e.g. the query-order and close-order references on
// pay.weixin.qq.com/doc/v3/merchant, mirrored in the official SDKs' javadoc). A
// rate-limited request is not carried out: the order is untouched.
type FrequencyLimit struct {
	// Rate is the share of matching requests refused, 0 < rate ≤ 1. It is applied
	// deterministically, not at random: 0.5 refuses every second request, 0.25 every
	// fourth, 1 all of them, so a test sees the same storm on every run.
	Rate float64 `json:"rate"`
	// Pattern limits the storm to matching requests, as in EndpointFault ("GET
	// /v3/pay/transactions/*"); every /v3 request when empty.
	Pattern string `json:"pattern,omitempty"`
	// Times ends the storm after refusing this many requests; 0 means never.
	Times int `json:"times,omitempty"`

	acc float64 // error-diffusion accumulator behind the deterministic rate
}

// EndpointFault makes WeChat Pay fail on some requests.
type EndpointFault struct {
	// Pattern is "[METHOD ]PATH": PATH is matched with path.Match (so * matches one
	// segment), and a trailing * also matches any longer path, e.g.
	// "POST /v3/pay/transactions/*" or "/v3/refund/*".
	Pattern string `json:"pattern"`
	// Status is the 5xx to answer (500 when zero), or 429 for FREQUENCY_LIMITED.
	// Ignored with Hang.
	Status int `json:"status,omitempty"`
	// Hang holds the request open until the client gives up (its deadline) or the
	// simulator closes, as an unresponsive WeChat Pay would.
	Hang bool `json:"hang,omitempty"`
	// Times limits the fault to the next N matching requests; 0 means all of them.
	Times int `json:"times,omitempty"`
}

// Duration is a time.Duration written as "1m30s" in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts "1m30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\" or a number of seconds")
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

func (f *Faults) validate() error {
	if f.DropNext < 0 {
		return fmt.Errorf("paysim: drop_next must not be negative")
	}
	if f.CombineFailSubOrder < 0 {
		return fmt.Errorf("paysim: combine_fail_sub_order must not be negative")
	}
	if f.Delay < 0 {
		return fmt.Errorf("paysim: delay must not be negative")
	}
	for i := range f.Endpoints {
		e := &f.Endpoints[i]
		_, p := splitPattern(e.Pattern)
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("paysim: endpoint fault pattern %q: want \"[METHOD ]/v3/…\"", e.Pattern)
		}
		if _, err := path.Match(p, "/"); err != nil {
			return fmt.Errorf("paysim: endpoint fault pattern %q: %w", e.Pattern, err)
		}
		if e.Status == 0 {
			e.Status = http.StatusInternalServerError
		}
		if !e.Hang && e.Status != http.StatusTooManyRequests && (e.Status < 500 || e.Status > 599) {
			return fmt.Errorf("paysim: endpoint fault %q: status %d is neither a 5xx nor 429", e.Pattern, e.Status)
		}
		if e.Times < 0 {
			return fmt.Errorf("paysim: endpoint fault %q: times must not be negative", e.Pattern)
		}
	}
	if fl := f.FrequencyLimited; fl != nil {
		if !(fl.Rate > 0 && fl.Rate <= 1) {
			return fmt.Errorf("paysim: frequency_limited.rate %v: want a share of requests, 0 < rate ≤ 1 (e.g. 0.5); remove frequency_limited to end the storm", fl.Rate)
		}
		if fl.Times < 0 {
			return fmt.Errorf("paysim: frequency_limited.times must not be negative")
		}
		if fl.Pattern != "" {
			_, p := splitPattern(fl.Pattern)
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("paysim: frequency_limited.pattern %q: want \"[METHOD ]/v3/…\"", fl.Pattern)
			}
			if _, err := path.Match(p, "/"); err != nil {
				return fmt.Errorf("paysim: frequency_limited.pattern %q: %w", fl.Pattern, err)
			}
		}
		fl.acc = 0
	}
	return nil
}

// frequencyLimited tells whether the storm refuses r, counting it. Called for every
// /v3 request without an endpoint fault.
func (s *Simulator) frequencyLimited(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fl := s.faults.FrequencyLimited
	if fl == nil {
		return false
	}
	if fl.Pattern != "" && !(&EndpointFault{Pattern: fl.Pattern}).matches(r) {
		return false
	}
	fl.acc += fl.Rate
	if fl.acc < 1-1e-9 {
		return false
	}
	fl.acc--
	if fl.Times > 0 {
		fl.Times--
		if fl.Times == 0 {
			s.faults.FrequencyLimited = nil
		}
	}
	return true
}

// refuseRefundOnce is the one-shot transient refusal of a refund of o
// (Faults.RefuseRefundOnce), or nil; it consumes o's entry. Called under s.mu.
func (s *Simulator) refuseRefundOnce(o *order) *reply {
	i := slices.Index(s.faults.RefuseRefundOnce, o.Request.OutTradeNo)
	if i < 0 {
		return nil
	}
	s.faults.RefuseRefundOnce = slices.Delete(s.faults.RefuseRefundOnce, i, i+1)
	s.log.Info("paysim: refund refused once (fault refuse_refund_once)", "out_trade_no", o.Request.OutTradeNo, "trade_state", o.TradeState)
	return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: no paid order with out_trade_no "+o.Request.OutTradeNo)
}

func splitPattern(p string) (method, pathPattern string) {
	p = strings.TrimSpace(p)
	if m, rest, ok := strings.Cut(p, " "); ok && !strings.HasPrefix(m, "/") {
		return strings.ToUpper(m), strings.TrimSpace(rest)
	}
	return "", p
}

func (e *EndpointFault) matches(r *http.Request) bool {
	method, p := splitPattern(e.Pattern)
	if method != "" && method != r.Method {
		return false
	}
	if ok, _ := path.Match(p, r.URL.Path); ok {
		return true
	}
	return strings.HasSuffix(p, "*") && strings.HasPrefix(r.URL.Path, strings.TrimSuffix(p, "*"))
}

// endpointFault finds the endpoint fault for r, consuming one of its Times.
func (s *Simulator) endpointFault(r *http.Request) (EndpointFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	eps := s.faults.Endpoints
	for i := range eps {
		if !eps[i].matches(r) {
			continue
		}
		f := eps[i]
		if eps[i].Times > 0 {
			eps[i].Times--
			if eps[i].Times == 0 {
				s.faults.Endpoints = append(eps[:i:i], eps[i+1:]...)
			}
		}
		return f, true
	}
	return EndpointFault{}, false
}

// SetFaults replaces the active faults (the zero Faults clears them all) and performs
// a rotation when RotateCertificate is set. Lifting OutOfOrder releases a held
// notification.
func (s *Simulator) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.RotateCertificate {
		if err := s.rotatePlatformKey(); err != nil {
			return err
		}
		f.RotateCertificate = false
	}
	if f.FrequencyLimited != nil {
		fl := *f.FrequencyLimited // the simulator's own copy: it counts on it
		f.FrequencyLimited = &fl
	}
	f.RefuseRefundOnce = slices.Clone(f.RefuseRefundOnce) // consumed as it fires
	s.mu.Lock()
	s.faults = f
	var release []*job
	if !f.OutOfOrder && s.held != nil {
		release, s.held = s.held, nil
	}
	s.mu.Unlock()
	if release != nil {
		now := time.Now()
		for _, j := range release {
			j.due = now
		}
		s.sched.add(release...)
	}
	return nil
}

// currentFaults returns the active faults.
func (s *Simulator) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.Endpoints = append([]EndpointFault(nil), f.Endpoints...)
	f.RefuseRefundOnce = slices.Clone(f.RefuseRefundOnce)
	if f.FrequencyLimited != nil {
		fl := *f.FrequencyLimited
		f.FrequencyLimited = &fl
	}
	return f
}

// faultsView is GET /sim/faults: the switches plus what they have done.
type faultsView struct {
	Faults
	Rotations int  `json:"rotations"`
	Held      bool `json:"holding_notification"`
}

func (s *Simulator) simGetFaults(w http.ResponseWriter, _ *http.Request) {
	f := s.currentFaults()
	s.mu.Lock()
	v := faultsView{Faults: f, Rotations: len(s.keys) - 1, Held: s.held != nil}
	s.mu.Unlock()
	simJSON(w, http.StatusOK, v)
}

// simSetFaults handles POST /sim/faults: the body replaces every fault ({} clears).
func (s *Simulator) simSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := readSimBody(r, &f); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	if err := s.SetFaults(f); err != nil {
		simError(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.log.Info("paysim: faults set", "faults", f)
	s.simGetFaults(w, r)
}
