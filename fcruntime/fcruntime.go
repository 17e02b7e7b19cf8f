// Package fcruntime is Function Compute's runtime protocol, both sides: it serves a function
// to FC, under the custom runtime (HTTP) or the go1 runtime (the runtime API), and it invokes
// a function served under the custom runtime as FC does.
//
// It knows nothing of what the function does. A function is a [Func]: it takes one
// [Invocation] (request id, STS credentials, timeout, the function's identity) and the
// event payload, and returns a result that is sent as JSON, or an error whose errorType the
// response names ([ErrorType]). [NewHTTPHandler] and [Serve] are the custom runtime's side,
// [StartGo1] the go1 runtime's, and [Invoker] the client side that local tools use to invoke
// a function over the custom-runtime protocol.
//
// Sources: "Custom runtime: event functions"
// (https://www.alibabacloud.com/help/en/function-compute/latest/custom-runtime-event-functions),
// "Request headers" (https://www.alibabacloud.com/help/doc-detail/425057.htm), and the go1
// runtime's client (github.com/aliyun/fc-runtime-go-sdk, fc/runtime_api_client.go).
package fcruntime

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/otsetl/otsetl/aliyun"
)

// TriggerTimeLimit is the Tablestore trigger's hard limit on one function execution
// (https://www.alibabacloud.com/help/en/functioncompute/fc/tablestore-triggers: "cannot
// exceed 1 minute"), whatever the function's own timeout.
const TriggerTimeLimit = 60 * time.Second

// MaxPayloadBytes is the largest event a synchronous invocation carries, 32 MiB (Function
// Compute "Limits": the request payload of a synchronous invocation).
const MaxPayloadBytes = 32 << 20

// EnvMemorySize is the FC system variable holding the instance's memory size in MB, e.g.
// "512" (https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables).
const EnvMemorySize = "FC_FUNCTION_MEMORY_SIZE"

// The request headers FC sends with every invocation, and the response header of the
// custom-runtime protocol.
const (
	HeaderRequestID       = "x-fc-request-id"
	HeaderAccessKeyID     = "x-fc-access-key-id"
	HeaderAccessKeySecret = "x-fc-access-key-secret"
	HeaderSecurityToken   = "x-fc-security-token"
	// HeaderFunctionTimeout is the function's timeout in whole seconds (sent by the runtimes;
	// not documented for custom runtimes, where an absent header means TriggerTimeLimit).
	HeaderFunctionTimeout = "x-fc-function-timeout"
	// HeaderControlPath names the request kind (/invoke, /initialize) for custom runtimes
	// (https://www.alibabacloud.com/help/doc-detail/191342.htm).
	HeaderControlPath = "x-fc-control-path"
	// HeaderStatus is the response header by which a custom runtime reports success (200) or
	// failure (404); FC counts a response without it as a success.
	HeaderStatus = "x-fc-status"
	// HeaderFunctionName is the invoked function's name.
	HeaderFunctionName = "x-fc-function-name"
	// HeaderRegion is the region the function runs in, e.g. "cn-hangzhou".
	HeaderRegion = "x-fc-region"
	// HeaderAccountID is the Alibaba Cloud account that owns the function.
	HeaderAccountID = "x-fc-account-id"
)

// Invocation is what FC sends with an event besides the payload.
type Invocation struct {
	// RequestID identifies the invocation (x-fc-request-id). Each of FC's retries of an
	// event is a new invocation with a new request id.
	RequestID string
	// Credentials are the STS credentials of the function's role, for this invocation only
	// (x-fc-access-key-id, x-fc-access-key-secret, x-fc-security-token).
	Credentials aliyun.Credentials
	// Timeout is the function's timeout (x-fc-function-timeout, whole seconds); 0 when FC
	// did not send it.
	Timeout time.Duration
	// FunctionName, Region and AccountID identify the function (x-fc-function-name,
	// x-fc-region, x-fc-account-id); empty when not sent.
	FunctionName string
	Region       string
	AccountID    string
}

