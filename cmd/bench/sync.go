package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/keyrange"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// The tables of the sync measurement, in an otslocal of their own.
const (
	syncSource    = "sync_source"
	syncResult    = "sync_result"
	naiveResult   = "naive_result"
	syncRSSSource = "sync_rss_source"
	syncRSSResult = "sync_rss_result"
)

// populateChunk is how many rows one Write call of the population puts (in BatchWriteRows
// of 200, four at a time).
const populateChunk = 20_000

// syncFigures is what the sync measurement gave.
type syncFigures struct {
	// rows source rows, inView of them passing `level > 1`; the naive loop reads the first
	// baselineRows of them.
	rows, inView, baselineRows int
	runs                       []syncRun
	// rssRows is the size of the table the sync process's peak RSS was measured on (0: not
	// measured), rssElapsed how long that sync took.
	rssRows      int
	peakRSSBytes int64
	rssElapsed   time.Duration
}

// syncRun is one run of the backfill by sync and by the naive loop.
type syncRun struct {
	sync     time.Duration // syncing rows into an empty result table
	baseline time.Duration // the naive loop over baselineRows
}

// syncRowsPerSecond and baselineRowsPerSecond are a run's throughputs, in source rows per
// second.
func (f *syncFigures) syncRowsPerSecond(r syncRun) float64 {
	return float64(f.rows) / r.sync.Seconds()
}

func (f *syncFigures) baselineRowsPerSecond(r syncRun) float64 {
	return float64(f.baselineRows) / r.baseline.Seconds()
}

// measureSync measures `otsetl sync` backfilling opts.syncRows source rows into an empty
// result table through an otslocal that answers after opts.latency, against the naive loop
// on the same table, opts.runs times; then, when bin is set, the peak RSS of `otsetl sync`
// (bin) as a process of its own on opts.syncRSSRows rows. It returns the figures and what
// was not sane.
func measureSync(ctx context.Context, opts options, bin string, progress io.Writer) (*syncFigures, []string, error) {
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	client := defaultSDKClient(srv.Endpoint)
	rows := opts.syncRowsOrDefault()
	f := &syncFigures{rows: rows, baselineRows: min(rows, opts.syncBaselineRows)}
	fmt.Fprintf(progress, "sync: writing %s source rows\n", grouped(int64(rows)))
	var baselineInView int
	if f.inView, baselineInView, err = populate(ctx, srv.Endpoint, syncSource, rows, f.baselineRows, opts.seed); err != nil {
		return nil, nil, err
	}
	if err := srv.SetFaults(otslocal.Faults{Latency: opts.latency}); err != nil {
		return nil, nil, err
	}
	var insane []string
	for i := range opts.runs {
		if err := recreate(ctx, client, syncResult, naiveResult); err != nil {
			return nil, nil, err
		}
		var run syncRun
		started := time.Now()
		report, err := reconcile.Run(ctx, syncConfig(srv.Endpoint, syncSource, syncResult))
		run.sync = time.Since(started)
		if err != nil {
			return nil, nil, fmt.Errorf("sync: %w", err)
		}
		insane = append(insane, checkBackfill(report.Counts, rows, f.inView)...)
		started = time.Now()
		puts, err := runNaive(ctx, client, syncSource, naiveResult, f.baselineRows)
		run.baseline = time.Since(started)
		if err != nil {
			return nil, nil, fmt.Errorf("naive loop: %w", err)
		}
		if puts != baselineInView {
			insane = append(insane, fmt.Sprintf("the naive loop put %d rows of the first %d, of which %d pass", puts, f.baselineRows, baselineInView))
		}
		f.runs = append(f.runs, run)
		fmt.Fprintf(progress, "sync run %d/%d: sync %s rows/s, naive loop %s rows/s\n", i+1, opts.runs,
			grouped(int64(f.syncRowsPerSecond(run))), grouped(int64(f.baselineRowsPerSecond(run))))
	}
	if bin == "" {
		return f, insane, nil
	}
	if err := srv.SetFaults(otslocal.Faults{}); err != nil {
		return nil, nil, err
	}
	f.rssRows = opts.syncRSSRows
	fmt.Fprintf(progress, "sync: writing %s source rows for the process\n", grouped(int64(f.rssRows)))
	rssInView, _, err := populate(ctx, srv.Endpoint, syncRSSSource, f.rssRows, 0, opts.seed+1)
	if err != nil {
		return nil, nil, err
	}
	if err := recreate(ctx, client, syncRSSResult); err != nil {
		return nil, nil, err
	}
	if err := srv.SetFaults(otslocal.Faults{Latency: opts.latency}); err != nil {
		return nil, nil, err
	}
	counts, err := runSyncProcess(ctx, bin, srv.Endpoint, f)
	if err != nil {
		return nil, nil, err
	}
	insane = append(insane, checkBackfill(counts, f.rssRows, rssInView)...)
	fmt.Fprintf(progress, "sync process: %s rows in %v, peak RSS %.0f MB\n", grouped(int64(f.rssRows)), f.rssElapsed.Round(time.Millisecond), float64(f.peakRSSBytes)/megabyte)
	return f, insane, nil
}

// syncConfig is a sync of source into result of the benchmark's instance, with the
// function's default rule.
func syncConfig(endpoint, source, result string) reconcile.Config {
	return reconcile.Config{
		Function:    handler.Config{Instance: instance, Endpoint: endpoint, SourceTable: source, ResultTable: result, Rule: transform.Config{Filter: transform.DefaultFilter}},
		Credentials: credentials,
	}
}

