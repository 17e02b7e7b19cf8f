package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

func TestMaxInFlightBytesFollowsTheInstanceMemory(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	bound, err := maxInFlightBytes(0, getenv)
	require.NoError(t, err)
	assert.Equal(t, int64(26_843_545), bound, "half of s.yaml's 512 MB when FC does not say, at 10 bytes a payload byte")
	env[fcruntime.EnvMemorySize] = "128"
	bound, err = maxInFlightBytes(0, getenv)
	require.NoError(t, err)
	assert.Equal(t, int64(6_710_885), bound)
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
	assert.Equal(t, gcSettings{memoryLimit: 512<<20/100*75 - 16<<20, gcPercent: 200}, s, "75% of s.yaml's 512 MB less the binary's pages when FC does not say")

	env[fcruntime.EnvMemorySize] = "128"
	s, err = gcSettingsFor(getenv)
	require.NoError(t, err)
	assert.Equal(t, gcSettings{memoryLimit: 128<<20/100*75 - 16<<20, gcPercent: 200}, s)

	env[fcruntime.EnvMemorySize] = "32"
	s, err = gcSettingsFor(getenv)
	require.NoError(t, err)
	assert.Equal(t, gcSettings{memoryLimit: 16 << 20, gcPercent: 200}, s, "at least half the memory")

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

// servedProcess is a running `otsetl serve` child process, killed when the test ends.
type servedProcess struct {
	cmd     *exec.Cmd
	invoker *fcruntime.Invoker
	stdout  *testkit.SyncBuffer
	stderr  *testkit.SyncBuffer
	// done is closed when the process has exited, with err its exit error.
	done chan struct{}
	err  error
}

// startServe starts `otsetl serve` of bin on a free loopback port with the environment env
// (and nothing else) and waits until it answers FC's /initialize hook.
func startServe(t *testing.T, bin string, env []string) *servedProcess {
	t.Helper()
	addr := testkit.FreePort(t)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p := &servedProcess{
		cmd: exec.Command(bin, "serve"), invoker: &fcruntime.Invoker{URL: "http://" + addr},
		stdout: new(testkit.SyncBuffer), stderr: new(testkit.SyncBuffer), done: make(chan struct{}),
	}
	p.cmd.Env = append(env, "FC_CUSTOM_LISTEN_PORT="+port)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	require.Eventually(t, func() bool {
		resp, err := http.Post(p.invoker.URL+"/initialize", "application/octet-stream", nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "serve answers; stderr: %s", p.stderr)
	return p
}

// floodOutcome counts how the invocations of a flood ended.
type floodOutcome struct {
	succeeded, busy int
	// failed are the other failures.
	failed []error
}

// flood sends n invocations of payload at once and waits for every answer. Each asks to
// continue before it sends its body (Expect: 100-continue): one refused as busy gets its
// answer, not a connection closed under its body, which is what an HTTP server does with a
// large body it will not read.
func flood(t *testing.T, invoker *fcruntime.Invoker, inv fcruntime.Invocation, payload []byte, n int) floodOutcome {
	t.Helper()
	transport := &http.Transport{ExpectContinueTimeout: time.Minute, MaxIdleConnsPerHost: n}
	t.Cleanup(transport.CloseIdleConnections)
	invoker = &fcruntime.Invoker{URL: invoker.URL, HTTPClient: &http.Client{Transport: expectContinue{transport}}}
	var mu sync.Mutex
	var outcome floodOutcome
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			_, err := invoker.Invoke(t.Context(), inv, payload)
			var ie *fcruntime.InvocationError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				outcome.succeeded++
			case errors.As(err, &ie) && ie.ErrorType == fcruntime.ErrorTypeInstanceBusy:
				outcome.busy++
			default:
				outcome.failed = append(outcome.failed, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return outcome
}

// expectContinue sends every request with Expect: 100-continue.
type expectContinue struct{ base http.RoundTripper }

func (e expectContinue) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Expect", "100-continue")
	return e.base.RoundTrip(req)
}

// TestServeFloodStaysWithinInstanceMemory floods the real `otsetl serve` with 200
// concurrent invocations of a 1 MB event at each instance memory size and reads its peak
// resident set (VmHWM): it stays within 80% of the instance's memory. The event is the
// costliest shape measured per payload byte (cmd/otsetl/memory.go,
// invocationBytesPerPayloadByte): UpdateRows of `level`, each of which the function reads
// from the source table. Invocations beyond the in-flight bound fail at once as
// InstanceBusy; none fails otherwise.
func TestServeFloodStaysWithinInstanceMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and floods it")
	}
	bin := testkit.BuildOtsetl(t)
	// otslocal runs as a process of its own, as the binary's `otsetl otslocal`: the flood's
	// reads and writes cost it more CPU than the test's own process should take (it may run
	// with -race).
	endpoint := "http://" + testkit.FreePort(t)
	tablestoreProcess := exec.Command(bin, "otslocal", "--listen", strings.TrimPrefix(endpoint, "http://"))
	require.NoError(t, tablestoreProcess.Start())
	t.Cleanup(func() {
		_ = tablestoreProcess.Process.Kill()
		_ = tablestoreProcess.Wait()
	})
	client := otslocaltest.Client(endpoint)
	require.Eventually(t, func() bool {
		return tableio.Ensure(t.Context(), client, "source_data", otslocaltest.IDKey, tableio.Options{}) == nil
	}, 10*time.Second, 20*time.Millisecond, "otslocal answers")
	require.NoError(t, tableio.Ensure(t.Context(), client, "result", otslocaltest.IDKey, tableio.Options{}))
	payload := updateLevelEvent(t, 1<<20)
	putLevelRows(t, endpoint, "source_data", 30000, 10)
	inv := fcruntime.Invocation{RequestID: "flood", Credentials: otslocaltest.Credentials, Timeout: time.Minute}
	for _, memoryMB := range []int64{128, 256, 512} { // the 128 MB first
		t.Run(fmt.Sprintf("%d MB", memoryMB), func(t *testing.T) {
			env := []string{handler.EnvInstance + "=" + otslocaltest.Instance, handler.EnvEndpoint + "=" + endpoint,
				fcruntime.EnvMemorySize + "=" + strconv.FormatInt(memoryMB, 10)}
			p := startServe(t, bin, env)
			outcome := flood(t, p.invoker, inv, payload, 200)
			peak, err := testkit.PeakRSS(p.cmd.Process.Pid)
			require.NoError(t, err)
			t.Logf("peak RSS %.1f MB of %d MB (%.0f%%): %d invocations succeeded, %d were refused as busy",
				float64(peak)/(1<<20), memoryMB, 100*float64(peak)/float64(memoryMB<<20), outcome.succeeded, outcome.busy)
			assert.Empty(t, outcome.failed, "no invocation fails but as InstanceBusy")
			assert.Positive(t, outcome.succeeded)
			assert.Equal(t, 200, outcome.succeeded+outcome.busy)
			assert.LessOrEqual(t, peak, memoryMB<<20*80/100, "peak RSS within 80%% of the instance's memory")
		})
	}
}

// updateLevelEvent returns a trigger event (CBOR) of at least size bytes: UpdateRows that
// put `level` on ids 0, 1, 2, …
func updateLevelEvent(t *testing.T, size int) []byte {
	t.Helper()
	ev := &events.Event{Version: events.Version}
	version := time.Now().UnixMilli()
	for add := 1; ; {
		for range add {
			id := int64(len(ev.Records))
			ev.Records = append(ev.Records, events.Record{
				Type: events.UpdateRow, Info: events.RecordInfo{Timestamp: version * 1000},
				PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
				Columns:    []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(id % 4), Timestamp: &version}},
			})
		}
		payload, err := events.EncodeCBOR(ev)
		require.NoError(t, err)
		if len(payload) >= size {
			return payload
		}
		// The records still missing, at the bytes a record has taken so far.
		add = (size-len(payload))*len(ev.Records)/len(payload) + 1
	}
}
