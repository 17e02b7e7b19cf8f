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

// payloadShareOfMemory: an invocation holds about five times its payload (the payload, the
// decoded records, the plan, the requests), and the process needs room of its own, so the
// payloads in flight may take a sixth of the instance's memory.
const payloadShareOfMemory = 6

// The garbage collector's settings on an instance (runtime/debug SetMemoryLimit and
// SetGCPercent, the GOMEMLIMIT and GOGC of "A Guide to the Go Garbage Collector").
const (
	// memoryLimitPercent of the instance's memory is the Go runtime's soft memory limit,
	// leaving the rest to what the runtime does not count (the binary, thread stacks).
	memoryLimitPercent = 90
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
// flag when it is set, else a sixth of the instance's memory (instanceMemoryMB).
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
	return memoryMB << 20 / payloadShareOfMemory, nil
}

// gcSettings are the garbage collector's settings for the function's process.
type gcSettings struct {
	// memoryLimit is the soft memory limit in bytes to set; 0 leaves GOMEMLIMIT's.
	memoryLimit int64
	// gcPercent is GOGC to set; 0 leaves GOGC's.
	gcPercent int
}

// gcSettingsFor sizes the garbage collector to the instance: without GOMEMLIMIT, a memory
// limit of memoryLimitPercent of its memory (instanceMemoryMB); without GOGC, GOGC
// gcPercentUnderLimit, which apply sets only under a memory limit. GOMEMLIMIT and GOGC,
// which the runtime reads itself, always win.
func gcSettingsFor(getenv func(string) string) (gcSettings, error) {
	var s gcSettings
	if getenv("GOMEMLIMIT") == "" {
		memoryMB, err := instanceMemoryMB(getenv)
		if err != nil {
			return gcSettings{}, err
		}
		s.memoryLimit = memoryMB << 20 / 100 * memoryLimitPercent
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
