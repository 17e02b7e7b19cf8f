package fcruntime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/internal/testkit"
)

// echo is a function that records the invocations it gets and answers with the payload's
// length, or fails with the errorType the payload names after "fail:".
type echo struct {
	mu   sync.Mutex
	seen []fcruntime.Invocation
}

// typedError is an error that names its errorType.
type typedError struct{ kind string }

func (e typedError) Error() string     { return "failed as asked" }
func (e typedError) ErrorType() string { return e.kind }

func (e *echo) invoke(_ context.Context, inv fcruntime.Invocation, payload []byte) (map[string]int, error) {
	e.mu.Lock()
	e.seen = append(e.seen, inv)
	e.mu.Unlock()
	if kind, ok := strings.CutPrefix(string(payload), "fail:"); ok {
		if kind == "" {
			return nil, errors.New("untyped failure")
		}
		return nil, typedError{kind}
	}
	return map[string]int{"bytes": len(payload)}, nil
}

func serveEcho(t *testing.T) (*echo, *httptest.Server, *testkit.SyncBuffer) {
	t.Helper()
	fn := &echo{}
	logs := new(testkit.SyncBuffer)
	srv := httptest.NewServer(fcruntime.NewHTTPHandler(fn.invoke, fcruntime.HTTPOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))}))
	t.Cleanup(srv.Close)
	return fn, srv, logs
}

func TestInvokerAndHandlerSpeakTheProtocol(t *testing.T) {
	fn, srv, logs := serveEcho(t)
	invoker := &fcruntime.Invoker{URL: srv.URL + "/"}
	inv := fcruntime.Invocation{
		RequestID:    "req-1",
		Credentials:  aliyun.Credentials{AccessKeyID: "STS.id", AccessKeySecret: "secret", SecurityToken: "token"},
		Timeout:      30 * time.Second,
		FunctionName: "otsetl", Region: "cn-hangzhou", AccountID: "123",
	}
	result, err := invoker.Invoke(t.Context(), inv, []byte("four"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"bytes":4}`, string(result))
	require.Len(t, fn.seen, 1)
	assert.Equal(t, inv, fn.seen[0], "every field crosses the protocol")
	assert.Contains(t, logs.String(), `"msg":"FC Invoke Start RequestId: req-1"`)
	assert.Contains(t, logs.String(), `"msg":"FC Invoke End RequestId: req-1"`)
	assert.NotContains(t, logs.String(), "secret")

	_, err = invoker.Invoke(t.Context(), fcruntime.Invocation{}, []byte("x"))
	require.NoError(t, err)
	assert.NotEmpty(t, fn.seen[1].RequestID, "a request without a request id gets one")
	assert.Zero(t, fn.seen[1].Timeout)

	for payload, want := range map[string]string{"fail:TablestoreError": "TablestoreError", "fail:": fcruntime.ErrorTypeInternal} {
		_, err = invoker.Invoke(t.Context(), inv, []byte(payload))
		var ie *fcruntime.InvocationError
		require.ErrorAs(t, err, &ie, payload)
		assert.Equal(t, want, ie.ErrorType)
		assert.NotEmpty(t, ie.ErrorMessage)
		assert.Equal(t, want+": "+ie.ErrorMessage, ie.Error())
	}
}

func TestHandlerRoutesAsFCDoes(t *testing.T) {
	_, srv, _ := serveEcho(t)
	do := func(method, path string, header http.Header, body io.Reader) *http.Response {
		req, err := http.NewRequest(method, srv.URL+path, body)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, hook := range []struct{ method, path string }{{http.MethodPost, "/initialize"}, {http.MethodGet, "/pre-freeze"}, {http.MethodGet, "/pre-stop"}} {
		resp := do(hook.method, hook.path, nil, nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, hook.path)
		assert.Equal(t, "200", resp.Header.Get(fcruntime.HeaderStatus), hook.path)
	}

	// FC may route by x-fc-control-path on "/".
	h := http.Header{}
	h.Set(fcruntime.HeaderControlPath, "/invoke")
	resp := do(http.MethodPost, "/", h, strings.NewReader("abc"))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "200", resp.Header.Get(fcruntime.HeaderStatus))
	var result map[string]int
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&result))
	assert.Equal(t, 3, result["bytes"])

	// Requests outside the protocol fail as the protocol says a failure looks.
	for _, outside := range []struct {
		method, path string
		status       int
	}{{http.MethodGet, "/invoke", http.StatusMethodNotAllowed}, {http.MethodPost, "/pre-stop", http.StatusMethodNotAllowed}, {http.MethodPost, "/other", http.StatusNotFound}} {
		resp := do(outside.method, outside.path, nil, nil)
		assert.Equal(t, outside.status, resp.StatusCode, outside.path)
		assert.Equal(t, "404", resp.Header.Get(fcruntime.HeaderStatus), outside.path)
		var body fcruntime.ErrorBody
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body), outside.path)
		assert.Equal(t, fcruntime.ErrorTypeInvalidRequest, body.ErrorType, outside.path)
	}

	// A timeout that is not a whole number of seconds counts as unset.
	h.Set(fcruntime.HeaderFunctionTimeout, "soon")
	assert.Equal(t, http.StatusOK, do(http.MethodPost, "/invoke", h, strings.NewReader("x")).StatusCode)

	// An event over FC's limit fails cleanly, as an invalid event.
	big := bytes.Repeat([]byte{' '}, fcruntime.MaxPayloadBytes+1)
	resp = do(http.MethodPost, "/invoke", nil, bytes.NewReader(big))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "404", resp.Header.Get(fcruntime.HeaderStatus))
	var body fcruntime.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, fcruntime.ErrorTypeInvalidEvent, body.ErrorType)
	assert.Contains(t, body.ErrorMessage, "exceeds")
}

func TestInvokerRejectsAnswersOutsideTheProtocol(t *testing.T) {
	for name, answer := range map[string]func(w http.ResponseWriter){
		"no status header": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{}`)) },
		"not JSON": func(w http.ResponseWriter) {
			w.Header().Set(fcruntime.HeaderStatus, "200")
			_, _ = w.Write([]byte(`ok`))
		},
		"failure without a type": func(w http.ResponseWriter) {
			w.Header().Set(fcruntime.HeaderStatus, "404")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errorMessage":"x"}`))
		},
		"server error": func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { answer(w) }))
			defer srv.Close()
			_, err := (&fcruntime.Invoker{URL: srv.URL}).Invoke(t.Context(), fcruntime.Invocation{RequestID: "r"}, nil)
			require.Error(t, err)
			var ie *fcruntime.InvocationError
			assert.False(t, errors.As(err, &ie), "a protocol breach is no failure the function reported")
			assert.Contains(t, err.Error(), "invoking "+srv.URL)
		})
	}
}

