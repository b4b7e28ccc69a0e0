// Package wechatpay is the WeChat Pay APIv3 core of the bundle: merchant request
// signing, verification of responses and notifications (platform certificates and the
// platform public key), AEAD_AES_256_GCM and RSA-OAEP, pay-sign bundles for JSAPI and
// APP, key loading, and a typed client for the API calls the functions make.
//
// It uses only the standard library's cryptography. Secrets (the merchant private key,
// the APIv3 key) are never formatted into errors or logs: the types that hold them
// redact themselves.
package wechatpay
