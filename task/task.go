// Package task is the task invocation of the deployed function: a JSON payload that asks the
// function to work on one key range of the source table ("sync this range after key K for
// at most D"), and the JSON result it answers with ("confirmed up to key K', done or not,
// and the counts"). `otsetl sync --on-fc` sends tasks through FC's InvokeFunction API (package
// reconcile), the function runs them (package handler) with the engine the local command
// runs (package rangesync). The format, how a task is told apart from a trigger event, and
// why a task carries a fingerprint: docs/design.md, "Task invocations".
package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/rangesync"
)

// Version is the version of the task format this otsetl reads and writes.
const Version = 1

// The kinds of task.
const (
	// KindSync syncs the range's result rows with the view of its source rows (package
	// rangesync).
	KindSync = "sync"
)

// MaxPayloadBytes bounds a task's payload: a task holds a few keys (each at most 1 KB a
// column, four columns) and options.
const MaxPayloadBytes = 64 << 10

// Task is a task invocation's payload, one JSON object:
//
//	{"version": 1, "kind": "sync", "fingerprint": "<hex SHA-256>",
//	 "primaryKey": [{"name": "id", "type": "INTEGER"}],
//	 "lower": [key column], "upper": [key column], "after": [key column],
//	 "budgetMs": 45000, "sync": {"dryRun": false, "show": 0}}
//
// A key column is {"name", "type", "value"} ([ots.TextKeyColumn]).
type Task struct {
	// Version is the format's version, [Version].
	Version int `json:"version"`
	// Kind says what to do with the range: [KindSync].
	Kind string `json:"kind"`
	// Fingerprint identifies the configuration the sender expects the function to run with
	// (its tables and rule, handler.Config.Fingerprint); a function whose own differs
	// refuses the task.
	Fingerprint string `json:"fingerprint"`
	// PrimaryKey is the source table's primary key schema, {"name", "type"} with the type
	// INTEGER, STRING or BINARY.
	PrimaryKey []SchemaColumn `json:"primaryKey"`
	// Lower (inclusive) and Upper (exclusive) bound the range: leading columns of a primary
	// key, empty for the table's start and end. After, when set, is the last key done: a
	// whole key inside the range; the work starts after it.
	Lower []ots.TextKeyColumn `json:"lower"`
	Upper []ots.TextKeyColumn `json:"upper"`
	After []ots.TextKeyColumn `json:"after,omitempty"`
	// BudgetMs is how long the task takes keys, in ms: then it confirms the keys it decided
	// and answers. The function takes keys for less when its own deadline comes first.
	BudgetMs int64 `json:"budgetMs"`
	// Sync holds the options of a sync task.
	Sync *SyncOptions `json:"sync,omitempty"`

	// The keys of Lower, Upper and After, and the schema, as Parse checked them.
	schema              []ots.PrimaryKeySchema
	lower, upper, after []ots.PrimaryKeyColumn
}

// SchemaColumn is one primary key column of a task's schema.
type SchemaColumn struct {
	Name string `json:"name"`
	// Type is INTEGER, STRING or BINARY.
	Type string `json:"type"`
}

// SyncOptions are the options of a sync task (rangesync.Config's).
type SyncOptions struct {
	// DryRun finds the differences and writes nothing.
	DryRun bool `json:"dryRun,omitempty"`
	// Show is how many keys of each class the result lists.
	Show int `json:"show,omitempty"`
}

// Result is a task's answer, the JSON body of a successful task invocation.
type Result struct {
	// Version is the format's version, [Version].
	Version int `json:"version"`
	// Kind is the task's kind.
	Kind string `json:"kind"`
	// After is the last key confirmed: the After of the next task of the range. Absent when
	// none is (Done, or no key confirmed after the task's own After).
	After []ots.TextKeyColumn `json:"after,omitempty"`
	// Done is set when the range was worked through to its end.
	Done bool `json:"done"`
	// DurationMs is how long the function worked on the task, in ms.
	DurationMs int64 `json:"durationMs"`
	// InstanceID names the function instance that ran the task (FC_INSTANCE_ID); empty
	// when unknown.
	InstanceID string `json:"instanceId,omitempty"`
	// Sync is what a sync task found and did.
	Sync *SyncResult `json:"sync,omitempty"`
}

// SyncResult is what a sync task found and did: the counts of the keys it confirmed, and the
// keys it lists.
type SyncResult struct {
	rangesync.Counts
	rangesync.Samples
}

// IsTask reports whether payload is a task rather than a trigger event: a JSON object (its
// first byte other than JSON whitespace is '{') with a top-level member named "version" in
// lower case. A trigger event's version is "Version" (CBOR, or JSON for the console's test
// events), which never matches: the names are compared byte for byte. A payload that breaks
// off before such a member is not a task.
func IsTask(payload []byte) bool {
	payload = bytes.TrimLeft(payload, " \t\n\r")
	if len(payload) == 0 || payload[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if _, err := dec.Token(); err != nil { // the '{'
		return false
	}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			return false
		}
		if name == "version" {
			return true
		}
		var skipped json.RawMessage
		if err := dec.Decode(&skipped); err != nil {
			return false
		}
	}
	return false
}

