package reconcile_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/transform"
)

// requireRefused runs cfg and checks that it is a ConfigError holding each of want, and that
// the result table was left as it was.
func requireRefused(t *testing.T, f *fixture, cfg reconcile.Config, want ...string) {
	t.Helper()
	before := f.rows(t, resultTable)
	report, err := reconcile.Run(t.Context(), cfg)
	var configErr *reconcile.ConfigError
	require.ErrorAs(t, err, &configErr)
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	assert.Nil(t, report)
	assert.Equal(t, before, f.rows(t, resultTable), "nothing was written")
}

// TestStaleCheckpoint: a sync stopped with a checkpoint, the result table damaged, then the
// same sync run again skipped the splits marked done and reported an exact result while keys
// were missing. The checkpoint now records when and against what its run began: a resume
// reports the time its splits were verified from, one older than MaxCheckpointAge is refused
// unless resumed anyway, one of another endpoint is refused.
func TestStaleCheckpoint(t *testing.T) {
	f, cfg, _, started, _ := stoppedRun(t)
	damaged := time.Now()
	f.delete(t, resultTable, 2, 3, 6, 7) // in the first split, which the checkpoint marks done

	saved, err := os.ReadFile(cfg.Checkpoint)
	require.NoError(t, err)
	stale := cfg
	stale.MaxCheckpointAge = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	requireRefused(t, f, stale, "checkpoint "+cfg.Checkpoint+" was begun ", " ago (", "), more than the 1ms a checkpoint is resumed within",
		"remove it to sync afresh, or resume it anyway (--resume-stale-checkpoint)")

	elsewhere := cfg
	elsewhere.Function.Endpoint = strings.Replace(cfg.Function.Endpoint, "127.0.0.1", "localhost", 1)
	requireRefused(t, f, elsewhere, "checkpoint "+cfg.Checkpoint+" is of another sync ("+cfg.Function.Endpoint+", instance")

	after, err := os.ReadFile(cfg.Checkpoint)
	require.NoError(t, err)
	assert.Equal(t, saved, after, "a refused checkpoint is left as it was")

	stale.ResumeStaleCheckpoint = true
	report, err := reconcile.Run(t.Context(), stale)
	require.NoError(t, err)
	assert.Equal(t, 2, report.ResumedSplits)
	assert.WithinRange(t, report.VerifiedFrom, started.Truncate(0), damaged, "the report says the splits were verified from the first run's start, before the damage")
	assert.Contains(t, report.Verified(), "between "+report.VerifiedFrom.UTC().Format(time.DateTime)+" and ")

	fresh := f.config(transform.Config{})
	fresh.DryRun = true
	report, err = reconcile.Run(t.Context(), fresh)
	require.NoError(t, err)
	assert.Equal(t, int64(4), report.Missing, "the damage after the first split's verification is there; a new sync finds it")
}

