package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// This file measures the export (docs/exports.md) against the table sink: an export-only
// function (RESULT_TABLE set empty, EXPORT_FORMAT changes in jsonl, no compression) on the
// same events, writing to a local OSS (osslocal) that answers after the same latency as
// otslocal.

// The export's destination in the benchmark's local OSS.
const (
	exportBucket = "bench"
	exportTo     = "oss://" + exportBucket + "/exports/"
	exportRegion = "cn-hangzhou"
)

// exportFigures is what the export measurement gave.
type exportFigures struct {
	// runs holds the in-process passes over the events, one per run.
	runs []throughput
	// cpu holds the CPU measurements of the export-only `otsetl serve`, one per run.
	cpu []cpuFigures
	// rss holds the large-event measurements, one per run; empty without -rss.
	rss []exportRSS
	// rssRecords and rssPayloadBytes describe the large event.
	rssRecords, rssPayloadBytes int
}

// exportRSS is one start of an export-only and of a table-sink `otsetl serve`, each
// answering the one large event.
type exportRSS struct {
	exportPeakBytes, tablePeakBytes int64
	// objectBytes is the size of the large event's object.
	objectBytes int64
}

// startOSS starts the benchmark's local OSS in a temporary folder (removed by the returned
// function), answering every request after latency.
func startOSS(latency time.Duration) (*osslocal.Server, func(), error) {
	dir, err := os.MkdirTemp("", "otsetl-bench-oss-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := osslocal.NewServer("127.0.0.1:0", osslocal.Options{Dir: dir, Buckets: []string{exportBucket}, Faults: osslocal.Faults{Latency: latency}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() {
		srv.Close()
		os.RemoveAll(dir)
	}, nil
}

// exportVariables are the variables of an export-only function writing to the OSS at
// ossEndpoint, NAME=value; RESULT_TABLE is set empty by the caller.
func exportVariables(ossEndpoint string) map[string]string {
	return map[string]string{handler.EnvExportTo: exportTo, handler.EnvOSSEndpoint: ossEndpoint, handler.EnvRegion: exportRegion}
}

// newExportFunction configures an export-only function as FC would from its environment.
func newExportFunction(endpoint, ossEndpoint string) (*handler.Function, error) {
	env := exportVariables(ossEndpoint)
	env[handler.EnvEndpoint], env[handler.EnvInstance], env[handler.EnvResultTable] = endpoint, instance, ""
	cfg, err := handler.ConfigFromEnv(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		return nil, err
	}
	return handler.New(cfg, nil)
}

// exportTarget is target as an export-only function writing to the OSS at ossEndpoint.
func exportTarget(target serveTarget, ossEndpoint string) serveTarget {
	target.resultTable, target.check, target.env = "", exportChecks, nil
	for name, value := range exportVariables(ossEndpoint) {
		target.env = append(target.env, name+"="+value)
	}
	return target
}

// changeLines is the number of `changes` lines of records: a DR and a U per cell for a
// PutRow, a DR for a DeleteRow, a line per cell for an UpdateRow.
func changeLines(records []events.Record) int {
	lines := 0
	for _, r := range records {
		lines += len(r.Columns)
		if r.Type != events.UpdateRow {
			lines++
		}
	}
	return lines
}

// exportChecks checks an export-only invocation of event i: one line per cell change, one
// OSS request (a PutObject, no retry: the benchmark injects no faults), no Tablestore
// request. It returns a line, starting with who, for each check that fails.
func exportChecks(who string, i int, sum handler.Summary, ev workloadEvent) []string {
	var insane []string
	if want := changeLines(ev.records); sum.ExportLines != want {
		insane = append(insane, fmt.Sprintf("%s: event %d: %d lines exported, want %d", who, i, sum.ExportLines, want))
	}
	if sum.ExportRequests != 1 {
		insane = append(insane, fmt.Sprintf("%s: event %d: %d OSS requests, want one PutObject", who, i, sum.ExportRequests))
	}
	if sum.WriteRequests+sum.ReadRequests != 0 {
		insane = append(insane, fmt.Sprintf("%s: event %d: %d Tablestore requests from an export-only function", who, i, sum.WriteRequests+sum.ReadRequests))
	}
	return insane
}

