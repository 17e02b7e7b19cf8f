package otslocal

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Request authentication and response signing, with the Tablestore signature: a
// base64 HMAC-SHA1 keyed with the AccessKey secret (Go SDK tablestore/ots_header.go;
// Node.js SDK lib/signer.js; Python SDK tablestore/protocol.py).

// defaultAccessKeySecret signs responses when any access key is accepted: no key has a
// secret of its own then.
const defaultAccessKeySecret = "otslocal"

// maxDateSkew is how far a request's x-ots-date may be from the server's clock. The
// Python SDK applies the same 15 minutes to response dates (tablestore/protocol.py,
// _check_headers).
const maxDateSkew = 15 * time.Minute

// requestDateLayout is the part of x-ots-date the server reads: the seconds. The SDKs
// disagree on the fraction: the Node.js SDK sends milliseconds, the Python SDK ".000",
// and the Go SDK formats it with the layout ".123", which Go reads as month, day and
// hour rather than a fraction (tablestore/util.go, xOtsDateFormat).
const requestDateLayout = "2006-01-02T15:04:05"

// signedHeaderPrefix marks the request and response headers a signature covers.
const signedHeaderPrefix = "x-ots-"

// requiredRequestHeaders are the headers every SDK sends and strict mode requires: the
// ones the Go SDK refuses to send a request without (tablestore/ots_header.go).
var requiredRequestHeaders = []string{
	"x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-contentmd5", "x-ots-instancename", "x-ots-signature",
}

// Authentication errors, verbatim from the service (Tablestore error codes,
// "Permission verification errors" and "HTTP message errors").
var (
	errAccessKeyIDNotExist = authFailed("The AccessKeyID does not exist.")
	errSignatureMismatch   = authFailed("Signature mismatch.")
	errContentMD5Mismatch  = authFailed("Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
)

// authenticator verifies requests and signs responses. The zero value accepts every
// request and signs with defaultAccessKeySecret.
type authenticator struct {
	accessKeyID     string // empty: any access key is accepted
	accessKeySecret string
}

// newAuthenticator is strict when the options set both the access key id and secret.
func newAuthenticator(opts Options) authenticator {
	if opts.AccessKeyID == "" || opts.AccessKeySecret == "" {
		return authenticator{}
	}
	return authenticator{accessKeyID: opts.AccessKeyID, accessKeySecret: opts.AccessKeySecret}
}

// verify authenticates a request to the action with this body at the server time now.
// In strict mode it checks, in this order, with the service's errors:
//   - every required header is present: 400 OTSParameterInvalid "Missing header: {name}.";
//   - x-ots-accesskeyid is the configured key: 403 OTSAuthFailed "The AccessKeyID does not exist.";
//   - x-ots-date parses: 400 OTSParameterInvalid "Invalid date format: {date}.";
//   - x-ots-date is within 15 minutes of now: 403 OTSAuthFailed "Mismatch between system time and x-ots-date: {date}.";
//   - x-ots-contentmd5 is the base64 MD5 of the body: 403 OTSAuthFailed "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.";
//   - x-ots-signature is the signature of the request: 403 OTSAuthFailed "Signature mismatch.".
func (a authenticator) verify(r *http.Request, action string, body []byte, now time.Time) error {
	if a.accessKeyID == "" {
		return nil
	}
	for _, name := range requiredRequestHeaders {
		if r.Header.Get(name) == "" {
			return parameterInvalid("Missing header: %s.", name)
		}
	}
	if r.Header.Get("x-ots-accesskeyid") != a.accessKeyID {
		return errAccessKeyIDNotExist
	}
	if err := checkRequestDate(r.Header.Get("x-ots-date"), now); err != nil {
		return err
	}
	sum := md5.Sum(body)
	if r.Header.Get("x-ots-contentmd5") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errContentMD5Mismatch
	}
	signature := []byte(r.Header.Get("x-ots-signature"))
	for _, stringToSign := range requestStringsToSign(action, r.Header) {
		if hmac.Equal(signature, []byte(sign(a.accessKeySecret, stringToSign))) {
			return nil
		}
	}
	return errSignatureMismatch
}

// checkRequestDate reads the seconds of x-ots-date as UTC and checks them against now.
func checkRequestDate(date string, now time.Time) error {
	if len(date) < len(requestDateLayout) {
		return parameterInvalid("Invalid date format: %s.", date)
	}
	sent, err := time.Parse(requestDateLayout, date[:len(requestDateLayout)])
	if err != nil {
		return parameterInvalid("Invalid date format: %s.", date)
	}
	if skew := now.Sub(sent); skew > maxDateSkew || skew < -maxDateSkew {
		return authFailed("Mismatch between system time and x-ots-date: %s.", date)
	}
	return nil
}

// requestStringsToSign are the strings a request's signature may cover, one per SDK
// layout: "/<Action>\nPOST\n\n" followed by one "name:value\n" line per x-ots-* header
// other than x-ots-signature, names lowercased and in ascending order.
//   - The Go SDK leaves out headers with an empty value and trims the others
//     (tablestore/ots_header.go, signature); the Python SDK does the same
//     (tablestore/protocol.py, _make_headers_string).
//   - The Node.js SDK keeps every header as it is (lib/signer.js, canonicalizedHeaders).
//
// The two differ only when a header is empty or padded with spaces; then both are
// returned.
func requestStringsToSign(action string, header http.Header) []string {
	names := make([]string, 0, len(header))
	for name := range header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, signedHeaderPrefix) && lower != "x-ots-signature" {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	var goLayout, nodeLayout strings.Builder
	for _, b := range []*strings.Builder{&goLayout, &nodeLayout} {
		b.WriteString("/" + action + "\nPOST\n\n")
	}
	for _, name := range names {
		value, lower := header.Get(name), strings.ToLower(name)
		if value != "" {
			goLayout.WriteString(lower + ":" + strings.TrimSpace(value) + "\n")
		}
		nodeLayout.WriteString(lower + ":" + value + "\n")
	}
	if goLayout.String() == nodeLayout.String() {
		return []string{goLayout.String()}
	}
	return []string{goLayout.String(), nodeLayout.String()}
}

// responseSecret is the secret responses are signed with: the configured one in strict
// mode, defaultAccessKeySecret otherwise.
func (a authenticator) responseSecret() string {
	if a.accessKeyID == "" {
		return defaultAccessKeySecret
	}
	return a.accessKeySecret
}

// signResponse sets the authorization header of a response whose x-ots-* headers are
// all set: "OTS <accessKeyID>:<signature>", the signature covering "name:value" of each
// x-ots-* header in ascending name order, one per line, then "\n/<Action>" (Python SDK
// tablestore/protocol.py _make_response_signature; Java SDK
// OTSValidationResponseHandler). The Java and Python SDKs check it; the Go and Node.js
// SDKs do not.
func signResponse(header http.Header, action, accessKeyID, secret string) {
	var lines []string
	for name := range header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, signedHeaderPrefix) {
			lines = append(lines, lower+":"+strings.TrimSpace(header.Get(name)))
		}
	}
	slices.Sort(lines)
	stringToSign := strings.Join(lines, "\n") + "\n/" + action
	header.Set("authorization", "OTS "+accessKeyID+":"+sign(secret, stringToSign))
}

// sign is the base64 HMAC-SHA1 of stringToSign keyed with secret.
func sign(secret, stringToSign string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