// Deadline is when an invocation that started at start must have ended: start plus the
// function's timeout, or plus TriggerTimeLimit when the timeout is unset or longer.
func (inv Invocation) Deadline(start time.Time) time.Time {
	timeout := inv.Timeout
	if timeout <= 0 || timeout > TriggerTimeLimit {
		timeout = TriggerTimeLimit
	}
	return start.Add(timeout)
}

// setHeaders writes the invocation into the request headers h, leaving out what is empty.
func (inv Invocation) setHeaders(h http.Header) {
	for header, value := range map[string]string{
		HeaderRequestID:       inv.RequestID,
		HeaderAccessKeyID:     inv.Credentials.AccessKeyID,
		HeaderAccessKeySecret: inv.Credentials.AccessKeySecret,
		HeaderSecurityToken:   inv.Credentials.SecurityToken,
		HeaderFunctionName:    inv.FunctionName,
		HeaderRegion:          inv.Region,
		HeaderAccountID:       inv.AccountID,
	} {
		if value != "" {
			h.Set(header, value)
		}
	}
	if inv.Timeout > 0 {
		h.Set(HeaderFunctionTimeout, strconv.Itoa(int(inv.Timeout/time.Second)))
	}
}

// invocationOf reads the invocation from the request headers h; a timeout that is not a
// positive whole number of seconds counts as unset.
func invocationOf(h http.Header) Invocation {
	inv := Invocation{
		RequestID: h.Get(HeaderRequestID),
		Credentials: aliyun.Credentials{
			AccessKeyID:     h.Get(HeaderAccessKeyID),
			AccessKeySecret: h.Get(HeaderAccessKeySecret),
			SecurityToken:   h.Get(HeaderSecurityToken),
		},
		FunctionName: h.Get(HeaderFunctionName),
		Region:       h.Get(HeaderRegion),
		AccountID:    h.Get(HeaderAccountID),
	}
	if s, err := strconv.Atoi(h.Get(HeaderFunctionTimeout)); err == nil && s > 0 {
		inv.Timeout = time.Duration(s) * time.Second
	}
	return inv
}

// Func is a function as the runtimes serve it: one invocation's payload in, a result (sent
// as JSON) or an error out. It must be safe for concurrent invocations. The payload is the
// runtime's, valid until the function returns: the custom runtime reuses its memory for
// later invocations, so a function that keeps any of it must copy it.
type Func[R any] func(ctx context.Context, inv Invocation, payload []byte) (R, error)

// ErrorBody is the JSON body of a failed invocation, the shape the go1 runtime posts to
// /error (fc-runtime-go-sdk fc/messages/messages.go, InvokeResponse_Error).
type ErrorBody struct {
	// ErrorMessage says what failed.
	ErrorMessage string `json:"errorMessage"`
	// ErrorType classifies the failure; see [ErrorType].
	ErrorType string `json:"errorType"`
}

// The errorType values this package itself reports.
const (
	// ErrorTypeInternal is the errorType of a failure whose error names none: a fault of the
	// function itself.
	ErrorTypeInternal = "InternalError"
	// ErrorTypeInvalidEvent is the errorType of an event the function cannot take, such as
	// one larger than MaxPayloadBytes.
	ErrorTypeInvalidEvent = "InvalidEvent"
	// ErrorTypeInstanceBusy is the errorType of an invocation refused because the
	// invocations in flight hold as many payload bytes as the instance allows
	// (HTTPOptions.MaxInFlightBytes); it may succeed when invoked again.
	ErrorTypeInstanceBusy = "InstanceBusy"
	// ErrorTypeInvalidRequest is the errorType of a request outside the protocol: an unknown
	// path or a wrong method.
	ErrorTypeInvalidRequest = "InvalidRequest"
)

// ErrorType returns the errorType of err: that of the first error in its chain with an
// ErrorType() string method, else ErrorTypeInternal.
func ErrorType(err error) string {
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		return typed.ErrorType()
	}
	return ErrorTypeInternal
}
