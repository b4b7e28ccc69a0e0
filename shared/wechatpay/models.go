package wechatpay

// The JSON shapes of the APIv3 calls the bundle makes, shared by the client and the
// simulator so that both sides speak exactly the same field names. Direct-merchant and
// partner (服务商/电商收付通) mode share one struct each: partner-only fields are
// sp_*/sub_*, direct-only ones appid/mchid; omitempty leaves out whichever is unused.

// Amount of an order, in fen (分).
type Amount struct {
	Total         int64  `json:"total"`
	Currency      string `json:"currency,omitempty"`
	PayerTotal    int64  `json:"payer_total,omitempty"`
	PayerCurrency string `json:"payer_currency,omitempty"`
}

// Payer identifies the paying user (JSAPI / mini-program).
type Payer struct {
	OpenID    string `json:"openid,omitempty"`
	SpOpenID  string `json:"sp_openid,omitempty"`
	SubOpenID string `json:"sub_openid,omitempty"`
}

// H5Info is scene_info.h5_info of an H5 order.
type H5Info struct {
	Type        string `json:"type"` // Wap, iOS, Android
	AppName     string `json:"app_name,omitempty"`
	AppURL      string `json:"app_url,omitempty"`
	BundleID    string `json:"bundle_id,omitempty"`
	PackageName string `json:"package_name,omitempty"`
}

// SceneInfo carries the client IP (required for H5) and device data.
type SceneInfo struct {
	PayerClientIP string  `json:"payer_client_ip,omitempty"`
	DeviceID      string  `json:"device_id,omitempty"`
	H5Info        *H5Info `json:"h5_info,omitempty"`
}

// SettleInfo asks for profit sharing.
type SettleInfo struct {
	ProfitSharing bool `json:"profit_sharing"`
}

// PrepayRequest is the body of /v3/pay/transactions/{jsapi,app,h5,native} (direct) and
// /v3/pay/partner/transactions/{…} (partner).
type PrepayRequest struct {
	AppID       string      `json:"appid,omitempty"`
	MchID       string      `json:"mchid,omitempty"`
	SpAppID     string      `json:"sp_appid,omitempty"`
	SpMchID     string      `json:"sp_mchid,omitempty"`
	SubAppID    string      `json:"sub_appid,omitempty"`
	SubMchID    string      `json:"sub_mchid,omitempty"`
	Description string      `json:"description"`
	OutTradeNo  string      `json:"out_trade_no"`
	TimeExpire  string      `json:"time_expire,omitempty"` // RFC 3339, e.g. 2018-06-08T10:34:56+08:00
	Attach      string      `json:"attach,omitempty"`
	NotifyURL   string      `json:"notify_url"`
	GoodsTag    string      `json:"goods_tag,omitempty"`
	Amount      Amount      `json:"amount"`
	Payer       *Payer      `json:"payer,omitempty"`
	SceneInfo   *SceneInfo  `json:"scene_info,omitempty"`
	SettleInfo  *SettleInfo `json:"settle_info,omitempty"`
}

// PrepayResponse holds whichever of prepay_id (JSAPI, APP), h5_url (H5) and code_url
// (Native) the scene returns.
type PrepayResponse struct {
	PrepayID string `json:"prepay_id,omitempty"`
	H5URL    string `json:"h5_url,omitempty"`
	CodeURL  string `json:"code_url,omitempty"`
}

// Trade states (trade_state) of a transaction.
const (
	TradeStateSuccess    = "SUCCESS"
	TradeStateRefund     = "REFUND"
	TradeStateNotPay     = "NOTPAY"
	TradeStateClosed     = "CLOSED"
	TradeStateRevoked    = "REVOKED"
	TradeStateUserPaying = "USERPAYING"
	TradeStatePayError   = "PAYERROR"
)

// Trade types (trade_type) of a transaction.
const (
	TradeTypeJSAPI  = "JSAPI"
	TradeTypeNative = "NATIVE"
	TradeTypeApp    = "APP"
	TradeTypeMWeb   = "MWEB" // H5
)

// Transaction is a query result and the decrypted resource of a TRANSACTION.SUCCESS
// notification.
type Transaction struct {
	AppID           string            `json:"appid,omitempty"`
	MchID           string            `json:"mchid,omitempty"`
	SpAppID         string            `json:"sp_appid,omitempty"`
	SpMchID         string            `json:"sp_mchid,omitempty"`
	SubAppID        string            `json:"sub_appid,omitempty"`
	SubMchID        string            `json:"sub_mchid,omitempty"`
	OutTradeNo      string            `json:"out_trade_no"`
	TransactionID   string            `json:"transaction_id,omitempty"`
	TradeType       string            `json:"trade_type,omitempty"`
	TradeState      string            `json:"trade_state"`
	TradeStateDesc  string            `json:"trade_state_desc,omitempty"`
	BankType        string            `json:"bank_type,omitempty"`
	Attach          string            `json:"attach,omitempty"`
	SuccessTime     string            `json:"success_time,omitempty"`
	Payer           *Payer            `json:"payer,omitempty"`
	Amount          *Amount           `json:"amount,omitempty"`
	SceneInfo       *SceneInfo        `json:"scene_info,omitempty"`
	PromotionDetail []PromotionDetail `json:"promotion_detail,omitempty"`
}

