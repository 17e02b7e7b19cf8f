package modeltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// Workers is how many workers run sequences in parallel: GOMAXPROCS, at most max.
func Workers(max int) int {
	return min(runtime.GOMAXPROCS(0), max)
}

// RunSequences runs sequences 0..sequences-1, which are independent (own tables, own
// function server), on workers parallel subtests of t; worker w runs sequences w,
// w+workers, … with run(t, w, n). A failure stops the other workers at their next
// sequence.
func RunSequences(t *testing.T, sequences, workers int, run func(t *testing.T, worker, n int)) {
	var failed atomic.Bool
	t.Run("sequences", func(t *testing.T) {
		for w := range workers {
			t.Run(fmt.Sprintf("worker%d", w), func(t *testing.T) {
				t.Parallel()
				defer func() {
					if t.Failed() {
						failed.Store(true)
					}
				}()
				for n := w; n < sequences && !failed.Load(); n += workers {
					run(t, w, n)
				}
			})
		}
	})
}

// RetrylessClient returns an official SDK client of the otslocal at endpoint, with
// otslocaltest's instance and credentials, that makes no retries of its own, so that every
// failed request reaches the caller (a test's finding, or a trigger's retry loop); when
// failures is set, it counts the requests that got no 200 answer.
func RetrylessClient(t *testing.T, endpoint string, failures *atomic.Int64) *sdk.TableStoreClient {
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	config := sdk.NewDefaultTableStoreConfig()
	config.RetryTimes = 0
	config.Transport = transport
	if failures != nil {
		config.Transport = &FailureCounter{Next: transport, Failures: failures}
	}
	creds := otslocaltest.Credentials
	return sdk.NewClientWithConfig(endpoint, otslocaltest.Instance, creds.AccessKeyID, creds.AccessKeySecret, creds.SecurityToken, config)
}

// CreateDeadLetterTable creates table, a sequence's dead-letter table, with the primary key
// the function writes dead letters with: a row the rule cannot compute is dead-lettered
// there, since it is not in the view.
func CreateDeadLetterTable(t *testing.T, srv *otslocaltest.Server, table string) {
	srv.CreateTable(t, otslocaltest.Table{Name: table, PrimaryKey: deadletter.Schema})
}

// DeleteTables drops a sequence's tables (otslocal holds at most 64 tables per instance).
// It runs deferred, possibly after a failure, so it reports errors without stopping the
// test.
func DeleteTables(t *testing.T, client *sdk.TableStoreClient, tables ...string) {
	for _, table := range tables {
		_, err := client.DeleteTable(&sdk.DeleteTableRequest{TableName: table})
		assert.NoError(t, err, "deleting table %s", table)
	}
}

// StartTrigger runs a trigger of cfg until the returned function is called; that stops it
// and reports an error of Run, or a trigger that did not stop within stopTimeout.
func StartTrigger(t *testing.T, cfg fclocal.Config, stopTimeout time.Duration) (*fclocal.Trigger, func()) {
	trigger, err := fclocal.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- trigger.Run(ctx) }()
	return trigger, func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "the trigger of %s", cfg.Table)
		case <-time.After(stopTimeout):
			t.Errorf("the trigger of %s did not stop within %s of its context's end", cfg.Table, stopTimeout)
		}
	}
}

// Invocations counts what a trigger reports of its invocation attempts by outcome: its
// Count is a fclocal.Config.OnInvocation, called concurrently from the shards. Read the
// counts once the triggers have stopped.
type Invocations struct {
	mu sync.Mutex
	// Succeeded counts the successful attempts, and Summary sums their summaries.
	Succeeded int
	Summary   handler.Summary
	// Rejected, Lost, TablestoreFailures, Busy and Killed count the failed attempts:
	// answered as failed by a FlakyFunction (ErrorTypeInjected), answer lost (the
	// connection closed), failed by the function with a Tablestore error, refused by a pool
	// of instances all busy (fcruntime.ErrorTypeInstanceBusy), cut off by the kill of the
	// pool's instance that ran it (fclocal.ErrorTypeUnhandled).
	Rejected, Lost, TablestoreFailures, Busy, Killed int
	// Unexpected lists the failed attempts of any other kind.
	Unexpected []string
}

// Failed is the number of failed attempts.
func (s *Invocations) Failed() int {
	return s.Rejected + s.Lost + s.TablestoreFailures + s.Busy + s.Killed + len(s.Unexpected)
}

// Count counts one invocation attempt by its outcome.
func (s *Invocations) Count(rep fclocal.InvocationReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var failure *fcruntime.InvocationError
	switch {
	case rep.Err == nil:
		var sum handler.Summary
		if err := json.Unmarshal(rep.Result, &sum); err != nil {
			s.Unexpected = append(s.Unexpected, fmt.Sprintf("shard %s, attempt %d: the result is not a summary: %v", rep.Shard, rep.Attempt, err))
			return
		}
		s.Succeeded++
		s.Summary.Add(sum)
	case errors.As(rep.Err, &failure) && failure.ErrorType == ErrorTypeInjected:
		s.Rejected++
	case errors.As(rep.Err, &failure) && failure.ErrorType == handler.ErrorTypeTablestore:
		s.TablestoreFailures++
	case errors.As(rep.Err, &failure) && failure.ErrorType == fcruntime.ErrorTypeInstanceBusy:
		s.Busy++
	case errors.As(rep.Err, &failure) && failure.ErrorType == fclocal.ErrorTypeUnhandled:
		s.Killed++
	case errors.Is(rep.Err, io.EOF):
		s.Lost++
	default:
		s.Unexpected = append(s.Unexpected, fmt.Sprintf("shard %s, attempt %d: %v", rep.Shard, rep.Attempt, rep.Err))
	}
}

// Merge adds o's counts to s.
func (s *Invocations) Merge(o *Invocations) {
	s.Succeeded += o.Succeeded
	s.Summary.Add(o.Summary)
	s.Rejected += o.Rejected
	s.Lost += o.Lost
	s.TablestoreFailures += o.TablestoreFailures
	s.Busy += o.Busy
	s.Killed += o.Killed
	s.Unexpected = append(s.Unexpected, o.Unexpected...)
}
