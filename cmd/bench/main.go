// Command bench is otsetl's end-to-end benchmark: the function against a local Tablestore
// (otslocal) that answers every request after an injected latency, compared with a baseline
// on the same events in the same run: one sequential PutRow per record, as the documented
// sample handler does.
//
// It generates trigger events of a realistic record mix (see workload.go), re-enacts them
// on the source table, then, for each of -runs runs, invokes the function once per event
// (handler.New and Function.Process, the path FC's runtimes take) and replays the same
// events with one sequential request per record through the official Go SDK. It measures
// decode + plan per record in process with testing.Benchmark, and, with -rss, builds
// cmd/otsetl and starts `otsetl serve` as a child process -runs times, for the time to its
// first answered invocation (cold start) and its peak resident set (VmHWM, Linux) after one
// large event.
//
// It then measures `otsetl sync` (sync.go): in an otslocal of its own, with the same latency,
// it backfills -sync-rows source rows of the same shape (half of them passing `level > 1`)
// into an empty result table, in process with reconcile.Run, against the naive loop (GetRange
// page by page, one sequential PutRow per row that passes) over the first
// -sync-baseline-rows rows, -runs times; with -rss it runs `otsetl sync` as a child process
// on -sync-rss-rows rows for its peak resident set (VmHWM, read while it runs). It prints
// markdown tables of the medians against the targets; -doc FILE puts them between the
// <!-- bench:start --> and <!-- bench:end --> lines of FILE.
//
//	go run ./cmd/bench -doc docs/performance.md         # what `make bench` runs
//	go run ./cmd/bench -events 2 -records 100 -runs 1 -rss=false   # smoke test, a few seconds
//
// The exit code is 1 when an invocation fails or otsetl's requests are not what its plan
// implies (ceil(mutations/200) BatchWriteRow requests per event, no retries), or a sync's
// counts are not those of a backfill, and 2 on bad flags. Speed targets are reported, never enforced: they depend on the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// The local instance the benchmark uses; otslocal accepts any name and access key.
const (
	instance              = "bench"
	sourceTable           = handler.DefaultSourceTable
	resultTable           = handler.DefaultResultTable
	sequentialResultTable = "result_sequential"
	serveResultTable      = "result_serve"
)

