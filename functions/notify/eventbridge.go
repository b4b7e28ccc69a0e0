//go:build !wxpay_noaws && !wxpay_noeventbridge

package notify

// The EventBridge sink (WXPAY_EVENT_BUS) is part of the AWS builds; Tencent SCF builds
// (-tags wxpay_noaws, or wxpay_noeventbridge) leave it and its AWS client out.
import _ "github.com/paysls/wxpay/shared/events/eventbridge"
