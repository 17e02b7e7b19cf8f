package fclocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/ops/streams"
)

// shardReader reads one shard and delivers its records, one batch at a time.
type shardReader struct {
	t      *Trigger
	s      *streams.Stream
	id     sdk.ShardId
	logger *slog.Logger

	// iter is the checkpoint's iterator: where the next read starts.
	iter sdk.ShardIterator
	// delivered is the checkpoint's sequence: the last record the function accepted (nil
	// before the first batch).
	delivered *streams.Sequence
	// resumeAfter is set after the iterator was re-created from the checkpoint's timestamp:
	// records up to it were delivered already and are skipped.
	resumeAfter *streams.Sequence
	// checkpointSeen: since re-creating the iterator, the checkpoint's own record was read
	// again, so nothing after it can have expired unread.
	checkpointSeen bool
	// failures counts consecutive failed Stream API requests, and waits paces their retries.
	failures int
	waits    *backoff.ExponentialBackOff
}

// readShard reads shard id from Config.Since until it is closed and fully read, or until ctx
// ends, invoking the function with every page of records.
func (t *Trigger) readShard(ctx context.Context, s *streams.Stream, id sdk.ShardId) {
	r := &shardReader{t: t, s: s, id: id, logger: t.logger.With(slog.String("shard", string(id))), waits: t.cfg.Backoff.start()}
	r.logger.Debug("reading shard")
	if !r.seek(ctx, streams.Position(t.cfg.Since)) {
		return
	}
	for {
		epoch := t.currentEpoch()
		p, err := s.Read(id, r.iter, int32(t.cfg.BatchSize))
		if err != nil {
			if !r.retryRead(ctx, err) {
				return
			}
			continue
		}
		r.succeeded()
		if batch := r.undelivered(p.Records); len(batch) > 0 {
			payload, err := encodeBatch(batch)
			if err != nil {
				r.logger.Error("encoding the batch failed; the shard stops here", slog.Any("error", err))
				return
			}
			if !r.deliver(ctx, batch, payload) {
				return
			}
		}
		if p.Next == nil {
			r.logger.Debug("shard closed and fully read")
			t.markFinished(id)
			return
		}
		r.iter = *p.Next
		if p.CaughtUp {
			t.markCaughtUp(id, epoch)
			if !t.pollWait(ctx, epoch) {
				return
			}
		}
	}
}

// seek points the iterator at the first record at or after from (µs), or at the oldest
// record when from is nil, retrying failures until ctx ends. A position that has expired
// falls back to the oldest record; when resuming after a checkpoint, undelivered then
// tells whether records were lost.
func (r *shardReader) seek(ctx context.Context, from *int64) bool {
	for {
		iter, err := r.s.Iterator(r.id, from)
		if err == nil {
			r.iter = iter
			r.succeeded()
			return true
		}
		if from != nil && streams.IsTrimmed(err) {
			r.logger.Warn("the shard no longer holds records from the requested time; reading from its oldest record",
				slog.Int64("fromMicros", *from), slog.Any("error", err))
			from = nil
			continue
		}
		if !r.backoff(ctx, "GetShardIterator", err) {
			return false
		}
	}
}

// retryRead handles a failed GetStreamRecord: an expired iterator is re-created from the
// checkpoint, anything else is retried after a backoff. It reports whether ctx is alive.
func (r *shardReader) retryRead(ctx context.Context, err error) bool {
	if !streams.IsTrimmed(err) {
		return r.backoff(ctx, "GetStreamRecord", err)
	}
	if r.delivered == nil {
		r.logger.Warn("shard iterator expired before any record was delivered; seeking again", slog.Any("error", err))
		return r.seek(ctx, streams.Position(r.t.cfg.Since))
	}
	r.logger.Warn("shard iterator expired; resuming after the checkpoint", slog.String("checkpoint", r.delivered.String()), slog.Any("error", err))
	from := r.delivered.Timestamp
	r.resumeAfter, r.checkpointSeen = r.delivered, false
	return r.seek(ctx, &from)
}

