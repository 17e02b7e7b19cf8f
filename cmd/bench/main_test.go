package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
)

func runBench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestSmokeRunRewritesTheDoc is the CI configuration: a few small events, one run, no
// child process.
func TestSmokeRunRewritesTheDoc(t *testing.T) {
	page := filepath.Join(t.TempDir(), "performance.md")
	require.NoError(t, os.WriteFile(page, []byte("# Performance\n\n"+sectionStart+"\nold\n"+sectionEnd+"\n"), 0o644))

	code, stdout, stderr := runBench(t, "-events", "2", "-records", "100", "-runs", "1", "-rss=false", "-doc", page)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, ": 2 events of 100 records, otslocal answering every request after 1ms; medians of 1 runs.")
	assert.Regexp(t, `\| write requests \| \d+ \| [\d,]+ \| Σ ceil\(mutations/200\) = \d+ \| met: equal \|`, stdout)
	assert.Contains(t, stdout, "| decode + plan, per record |")
	assert.NotContains(t, stdout, "peak RSS")
	assert.Contains(t, stderr, "run 1/1: otsetl ")
	assert.Regexp(t, "Sync: `otsetl sync` backfilling 1,000 source rows \\(\\d+ in the view\\) into an empty result table", stdout, "5 × the events' 200 records")
	assert.Regexp(t, `\| source rows/s \| [\d,]+ \| [\d,]+ \| ≥ 50× the naive loop's \|`, stdout)
	assert.Contains(t, stderr, "sync run 1/1: sync ")
	assert.Contains(t, stdout, "Export: an export-only function (`RESULT_TABLE` empty, `EXPORT_FORMAT` changes, jsonl, no compression) on the same events")
	assert.Regexp(t, `\| records/s \| [\d,]+ \| [\d,]+ \| \| \|`, stdout)
	assert.Regexp(t, `\| CPU per record of the process, 2 events of 100 PutRows \| [\d.]+ µs \| [\d.]+ µs \| ≤ the table sink's \|`, stdout)
	assert.Regexp(t, "run 1/1: otsetl [\\d,]+ records/s, one PutRow per record [\\d,]+ records/s, export only [\\d,]+ records/s", stderr)

	doc, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Equal(t, "# Performance\n\n"+sectionStart+"\n"+strings.TrimSpace(stdout)+"\n"+sectionEnd+"\n", string(doc))
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-runs", "0"}, {"-events", "-1"}, {"-latency", "-1ms"}, {"-large-event-bytes", "0"}, {"-sync-rows", "-1"}, {"-sync-baseline-rows", "0"}, {"extra"}, {"-no-such-flag"}} {
		code, stdout, stderr := runBench(t, args...)
		assert.Equal(t, 2, code, "%v", args)
		assert.Empty(t, stdout)
		assert.NotEmpty(t, stderr)
	}
}

// TestRunOtsetlReportsRequestsThatBreakThePlan makes otslocal refuse some BatchWriteRow
// requests: the retried invocations succeed, but their request counts are no longer
// ceil(mutations/200), which the benchmark must call out.
func TestRunOtsetlReportsRequestsThatBreakThePlan(t *testing.T) {
	ctx := context.Background()
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	require.NoError(t, createTables(ctx, defaultSDKClient(srv.Endpoint), sourceTable, resultTable))
	fn, err := newFunction(srv.Endpoint, resultTable)
	require.NoError(t, err)
	evs, err := newGenerator(5, time.Now()).events(3, 300, defaultRule(t))
	require.NoError(t, err)

	clean, err := runOtsetl(ctx, fn, credentials, evs, planChecks)
	require.NoError(t, err)
	assert.Empty(t, clean.insane)
	assert.Equal(t, 900, clean.records)
	assert.Equal(t, expectedWriteRequests(evs), clean.writeRequests)
	assert.Zero(t, clean.retries)

	require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: 1, PerOperation: map[string]otslocal.FaultRates{"BatchWriteRow": {ServerBusy: 0.5}}}))
	faulty, err := runOtsetl(ctx, fn, credentials, evs, planChecks)
	require.NoError(t, err)
	require.Positive(t, faulty.retries)
	assert.Equal(t, expectedWriteRequests(evs)+faulty.retries, faulty.writeRequests)
	assert.NotEmpty(t, faulty.insane)
	for _, line := range faulty.insane {
		assert.Regexp(t, `^otsetl: event \d: (\d+ write requests for \d+ mutations, want ceil\(\d+/200\) = \d+|\d+ retries without injected faults)$`, line)
	}
}

func TestRunSequentialSendsOneRequestPerPassingRecordOrDelete(t *testing.T) {
	ctx := context.Background()
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	client := defaultSDKClient(srv.Endpoint)
	require.NoError(t, createTables(ctx, client, sequentialResultTable))
	evs, err := newGenerator(6, time.Now()).events(2, 200, defaultRule(t))
	require.NoError(t, err)

	want := 0
	for _, ev := range evs {
		for i := range ev.records {
			if ev.records[i].Type == events.DeleteRow || sequentialPasses(&ev.records[i]) {
				want++
			}
		}
	}
	got, err := runSequential(defaultSDKClient(srv.Endpoint), sequentialResultTable, evs)
	require.NoError(t, err)
	assert.Equal(t, 400, got.records)
	assert.Equal(t, want, got.writeRequests)
	rows, err := tableio.Scan(ctx, client, sequentialResultTable)
	require.NoError(t, err)
	assert.NotEmpty(t, rows)
}

// TestMain lets the test binary stand in for the benchmark's binary when measureBaselineCPU
// runs it as the baseline's process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == baselineChildCommand {
		os.Exit(runBaselineChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
