package tablestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/cenkalti/backoff/v5"
	"github.com/otsetl/otsetl/keyrange"
	"github.com/otsetl/otsetl/ots"
)

// The retry policy: exponential backoff with jitter (cenkalti/backoff's ExponentialBackOff:
// each pause is the current interval ±50%, the interval doubling from retryInterval up to
// maxRetryInterval), bounded by the context's deadline. The SDK's own retry loop is switched
// off (see [NewClient]) so that this one, which knows the deadline, decides alone.
const (
	// retryInterval is the interval before the first retry; pauses are 10 to 30 ms.
	retryInterval = 20 * time.Millisecond
	// maxRetryInterval bounds the interval; pauses stay under 1.5 s.
	maxRetryInterval = time.Second
	// deadlineMargin is kept free before the context's deadline, for the caller to report
	// the outcome before Function Compute cuts the invocation off.
	deadlineMargin = 500 * time.Millisecond
	// defaultBudget bounds the retries of a call whose context has no deadline: a minute, as
	// long as the Tablestore trigger lets one invocation run.
	defaultBudget = time.Minute
)

// retrier runs the attempts of one request (or of one chunk of rows): it waits the next
// pause of its backOff between attempts, and stops when the next attempt could not end
// before the deadline less deadlineMargin. It counts the retries.
type retrier struct {
	backOff  backoff.BackOff
	deadline time.Time
	retries  int
}

// newRetrier bounds retries by ctx's deadline, or by defaultBudget from now if ctx has none.
func newRetrier(ctx context.Context) *retrier {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultBudget)
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.Multiplier, b.MaxInterval = retryInterval, 2, maxRetryInterval
	return &retrier{backOff: b, deadline: deadline}
}

// fits reports whether an attempt that starts after pause and takes as long as the last one
// (attempt) would end by deadline minus deadlineMargin.
func fits(now, deadline time.Time, pause, attempt time.Duration) bool {
	return !now.Add(pause + attempt).After(deadline.Add(-deadlineMargin))
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
	pause := r.backOff.NextBackOff()
	if pause == backoff.Stop || !fits(time.Now(), r.deadline, pause, attempt) {
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

// RangeAPI returns the client's GetRange for [keyrange.ReadPage]: every request signed with
// the client's credentials, bound to ctx, and retried as [Client.Write] retries (transient
// codes and network errors, with backoff, until ctx's deadline leaves no time:
// [ErrDeadline]). One RangeAPI serves the requests of one read, one after the other.
func (c *Client) RangeAPI(ctx context.Context) keyrange.API {
	return &rangeAPI{ctx: ctx, api: c.api(ctx), retrier: newRetrier(ctx)}
}

// rangeAPI is [Client.RangeAPI]'s GetRange.
type rangeAPI struct {
	ctx     context.Context
	api     *sdk.TableStoreClient
	retrier *retrier
}

// GetRange sends one GetRange request, again while it fails with a transient error.
func (r *rangeAPI) GetRange(req *sdk.GetRangeRequest) (*sdk.GetRangeResponse, error) {
	var resp *sdk.GetRangeResponse
	err := r.retrier.run(r.ctx, func() (retry, err error) {
		var callErr error
		resp, callErr = ots.CallSDK(func() (*sdk.GetRangeResponse, error) { return r.api.GetRange(req) })
		if callErr != nil && Retryable(callErr) {
			return callErr, nil
		}
		return nil, callErr
	})
	return resp, err
}
