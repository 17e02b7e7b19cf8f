package otslocal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Faults describes the failures a Server injects, for testing clients under faults:
// latency, the transient errors of the real service, per-row failures of batch requests
// and connections closed after a request was applied. The zero value injects none.
//
// The errors are the ones the service answers while a partition is split or moved, or a
// row is busy ("Why a few 500 errors occur when using Tablestore",
// https://www.alibabacloud.com/help/en/tablestore/support/why-do-5xx-related-errors-occur-when-i-use-tablestore,
// and https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes).
// The Go SDK retries every one of them for every action (tablestore/api.go,
// retryNotMatterActions), and it retries a connection closed without an answer
// (tablestore/api.go, getNextPause).
type Faults struct {
	// Seed seeds the one random source behind every choice: the same seed and the same
	// sequence of requests (one client at a time) inject the same faults. Every value,
	// 0 included, is a seed.
	Seed int64
	// Latency is added before every request is handled.
	Latency time.Duration
	// Jitter adds a further uniformly random delay in [0, Jitter) to every request.
	Jitter time.Duration
	// Default holds the rates of every action that PerOperation does not name.
	Default FaultRates
	// PerOperation holds the rates of single actions, by action name: the last segment of
	// the request path, e.g. "BatchWriteRow". Only implemented actions may be named.
	PerOperation map[string]FaultRates
}

// FaultRates are the probabilities, each in [0, 1], of the faults injected into the
// requests of one action. A request gets at most one of ServerBusy, PartitionUnavailable,
// RowOperationConflict and DropConnection, so these four add up to at most 1.
type FaultRates struct {
	// ServerBusy is the fraction of requests answered with 503 OTSServerBusy
	// "Server is busy." without being applied.
	ServerBusy float64
	// PartitionUnavailable is the fraction of requests answered with 503
	// OTSPartitionUnavailable "The partition is not available." without being applied.
	PartitionUnavailable float64
	// RowOperationConflict is the fraction of requests answered with 409
	// OTSRowOperationConflict "Data is being modified by the other request." without
	// being applied.
	RowOperationConflict float64
	// RowFailure is the fraction of the rows of a BatchWriteRow or BatchGetRow request
	// that fail alone with the per-row error OTSPartitionUnavailable "The partition is not
	// available." in an otherwise successful (HTTP 200) response, as when one of the
	// partitions a batch spans is being split. A failed BatchWriteRow row is not applied
	// (with is_atomic, no row is); a failed BatchGetRow row is not read. Other actions
	// have no rows to fail.
	RowFailure float64
	// DropConnection is the fraction of requests that are applied and then get their
	// connection closed with no response, so the client cannot know whether they were.
	DropConnection float64
}

// Errors injected into requests and rows, verbatim from the real service (see Faults).
var (
	errServerBusy           = &otsError{http.StatusServiceUnavailable, "OTSServerBusy", "Server is busy."}
	errPartitionUnavailable = &otsError{http.StatusServiceUnavailable, "OTSPartitionUnavailable", "The partition is not available."}
	errRowOperationConflict = &otsError{http.StatusConflict, "OTSRowOperationConflict", "Data is being modified by the other request."}
)

// errDropConnection tells serveHTTP to close the connection instead of answering.
var errDropConnection = errors.New("otslocal: connection dropped by fault injection")

// rateRoundingSlack lets request rates computed by division (1/3 + 1/3 + 1/3) add up to
// 1 despite rounding.
const rateRoundingSlack = 1e-9

// Validate reports the first invalid setting, as NewServer and SetFaults do: a negative
// latency or jitter, a rate outside [0, 1], request rates adding up to more than 1, or an
// action in PerOperation that the server does not implement. Nil means f is valid.
func (f Faults) Validate() error {
	if f.Latency < 0 || f.Jitter < 0 {
		return fmt.Errorf("otslocal: fault latency and jitter must not be negative, got %v and %v", f.Latency, f.Jitter)
	}
	if err := f.Default.validate(); err != nil {
		return fmt.Errorf("otslocal: default fault rates: %w", err)
	}
	for _, action := range slices.Sorted(maps.Keys(f.PerOperation)) {
		if _, ok := operations[action]; !ok {
			return fmt.Errorf("otslocal: fault rates for %q: not an action this server implements", action)
		}
		if err := f.PerOperation[action].validate(); err != nil {
			return fmt.Errorf("otslocal: fault rates for %s: %w", action, err)
		}
	}
	return nil
}

// ratesFor returns the rates of an action.
func (f Faults) ratesFor(action string) FaultRates {
	if rates, ok := f.PerOperation[action]; ok {
		return rates
	}
	return f.Default
}

