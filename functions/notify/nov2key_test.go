package notify

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/wxv2"
)

// errNoV2Key is a type rather than a package-level fmt.Errorf (a cold start's first
// run of fmt); it says and wraps exactly what the fmt.Errorf did.
func TestNoV2KeyErrorAsFmtErrorf(t *testing.T) {
	want := fmt.Errorf("%w: this is an APIv2 XML notification (a refund made by hand in the merchant platform, or an APIv2 order), "+
		"and verifying it needs the APIv2 key: set %s (商户平台 → 账户中心 → API安全 → APIv2密钥; keys dir file apiv2_key) — "+
		"WeChat Pay retries for about 24 hours, so nothing is lost once it is set", wxv2.ErrNoKey, config.EnvAPIv2Key)
	if errNoV2Key.Error() != want.Error() || !errors.Is(errNoV2Key, wxv2.ErrNoKey) {
		t.Errorf("errNoV2Key %q (wraps wxv2.ErrNoKey: %t), want %q", errNoV2Key, errors.Is(errNoV2Key, wxv2.ErrNoKey), want)
	}
}