var credentials = aliyun.Credentials{AccessKeyID: "bench", AccessKeySecret: "bench"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == baselineChildCommand {
		os.Exit(runBaselineChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	events, records, runs int
	latency               time.Duration
	rss, cpu              bool
	largeEventBytes       int
	doc                   string
	seed                  uint64
	cpuProfile            string
	// serveProfile keeps the profiles of `otsetl serve --profile` of the allocation count.
	serveProfile string
	// syncRows, syncBaselineRows and syncRSSRows size the sync measurement (see
	// syncRowsOrDefault).
	syncRows, syncBaselineRows, syncRSSRows int
	// exportRSSRecords is the size of the event the export's peak RSS is measured with.
	exportRSSRecords int
	// fanOutRows, fanOutRuns and fanOutLatency shape the fan-out measurement (see
	// fanOutRowsOrDefault); fanOut turns it on.
	fanOutRows, fanOutRuns int
	fanOutLatency          time.Duration
	fanOut                 bool
}

// fanOutRowsOrDefault is -fanout-rows, or fanOutRowsPerRecord times the events' records
// when it is 0.
func (o options) fanOutRowsOrDefault() int {
	if o.fanOutRows > 0 {
		return o.fanOutRows
	}
	return fanOutRowsPerRecord * o.events * o.records
}

// syncRowsPerRecord scales the default size of the sync measurement with the events':
// 100,000 source rows for the default 20 events of 1,000 records, 1,000 for the smoke run.
const syncRowsPerRecord = 5

// syncRowsOrDefault is -sync-rows, or syncRowsPerRecord times the events' records when it
// is 0.
func (o options) syncRowsOrDefault() int {
	if o.syncRows > 0 {
		return o.syncRows
	}
	return syncRowsPerRecord * o.events * o.records
}

// parseOptions parses and checks the flags.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.events, "events", 20, "trigger events per run")
	fs.IntVar(&o.records, "records", 1000, "records per event")
	fs.IntVar(&o.runs, "runs", 5, "runs to take the medians of")
	fs.DurationVar(&o.latency, "latency", time.Millisecond, "latency otslocal adds to every request")
	fs.BoolVar(&o.rss, "rss", true, "build cmd/otsetl and measure the cold start and peak RSS of `otsetl serve` (Linux)")
	fs.BoolVar(&o.cpu, "cpu", true, "build cmd/otsetl and measure the CPU per record of `otsetl serve` and of the baseline, each in its own process (Linux)")
	fs.StringVar(&o.serveProfile, "serve-profile", "", "keep the CPU and allocation profiles of `otsetl serve` from the allocation count in this folder")
	fs.IntVar(&o.largeEventBytes, "large-event-bytes", 4<<20, "size of the event the peak RSS is measured with, in bytes")
	fs.StringVar(&o.doc, "doc", "", "write the tables between the bench markers of this markdown file (make bench: docs/performance.md)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated events")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of otsetl's runs (function, SDK and otslocal together) to this file")
	fs.IntVar(&o.syncRows, "sync-rows", 0, "source rows `otsetl sync` backfills; 0 means 5 × the events' records (100,000 by default)")
	fs.IntVar(&o.syncBaselineRows, "sync-baseline-rows", 10_000, "source rows the naive backfill loop reads (its rate is per row)")
	fs.IntVar(&o.syncRSSRows, "sync-rss-rows", 1_000_000, "source rows of the sync whose peak RSS is measured, as a process of its own (with -rss)")
	fs.IntVar(&o.exportRSSRecords, "export-rss-records", 200_000, "records of the event the export's peak RSS is measured with (with -rss)")
	fs.BoolVar(&o.fanOut, "fanout", true, "build cmd/otsetl and measure `otsetl sync` locally and with --on-fc over local FC instances, each a process (Linux)")
	fs.IntVar(&o.fanOutRows, "fanout-rows", 0, "source rows of the fan-out measurement; 0 means 50 × the events' records (1,000,000 by default)")
	fs.IntVar(&o.fanOutRuns, "fanout-runs", 1, "runs of each case of the fan-out measurement to take the medians of")
	fs.DurationVar(&o.fanOutLatency, "fanout-latency", 20*time.Millisecond, "latency otslocal adds to every request of the fan-out measurement, as across machines")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	switch {
	case fs.NArg() > 0:
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.events < 1 || o.records < 1 || o.runs < 1:
		return options{}, errors.New("-events, -records and -runs must be at least 1")
	case o.latency < 0:
		return options{}, errors.New("-latency must not be negative")
	case o.largeEventBytes < 1:
		return options{}, errors.New("-large-event-bytes must be positive")
	case o.syncRows < 0 || o.syncBaselineRows < 1 || o.syncRSSRows < 1:
		return options{}, errors.New("-sync-rows must not be negative, -sync-baseline-rows and -sync-rss-rows must be positive")
	case o.exportRSSRecords < 1:
		return options{}, errors.New("-export-rss-records must be positive")
	case o.fanOutRows < 0 || o.fanOutRuns < 1 || o.fanOutLatency < 0:
		return options{}, errors.New("-fanout-rows and -fanout-latency must not be negative, -fanout-runs must be positive")
	}
	return o, nil
}

// run is the command with its arguments and outputs; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "bench:", err)
		}
		return 2
	}
	rep, insane, err := measure(ctx, opts, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	table := rep.markdown()
	fmt.Fprint(stdout, table)
	if len(insane) > 0 {
		for _, line := range insane {
			fmt.Fprintln(stderr, "bench: not sane:", line)
		}
		return 1
	}
	if opts.doc != "" {
		if err := rewriteDoc(opts.doc, table); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	return 0
}

// measure runs the benchmark and returns its report and what was not sane, writing its
// progress to progress.
func measure(ctx context.Context, opts options, progress io.Writer) (*report, []string, error) {
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	fn, err := newFunction(srv.Endpoint, resultTable)
	if err != nil {
		return nil, nil, err
	}
	oss, stopOSS, err := startOSS(opts.latency)
	if err != nil {
		return nil, nil, err
	}
	defer stopOSS()
	exportFn, err := newExportFunction(srv.Endpoint, oss.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	rule, err := transform.Compile(fn.Config().Rule)
	if err != nil {
		return nil, nil, err
	}
	gen := newGenerator(opts.seed, time.Now())
	evs, err := gen.events(opts.events, opts.records, rule)
	if err != nil {
		return nil, nil, err
	}
	// Decode + plan first, while the heap holds little but the events, as a function
	// instance's does: the tables otslocal fills below would make every garbage collection
	// of the measurement scan them.
	var decodePlans []decodePlan
	for i := range opts.runs {
		d, err := measureDecodePlan(rule, evs[0])
		if err != nil {
			return nil, nil, err
		}
		decodePlans = append(decodePlans, d)
		fmt.Fprintf(progress, "decode + plan %d/%d: %.0f ns/record\n", i+1, opts.runs, d.nsPerRecord)
	}
	if err := prepareTables(ctx, srv.Endpoint, evs, progress); err != nil {
		return nil, nil, err
	}
	if err := srv.SetFaults(otslocal.Faults{Latency: opts.latency}); err != nil {
		return nil, nil, err
	}

	rep := &report{date: time.Now(), machine: thisMachine(), events: opts.events, records: opts.records, runs: opts.runs,
		latency: opts.latency, expectedWrites: expectedWriteRequests(evs), decodePlan: decodePlans, export: &exportFigures{}}
	var insane []string
	baseline := defaultSDKClient(srv.Endpoint)
	for i := range opts.runs {
		o, err := profiled(opts.cpuProfile, func() (throughput, error) { return runOtsetl(ctx, fn, credentials, evs, planChecks) })
		if err != nil {
			return nil, nil, err
		}
		s, err := runSequential(baseline, sequentialResultTable, evs)
		if err != nil {
			return nil, nil, err
		}
		x, err := runOtsetl(ctx, exportFn, credentials, evs, exportChecks)
		if err != nil {
			return nil, nil, fmt.Errorf("export only: %w", err)
		}
		rep.otsetl, rep.sequential, rep.export.runs = append(rep.otsetl, o), append(rep.sequential, s), append(rep.export.runs, x)
		insane = append(insane, o.insane...)
		insane = append(insane, x.insane...)
		fmt.Fprintf(progress, "run %d/%d: otsetl %s records/s, one PutRow per record %s records/s, export only %s records/s\n",
			i+1, opts.runs, grouped(int64(o.recordsPerSecond())), grouped(int64(s.recordsPerSecond())), grouped(int64(x.recordsPerSecond())))
	}
	var bin string
	var target serveTarget
	if opts.cpu || opts.rss || opts.fanOut {
		dir, err := os.MkdirTemp("", "otsetl-bench-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(progress, "building cmd/otsetl")
		if bin, err = buildBinary(ctx, dir); err != nil {
			return nil, nil, err
		}
		target = serveTarget{bin: bin, endpoint: srv.Endpoint, instance: instance, resultTable: serveResultTable, creds: credentials, check: planChecks}
	}
	if opts.cpu {
		more, err := measureCPU(ctx, opts, target, exportTarget(target, oss.Endpoint), rule, rep, progress)
		if err != nil {
			return nil, nil, err
		}
		insane = append(insane, more...)
	}
	if opts.rss {
		var err error
		if rep.process, rep.largeEventBytes, err = measureProcesses(ctx, opts, target, gen, rule, progress); err != nil {
			return nil, nil, err
		}
		if err := measureExportRSS(ctx, opts, target, exportTarget(target, oss.Endpoint), gen, rule, rep.export, progress); err != nil {
			return nil, nil, err
		}
	}
	rssBin := bin
	if !opts.rss {
		rssBin = "" // the sync's peak RSS is measured with the other processes' only
	}
	sync, syncInsane, err := measureSync(ctx, opts, rssBin, progress)
	if err != nil {
		return nil, nil, err
	}
	rep.sync = sync
	insane = append(insane, syncInsane...)
	if opts.fanOut {
		fanOut, fanOutInsane, err := measureFanOut(ctx, opts, bin, progress)
		if err != nil {
			return nil, nil, err
		}
		rep.fanOut, rep.fanOutRuns = fanOut, opts.fanOutRuns
		insane = append(insane, fanOutInsane...)
	}
	return rep, insane, nil
}

// measureCPU measures, opts.runs times, the CPU per record of `otsetl serve` (target), of
// the baseline and of the export-only `otsetl serve` (export), each in its own process, on
// events of PutRow records (putRowEvents) after one warm-up event, then counts the
// function's allocations in one more run. It puts the figures into rep and returns what was
// not sane.
func measureCPU(ctx context.Context, opts options, target, export serveTarget, rule *transform.Rule, rep *report, progress io.Writer) ([]string, error) {
	evs, err := newGenerator(opts.seed, time.Now()).putRowEvents(opts.events+1, opts.records, rule)
	if err != nil {
		return nil, err
	}
	warmUp, evs := evs[0].payload, evs[1:]
	var insane []string
	for i := range opts.runs {
		f, more, err := measureServeCPU(ctx, target, warmUp, evs)
		if err != nil {
			return nil, err
		}
		insane = append(insane, more...)
		b, err := measureBaselineCPU(ctx, target.endpoint, sequentialResultTable, warmUp, evs)
		if err != nil {
			return nil, err
		}
		x, more, err := measureServeCPU(ctx, export, warmUp, evs)
		if err != nil {
			return nil, fmt.Errorf("export only: %w", err)
		}
		insane = append(insane, more...)
		rep.functionCPU, rep.baselineCPU, rep.export.cpu = append(rep.functionCPU, f), append(rep.baselineCPU, b), append(rep.export.cpu, x)
		fmt.Fprintf(progress, "CPU %d/%d: otsetl serve %.2f µs per record, one PutRow per record %.1f µs per record, export only %.2f µs per record\n",
			i+1, opts.runs, f.nsPerRecord()/1000, b.nsPerRecord()/1000, x.nsPerRecord()/1000)
	}
	dir := opts.serveProfile
	if dir == "" {
		if dir, err = os.MkdirTemp("", "otsetl-bench-profile-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	allocs, err := measureServeAllocations(ctx, target, warmUp, evs, dir)
	if err != nil {
		return nil, err
	}
	rep.functionAllocs = cpuFigures{records: opts.events * opts.records, allocs: allocs}
	fmt.Fprintf(progress, "allocations: otsetl serve %.1f per record\n", rep.functionAllocs.allocsPerRecord())
	return insane, nil
}

// profiled runs measure, with the CPU profiler writing to path unless path is empty. Each
// call overwrites the file, so it holds the last run's profile.
func profiled(path string, measure func() (throughput, error)) (throughput, error) {
	if path == "" {
		return measure()
	}
	f, err := os.Create(path)
	if err != nil {
		return throughput{}, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return throughput{}, err
	}
	defer pprof.StopCPUProfile()
	return measure()
}

// prepareTables creates the benchmark's tables on the server at endpoint and re-enacts evs
// on the source table, as production would have written it.
func prepareTables(ctx context.Context, endpoint string, evs []workloadEvent, progress io.Writer) error {
	client := tableio.NewClient(endpoint, instance, credentials)
	if err := createTables(ctx, client, sourceTable, resultTable, sequentialResultTable, serveResultTable); err != nil {
		return err
	}
	fmt.Fprintf(progress, "re-enacting %d events on %s\n", len(evs), sourceTable)
	for _, ev := range evs {
		if err := tableio.Apply(ctx, client, sourceTable, ev.records); err != nil {
			return err
		}
	}
	return nil
}

// createTables creates the named tables, with the primary key `id` INTEGER, in the
// benchmark's instance.
func createTables(ctx context.Context, client *sdk.TableStoreClient, names ...string) error {
	pk := []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}
	for _, table := range names {
		if err := tableio.Ensure(ctx, client, table, pk, tableio.Options{}); err != nil {
			return err
		}
	}
	return nil
}

// defaultSDKClient is the client the documented sample handler builds: the official Go
// SDK's, with its default configuration.
func defaultSDKClient(endpoint string) *sdk.TableStoreClient {
	return sdk.NewClient(endpoint, instance, credentials.AccessKeyID, credentials.AccessKeySecret)
}

// newFunction configures the function as FC would from its environment: the defaults, the
// local endpoint and instance, and result as its result table.
func newFunction(endpoint, result string) (*handler.Function, error) {
	env := map[string]string{handler.EnvEndpoint: endpoint, handler.EnvInstance: instance, handler.EnvResultTable: result}
	cfg, err := handler.ConfigFromEnv(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		return nil, err
	}
	return handler.New(cfg, nil)
}

// measureProcesses measures opts.runs starts of `otsetl serve` (target), each answering a
// one-record event, then one of at least opts.largeEventBytes. It returns the figures and
// the large event's size.
func measureProcesses(ctx context.Context, opts options, target serveTarget, gen *generator, rule *transform.Rule, progress io.Writer) ([]processFigures, int, error) {
	small, err := gen.event(1, rule)
	if err != nil {
		return nil, 0, err
	}
	large, err := gen.eventOfSize(opts.largeEventBytes, rule)
	if err != nil {
		return nil, 0, err
	}
	var figures []processFigures
	for i := range opts.runs {
		f, err := measureProcess(ctx, target, small.payload, large.payload)
		if err != nil {
			return nil, 0, err
		}
		figures = append(figures, f)
		fmt.Fprintf(progress, "start %d/%d: first invocation answered after %v, peak RSS %.1f MB with a %.1f MB event\n",
			i+1, opts.runs, f.coldStart.Round(100*time.Microsecond), float64(f.peakRSSBytes)/megabyte, float64(len(large.payload))/megabyte)
	}
	return figures, len(large.payload), nil
}
