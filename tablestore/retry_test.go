package tablestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	r := newRetrier(t.Context())
	interval := retryInterval
	for retry := range 12 {
		pause := r.backOff.NextBackOff()
		assert.GreaterOrEqual(t, pause, interval/2, "retry %d", retry)
		assert.LessOrEqual(t, pause, interval*3/2, "retry %d", retry)
		interval = min(2*interval, maxRetryInterval)
	}
}

func TestBackoffFitsOnlyAttemptsEndingBeforeTheMargin(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	deadline := now.Add(10 * time.Second)
	// 10 s - 0.5 s margin leaves 9.5 s for the pause and the attempt.
	assert.True(t, fits(now, deadline, time.Second, 8500*time.Millisecond), "ends exactly at deadline - margin")
	assert.False(t, fits(now, deadline, time.Second, 8500*time.Millisecond+time.Nanosecond))
	assert.False(t, fits(now, deadline, 0, 9600*time.Millisecond), "a slow last attempt predicts a slow next one")
	assert.False(t, fits(deadline, deadline, 0, 0), "nothing fits at the deadline")
	assert.True(t, fits(now, deadline, 0, 0))
}

var errBusy = errors.New("busy")

func TestRetrierRunRetriesUntilSuccess(t *testing.T) {
	r := newRetrier(t.Context())
	r.backOff = &backoff.ZeroBackOff{}
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