// checkBackfill checks a backfill's counts: every source row scanned, the rows in the view
// missing, each written and re-checked once, nothing else.
func checkBackfill(c reconcile.Counts, rows, inView int) []string {
	want := reconcile.Counts{SourceRows: int64(rows), Missing: int64(inView), Written: int64(inView), Rechecked: int64(inView)}
	if c != want {
		return []string{fmt.Sprintf("the sync of %d rows (%d in the view) counted %+v, want %+v", rows, inView, c, want)}
	}
	return nil
}

// populate writes rows source rows of the workload's shape (see workload.go: `level`
// uniform in 0..3, a 40-byte `message`, a `host`) with ids 0..rows-1 into a new table
// source, and returns how many pass `level > 1`, and how many of the first prefix do.
func populate(ctx context.Context, endpoint, source string, rows, prefix int, seed uint64) (inView, prefixInView int, err error) {
	if err := recreate(ctx, defaultSDKClient(endpoint), source); err != nil {
		return 0, 0, err
	}
	writer, err := tablestore.NewClient(tablestore.Config{Endpoint: endpoint, Instance: instance}, credentials)
	if err != nil {
		return 0, 0, err
	}
	g := newGenerator(seed, time.Now())
	for first := 0; first < rows; first += populateChunk {
		changes := make([]ots.RowChange, min(populateChunk, rows-first))
		for i := range changes {
			id := int64(first + i)
			level := g.random.Int64N(maxLevel + 1)
			if level > 1 {
				inView++
				if int(id) < prefix {
					prefixInView++
				}
			}
			changes[i] = ots.RowChange{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
				Columns: []ots.Cell{
					{Name: "host", Value: ots.String(fmt.Sprintf("web-%02d", g.random.IntN(20)))},
					{Name: "level", Value: ots.Integer(level)},
					{Name: "message", Value: ots.String(g.message(id))},
				}}
		}
		if _, err := writer.Write(ctx, source, changes); err != nil {
			return 0, 0, err
		}
	}
	return inView, prefixInView, nil
}

// recreate deletes the named tables when they exist and creates them empty.
func recreate(ctx context.Context, client *sdk.TableStoreClient, names ...string) error {
	for _, name := range names {
		_, err := client.DeleteTable(&sdk.DeleteTableRequest{TableName: name})
		var otsErr *sdk.OtsError
		if err != nil && (!errors.As(err, &otsErr) || otsErr.Code != "OTSObjectNotExist") {
			return fmt.Errorf("DeleteTable %s: %w", name, err)
		}
	}
	return createTables(ctx, client, names...)
}

// runNaive is the naive backfill: it reads source page by page with GetRange and puts each
// row that passes `level > 1` into result with one PutRow, in order, with the SDK's default
// client, for the first limit rows. It returns the rows put.
func runNaive(ctx context.Context, client *sdk.TableStoreClient, source, result string, limit int) (int, error) {
	schema := []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}
	var r keyrange.Range
	read, puts := 0, 0
	for read < limit {
		page, err := keyrange.ReadPage(ctx, client, source, schema, r, 0)
		if err != nil {
			return 0, err
		}
		for _, versioned := range page.Rows[:min(len(page.Rows), limit-read)] {
			read++
			cells := versioned.Latest()
			level, passes := int64(0), false
			for _, cell := range cells {
				if cell.Name == "level" {
					level, passes = cell.Value.Int()
				}
			}
			if !passes || level <= 1 {
				continue
			}
			pk, err := ots.SDKPrimaryKey(versioned.PrimaryKey)
			if err != nil {
				return 0, err
			}
			change := &sdk.PutRowChange{TableName: result, PrimaryKey: pk}
			for _, cell := range cells {
				change.AddColumn(cell.Name, cell.Value.Any())
			}
			change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
			if _, err := client.PutRow(&sdk.PutRowRequest{PutRowChange: change}); err != nil {
				return 0, err
			}
			puts++
		}
		if page.Next == nil {
			break
		}
		r.Start = page.Next
	}
	return puts, nil
}

// rssPollInterval is how often the sync process's peak resident set is read while it runs.
const rssPollInterval = 10 * time.Millisecond

// runSyncProcess runs `otsetl sync --json` (bin) on the RSS tables as a child process and
// records its duration and its peak resident set: VmHWM (peakRSS), read every
// rssPollInterval until the process exits, the last reading. (The rusage of a child counts
// the parent's pages it shared until exec, the whole otslocal here.)
func runSyncProcess(ctx context.Context, bin, endpoint string, f *syncFigures) (reconcile.Counts, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "sync", "--endpoint", endpoint, "--instance", instance, "--json")
	cmd.Env = []string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + credentials.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + credentials.AccessKeySecret,
		handler.EnvSourceTable + "=" + syncRSSSource,
		handler.EnvResultTable + "=" + syncRSSResult,
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return reconcile.Counts{}, fmt.Errorf("starting otsetl sync: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ticker := time.NewTicker(rssPollInterval)
	defer ticker.Stop()
	for {
		select {
		case err := <-exited:
			if err != nil {
				return reconcile.Counts{}, fmt.Errorf("otsetl sync: %w: %s", err, strings.TrimSpace(stderr.String()))
			}
			f.rssElapsed = time.Since(started)
			if f.peakRSSBytes == 0 {
				return reconcile.Counts{}, errors.New("the sync process ended before its resident set could be read")
			}
			var report reconcile.Report
			if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
				return reconcile.Counts{}, fmt.Errorf("otsetl sync --json: %w: %q", err, stdout.String())
			}
			return report.Counts, nil
		case <-ticker.C:
			if peak, err := testkit.PeakRSS(cmd.Process.Pid); err == nil {
				f.peakRSSBytes = peak
			}
		}
	}
}
