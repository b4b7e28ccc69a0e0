// Package paysim is a local WeChat Pay APIv3 simulator. WeChat Pay has no APIv3
// sandbox, so merchants usually debug their notify endpoints with unsigned requests
// from postman; the simulator instead behaves like the real service where it matters,
// with real cryptography: it verifies the merchant's Authorization header, signs every
// response with a platform key, validates orders with WeChat Pay's own error codes, and
// delivers AES-GCM encrypted, signed notifications on WeChat Pay's retry schedule.
//
// A Simulator is an http.Handler serving two trees:
//
//	/v3/...   the WeChat Pay API (signed requests only, signed responses)
//	/sim/...  the driver API (unauthenticated JSON): pay an order, settle a refund,
//	          list notification attempts, switch faults on and off, move the clock;
//	          /sim/h5/… is the page an H5 payment's h5_url opens
//	/connect/oauth2/authorize, /sns/oauth2/access_token
//	          WeChat's web OAuth (snsapi_base) that gives JSAPI its openid
//
// Every route is documented, with curl examples, in README.md beside this file.
//
// The /sim API has no authentication on purpose: it is a test tool, and whoever can
// reach it can only pay fake orders with fake money. Serve it on loopback (the default
// of `wxpay sim`) or behind whatever protects the rest of a test environment.
//
// Two clocks: the simulated calendar (order age, time_expire, the 5-minute close rule,
// bill dates, download-link lifetime, OAuth code and h5_url lifetimes) is Config.Now
// (the wall clock when nil) moved forward by a clock.Virtual that POST /sim/clock
// advances; `wxpay serve` hands the same Virtual to the functions (Simulator.Clock), so
// the whole bundle lives on one calendar. Signature timestamps (Wechatpay-Timestamp,
// the Authorization freshness check) always use the real clock, shifted only by the
// skew fault, because real clients such as the official SDK check them against their
// own real clock. Notification retries also run on real time (see RetryScale).
package paysim

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Signing modes: which serial responses and notifications carry in Wechatpay-Serial.
const (
	ModeCert   = "cert"   // platform certificate serial (平台证书)
	ModePubKey = "pubkey" // PUB_KEY_ID_… (微信支付公钥)
)

// Config configures a Simulator. Only Identity is required.
type Config struct {
	// Identity is the merchant and platform key material, usually from a keys dir
	// (keysdir.LoadOrCreate). It must include the platform private key.
	Identity *keysdir.Identity
	// Mode is ModeCert (default) or ModePubKey.
	Mode string
	// Now is the base of the simulated calendar; time.Now when nil. The calendar is
	// Now() plus the offset of Clock.
	Now func() time.Time
	// Clock is the virtual clock POST /sim/clock advances; the simulator makes its own
	// when nil. Share it with the functions (Simulator.Clock) so they see the same time.
	Clock *clock.Virtual
	// PublicURL is the simulator's base URL as a browser reaches it (for h5_url). When
	// empty, h5_url is built from the Host of the prepay request.
	PublicURL string
	// OAuthApps are extra appid → AppSecret pairs the OAuth endpoints accept (e.g. a
	// sub_appid in partner mode); the identity's AppID with its AppSecret always works.
	OAuthApps map[string]string
	// RetryScale multiplies WeChat Pay's notification retry schedule; 1 when zero.
	// Tests use e.g. 0.001 to turn 15 s into 15 ms.
	RetryScale float64
	// HTTPClient delivers notifications; a client with a 5 s timeout when nil
	// (WeChat Pay gives a notify endpoint about 5 s to answer).
	HTTPClient *http.Client
	// Logger receives JSON-friendly structured logs; discarded when nil.
	Logger *slog.Logger
	// Faults are switched on from the start; they can be changed with SetFaults and
	// POST /sim/faults.
	Faults Faults
	// IDs is the source of the ids the simulator hands out (transaction_id, refund_id,
	// prepay_id, …; see IDs); crypto/rand when nil. A seeded source replays the same ids.
	IDs io.Reader
	// ManualDelivery queues notifications instead of sending them on WeChat Pay's
	// retry schedule in real time: the caller lists them (Queued) and delivers, repeats
	// or drops each one when it chooses (DeliverQueued, DropQueued). Faults that act on
	// delivery (drop, duplicate, out of order, delay, probes) do not apply. It is the
	// deterministic simulation's hook (internal/dst); see queue.go.
	ManualDelivery bool
	// SubMchIDs are the sub-merchants (特约商户) the identity may act for on the partner
	// endpoints, where the identity's MchID is the sp_mchid. Empty accepts any
	// sub_mchid. Direct-merchant endpoints work either way.
	SubMchIDs []string
}

