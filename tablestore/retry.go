package tablestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// The retry policy: exponential backoff with full jitter ("Exponential Backoff And Jitter",
// AWS Architecture Blog, 2015), bounded by the context's deadline. The SDK's own retry loop is
// switched off (see [NewClient]) so that this one, which knows the deadline, decides alone.
const (
	// retryBase is the backoff ceiling before the first retry; it doubles with each retry.
	retryBase = 20 * time.Millisecond
	// retryCap bounds the backoff ceiling.
	retryCap = time.Second
	// deadlineMargin is kept free before the context's deadline, for the caller to report
	// the outcome before Function Compute cuts the invocation off.
	deadlineMargin = 500 * time.Millisecond
	// defaultBudget bounds the retries of a call whose context has no deadline: the
	// Tablestore trigger's limit on one function execution (1 minute, Function Compute
	// "Tablestore triggers" documentation).
	defaultBudget = time.Minute
)

// backoffPolicy computes retry pauses and decides whether another attempt fits before a
// deadline. It is pure apart from jitter, which tests replace.
type backoffPolicy struct {
	// base is the first pause ceiling; cap bounds every ceiling.
	base, cap time.Duration
	// margin is kept free before the deadline.
	margin time.Duration
	// jitter returns a uniform random number in [0, n) for n > 0.
	jitter func(n int64) int64
}

// defaultPolicy is the policy of every call.
var defaultPolicy = backoffPolicy{base: retryBase, cap: retryCap, margin: deadlineMargin, jitter: rand.Int64N}

// pause returns the wait before retry number retry (0 for the first retry): uniform in
// [0, min(cap, base·2^retry)] ("full jitter").
func (p backoffPolicy) pause(retry int) time.Duration {
	ceiling := p.base
	for i := 0; i < retry && ceiling < p.cap; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.cap)
	return time.Duration(p.jitter(int64(ceiling) + 1))
}

// fits reports whether an attempt that starts after pause and takes as long as the last one
// (attempt) would end by deadline minus the margin.
func (p backoffPolicy) fits(now, deadline time.Time, pause, attempt time.Duration) bool {
	return !now.Add(pause + attempt).After(deadline.Add(-p.margin))
}

// retrier runs the attempts of one request (or of one chunk of rows) under a backoffPolicy
// and counts the retries.
type retrier struct {
	policy   backoffPolicy
	deadline time.Time
	retries  int
}

// newRetrier bounds retries by ctx's deadline, or by defaultBudget from now if ctx has none.
func newRetrier(ctx context.Context) *retrier {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultBudget)
	}
	return &retrier{policy: defaultPolicy, deadline: deadline}
}

// run calls attempt until it succeeds (both results nil) or fails for good (a non-nil
// err), waiting between attempts that report a retryable failure (a non-nil retry). It stops
// with an error wrapping [ErrDeadline] and the last failure when the next attempt could not
// end before the deadline, and with ctx's error and the last failure when ctx ends.
func (r *retrier) run(ctx context.Context, attempt func() (retry, err error)) error {
	for {
		start := time.Now()
		retry, err := attempt()
		if err != nil || retry == nil {
			return err
		}
		if err := r.wait(ctx, time.Since(start), retry); err != nil {
			return err
		}
	}
}

// wait sleeps the pause before the next retry, given how long the last attempt took and why
// it failed.
func (r *retrier) wait(ctx context.Context, attempt time.Duration, cause error) error {
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("tablestore: %w (after %d retries); last error: %w", err, r.retries, cause)
	}
	pause := r.policy.pause(r.retries)
	if !r.policy.fits(time.Now(), r.deadline, pause, attempt) {
		return fmt.Errorf("%w (after %d retries); last error: %w", ErrDeadline, r.retries, cause)
	}
	timer := time.NewTimer(pause)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("tablestore: %w (after %d retries); last error: %w", context.Cause(ctx), r.retries, cause)
	case <-timer.C:
	}
	r.retries++
	return nil
}

// classify sorts the error of a whole request (op on table) into retryable (first result)
// or permanent (second result), naming the operation and the table in both.
func classify(op, table string, err error) (retry, permanent error) {
	if err == nil {
		return nil, nil
	}
	err = fmt.Errorf("tablestore: %s on table %q: %w", op, table, err)
	if Retryable(err) {
		return err, nil
	}
	return nil, err
}

// Retryable reports whether err, the error of a Tablestore SDK call, is transient: an
// [*sdk.OtsError] whose code the service uses for conditions that pass (busy partitions,
// throttling, timeouts; see retryableCode), or a *url.Error, a request that did not complete
// (connection refused or reset, a timeout, a cancelled context), which the SDK returns as
// net/http gave it.
func Retryable(err error) bool {
	var otsErr *sdk.OtsError
	if errors.As(err, &otsErr) {
		return retryableCode(otsErr.Code, otsErr.Message)
	}
	var urlErr *url.Error
	return errors.As(err, &urlErr)
}

// retryableCode reports whether a Tablestore error code, for a whole request or one row, is
// transient. These are the codes the SDK retries for any action (api.go retryNotMatterActions)
// plus the ones it retries only for reads (OTSTimeout, OTSInternalServerError,
// OTSServerUnavailable): every write this package sends is idempotent (PutRow and DeleteRow
// with IGNORE, UpdateRow setting the same cells), so it may repeat them too.
func retryableCode(code, message string) bool {
	switch code {
	case "OTSRowOperationConflict", "OTSNotEnoughCapacityUnit", "OTSTableNotReady",
		"OTSPartitionUnavailable", "OTSServerBusy", "OTSStorageServerBusy",
		"OTSTimeout", "OTSInternalServerError", "OTSServerUnavailable":
		return true
	case "OTSQuotaExhausted":
		return message == quotaTooFrequentMessage
	}
	return false
}