// measureExportRSS measures, opts.runs times, the peak resident set of an export-only and of
// a table-sink `otsetl serve` answering one event of opts.exportRSSRecords PutRows of one
// column, and the size of the event's object.
func measureExportRSS(ctx context.Context, opts options, table, export serveTarget, gen *generator, rule *transform.Rule, rep *exportFigures, progress io.Writer) error {
	small, err := gen.event(1, rule)
	if err != nil {
		return err
	}
	// PutRows of `level` alone: 200,000 records of the mix would pass the trigger's 32 MiB.
	records := make([]events.Record, opts.exportRSSRecords)
	for i := range records {
		gen.clock = gen.clock.Add(time.Microsecond)
		records[i] = gen.change(events.PutRow, gen.nextID, gen.put("level", ots.Integer(gen.random.Int64N(maxLevel+1))))
		gen.nextID++
	}
	ev, err := encodeEvent(records, rule)
	if err != nil {
		return err
	}
	large := []workloadEvent{ev}
	if len(ev.payload) > fcruntime.MaxPayloadBytes {
		return fmt.Errorf("an event of %d records is %d bytes, over the trigger's %d", opts.exportRSSRecords, len(ev.payload), fcruntime.MaxPayloadBytes)
	}
	rep.rssRecords, rep.rssPayloadBytes = opts.exportRSSRecords, len(large[0].payload)
	for i := range opts.runs {
		var figures exportRSS
		for _, t := range []serveTarget{export, table} {
			f, _, err := startServe(ctx, t, small.payload)
			if err != nil {
				return err
			}
			sum, err := f.invoke(ctx, "bench-export-large", large[0].payload)
			var peak int64
			if err == nil {
				peak, err = testkit.PeakRSS(f.pid())
			}
			f.stop()
			if err != nil {
				return fmt.Errorf("an event of %d records: %w", opts.exportRSSRecords, err)
			}
			if t.resultTable == "" {
				figures.exportPeakBytes, figures.objectBytes = peak, sum.ExportBytes
			} else {
				figures.tablePeakBytes = peak
			}
		}
		rep.rss = append(rep.rss, figures)
		fmt.Fprintf(progress, "export RSS %d/%d: an event of %s records (%.1f MB): export only %.0f MB (object %.1f MB), table sink %.0f MB\n",
			i+1, opts.runs, grouped(int64(opts.exportRSSRecords)), float64(len(large[0].payload))/megabyte,
			float64(figures.exportPeakBytes)/megabyte, float64(figures.objectBytes)/megabyte, float64(figures.tablePeakBytes)/megabyte)
	}
	return nil
}

// markdown renders the export's figures as a table of their own, against the table sink's
// (table, the in-process runs; tableCPU, the CPU measurement).
func (x *exportFigures) markdown(b *strings.Builder, r *report) {
	fmt.Fprintf(b, "\nExport: an export-only function (`RESULT_TABLE` empty, `EXPORT_FORMAT` changes, jsonl, no compression) on the same events, each batch one PutObject to a local OSS answering after %v, against the table sink above; medians of %d runs.\n\n", r.latency, r.runs)
	b.WriteString("| figure | export only | table sink | target | result |\n|---|---:|---:|---|---|\n")
	exportRate, tableRate := medianOf(x.runs, throughput.recordsPerSecond), medianOf(r.otsetl, throughput.recordsPerSecond)
	fmt.Fprintf(b, "| records/s | %s | %s | | |\n", grouped(int64(exportRate)), grouped(int64(tableRate)))
	if len(x.cpu) > 0 {
		ns, tableNs := medianOf(x.cpu, cpuFigures.nsPerRecord), medianOf(r.functionCPU, cpuFigures.nsPerRecord)
		ratio := fmt.Sprintf("%.2f µs, %.0f%% of the table sink's", ns/1000, 100*ns/tableNs)
		fmt.Fprintf(b, "| CPU per record of the process, %d events of %s PutRows | %.2f µs | %.2f µs | ≤ the table sink's | %s |\n",
			r.events, grouped(int64(r.records)), ns/1000, tableNs/1000, verdict(ns <= tableNs, ratio, ratio))
	}
	if len(x.rss) > 0 {
		exportPeak := medianOf(x.rss, func(f exportRSS) float64 { return float64(f.exportPeakBytes) })
		tablePeak := medianOf(x.rss, func(f exportRSS) float64 { return float64(f.tablePeakBytes) })
		object := medianOf(x.rss, func(f exportRSS) float64 { return float64(f.objectBytes) })
		fmt.Fprintf(b, "| peak RSS, one event of %s PutRows of one column (%.1f MB) | %.0f MB | %.0f MB | | the object: %.1f MB, %.1f× the payload |\n",
			grouped(int64(x.rssRecords)), float64(x.rssPayloadBytes)/megabyte, exportPeak/megabyte, tablePeak/megabyte, object/megabyte, object/float64(x.rssPayloadBytes))
	}
}
