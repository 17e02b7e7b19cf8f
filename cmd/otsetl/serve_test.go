package main

import (
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
