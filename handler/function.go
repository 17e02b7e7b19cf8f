// Package handler is the otsetl function: it turns one Tablestore trigger invocation into
// result-table writes.
//
// [Function.Process] is the whole job for one payload: decode the event (package events),
// plan one mutation per primary key (package transform), read the source rows the plan
// cannot decide alone, and write the result table and dead letters (package tablestore).
// It holds no rules of its own. [Function.Invoke] is the same job as the runtimes serve it
// (package fcruntime): with the invocation's deadline and one log line per invocation. The
// design behind it is docs/design.md.
package handler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// The errorType values of a failed invocation's {"errorMessage","errorType"} body.
const (
	// ErrorTypeInvalidEvent: the payload is not a well-formed trigger event.
	ErrorTypeInvalidEvent = fcruntime.ErrorTypeInvalidEvent
	// ErrorTypeInvalidRecord: some records cannot be evaluated by the rule or hold what
	// Tablestore refuses in a row (a DOUBLE NaN, a value or a name beyond its limits), and no
	// DEAD_LETTER_TABLE is set.
	ErrorTypeInvalidRecord = "InvalidRecord"
	// ErrorTypeInvalidCredentials: the invocation carried no usable credentials.
	ErrorTypeInvalidCredentials = "InvalidCredentials"
	// ErrorTypeTablestore: a Tablestore read or write failed (the message names code and key).
	ErrorTypeTablestore = "TablestoreError"
	// ErrorTypeExport: writing the batch's object to OSS failed for good (the SDK's
	// retries exhausted, or the deadline reached); the message names the object and OSS's
	// error code.
	ErrorTypeExport = "ExportError"
	// ErrorTypeInternal: the function itself failed (a recovered panic); a bug to report.
	ErrorTypeInternal = fcruntime.ErrorTypeInternal
)

// Error is a failed invocation: Type is one of the ErrorType constants, Err the cause.
// The trigger retries a failed invocation with the same batch until the Stream data expires.
type Error struct {
	// Type is one of the ErrorType constants; it becomes the response's errorType.
	Type string
	// Err is the cause; its message becomes the response's errorMessage.
	Err error
}

// Error returns the cause's message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorType returns Type, for [fcruntime.ErrorType].
func (e *Error) ErrorType() string { return e.Type }

// Summary is what one invocation did. It is the JSON body of a successful invocation's
// response, and the fields of every invocation's log line (a failed invocation's counts what
// it did before it failed). Its Add, LogValue and String are generated from the fields.
//
//go:generate go run github.com/otsetl/otsetl/internal/countergen -type Summary -text "{records} records, {keys} keys: {puts} puts, {updates} updates ({notInView} not in view), {deletes} deletes, {reads} source reads, {deadLettered} dead-lettered; {writeRequests} write requests, {readRequests} read requests, {retries} retries[; exported {exportLines} lines, {exportBytes} bytes in {exportRequests} OSS requests][ to {exportObject}]"
type Summary struct {
	// Records is the number of change records in the event.
	Records int `json:"records"`
	// Keys is the number of distinct primary keys among them, as the plan counts them; 0
	// when nothing was planned (an export-only function with EXPORT_FORMAT changes plans
	// nothing).
	Keys int `json:"keys"`
	// Puts, Updates and Deletes count the result-table rows written of each kind;
	// Updates includes NotInView.
	Puts    int `json:"puts"`
	Updates int `json:"updates"`
	Deletes int `json:"deletes"`
	// NotInView counts conditional updates whose row was not in the result table
	// (OTSConditionCheckFail on EXPECT_EXIST), which is the correct outcome, not a failure.
	NotInView int `json:"notInView"`
	// Reads is the number of source rows read to decide UpdateRows.
	Reads int `json:"reads"`
	// DeadLettered is the number of records written to DEAD_LETTER_TABLE.
	DeadLettered int `json:"deadLettered"`
	// WriteRequests and ReadRequests count BatchWriteRow and BatchGetRow requests sent,
	// retries included.
	WriteRequests int `json:"writeRequests"`
	ReadRequests  int `json:"readRequests"`
	// Retries counts requests re-sent because of retryable Tablestore errors.
	Retries int `json:"retries"`
	// LagMs is how far the result table is behind the source table when the invocation
	// ends, in milliseconds: the end time minus the newest Info.Timestamp (µs) among the
	// event's records. It is 0 for an event without records (or whose records carry no
	// timestamp), and never negative: a clock behind Tablestore's counts as no lag.
	LagMs int64 `json:"lagMs" counter:"measure"`
	// ExportLines counts the lines the export wrote, ExportBytes the object's size (as
	// stored: compressed when it is), ExportRequests the HTTP requests sent to OSS, the
	// SDK's retries included; all 0 without an export.
	ExportLines    int   `json:"exportLines"`
	ExportBytes    int64 `json:"exportBytes"`
	ExportRequests int   `json:"exportRequests"`
	// ExportObject is the object the export wrote, "oss://bucket/key"; empty without an
	// export, or for an event without records, which writes none.
	ExportObject string `json:"exportObject,omitempty" counter:"label"`
}

