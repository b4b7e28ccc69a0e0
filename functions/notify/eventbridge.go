//go:build !wxpay_noeventbridge

package notify

// The EventBridge sink (WXPAY_EVENT_BUS) is part of every build but SCF's, which
// leaves it and the AWS SDK's EventBridge client out with the wxpay_noeventbridge tag.
import _ "github.com/paysls/wxpay/shared/events/eventbridge"