// backoff logs a failed Stream API request and waits before it is retried. It reports
// whether ctx is alive.
func (r *shardReader) backoff(ctx context.Context, op string, err error) bool {
	r.failures++
	r.logger.Warn(op+" failed; retrying", slog.Int("failures", r.failures), slog.Any("error", err))
	return sleep(ctx, r.waits.NextBackOff())
}

// succeeded notes that a Stream API request succeeded: the next failure is the first again.
func (r *shardReader) succeeded() {
	r.failures = 0
	r.waits.Reset()
}

// undelivered drops the records of a page that were delivered before the iterator was
// re-created, and logs an error when the records right after the checkpoint have expired.
func (r *shardReader) undelivered(records []streams.Record) []streams.Record {
	if r.resumeAfter == nil {
		return records
	}
	for i, rec := range records {
		switch c := rec.Sequence.Compare(*r.resumeAfter); {
		case c == 0:
			r.checkpointSeen = true
		case c > 0:
			if !r.checkpointSeen {
				r.logger.Error("records may have been lost to Stream expiration: the checkpoint's record has expired, so records after it may have too",
					slog.String("checkpoint", r.resumeAfter.String()), slog.String("resumedAt", rec.Sequence.String()))
			}
			r.resumeAfter = nil
			return records[i:]
		}
	}
	return nil
}

// deliver invokes the function with batch, encoded as payload, until it succeeds, then
// advances the checkpoint's sequence. It reports false when ctx ended first.
func (r *shardReader) deliver(ctx context.Context, batch []streams.Record, payload []byte) bool {
	waits := r.t.cfg.Backoff.start()
	last := batch[len(batch)-1].Sequence
	for attempt := 1; ; attempt++ {
		if err := r.invoke(ctx, batch, payload, attempt); err == nil {
			r.t.markAttempt(r.id, false, last, len(batch))
			r.delivered = &last
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.t.markAttempt(r.id, true, last, len(batch))
		if !sleep(ctx, waits.NextBackOff()) {
			return false
		}
	}
}

// invoke sends one invocation attempt with the batch's payload and reports it.
func (r *shardReader) invoke(ctx context.Context, batch []streams.Record, payload []byte, attempt int) error {
	cfg := r.t.cfg
	inv := fcruntime.Invocation{
		RequestID:    uuid.NewString(),
		Credentials:  cfg.Credentials,
		Timeout:      cfg.InvocationTimeout,
		FunctionName: cfg.FunctionName,
		Region:       cfg.Region,
		AccountID:    cfg.AccountID,
	}
	invocationCtx, cancel := context.WithTimeout(ctx, cfg.InvocationTimeout)
	start := time.Now()
	result, err := r.t.invoker.Invoke(invocationCtx, inv, payload)
	latency := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && errors.Is(invocationCtx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("invocation timed out after %s: %w", cfg.InvocationTimeout, err)
	}
	report := InvocationReport{
		Shard:          string(r.id),
		RequestID:      inv.RequestID,
		Records:        len(batch),
		FirstTimestamp: batch[0].Sequence.Timestamp,
		LastTimestamp:  batch[len(batch)-1].Sequence.Timestamp,
		Attempt:        attempt,
		Latency:        latency,
		Payload:        payload,
		Result:         result,
		Err:            err,
	}
	attrs := []any{slog.String("requestId", inv.RequestID), slog.Int("records", len(batch)), slog.Int("attempt", attempt), slog.Duration("latency", latency)}
	if err != nil {
		r.logger.Warn("invocation failed; retrying the same batch", append(attrs, slog.Any("error", err))...)
	} else {
		r.logger.Debug("invocation succeeded", attrs...)
	}
	if cfg.OnInvocation != nil {
		cfg.OnInvocation(report)
	}
	return err
}
