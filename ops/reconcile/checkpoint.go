package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// The checkpoint file (docs/design.md, "Sync"): one JSON object, written by save and
// trusted only once load has checked all of it.
//
//	{"version": 2,
//	 "sync": {"endpoint", "instance", "sourceTable", "resultTable", "deadLetterTable", "filter", "columns"},
//	 "startedAt": "2026-12-07T07:23:00.123Z",
//	 "splits": [{"lower": [key column], "upper": [key column], "after": [key column],
//	             "done": true, "counts": {Counts}}],
//	 "digest": "<hex SHA-256>"}
//
// A key column is {"name", "type", "value"} (keyColumn). The splits, in primary key order,
// cover the source table's key space: the first lower and the last upper are empty (the
// table's start and end), each upper is the next split's lower. "after", on a split not done,
// is the last key whose fixes were confirmed; "counts" are what was found and done up to it.

// checkpointVersion is the layout version of checkpoint files: 3 keeps the columns as
// COLUMNS is written (a map or a list), where 2 kept a list of names; 2 added the endpoint,
// when the run began and a digest to version 1.
const checkpointVersion = 3

// DefaultMaxCheckpointAge is how old a checkpoint a run resumes at most unless told
// otherwise (Config.MaxCheckpointAge): the splits a checkpoint marks done were verified as
// long ago as it began, and a resume is for a run stopped a little while before. After a
// day, the result table may have been edited, or an outage may have outlasted a Stream's
// retention (one day by default), without the checkpoint showing it.
const DefaultMaxCheckpointAge = 24 * time.Hour

// clockSkew is how far in the future a checkpoint's start may lie (another machine's clock).
const clockSkew = time.Minute

// identity is what a checkpoint is a checkpoint of: a run resumes only a checkpoint of the
// same Tablestore, tables and rule.
type identity struct {
	Endpoint        string `json:"endpoint"`
	Instance        string `json:"instance"`
	SourceTable     string `json:"sourceTable"`
	ResultTable     string `json:"resultTable"`
	DeadLetterTable string `json:"deadLetterTable,omitempty"`
	Filter          string `json:"filter"`
	Columns         string `json:"columns,omitempty"`
}

// identityOf is the identity of the sync cfg describes, whose rule is rule, as it applies
// it (transform.Rule.Config).
func identityOf(cfg Config, rule transform.Config) identity {
	fn := cfg.Function
	return identity{Endpoint: fn.Endpoint, Instance: fn.Instance, SourceTable: fn.SourceTable, ResultTable: fn.ResultTable,
		DeadLetterTable: fn.DeadLetterTable, Filter: rule.Filter, Columns: rule.Columns}
}

// String describes the sync an identity is of.
func (id identity) String() string {
	return fmt.Sprintf("%s, instance %s, %s -> %s, filter %q, columns %q, dead letters %q",
		id.Endpoint, id.Instance, id.SourceTable, id.ResultTable, id.Filter, id.Columns, id.DeadLetterTable)
}

// checkpointFile is the checkpoint's JSON layout.
type checkpointFile struct {
	Version int      `json:"version"`
	Sync    identity `json:"sync"`
	// StartedAt is when the run that began the checkpoint started: every key it marks done
	// was verified after it.
	StartedAt time.Time         `json:"startedAt"`
	Splits    []checkpointSplit `json:"splits"`
	// Digest is the SHA-256, in hexadecimal, of the file's compact JSON with an empty
	// digest (checkpointFile.sum): a file changed by hand no longer matches it.
	Digest string `json:"digest"`
}

// checkpointSplit is one split's progress in the file.
type checkpointSplit struct {
	Lower  []keyColumn `json:"lower"`
	Upper  []keyColumn `json:"upper"`
	After  []keyColumn `json:"after,omitempty"`
	Done   bool        `json:"done,omitempty"`
	Counts Counts      `json:"counts"`
}

