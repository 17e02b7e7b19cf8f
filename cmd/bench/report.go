package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The targets the report measures otsetl against.
const (
	targetSpeedup      = 100         // × the baseline's records/s
	targetDecodePlanNs = 2000        // ns per record, decode + plan
	targetPeakRSSBytes = 100_000_000 // bytes (100 MB) for one large event
	targetColdStart    = 100 * time.Millisecond
	targetCPUNs        = 2000 // ns of the function process's CPU per record
	targetCPUFactor    = 100  // × less CPU per record than the baseline's process
	targetSyncSpeedup  = 50   // × the naive backfill loop's source rows/s
)

// megabyte is the unit of the memory figures: 10^6 bytes, as in the targets.
const megabyte = 1_000_000

// unknownMachine stands for what the machine does not tell.
const unknownMachine = "unknown"

// decodePlan is what one in-process measurement of decode + plan gave, per record.
type decodePlan struct {
	nsPerRecord     float64
	allocsPerRecord float64
}

// report is everything a benchmark run measured, with what it ran on.
type report struct {
	date    time.Time
	machine machine
	// The workload: events of records each, latency per otslocal request, runs measured.
	events, records, runs int
	latency               time.Duration
	// expectedWrites is Σ ceil(mutations/200) over the events.
	expectedWrites     int
	otsetl, sequential []throughput
	decodePlan         []decodePlan
	// process holds one entry per start of `otsetl serve`; empty when not measured.
	process         []processFigures
	largeEventBytes int
	// functionCPU and baselineCPU hold one entry per run of the CPU measurement (`otsetl
	// serve`, and the baseline in a process of its own); empty when not measured.
	functionCPU, baselineCPU []cpuFigures
	// functionAllocs is the allocation count of `otsetl serve` over one more run.
	functionAllocs cpuFigures
	// sync is the sync measurement.
	sync *syncFigures
	// export is the export's measurement.
	export *exportFigures
	// fanOut is the fan-out measurement, of fanOutRuns runs each case; nil when not measured.
	fanOut     *fanOutFigures
	fanOutRuns int
}

// machine describes the computer the benchmark ran on.
type machine struct {
	cpu       string
	cores     int
	goVersion string
	os        string
}

// thisMachine reads the CPU model from /proc/cpuinfo and the kernel release from
// /proc/sys/kernel/osrelease where they exist.
func thisMachine() machine {
	m := machine{cpu: unknownMachine, cores: runtime.NumCPU(), goVersion: runtime.Version(), os: runtime.GOOS + "/" + runtime.GOARCH}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.cpu = cpuModel(info)
	}
	if release, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.os += ", kernel " + strings.TrimSpace(string(release))
	}
	return m
}

