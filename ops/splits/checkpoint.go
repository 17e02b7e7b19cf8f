package splits

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
)

// The checkpoint file (docs/design.md, "Sync"): one JSON object, written by save and
// trusted only once load has checked all of it.
//
//	{"version": 3,
//	 "<kind>": {identity},
//	 "startedAt": "2026-12-07T07:23:00.123Z",
//	 "splits": [{"lower": [key column], "upper": [key column], "after": [key column],
//	             "done": true, "counts": {counts}}],
//	 "digest": "<hex SHA-256>"}
//
// The kind is the run's (Config.Kind, "sync"), its identity what the run is of. A key column
// is {"name", "type", "value"} ([ots.TextKeyColumn]). The splits, in primary key order, cover
// the source table's key space: the first lower and the last upper are empty (the table's
// start and end), each upper is the next split's lower. "after", on a split not done, is the
// last key whose work was confirmed; "counts" are what was found and done up to it.

// checkpointVersion is the layout version of checkpoint files: 3 keeps a sync's columns as
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

// checkpointInterval is how often a run saves its checkpoint while it changes: a run stopped
// by SIGKILL redoes at most this much work (idempotently) when it resumes.
const checkpointInterval = 250 * time.Millisecond

// checkpointFile is the checkpoint's content; its JSON layout is written by encode and read
// by decodeCheckpoint, with the identity under the run's kind.
type checkpointFile[C any, I any] struct {
	Version  int
	Identity I
	// StartedAt is when the run that began the checkpoint started: every key it marks done
	// was verified after it.
	StartedAt time.Time
	Splits    []fileSplit[C]
	// Digest is the SHA-256, in hexadecimal, of the file's compact JSON with an empty
	// digest (sum): a file changed by hand no longer matches it.
	Digest string
}

// fileSplit is one split's progress in the file.
type fileSplit[C any] struct {
	Lower  []ots.TextKeyColumn `json:"lower"`
	Upper  []ots.TextKeyColumn `json:"upper"`
	After  []ots.TextKeyColumn `json:"after,omitempty"`
	Done   bool                `json:"done,omitempty"`
	Counts C                   `json:"counts"`
}

