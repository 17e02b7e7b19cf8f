package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otsetl/otsetl/tablestore"
)

// Invoker invokes a function served under the custom-runtime HTTP protocol, as FC does:
// POST {URL}/invoke with the event as an application/octet-stream body and the invocation's
// x-fc-* headers. It is the client side of [NewHTTPHandler], used by local replay.
type Invoker struct {
	// URL is the function's base URL, e.g. "http://127.0.0.1:9000".
	URL string
	// HTTPClient sends the requests; nil means a client with no timeout of its own (the
	// context bounds each invocation).
	HTTPClient *http.Client
}

// Invocation is what FC sends with an event besides the payload.
type Invocation struct {
	// RequestID is sent as x-fc-request-id.
	RequestID string
	// Credentials are sent as x-fc-access-key-id, x-fc-access-key-secret and x-fc-security-token.
	Credentials tablestore.Credentials
	// Timeout, when positive, is sent as x-fc-function-timeout in whole seconds.
	Timeout time.Duration
	// FunctionName, when set, is sent as x-fc-function-name.
	FunctionName string
	// Region, when set, is sent as x-fc-region, e.g. "cn-hangzhou".
	Region string
	// AccountID, when set, is sent as x-fc-account-id.
	AccountID string
}

// InvocationError is a failed invocation as the function reported it: HTTP 404 with
// x-fc-status: 404 and an [ErrorBody].
type InvocationError struct {
	ErrorBody
}

// Error returns "<errorType>: <errorMessage>".
func (e *InvocationError) Error() string { return e.ErrorType + ": " + e.ErrorMessage }

// Invoke sends one invocation and returns the function's [Summary]. A failure the function
// reported is an [*InvocationError]; anything else (a refused connection, a response that
// does not follow the protocol) is a plain error.
func (c *Invoker) Invoke(ctx context.Context, inv Invocation, payload []byte) (Summary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/invoke", bytes.NewReader(payload))
	if err != nil {
		return Summary{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(HeaderControlPath, "/invoke")
	req.Header.Set(HeaderRequestID, inv.RequestID)
	req.Header.Set(HeaderAccessKeyID, inv.Credentials.AccessKeyID)
	req.Header.Set(HeaderAccessKeySecret, inv.Credentials.AccessKeySecret)
	if inv.Credentials.SecurityToken != "" {
		req.Header.Set(HeaderSecurityToken, inv.Credentials.SecurityToken)
	}
	if inv.Timeout > 0 {
		req.Header.Set(HeaderFunctionTimeout, strconv.Itoa(int(inv.Timeout/time.Second)))
	}
	for header, value := range map[string]string{HeaderFunctionName: inv.FunctionName, HeaderRegion: inv.Region, HeaderAccountID: inv.AccountID} {
		if value != "" {
			req.Header.Set(header, value)
		}
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Summary{}, fmt.Errorf("invoking %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Summary{}, fmt.Errorf("invoking %s: reading the response: %w", c.URL, err)
	}
	status := resp.Header.Get(HeaderStatus)
	switch {
	case resp.StatusCode == http.StatusOK && status == "200":
		var sum Summary
		if err := json.Unmarshal(body, &sum); err != nil {
			return Summary{}, fmt.Errorf("invoking %s: the summary is not JSON: %w", c.URL, err)
		}
		return sum, nil
	case resp.StatusCode == http.StatusNotFound && status == "404":
		var e InvocationError
		if err := json.Unmarshal(body, &e.ErrorBody); err != nil || e.ErrorType == "" {
			return Summary{}, fmt.Errorf("invoking %s: failed with a body that is not {errorMessage, errorType}: %q", c.URL, body)
		}
		return Summary{}, &e
	}
	return Summary{}, fmt.Errorf("invoking %s: unexpected response: HTTP %d, %s: %q, body %q", c.URL, resp.StatusCode, HeaderStatus, status, body)
}