// Simulator is the simulated WeChat Pay service. Create it with New and stop its
// delivery scheduler with Close.
type Simulator struct {
	cfg    Config
	id     *keysdir.Identity
	log    *slog.Logger
	mux    *http.ServeMux
	client *http.Client
	ids    *ids

	mu     sync.Mutex // guards everything below and the state
	st     *state
	faults Faults
	keys   []*platformKey // oldest first; the last one signs
	// held is the notification the out-of-order fault holds back until the next one.
	held []*job

	sched  *scheduler
	closed chan struct{}
	once   sync.Once
}

// New builds a Simulator and starts its delivery scheduler.
func New(cfg Config) (*Simulator, error) {
	if cfg.Identity == nil {
		return nil, errors.New("paysim: Config.Identity is required")
	}
	id := cfg.Identity
	if id.PlatformKey == nil {
		return nil, errors.New("paysim: the identity has no platform private key (platform_private_key.pem): the simulator cannot sign as WeChat Pay; use a keys dir written by keysdir.Generate or `wxpay sim`")
	}
	if id.MerchantKey == nil && id.MerchantCert == nil {
		return nil, errors.New("paysim: the identity has neither merchant key nor certificate: requests could not be verified")
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeCert
	case ModeCert, ModePubKey:
	default:
		return nil, fmt.Errorf("paysim: mode %q: want %q or %q", cfg.Mode, ModeCert, ModePubKey)
	}
	if cfg.Mode == ModeCert && id.PlatformCert == nil {
		return nil, errors.New("paysim: certificate mode needs platform_cert.pem in the identity")
	}
	if cfg.Mode == ModePubKey && id.PlatformPublicKeyID == "" {
		return nil, errors.New("paysim: public-key mode needs platform_public_key_id in the identity")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == nil {
		cfg.Clock = &clock.Virtual{}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.RetryScale <= 0 {
		cfg.RetryScale = 1
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{
		cfg: cfg, id: id, log: cfg.Logger, client: cfg.HTTPClient, ids: NewIDs(cfg.IDs),
		st:     newState(),
		closed: make(chan struct{}),
	}
	k, err := initialPlatformKey(id)
	if err != nil {
		return nil, err
	}
	s.keys = []*platformKey{k}
	s.sched = newScheduler(s)
	if err := s.SetFaults(cfg.Faults); err != nil {
		return nil, err
	}
	s.routes()
	if cfg.ManualDelivery {
		close(s.sched.done) // no scheduler: the caller delivers (queue.go)
	} else {
		go s.sched.run()
	}
	return s, nil
}

// Close stops the delivery scheduler (pending retries are abandoned) and releases
// requests hanging under a timeout fault. It is safe to call more than once.
func (s *Simulator) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.sched.stop()
	})
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// now is the simulated calendar: the base clock moved forward by the virtual clock.
func (s *Simulator) now() time.Time { return s.cfg.Now().Add(s.cfg.Clock.Offset()) }

// Clock is the simulator's virtual clock. With Config.Now nil its Now is exactly the
// simulated calendar: pass it (Clock().Now) as the functions' clock.Func.
func (s *Simulator) Clock() *clock.Virtual { return s.cfg.Clock }

// wireNow is the clock of signature timestamps: real time plus the skew fault.
func (s *Simulator) wireNow() time.Time {
	s.mu.Lock()
	skew := time.Duration(s.faults.SkewClock)
	s.mu.Unlock()
	return time.Now().Add(skew)
}

func (s *Simulator) routes() {
	m := http.NewServeMux()
	for _, kind := range []string{"jsapi", "app", "h5", "native"} {
		m.Handle("POST /v3/pay/transactions/"+kind, s.api(s.prepay(kind, false)))
		m.Handle("POST /v3/pay/partner/transactions/"+kind, s.api(s.prepay(kind, true)))
	}
	m.Handle("GET /v3/pay/transactions/id/{transaction_id}", s.api(s.queryByID(false)))
	m.Handle("GET /v3/pay/transactions/out-trade-no/{out_trade_no}", s.api(s.queryByOutTradeNo(false)))
	m.Handle("POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close", s.api(s.closeOrder(false)))
	m.Handle("GET /v3/pay/partner/transactions/id/{transaction_id}", s.api(s.queryByID(true)))
	m.Handle("GET /v3/pay/partner/transactions/out-trade-no/{out_trade_no}", s.api(s.queryByOutTradeNo(true)))
	m.Handle("POST /v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close", s.api(s.closeOrder(true)))
	m.Handle("POST /v3/refund/domestic/refunds", s.api(s.createRefund))
	m.Handle("GET /v3/refund/domestic/refunds/{out_refund_no}", s.api(s.queryRefund))
	m.Handle("GET /v3/certificates", s.api(s.certificates))
	m.Handle("GET /v3/bill/tradebill", s.api(s.tradeBill))
	m.Handle("GET /v3/bill/fundflowbill", s.api(s.fundFlowBill))
	m.Handle("GET /v3/billdownload/file", s.api(s.downloadBill))
	s.routesSharing(m) // profit sharing, subsidies, encrypted fund bills: profitsharing.go
	// Anything else under /v3/ is still authenticated and answered like WeChat Pay.
	m.Handle("/v3/", s.api(func(*apiRequest) *reply {
		return errReply(http.StatusNotFound, "NOT_FOUND", "paysim does not simulate this API")
	}))

	m.HandleFunc("POST /sim/orders/{out_trade_no}/pay", s.simPay)
	m.HandleFunc("POST /sim/pay", s.simPayBy)
	m.HandleFunc("GET /sim/orders/{out_trade_no}", s.simOrder)
	m.HandleFunc("GET /sim/orders", s.simOrders)
	m.HandleFunc("POST /sim/refunds/{out_refund_no}/settle", s.simSettleRefund)
	m.HandleFunc("GET /sim/refunds/{out_refund_no}", s.simRefund)
	m.HandleFunc("POST /sim/v2/notify", s.simV2Notify) // APIv2 XML notifications: v2notify.go
	m.HandleFunc("GET /sim/deliveries", s.simDeliveries)
	m.HandleFunc("GET /sim/faults", s.simGetFaults)
	m.HandleFunc("POST /sim/faults", s.simSetFaults)
	m.HandleFunc("GET /sim/platform", s.simPlatform)
	m.HandleFunc("GET /sim/clock", s.simGetClock)
	m.HandleFunc("POST /sim/clock", s.simAdvanceClock)
	m.HandleFunc("GET /sim/h5/{prepay_id}", s.h5Page)
	m.HandleFunc("POST /sim/h5/{prepay_id}/{action}", s.h5Action)
	m.HandleFunc("GET /sim/oauth/openid", s.simOpenID)
	s.routesCombine(m) // combine orders, e-commerce refunds, 异常退款: combine.go

	// WeChat's web OAuth, at the paths WeChat serves it (open.weixin.qq.com and
	// api.weixin.qq.com): point WXPAY_OAUTH_AUTHORIZE_BASE and WXPAY_OAUTH_BASE here.
	m.HandleFunc("GET /connect/oauth2/authorize", s.oauthAuthorize)
	m.HandleFunc("GET /sns/oauth2/access_token", s.oauthAccessToken)
	s.mux = m
}

// apiRequest is an authenticated /v3 request with its raw body.
type apiRequest struct {
	*http.Request
	Body []byte
}

// reply is what an API handler answers; api() signs and writes it.
type reply struct {
	status   int
	body     []byte
	ctype    string
	unsigned bool // bill downloads: WeChat Pay does not sign the file
}

func jsonReply(status int, v any) *reply {
	b, err := json.Marshal(v)
	if err != nil {
		return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: "+err.Error())
	}
	return &reply{status: status, body: b, ctype: "application/json; charset=utf-8"}
}

func errReply(status int, code, message string) *reply {
	return jsonReply(status, wechatpay.ErrorBody{Code: code, Message: message})
}

// frequencyLimitedReply is WeChat Pay's answer to a merchant over its rate limit.
func frequencyLimitedReply(why string) *reply {
	return errReply(http.StatusTooManyRequests, wechatpay.CodeFrequencyLimited, "频率超限 ("+why+"): 请降低请求接口频率, retry with back-off")
}

// paramError is WeChat Pay's 400 PARAM_ERROR naming the offending body field.
func paramError(field string, value any, issue string) *reply {
	return jsonReply(http.StatusBadRequest, wechatpay.ErrorBody{
		Code: "PARAM_ERROR", Message: "参数错误: " + field + " " + issue,
		Detail: &wechatpay.ErrorDetail{Field: field, Value: value, Issue: issue, Location: "body"},
	})
}

func validationReply(err error, value any) *reply {
	var ve *wechatpay.ValidationError
	if errors.As(err, &ve) {
		return paramError(ve.Field, value, ve.Issue)
	}
	return errReply(http.StatusBadRequest, "PARAM_ERROR", err.Error())
}

// maxBody bounds request bodies; WeChat Pay's largest requests are a few KB.
const maxBody = 1 << 20

// api wraps a /v3 handler: endpoint faults, body reading, Authorization check, and
// signing of whatever the handler answers (errors included, as WeChat Pay does).
func (s *Simulator) api(h func(*apiRequest) *reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set(wechatpay.HeaderRequestID, reqID)
		if f, ok := s.endpointFault(r); ok {
			if f.Hang {
				s.log.Info("paysim: hanging request (timeout fault)", "method", r.Method, "path", r.URL.Path, "request_id", reqID)
				select {
				case <-r.Context().Done():
				case <-s.closed:
				}
				return
			}
			if f.Status == http.StatusTooManyRequests {
				s.write(w, r, reqID, frequencyLimitedReply("paysim fault on "+f.Pattern))
				return
			}
			s.write(w, r, reqID, errReply(f.Status, "SYSTEM_ERROR", "系统异常,请稍后重试 (paysim fault on "+f.Pattern+")"))
			return
		}
		if s.frequencyLimited(r) {
			s.write(w, r, reqID, frequencyLimitedReply("paysim frequency_limited storm"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			s.write(w, r, reqID, errReply(http.StatusBadRequest, "INVALID_REQUEST", "could not read the request body: "+err.Error()))
			return
		}
		if len(body) > maxBody {
			s.write(w, r, reqID, errReply(http.StatusRequestEntityTooLarge, "INVALID_REQUEST", "request body is larger than 1 MiB"))
			return
		}
		if rep := s.authenticate(r, body); rep != nil {
			s.write(w, r, reqID, rep)
			return
		}
		s.write(w, r, reqID, h(&apiRequest{Request: r, Body: body}))
	})
}

// write signs rep (unless it is a bill file) and sends it.
func (s *Simulator) write(w http.ResponseWriter, r *http.Request, reqID string, rep *reply) {
	if !rep.unsigned {
		hdr, err := s.signBody(rep.body)
		if err != nil {
			s.log.Error("paysim: signing a response failed", "err", err)
			http.Error(w, "paysim: signing failed", http.StatusInternalServerError)
			return
		}
		hdr.Apply(w.Header())
	}
	if len(rep.body) > 0 && rep.ctype != "" {
		w.Header().Set("Content-Type", rep.ctype)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
	s.log.Info("paysim: api", "method", r.Method, "path", r.URL.Path, "status", rep.status, "request_id", reqID)
}

// signBody signs a response or notification body with the current platform key
// under the mode's serial, at the (possibly skewed) wire time.
func (s *Simulator) signBody(body []byte) (wechatpay.SignatureHeaders, error) {
	key, serial := s.signingKey()
	p := &wechatpay.PlatformSigner{Serial: serial, Key: key, Now: s.wireNow}
	return p.Sign(body)
}

// signingKey is the newest platform key and the serial it is announced under.
func (s *Simulator) signingKey() (*rsa.PrivateKey, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[len(s.keys)-1]
	if s.cfg.Mode == ModePubKey {
		return k.key, k.pubKeyID
	}
	return k.key, k.serial
}

// simJSON writes a /sim answer (unsigned: the driver API is not WeChat Pay's).
func simJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func simError(w http.ResponseWriter, status int, format string, a ...any) {
	simJSON(w, status, map[string]string{"error": fmt.Sprintf(format, a...)})
}

// bodyError is a /sim request body that cannot be used, with the status to answer.
type bodyError struct {
	status int
	msg    string
}

func (e *bodyError) Error() string { return e.msg }

// simBodyStatus is the status to answer for a readSimBody error.
func simBodyStatus(err error) int {
	var be *bodyError
	if errors.As(err, &be) {
		return be.status
	}
	return http.StatusBadRequest
}

// readSimBody decodes an optional JSON body of a /sim call into v. An empty body
// leaves v alone; a body over 1 MiB is refused (413) rather than cut, and anything
// after the JSON value, or a field v does not have, is refused (400) with the valid
// field names, so a typo never silently becomes "{}".
func readSimBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return &bodyError{http.StatusBadRequest, "read body: " + err.Error()}
	}
	if len(b) > maxBody {
		return &bodyError{http.StatusRequestEntityTooLarge, "body is larger than 1 MiB: a /sim request is a small JSON object"}
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "body is not the expected JSON: " + err.Error()
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			msg = "unknown field " + name + unknownFieldHint(strings.Trim(name, `"`), v)
		}
		return &bodyError{http.StatusBadRequest, msg}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &bodyError{http.StatusBadRequest, "body has more after its JSON object: send exactly one JSON object"}
	}
	return nil
}
