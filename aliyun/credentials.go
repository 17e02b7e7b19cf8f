// Package aliyun holds the Alibaba Cloud identity otsetl signs its requests with: an
// AccessKey pair and, for temporary credentials from the Security Token Service (STS), a
// security token.
//
// It stands apart so that the Function Compute runtime protocol (package fcruntime), which
// receives an invocation's credentials, and the Tablestore client (package tablestore), which
// signs with them, share the type without depending on each other.
package aliyun

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// redacted replaces a secret wherever Credentials are formatted, logged or marshalled.
const redacted = "<redacted>"

// Credentials are an AccessKey pair and, for STS credentials, their security token. Function
// Compute passes each invocation the STS credentials of the function's role, in the request
// headers x-fc-access-key-id, x-fc-access-key-secret and x-fc-security-token (custom runtime)
// or in fccontext.FcContext.Credentials (go1 runtime); they expire, so the function uses them
// for that invocation only. The command-line tools take a long-term AccessKey (no token) or
// STS credentials from the environment.
//
// String, GoString, LogValue (log/slog) and MarshalJSON show AccessKeyID and replace
// AccessKeySecret and SecurityToken with "<redacted>", so that formatting with %v, %+v or
// %#v, logging or JSON-encoding Credentials never reveals a secret.
type Credentials struct {
	// AccessKeyID identifies the key, e.g. "STS.N…". It is not secret.
	AccessKeyID string
	// AccessKeySecret signs requests.
	AccessKeySecret string
	// SecurityToken is the STS token that goes with a temporary key; empty for a
	// long-term key.
	SecurityToken string
}

// String returns the credentials with the secret and the token redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKeyID:%s AccessKeySecret:%s SecurityToken:%s}",
		c.AccessKeyID, redactIfSet(c.AccessKeySecret), redactIfSet(c.SecurityToken))
}

// GoString returns the credentials as a Go composite literal with the secret and the token
// redacted (the %#v form).
func (c Credentials) GoString() string {
	return fmt.Sprintf("aliyun.Credentials{AccessKeyID:%q, AccessKeySecret:%q, SecurityToken:%q}",
		c.AccessKeyID, redactIfSet(c.AccessKeySecret), redactIfSet(c.SecurityToken))
}

// LogValue implements slog.LogValuer: a group of the three fields with the secret and the
// token redacted.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("AccessKeyID", c.AccessKeyID),
		slog.String("AccessKeySecret", redactIfSet(c.AccessKeySecret)),
		slog.String("SecurityToken", redactIfSet(c.SecurityToken)),
	)
}

// MarshalJSON encodes the credentials as {"AccessKeyID","AccessKeySecret","SecurityToken"}
// with the secret and the token redacted.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessKeyID     string
		AccessKeySecret string
		SecurityToken   string
	}{c.AccessKeyID, redactIfSet(c.AccessKeySecret), redactIfSet(c.SecurityToken)})
}

// redactIfSet hides a non-empty secret and keeps an empty one visible, so that a missing
// secret can still be told apart from a present one.
func redactIfSet(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}