// PromotionDetail is one coupon applied to a transaction.
type PromotionDetail struct {
	CouponID string `json:"coupon_id"`
	Name     string `json:"name,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Type     string `json:"type,omitempty"`
	Amount   int64  `json:"amount"`
}

// CloseRequest is the body of …/out-trade-no/{out_trade_no}/close.
type CloseRequest struct {
	MchID    string `json:"mchid,omitempty"`
	SpMchID  string `json:"sp_mchid,omitempty"`
	SubMchID string `json:"sub_mchid,omitempty"`
}

// RefundAmount is the amount block of a refund request and response, in fen.
type RefundAmount struct {
	Refund           int64  `json:"refund"`
	Total            int64  `json:"total"`
	Currency         string `json:"currency,omitempty"`
	PayerTotal       int64  `json:"payer_total,omitempty"`
	PayerRefund      int64  `json:"payer_refund,omitempty"`
	SettlementRefund int64  `json:"settlement_refund,omitempty"`
	SettlementTotal  int64  `json:"settlement_total,omitempty"`
	DiscountRefund   int64  `json:"discount_refund,omitempty"`
}

// RefundRequest is the body of POST /v3/refund/domestic/refunds. One of TransactionID
// and OutTradeNo identifies the order.
type RefundRequest struct {
	SubMchID      string       `json:"sub_mchid,omitempty"`
	TransactionID string       `json:"transaction_id,omitempty"`
	OutTradeNo    string       `json:"out_trade_no,omitempty"`
	OutRefundNo   string       `json:"out_refund_no"`
	Reason        string       `json:"reason,omitempty"`
	NotifyURL     string       `json:"notify_url,omitempty"`
	FundsAccount  string       `json:"funds_account,omitempty"`
	Amount        RefundAmount `json:"amount"`
}

// Refund statuses.
const (
	RefundStatusSuccess    = "SUCCESS"
	RefundStatusClosed     = "CLOSED"
	RefundStatusProcessing = "PROCESSING"
	RefundStatusAbnormal   = "ABNORMAL"
)

// Refund is the response of refund create and query.
type Refund struct {
	RefundID            string       `json:"refund_id"`
	OutRefundNo         string       `json:"out_refund_no"`
	TransactionID       string       `json:"transaction_id"`
	OutTradeNo          string       `json:"out_trade_no"`
	Channel             string       `json:"channel,omitempty"`
	UserReceivedAccount string       `json:"user_received_account,omitempty"`
	SuccessTime         string       `json:"success_time,omitempty"`
	CreateTime          string       `json:"create_time,omitempty"`
	Status              string       `json:"status"`
	FundsAccount        string       `json:"funds_account,omitempty"`
	Amount              RefundAmount `json:"amount"`
}

// RefundNotice is the decrypted resource of REFUND.SUCCESS / REFUND.ABNORMAL /
// REFUND.CLOSED notifications.
type RefundNotice struct {
	MchID               string       `json:"mchid,omitempty"`
	SpMchID             string       `json:"sp_mchid,omitempty"`
	SubMchID            string       `json:"sub_mchid,omitempty"`
	OutTradeNo          string       `json:"out_trade_no"`
	TransactionID       string       `json:"transaction_id"`
	OutRefundNo         string       `json:"out_refund_no"`
	RefundID            string       `json:"refund_id"`
	RefundStatus        string       `json:"refund_status"`
	SuccessTime         string       `json:"success_time,omitempty"`
	UserReceivedAccount string       `json:"user_received_account,omitempty"`
	Amount              RefundAmount `json:"amount"`
}

// Notification event types.
const (
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	EventRefundSuccess      = "REFUND.SUCCESS"
	EventRefundAbnormal     = "REFUND.ABNORMAL"
	EventRefundClosed       = "REFUND.CLOSED"
)

// Notification is the envelope WeChat Pay POSTs to notify_url.
type Notification struct {
	ID           string            `json:"id"`
	CreateTime   string            `json:"create_time"`
	ResourceType string            `json:"resource_type"` // encrypt-resource
	EventType    string            `json:"event_type"`
	Summary      string            `json:"summary"`
	Resource     EncryptedResource `json:"resource"`
}

// EncryptedResource is an AEAD_AES_256_GCM-encrypted object: a notification's
// resource, or a platform certificate in /v3/certificates.
type EncryptedResource struct {
	OriginalType   string `json:"original_type,omitempty"` // transaction, refund
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// NotifyAck is the body of a notification answer. WeChat Pay reads only the status
// (2xx = received); on failure the body says why, for its logs and ours.
type NotifyAck struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PlatformCertificates is the response of GET /v3/certificates.
type PlatformCertificates struct {
	Data []PlatformCertificate `json:"data"`
}

// PlatformCertificate is one entry of /v3/certificates; its certificate PEM is
// encrypted with the APIv3 key.
type PlatformCertificate struct {
	SerialNo           string            `json:"serial_no"`
	EffectiveTime      string            `json:"effective_time"`
	ExpireTime         string            `json:"expire_time"`
	EncryptCertificate EncryptedResource `json:"encrypt_certificate"`
}

// BillResponse is the answer of /v3/bill/tradebill and /v3/bill/fundflowbill.
type BillResponse struct {
	HashType    string `json:"hash_type"` // SHA1
	HashValue   string `json:"hash_value"`
	DownloadURL string `json:"download_url"`
}

// ErrorBody is the JSON body of every APIv3 error response.
type ErrorBody struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Detail  *ErrorDetail `json:"detail,omitempty"`
}

// ErrorDetail names the offending field of a PARAM_ERROR.
type ErrorDetail struct {
	Field    string `json:"field,omitempty"`
	Value    any    `json:"value,omitempty"`
	Issue    string `json:"issue,omitempty"`
	Location string `json:"location,omitempty"`
	// Inner is the nested detail some errors carry, e.g. SIGN_ERROR's
	// {"detail":{"issue":"sign not match"},"field":"signature","location":"authorization"}.
	Inner *ErrorDetail `json:"detail,omitempty"`
}
