package tablestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// policyWithJitter is the default policy with a deterministic jitter.
func policyWithJitter(jitter func(n int64) int64) backoffPolicy {
	p := defaultPolicy
	p.jitter = jitter
	return p
}

// highestJitter always picks the top of the range, so pause returns the ceiling.
func highestJitter(n int64) int64 { return n - 1 }

// noJitter always picks 0: no waiting at all.
func noJitter(int64) int64 { return 0 }

func TestBackoffCeilingDoublesUpToTheCap(t *testing.T) {
	p := policyWithJitter(highestJitter)
	want := []time.Duration{20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	for retry, ms := range want {
		assert.Equal(t, ms*time.Millisecond, p.pause(retry), "retry %d", retry)
	}
	assert.Equal(t, time.Second, p.pause(1000), "no overflow for a large retry count")
}

func TestBackoffIsFullJitter(t *testing.T) {
	var asked []int64
	p := policyWithJitter(func(n int64) int64 {
		asked = append(asked, n)
		return n / 2
	})
	assert.Equal(t, 10*time.Millisecond, p.pause(0))
	assert.Equal(t, 500*time.Millisecond, p.pause(10))
	assert.Equal(t, []int64{int64(20*time.Millisecond) + 1, int64(time.Second) + 1}, asked,
		"the pause is drawn from [0, ceiling], inclusive")
	assert.Equal(t, time.Duration(0), policyWithJitter(noJitter).pause(5))
}

func TestBackoffFitsOnlyAttemptsEndingBeforeTheMargin(t *testing.T) {
	p := defaultPolicy
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	deadline := now.Add(10 * time.Second)
	// 10 s - 0.5 s margin leaves 9.5 s for the pause and the attempt.
	assert.True(t, p.fits(now, deadline, time.Second, 8500*time.Millisecond), "ends exactly at deadline - margin")
	assert.False(t, p.fits(now, deadline, time.Second, 8500*time.Millisecond+time.Nanosecond))
	assert.False(t, p.fits(now, deadline, 0, 9600*time.Millisecond), "a slow last attempt predicts a slow next one")
	assert.False(t, p.fits(deadline, deadline, 0, 0), "nothing fits at the deadline")
	assert.True(t, p.fits(now, deadline, 0, 0))
}

var errBusy = errors.New("busy")

func TestRetrierRunRetriesUntilSuccess(t *testing.T) {
	r := newRetrier(t.Context())
	r.policy = policyWithJitter(noJitter)
	attempts := 0
	err := r.run(t.Context(), func() (error, error) {
		attempts++
		if attempts < 4 {
			return errBusy, nil
		}
		return nil, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, attempts)
	assert.Equal(t, 3, r.retries)
}

func TestRetrierRunStopsOnPermanentError(t *testing.T) {
	r := newRetrier(t.Context())
	permanent := errors.New("OTSParameterInvalid")
	attempts := 0
	err := r.run(t.Context(), func() (error, error) {
		attempts++
		return nil, permanent
	})
	assert.Same(t, permanent, err)
	assert.Equal(t, 1, attempts)
	assert.Zero(t, r.retries)
}

func TestRetrierGivesUpWhenTheDeadlineLeavesNoTime(t *testing.T) {
	// The deadline is inside the safety margin: no retry can fit, so none is made.
	ctx, cancel := context.WithTimeout(t.Context(), deadlineMargin/2)
	defer cancel()
	r := newRetrier(ctx)
	attempts := 0
	err := r.run(ctx, func() (error, error) {
		attempts++
		return fmt.Errorf("BatchWriteRow: %w", errBusy), nil
	})
	require.ErrorIs(t, err, ErrDeadline)
	assert.ErrorIs(t, err, errBusy, "the last failure is wrapped too")
	assert.Contains(t, err.Error(), "busy")
	assert.Equal(t, 1, attempts)
	assert.Zero(t, r.retries)
}

func TestRetrierStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := newRetrier(ctx)
	err := r.run(ctx, func() (error, error) {
		cancel()
		return errBusy, nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errBusy)
}

func TestRetrierWithoutDeadlineUsesTheTriggerLimit(t *testing.T) {
	before := time.Now()
	r := newRetrier(context.Background())
	assert.WithinRange(t, r.deadline, before.Add(defaultBudget), time.Now().Add(defaultBudget))
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"server busy", &sdk.OtsError{Code: "OTSServerBusy", Message: "Server is busy."}, true},
		{"row conflict", &sdk.OtsError{Code: "OTSRowOperationConflict"}, true},
		{"not enough CU", &sdk.OtsError{Code: "OTSNotEnoughCapacityUnit"}, true},
		{"table not ready", &sdk.OtsError{Code: "OTSTableNotReady"}, true},
		{"partition unavailable", &sdk.OtsError{Code: "OTSPartitionUnavailable"}, true},
		{"storage busy", &sdk.OtsError{Code: "OTSStorageServerBusy"}, true},
		{"timeout", &sdk.OtsError{Code: "OTSTimeout"}, true},
		{"internal", &sdk.OtsError{Code: "OTSInternalServerError"}, true},
		{"unavailable", &sdk.OtsError{Code: "OTSServerUnavailable"}, true},
		{"too frequent", &sdk.OtsError{Code: "OTSQuotaExhausted", Message: "Too frequent table operations."}, true},
		{"table quota", &sdk.OtsError{Code: "OTSQuotaExhausted", Message: "Number of tables exceeded the quota."}, false},
		{"no table", &sdk.OtsError{Code: "OTSObjectNotExist"}, false},
		{"bad parameter", &sdk.OtsError{Code: "OTSParameterInvalid"}, false},
		{"auth", &sdk.OtsError{Code: "OTSAuthFailed"}, false},
		{"network", &url.Error{Op: "Post", URL: "http://127.0.0.1:1/BatchWriteRow", Err: errors.New("connection refused")}, true},
		{"local", errors.New("[tablestore] invalid input"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			retry, permanent := classify("BatchWriteRow", "result", tc.err)
			got := retry
			if !tc.retryable {
				assert.Nil(t, retry)
				got = permanent
			} else {
				assert.Nil(t, permanent)
			}
			require.ErrorIs(t, got, tc.err)
			assert.Contains(t, got.Error(), `BatchWriteRow on table "result"`)
		})
	}
	retry, permanent := classify("BatchWriteRow", "result", nil)
	assert.NoError(t, retry)
	assert.NoError(t, permanent)
}