func TestDeadlineIsTheTimeoutCappedByTheTrigger(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, start.Add(10*time.Second), fcruntime.Invocation{Timeout: 10 * time.Second}.Deadline(start))
	assert.Equal(t, start.Add(fcruntime.TriggerTimeLimit), fcruntime.Invocation{}.Deadline(start))
	assert.Equal(t, start.Add(fcruntime.TriggerTimeLimit), fcruntime.Invocation{Timeout: time.Hour}.Deadline(start))
}

func TestServeDrainsInvocationsInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context, fcruntime.Invocation, []byte) (string, error) {
		close(started)
		<-release
		return "done", nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- fcruntime.Serve(ctx, ln, fcruntime.NewHTTPHandler(slow, fcruntime.HTTPOptions{Logger: slog.New(slog.DiscardHandler)}))
	}()

	answered := make(chan error, 1)
	var result json.RawMessage
	go func() {
		var err error
		result, err = (&fcruntime.Invoker{URL: "http://" + ln.Addr().String()}).Invoke(t.Context(), fcruntime.Invocation{}, nil)
		answered <- err
	}()
	<-started
	stop() // as SIGTERM does: no new connections, the one in flight finishes
	close(release)
	require.NoError(t, <-answered)
	assert.JSONEq(t, `"done"`, string(result))
	require.NoError(t, <-served)
}

// TestInFlightPayloadBytesAreBounded holds invocations in flight and checks that one beyond
// the bound fails at once as InstanceBusy, while a lone invocation is always admitted.
func TestInFlightPayloadBytesAreBounded(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	held := func(_ context.Context, _ fcruntime.Invocation, payload []byte) (int, error) {
		started <- struct{}{}
		<-release
		return len(payload), nil
	}
	srv := httptest.NewServer(fcruntime.NewHTTPHandler(held, fcruntime.HTTPOptions{Logger: slog.New(slog.DiscardHandler), MaxInFlightBytes: 100}))
	defer srv.Close()
	invoker := &fcruntime.Invoker{URL: srv.URL}
	invoke := func(size int) error {
		_, err := invoker.Invoke(t.Context(), fcruntime.Invocation{}, make([]byte, size))
		return err
	}

	var wg sync.WaitGroup
	results := make(chan error, 2)
	for _, size := range []int{60, 40} { // together exactly at the bound
		wg.Go(func() { results <- invoke(size) })
		<-started
	}
	err := invoke(1)
	var ie *fcruntime.InvocationError
	require.ErrorAs(t, err, &ie, "100 bytes are in flight: one more byte passes the bound")
	assert.Equal(t, fcruntime.ErrorTypeInstanceBusy, ie.ErrorType)
	assert.Contains(t, ie.ErrorMessage, "100 payload bytes are in flight")
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		require.NoError(t, err)
	}
	require.NoError(t, invoke(150), "the bytes are released when the invocations end, and a lone invocation passes whatever its size")
}

// TestPayloadsArriveWhole sends payloads of many sizes, with and without a Content-Length,
// one after the other, so that later ones reuse the buffers of earlier ones: each
// invocation sees its own payload, byte for byte.
func TestPayloadsArriveWhole(t *testing.T) {
	var got []byte
	fn := func(_ context.Context, _ fcruntime.Invocation, payload []byte) (int, error) {
		got = bytes.Clone(payload)
		return len(payload), nil
	}
	h := fcruntime.NewHTTPHandler(fn, fcruntime.HTTPOptions{Logger: slog.New(slog.DiscardHandler)})
	for _, size := range []int{100_000, 3, 0, 70_000, 5 << 20, 512, 100_001} {
		payload := bytes.Repeat([]byte{byte(size)}, size)
		payload = append(payload, "end"...)
		for _, known := range []bool{true, false} {
			var body io.Reader = bytes.NewReader(payload)
			if !known {
				body = io.MultiReader(body) // hides the length from net/http
			}
			req := httptest.NewRequest(http.MethodPost, "/invoke", body)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Equal(t, payload, got, "%d bytes, length known: %v", len(payload), known)
		}
	}
}
