package handler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fc/messages"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/tablestore"
)

// TriggerTimeLimit is the Tablestore trigger's hard limit on one function execution
// (https://www.alibabacloud.com/help/en/functioncompute/fc/tablestore-triggers: "cannot
// exceed 1 minute"). Invocations never plan to run longer, whatever the function timeout.
const TriggerTimeLimit = 60 * time.Second

// DeadlineMargin is kept free before an invocation's deadline so that a failing invocation
// answers with its own error instead of being cut off by FC.
const DeadlineMargin = 2 * time.Second

// The request headers FC sends with every invocation
// (https://www.alibabacloud.com/help/doc-detail/425057.htm; fc-runtime-go-sdk fc/runtime_api_client.go).
const (
	HeaderRequestID       = "x-fc-request-id"
	HeaderAccessKeyID     = "x-fc-access-key-id"
	HeaderAccessKeySecret = "x-fc-access-key-secret"
	HeaderSecurityToken   = "x-fc-security-token"
	// HeaderFunctionTimeout is the function's timeout in seconds (sent by the runtimes, not
	// documented for custom runtimes; absent means TriggerTimeLimit).
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

// The environment variables the CLI and a local custom runtime take credentials from when an
// invocation carries none (the names FC itself sets in an instance).
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// CredentialsFromEnv returns the credentials in ALIBABA_CLOUD_ACCESS_KEY_ID,
// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN, read through getenv.
func CredentialsFromEnv(getenv func(string) string) tablestore.Credentials {
	return tablestore.Credentials{
		AccessKeyID:     getenv(EnvAccessKeyID),
		AccessKeySecret: getenv(EnvAccessKeySecret),
		SecurityToken:   getenv(EnvSecurityToken),
	}
}

// ErrorBody is the JSON body of a failed invocation, the shape the go1 runtime posts to
// /error (fc-runtime-go-sdk fc/messages/messages.go, InvokeResponse_Error).
type ErrorBody struct {
	// ErrorMessage says what failed, naming the record, column, key or Tablestore error code.
	ErrorMessage string `json:"errorMessage"`
	// ErrorType is one of the ErrorType constants.
	ErrorType string `json:"errorType"`
}

// invoke runs one invocation with the deadline min(ctx's, start+timeout, start+60 s) minus
// DeadlineMargin and logs its outcome as one line. A panic becomes an ErrorTypeInternal error.
//
// The line is "invocation succeeded" (INFO) or "invocation failed" (ERROR, with errorType
// and error first), then payloadBytes, durationMs, and every [Summary] field under its JSON
// name (lagMs, retries, deadLettered, …), each a top-level attribute so that a log query can
// filter and chart it.
func (f *Function) invoke(ctx context.Context, logger *slog.Logger, creds tablestore.Credentials, timeout time.Duration, payload []byte) (sum Summary, err error) {
	start := f.now()
	if timeout <= 0 || timeout > TriggerTimeLimit {
		timeout = TriggerTimeLimit
	}
	ctx, cancel := context.WithDeadline(ctx, start.Add(timeout-DeadlineMargin))
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Type: ErrorTypeInternal, Err: fmt.Errorf("panic: %v", p)}
		}
		attrs := append([]slog.Attr{
			slog.Int("payloadBytes", len(payload)),
			slog.Int64("durationMs", f.now().Sub(start).Milliseconds()),
		}, sum.logAttrs()...)
		if err != nil {
			failure := []slog.Attr{slog.String("errorType", ErrorType(err)), slog.String("error", err.Error())}
			logger.LogAttrs(ctx, slog.LevelError, "invocation failed", append(failure, attrs...)...)
			return
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "invocation succeeded", attrs...)
	}()
	return f.Process(ctx, creds, payload)
}

// logAttrs returns the fields of s as log attributes named as in its JSON.
func (s Summary) logAttrs() []slog.Attr {
	return []slog.Attr{
		slog.Int64("lagMs", s.LagMs),
		slog.Int("records", s.Records),
		slog.Int("keys", s.Keys),
		slog.Int("puts", s.Puts),
		slog.Int("updates", s.Updates),
		slog.Int("deletes", s.Deletes),
		slog.Int("notInView", s.NotInView),
		slog.Int("reads", s.Reads),
		slog.Int("deadLettered", s.DeadLettered),
		slog.Int("writeRequests", s.WriteRequests),
		slog.Int("readRequests", s.ReadRequests),
		slog.Int("retries", s.Retries),
	}
}

// HTTPOptions tunes [NewHTTPHandler].
type HTTPOptions struct {
	// Logger receives one JSON line per invocation; nil means slog.Default().
	Logger *slog.Logger
	// Getenv supplies credentials when a request carries no x-fc-access-key-* headers
	// (local use); nil means os.Getenv.
	Getenv func(string) string
}