// sum is the file's digest: the SHA-256 of its compact JSON with Digest empty.
func (f checkpointFile) sum() (string, error) {
	f.Digest = ""
	data, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// keyColumn is one column of a key or a key prefix, in the checkpoint file's form.
type keyColumn struct {
	Name string `json:"name"`
	// Type is INTEGER, STRING or BINARY.
	Type string `json:"type"`
	// Value is the value's text ([ots.Value.Text]): an INTEGER in decimal, a STRING as it
	// is, a BINARY in hexadecimal.
	Value string `json:"value"`
}

// keyColumnsOf converts a key or a key prefix for the checkpoint file.
func keyColumnsOf(key []ots.PrimaryKeyColumn) []keyColumn {
	columns := make([]keyColumn, len(key))
	for i, col := range key {
		columns[i] = keyColumn{Name: col.ColumnName, Type: col.Value.Kind().String(), Value: col.Value.Text()}
	}
	return columns
}

// keyOf converts a key or a key prefix of the checkpoint file, whose columns must be the
// leading columns of schema, with their names and types.
func keyOf(columns []keyColumn, schema []ots.PrimaryKeySchema) ([]ots.PrimaryKeyColumn, error) {
	if len(columns) > len(schema) {
		return nil, fmt.Errorf("%d key columns; the table's primary key (%s) has %d", len(columns), ots.FormatSchema(schema), len(schema))
	}
	key := make([]ots.PrimaryKeyColumn, len(columns))
	for i, c := range columns {
		if c.Name != schema[i].Name {
			return nil, fmt.Errorf("key column %d is %q; the table's primary key (%s) has %q there", i+1, c.Name, ots.FormatSchema(schema), schema[i].Name)
		}
		kind, ok := ots.KindNamed(c.Type)
		if !ok || kind.String() != c.Type || kind != schema[i].Type {
			return nil, fmt.Errorf("column %q: type %q; the table's primary key (%s) has %s", c.Name, c.Type, ots.FormatSchema(schema), schema[i].Type)
		}
		v, err := ots.ParseText(kind, c.Value)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		if v.Text() != c.Value {
			return nil, fmt.Errorf("column %q: %s %q is not written as a checkpoint writes it (%q)", c.Name, c.Type, c.Value, v.Text())
		}
		key[i] = ots.PrimaryKeyColumn{ColumnName: c.Name, Value: v}
	}
	return key, nil
}

// loadOrSplit resumes the checkpoint file when there is one, and computes the splits
// otherwise; with a checkpoint file, it then saves it, so that a file that cannot be
// written is a ConfigError before anything else is.
func (s *syncer) loadOrSplit(ctx context.Context) (*progress, error) {
	p := &progress{path: s.cfg.Checkpoint, identity: identityOf(s.cfg, s.rule.Config()), startedAt: s.started.UTC(), onProgress: s.cfg.OnProgress}
	if p.path != "" {
		found, err := p.load(s.schema, s.started, s.cfg.MaxCheckpointAge, s.cfg.ResumeStaleCheckpoint)
		if err != nil {
			return nil, err
		}
		if found {
			return p, p.saveOrRefuse()
		}
	}
	splits, err := s.computeSplits(ctx)
	if err != nil {
		return nil, err
	}
	p.all = splits
	return p, p.saveOrRefuse()
}

// saveOrRefuse saves the checkpoint, if there is one, as a run's first write: failing, it is
// a ConfigError (a folder that cannot be written, a path that is a folder).
func (p *progress) saveOrRefuse() error {
	if p.path == "" {
		return nil
	}
	if err := p.save(); err != nil {
		return &ConfigError{Err: fmt.Errorf("%w: give a checkpoint file in a folder this user can write", err)}
	}
	return nil
}

// load reads and checks the checkpoint file, reporting false when there is none. It is a
// ConfigError naming the file and what is wrong when the file is not a checkpoint of this
// sync written by this otsetl and left unchanged (checkFile), or when it began more than
// maxAge before now (0: DefaultMaxCheckpointAge) and resumeStale is not set.
func (p *progress) load(schema []ots.PrimaryKeySchema, now time.Time, maxAge time.Duration, resumeStale bool) (bool, error) {
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return false, configError("checkpoint %s cannot be read: %w", p.path, pathErr.Err)
	}
	if err != nil {
		return false, configError("checkpoint %s cannot be read: %w", p.path, err)
	}
	var version struct{ Version int } // first, so that an older layout is refused as such
	if err := json.Unmarshal(data, &version); err == nil && version.Version != checkpointVersion {
		return false, configError("checkpoint %s has version %d; this otsetl reads version %d: remove it to sync afresh", p.path, version.Version, checkpointVersion)
	}
	var file checkpointFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return false, configError("checkpoint %s is not a sync checkpoint: %w", p.path, err)
	}
	switch {
	case file.Sync != p.identity:
		return false, configError("checkpoint %s is of another sync (%s); this one is %s: remove the file or give another",
			p.path, file.Sync, p.identity)
	}
	splits, err := checkFile(file, schema, now)
	if err != nil {
		return false, configError("checkpoint %s cannot be resumed: %w; remove it to sync afresh", p.path, err)
	}
	age := now.Sub(file.StartedAt)
	if maxAge == 0 {
		maxAge = DefaultMaxCheckpointAge
	}
	if age > maxAge && !resumeStale {
		return false, configError("checkpoint %s was begun %s ago (%s), more than the %s a checkpoint is resumed within: "+
			"the splits it marks done were verified then, and the result table may have changed since; remove it to sync afresh, "+
			"or resume it anyway (--resume-stale-checkpoint)", p.path, age.Round(time.Second), file.StartedAt.Format(time.RFC3339), maxAge)
	}
	p.all, p.startedAt = splits, file.StartedAt
	for _, sp := range splits {
		if sp.done || sp.after != nil {
			p.resumed++
		}
	}
	return true, nil
}

