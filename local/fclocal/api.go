package fclocal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/fcruntime"
)

// The InvokeFunction API of Function Compute 3.0 that [NewFunctionAPI] serves (API
// reference, InvokeFunction, 2023-03-30; the official Go SDK
// github.com/alibabacloud-go/fc-20230330/v4, client InvokeFunctionWithContext).
const (
	// APIVersion is the API's version, in the path and the x-acs-version header.
	APIVersion = "2023-03-30"
	// invokePathPrefix and invokePathSuffix frame the function's name in the path:
	// POST /2023-03-30/functions/{functionName}/invocations.
	invokePathPrefix = "/" + APIVersion + "/functions/"
	invokePathSuffix = "/invocations"
	// HeaderErrorType is the answer's header naming a function error's errorType; the
	// answer is then HTTP 200 with the function's {errorMessage, errorType}.
	HeaderErrorType = "x-fc-error-type"
	// HeaderRequestID names the invocation in every answer.
	HeaderRequestID = "x-fc-request-id"
	// ErrorTypeUnhandled is the errorType of an invocation whose instance did not answer
	// (it exited, or was killed, during the invocation).
	ErrorTypeUnhandled = "UnhandledInvocationError"
	// signatureAlgorithm starts the Authorization header the SDK signs with (ACS3).
	signatureAlgorithm = "ACS3-HMAC-SHA256 "
)

// APIConfig configures [NewFunctionAPI].
type APIConfig struct {
	// FunctionName is the one function served; another name is FunctionNotFound.
	FunctionName string
	// Pool runs the invocations.
	Pool *Pool
	// Credentials are sent to the function with every invocation, the stand-in for the
	// STS credentials of the function's role. The API accepts any access key of a
	// well-formed signature, as the embedded otslocal does.
	Credentials aliyun.Credentials
	// Timeout is the function's timeout, sent as x-fc-function-timeout and bounding each
	// invocation; 0 means the trigger's limit, a minute.
	Timeout time.Duration
	// Faults, when set, fails invocations on purpose, for tests.
	Faults *APIFaults
	// OnInvocation, when set, is called after each invocation the API answered, from the
	// request's goroutine: it may be called concurrently and should return quickly.
	OnInvocation func(APIInvocation)
}

// APIFaults fails invocations on purpose: with probability FailRate an invocation is
// answered as a function error (errorType InjectedFault) without running; with probability
// LoseRate it runs, and its answer is lost (the connection is closed unanswered), as a
// network failure after the work would lose it. Random draws; it is used under a mutex.
type APIFaults struct {
	FailRate, LoseRate float64
	Random             *rand.Rand

	mu sync.Mutex
}

// draw returns what to do with one invocation: fail it, lose its answer, or neither.
func (f *APIFaults) draw() (fail, lose bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x := f.Random.Float64()
	return x < f.FailRate, x >= f.FailRate && x < f.FailRate+f.LoseRate
}

// ErrorTypeInjectedFault is the errorType of an invocation APIFaults failed.
const ErrorTypeInjectedFault = "InjectedFault"

// APIInvocation is one invocation through the API, as it was answered.
type APIInvocation struct {
	// RequestID is the invocation's x-fc-request-id.
	RequestID string `json:"requestId"`
	// Start is when it arrived; Latency how long it took to answer.
	Start   time.Time     `json:"start"`
	Latency time.Duration `json:"latencyNs"`
	// PayloadBytes is the size of its payload.
	PayloadBytes int `json:"payloadBytes"`
	// Status is the HTTP status answered: 200 (the function's result, or a function error
	// in ErrorType), 429 when every instance was busy, 4xx for a bad request.
	Status int `json:"status"`
	// ErrorType is the function error's errorType; empty when the function succeeded.
	ErrorType string `json:"errorType,omitempty"`
	// Error is the error's message, of a function error or an API error.
	Error string `json:"error,omitempty"`
	// Result is the function's result, when it succeeded.
	Result json.RawMessage `json:"result,omitempty"`
	// Lost is set when the answer was lost on purpose (APIFaults).
	Lost bool `json:"lost,omitempty"`
}

// maxAPIPayloadBytes is the largest payload of a synchronous invocation: 32 MiB.
const maxAPIPayloadBytes = fcruntime.MaxPayloadBytes

// NewFunctionAPI serves FC's InvokeFunction API for one function, over the pool's
// instances: POST /2023-03-30/functions/{name}/invocations, signed as the SDK signs
// (x-acs-action InvokeFunction, x-acs-version 2023-03-30, x-acs-date, x-acs-signature-nonce,
// x-acs-content-sha256 of the body, an ACS3-HMAC-SHA256 Authorization), synchronous
// (x-fc-invocation-type Sync or absent). Answers:
//
//   - the function's result: 200, the result as the body, x-fc-request-id;
//   - a function error: 200 with x-fc-error-type and the function's {errorMessage,
//     errorType} ([ErrorTypeUnhandled] when the instance exited during the invocation);
//   - every instance busy at the instance limit: 429 ResourceThrottled;
//   - otherwise FC's API errors, {Code, Message, RequestId}: 404 FunctionNotFound, 400
//     MissingRequiredHeader, InvalidArgument or EntityTooLarge, 403 SignatureNotMatch,
//     405 for another method.
func NewFunctionAPI(cfg APIConfig) (http.Handler, error) {
	if cfg.Pool == nil || cfg.FunctionName == "" {
		return nil, errors.New("fclocal: APIConfig needs a Pool and a FunctionName")
	}
	if cfg.Timeout <= 0 || cfg.Timeout > fcruntime.TriggerTimeLimit {
		cfg.Timeout = fcruntime.TriggerTimeLimit
	}
	return &functionAPI{cfg: cfg}, nil
}

