package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// This file measures the CPU the function's process spends per record, as FC bills it:
// `otsetl serve` answering trigger events over the custom-runtime protocol, a warm instance,
// otslocal in another process; and the same figure for the baseline (one sequential PutRow
// per record, runSequential) run as a process of its own.

// cpuFigures is what one process spent on the workload's events, after a warm-up event.
type cpuFigures struct {
	records int
	// cpu is the process's CPU time (user and system, all threads) over the events.
	cpu time.Duration
	// allocs counts the process's heap allocations over the events; 0 when not counted.
	allocs uint64
}

// nsPerRecord is the CPU time per record in nanoseconds.
func (c cpuFigures) nsPerRecord() float64 { return float64(c.cpu.Nanoseconds()) / float64(c.records) }

// allocsPerRecord is the heap allocations per record.
func (c cpuFigures) allocsPerRecord() float64 { return float64(c.allocs) / float64(c.records) }

// processCPU returns the CPU time process pid has used: the sum over its threads of the time
// each has run, the first field of /proc/<pid>/task/<tid>/schedstat in nanoseconds (Linux
// proc(5)). That is what utime + stime of /proc/<pid>/stat count, in nanoseconds rather than
// clock ticks of 10 ms, too coarse for the tens of milliseconds a run of the function takes.
// Threads that have exited are not counted; Go's runtime keeps its threads.
func processCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("CPU time needs Linux's /proc (or run with -cpu=false): %w", err)
	}
	var total time.Duration
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread has exited
		}
		if err != nil {
			return 0, err
		}
		ns, err := parseSchedstat(stat)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", filepath.Join(dir, task.Name(), "schedstat"), err)
		}
		total += ns
	}
	return total, nil
}

// parseSchedstat reads the time a thread has run from its schedstat line ("1234 567 8":
// ns on the CPU, ns waiting, time slices).
func parseSchedstat(stat []byte) (time.Duration, error) {
	fields := strings.Fields(string(stat))
	if len(fields) != 3 {
		return 0, fmt.Errorf("schedstat %q: want three fields", bytes.TrimSpace(stat))
	}
	ns, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("schedstat %q: the run time is not a count of nanoseconds", bytes.TrimSpace(stat))
	}
	return time.Duration(ns), nil
}

// measureServeCPU starts `otsetl serve` (with extra args), warms it up with warmUp, and
// measures the CPU it spends answering evs, one invocation after the other as one trigger
// shard sends them. The events' checks (target.check) come back as lines of what is not
// sane. It stops the process before returning.
func measureServeCPU(ctx context.Context, target serveTarget, warmUp []byte, evs []workloadEvent, args ...string) (cpuFigures, []string, error) {
	f, _, err := startServe(ctx, target, warmUp, args...)
	if err != nil {
		return cpuFigures{}, nil, err
	}
	defer f.stop()
	before, err := processCPU(f.pid())
	if err != nil {
		return cpuFigures{}, nil, err
	}
	var figures cpuFigures
	var insane []string
	for i, ev := range evs {
		sum, err := f.invoke(ctx, fmt.Sprintf("bench-cpu-%d", i), ev.payload)
		if err != nil {
			return cpuFigures{}, nil, fmt.Errorf("otsetl serve: event %d: %w", i, err)
		}
		insane = append(insane, target.check("otsetl serve", i, sum, ev)...)
		figures.records += sum.Records
	}
	after, err := processCPU(f.pid())
	if err != nil {
		return cpuFigures{}, nil, err
	}
	figures.cpu = after - before
	return figures, insane, nil
}

// measureServeAllocations runs measureServeCPU with `--profile dir` and returns the heap
// allocations of the evs' invocations (countedAllocations).
func measureServeAllocations(ctx context.Context, target serveTarget, warmUp []byte, evs []workloadEvent, dir string) (uint64, error) {
	if _, _, err := measureServeCPU(ctx, target, warmUp, evs, "--profile", dir); err != nil {
		return 0, err
	}
	return countedAllocations(filepath.Join(dir, "invocations.jsonl"), len(evs))
}

