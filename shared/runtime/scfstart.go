//go:build !wxpay_noscf

package runtime

import "github.com/tencentyun/scf-go-lib/cloudfunction"

// startSCF serves SCF event-function invocations through scf-go-lib; it does not
// return. scf-go-lib speaks net/rpc, which links html/template and keeps the linker
// from dropping unused methods, so Lambda builds leave it out with the wxpay_noscf tag.
func startSCF(handler any) error {
	cloudfunction.Start(handler)
	return nil
}
