// Package fcinvoke invokes a deployed function with Function Compute 3.0's InvokeFunction API
// (POST /2023-03-30/functions/{name}/invocations) through the official Go SDK,
// github.com/alibabacloud-go/fc-20230330/v4 (v4.4.0 and later: openapiutil.Config and
// dara.RuntimeOptions). It is how `otsetl sync --on-fc` sends its task invocations.
//
// A function error comes back as HTTP 200 with the x-fc-error-type header and a JSON body
// {errorMessage, errorType}: the SDK returns no error for it, so [Client.Invoke] reads the
// header and returns a [*FunctionError]. API errors (a 429 of the scaling limit, a 5xx, a
// refused signature) are the SDK's errors; [Retryable] sorts them. Sources: Function Compute
// API reference, InvokeFunction (2023-03-30); the SDK's client/client_context_func.go
// InvokeFunctionWithContext and darabonba-openapi's DoRequestWithCtx.
package fcinvoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	fc "github.com/alibabacloud-go/fc-20230330/v4/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/otsetl/otsetl/aliyun"
)

// HeaderErrorType is the response header of an invocation whose function failed: the
// errorType of its body.
const HeaderErrorType = "x-fc-error-type"

// connectTimeout bounds the TCP connect and TLS handshake of a request.
const connectTimeout = 5 * time.Second

// maxResultBytes bounds the result body Invoke reads.
const maxResultBytes = 16 << 20

// sdkClient is the HTTP client the SDK sends every request with (a [dara.HttpClient]): one
// http.Client that is never changed once made, over one transport that keeps connections
// for reuse, with the connect and TLS handshake bounded by connectTimeout. Without it the SDK
// shares a client of its own between every request to a host and sets that client's timeout
// on each request, while the others read it: a data race when invocations run at once. The
// read timeout is the request context's deadline instead ([Client.Invoke]).
type sdkClient struct{ http *http.Client }

// Call sends request; the SDK's transport for it, made for each request, is not used.
func (c sdkClient) Call(request *http.Request, _ *http.Transport) (*http.Response, error) {
	return c.http.Do(request)
}

// newSDKClient returns the HTTP client of a Client.
func newSDKClient() sdkClient {
	return sdkClient{http: &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: connectTimeout}).DialContext,
		TLSHandshakeTimeout: connectTimeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

// Client invokes one function. It is safe for concurrent use.
type Client struct {
	api      *fc.Client
	function string
	endpoint string
}

// NewClient returns a client of the function named function at endpoint, FC's endpoint of
// the account and region, `https://<account>.<region>.fc.aliyuncs.com` (or http:// and a host
// and port, such as a local FC's), signing with creds. It sends nothing. The error says what
// is wrong with the endpoint or the name.
func NewClient(endpoint, function string, creds aliyun.Credentials) (*Client, error) {
	checked, err := aliyun.CheckEndpoint(endpoint, "https://1234567890.cn-hangzhou.fc.aliyuncs.com")
	if err != nil {
		return nil, fmt.Errorf("FC %w", err)
	}
	u, _ := url.Parse(checked) // it parsed as a URL
	if function == "" {
		return nil, errors.New("no function name")
	}
	cfg := &openapiutil.Config{
		Endpoint:        dara.String(u.Host),
		Protocol:        dara.String(u.Scheme),
		AccessKeyId:     dara.String(creds.AccessKeyID),
		AccessKeySecret: dara.String(creds.AccessKeySecret),
		HttpClient:      newSDKClient(),
	}
	if creds.SecurityToken != "" {
		cfg.SecurityToken = dara.String(creds.SecurityToken)
	}
	api, err := fc.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("FC client: %w", err)
	}
	return &Client{api: api, function: function, endpoint: u.Scheme + "://" + u.Host}, nil
}

// String names the function and the endpoint.
func (c *Client) String() string { return fmt.Sprintf("function %s at %s", c.function, c.endpoint) }

