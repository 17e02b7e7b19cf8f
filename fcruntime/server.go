package fcruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// NewHTTPHandler serves fn under the custom-runtime HTTP protocol:
//
//   - POST /invoke: the body is the event, at most MaxPayloadBytes. Success: 200,
//     x-fc-status: 200 and fn's result as JSON. Failure: 404, x-fc-status: 404 and an
//     [ErrorBody] whose errorType is [ErrorType] of fn's error (ErrorTypeInvalidEvent for a
//     body over the limit).
//   - POST /initialize: 200, x-fc-status: 200 and an empty body (no initializer is needed).
//
// The request kind is taken from the path, or from x-fc-control-path when the path is "/".
// Other paths are 404 and other methods 405, without x-fc-status. The invocation comes from
// the x-fc-* request headers; a request without x-fc-request-id gets a random one. logger
// (nil: slog.Default()) gets "FC Invoke Start RequestId: …" and "FC Invoke End RequestId: …"
// around each invocation, FC's own log markers, with the request id as attribute requestId.
func NewHTTPHandler[R any](fn Func[R], logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &httpHandler[R]{fn: fn, logger: logger}
}

type httpHandler[R any] struct {
	fn     Func[R]
	logger *slog.Logger
}

func (h *httpHandler[R]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	inv := invocationOf(r.Header)
	if inv.RequestID == "" {
		inv.RequestID = uuid.NewString()
	}
	logger := h.logger.With(slog.String("requestId", inv.RequestID))
	if path == "/initialize" {
		logger.Info("FC Initialize Start RequestId: " + inv.RequestID)
		w.Header().Set(HeaderStatus, "200")
		w.WriteHeader(http.StatusOK)
		logger.Info("FC Initialize End RequestId: " + inv.RequestID)
		return
	}
	logger.Info("FC Invoke Start RequestId: " + inv.RequestID)
	defer logger.Info("FC Invoke End RequestId: " + inv.RequestID)

	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayloadBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			err = fmt.Errorf("event payload exceeds %d bytes", MaxPayloadBytes)
		}
		writeJSON(w, http.StatusNotFound, ErrorBody{ErrorMessage: "reading the event: " + err.Error(), ErrorType: ErrorTypeInvalidEvent})
		return
	}
	result, err := h.fn(r.Context(), inv, payload)
	if err != nil {
		writeJSON(w, http.StatusNotFound, ErrorBody{ErrorMessage: err.Error(), ErrorType: ErrorType(err)})
		return
	}
	writeJSON(w, http.StatusOK, result)
}

// writeJSON answers with v as JSON and x-fc-status set to status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusNotFound
		body, _ = json.Marshal(ErrorBody{ErrorMessage: "encoding the result: " + err.Error(), ErrorType: ErrorTypeInternal})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderStatus, strconv.Itoa(status))
	w.WriteHeader(status)
	_, _ = w.Write(body) // an error here means FC went away; nobody is left to tell
}

// Serve serves h on ln until ctx ends, then stops accepting and lets the invocations in
// flight finish, for up to TriggerTimeLimit. It returns nil after a clean stop, and the
// server's error otherwise.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), TriggerTimeLimit)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
