package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/replay"
)

// replayedFiles returns n results, as replay.Run reports them, and the lines they print.
func replayedFiles(n int) ([]replay.Result, []string) {
	var results []replay.Result
	var lines []string
	for i := range n {
		r := replay.Result{Source: replay.Source{Path: filepath.Join("events", fmt.Sprintf("%04d.cbor", i+1))}, Summary: handler.Summary{Records: i + 1, Keys: 1, Puts: 1, WriteRequests: 1}}
		results = append(results, r)
		lines = append(lines, fmt.Sprintf("%04d.cbor: %s", i+1, r.Summary.String()))
	}
	return results, lines
}

func TestProgressPrintsPlainLinesWithoutATerminalOrWithFewFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    int
		terminal bool
	}{
		{"not a terminal", 25, false},
		{"few files on a terminal", progressMinEvents - 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results, lines := replayedFiles(tc.files)
			var out bytes.Buffer
			p := newProgress(&out, tc.files, tc.terminal)
			for _, r := range results {
				p.eventDone(r)
			}
			p.stop()
			assert.Equal(t, strings.Join(lines, "\n")+"\n", out.String())
		})
	}
}

func TestProgressDrawsABarBelowTheLinesOnATerminal(t *testing.T) {
	results, lines := replayedFiles(progressMinEvents + 2)
	var out bytes.Buffer
	p := newProgress(&out, len(results), true)
	for _, r := range results {
		p.eventDone(r)
	}
	p.stop()

	text := out.String()
	assert.Contains(t, text, "replaying   0% ")
	assert.Contains(t, text, "replaying 100% |")
	assert.True(t, strings.HasSuffix(text, "\n"), "the bar's line ends, so the summary that follows starts on its own line")
	last := -1
	for _, line := range lines {
		at := strings.Index(text, line+"\n")
		require.Greater(t, at, last, "%q printed once, in order", line)
		last = at
	}
}

func TestProgressEndsTheBarLineWhenReplayStopsEarly(t *testing.T) {
	results, lines := replayedFiles(3)
	var out bytes.Buffer
	p := newProgress(&out, 20, true)
	for _, r := range results {
		p.eventDone(r)
	}
	p.stop()

	text := out.String()
	assert.Contains(t, text, "replaying  15% |")
	assert.Contains(t, text, "(3/20, ")
	assert.NotContains(t, text, "100%")
	assert.True(t, strings.HasSuffix(text, "\n"))
	for _, line := range lines {
		assert.Contains(t, text, line+"\n")
	}
}

func TestIsTerminal(t *testing.T) {
	assert.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a regular file is not a terminal")
}

// TestReplayOfManyFilesToAPipeHasNoBar replays more files than progressMinEvents with standard
// output captured (not a terminal): the output is the plain summary lines.
func TestReplayOfManyFilesToAPipeHasNoBar(t *testing.T) {
	first, err := os.ReadFile(filepath.Join(scenarioDir, "0001-puts.json"))
	require.NoError(t, err)
	dir := t.TempDir()
	for i := range progressMinEvents + 1 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.json", i)), first, 0o644))
	}
	code, stdout, stderr := runCLI(t, noEnv, "replay", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "replayed 11 of 11 events")
	assert.NotContains(t, stdout, "\r")
	assert.NotContains(t, stdout, "replaying")
}
