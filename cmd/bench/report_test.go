package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleReport is a report with round figures: otsetl at 200,000 records/s against the
// baseline's 2,000.
func sampleReport() *report {
	return &report{
		date:           time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		machine:        machine{cpu: "Test CPU @ 3.00GHz", cores: 2, goVersion: "go1.26.8", os: "linux/amd64"},
		events:         20,
		records:        1000,
		runs:           3,
		latency:        time.Millisecond,
		expectedWrites: 94,
		otsetl: []throughput{
			{records: 20000, elapsed: 200 * time.Millisecond, writeRequests: 94, readRequests: 20},
			{records: 20000, elapsed: 100 * time.Millisecond, writeRequests: 94, readRequests: 20},
			{records: 20000, elapsed: 50 * time.Millisecond, writeRequests: 94, readRequests: 20},
		},
		sequential: []throughput{
			{records: 20000, elapsed: 10 * time.Second, writeRequests: 9500},
			{records: 20000, elapsed: 10 * time.Second, writeRequests: 9500},
			{records: 20000, elapsed: 20 * time.Second, writeRequests: 9500},
		},
		decodePlan:      []decodePlan{{1500, 2.5}, {1350, 2.2}, {1400, 2.2}},
		process:         []processFigures{{coldStart: 12340 * time.Microsecond, peakRSSBytes: 61_500_000}, {coldStart: 30 * time.Millisecond, peakRSSBytes: 62_000_000}, {coldStart: 11 * time.Millisecond, peakRSSBytes: 60_000_000}},
		largeEventBytes: 4_194_304,
		functionCPU:     []cpuFigures{{records: 20000, cpu: 30 * time.Millisecond}, {records: 20000, cpu: 36 * time.Millisecond}, {records: 20000, cpu: 40 * time.Millisecond}},
		baselineCPU:     []cpuFigures{{records: 20000, cpu: 5 * time.Second, allocs: 3_000_000}, {records: 20000, cpu: 4 * time.Second, allocs: 3_000_000}, {records: 20000, cpu: 6 * time.Second, allocs: 3_000_000}},
		functionAllocs:  cpuFigures{records: 20000, allocs: 250_000},
	}
}

func TestMarkdownReportsMediansAgainstTheTargets(t *testing.T) {
	assert.Equal(t, `Measured 2026-11-22 on Test CPU @ 3.00GHz (2 cores), go1.26.8, linux/amd64: 20 events of 1,000 records, otslocal answering every request after 1ms; medians of 3 runs.

| figure | otsetl | one PutRow per record | target | result |
|---|---:|---:|---|---|
| records/s | 200,000 | 2,000 | ≥ 100× the baseline's | met: 100× |
| write requests | 94 | 9,500 | Σ ceil(mutations/200) = 94 | met: equal |
| read requests | 20 | 0 | | |
| decode + plan, per record | 1.40 µs, 2.2 allocs | | ≤ 2 µs | met: 0.60 µs to spare |
| CPU per record of the process, 20 events of 1,000 PutRows | 1.80 µs, 12.5 allocs | 250.0 µs, 150.0 allocs | ≤ 2 µs and ≥ 100× less than the baseline's | met: 1.80 µs, 139× less |
| peak RSS, one 4.2 MB event | 62 MB | | < 100 MB | met: 38 MB to spare |
| cold start, to the first invocation answered | 12.3ms | | < 100ms | met: 87.7ms to spare |
`, sampleReport().markdown())
}