// Function is the configured otsetl function. It is safe for concurrent invocations.
type Function struct {
	cfg      Config
	rule     *transform.Rule
	exporter *export.Sink // nil without an export
	logger   *slog.Logger
	now      func() time.Time
	captured atomic.Int64 // invocations counted for Config.CapturePayloads
}

// New compiles cfg's rule once and builds the export's OSS client when cfg has an export;
// logger (nil: slog.Default()) gets one line per invocation ([Function.Invoke]). The error
// (a bad FILTER or COLUMNS, an export configuration [export.Config.Check] refuses, a
// function with neither a result table nor an export) is one line fit for failing start-up.
func New(cfg Config, logger *slog.Logger) (*Function, error) {
	rule, err := compileRule(cfg.Rule)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.ResultTable == "" && cfg.Export == nil {
		return nil, fmt.Errorf("%s is empty and %s is unset: the function would write nowhere", EnvResultTable, EnvExportTo)
	}
	f := &Function{cfg: cfg, rule: rule, logger: logger, now: time.Now}
	if cfg.Export != nil {
		if f.exporter, err = export.New(*cfg.Export); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvExportTo, err)
		}
	}
	return f, nil
}

// compileRule compiles the rule of FILTER and COLUMNS; the error names both variables.
func compileRule(cfg transform.Config) (*transform.Rule, error) {
	rule, err := transform.Compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", EnvFilter, EnvColumns, err)
	}
	return rule, nil
}

// Config returns the configuration the function was built with.
func (f *Function) Config() Config { return f.cfg }

// Process handles one invocation's payload (a CBOR or JSON trigger event) with the
// invocation's STS credentials, used for this invocation only. It returns an [*Error] when
// the invocation must fail so that the trigger redelivers the batch; processing the same
// batch again gives the same result table. ctx's deadline bounds every retry. The Summary
// counts what was done, also when it comes with an error.
func (f *Function) Process(ctx context.Context, creds aliyun.Credentials, payload []byte) (Summary, error) {
	ev, err := events.Decode(payload)
	if err != nil {
		return Summary{}, &Error{Type: ErrorTypeInvalidEvent, Err: err}
	}
	sum, err := f.process(ctx, creds, ev, payload)
	sum.LagMs = lagMs(ev, f.now())
	return sum, err
}

// lagMs is the time from the newest Info.Timestamp (µs) of ev's records to now, in ms; 0
// when no record carries a timestamp or the newest one is after now.
func lagMs(ev *events.Event, now time.Time) int64 {
	var newest int64
	for i := range ev.Records {
		newest = max(newest, ev.Records[i].Info.Timestamp)
	}
	if newest <= 0 {
		return 0
	}
	return max(0, (now.UnixMicro()-newest)/1000)
}

