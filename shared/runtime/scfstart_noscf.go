//go:build wxpay_noscf

package runtime

import "errors"

// startSCF in a binary built for AWS Lambda (-tags wxpay_noscf) says so.
func startSCF(any) error {
	return errors.New("runtime: this binary was built for AWS Lambda (-tags wxpay_noscf) and cannot serve SCF event functions; deploy the SCF build (make package)")
}
