package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
)

// ossOutput matches the line `otsetl local` prints once the local OSS runs.
var ossOutput = regexp.MustCompile(`(?m)^otsetl local: oss at (http://127\.0\.0\.1:\d+)/, objects in (.+)$`)

// TestLocalExportsEveryChange runs `otsetl local --export` and writes rows: the function
// exports every batch as a file under --oss-dir, DIR/otsetl-local/exports/source_data/
// dt=…/hh=…/<time>-<hash>.jsonl; applying the files' lines in name order rebuilds
// source_data, every cell with its type, while result follows as before.
func TestLocalExportsEveryChange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	dir := t.TempDir()
	s := startLocal(t, testkit.BuildOtsetl(t), "--export", "--oss-dir", dir)
	m := ossOutput.FindStringSubmatch(s.stdout.String())
	require.NotNil(t, m, s.stdout.String())
	assert.Equal(t, dir, m[2])
	assert.Contains(t, s.stdout.String(), "otsetl local: the function exports changes in jsonl (compression none) to oss://otsetl-local/exports/, files in "+filepath.Join(dir, "otsetl-local", "exports"))

	for id := int64(1); id <= 4; id++ {
		s.put(t, id, id, "log line")
	}
	s.update(t, 2, "level", int64(0))
	s.delete(t, 3)
	s.requireResult(t, "after the writes", 4)

	var replayed *modeltest.SourceModel
	var files []string
	ok := assert.Eventually(t, func() bool {
		var err error
		files, err = filepath.Glob(filepath.Join(dir, "otsetl-local", "exports", "source_data", "dt=*", "hh=*", "*.jsonl"))
		require.NoError(t, err)
		slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
		replayed = modeltest.NewSourceModel()
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			lines, err := modeltest.ParseChanges(data, export.JSONL, otslocaltest.IDKey)
			require.NoError(t, err, f)
			for _, l := range lines {
				replayed.ApplyChange(l)
			}
		}
		rows, err := modeltest.ScanTable(s.api, "source_data")
		require.NoError(t, err)
		// source_data keeps one version of a column: compare the latest.
		return slices.Equal(modeltest.RenderImages(modeltest.LatestImages(rows)), modeltest.RenderImages(modeltest.LatestImages(replayed.Rows)))
	}, 30*time.Second, 50*time.Millisecond)
	require.True(t, ok, "the exported files never rebuilt source_data: %v\nstdout:\n%s", files, s.stdout)
	assert.Len(t, replayed.Rows, 3)
	level, _ := replayed.Rows[2]["level"][0].Value.Int()
	assert.Equal(t, int64(0), level)
	assert.Equal(t, ots.KindString, replayed.Rows[4]["message"][0].Value.Kind())
	// An invocation's line is printed once it is answered, which is after its file is written.
	exported := regexp.MustCompile(`exported \d+ lines, \d+ bytes in \d+ OSS requests to oss://otsetl-local/exports/source_data/dt=`)
	assert.Eventually(t, func() bool { return exported.MatchString(s.stdout.String()) }, 30*time.Second, 10*time.Millisecond,
		"no invocation line says what it exported:\n%s", s.stdout)
}
