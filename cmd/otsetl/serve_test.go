package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/fcruntime"
)

func TestMaxInFlightBytesFollowsTheInstanceMemory(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	bound, err := maxInFlightBytes(0, getenv)
	require.NoError(t, err)
	assert.Equal(t, int64(512<<20/6), bound, "s.yaml's 512 MB when FC does not say")
	env[fcruntime.EnvMemorySize] = "3072"
	bound, err = maxInFlightBytes(0, getenv)
	require.NoError(t, err)
	assert.Equal(t, int64(3072<<20/6), bound)
	bound, err = maxInFlightBytes(1000, getenv)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), bound, "the flag wins")
	env[fcruntime.EnvMemorySize] = "0"
	_, err = maxInFlightBytes(0, getenv)
	assert.EqualError(t, err, `FC_FUNCTION_MEMORY_SIZE="0" is not a memory size in MB`)
}

func TestGCSettingsFollowTheInstanceMemory(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	s, err := gcSettingsFor(getenv)
	require.NoError(t, err)
	assert.Equal(t, gcSettings{memoryLimit: 512 << 20 / 100 * 90, gcPercent: 200}, s, "s.yaml's 512 MB when FC does not say")

	env[fcruntime.EnvMemorySize] = "3072"
	s, err = gcSettingsFor(getenv)
	require.NoError(t, err)
	assert.Equal(t, gcSettings{memoryLimit: 3072 << 20 / 100 * 90, gcPercent: 200}, s)

	env["GOMEMLIMIT"], env["GOGC"] = "100MiB", "50"
	s, err = gcSettingsFor(getenv)
	require.NoError(t, err)
	assert.Equal(t, gcSettings{}, s, "the environment's settings win")

	delete(env, "GOMEMLIMIT")
	env[fcruntime.EnvMemorySize] = "-5"
	_, err = gcSettingsFor(getenv)
	assert.EqualError(t, err, `FC_FUNCTION_MEMORY_SIZE="-5" is not a memory size in MB`)
}

func TestGCSettingsApply(t *testing.T) {
	limit, percent := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(percent)
	})
	gotLimit, gotPercent := gcSettings{memoryLimit: 300 << 20, gcPercent: 200}.apply()
	assert.Equal(t, int64(300<<20), gotLimit)
	assert.Equal(t, 200, gotPercent)
	assert.Equal(t, int64(300<<20), debug.SetMemoryLimit(-1))

	debug.SetMemoryLimit(math.MaxInt64) // GOMEMLIMIT=off
	debug.SetGCPercent(100)
	gotLimit, gotPercent = gcSettings{gcPercent: 200}.apply()
	assert.Equal(t, int64(math.MaxInt64), gotLimit)
	assert.Equal(t, 100, gotPercent, "no higher GOGC without a memory limit")
}
