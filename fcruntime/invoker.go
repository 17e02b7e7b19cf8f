package fcruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxResponseBytes bounds the response body Invoke reads.
const maxResponseBytes = 1 << 20

// Invoker invokes a function served under the custom-runtime HTTP protocol, as FC does:
// POST {URL}/invoke with the event as an application/octet-stream body and the invocation's
// x-fc-* headers. It is the client side of [NewHTTPHandler], used by the local tools.
type Invoker struct {
	// URL is the function's base URL, e.g. "http://127.0.0.1:9000".
	URL string
	// HTTPClient sends the requests; nil means http.DefaultClient, which has no timeout of
	// its own (the context bounds each invocation).
	HTTPClient *http.Client
}

// InvocationError is a failed invocation as the function reported it: HTTP 404 with
// x-fc-status: 404 and an [ErrorBody].
type InvocationError struct {
	ErrorBody
}

// Error returns "<errorType>: <errorMessage>".
func (e *InvocationError) Error() string { return e.ErrorType + ": " + e.ErrorMessage }

// Invoke sends one invocation and returns the function's result, the JSON body of a
// successful response (at most 1 MiB is read). A failure the function reported is an
// [*InvocationError]; anything else (a refused connection, a response that does not follow
// the protocol) is a plain error naming the URL.
func (c *Invoker) Invoke(ctx context.Context, inv Invocation, payload []byte) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/invoke", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(HeaderControlPath, "/invoke")
	inv.setHeaders(req.Header)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("invoking %s: reading the response: %w", c.URL, err)
	}
	status := resp.Header.Get(HeaderStatus)
	switch {
	case resp.StatusCode == http.StatusOK && status == "200":
		if !json.Valid(body) {
			return nil, fmt.Errorf("invoking %s: the result is not JSON: %q", c.URL, body)
		}
		return body, nil
	case resp.StatusCode == http.StatusNotFound && status == "404":
		var e InvocationError
		if err := json.Unmarshal(body, &e.ErrorBody); err != nil || e.ErrorType == "" {
			return nil, fmt.Errorf("invoking %s: failed with a body that is not {errorMessage, errorType}: %q", c.URL, body)
		}
		return nil, &e
	}
	return nil, fmt.Errorf("invoking %s: unexpected response: HTTP %d, %s: %q, body %q", c.URL, resp.StatusCode, HeaderStatus, status, body)
}
