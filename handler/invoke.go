package handler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/task"
)

// MaxDeadlineMargin is the most of an invocation's time kept free before its deadline, so
// that a failing invocation answers with its own error instead of being cut off by FC.
const MaxDeadlineMargin = 2 * time.Second

// DeadlineMargin is the margin kept before the deadline of an invocation that may run for
// budget: a fifth of it, at most MaxDeadlineMargin. So a function with a timeout of 1 s
// still has 800 ms to work, and one of 60 s has 58 s.
func DeadlineMargin(budget time.Duration) time.Duration {
	return min(MaxDeadlineMargin, budget/5)
}

// CapturedPayloadMessage is the message of the log line in which [Function.Invoke] captures a
// payload, when Config.CapturePayloads asks for it: one JSON line (log/slog's JSON handler)
// with requestId, payloadBytes and payload, the raw bytes in standard base64. `otsetl replay`
// replays a file of such lines.
const CapturedPayloadMessage = "payload captured"

// Invoke is the function as the runtimes serve it (a [fcruntime.Func]): a payload that is a
// task ([task.IsTask]) is run as [Function.RunTask] runs it, and answered with its
// [task.Result]; any other payload is a trigger event, answered with its [Summary]. For an
// event, it runs [Function.Process] on one invocation with the invocation's STS credentials, under the
// deadline min(ctx's, [fcruntime.Invocation.Deadline]) less [DeadlineMargin], and logs the
// outcome as one line. A panic becomes an ErrorTypeInternal error. The first
// Config.CapturePayloads payloads of the instance are written to the log before they are
// processed ([CapturedPayloadMessage]).
//
// The line is "invocation succeeded" (INFO) or "invocation failed" (ERROR, with errorType
// and error first), then payloadBytes, durationMs, and every [Summary] field under its JSON
// name ([Summary.LogValue]), each a top-level attribute so that a log query can filter and
// chart it; requestId names the invocation.
func (f *Function) Invoke(ctx context.Context, inv fcruntime.Invocation, payload []byte) (any, error) {
	if task.IsTask(payload) {
		return f.RunTask(ctx, inv, payload)
	}
	return f.invokeEvent(ctx, inv, payload)
}

// invokeEvent is Invoke for a trigger event.
func (f *Function) invokeEvent(ctx context.Context, inv fcruntime.Invocation, payload []byte) (sum Summary, err error) {
	start := f.now()
	deadline := inv.Deadline(start)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(-DeadlineMargin(deadline.Sub(start))))
	defer cancel()
	logger := f.logger.With(slog.String("requestId", inv.RequestID))
	if f.captured.Add(1) <= int64(f.cfg.CapturePayloads) {
		logger.LogAttrs(ctx, slog.LevelInfo, CapturedPayloadMessage, slog.Int("payloadBytes", len(payload)), slog.Any("payload", payload))
	}
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Type: ErrorTypeInternal, Err: fmt.Errorf("panic: %v", p)}
		}
		attrs := []slog.Attr{
			slog.Int("payloadBytes", len(payload)),
			slog.Int64("durationMs", f.now().Sub(start).Milliseconds()),
			slog.Any("", sum), // every field, each a top-level attribute
		}
		if err != nil {
			failure := []slog.Attr{slog.String("errorType", fcruntime.ErrorType(err)), slog.String("error", err.Error())}
			logger.LogAttrs(ctx, slog.LevelError, "invocation failed", append(failure, attrs...)...)
			return
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "invocation succeeded", attrs...)
	}()
	return f.Process(ctx, inv.Credentials, payload)
}
