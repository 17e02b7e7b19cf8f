package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
)

func TestParseSchedstat(t *testing.T) {
	got, err := parseSchedstat([]byte("7803695 10990305 31\n"))
	require.NoError(t, err)
	assert.Equal(t, 7803695*time.Nanosecond, got)
	for _, bad := range []string{"", "1 2", "x 2 3", "-1 2 3"} {
		_, err := parseSchedstat([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

// TestProcessCPUAgreesWithGetrusage works on two goroutines and checks processCPU against
// the kernel's own account of the process's user and system time, getrusage(2).
func TestProcessCPUAgreesWithGetrusage(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Skip(err) // not Linux
	}
	var usageBefore, usageAfter syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &usageBefore))
	done := make(chan uint64)
	for range 2 {
		go func() {
			x := uint64(1)
			for range 50_000_000 {
				x = x*6364136223846793005 + 1442695040888963407
			}
			done <- x
		}()
	}
	assert.NotEqual(t, <-done, uint64(0)) // keeps the loop
	<-done
	after, err := processCPU(os.Getpid())
	require.NoError(t, err)
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &usageAfter))
	rusage := func(u syscall.Rusage) time.Duration {
		return time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	want := rusage(usageAfter) - rusage(usageBefore)
	assert.Positive(t, after-before)
	assert.InDelta(t, want.Seconds(), (after - before).Seconds(), 0.1*want.Seconds()+0.005, "processCPU %v, getrusage %v", after-before, want)
}

// cpuFixture is otslocal with the benchmark's tables, the otsetl binary and PutRow events.
type cpuFixture struct {
	target serveTarget
	warmUp workloadEvent
	evs    []workloadEvent
}

// newCPUFixture builds cmd/otsetl (or takes the binary named by $OTSETL_BENCH_BINARY) and
// starts otslocal with the tables the CPU measurement writes; events of records PutRows.
func newCPUFixture(tb testing.TB, events, records int) cpuFixture {
	tb.Helper()
	ctx := context.Background()
	srv := otslocaltest.NewServer(tb, otslocal.Options{})
	require.NoError(tb, createTables(ctx, defaultSDKClient(srv.Endpoint), serveResultTable, sequentialResultTable))
	bin := os.Getenv("OTSETL_BENCH_BINARY")
	if bin == "" {
		var err error
		bin, err = buildBinary(ctx, tb.TempDir())
		require.NoError(tb, err)
	}
	rule := defaultRule(tb)
	evs, err := newGenerator(9, time.Now()).putRowEvents(events+1, records, rule)
	require.NoError(tb, err)
	return cpuFixture{
		target: serveTarget{bin: bin, endpoint: srv.Endpoint, instance: instance, resultTable: serveResultTable, creds: credentials, check: planChecks},
		warmUp: evs[0],
		evs:    evs[1:],
	}
}

func TestMeasureServeCPUAndAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the otsetl binary")
	}
	ctx := context.Background()
	f := newCPUFixture(t, 3, 300)
	figures, insane, err := measureServeCPU(ctx, f.target, f.warmUp.payload, f.evs)
	require.NoError(t, err)
	assert.Empty(t, insane)
	assert.Equal(t, 900, figures.records)
	assert.Positive(t, figures.cpu)
	assert.Zero(t, figures.allocs, "counted by measureServeAllocations only")

	dir := t.TempDir()
	allocs, err := measureServeAllocations(ctx, f.target, f.warmUp.payload, f.evs, dir)
	require.NoError(t, err)
	assert.Greater(t, allocs, uint64(900), "at least one allocation per record")
	for _, name := range []string{"cpu.pprof", "allocs.pprof", "invocations.jsonl"} {
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Positive(t, info.Size(), name)
	}

	rows, err := tableio.Scan(ctx, defaultSDKClient(f.target.endpoint), serveResultTable)
	require.NoError(t, err)
	passing := 0
	for _, ev := range append([]workloadEvent{f.warmUp}, f.evs...) {
		for i := range ev.records {
			if sequentialPasses(&ev.records[i]) {
				passing++
			}
		}
	}
	assert.Equal(t, passing, len(rows), "the passing rows of the warm-up and the events, and no others")
}

func TestMeasureBaselineCPURunsTheBaselineInItsOwnProcess(t *testing.T) {
	ctx := context.Background()
	f := newCPUFixture(t, 2, 50)
	figures, err := measureBaselineCPU(ctx, f.target.endpoint, sequentialResultTable, f.warmUp.payload, f.evs)
	require.NoError(t, err)
	assert.Equal(t, 100, figures.records)
	assert.Positive(t, figures.cpu)
	assert.Positive(t, figures.allocs)

	rows, err := tableio.Scan(ctx, defaultSDKClient(f.target.endpoint), sequentialResultTable)
	require.NoError(t, err)
	assert.NotEmpty(t, rows, "the baseline's process wrote the passing rows")
}

func TestBaselineChildNeedsItsArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, runBaselineChild([]string{"http://127.0.0.1:1", "t"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), baselineChildCommand+" ENDPOINT TABLE WARMUP_FILE EVENT_FILE...")
	assert.Empty(t, stdout.String())
}

// BenchmarkServeCPU measures the CPU that `otsetl serve` spends per record (cpu-ns/record,
// processCPU) and its heap allocations per record (allocs/record, from --profile's counts),
// one invocation of a 1,000-record PutRow event per iteration, after a warm-up event, with
// otslocal in this process. $OTSETL_BENCH_BINARY names a built binary (or a script that
// execs one) to measure instead of cmd/otsetl, to compare builds with benchstat;
// $OTSETL_BENCH_PROFILE names a folder to keep the process's profiles in (cpu.pprof,
// allocs.pprof), or is "-" to run it without --profile, as under valgrind, whose callgrind
// cannot take the profiler's signals:
//
//	OTSETL_BENCH_BINARY=/path/to/otsetl go test -run '^$' -bench ServeCPU -benchtime 20x -count 10 ./cmd/bench
func BenchmarkServeCPU(b *testing.B) {
	const records = 1000
	ctx := context.Background()
	f := newCPUFixture(b, 1, records)
	dir := os.Getenv("OTSETL_BENCH_PROFILE")
	var args []string
	switch dir {
	case "-":
	case "":
		dir = b.TempDir()
		fallthrough
	default:
		args = []string{"--profile", dir}
	}
	served, _, err := startServe(ctx, f.target, f.warmUp.payload, args...)
	require.NoError(b, err)
	defer served.stop()
	before, err := processCPU(served.pid())
	require.NoError(b, err)
	n := 0
	for b.Loop() {
		if _, err := served.invoke(ctx, "bench", f.evs[0].payload); err != nil {
			b.Fatal(err)
		}
		n++
	}
	after, err := processCPU(served.pid())
	require.NoError(b, err)
	served.stop()
	b.ReportMetric(float64((after-before).Nanoseconds())/float64(n*records), "cpu-ns/record")
	if len(args) > 0 {
		allocs, err := countedAllocations(filepath.Join(dir, "invocations.jsonl"), n)
		require.NoError(b, err)
		b.ReportMetric(float64(allocs)/float64(n*records), "allocs/record")
	}
}
