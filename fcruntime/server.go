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
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// HTTPOptions tunes [NewHTTPHandler]. The zero value is valid.
type HTTPOptions struct {
	// Logger gets FC's own log markers around each request ("FC Invoke Start RequestId: …",
	// "FC Invoke End RequestId: …", and the same for the lifecycle hooks), with the request
	// id as attribute requestId; nil means slog.Default().
	Logger *slog.Logger
	// MaxInFlightBytes bounds the payload bytes of the invocations in flight at once, so
	// that concurrent invocations cannot hold more memory than the instance has: an
	// invocation that would pass the bound is answered at once as failed
	// (ErrorTypeInstanceBusy), and FC or the trigger invokes it again later. One invocation
	// is always admitted when none is in flight, whatever its size. 0 means no bound.
	MaxInFlightBytes int64
}

// The paths of the custom-runtime protocol: the invocation, and the lifecycle hooks
// ("Function instance lifecycle hooks",
// https://www.alibabacloud.com/help/en/functioncompute/fc/user-guide/lifecycle-hooks-for-function-instances-in-a-custom-runtime).
const (
	pathInvoke     = "/invoke"
	pathInitialize = "/initialize"
	pathPreFreeze  = "/pre-freeze"
	pathPreStop    = "/pre-stop"
)

// hooks are the lifecycle hooks and the names FC's log markers give them. The function needs
// no work in any of them; answering them keeps FC's lifecycle flowing.
var hooks = map[string]string{pathInitialize: "Initialize", pathPreFreeze: "PreFreeze", pathPreStop: "PreStop"}

// NewHTTPHandler serves fn under the custom-runtime HTTP protocol:
//
//   - POST /invoke: the body is the event, at most MaxPayloadBytes. Success: 200,
//     x-fc-status: 200 and fn's result as JSON. Failure: 404, x-fc-status: 404 and an
//     [ErrorBody] whose errorType is [ErrorType] of fn's error (ErrorTypeInvalidEvent for a
//     body over the limit, ErrorTypeInstanceBusy beyond opts.MaxInFlightBytes).
//   - POST /initialize, GET /pre-freeze and GET /pre-stop, the lifecycle hooks: 200,
//     x-fc-status: 200 and an empty body (the function needs none of them).
//   - Anything else: 404 for another path, 405 for another method, both with x-fc-status:
//     404 and an ErrorBody of errorType ErrorTypeInvalidRequest.
//
// The request kind is taken from the path, or from x-fc-control-path when the path is "/".
// The invocation comes from the x-fc-* request headers; a request without x-fc-request-id
// gets a random one.
func NewHTTPHandler[R any](fn Func[R], opts HTTPOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &httpHandler[R]{fn: fn, logger: opts.Logger, admission: admission{limit: opts.MaxInFlightBytes}}
}

type httpHandler[R any] struct {
	fn        Func[R]
	logger    *slog.Logger
	admission admission
}

func (h *httpHandler[R]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/" && r.Header.Get(HeaderControlPath) != "" {
		path = r.Header.Get(HeaderControlPath)
	}
	method := http.MethodPost
	if path == pathPreFreeze || path == pathPreStop {
		method = http.MethodGet
	}
	hook, isHook := hooks[path]
	switch {
	case path != pathInvoke && !isHook:
		writeJSON(w, http.StatusNotFound, ErrorBody{ErrorMessage: fmt.Sprintf("no such path %q: the custom runtime serves %s and the lifecycle hooks", path, pathInvoke), ErrorType: ErrorTypeInvalidRequest})
		return
	case r.Method != method:
		w.Header().Set("Allow", method)
		writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{ErrorMessage: fmt.Sprintf("%s %s: only %s is served", r.Method, path, method), ErrorType: ErrorTypeInvalidRequest})
		return
	}
	inv := invocationOf(r.Header)
	if inv.RequestID == "" {
		inv.RequestID = uuid.NewString()
	}
	logger := h.logger.With(slog.String("requestId", inv.RequestID))
	if isHook {
		logger.Info("FC " + hook + " Start RequestId: " + inv.RequestID)
		w.Header().Set(HeaderStatus, "200")
		w.WriteHeader(http.StatusOK)
		logger.Info("FC " + hook + " End RequestId: " + inv.RequestID)
		return
	}
	logger.Info("FC Invoke Start RequestId: " + inv.RequestID)
	defer logger.Info("FC Invoke End RequestId: " + inv.RequestID)

	size := r.ContentLength
	if size < 0 || size > MaxPayloadBytes {
		size = MaxPayloadBytes
	}
	if !h.admission.admit(size) {
		writeJSON(w, http.StatusNotFound, ErrorBody{
			ErrorMessage: fmt.Sprintf("the instance is busy: %d payload bytes are in flight and this event's %d would pass the bound of %d", h.admission.inFlight(), size, h.admission.limit),
			ErrorType:    ErrorTypeInstanceBusy,
		})
		return
	}
	defer h.admission.release(size)
	buf := payloadBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooledPayloadBytes {
			payloadBuffers.Put(buf)
		}
	}()
	payload, err := readPayload((*buf)[:0], http.MaxBytesReader(w, r.Body, MaxPayloadBytes), r.ContentLength)
	*buf = payload
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

// maxPooledPayloadBytes bounds the payload buffers kept for later invocations: those of
// trigger events of a few thousand records, not those of rare 32 MiB ones.
const maxPooledPayloadBytes = 4 << 20

// payloadBuffers holds the payload buffers (*[]byte) of finished invocations, so that a warm
// instance reads the next payloads without allocating.
var payloadBuffers = sync.Pool{New: func() any { return new([]byte) }}

// readPayload appends the body r to b, growing b once to size first when the size is
// known (the request's Content-Length; -1 when unknown).
func readPayload(b []byte, r io.Reader, size int64) ([]byte, error) {
	if size > 0 && size <= MaxPayloadBytes {
		b = slices.Grow(b, int(size)+1) // one more byte for the EOF read
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// admission counts the payload bytes of the invocations in flight against a limit.
type admission struct {
	limit int64 // 0: none
	mu    sync.Mutex
	bytes int64
	count int
}

// admit reserves size bytes and reports whether the invocation may run: always when none
// is in flight, else when the bytes in flight stay within the limit.
func (a *admission) admit(size int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limit > 0 && a.count > 0 && a.bytes+size > a.limit {
		return false
	}
	a.bytes += size
	a.count++
	return true
}

// release returns the bytes admit reserved.
func (a *admission) release(size int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bytes -= size
	a.count--
}

// inFlight returns the payload bytes in flight.
func (a *admission) inFlight() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bytes
}

// writeJSON answers with v as JSON, HTTP status status, and x-fc-status 200 when status is
// 200 and 404 (failure) otherwise.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusNotFound
		body, _ = json.Marshal(ErrorBody{ErrorMessage: "encoding the result: " + err.Error(), ErrorType: ErrorTypeInternal})
	}
	fcStatus := http.StatusNotFound
	if status == http.StatusOK {
		fcStatus = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderStatus, strconv.Itoa(fcStatus))
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