// validate reports the first rate outside [0, 1], or request rates that add up to more
// than 1.
func (r FaultRates) validate() error {
	rates := []struct {
		name  string
		value float64
	}{
		{"server busy", r.ServerBusy},
		{"partition unavailable", r.PartitionUnavailable},
		{"row operation conflict", r.RowOperationConflict},
		{"row failure", r.RowFailure},
		{"drop connection", r.DropConnection},
	}
	for _, rate := range rates {
		if !(rate.value >= 0 && rate.value <= 1) { // also rejects NaN
			return fmt.Errorf("%s rate %v is outside [0, 1]", rate.name, rate.value)
		}
	}
	if sum := r.requestFaultSum(); sum > 1+rateRoundingSlack {
		return fmt.Errorf("server busy, partition unavailable, row operation conflict and drop connection rates add up to %v, more than 1", sum)
	}
	return nil
}

// requestFaultSum is the probability that a request gets a request-level fault.
func (r FaultRates) requestFaultSum() float64 {
	return r.ServerBusy + r.PartitionUnavailable + r.RowOperationConflict + r.DropConnection
}

// faultInjector draws the faults of every request and batch row from one seeded random
// source behind a mutex, so one client's request sequence meets the same faults each run.
type faultInjector struct {
	mu     sync.Mutex
	faults Faults
	random *rand.Rand
}

// newFaultInjector returns an injector of f, or f's validation error.
func newFaultInjector(f Faults) (*faultInjector, error) {
	fi := &faultInjector{}
	if err := fi.set(f); err != nil {
		return nil, err
	}
	return fi, nil
}

// set replaces the faults and restarts the random source from f.Seed; an invalid f
// changes nothing.
func (fi *faultInjector) set(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f.PerOperation = maps.Clone(f.PerOperation) // the caller may reuse its map
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.faults = f
	fi.random = rand.New(rand.NewPCG(uint64(f.Seed), 0))
	return nil
}

// SetFaults replaces the faults the server injects, from the next request on, and
// restarts the random source from f.Seed. Tests typically create their tables first and
// then switch faults on, and switch them off again with SetFaults(Faults{}). An invalid
// f (see FaultRates; also a negative Latency or Jitter, or an action in PerOperation the
// server does not implement) is an error and changes nothing. It is safe to call while
// requests are served.
func (s *Server) SetFaults(f Faults) error {
	return s.faults.set(f)
}

// requestFault is what happens to one request: a delay, then maybe an error.
type requestFault struct {
	delay time.Duration
	// err is errDropConnection (handle the request, then close the connection without
	// answering), another error (answer it instead of handling the request), or nil.
	err error
}

// draw chooses the fault of the next request of action.
func (fi *faultInjector) draw(action string) requestFault {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fault := requestFault{delay: fi.faults.Latency}
	if fi.faults.Jitter > 0 {
		fault.delay += time.Duration(fi.random.Int64N(int64(fi.faults.Jitter)))
	}
	rates := fi.faults.ratesFor(action)
	if rates.requestFaultSum() == 0 {
		return fault
	}
	u := fi.random.Float64()
	for _, outcome := range []struct {
		rate float64
		err  error
	}{
		{rates.ServerBusy, errServerBusy},
		{rates.PartitionUnavailable, errPartitionUnavailable},
		{rates.RowOperationConflict, errRowOperationConflict},
		{rates.DropConnection, errDropConnection},
	} {
		if u < outcome.rate {
			fault.err = outcome.err
			break
		}
		u -= outcome.rate
	}
	return fault
}

// inject runs handle, which serves one request of action, under the request's faults: it
// waits the latency, then answers an injected error without calling handle, or calls
// handle and returns errDropConnection in place of its answer, or returns handle's answer.
// A request whose client leaves during the latency is not handled and is dropped.
func (fi *faultInjector) inject(ctx context.Context, action string, handle func() ([]byte, error)) ([]byte, error) {
	fault := fi.draw(action)
	if err := sleep(ctx, fault.delay); err != nil {
		return nil, errDropConnection
	}
	switch fault.err {
	case nil:
		return handle()
	case errDropConnection:
		_, _ = handle() // applied; the client never gets the answer
	}
	return nil, fault.err
}

// rowFailure draws whether one row of a batch request of action fails alone, and returns
// the row's error or nil.
func (fi *faultInjector) rowFailure(action string) error {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	rate := fi.faults.ratesFor(action).RowFailure
	if rate > 0 && fi.random.Float64() < rate {
		return errPartitionUnavailable
	}
	return nil
}

// injectedRowFailure is the error injected into the next row of a batch request of
// action (BatchWriteRow or BatchGetRow), or nil.
func (st *store) injectedRowFailure(action string) error {
	if st.faults == nil {
		return nil
	}
	return st.faults.rowFailure(action)
}

// sleep waits for d, or until ctx ends, which is its error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// dropConnection closes the request's connection without a response; the client sees
// the connection end (EOF). A ResponseWriter that cannot be hijacked has its response
// aborted the net/http way instead.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close() // the client learns nothing either way
}