// process is Process after decoding: plan, read, write the result table, and export, the
// export running beside the table's work. A `changes` export needs only the event, so it
// starts at once; a `rows` export starts once the source reads have resolved the plan, with
// the mutations the writer gets. The first sink to fail cancels the other, and its failure
// is the invocation's.
func (f *Function) process(ctx context.Context, creds aliyun.Credentials, ev *events.Event, payload []byte) (Summary, error) {
	if creds.AccessKeyID == "" || creds.AccessKeySecret == "" {
		return Summary{}, &Error{Type: ErrorTypeInvalidCredentials, Err: errors.New("the invocation carries no access key: expected the x-fc-access-key-id and x-fc-access-key-secret headers (configure the function's role)")}
	}
	sum := Summary{Records: len(ev.Records)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x := exportRun{f: f}
	if f.exporter != nil && f.exporter.Config().Format == export.Changes {
		x.start(ctx, cancel, func(ctx context.Context) (export.Result, error) {
			return f.exporter.ExportChanges(ctx, creds, ev, payload)
		})
	}
	var err error
	if f.cfg.ResultTable != "" || x.done == nil {
		err = f.planAndWrite(ctx, creds, ev, payload, &sum, &x, cancel)
		if err != nil {
			cancel(err)
		}
	}
	exportErr := x.wait(&sum)
	switch {
	case err == nil:
		err = exportErr
	case exportErr != nil && context.Cause(ctx) == x.err:
		err = exportErr // the export failed first; the table's work failed of the cancellation
	}
	return sum, err
}

// planAndWrite plans the event, reads what the plan needs, starts the `rows` export, and
// writes dead letters and the result table (when there is one).
func (f *Function) planAndWrite(ctx context.Context, creds aliyun.Credentials, ev *events.Event, payload []byte, sum *Summary, x *exportRun, cancel context.CancelCauseFunc) error {
	plan := f.rule.Plan(ev)
	sum.Keys = plan.Keys
	rows := f.exporter != nil && f.exporter.Config().Format == export.Rows
	if len(plan.Mutations) == 0 && len(plan.Invalid) == 0 && !rows {
		return nil
	}
	client, err := tablestore.NewClient(tablestore.Config{Endpoint: f.cfg.Endpoint, Instance: f.cfg.Instance}, creds)
	if err != nil {
		return &Error{Type: ErrorTypeTablestore, Err: err}
	}
	changes, invalid, err := f.resolve(ctx, client, plan, sum)
	if err != nil {
		return &Error{Type: ErrorTypeTablestore, Err: err}
	}
	if len(invalid) > 0 && f.cfg.DeadLetterTable == "" {
		return &Error{Type: ErrorTypeInvalidRecord, Err: invalidRecordsError(ev, invalid)}
	}
	if rows {
		x.start(ctx, cancel, func(ctx context.Context) (export.Result, error) {
			return f.exporter.ExportRows(ctx, creds, ev, payload, plan.Mutations, changes)
		})
	}
	if len(invalid) > 0 {
		letters := f.deadLetters(ev, invalid)
		stats, err := client.Write(ctx, f.cfg.DeadLetterTable, letters)
		sum.WriteRequests += stats.Requests
		sum.Retries += stats.Retries
		if err != nil {
			return &Error{Type: ErrorTypeTablestore, Err: fmt.Errorf("writing dead letters: %w", err)}
		}
		sum.DeadLettered = len(letters)
	}
	if f.cfg.ResultTable == "" {
		return nil
	}
	stats, err := client.Write(ctx, f.cfg.ResultTable, changes)
	sum.Puts, sum.Updates, sum.Deletes, sum.NotInView = stats.Puts, stats.Updates, stats.Deletes, stats.NotInView
	sum.WriteRequests += stats.Requests
	sum.Retries += stats.Retries
	if err != nil {
		return &Error{Type: ErrorTypeTablestore, Err: err}
	}
	return nil
}

// exportRun is the export of one invocation, run in a goroutine of its own.
type exportRun struct {
	f      *Function
	done   chan struct{} // nil until started
	result export.Result
	err    error
}

// start runs export in its own goroutine under ctx; its failure cancels ctx.
func (x *exportRun) start(ctx context.Context, cancel context.CancelCauseFunc, run func(context.Context) (export.Result, error)) {
	x.done = make(chan struct{})
	go func() {
		defer close(x.done)
		x.result, x.err = run(ctx)
		if x.err != nil {
			cancel(x.err)
		}
	}()
}

// wait waits for the export, if it started, adds what it wrote to sum, and returns its
// failure as an [*Error]: ErrorTypeInvalidRecord for a record the file format cannot hold,
// ErrorTypeExport otherwise.
func (x *exportRun) wait(sum *Summary) error {
	if x.done == nil {
		return nil
	}
	<-x.done
	sum.ExportObject, sum.ExportLines, sum.ExportBytes, sum.ExportRequests = x.result.Object, x.result.Lines, x.result.Bytes, x.result.Requests
	if x.err == nil {
		return nil
	}
	var recordErr *export.RecordError
	if errors.As(x.err, &recordErr) {
		return &Error{Type: ErrorTypeInvalidRecord, Err: fmt.Errorf("exporting to %s: %w", x.result.Object, x.err)}
	}
	return &Error{Type: ErrorTypeExport, Err: x.err}
}

// resolve reads the source rows of the plan's Reads and decides their row changes. It
// returns the row changes to write, one per mutation, and every invalid record (the plan's
// and those found on the source rows), sorted by record index.
func (f *Function) resolve(ctx context.Context, client *tablestore.Client, plan transform.Plan, sum *Summary) ([]ots.RowChange, []transform.InvalidRecord, error) {
	changes := make([]ots.RowChange, len(plan.Mutations))
	for i := range plan.Mutations {
		changes[i] = plan.Mutations[i].RowChange
	}
	if len(plan.Reads) == 0 {
		return changes, plan.Invalid, nil
	}
	keys := make([][]ots.PrimaryKeyColumn, len(plan.Reads))
	for i, at := range plan.Reads {
		keys[i] = changes[at].PrimaryKey
	}
	invalid := slices.Clone(plan.Invalid)
	rows, stats, err := client.Read(ctx, f.cfg.SourceTable, keys, f.rule.ReadColumns())
	sum.Reads += len(keys)
	sum.ReadRequests += stats.Requests
	sum.Retries += stats.Retries
	if err != nil {
		return nil, nil, fmt.Errorf("reading source rows: %w", err)
	}
	for i, at := range plan.Reads {
		change, err := f.rule.Resolve(keys[i], rows[i].Columns, rows[i].Found)
		if err != nil {
			for _, idx := range plan.Mutations[at].Records {
				invalid = append(invalid, transform.InvalidRecord{Index: idx, Err: err})
			}
		}
		changes[at] = change
	}
	slices.SortStableFunc(invalid, func(a, b transform.InvalidRecord) int { return cmp.Compare(a.Index, b.Index) })
	return changes, invalid, nil
}

// deadLetters turns the invalid records of ev into dead-letter rows, one per distinct record.
func (f *Function) deadLetters(ev *events.Event, invalid []transform.InvalidRecord) []ots.RowChange {
	now := f.now()
	letters := make([]ots.RowChange, 0, len(invalid))
	seen := make(map[string]bool, len(invalid))
	for _, inv := range invalid {
		letter := deadletter.Row(&ev.Records[inv.Index], describeInvalid(ev, inv), f.cfg.SourceTable, now)
		id, _ := letter.PrimaryKey[0].Value.Str()
		if seen[id] {
			continue
		}
		seen[id] = true
		letters = append(letters, letter)
	}
	return letters
}

// describeInvalid says which record of ev is invalid and why: `record 2 (id=7): filter …`.
func describeInvalid(ev *events.Event, inv transform.InvalidRecord) string {
	return fmt.Sprintf("record %d (%s): %v", inv.Index, ots.FormatPrimaryKey(ev.Records[inv.Index].PrimaryKey), inv.Err)
}

// invalidRecordsError names up to five invalid records of ev, with their keys, and how many
// there are in all.
func invalidRecordsError(ev *events.Event, invalid []transform.InvalidRecord) error {
	const shown = 5
	var b strings.Builder
	fmt.Fprintf(&b, "%d record(s) cannot be evaluated by the rule or written to Tablestore and %s is unset: ", len(invalid), EnvDeadLetterTable)
	for i, inv := range invalid {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(invalid)-shown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(describeInvalid(ev, inv))
	}
	return errors.New(b.String())
}