// editCheckpoint rewrites the checkpoint at path with edit applied to its JSON object.
func editCheckpoint(t *testing.T, path string, edit func(file map[string]any, splits []map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var file map[string]any
	require.NoError(t, json.Unmarshal(data, &file))
	var splits []map[string]any
	for _, sp := range file["splits"].([]any) {
		splits = append(splits, sp.(map[string]any))
	}
	edit(file, splits)
	data, err = json.MarshalIndent(file, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// keyValue sets the value of a split's key bound (lower, upper or after) to id.
func keyValue(sp map[string]any, bound, id string) {
	sp[bound] = []any{map[string]any{"name": "id", "type": "INTEGER", "value": id}}
}

// TestEditedCheckpointIsRefused: a checkpoint edited by hand was trusted, and a sync resuming
// it reported an exact result while keys were wrong. Each edit is now refused before
// anything is written, naming the checkpoint and what is wrong.
func TestEditedCheckpointIsRefused(t *testing.T) {
	f, cfg, _, _, _ := stoppedRun(t)
	original, err := os.ReadFile(cfg.Checkpoint)
	require.NoError(t, err)
	upper := func(splits []map[string]any, i int) string {
		return splits[i]["upper"].([]any)[0].(map[string]any)["value"].(string)
	}
	for _, tc := range []struct {
		name string
		edit func(file map[string]any, splits []map[string]any)
		want string
	}{
		{"an unfinished split marked done", func(_ map[string]any, s []map[string]any) { s[2]["done"] = true },
			"it was changed after otsetl wrote it (its digest does not match what it holds), and a changed checkpoint can mark keys done that no run checked"},
		{"a started split marked done", func(_ map[string]any, s []map[string]any) { s[1]["done"] = true },
			"split 2: it is done and has an after, which only a split in progress has"},
		{"a split deleted", func(file map[string]any, s []map[string]any) { file["splits"] = []any{s[0], s[2]} },
			"split 1 ends at (id=" + upper(splitsOf(t, original), 0) + ") and split 2 starts at (id=" + upper(splitsOf(t, original), 1) + "): the splits must follow each other without a gap or an overlap"},
		{"an upper bound shrunk", func(_ map[string]any, s []map[string]any) { keyValue(s[0], "upper", "100") },
			"split 1 ends at (id=100) and split 2 starts at"},
		{"a lower bound after the upper bound", func(_ map[string]any, s []map[string]any) {
			keyValue(s[1], "lower", "5999")
			delete(s[1], "after")
			s[1]["counts"] = map[string]any{}
		}, "split 2: its lower bound (id=5999) is not before its upper bound"},
		{"an after outside its split", func(_ map[string]any, s []map[string]any) { keyValue(s[1], "after", "5999") },
			"split 2: after (id=5999) lies outside the split, from (id="},
		{"a negative count", func(_ map[string]any, s []map[string]any) { s[0]["counts"].(map[string]any)["missing"] = -992999 },
			"split 1: its count missing (-992999) is negative"},
		{"a key of the wrong type", func(_ map[string]any, s []map[string]any) {
			s[1]["lower"] = []any{map[string]any{"name": "id", "type": "STRING", "value": "2000"}}
		}, `split 2: lower: column "id": type "STRING"; the table's primary key (id INTEGER) has INTEGER`},
		{"a key of another column", func(_ map[string]any, s []map[string]any) {
			s[1]["after"] = []any{map[string]any{"name": "key", "type": "INTEGER", "value": "2500"}}
		}, `split 2: after: key column 1 is "key"; the table's primary key (id INTEGER) has "id" there`},
		{"counts without progress", func(_ map[string]any, s []map[string]any) { s[2]["counts"].(map[string]any)["sourceRows"] = 5 },
			"split 3: it has counts but no progress (neither done nor an after)"},
		{"a first split after the table's start", func(_ map[string]any, s []map[string]any) { keyValue(s[0], "lower", "10") },
			"split 1 starts at (id=10), not at the table's start: the keys before it are in no split"},
		{"a start in the future", func(file map[string]any, _ []map[string]any) {
			file["startedAt"] = time.Now().Add(time.Hour).Format(time.RFC3339)
		}, "its start ("},
		{"no splits", func(file map[string]any, _ []map[string]any) { file["splits"] = []any{} }, "it holds no splits"},
		{"a field otsetl does not write", func(file map[string]any, _ []map[string]any) { file["verified"] = true },
			`is not a sync checkpoint: json: unknown field "verified"`},
		{"an earlier version", func(file map[string]any, _ []map[string]any) { file["version"] = 1 },
			"has version 1; this otsetl reads version 3: remove it to sync afresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(cfg.Checkpoint, original, 0o644))
			editCheckpoint(t, cfg.Checkpoint, tc.edit)
			requireRefused(t, f, cfg, "checkpoint "+cfg.Checkpoint+" ", tc.want)
		})
	}

	require.NoError(t, os.WriteFile(cfg.Checkpoint, original, 0o644))
	editCheckpoint(t, cfg.Checkpoint, func(map[string]any, []map[string]any) {})
	_, err = reconcile.Run(t.Context(), cfg)
	require.NoError(t, err, "the checkpoint as written, in another layout of its JSON, resumes")
}

// splitsOf returns the splits of a checkpoint's JSON.
func splitsOf(t *testing.T, checkpoint []byte) []map[string]any {
	t.Helper()
	var file struct{ Splits []map[string]any }
	require.NoError(t, json.Unmarshal(checkpoint, &file))
	return file.Splits
}

// TestCheckpointTemporaryFile: the checkpoint was written through CHECKPOINT.tmp, following
// a link there: `ln -s victim sync.cp.tmp` then a sync with --checkpoint sync.cp overwrote
// victim. A new temporary file is created each time now (os.CreateTemp); the ones a killed
// run leaves are removed when a run is through, and a checkpoint that cannot be written is a
// ConfigError before anything else is written.
func TestCheckpointTemporaryFile(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	f.put(t, sourceTable, levelRows(100, 10))
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	require.NoError(t, os.Symlink("victim", filepath.Join(dir, "sync.cp.tmp")))
	leftover := filepath.Join(dir, "sync.cp.2718281828.tmp") // a run killed while saving
	require.NoError(t, os.WriteFile(leftover, []byte("{"), 0o600))
	cfg := f.config(transform.Config{})
	cfg.Checkpoint = filepath.Join(dir, "sync.cp")
	_, err := reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious\n", string(data), "the link's target is untouched")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"sync.cp.tmp", "victim"}, names, "the checkpoint and the leftover are removed; the link, not written through, stays")
	assert.Len(t, f.rows(t, resultTable), 50)

	f.delete(t, resultTable, 2, 3)
	for _, tc := range []struct{ name, path, want string }{
		{"a folder that does not exist", filepath.Join(dir, "missing", "sync.cp"), "cannot be written in " + filepath.Join(dir, "missing") + ": no such file or directory: give a checkpoint file in a folder this user can write"},
		{"a path that is a folder", dir, "cannot be read: is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg.Checkpoint = tc.path
			requireRefused(t, f, cfg, "checkpoint "+tc.path+" ", tc.want)
		})
	}
	_, err = os.Stat(filepath.Join(dir, "missing"))
	assert.True(t, errors.Is(err, os.ErrNotExist))
}
