package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/fcinvoke"
	"github.com/otsetl/otsetl/ops/splits"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/rangesync"
	"github.com/otsetl/otsetl/task"
)

// DefaultFunctionMemoryMB is the function memory a run on FC bills its invocations at when
// FCConfig.MemoryMB is 0: FC's default memorySize.
const DefaultFunctionMemoryMB = 512

// answerMargin is how much longer than a task's budget a run on FC waits for its answer
// (the SDK's read timeout): the function answers within the budget, and a cold start and the
// network take a few seconds more.
const answerMargin = 30 * time.Second

// FCConfig is where a run on FC sends its task invocations.
type FCConfig struct {
	// Endpoint is FC's endpoint of the account and region,
	// `https://<account>.<region>.fc.aliyuncs.com` (FC_ENDPOINT).
	Endpoint string
	// Function is the deployed function's name.
	Function string
	// MemoryMB is the function's memory (memorySize), in MB, for the billed time; 0 means
	// DefaultFunctionMemoryMB.
	MemoryMB int
}

// FCReport is what the task invocations of a run on FC did.
type FCReport struct {
	// Function is the function invoked.
	Function string `json:"function"`
	// Invocations counts the task invocations, FailedInvocations those that failed (and
	// were retried, or failed the run).
	Invocations       int `json:"invocations"`
	FailedInvocations int `json:"failedInvocations"`
	// Instances counts the function instances that answered (by FC_INSTANCE_ID).
	Instances int `json:"instances"`
	// InvocationMs is the sum of the invocations' durations, in ms: as the function
	// measured it for those that answered, as this machine waited for the others.
	InvocationMs int64 `json:"invocationMs"`
	// BilledGBSeconds is InvocationMs times the function's memory, in GB·s.
	BilledGBSeconds float64 `json:"billedGBSeconds"`
}

// String is "function otsetl: 12 invocations (1 failed) on 8 instances, 310.2 s, 155.1 GB·s".
func (r *FCReport) String() string {
	return fmt.Sprintf("function %s: %s invocations (%s failed) on %s instances, %.1f s, %.1f GB·s billed", r.Function,
		grouped(int64(r.Invocations)), grouped(int64(r.FailedInvocations)), grouped(int64(r.Instances)), float64(r.InvocationMs)/1000, r.BilledGBSeconds)
}

// fcRunner runs a run's tasks as task invocations of the deployed function.
type fcRunner struct {
	client      *fcinvoke.Client
	function    string
	memoryMB    int
	fingerprint string
	schema      []ots.PrimaryKeySchema
	options     task.SyncOptions
	merge       func(rangesync.Samples)

	mu           sync.Mutex // guards what follows
	invocations  int
	failed       int
	invocationMs int64
	instances    map[string]bool
}

// newFCRunner builds the runner of cfg's tasks on the function fc names, for a source table
// of primary key schema.
func newFCRunner(fc FCConfig, cfg Config, schema []ots.PrimaryKeySchema, budget time.Duration, merge func(rangesync.Samples)) (*fcRunner, error) {
	if fc.MemoryMB < 0 {
		return nil, configError("function memory %d MB: want a positive size", fc.MemoryMB)
	}
	client, err := fcinvoke.NewClient(fc.Endpoint, fc.Function, cfg.Credentials)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	if budget > time.Minute {
		return nil, configError("task budget %s: a task invocation runs at most a minute", budget)
	}
	return &fcRunner{
		client: client, function: fc.Function, memoryMB: max(fc.MemoryMB, 0), fingerprint: cfg.Function.Fingerprint(), schema: schema,
		options: task.SyncOptions{DryRun: cfg.DryRun, Show: cfg.Show}, merge: merge, instances: map[string]bool{},
	}, nil
}

// Run invokes the function with the task and records what it confirmed.
func (r *fcRunner) Run(ctx context.Context, t splits.Task, record func([]ots.PrimaryKeyColumn, Counts, bool) error) error {
	payload, err := json.Marshal(task.Task{
		Version: task.Version, Kind: task.KindSync, Fingerprint: r.fingerprint, PrimaryKey: task.SchemaOf(r.schema),
		Lower: ots.TextKey(t.Lower), Upper: ots.TextKey(t.Upper), After: textAfter(t.After),
		BudgetMs: t.Budget.Milliseconds(), Sync: &r.options,
	})
	if err != nil {
		return err
	}
	start := time.Now()
	out, err := r.client.Invoke(ctx, payload, t.Budget+answerMargin)
	if err != nil {
		r.count(time.Since(start).Milliseconds(), "", true)
		return err
	}
	result, after, err := task.ParseResult(out.Result, task.KindSync, r.schema)
	if err != nil {
		r.count(time.Since(start).Milliseconds(), "", true)
		return &badAnswerError{err: fmt.Errorf("%s, invocation %s: %w", r.client, out.RequestID, err)}
	}
	r.count(result.DurationMs, result.InstanceID, false)
	r.merge(result.Sync.Samples)
	return record(after, result.Sync.Counts, result.Done)
}

// textAfter is the text form of a task's After, absent when there is none.
func textAfter(after []ots.PrimaryKeyColumn) []ots.TextKeyColumn {
	if after == nil {
		return nil
	}
	return ots.TextKey(after)
}

// count counts one invocation of ms that instance answered, or that failed.
func (r *fcRunner) count(ms int64, instance string, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invocations++
	r.invocationMs += ms
	if failed {
		r.failed++
	}
	if instance != "" {
		r.instances[instance] = true
	}
}

// Retryable reports whether a task invocation that failed with err may succeed when sent
// again: FC's transient answers and function errors (fcinvoke.Retryable), but not the
// function's refusals of the task (it does not parse, its configuration is not the
// function's, no credentials) nor an answer that is not a task's result.
func (r *fcRunner) Retryable(err error) bool {
	var bad *badAnswerError
	if errors.As(err, &bad) {
		return false
	}
	return fcinvoke.Retryable(err, handler.ErrorTypeInvalidRequest, handler.ErrorTypeConfigurationMismatch, handler.ErrorTypeInvalidCredentials)
}

// Throttled reports whether FC refused the invocation at the function's instance limit
// (HTTP 429).
func (r *fcRunner) Throttled(err error) bool {
	return fcinvoke.StatusCode(err) == http.StatusTooManyRequests
}

// report is what the invocations did so far.
func (r *fcRunner) report() *FCReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	memory := r.memoryMB
	if memory == 0 {
		memory = DefaultFunctionMemoryMB
	}
	return &FCReport{Function: r.function, Invocations: r.invocations, FailedInvocations: r.failed, Instances: len(r.instances),
		InvocationMs: r.invocationMs, BilledGBSeconds: float64(r.invocationMs) / 1000 * float64(memory) / 1024}
}

// badAnswerError is an answer of the function that is not a task's result: another otsetl,
// or not otsetl, answered.
type badAnswerError struct{ err error }

// Error returns the cause's message.
func (e *badAnswerError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *badAnswerError) Unwrap() error { return e.err }
