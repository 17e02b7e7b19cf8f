package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/reconcile"
)

// The tables of the fan-out measurement, in an otslocal of their own.
const (
	fanOutSource = "fanout_source"
	fanOutResult = "fanout_result"
)

// The shape of the fan-out measurement.
const (
	// fanOutRowsPerRecord scales its default size with the events': 50 × 20,000 records is
	// 1,000,000 source rows.
	fanOutRowsPerRecord = 50
	// fanOutInstances is the instances of the run on FC that is compared with the local run.
	fanOutInstances = 8
	// functionMemoryMB is the memory the function instances are given, s.yaml's.
	functionMemoryMB = 512
)

// The targets of the fan-out measurement.
const (
	targetFanOutSpeedup  = 3    // × the local run's source rows/s at its default parallelism
	targetFanOutOverhead = 0.15 // of --on-fc with one instance over the local run of one split at a time
)

// fanOutCase is one way of syncing the table.
type fanOutCase struct {
	// name describes it in the table.
	name string
	// parallel is --parallel; instances the FC instances (0: the sync runs locally).
	parallel, instances int
}

// fanOutCases are the runs of the fan-out measurement, in the order they run.
var fanOutCases = []fanOutCase{
	{"local, default --parallel", reconcile.DefaultParallel, 0},
	{"--on-fc, " + strconv.Itoa(fanOutInstances) + " instances", fanOutInstances, fanOutInstances},
	{"local, --parallel " + strconv.Itoa(fanOutInstances), fanOutInstances, 0},
	{"--on-fc, 1 instance", 1, 1},
	{"local, --parallel 1", 1, 0},
}

// fanOutRun is what one run of a case measured.
type fanOutRun struct {
	elapsed time.Duration
	// syncCPU is the sync process's CPU time, functionCPU its FC instances', otslocalCPU
	// the benchmark process's (otslocal's) over the run.
	syncCPU, functionCPU, otslocalCPU time.Duration
	// fc is the report's FC figures; nil for a local run.
	fc *reconcile.FCReport
}

// fanOutFigures is what the fan-out measurement gave.
type fanOutFigures struct {
	rows, inView int
	latency      time.Duration
	// runs holds, for each of fanOutCases, one entry per run.
	runs [][]fanOutRun
}

// rowsPerSecond is a run's throughput in source rows per second.
func (f *fanOutFigures) rowsPerSecond(r fanOutRun) float64 {
	return float64(f.rows) / r.elapsed.Seconds()
}

// measureFanOut measures `otsetl sync` (bin, a process of its own) backfilling opts' fan-out
// rows into an empty result table through an otslocal that answers after -fanout-latency, in
// each of fanOutCases, -fanout-runs times: locally, and with --on-fc through fclocal's
// InvokeFunction API over instances of `otsetl serve` (bin), with each run's CPU.
func measureFanOut(ctx context.Context, opts options, bin string, progress io.Writer) (*fanOutFigures, []string, error) {
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	f := &fanOutFigures{rows: opts.fanOutRowsOrDefault(), latency: opts.fanOutLatency, runs: make([][]fanOutRun, len(fanOutCases))}
	fmt.Fprintf(progress, "fan-out: writing %s source rows\n", grouped(int64(f.rows)))
	if f.inView, _, err = populate(ctx, srv.Endpoint, fanOutSource, f.rows, 0, opts.seed+2); err != nil {
		return nil, nil, err
	}
	if err := srv.SetFaults(otslocal.Faults{Latency: opts.fanOutLatency}); err != nil {
		return nil, nil, err
	}
	var insane []string
	client := defaultSDKClient(srv.Endpoint)
	for run := range opts.fanOutRuns {
		for i, c := range fanOutCases {
			if err := recreate(ctx, client, fanOutResult); err != nil {
				return nil, nil, err
			}
			r, report, err := runFanOutCase(ctx, bin, srv.Endpoint, c)
			if err != nil {
				return nil, nil, fmt.Errorf("fan-out, %s: %w", c.name, err)
			}
			insane = append(insane, checkBackfill(report.Counts, f.rows, f.inView)...)
			if c.instances > 0 && (report.FC == nil || report.FC.Instances > c.instances || report.FC.Instances == 0) {
				insane = append(insane, fmt.Sprintf("fan-out, %s: the report's FC figures %+v", c.name, report.FC))
			}
			f.runs[i] = append(f.runs[i], r)
			fmt.Fprintf(progress, "fan-out run %d/%d, %s: %s rows/s, CPU %v sync + %v function + %v otslocal\n", run+1, opts.fanOutRuns, c.name,
				grouped(int64(f.rowsPerSecond(r))), r.syncCPU.Round(time.Millisecond), r.functionCPU.Round(time.Millisecond), r.otslocalCPU.Round(time.Millisecond))
		}
	}
	return f, insane, nil
}

