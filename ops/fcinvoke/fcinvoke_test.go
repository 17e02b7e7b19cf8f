package fcinvoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/ops/fcinvoke"
)

// failure is the error of the test function: its errorType is that of a real function.
type failure struct{ message string }

func (f failure) Error() string     { return f.message }
func (f failure) ErrorType() string { return "TablestoreError" }

// echo is a function that answers its payload, fails on "fail", and holds its instance
// while release is open on "hold".
func echo(release <-chan struct{}, started chan<- struct{}) fcruntime.Func[json.RawMessage] {
	return func(ctx context.Context, inv fcruntime.Invocation, payload []byte) (json.RawMessage, error) {
		switch string(payload) {
		case `"fail"`:
			return nil, failure{"the table is gone"}
		case `"hold"`:
			started <- struct{}{}
			<-release
		}
		return json.RawMessage(append([]byte(nil), payload...)), nil
	}
}

// startAPI serves fclocal's InvokeFunction API for function "f" over one instance of echo.
func startAPI(t *testing.T, faults *fclocal.APIFaults) (url string, release chan struct{}, started chan struct{}) {
	return startAPIOver(t, 1, faults)
}

// startAPIOver is startAPI over up to instances instances.
func startAPIOver(t *testing.T, instances int, faults *fclocal.APIFaults) (url string, release chan struct{}, started chan struct{}) {
	t.Helper()
	release, started = make(chan struct{}), make(chan struct{}, 1)
	pool, err := fclocal.NewPool(fclocal.PoolConfig{MaxInstances: instances, Start: fclocal.HandlerInstances(func(string) http.Handler {
		return fcruntime.NewHTTPHandler(echo(release, started), fcruntime.HTTPOptions{})
	})})
	require.NoError(t, err)
	api, err := fclocal.NewFunctionAPI(fclocal.APIConfig{FunctionName: "f", Pool: pool, Faults: faults,
		Credentials: aliyun.Credentials{AccessKeyID: "sts", AccessKeySecret: "sts"}})
	require.NoError(t, err)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		pool.Close()
	})
	return srv.URL, release, started
}

var key = aliyun.Credentials{AccessKeyID: "ak", AccessKeySecret: "sk", SecurityToken: "token"}

// TestInvokeThroughTheOfficialSDK invokes fclocal's API through the official SDK: a result,
// a function error read from x-fc-error-type, a 429 at the instance limit, a function that
// does not exist, and a lost answer, each sorted as a retry would need.
func TestInvokeThroughTheOfficialSDK(t *testing.T) {
	url, release, started := startAPI(t, nil)
	client, err := fcinvoke.NewClient(url, "f", key)
	require.NoError(t, err)
	out, err := client.Invoke(t.Context(), []byte(`{"a":1}`), 10*time.Second)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(out.Result))
	assert.NotEmpty(t, out.RequestID)

	_, err = client.Invoke(t.Context(), []byte(`"fail"`), 10*time.Second)
	var fe *fcinvoke.FunctionError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, "TablestoreError", fe.ErrorType)
	assert.Equal(t, "the table is gone", fe.Message)
	assert.True(t, fcinvoke.Retryable(err))
	assert.False(t, fcinvoke.Retryable(err, "TablestoreError"), "a refused errorType is not retried")

	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := client.Invoke(context.Background(), []byte(`"hold"`), 10*time.Second)
		assert.NoError(t, err)
	})
	<-started
	_, err = client.Invoke(t.Context(), []byte(`{}`), 10*time.Second)
	assert.Equal(t, http.StatusTooManyRequests, fcinvoke.StatusCode(err), "%v", err)
	assert.True(t, fcinvoke.Retryable(err))
	close(release)
	wg.Wait()

	other, err := fcinvoke.NewClient(url, "nope", key)
	require.NoError(t, err)
	_, err = other.Invoke(t.Context(), []byte(`{}`), 10*time.Second)
	assert.Equal(t, http.StatusNotFound, fcinvoke.StatusCode(err), "%v", err)
	assert.ErrorContains(t, err, "FunctionNotFound")
	assert.False(t, fcinvoke.Retryable(err))

	lossy, _, _ := startAPI(t, &fclocal.APIFaults{LoseRate: 1, Random: rand.New(rand.NewPCG(1, 2))})
	client, err = fcinvoke.NewClient(lossy, "f", key)
	require.NoError(t, err)
	_, err = client.Invoke(t.Context(), []byte(`{}`), 10*time.Second)
	require.Error(t, err)
	assert.Zero(t, fcinvoke.StatusCode(err))
	assert.True(t, fcinvoke.Retryable(err), "a lost answer is retried: %v", err)
}

// TestNewClientRefusesBadEndpoints: an endpoint that is not a URL of FC is refused, its user
// information hidden.
func TestNewClientRefusesBadEndpoints(t *testing.T) {
	for _, endpoint := range []string{"", "1234.cn-hangzhou.fc.aliyuncs.com", "ftp://x", "https://x/path", "https://user:secret@x"} {
		_, err := fcinvoke.NewClient(endpoint, "f", key)
		assert.ErrorContains(t, err, "want an http:// or https:// URL", endpoint)
		assert.NotContains(t, err.Error(), "secret")
	}
	_, err := fcinvoke.NewClient("https://1234.cn-hangzhou.fc.aliyuncs.com", "", key)
	assert.ErrorContains(t, err, "no function name")
}

// TestConcurrentInvocationsOfOneClient: one client invokes from 8 goroutines at once, as
// `otsetl sync --on-fc --parallel 8` does; every answer is its own payload. Under the race
// detector this fails when requests share state the SDK changes on each request (its own
// default HTTP client, whose timeout it sets per request).
func TestConcurrentInvocationsOfOneClient(t *testing.T) {
	url, _, _ := startAPIOver(t, 8, nil)
	client, err := fcinvoke.NewClient(url, "f", key)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				payload := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				for {
					out, err := client.Invoke(t.Context(), []byte(payload), 10*time.Second)
					if fcinvoke.StatusCode(err) == http.StatusTooManyRequests {
						continue // an instance still busy with the previous one: FC's answer too
					}
					if assert.NoError(t, err) {
						assert.JSONEq(t, payload, string(out.Result))
					}
					break
				}
			}
		})
	}
	wg.Wait()
}