func TestMarkdownSaysByHowMuchATargetIsMissed(t *testing.T) {
	r := sampleReport()
	r.otsetl = []throughput{{records: 20000, elapsed: 100 * time.Millisecond, writeRequests: 96, readRequests: 20}}
	r.sequential = []throughput{{records: 20000, elapsed: 2 * time.Second, writeRequests: 9500}}
	r.decodePlan = []decodePlan{{2500, 4}}
	r.process = []processFigures{{coldStart: 150 * time.Millisecond, peakRSSBytes: 120_000_000}}
	r.functionCPU = []cpuFigures{{records: 20000, cpu: 260 * time.Millisecond}}
	text := r.markdown()
	assert.Contains(t, text, "| records/s | 200,000 | 10,000 | ≥ 100× the baseline's | **missed**: 20× (short by 80%) |")
	assert.Contains(t, text, "| write requests | 96 | 9,500 | Σ ceil(mutations/200) = 94 | **missed**: +2 |")
	assert.Contains(t, text, "| decode + plan, per record | 2.50 µs, 4.0 allocs | | ≤ 2 µs | **missed**: over by 0.50 µs |")
	assert.Contains(t, text, "| CPU per record of the process, 20 events of 1,000 PutRows | 13.00 µs, 12.5 allocs | 250.0 µs, 150.0 allocs | ≤ 2 µs and ≥ 100× less than the baseline's | **missed**: 13.00 µs, 19× less (over by 11.00 µs; short of 100× by 81%) |")
	assert.Contains(t, text, "| peak RSS, one 4.2 MB event | 120 MB | | < 100 MB | **missed**: over by 20 MB |")
	assert.Contains(t, text, "| cold start, to the first invocation answered | 150ms | | < 100ms | **missed**: over by 50ms |")
}

func TestMarkdownLeavesOutProcessFiguresNotMeasured(t *testing.T) {
	r := sampleReport()
	r.process, r.functionCPU = nil, nil
	assert.NotContains(t, r.markdown(), "CPU per record")
	assert.NotContains(t, r.markdown(), "peak RSS")
	assert.NotContains(t, r.markdown(), "cold start")
}

func TestMedianOf(t *testing.T) {
	identity := func(v float64) float64 { return v }
	assert.Equal(t, 0.0, medianOf(nil, identity))
	assert.Equal(t, 3.0, medianOf([]float64{5, 1, 3}, identity))
	assert.Equal(t, 2.5, medianOf([]float64{4, 1, 3, 2}, identity))
}

func TestGrouped(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		assert.Equal(t, want, grouped(n))
	}
}

func TestCPUModel(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n"
	assert.Equal(t, "Intel(R) Xeon(R) Processor", cpuModel([]byte(cpuinfo)))
	assert.Equal(t, unknownMachine, cpuModel([]byte("processor\t: 0\nCPU implementer\t: 0x41\n")))
}

func TestReplaceSection(t *testing.T) {
	doc := "# Title\n\n## Performance\n\n" + sectionStart + "\nold table\n" + sectionEnd + "\n\n## Limits\n"
	got, err := replaceSection(doc, "new table\n")
	require.NoError(t, err)
	assert.Equal(t, "# Title\n\n## Performance\n\n"+sectionStart+"\nnew table\n"+sectionEnd+"\n\n## Limits\n", got)

	again, err := replaceSection(got, "new table\n")
	require.NoError(t, err)
	assert.Equal(t, got, again, "rewriting is idempotent")

	for name, bad := range map[string]string{
		"no markers": "# Title\n",
		"no end":     sectionStart + "\n",
		"twice":      sectionStart + sectionEnd + sectionStart + sectionEnd,
		"end before": sectionEnd + "\n" + sectionStart + "\n",
		"no start":   sectionEnd + "\n",
	} {
		_, err := replaceSection(bad, "x")
		assert.Error(t, err, name)
	}
}

func TestRewriteDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	require.NoError(t, os.WriteFile(path, []byte("intro\n"+sectionStart+sectionEnd+"\nrest\n"), 0o644))
	require.NoError(t, rewriteDoc(path, "| a | b |\n"))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "intro\n"+sectionStart+"\n| a | b |\n"+sectionEnd+"\nrest\n", string(got))

	assert.ErrorContains(t, rewriteDoc(filepath.Join(t.TempDir(), "missing.md"), "x"), "missing.md")
}

// TestMakeBenchWritesAPageWithItsSection checks that `make bench` writes into a page that
// holds the benchmark's markers once each: the -doc argument of the Makefile's bench target.
func TestMakeBenchWritesAPageWithItsSection(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^bench:\n\t.* run \./cmd/bench -doc (\S+)$`).FindSubmatch(makefile)
	require.NotNil(t, m, "the Makefile's bench target runs go run ./cmd/bench -doc PAGE")
	assert.Equal(t, "docs/performance.md", string(m[1]))
	page, err := os.ReadFile(filepath.Join("..", "..", string(m[1])))
	require.NoError(t, err)
	_, err = replaceSection(string(page), "table")
	assert.NoError(t, err)
}
