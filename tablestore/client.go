// Package tablestore is otsetl's Tablestore client: [Client.Write] writes [ots.RowChange]s
// with BatchWriteRow, encoded here byte for byte as the official Go SDK
// (github.com/aliyun/aliyun-tablestore-go-sdk/tablestore) encodes them, and [Client.Read]
// reads rows by primary key with BatchGetRow through the SDK. A [Client] is built per
// invocation from its STS credentials ([aliyun.Credentials]). Both calls retry what
// Tablestore reports as transient within the context's deadline, and cancelling the context
// aborts requests in flight. Why writes bypass the SDK: docs/design.md, "Writing".
package tablestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/otsetl/otsetl/aliyun"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// DefaultMaxConcurrentRequests is the number of BatchWriteRow or BatchGetRow requests one
// Write or Read keeps in flight when [Config.MaxConcurrentRequests] is 0.
const DefaultMaxConcurrentRequests = 4

// SDK settings, chosen so that a call fits in the Tablestore trigger's 1-minute limit on a
// function execution (Function Compute "Tablestore triggers" documentation). The SDK's
// defaults (tablestore/model.go NewDefaultTableStoreConfig: 30 s request, 15 s connection,
// 10 retries within 5 s) would let one stuck request eat half the minute.
const (
	// requestTimeout bounds one HTTP request, response body included. A 4 MB BatchWriteRow
	// inside the region takes well under a second; 10 s leaves room for several attempts
	// within the minute.
	requestTimeout = 10 * time.Second
	// connectionTimeout bounds the TCP connect and the TLS handshake: milliseconds inside
	// a VPC, so 3 s only fails an unreachable endpoint fast.
	connectionTimeout = 3 * time.Second
	// idleConnTimeout is the SDK's default: how long an unused connection stays pooled.
	idleConnTimeout = 25 * time.Second
	// maxIdleConnsPerHost keeps enough pooled connections for a few concurrent calls.
	maxIdleConnsPerHost = 16
)

// sharedTransport pools connections to Tablestore endpoints across clients, so that an
// invocation reuses the connections (and TLS sessions) of earlier ones. It holds no
// credentials: every request is signed on its own.
var sharedTransport = &http.Transport{
	DialContext:         (&net.Dialer{Timeout: connectionTimeout}).DialContext,
	TLSHandshakeTimeout: connectionTimeout,
	MaxIdleConnsPerHost: maxIdleConnsPerHost,
	IdleConnTimeout:     idleConnTimeout,
}

// Config says which Tablestore instance to use and how hard to drive it.
type Config struct {
	// Endpoint is the instance's URL, http or https, without a path: e.g.
	// "https://myinstance.cn-hangzhou.vpc.tablestore.aliyuncs.com" or "http://127.0.0.1:8800".
	Endpoint string
	// Instance is the instance name, sent in the x-ots-instancename header.
	Instance string
	// MaxConcurrentRequests bounds the BatchWriteRow or BatchGetRow requests that one Write
	// or Read has in flight. 0 means DefaultMaxConcurrentRequests; negative is an error.
	MaxConcurrentRequests int
}

// Client writes and reads one Tablestore instance with one invocation's credentials. It is
// safe for concurrent use. Formatting a Client (String, GoString) never shows the secret.
type Client struct {
	endpoint      string
	instance      string
	creds         aliyun.Credentials
	maxConcurrent int
}

// NewClient builds a client for one invocation from its credentials; build a new one for
// each invocation, since STS credentials expire. It returns an error when the endpoint is
// not an http(s) URL without a path, the instance is empty, or MaxConcurrentRequests is
// negative. It sends nothing.
//
// Requests time out after 10 s, connections after 3 s. The SDK's reads are configured with
// no retries of their own (RetryTimes 0, which also turns off its re-sending of failed batch
// rows, tablestore/api.go doBatchRequestWithRetry): this package retries, bounded by each
// call's context.
func NewClient(cfg Config, creds aliyun.Credentials) (*Client, error) {
	endpoint, err := CheckEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("tablestore: %w", err)
	}
	if cfg.Instance == "" {
		return nil, errors.New("tablestore: empty instance name")
	}
	maxConcurrent := cfg.MaxConcurrentRequests
	switch {
	case maxConcurrent < 0:
		return nil, fmt.Errorf("tablestore: MaxConcurrentRequests is %d; it must be 0 (default) or positive", maxConcurrent)
	case maxConcurrent == 0:
		maxConcurrent = DefaultMaxConcurrentRequests
	}
	return &Client{endpoint: endpoint, instance: cfg.Instance, creds: creds, maxConcurrent: maxConcurrent}, nil
}

// CheckEndpoint checks that endpoint is a Tablestore endpoint ([aliyun.CheckEndpoint]), e.g.
// "https://myinstance.cn-hangzhou.vpc.tablestore.aliyuncs.com", and returns it without a
// trailing slash (the SDK appends "/<Action>"), or an error quoting it.
func CheckEndpoint(endpoint string) (string, error) {
	return aliyun.CheckEndpoint(endpoint, "https://myinstance.cn-hangzhou.ots.aliyuncs.com")
}

// String describes the client without its secrets.
func (c *Client) String() string {
	return fmt.Sprintf("tablestore.Client{Endpoint:%s Instance:%s Credentials:%v}", aliyun.RedactEndpoint(c.endpoint), c.instance, c.creds)
}

// GoString describes the client without its secrets (the %#v form).
func (c *Client) GoString() string { return c.String() }

// api returns an SDK client whose every request is bound to ctx. The SDK builds its HTTP
// requests without a context (tablestore/api.go doRequest), so the binding is done by the
// transport; the SDK client is cheap, its connections are those of sharedTransport.
func (c *Client) api(ctx context.Context) *sdk.TableStoreClient {
	cfg := &sdk.TableStoreConfig{
		// No SDK retries: with RetryTimes 0 the SDK neither re-sends a failed request nor the
		// failed rows of a batch (api.go getNextPause, getPartitionFailedNextPause); the
		// retrier does both, knowing the deadline.
		RetryTimes: 0,
		// The SDK uses only RequestTimeout (the http.Client's timeout) when given a
		// Transport; sharedTransport applies connectionTimeout and idleConnTimeout.
		HTTPTimeout: sdk.HTTPTimeout{RequestTimeout: requestTimeout},
		Transport:   contextTransport{ctx: ctx, base: sharedTransport},
	}
	return sdk.NewClientWithConfig(c.endpoint, c.instance, c.creds.AccessKeyID, c.creds.AccessKeySecret, c.creds.SecurityToken, cfg)
}

// contextTransport sends each request under ctx as well as under the request's own context
// (which carries the http.Client's timeout): whichever ends first aborts the request.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(t.ctx)
	stop := context.AfterFunc(req.Context(), func() { cancel(context.Cause(req.Context())) })
	release := func() {
		stop()
		cancel(nil)
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases the request's context once the SDK has closed the response body.
type releasingBody struct {
	io.ReadCloser
	release func()
}

// Close closes the body, then releases the context.
func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
