package handler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// testCreds are the invocations' STS credentials: otslocaltest's, whose secret and token no
// log line may show.
var testCreds = otslocaltest.Credentials

// discard is the logger of functions whose log lines no test reads.
var discard = slog.New(slog.DiscardHandler)

// serve serves fn under the custom-runtime protocol on 127.0.0.1 until the test ends and
// returns an invoker of it.
func serve(t *testing.T, fn *handler.Function) *fcruntime.Invoker {
	t.Helper()
	srv := httptest.NewServer(fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: discard}))
	t.Cleanup(srv.Close)
	return &fcruntime.Invoker{URL: srv.URL, HTTPClient: srv.Client()}
}

// invoke sends one invocation with invoker and decodes the function's summary.
func invoke(ctx context.Context, invoker *fcruntime.Invoker, inv fcruntime.Invocation, payload []byte) (handler.Summary, error) {
	result, err := invoker.Invoke(ctx, inv, payload)
	if err != nil {
		return handler.Summary{}, err
	}
	var sum handler.Summary
	err = json.Unmarshal(result, &sum)
	return sum, err
}

// newRetrylessServer starts otslocal with opts and returns it with an SDK client of it that
// makes no retries of its own: any error of the local server is a finding, not something to
// retry.
func newRetrylessServer(t *testing.T, opts otslocal.Options) (*otslocaltest.Server, *sdk.TableStoreClient) {
	t.Helper()
	srv := otslocaltest.NewServer(t, opts)
	return srv, modeltest.RetrylessClient(t, srv.Endpoint, nil)
}