// encode writes the file's compact JSON: version, the identity under kind, startedAt,
// splits and digest, in this order.
func (f checkpointFile[C, I]) encode(kind string) ([]byte, error) {
	var b bytes.Buffer
	for i, field := range []struct {
		name  string
		value any
	}{{"version", f.Version}, {kind, f.Identity}, {"startedAt", f.StartedAt}, {"splits", f.Splits}, {"digest", f.Digest}} {
		data, err := json.Marshal(field.value)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(field.name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(data)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// decodeCheckpoint reads a file written by encode: its fields and no other, each strictly
// (no field a checkpoint does not write).
func decodeCheckpoint[C any, I any](data []byte, kind string) (checkpointFile[C, I], error) {
	var f checkpointFile[C, I]
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return f, err
	}
	targets := map[string]any{"version": &f.Version, kind: &f.Identity, "startedAt": &f.StartedAt, "splits": &f.Splits, "digest": &f.Digest}
	for name, raw := range fields {
		target, ok := targets[name]
		if !ok {
			return f, fmt.Errorf("json: unknown field %q", name)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			return f, err
		}
	}
	return f, nil
}

// sum is the file's digest: the SHA-256 of its compact JSON with Digest empty.
func (f checkpointFile[C, I]) sum(kind string) (string, error) {
	f.Digest = ""
	data, err := f.encode(kind)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// saveOrRefuse saves the checkpoint, if there is one, as a run's first write: failing, it is
// a ConfigError (a folder that cannot be written, a path that is a folder).
func (p *Plan[C, PC, I]) saveOrRefuse() error {
	if p.cfg.Checkpoint == "" {
		return nil
	}
	if err := p.save(); err != nil {
		return &ConfigError{Err: fmt.Errorf("%w: give a checkpoint file in a folder this user can write", err)}
	}
	return nil
}

// load reads and checks the checkpoint file, reporting false when there is none. It is a
// ConfigError naming the file and what is wrong when the file is not a checkpoint of this
// run's identity written by this otsetl and left unchanged (checkFile), or when it began
// more than MaxCheckpointAge before the run (0: DefaultMaxCheckpointAge) and
// ResumeStaleCheckpoint is not set.
func (p *Plan[C, PC, I]) load() (bool, error) {
	path, kind, now := p.cfg.Checkpoint, p.cfg.Kind, p.cfg.Started
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return false, configError("checkpoint %s cannot be read: %w", path, pathErr.Err)
	}
	if err != nil {
		return false, configError("checkpoint %s cannot be read: %w", path, err)
	}
	var version struct{ Version int } // first, so that an older layout is refused as such
	if err := json.Unmarshal(data, &version); err == nil && version.Version != checkpointVersion {
		return false, configError("checkpoint %s has version %d; this otsetl reads version %d: remove it to %s afresh", path, version.Version, checkpointVersion, kind)
	}
	file, err := decodeCheckpoint[C, I](data, kind)
	if err != nil {
		return false, configError("checkpoint %s is not a %s checkpoint: %w", path, kind, err)
	}
	if theirs, ours := mustJSON(file.Identity), mustJSON(p.cfg.Identity); !bytes.Equal(theirs, ours) {
		return false, configError("checkpoint %s is of another %s (%s); this one is %s: remove the file or give another",
			path, kind, file.Identity, p.cfg.Identity)
	}
	splits, err := p.checkFile(file)
	if err != nil {
		return false, configError("checkpoint %s cannot be resumed: %w; remove it to %s afresh", path, err, kind)
	}
	age := now.Sub(file.StartedAt)
	maxAge := p.cfg.MaxCheckpointAge
	if maxAge == 0 {
		maxAge = DefaultMaxCheckpointAge
	}
	if age > maxAge && !p.cfg.ResumeStaleCheckpoint {
		return false, configError("checkpoint %s was begun %s ago (%s), more than the %s a checkpoint is resumed within: "+
			"the splits it marks done were verified then, and the result table may have changed since; remove it to %s afresh, "+
			"or resume it anyway (--resume-stale-checkpoint)", path, age.Round(time.Second), file.StartedAt.Format(time.RFC3339), maxAge, kind)
	}
	p.all, p.startedAt = splits, file.StartedAt
	for _, sp := range splits {
		if sp.Done || sp.After != nil {
			p.resumed++
		}
	}
	return true, nil
}

// mustJSON is v's compact JSON; an identity is plain data, which always encodes.
func mustJSON(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}

// checkFile checks what a checkpoint holds and returns its splits: a start no later than now
// (with clockSkew), splits whose keys are the leading columns of the schema with its types,
// that cover the key space in order without gaps or overlaps, each with its "after" inside
// it, not done with an "after", counts of 0 or more and none before any progress; and a
// digest that matches, since what no check can see (a split marked done that was never
// synced) is a change too. The error names the split (from 1) and what is wrong.
func (p *Plan[C, PC, I]) checkFile(file checkpointFile[C, I]) ([]*Split[C], error) {
	if file.StartedAt.IsZero() || file.StartedAt.After(p.cfg.Started.Add(clockSkew)) {
		return nil, fmt.Errorf("its start (%s) is not a time before now", file.StartedAt.Format(time.RFC3339))
	}
	if len(file.Splits) == 0 {
		return nil, errors.New("it holds no splits")
	}
	splits := make([]*Split[C], len(file.Splits))
	for i, fs := range file.Splits {
		sp, err := checkSplit[C, PC](fs, p.cfg.Schema)
		if err != nil {
			return nil, fmt.Errorf("split %d: %w", i+1, err)
		}
		switch {
		case i == 0 && len(sp.Lower) > 0:
			return nil, fmt.Errorf("split 1 starts at (%s), not at the table's start: the keys before it are in no split", ots.FormatPrimaryKey(sp.Lower))
		case i > 0 && ots.ComparePrimaryKeys(splits[i-1].Upper, sp.Lower) != 0:
			return nil, fmt.Errorf("split %d ends at %s and split %d starts at %s: the splits must follow each other without a gap or an overlap",
				i, describeBound(splits[i-1].Upper, "the table's end"), i+1, describeBound(sp.Lower, "the table's start"))
		}
		splits[i] = sp
	}
	if last := splits[len(splits)-1]; len(last.Upper) > 0 {
		return nil, fmt.Errorf("split %d ends at (%s), not at the table's end: the keys after it are in no split", len(splits), ots.FormatPrimaryKey(last.Upper))
	}
	digest, err := file.sum(p.cfg.Kind)
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
func checkSplit[C any, PC Counts[C]](fs fileSplit[C], schema []ots.PrimaryKeySchema) (*Split[C], error) {
	sp := &Split[C]{Done: fs.Done, Counts: fs.Counts}
	var err error
	if sp.Lower, err = ots.KeyOfText(fs.Lower, schema); err != nil {
		return nil, fmt.Errorf("lower: %w", err)
	}
	if sp.Upper, err = ots.KeyOfText(fs.Upper, schema); err != nil {
		return nil, fmt.Errorf("upper: %w", err)
	}
	if len(sp.Lower) > 0 && len(sp.Upper) > 0 && ots.ComparePrimaryKeys(sp.Lower, sp.Upper) >= 0 {
		return nil, fmt.Errorf("its lower bound (%s) is not before its upper bound (%s)", ots.FormatPrimaryKey(sp.Lower), ots.FormatPrimaryKey(sp.Upper))
	}
	if fs.After != nil {
		if sp.After, err = ots.KeyOfText(fs.After, schema); err != nil {
			return nil, fmt.Errorf("after: %w", err)
		}
		switch {
		case len(sp.After) != len(schema):
			return nil, fmt.Errorf("after (%s) is not a whole primary key (%s)", ots.FormatPrimaryKey(sp.After), ots.FormatSchema(schema))
		case !sp.contains(sp.After):
			return nil, fmt.Errorf("after (%s) lies outside the split, from %s to %s", ots.FormatPrimaryKey(sp.After),
				describeBound(sp.Lower, "the table's start"), describeBound(sp.Upper, "the table's end"))
		case sp.Done:
			return nil, errors.New("it is done and has an after, which only a split in progress has")
		}
	}
	if err := PC(&sp.Counts).Check(); err != nil {
		return nil, err
	}
	var none C
	if !sp.Done && sp.After == nil && !bytes.Equal(mustJSON(sp.Counts), mustJSON(none)) {
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
func (p *Plan[C, PC, I]) save() error {
	path, kind := p.cfg.Checkpoint, p.cfg.Kind
	p.mu.Lock()
	file := checkpointFile[C, I]{Version: checkpointVersion, Identity: p.cfg.Identity, StartedAt: p.startedAt, Splits: make([]fileSplit[C], len(p.all))}
	for i, sp := range p.all {
		file.Splits[i] = fileSplit[C]{Lower: ots.TextKey(sp.Lower), Upper: ots.TextKey(sp.Upper), Done: sp.Done, Counts: sp.Counts}
		if sp.After != nil {
			file.Splits[i].After = ots.TextKey(sp.After)
		}
	}
	p.dirty = false
	p.mu.Unlock()
	digest, err := file.sum(kind)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	file.Digest = digest
	compact, err := file.encode(kind)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var data bytes.Buffer
	if err := json.Indent(&data, compact, "", "  "); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+tempPattern)
	if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
		return fmt.Errorf("checkpoint %s cannot be written in %s: %w", path, filepath.Dir(path), pathErr.Err)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s cannot be written: %w", path, err)
	}
	_, err = tmp.Write(append(data.Bytes(), '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", path, err)
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
func (p *Plan[C, PC, I]) saveEvery(ctx context.Context, interval time.Duration) func() error {
	if p.cfg.Checkpoint == "" {
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
func (p *Plan[C, PC, I]) finish() error {
	path := p.cfg.Checkpoint
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: %w", err)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
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
