package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"

	"github.com/otsetl/otsetl/fcruntime"
)

// defaultMemoryMB is the instance memory assumed when FC does not say: s.yaml's memorySize.
const defaultMemoryMB = 512

// The bound on the invocations in flight (docs/design.md, "Runtimes"). An invocation holds
// memory in proportion to its payload while it runs: the payload, the decoded records, the
// plan, the source rows it reads, the requests it builds. The process's peak resident set
// must stay within 80% of the instance's memory under any flood of invocations
// (TestServeFloodStaysWithinInstanceMemory), so the payloads in flight are bounded to what
// inFlightMemoryPercent of that memory holds at invocationBytesPerPayloadByte each.
const (
	// invocationBytesPerPayloadByte is the memory an invocation holds at its peak per byte
	// of its payload, measured on the real `otsetl serve` under a flood of 1 MB events of
	// each record shape (GOGC 10, no memory limit: the live memory, not the garbage): 8.9
	// for UpdateRows of one column, each read from a source row of two short columns; 7.5
	// for DeleteRows, 6.7 for PutRows of one INTEGER column, 5.6 for PutRows of three, 2.2
	// for PutRows of 64 KiB STRINGs. The worst, rounded up. Source rows it reads that are
	// larger than the records take more.
	invocationBytesPerPayloadByte = 10
	// inFlightMemoryPercent of the instance's memory is what the invocations in flight may
	// hold; the rest is the process's own (binary, runtime, buffers) and the garbage
	// collector's room.
	inFlightMemoryPercent = 50
)

// The garbage collector's settings on an instance (runtime/debug SetMemoryLimit and
// SetGCPercent, the GOMEMLIMIT and GOGC of "A Guide to the Go Garbage Collector").
const (
	// memoryLimitPercent of the instance's memory, less binaryPagesBytes, is the Go
	// runtime's soft memory limit. Under a flood of invocations the heap grows to it before
	// each collection (GOGC gcPercentUnderLimit), so the process's peak resident set is this
	// limit and the binary's pages: 72 to 75% of the instance's memory at 128, 256 and 512 MB
	// (the flood test holds it within 80%; FC stops an instance that passes its memory, and
	// every invocation in flight with it).
	memoryLimitPercent = 75
	// binaryPagesBytes is the part of the process's resident set the runtime's memory limit
	// does not count: the binary's own pages, mapped from its file (RssFile of
	// /proc/PID/status: 12.8 MB of an idle `otsetl serve`'s 14.7 MB), rounded up.
	binaryPagesBytes = 16 << 20
	// gcPercentUnderLimit is GOGC when a memory limit is in effect: the heap may grow to three
	// times what is live before a collection, instead of twice. FC bills the memory an
	// instance is given, not the memory it uses, and between invocations little is live, so
	// fewer collections cost nothing; the memory limit makes the runtime collect earlier
	// whenever the heap nears the instance's memory. Measured with bench's ServeCPU (docs/performance.md,
	// "How to read it"): over the first 20 invocations of a warm instance 200 spent 19% less CPU
	// than 400, whose heap grows for longer before its first collection, and as little over
	// 100 invocations; 100 spent more, in collections.
	gcPercentUnderLimit = 200
)

// instanceMemoryMB returns the instance's memory in MB: FC_FUNCTION_MEMORY_SIZE, or
// defaultMemoryMB when FC does not set it.
func instanceMemoryMB(getenv func(string) string) (int64, error) {
	v := getenv(fcruntime.EnvMemorySize)
	if v == "" {
		return defaultMemoryMB, nil
	}
	mb, err := strconv.ParseInt(v, 10, 64)
	if err != nil || mb <= 0 || mb > 1<<30 {
		return 0, fmt.Errorf("%s=%q is not a memory size in MB", fcruntime.EnvMemorySize, v)
	}
	return mb, nil
}

// maxInFlightBytes returns the bound on the payload bytes of the invocations in flight: the
// flag when it is set, else inFlightMemoryPercent of the instance's memory
// (instanceMemoryMB) at invocationBytesPerPayloadByte per payload byte.
func maxInFlightBytes(flag int64, getenv func(string) string) (int64, error) {
	if flag != 0 {
		if flag < 0 {
			return 0, fmt.Errorf("--max-inflight-bytes %d: want a positive number of bytes", flag)
		}
		return flag, nil
	}
	memoryMB, err := instanceMemoryMB(getenv)
	if err != nil {
		return 0, err
	}
	return memoryMB << 20 / 100 * inFlightMemoryPercent / invocationBytesPerPayloadByte, nil
}

// gcSettings are the garbage collector's settings for the function's process.
type gcSettings struct {
	// memoryLimit is the soft memory limit in bytes to set; 0 leaves GOMEMLIMIT's.
	memoryLimit int64
	// gcPercent is GOGC to set; 0 leaves GOGC's.
	gcPercent int
}

// gcSettingsFor sizes the garbage collector to the instance: without GOMEMLIMIT, a memory
// limit of memoryLimitPercent of its memory (instanceMemoryMB) less binaryPagesBytes, and at
// least half of it; without GOGC, GOGC
// gcPercentUnderLimit, which apply sets only under a memory limit. GOMEMLIMIT and GOGC,
// which the runtime reads itself, always win.
func gcSettingsFor(getenv func(string) string) (gcSettings, error) {
	var s gcSettings
	if getenv("GOMEMLIMIT") == "" {
		memoryMB, err := instanceMemoryMB(getenv)
		if err != nil {
			return gcSettings{}, err
		}
		s.memoryLimit = max(memoryMB<<20/100*memoryLimitPercent-binaryPagesBytes, memoryMB<<20/2)
	}
	if getenv("GOGC") == "" {
		s.gcPercent = gcPercentUnderLimit
	}
	return s, nil
}

// apply sets the memory limit s asks for, then its GOGC if a memory limit is in effect
// (GOMEMLIMIT=off leaves none), and returns the limit in bytes (math.MaxInt64: none) and
// the GOGC in effect (-1: off).
func (s gcSettings) apply() (memoryLimit int64, gcPercent int) {
	if s.memoryLimit > 0 {
		debug.SetMemoryLimit(s.memoryLimit)
	}
	memoryLimit = debug.SetMemoryLimit(-1) // a negative limit reads it
	gcPercent = debug.SetGCPercent(-1)     // reads GOGC, set again below
	if s.gcPercent > 0 && memoryLimit < math.MaxInt64 {
		gcPercent = s.gcPercent
	}
	debug.SetGCPercent(gcPercent)
	return memoryLimit, gcPercent
}
