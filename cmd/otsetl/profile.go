package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"sync"

	"github.com/otsetl/otsetl/fcruntime"
)

// The files `otsetl serve --profile DIR` writes into DIR.
const (
	// profileCPUFile is the CPU profile (pprof) of the process from start to stop.
	profileCPUFile = "cpu.pprof"
	// profileAllocsFile is the allocation profile (pprof "allocs": sampled allocations since
	// the start, and the live heap at the stop), written at the stop.
	profileAllocsFile = "allocs.pprof"
	// profileInvocationsFile gets one JSON line per finished invocation: the process's
	// allocations and garbage collections so far (see allocationCounts).
	profileInvocationsFile = "invocations.jsonl"
)

// allocationCounts is a line of profileInvocationsFile: counts since the process started,
// read with runtime/metrics when an invocation has been answered. Objects counts every heap
// allocation, tiny ones included (/gc/heap/allocs:objects plus /gc/heap/tiny/allocs:objects),
// as the allocs/op of `go test -benchmem` (runtime.MemStats.Mallocs) does.
type allocationCounts struct {
	Objects  uint64 `json:"allocObjects"`
	Bytes    uint64 `json:"allocBytes"`
	GCCycles uint64 `json:"gcCycles"`
}

// The runtime/metrics samples behind allocationCounts.
var allocationMetrics = []string{"/gc/heap/allocs:objects", "/gc/heap/tiny/allocs:objects", "/gc/heap/allocs:bytes", "/gc/cycles/total:gc-cycles"}

// readAllocationCounts reads the process's allocationCounts.
func readAllocationCounts() allocationCounts {
	samples := make([]metrics.Sample, len(allocationMetrics))
	for i, name := range allocationMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	value := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return allocationCounts{Objects: value(0) + value(1), Bytes: value(2), GCCycles: value(3)}
}

// profiler is what `otsetl serve --profile DIR` keeps while it runs: the CPU profile being
// written and the file of per-invocation counts.
type profiler struct {
	dir         string
	cpu         *os.File
	mu          sync.Mutex // orders the lines of invocations
	invocations *os.File
}

// startProfiler creates dir if needed and starts the CPU profile and the per-invocation
// counts in it.
func startProfiler(dir string) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	cpu, err := os.Create(filepath.Join(dir, profileCPUFile))
	if err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	invocations, err := os.Create(filepath.Join(dir, profileInvocationsFile))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("--profile: %w", err), cpu.Close())
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, errors.Join(fmt.Errorf("--profile: %w", err), cpu.Close(), invocations.Close())
	}
	return &profiler{dir: dir, cpu: cpu, invocations: invocations}, nil
}

// profiled returns fn, writing the process's allocationCounts after each invocation.
func profiled[R any](p *profiler, fn fcruntime.Func[R]) fcruntime.Func[R] {
	return func(ctx context.Context, inv fcruntime.Invocation, payload []byte) (R, error) {
		result, err := fn(ctx, inv, payload)
		line, _ := json.Marshal(readAllocationCounts()) // a struct of integers always encodes
		p.mu.Lock()
		_, _ = p.invocations.Write(append(line, '\n')) // a lost line shows as a short file
		p.mu.Unlock()
		return result, err
	}
}

// stop stops the CPU profile and writes the allocation profile.
func (p *profiler) stop() error {
	pprof.StopCPUProfile()
	allocs, err := os.Create(filepath.Join(p.dir, profileAllocsFile))
	if err != nil {
		return errors.Join(fmt.Errorf("--profile: %w", err), p.cpu.Close(), p.invocations.Close())
	}
	return errors.Join(pprof.Lookup("allocs").WriteTo(allocs, 0), allocs.Close(), p.cpu.Close(), p.invocations.Close())
}