// runFanOutCase runs one sync of case c as a child process and measures it.
func runFanOutCase(ctx context.Context, bin, endpoint string, c fanOutCase) (fanOutRun, *reconcile.Report, error) {
	env := []string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + credentials.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + credentials.AccessKeySecret,
		handler.EnvSourceTable + "=" + fanOutSource,
		handler.EnvResultTable + "=" + fanOutResult,
	}
	args := []string{"sync", "--endpoint", endpoint, "--instance", instance, "--json", "--parallel", strconv.Itoa(c.parallel)}
	var pool *fclocal.Pool
	if c.instances > 0 {
		functionEnv := append(env, handler.EnvInstance+"="+instance, handler.EnvEndpoint+"="+endpoint, "FC_FUNCTION_MEMORY_SIZE="+strconv.Itoa(functionMemoryMB))
		var err error
		pool, err = fclocal.NewPool(fclocal.PoolConfig{Start: fclocal.ProcessInstances(bin, []string{"serve"}, functionEnv, io.Discard, io.Discard), MaxInstances: c.instances})
		if err != nil {
			return fanOutRun{}, nil, err
		}
		defer pool.Close()
		api, err := fclocal.NewFunctionAPI(fclocal.APIConfig{FunctionName: "otsetl", Pool: pool, Credentials: credentials})
		if err != nil {
			return fanOutRun{}, nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fanOutRun{}, nil, err
		}
		server := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = server.Serve(ln) }()
		defer server.Close()
		args = append(args, "--on-fc", "--function", "otsetl", "--fc-endpoint", "http://"+ln.Addr().String())
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	otslocalBefore := selfCPU()
	started := time.Now()
	err := cmd.Run()
	r := fanOutRun{elapsed: time.Since(started), otslocalCPU: selfCPU() - otslocalBefore}
	if err != nil {
		return fanOutRun{}, nil, fmt.Errorf("otsetl sync: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	r.syncCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if pool != nil {
		for _, inst := range pool.Status().Instances {
			cpu, err := processCPU(inst.PID)
			if err != nil {
				return fanOutRun{}, nil, err
			}
			r.functionCPU += cpu
		}
	}
	var report reconcile.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		return fanOutRun{}, nil, fmt.Errorf("otsetl sync --json: %w: %q", err, stdout.String())
	}
	r.fc = report.FC
	return r, &report, nil
}

// selfCPU is the CPU time this process has used, user and system (getrusage).
func selfCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// markdown renders the fan-out figures as a table of their own, after a line on the
// workload, and the targets.
func (f *fanOutFigures) markdown(b *strings.Builder, runs int) {
	fmt.Fprintf(b, "\nFan-out: `otsetl sync` (a process of its own) backfilling %s source rows (%s in the view) through an otslocal answering every request after %s, locally and with `--on-fc` through the local FC API over `otsetl serve` instances (processes, %d MB); medians of %d runs. CPU: the sync process's, the function instances', and otslocal's (the benchmark process).\n\n",
		grouped(int64(f.rows)), grouped(int64(f.inView)), f.latency, functionMemoryMB, runs)
	b.WriteString("| run | source rows/s | time | CPU: sync | CPU: function | CPU: otslocal | invocations | billed |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	rate := make([]float64, len(fanOutCases))
	for i, c := range fanOutCases {
		rs := f.runs[i]
		rate[i] = medianOf(rs, f.rowsPerSecond)
		ms := func(pick func(fanOutRun) time.Duration) string {
			return fmt.Sprintf("%.1f s", medianOf(rs, func(r fanOutRun) float64 { return pick(r).Seconds() }))
		}
		invocations, billed := "", ""
		if c.instances > 0 {
			invocations = grouped(int64(medianOf(rs, func(r fanOutRun) float64 { return float64(r.fc.Invocations) })))
			billed = fmt.Sprintf("%.1f GB·s", medianOf(rs, func(r fanOutRun) float64 { return r.fc.BilledGBSeconds }))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.name, grouped(int64(rate[i])), ms(func(r fanOutRun) time.Duration { return r.elapsed }),
			ms(func(r fanOutRun) time.Duration { return r.syncCPU }), ms(func(r fanOutRun) time.Duration { return r.functionCPU }),
			ms(func(r fanOutRun) time.Duration { return r.otslocalCPU }), invocations, billed)
	}
	speedup := rate[1] / rate[0]
	overhead := rate[4]/rate[3] - 1
	billedPerMillion := medianOf(f.runs[1], func(r fanOutRun) float64 { return r.fc.BilledGBSeconds }) * 1e6 / float64(f.rows)
	b.WriteString("\n| figure | measured | target | result |\n|---|---:|---|---|\n")
	fmt.Fprintf(b, "| `--on-fc` over %d instances against the local run at its default parallelism | %.1f× | ≥ %d× | %s |\n", fanOutInstances, speedup, targetFanOutSpeedup,
		verdict(speedup >= targetFanOutSpeedup, fmt.Sprintf("%.1f×", speedup), fmt.Sprintf("%.1f× (short by %.0f%%)", speedup, (1-speedup/targetFanOutSpeedup)*100)))
	fmt.Fprintf(b, "| overhead of `--on-fc` with 1 instance against the local run with `--parallel 1` | %+.0f%% | ≤ %.0f%% | %s |\n", overhead*100, targetFanOutOverhead*100,
		verdict(overhead <= targetFanOutOverhead, fmt.Sprintf("%+.0f%%", overhead*100), fmt.Sprintf("%+.0f%% (over by %.0f points)", overhead*100, (overhead-targetFanOutOverhead)*100)))
	fmt.Fprintf(b, "| billed time per million source rows, `--on-fc` over %d instances | %.1f GB·s | | |\n", fanOutInstances, billedPerMillion)
}