// checkFile checks what a checkpoint holds and returns its splits: a start no later than now
// (with clockSkew), splits whose keys are the leading columns of schema with its types, that
// cover the key space in order without gaps or overlaps, each with its "after" inside it, not
// done with an "after", counts of 0 or more and none before any progress; and a digest that
// matches, since what no check can see (a split marked done that was never synced) is a
// change too. The error names the split (from 1) and what is wrong.
func checkFile(file checkpointFile, schema []ots.PrimaryKeySchema, now time.Time) ([]*split, error) {
	if file.StartedAt.IsZero() || file.StartedAt.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("its start (%s) is not a time before now", file.StartedAt.Format(time.RFC3339))
	}
	if len(file.Splits) == 0 {
		return nil, errors.New("it holds no splits")
	}
	splits := make([]*split, len(file.Splits))
	for i, cs := range file.Splits {
		sp, err := checkSplit(cs, schema)
		if err != nil {
			return nil, fmt.Errorf("split %d: %w", i+1, err)
		}
		switch {
		case i == 0 && len(sp.lower) > 0:
			return nil, fmt.Errorf("split 1 starts at (%s), not at the table's start: the keys before it are in no split", ots.FormatPrimaryKey(sp.lower))
		case i > 0 && ots.ComparePrimaryKeys(splits[i-1].upper, sp.lower) != 0:
			return nil, fmt.Errorf("split %d ends at %s and split %d starts at %s: the splits must follow each other without a gap or an overlap",
				i, describeBound(splits[i-1].upper, "the table's end"), i+1, describeBound(sp.lower, "the table's start"))
		}
		splits[i] = sp
	}
	if last := splits[len(splits)-1]; len(last.upper) > 0 {
		return nil, fmt.Errorf("split %d ends at (%s), not at the table's end: the keys after it are in no split", len(splits), ots.FormatPrimaryKey(last.upper))
	}
	digest, err := file.sum()
	if err != nil {
		return nil, err
	}
	if file.Digest != digest {
		return nil, errors.New("it was changed after otsetl wrote it (its digest does not match what it holds), " +
			"and a changed checkpoint can mark keys done that no run checked")
	}
	return splits, nil
}

