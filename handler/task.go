package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/rangesync"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/task"
)

// The errorType values of a failed task invocation, besides ErrorTypeInvalidCredentials,
// ErrorTypeTablestore and ErrorTypeInternal.
const (
	// ErrorTypeInvalidRequest: the payload is a task ([task.IsTask]) that does not parse, or
	// asks for what this function cannot do; nothing was read or written.
	ErrorTypeInvalidRequest = fcruntime.ErrorTypeInvalidRequest
	// ErrorTypeConfigurationMismatch: the task's fingerprint is not the function's own
	// ([Config.Fingerprint]): the sender expects other tables or another rule than the
	// function is deployed with. Nothing was read or written.
	ErrorTypeConfigurationMismatch = "ConfigurationMismatch"
)

// RunTask runs one task invocation: it parses the task ([task.Parse]; a task that does not
// parse fails with ErrorTypeInvalidRequest before anything is read or written), refuses a task
// whose fingerprint is not the function's own (ErrorTypeConfigurationMismatch), and, with
// ErrorTypeInvalidRequest, a sync task of an export-only function (no result table) and one
// whose primary key names a column the function's mapping computes
// (transform.Rule.CheckPrimaryKey: Tablestore would refuse every row), then syncs the
// task's range with the function's own tables and rule (package rangesync, the engine of
// `otsetl sync`) and answers with the last key confirmed and the counts. It takes keys for
// the task's budget, at most three quarters of the time to the invocation's deadline less
// [DeadlineMargin], then writes and confirms those it decided and answers, before that
// deadline (docs/design.md, "Task invocations"). It logs one line per task.
func (f *Function) RunTask(ctx context.Context, inv fcruntime.Invocation, payload []byte) (result *task.Result, err error) {
	start := f.now()
	logger := f.logger.With(slog.String("requestId", inv.RequestID))
	defer func() {
		if p := recover(); p != nil {
			result, err = nil, &Error{Type: ErrorTypeInternal, Err: fmt.Errorf("panic: %v", p)}
		}
		attrs := []slog.Attr{slog.Int("payloadBytes", len(payload)), slog.Int64("durationMs", f.now().Sub(start).Milliseconds())}
		if err != nil {
			failure := []slog.Attr{slog.String("errorType", fcruntime.ErrorType(err)), slog.String("error", err.Error())}
			logger.LogAttrs(ctx, slog.LevelError, "task failed", append(failure, attrs...)...)
			return
		}
		attrs = append(attrs, slog.Bool("done", result.Done), slog.Any("", result.Sync.Counts))
		logger.LogAttrs(ctx, slog.LevelInfo, "task succeeded", attrs...)
	}()
	t, err := task.Parse(payload)
	if err != nil {
		return nil, &Error{Type: ErrorTypeInvalidRequest, Err: err}
	}
	rule := f.rule.Config()
	if want := f.cfg.Fingerprint(); t.Fingerprint != want {
		return nil, &Error{Type: ErrorTypeConfigurationMismatch, Err: fmt.Errorf(
			"the task expects another configuration (fingerprint %.12s…) than the function runs with (%.12s…: instance %s, %s -> %s, dead letters %q, filter %q, columns %q): deploy the s.yaml the task was made from, or make the task from the deployed one",
			t.Fingerprint, want, f.cfg.Instance, f.cfg.SourceTable, f.cfg.ResultTable, f.cfg.DeadLetterTable, rule.Filter, rule.Columns)}
	}
	if f.cfg.ResultTable == "" {
		return nil, &Error{Type: ErrorTypeInvalidRequest, Err: fmt.Errorf("task: %s is empty: an export-only function keeps no result table to sync", EnvResultTable)}
	}
	if err := f.rule.CheckPrimaryKey(t.Schema()); err != nil {
		return nil, &Error{Type: ErrorTypeInvalidRequest, Err: fmt.Errorf("task: the source table's primary key does not go with the function's %s: %w", EnvColumns, err)}
	}
	if inv.Credentials.AccessKeyID == "" || inv.Credentials.AccessKeySecret == "" {
		return nil, &Error{Type: ErrorTypeInvalidCredentials, Err: errors.New("the invocation carries no access key: expected the x-fc-access-key-id and x-fc-access-key-secret headers (configure the function's role)")}
	}
	deadline := inv.Deadline(start)
	deadline = deadline.Add(-DeadlineMargin(deadline.Sub(start)))
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	client, err := tablestore.NewClient(tablestore.Config{Endpoint: f.cfg.Endpoint, Instance: f.cfg.Instance}, inv.Credentials)
	if err != nil {
		return nil, &Error{Type: ErrorTypeTablestore, Err: err}
	}
	cfg := rangesync.Config{
		Client: client, Rule: f.rule, PrimaryKey: t.Schema(),
		SourceTable: f.cfg.SourceTable, ResultTable: f.cfg.ResultTable, DeadLetterTable: f.cfg.DeadLetterTable,
		DryRun: t.Sync.DryRun, Show: t.Sync.Show,
	}
	stopAt := start.Add(min(time.Duration(t.BudgetMs)*time.Millisecond, deadline.Sub(start)*3/4))
	res, err := rangesync.Sync(ctx, cfg, t.Range(), rangesync.Options{StopAt: stopAt})
	if err != nil {
		return nil, &Error{Type: ErrorTypeTablestore, Err: fmt.Errorf("sync of the range after %s: %w", describeAfter(t.Range().After), err)}
	}
	result = &task.Result{
		Version: task.Version, Kind: t.Kind, Done: res.Done, DurationMs: f.now().Sub(start).Milliseconds(),
		InstanceID: f.cfg.InstanceID, Sync: &task.SyncResult{Counts: res.Counts, Samples: res.Samples},
	}
	if !res.Done {
		result.After = ots.TextKey(res.After)
	}
	return result, nil
}

// describeAfter describes where a range's work starts, for a message.
func describeAfter(after []ots.PrimaryKeyColumn) string {
	if after == nil {
		return "its start"
	}
	return "(" + ots.FormatPrimaryKey(after) + ")"
}