// countedAllocations reads the invocations.jsonl that `otsetl serve --profile` wrote over a
// warm-up invocation and then invocations more, and returns the heap allocations of the
// latter: the count after the last one less the count after the warm-up.
func countedAllocations(path string, invocations int) (uint64, error) {
	lines, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	type counts struct {
		AllocObjects uint64 `json:"allocObjects"`
	}
	var after []counts
	for line := range bytes.Lines(lines) {
		var c counts
		if err := json.Unmarshal(line, &c); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		after = append(after, c)
	}
	if len(after) != invocations+1 {
		return 0, fmt.Errorf("%s: %d lines for %d invocations", path, len(after), invocations+1)
	}
	return after[invocations].AllocObjects - after[0].AllocObjects, nil
}

// baselineChildCommand is the first argument with which the benchmark's binary runs as the
// baseline's process: baselineChildCommand ENDPOINT TABLE WARMUP_FILE EVENT_FILE...
const baselineChildCommand = "baseline-process"

// measureBaselineCPU runs the baseline in a process of its own, a copy of this program (see
// runBaselineChild), on warmUp and then evs, written to files in a temporary folder, and
// returns what it measured over evs.
func measureBaselineCPU(ctx context.Context, endpoint, table string, warmUp []byte, evs []workloadEvent) (cpuFigures, error) {
	dir, err := os.MkdirTemp("", "otsetl-bench-baseline-")
	if err != nil {
		return cpuFigures{}, err
	}
	defer os.RemoveAll(dir)
	args := []string{baselineChildCommand, endpoint, table}
	for i, payload := range append([][]byte{warmUp}, payloads(evs)...) {
		path := filepath.Join(dir, fmt.Sprintf("%04d.cbor", i))
		if err := os.WriteFile(path, payload, 0o600); err != nil {
			return cpuFigures{}, err
		}
		args = append(args, path)
	}
	self, err := os.Executable()
	if err != nil {
		return cpuFigures{}, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return cpuFigures{}, fmt.Errorf("the baseline's process: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	var out baselineOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return cpuFigures{}, fmt.Errorf("the baseline's process wrote %q: %w", stdout.String(), err)
	}
	return cpuFigures{records: out.Records, cpu: time.Duration(out.CPUNs), allocs: out.Allocs}, nil
}

// payloads returns the events' payloads.
func payloads(evs []workloadEvent) [][]byte {
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		out[i] = ev.payload
	}
	return out
}

// baselineOutput is what the baseline's process writes to its standard output, as JSON.
type baselineOutput struct {
	Records int    `json:"records"`
	CPUNs   int64  `json:"cpuNs"`
	Allocs  uint64 `json:"allocs"`
}

// runBaselineChild is the baseline's process: args are ENDPOINT TABLE WARMUP_FILE
// EVENT_FILE...; it replays the warm-up event with runSequential, then the events, and
// writes the CPU time (processCPU) and the heap allocations (runtime.MemStats.Mallocs) of
// the latter as a baselineOutput to stdout. It returns the exit code.
func runBaselineChild(args []string, stdout, stderr io.Writer) int {
	if len(args) < 4 {
		fmt.Fprintln(stderr, "bench: "+baselineChildCommand+" ENDPOINT TABLE WARMUP_FILE EVENT_FILE...")
		return 2
	}
	endpoint, table := args[0], args[1]
	var evs []workloadEvent
	for _, path := range args[2:] {
		payload, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		evs = append(evs, workloadEvent{payload: payload})
	}
	client := defaultSDKClient(endpoint)
	if _, err := runSequential(client, table, evs[:1]); err != nil {
		fmt.Fprintln(stderr, "bench: warm-up:", err)
		return 1
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpuBefore, err := processCPU(os.Getpid())
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	t, err := runSequential(client, table, evs[1:])
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	cpuAfter, err := processCPU(os.Getpid())
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	runtime.ReadMemStats(&after)
	w := bufio.NewWriter(stdout)
	_ = json.NewEncoder(w).Encode(baselineOutput{Records: t.records, CPUNs: (cpuAfter - cpuBefore).Nanoseconds(), Allocs: after.Mallocs - before.Mallocs})
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}