// checkSplit checks one split of a checkpoint file on its own (checkFile) and converts it.
func checkSplit(cs checkpointSplit, schema []ots.PrimaryKeySchema) (*split, error) {
	sp := &split{done: cs.Done, counts: cs.Counts}
	var err error
	if sp.lower, err = keyOf(cs.Lower, schema); err != nil {
		return nil, fmt.Errorf("lower: %w", err)
	}
	if sp.upper, err = keyOf(cs.Upper, schema); err != nil {
		return nil, fmt.Errorf("upper: %w", err)
	}
	if len(sp.lower) > 0 && len(sp.upper) > 0 && ots.ComparePrimaryKeys(sp.lower, sp.upper) >= 0 {
		return nil, fmt.Errorf("its lower bound (%s) is not before its upper bound (%s)", ots.FormatPrimaryKey(sp.lower), ots.FormatPrimaryKey(sp.upper))
	}
	if cs.After != nil {
		if sp.after, err = keyOf(cs.After, schema); err != nil {
			return nil, fmt.Errorf("after: %w", err)
		}
		switch {
		case len(sp.after) != len(schema):
			return nil, fmt.Errorf("after (%s) is not a whole primary key (%s)", ots.FormatPrimaryKey(sp.after), ots.FormatSchema(schema))
		case ots.ComparePrimaryKeys(sp.after, sp.lower) < 0 || (len(sp.upper) > 0 && ots.ComparePrimaryKeys(sp.after, sp.upper) >= 0):
			return nil, fmt.Errorf("after (%s) lies outside the split, from %s to %s", ots.FormatPrimaryKey(sp.after),
				describeBound(sp.lower, "the table's start"), describeBound(sp.upper, "the table's end"))
		case sp.done:
			return nil, errors.New("it is done and has an after, which only a split in progress has")
		}
	}
	if negative := cs.Counts.negative(); negative != "" {
		return nil, fmt.Errorf("its count %s is negative", negative)
	}
	if !sp.done && sp.after == nil && cs.Counts != (Counts{}) {
		return nil, errors.New("it has counts but no progress (neither done nor an after)")
	}
	return sp, nil
}

// describeBound writes a split bound for a message: the key prefix in parentheses, or
// whenEmpty.
func describeBound(bound []ots.PrimaryKeyColumn, whenEmpty string) string {
	if len(bound) == 0 {
		return whenEmpty
	}
	return "(" + ots.FormatPrimaryKey(bound) + ")"
}

// save writes the checkpoint file atomically: a new temporary file in the checkpoint's
// folder (os.CreateTemp, which never opens an existing file or follows a link), synced,
// then renamed over the checkpoint; a run killed at any moment leaves the old or the new
// checkpoint, whole.
func (p *progress) save() error {
	p.mu.Lock()
	file := checkpointFile{Version: checkpointVersion, Sync: p.identity, StartedAt: p.startedAt, Splits: make([]checkpointSplit, len(p.all))}
	for i, sp := range p.all {
		file.Splits[i] = checkpointSplit{Lower: keyColumnsOf(sp.lower), Upper: keyColumnsOf(sp.upper), Done: sp.done, Counts: sp.counts}
		if sp.after != nil {
			file.Splits[i].After = keyColumnsOf(sp.after)
		}
	}
	p.dirty = false
	p.mu.Unlock()
	digest, err := file.sum()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	file.Digest = digest
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), filepath.Base(p.path)+tempPattern)
	if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
		return fmt.Errorf("checkpoint %s cannot be written in %s: %w", p.path, filepath.Dir(p.path), pathErr.Err)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s cannot be written: %w", p.path, err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", p.path, err)
	}
	return nil
}

// isTempOf reports whether name is that of a temporary file of the checkpoint named base:
// base, a dot, os.CreateTemp's random digits and tempPattern's ".tmp".
func isTempOf(name, base string) bool {
	random, ok := strings.CutPrefix(name, base+".")
	if !ok {
		return false
	}
	random, ok = strings.CutSuffix(random, ".tmp")
	return ok && random != "" && strings.Trim(random, "0123456789") == ""
}

// tempPattern is the os.CreateTemp pattern of a checkpoint's temporary files, after the
// checkpoint's own name: "sync.checkpoint.123456789.tmp".
const tempPattern = ".*.tmp"

// saveEvery saves the checkpoint every interval while it changes, until the returned
// function is called; that saves it a last time and returns the first error of a save.
// Without a checkpoint file it does nothing.
func (p *progress) saveEvery(ctx context.Context, interval time.Duration) func() error {
	if p.path == "" {
		return func() error { return nil }
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var saveErr error
	wg.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			p.mu.Lock()
			dirty := p.dirty
			p.mu.Unlock()
			if dirty && saveErr == nil {
				saveErr = p.save()
			}
		}
	})
	return func() error {
		close(stop)
		wg.Wait()
		if err := p.save(); saveErr == nil {
			saveErr = err
		}
		return saveErr
	}
}

// finish removes the checkpoint file once every split is done, so that a new run with the
// same file starts afresh, and the temporary files a run killed while saving left beside it.
func (p *progress) finish() error {
	if p.path == "" {
		return nil
	}
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: %w", err)
	}
	dir, base := filepath.Dir(p.path), filepath.Base(p.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for _, e := range entries {
		if isTempOf(e.Name(), base) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
	}
	return nil
}