// cpuModel returns the first "model name" of a /proc/cpuinfo file.
func cpuModel(cpuinfo []byte) string {
	lines := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for lines.Scan() {
		key, value, found := strings.Cut(lines.Text(), ":")
		if found && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return unknownMachine
}

// markdown renders the report: one line on the machine and the workload, then a table of
// the figures (medians over the runs), the targets, and whether each is met.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s (%d cores), %s, %s: %d events of %s records, otslocal answering every request after %v; medians of %d runs.\n\n",
		r.date.UTC().Format("2006-01-02"), r.machine.cpu, r.machine.cores, r.machine.goVersion, r.machine.os,
		r.events, grouped(int64(r.records)), r.latency, r.runs)
	b.WriteString("| figure | otsetl | one PutRow per record | target | result |\n|---|---:|---:|---|---|\n")

	otsetlRate, baselineRate := medianOf(r.otsetl, throughput.recordsPerSecond), medianOf(r.sequential, throughput.recordsPerSecond)
	speedup := otsetlRate / baselineRate
	fmt.Fprintf(&b, "| records/s | %s | %s | ≥ %d× the baseline's | %s |\n", grouped(int64(otsetlRate)), grouped(int64(baselineRate)),
		targetSpeedup, verdict(speedup >= targetSpeedup, fmt.Sprintf("%.0f×", speedup), fmt.Sprintf("%.0f× (short by %.0f%%)", speedup, 100*(1-speedup/targetSpeedup))))

	writes := int64(medianOf(r.otsetl, func(t throughput) float64 { return float64(t.writeRequests) }))
	baselineWrites := int64(medianOf(r.sequential, func(t throughput) float64 { return float64(t.writeRequests) }))
	fmt.Fprintf(&b, "| write requests | %s | %s | Σ ceil(mutations/200) = %s | %s |\n", grouped(writes), grouped(baselineWrites), grouped(int64(r.expectedWrites)),
		verdict(writes == int64(r.expectedWrites), "equal", fmt.Sprintf("%+d", writes-int64(r.expectedWrites))))
	reads := int64(medianOf(r.otsetl, func(t throughput) float64 { return float64(t.readRequests) }))
	fmt.Fprintf(&b, "| read requests | %s | 0 | | |\n", grouped(reads))

	ns := medianOf(r.decodePlan, func(d decodePlan) float64 { return d.nsPerRecord })
	allocs := medianOf(r.decodePlan, func(d decodePlan) float64 { return d.allocsPerRecord })
	fmt.Fprintf(&b, "| decode + plan, per record | %.2f µs, %.1f allocs | | ≤ %.0f µs | %s |\n", ns/1000, allocs, float64(targetDecodePlanNs)/1000,
		verdict(ns <= targetDecodePlanNs, fmt.Sprintf("%.2f µs to spare", (targetDecodePlanNs-ns)/1000), fmt.Sprintf("over by %.2f µs", (ns-targetDecodePlanNs)/1000)))

	if len(r.functionCPU) > 0 {
		ns, baselineNs := medianOf(r.functionCPU, cpuFigures.nsPerRecord), medianOf(r.baselineCPU, cpuFigures.nsPerRecord)
		factor := baselineNs / ns
		detail := fmt.Sprintf("%.2f µs, %.0f× less", ns/1000, factor)
		var missed []string
		if ns > targetCPUNs {
			missed = append(missed, fmt.Sprintf("over by %.2f µs", (ns-targetCPUNs)/1000))
		}
		if factor < targetCPUFactor {
			missed = append(missed, fmt.Sprintf("short of %d× by %.0f%%", targetCPUFactor, 100*(1-factor/targetCPUFactor)))
		}
		if len(missed) > 0 {
			detail += " (" + strings.Join(missed, "; ") + ")"
		}
		fmt.Fprintf(&b, "| CPU per record of the process, %d events of %s PutRows | %.2f µs, %.1f allocs | %.1f µs, %.1f allocs | ≤ %.0f µs and ≥ %d× less than the baseline's | %s |\n",
			r.events, grouped(int64(r.records)), ns/1000, r.functionAllocs.allocsPerRecord(),
			baselineNs/1000, medianOf(r.baselineCPU, cpuFigures.allocsPerRecord), float64(targetCPUNs)/1000, targetCPUFactor,
			verdict(len(missed) == 0, detail, detail))
	}
	if len(r.process) > 0 {
		rss := medianOf(r.process, func(p processFigures) float64 { return float64(p.peakRSSBytes) })
		fmt.Fprintf(&b, "| peak RSS, one %.1f MB event | %.0f MB | | < %d MB | %s |\n", float64(r.largeEventBytes)/megabyte, rss/megabyte, targetPeakRSSBytes/megabyte,
			verdict(rss < targetPeakRSSBytes, fmt.Sprintf("%.0f MB to spare", (targetPeakRSSBytes-rss)/megabyte), fmt.Sprintf("over by %.0f MB", (rss-targetPeakRSSBytes)/megabyte)))
		start := time.Duration(medianOf(r.process, func(p processFigures) float64 { return float64(p.coldStart) }))
		fmt.Fprintf(&b, "| cold start, to the first invocation answered | %s | | < %v | %s |\n", start.Round(100*time.Microsecond), targetColdStart,
			verdict(start < targetColdStart, fmt.Sprintf("%v to spare", (targetColdStart-start).Round(100*time.Microsecond)), fmt.Sprintf("over by %v", (start-targetColdStart).Round(100*time.Microsecond))))
	}
	if r.export != nil {
		r.export.markdown(&b, r)
	}
	if r.sync != nil {
		r.sync.markdown(&b, r.runs)
	}
	if r.fanOut != nil {
		r.fanOut.markdown(&b, r.fanOutRuns)
	}
	return b.String()
}