// Parse reads and checks a task: one JSON object of the fields of [Task], no other, the
// version [Version], a known kind, a fingerprint, a primary key of 1 to 4 columns of INTEGER,
// STRING or BINARY, bounds that are leading columns of it with Lower before Upper, an After
// that is a whole key inside the range, a positive budget, and the options of its kind. The
// error says what is wrong; nothing in a task that fails Parse is acted on.
func Parse(payload []byte) (*Task, error) {
	if len(payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("task: %d bytes, more than the %d a task may hold", len(payload), MaxPayloadBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var t Task
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("task: not a task object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("task: data after the task object")
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	return &t, nil
}

// maxPrimaryKeyColumns is the most columns a Tablestore primary key has.
const maxPrimaryKeyColumns = 4

// check checks t and sets its parsed keys and schema.
func (t *Task) check() error {
	switch {
	case t.Version != Version:
		return fmt.Errorf("version %d; this otsetl runs version %d", t.Version, Version)
	case t.Kind != KindSync:
		return fmt.Errorf("kind %q; want %q", t.Kind, KindSync)
	case t.Fingerprint == "":
		return errors.New("no fingerprint")
	case t.BudgetMs <= 0:
		return fmt.Errorf("budgetMs %d; want a positive number of ms", t.BudgetMs)
	case t.Sync == nil:
		return fmt.Errorf("a %s task needs its \"sync\" options", t.Kind)
	case t.Sync.Show < 0:
		return fmt.Errorf("sync.show %d; want 0 or more keys", t.Sync.Show)
	case len(t.PrimaryKey) == 0 || len(t.PrimaryKey) > maxPrimaryKeyColumns:
		return fmt.Errorf("a primary key of %d columns; want 1 to %d", len(t.PrimaryKey), maxPrimaryKeyColumns)
	}
	t.schema = make([]ots.PrimaryKeySchema, len(t.PrimaryKey))
	for i, col := range t.PrimaryKey {
		kind, ok := ots.KindNamed(col.Type)
		if !ok || kind.String() != col.Type || !kind.IsPrimaryKeyKind() || !ots.IsName(col.Name) {
			return fmt.Errorf("primary key column %d (%q %q): want a name and INTEGER, STRING or BINARY", i+1, col.Name, col.Type)
		}
		t.schema[i] = ots.PrimaryKeySchema{Name: col.Name, Type: kind}
	}
	var err error
	if t.lower, err = ots.KeyOfText(t.Lower, t.schema); err != nil {
		return fmt.Errorf("lower: %w", err)
	}
	if t.upper, err = ots.KeyOfText(t.Upper, t.schema); err != nil {
		return fmt.Errorf("upper: %w", err)
	}
	if len(t.lower) > 0 && len(t.upper) > 0 && ots.ComparePrimaryKeys(t.lower, t.upper) >= 0 {
		return fmt.Errorf("lower (%s) is not before upper (%s)", ots.FormatPrimaryKey(t.lower), ots.FormatPrimaryKey(t.upper))
	}
	if t.After == nil {
		return nil
	}
	if t.after, err = ots.KeyOfText(t.After, t.schema); err != nil {
		return fmt.Errorf("after: %w", err)
	}
	if len(t.after) != len(t.schema) {
		return fmt.Errorf("after (%s) is not a whole primary key (%s)", ots.FormatPrimaryKey(t.after), ots.FormatSchema(t.schema))
	}
	if !Inside(t.after, t.lower, t.upper) {
		return fmt.Errorf("after (%s) lies outside the range", ots.FormatPrimaryKey(t.after))
	}
	return nil
}

// Inside reports whether key lies in the range from lower (inclusive) to upper (exclusive),
// bounds as in [Task]: leading columns with INF_MIN after them, empty for the table's start
// and end.
func Inside(key, lower, upper []ots.PrimaryKeyColumn) bool {
	return ots.ComparePrimaryKeys(key, lower) >= 0 && (len(upper) == 0 || ots.ComparePrimaryKeys(key, upper) < 0)
}

// Schema is the primary key schema Parse read.
func (t *Task) Schema() []ots.PrimaryKeySchema { return t.schema }

// Range is the range Parse read, as the engine takes it.
func (t *Task) Range() rangesync.Range {
	return rangesync.Range{Lower: t.lower, Upper: t.upper, After: t.after}
}

// SchemaOf converts a primary key schema for a task.
func SchemaOf(schema []ots.PrimaryKeySchema) []SchemaColumn {
	columns := make([]SchemaColumn, len(schema))
	for i, col := range schema {
		columns[i] = SchemaColumn{Name: col.Name, Type: col.Type.String()}
	}
	return columns
}

// ParseResult reads a task's answer: one JSON object of the fields of [Result], the version
// [Version] and the kind kind, its After a whole key of schema, and the counts of its kind,
// none negative. It returns the result and its After as a key.
func ParseResult(body []byte, kind string, schema []ots.PrimaryKeySchema) (*Result, []ots.PrimaryKeyColumn, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		return nil, nil, fmt.Errorf("task result: not a result object: %w (%s)", err, brief(body))
	}
	switch {
	case r.Version != Version:
		return nil, nil, fmt.Errorf("task result: version %d; want %d", r.Version, Version)
	case r.Kind != kind:
		return nil, nil, fmt.Errorf("task result: kind %q; want %q", r.Kind, kind)
	case r.Sync == nil:
		return nil, nil, errors.New("task result: no sync counts")
	}
	if err := r.Sync.Check(); err != nil {
		return nil, nil, fmt.Errorf("task result: %w", err)
	}
	after, err := ots.KeyOfText(r.After, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("task result: after: %w", err)
	}
	if r.After != nil && len(after) != len(schema) {
		return nil, nil, fmt.Errorf("task result: after (%s) is not a whole primary key", ots.FormatPrimaryKey(after))
	}
	if r.After == nil {
		after = nil
	}
	return &r, after, nil
}

// brief is the start of a body, for a message.
func brief(body []byte) string {
	const shown = 200
	if len(body) <= shown {
		return string(body)
	}
	return strings.ToValidUTF8(string(body[:shown]), "") + "…"
}