// functionAPI is NewFunctionAPI's handler.
type functionAPI struct{ cfg APIConfig }

// apiError is FC's body of an API error.
type apiError struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
}

func (a *functionAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := uuid.NewString()
	report := APIInvocation{RequestID: requestID, Start: start}
	w.Header().Set(HeaderRequestID, requestID)
	fail := func(status int, code, format string, args ...any) {
		message := fmt.Sprintf(format, args...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(apiError{Code: code, Message: message, RequestID: requestID})
		report.Status, report.Error, report.Latency = status, code+": "+message, time.Since(start)
		a.report(report)
	}
	name, ok := strings.CutPrefix(r.URL.Path, invokePathPrefix)
	name, ok2 := strings.CutSuffix(name, invokePathSuffix)
	switch {
	case !ok || !ok2 || name == "" || strings.Contains(name, "/"):
		fail(http.StatusNotFound, "PathNotSupported", "'%s' against '%s' is not supported", r.Method, r.URL.Path)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "PathNotSupported", "'%s' against '%s' is not supported", r.Method, r.URL.Path)
		return
	case name != a.cfg.FunctionName:
		fail(http.StatusNotFound, "FunctionNotFound", "function '%s' does not exist", name)
		return
	}
	for _, h := range []string{"x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256", "Authorization"} {
		if r.Header.Get(h) == "" {
			fail(http.StatusBadRequest, "MissingRequiredHeader", "required HTTP header %s was not specified", h)
			return
		}
	}
	switch {
	case r.Header.Get("x-acs-action") != "InvokeFunction" || r.Header.Get("x-acs-version") != APIVersion:
		fail(http.StatusBadRequest, "InvalidArgument", "x-acs-action %q, x-acs-version %q: this API serves InvokeFunction of %s", r.Header.Get("x-acs-action"), r.Header.Get("x-acs-version"), APIVersion)
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), signatureAlgorithm+"Credential="):
		fail(http.StatusForbidden, "SignatureNotMatch", "the Authorization header is not an %s signature", strings.TrimSpace(signatureAlgorithm))
		return
	case r.Header.Get("x-fc-invocation-type") != "" && r.Header.Get("x-fc-invocation-type") != "Sync":
		fail(http.StatusBadRequest, "InvalidArgument", "x-fc-invocation-type %q: this API runs synchronous invocations only", r.Header.Get("x-fc-invocation-type"))
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIPayloadBytes))
	if err != nil {
		fail(http.StatusBadRequest, "EntityTooLarge", "payload size exceeds maximum allowed size (%d bytes)", maxAPIPayloadBytes)
		return
	}
	report.PayloadBytes = len(payload)
	sum := sha256.Sum256(payload)
	if got := r.Header.Get("x-acs-content-sha256"); got != hex.EncodeToString(sum[:]) {
		fail(http.StatusForbidden, "SignatureNotMatch", "x-acs-content-sha256 %s is not the SHA-256 of the body", got)
		return
	}
	var injectFailure, loseAnswer bool
	if a.cfg.Faults != nil {
		injectFailure, loseAnswer = a.cfg.Faults.draw()
	}
	var result json.RawMessage
	if injectFailure {
		err = &fcruntime.InvocationError{ErrorBody: fcruntime.ErrorBody{ErrorMessage: "an injected fault failed the invocation before it ran", ErrorType: ErrorTypeInjectedFault}}
	} else {
		// As on FC, the invocation runs to its end even when its caller goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.cfg.Timeout)
		inv := fcruntime.Invocation{RequestID: requestID, Credentials: a.cfg.Credentials, Timeout: a.cfg.Timeout, FunctionName: a.cfg.FunctionName}
		result, err = a.cfg.Pool.Invoke(ctx, inv, payload)
		cancel()
	}
	if errors.Is(err, ErrThrottled) {
		fail(http.StatusTooManyRequests, "ResourceThrottled", "%v", err)
		return
	}
	if loseAnswer {
		report.Lost = true
		loseConnection(w)
		report.Status, report.Latency = 0, time.Since(start)
		a.report(report)
		return
	}
	report.Status = http.StatusOK
	if err != nil {
		var failed *fcruntime.InvocationError
		body := fcruntime.ErrorBody{ErrorMessage: err.Error(), ErrorType: ErrorTypeUnhandled}
		if errors.As(err, &failed) {
			body = failed.ErrorBody
		}
		report.ErrorType, report.Error = body.ErrorType, body.ErrorMessage
		result, _ = json.Marshal(body) // two strings always encode
		w.Header().Set(HeaderErrorType, body.ErrorType)
	} else {
		report.Result = result
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(result) // the caller that went away learns nothing more
	report.Latency = time.Since(start)
	a.report(report)
}

// report hands an answered invocation to OnInvocation.
func (a *functionAPI) report(inv APIInvocation) {
	if a.cfg.OnInvocation != nil {
		a.cfg.OnInvocation(inv)
	}
}

// loseConnection closes the request's connection without an answer.
func loseConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // net/http closes the connection unanswered, and logs nothing
}
