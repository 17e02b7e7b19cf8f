package modeltest

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/local/otslocal"
)

// FunctionFailureRate is the share of invocations a FlakyFunction of the tests fails.
const FunctionFailureRate = 0.1

// ErrorTypeInjected is the errorType of the failures a FlakyFunction answers.
const ErrorTypeInjected = "InjectedFailure"

// StreamFaults injects 20% faults, 4% of each kind (OTSServerBusy, OTSPartitionUnavailable,
// OTSRowOperationConflict, a dropped connection after the request was applied, single rows
// failing), into the requests of every action the function sends (BatchWriteRow,
// BatchGetRow) and the trigger sends while it reads (ListStream, DescribeStream,
// GetShardIterator, GetStreamRecord, which have no rows to fail, so 16%).
//
// A test's own requests meet none: the source writes (PutRow, UpdateRow, DeleteRow) must
// apply exactly once for the model to stay exact, and the scans (GetRange) must see the
// tables as they are.
func StreamFaults(seed uint64) otslocal.Faults {
	rates := otslocal.FaultRates{ServerBusy: 0.04, PartitionUnavailable: 0.04, RowOperationConflict: 0.04, DropConnection: 0.04, RowFailure: 0.04}
	perOperation := map[string]otslocal.FaultRates{}
	for _, action := range []string{"BatchWriteRow", "BatchGetRow", "ListStream", "DescribeStream", "GetShardIterator", "GetStreamRecord"} {
		perOperation[action] = rates
	}
	return otslocal.Faults{Seed: int64(seed), PerOperation: perOperation}
}

// FlakyFunction serves a function and fails a seeded random share of its invocations, as
// a function instance that crashes does: half of the failures are answered as a failed
// invocation (404, x-fc-status: 404 and an {errorMessage, errorType} body with
// ErrorTypeInjected) without running the function; the other half run it and then close
// the connection without an answer, so the trigger redelivers a batch whose writes have
// landed. Invocations arrive concurrently from the shards, so which ones fail depends on
// their order as well as on the seed.
type FlakyFunction struct {
	// Next serves the function.
	Next http.Handler
	// Rate is the share of invocations that fail.
	Rate float64
	// Rejected and Lost count the invocations answered as failed and those whose answer
	// was lost.
	Rejected, Lost *atomic.Int64
	// Random draws the fates.
	Random *rand.Rand

	mu sync.Mutex // guards Random
}

// The fates of an invocation.
const (
	invocationServed = iota
	invocationRejected
	invocationLost
)

// ServeHTTP serves one invocation, or fails it as the draw says.
func (f *FlakyFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch f.draw() {
	case invocationRejected:
		w.Header().Set(fcruntime.HeaderStatus, "404")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(fcruntime.ErrorBody{ErrorMessage: "injected failure before the function ran", ErrorType: ErrorTypeInjected})
	case invocationLost:
		f.Next.ServeHTTP(httptest.NewRecorder(), r)
		// net/http closes the connection without a response and logs nothing.
		panic(http.ErrAbortHandler)
	default:
		f.Next.ServeHTTP(w, r)
	}
}

// draw chooses the fate of the next invocation and counts it.
func (f *FlakyFunction) draw() int {
	f.mu.Lock()
	u := f.Random.Float64()
	f.mu.Unlock()
	switch {
	case u < f.Rate/2:
		f.Rejected.Add(1)
		return invocationRejected
	case u < f.Rate:
		f.Lost.Add(1)
		return invocationLost
	}
	return invocationServed
}

// FailureCounter is an http.RoundTripper that counts the requests without a 200 answer:
// for Tablestore, the failed requests.
type FailureCounter struct {
	// Next sends the requests.
	Next http.RoundTripper
	// Failures counts the requests that failed or were not answered 200.
	Failures *atomic.Int64
}

// RoundTrip sends req with Next and counts a failure or a status other than 200.
func (c *FailureCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.Next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.Failures.Add(1)
	}
	return resp, err
}