// markdown renders the sync figures as a table of their own, after a line on the workload.
func (f *syncFigures) markdown(b *strings.Builder, runs int) {
	fmt.Fprintf(b, "\nSync: `otsetl sync` backfilling %s source rows (%s in the view) into an empty result table through the same otslocal, against the naive loop (GetRange page by page, one PutRow per row in the view, sequentially) over the first %s rows; medians of %d runs.\n\n",
		grouped(int64(f.rows)), grouped(int64(f.inView)), grouped(int64(f.baselineRows)), runs)
	b.WriteString("| figure | otsetl sync | naive loop | target | result |\n|---|---:|---:|---|---|\n")
	syncRate, naiveRate := medianOf(f.runs, f.syncRowsPerSecond), medianOf(f.runs, f.baselineRowsPerSecond)
	speedup := syncRate / naiveRate
	fmt.Fprintf(b, "| source rows/s | %s | %s | ≥ %d× the naive loop's | %s |\n", grouped(int64(syncRate)), grouped(int64(naiveRate)), targetSyncSpeedup,
		verdict(speedup >= targetSyncSpeedup, fmt.Sprintf("%.0f×", speedup), fmt.Sprintf("%.0f× (short by %.0f%%)", speedup, 100*(1-speedup/targetSyncSpeedup))))
	if f.rssRows > 0 {
		fmt.Fprintf(b, "| peak RSS of the sync process, %s source rows (synced in %.1f s) | %.0f MB | | | |\n",
			grouped(int64(f.rssRows)), f.rssElapsed.Seconds(), float64(f.peakRSSBytes)/megabyte)
	}
}

// verdict is "met: detail" or "missed: detail".
func verdict(met bool, metDetail, missedDetail string) string {
	if met {
		return "met: " + metDetail
	}
	return "**missed**: " + missedDetail
}

// medianOf returns the median of value over items; 0 for none.
func medianOf[T any](items []T, value func(T) float64) float64 {
	if len(items) == 0 {
		return 0
	}
	values := make([]float64, len(items))
	for i, item := range items {
		values[i] = value(item)
	}
	slices.Sort(values)
	mid := len(values) / 2
	if len(values)%2 == 1 {
		return values[mid]
	}
	return (values[mid-1] + values[mid]) / 2
}

// grouped formats n with a comma between groups of three digits: 1234567 → "1,234,567".
func grouped(n int64) string { return english.Sprint(n) }

// english formats numbers as English text does (golang.org/x/text/message).
var english = message.NewPrinter(language.English)

// The markers between which -doc writes the report.
const (
	sectionStart = "<!-- bench:start -->"
	sectionEnd   = "<!-- bench:end -->"
)

// replaceSection returns doc with the text between sectionStart and sectionEnd replaced by
// section, on lines of its own. The markers must appear once each, in that order.
func replaceSection(doc, section string) (string, error) {
	if strings.Count(doc, sectionStart) != 1 || strings.Count(doc, sectionEnd) != 1 {
		return "", fmt.Errorf("want one %s and one %s marker", sectionStart, sectionEnd)
	}
	before, rest, _ := strings.Cut(doc, sectionStart)
	_, after, found := strings.Cut(rest, sectionEnd)
	if !found {
		return "", errors.New(sectionEnd + " comes before " + sectionStart)
	}
	return before + sectionStart + "\n" + strings.TrimSpace(section) + "\n" + sectionEnd + after, nil
}

// rewriteDoc replaces the benchmark section of the markdown file at path with section.
func rewriteDoc(path, section string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	updated, err := replaceSection(string(doc), section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(updated), 0o644)
}