// NewHTTPHandler serves fn under the custom-runtime HTTP protocol
// (https://www.alibabacloud.com/help/en/function-compute/latest/custom-runtime-event-functions):
//
//   - POST /invoke: the body is the event (CBOR or JSON, at most events.DefaultDecodeOptions.MaxPayloadBytes).
//     Success: 200, x-fc-status: 200, the JSON [Summary]. Failure: 404, x-fc-status: 404,
//     JSON [ErrorBody].
//   - POST /initialize: 200, x-fc-status: 200, empty body (the function needs no initializer).
//
// The request kind is taken from the path, or from x-fc-control-path when the path is "/".
// Credentials come from the x-fc-access-key-id, x-fc-access-key-secret and x-fc-security-token
// headers of each request, or, when absent, from ALIBABA_CLOUD_* through Getenv.
func NewHTTPHandler(fn *Function, opts HTTPOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	return &httpHandler{fn: fn, opts: opts}
}

type httpHandler struct {
	fn   *Function
	opts HTTPOptions
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/" && r.Header.Get(HeaderControlPath) != "" {
		path = r.Header.Get(HeaderControlPath)
	}
	if path != "/invoke" && path != "/initialize" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is supported", http.StatusMethodNotAllowed)
		return
	}
	requestID := r.Header.Get(HeaderRequestID)
	if requestID == "" {
		requestID = newRequestID()
	}
	logger := h.opts.Logger.With(slog.String("requestId", requestID))
	if path == "/initialize" {
		logger.Info("FC Initialize Start RequestId: " + requestID)
		w.Header().Set(HeaderStatus, "200")
		w.WriteHeader(http.StatusOK)
		logger.Info("FC Initialize End RequestId: " + requestID)
		return
	}
	logger.Info("FC Invoke Start RequestId: " + requestID)
	defer logger.Info("FC Invoke End RequestId: " + requestID)

	limit := int64(events.DefaultDecodeOptions.MaxPayloadBytes)
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			err = fmt.Errorf("event payload exceeds %d bytes", limit)
		}
		writeFailure(w, &Error{Type: ErrorTypeInvalidEvent, Err: fmt.Errorf("reading the event: %w", err)})
		return
	}
	creds := tablestore.Credentials{
		AccessKeyID:     r.Header.Get(HeaderAccessKeyID),
		AccessKeySecret: r.Header.Get(HeaderAccessKeySecret),
		SecurityToken:   r.Header.Get(HeaderSecurityToken),
	}
	if creds.AccessKeyID == "" {
		creds = CredentialsFromEnv(h.opts.Getenv)
	}
	var timeout time.Duration
	if s, err := strconv.Atoi(r.Header.Get(HeaderFunctionTimeout)); err == nil && s > 0 {
		timeout = time.Duration(s) * time.Second
	}
	sum, err := h.fn.invoke(r.Context(), logger, creds, timeout, payload)
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func writeFailure(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusNotFound, ErrorBody{ErrorMessage: err.Error(), ErrorType: ErrorType(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // Summary and ErrorBody always marshal; keep the protocol intact regardless.
		status, body = http.StatusNotFound, []byte(`{"errorMessage":"encoding the response failed","errorType":"InternalError"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderStatus, strconv.Itoa(status))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StartRuntimeAPI runs fn under FC's go1 runtime: it hands fc.Start (fc-runtime-go-sdk
// fc/entry.go) a handler taking the raw []byte payload, with the invocation's credentials
// from fccontext. A failed invocation is posted to the runtime API's /error as an [ErrorBody]. It never returns; call it only when FC_RUNTIME_API is set (fc.Start exits
// the process otherwise).
func StartRuntimeAPI(fn *Function, logger *slog.Logger) {
	fc.Start(func(ctx context.Context, payload []byte) (Summary, error) {
		fctx, _ := fccontext.FromContext(ctx)
		if fctx == nil {
			fctx = &fccontext.FcContext{}
		}
		creds := tablestore.Credentials{
			AccessKeyID:     fctx.Credentials.AccessKeyId,
			AccessKeySecret: fctx.Credentials.AccessKeySecret,
			SecurityToken:   fctx.Credentials.SecurityToken,
		}
		timeout := time.Duration(fctx.Function.Timeout) * time.Second
		sum, err := fn.invoke(ctx, logger.With(slog.String("requestId", fctx.RequestID)), creds, timeout, payload)
		if err != nil {
			// Posted to /error as is; any other error type would be reported under its Go
			// type name instead of its ErrorType (fc-runtime-go-sdk fc/errors.go).
			return sum, messages.InvokeResponse_Error{Message: err.Error(), Type: ErrorType(err)}
		}
		return sum, nil
	})
}