// FunctionError is an invocation whose function failed: x-fc-error-type and the body's
// errorMessage.
type FunctionError struct {
	// ErrorType is the x-fc-error-type header (the body's errorType when the header is
	// empty), e.g. TablestoreError, InvalidRequest, UnhandledInvocationError.
	ErrorType string
	// Message is the body's errorMessage, or the body itself when it is not such JSON.
	Message string
	// RequestID is the invocation's x-fc-request-id.
	RequestID string
}

// Error returns "function error <type>: <message>".
func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.ErrorType, e.Message)
}

// Outcome is a successful invocation.
type Outcome struct {
	// Result is the function's result, the response body.
	Result []byte
	// RequestID is the invocation's x-fc-request-id; empty when FC sent none.
	RequestID string
}

// Invoke invokes the function synchronously (x-fc-invocation-type Sync) with payload and
// returns its result. It waits at most readTimeout for the answer, which must be longer
// than the function may run. A function error is a [*FunctionError]; anything else that
// failed (the API refused the invocation, the answer was lost or cut off) is the SDK's error
// or a plain one, naming the function.
func (c *Client) Invoke(ctx context.Context, payload []byte, readTimeout time.Duration) (Outcome, error) {
	req := &fc.InvokeFunctionRequest{Body: bytes.NewReader(payload)}
	headers := &fc.InvokeFunctionHeaders{XFcInvocationType: dara.String("Sync"), XFcLogType: dara.String("None")}
	runtime := &dara.RuntimeOptions{ // never nil: the SDK reads it
		ReadTimeout:    dara.Int(int(readTimeout.Milliseconds())),
		ConnectTimeout: dara.Int(int(connectTimeout.Milliseconds())),
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout+readTimeout) // the SDK's timeouts bind its own client only
	defer cancel()
	resp, err := c.api.InvokeFunctionWithContext(ctx, dara.String(c.function), req, headers, runtime)
	if err != nil {
		return Outcome{}, fmt.Errorf("InvokeFunction %s: %w", c.function, err)
	}
	var body []byte
	if resp.Body != nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxResultBytes))
		if closer, ok := resp.Body.(io.Closer); ok {
			_ = closer.Close()
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("InvokeFunction %s: reading the result: %w", c.function, err)
		}
	}
	requestID := header(resp.Headers, "x-fc-request-id")
	if errorType := header(resp.Headers, HeaderErrorType); errorType != "" {
		fe := &FunctionError{ErrorType: errorType, Message: string(body), RequestID: requestID}
		var parsed struct {
			ErrorMessage string `json:"errorMessage"`
			ErrorType    string `json:"errorType"`
		}
		if json.Unmarshal(body, &parsed) == nil && parsed.ErrorMessage != "" {
			fe.Message = parsed.ErrorMessage
		}
		return Outcome{}, fe
	}
	if status := dara.Int32Value(resp.StatusCode); status != 200 {
		return Outcome{}, fmt.Errorf("InvokeFunction %s: HTTP %d without %s: %q", c.function, status, HeaderErrorType, body)
	}
	return Outcome{Result: body, RequestID: requestID}, nil
}

// header returns the value of a response header, by its lower-case name.
func header(headers map[string]*string, name string) string {
	for k, v := range headers {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

// StatusCode is the HTTP status of an API error of the SDK (a *tea.SDKError), 0 for another
// error (one that got no answer).
func StatusCode(err error) int {
	var sdkErr *tea.SDKError
	if errors.As(err, &sdkErr) {
		return tea.IntValue(sdkErr.StatusCode)
	}
	return 0
}

// Retryable reports whether an invocation that failed with err may succeed when sent again:
// a function error other than a refusal of the task itself (errorTypes refused lists those),
// a 429 (the scaling limit) or a 5xx of the API, or no answer at all (a connection refused or
// reset, a timeout, an answer cut off). A 4xx other than 429 (a refused signature, a
// function that does not exist) is not.
func Retryable(err error, refused ...string) bool {
	var fe *FunctionError
	if errors.As(err, &fe) {
		for _, t := range refused {
			if fe.ErrorType == t {
				return false
			}
		}
		return true
	}
	switch status := StatusCode(err); {
	case status == 429 || status >= 500:
		return true
	case status >= 400:
		return false
	}
	var netErr net.Error
	var urlErr *url.Error
	return errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF")
}
