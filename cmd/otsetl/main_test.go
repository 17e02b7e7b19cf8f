package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

var update = flag.Bool("update", false, "rewrite testdata/scenario-cbor and the expected result table from testdata/scenario")

const (
	scenarioDir     = "../../testdata/scenario"
	scenarioCBORDir = "../../testdata/scenario-cbor"
	expectedResult  = "../../testdata/scenario/expected-result.txt"
)

// noEnv is an environment with nothing set: the defaults apply.
func noEnv(string) string { return "" }

// lookupOf is the environment of getenv, where a variable is set when its value is not empty.
func lookupOf(getenv func(string) string) environment {
	return func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	}
}

func runCLI(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb, lookupOf(getenv))
	return code, out.String(), errb.String()
}

// resultTable returns what replay printed from the `result table` line on.
func resultTable(t *testing.T, stdout string) string {
	t.Helper()
	i := strings.Index(stdout, "result table ")
	require.GreaterOrEqual(t, i, 0, "no result table in:\n%s", stdout)
	return stdout[i:]
}

// TestReplayScenarioPrintsTheExpectedResultTable replays the scenario and compares the
// result table with the one checked in; TestDocsCommands compares the whole output with
// README.md's.
func TestReplayScenarioPrintsTheExpectedResultTable(t *testing.T) {
	code, stdout, stderr := runCLI(t, noEnv, "replay", scenarioDir)
	require.Equal(t, 0, code, stderr)
	if *update {
		require.NoError(t, os.WriteFile(expectedResult, []byte(resultTable(t, stdout)), 0o644))
	}
	want, err := os.ReadFile(expectedResult)
	require.NoError(t, err)
	assert.Equal(t, string(want), resultTable(t, stdout))
}

// TestReplayScenarioAsCBOR replays the CBOR encodings of the scenario's events, as the
// trigger delivers them, and expects the same table.
func TestReplayScenarioAsCBOR(t *testing.T) {
	jsonFiles, err := filepath.Glob(filepath.Join(scenarioDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, jsonFiles, 4)
	for _, jf := range jsonFiles {
		payload, err := os.ReadFile(jf)
		require.NoError(t, err)
		ev, err := events.Decode(payload)
		require.NoError(t, err)
		cborFile := filepath.Join(scenarioCBORDir, strings.TrimSuffix(filepath.Base(jf), ".json")+".cbor")
		if *update {
			encoded, err := events.EncodeCBOR(ev)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(scenarioCBORDir, 0o755))
			require.NoError(t, os.WriteFile(cborFile, encoded, 0o644))
		}
		cbor, err := os.ReadFile(cborFile)
		require.NoError(t, err)
		fromCBOR, err := events.Decode(cbor)
		require.NoError(t, err)
		require.Len(t, fromCBOR.Records, len(ev.Records))
		for i := range ev.Records {
			ev.Records[i].Raw, fromCBOR.Records[i].Raw = nil, nil
		}
		assert.Equal(t, ev, fromCBOR, "%s is the CBOR encoding of %s", cborFile, jf)
	}
	code, stdout, stderr := runCLI(t, noEnv, "replay", scenarioCBORDir)
	require.Equal(t, 0, code, stderr)
	want, err := os.ReadFile(expectedResult)
	require.NoError(t, err)
	assert.Equal(t, string(want), resultTable(t, stdout))
}

// TestReplayOfficialSample replays the trigger documentation's sample event: its row has no
// `level` column, so it does not pass `level > 1` and the result stays empty.
func TestReplayOfficialSample(t *testing.T) {
	for _, file := range []string{"../../testdata/official/sample.json", "../../testdata/official/sample.cbor"} {
		code, stdout, stderr := runCLI(t, noEnv, "replay", file)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "1 records, 1 keys: 0 puts, 0 updates (0 not in view), 1 deletes")
		assert.Contains(t, stdout, "result table \"result\" (0 rows):\n(no rows)\n")
	}
	// With a filter the sample passes, its row lands in the result table.
	env := map[string]string{handler.EnvFilter: `attr_0 == "hello_table_store"`}
	code, stdout, stderr := runCLI(t, func(k string) string { return env[k] }, "replay", "../../testdata/official/sample.cbor")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `1506416585881590900  "2017-09-26 17:03:05.8815909 +0800 CST"  1506416585741000  "hello_table_store"  1506416585881590900`)
}

func TestReplayStopsAtTheFirstFailedInvocation(t *testing.T) {
	dir := t.TempDir()
	first, err := os.ReadFile(filepath.Join(scenarioDir, "0001-puts.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0001.json"), first, 0o644))
	bad := `{"Version":"Sync-v1","Records":[{"Type":"PutRow","PrimaryKey":[{"ColumnName":"id","Value":1}],"Columns":[{"Type":"Put","ColumnName":"level","Value":"high"}]}]}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0002.json"), []byte(bad), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0003.json"), first, 0o644))

	code, stdout, stderr := runCLI(t, noEnv, "replay", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "replayed 1 of 3 events")
	assert.Contains(t, stderr, "0002.json: InvalidRecord: 1 record(s) cannot be evaluated")
	assert.Contains(t, stderr, `column "level" holds STRING "high"`)
}

// TestEndpointUserInformationIsNeverPrinted: `--endpoint http://user:pass@host` once echoed
// the password in the error refusing it. No command prints it now, whichever way the
// endpoint comes.
func TestEndpointUserInformationIsNeverPrinted(t *testing.T) {
	const endpoint = "http://user:s3cret@127.0.0.1:1"
	env := map[string]string{envAccessKeyID: "id", envAccessKeySecret: "secret"}
	withEndpoint := map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: endpoint}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"sync", env, []string{"sync", "--endpoint", endpoint, "--instance", "i"}}, // the issue's
		{"capture", env, []string{"capture", "--endpoint", endpoint, "--instance", "i", "--table", "t", "--out", t.TempDir()}},
		{"replay", env, []string{"replay", "--endpoint", endpoint, "--instance", "i", scenarioDir}},
		{"local", env, []string{"local", "-f", "../../s.yaml", "--endpoint", endpoint, "--instance", "i", "--console", "off"}},
		{"serve", withEndpoint, []string{"serve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, func(k string) string { return tc.env[k] }, tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, `"http://REDACTED@127.0.0.1:1"`)
			assert.NotContains(t, stdout+stderr, "s3cret")
			assert.NotContains(t, stdout+stderr, "user:")
		})
	}
}

func TestUsageAndConfigurationErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // an expression's error is its line, then the expression's line with a caret under the wrong part
	}{
		{"replay without paths", nil, []string{"replay"}, "requires at least 1 arg"},
		{"endpoint without instance", nil, []string{"replay", "--endpoint", "http://127.0.0.1:1", scenarioDir}, "--endpoint and --instance go together"},
		{"endpoint without credentials", nil, []string{"replay", "--endpoint", "http://127.0.0.1:1", "--instance", "i", scenarioDir}, "ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"missing path", nil, []string{"replay", "no-such-dir"}, "no-such-dir"},
		{"bad filter", map[string]string{handler.EnvFilter: "level >"}, []string{"replay", scenarioDir}, "FILTER/COLUMNS: filter \"level >\": unexpected token EOF (1:7)\n | level >\n | ......^\n"},
		{"bad mapping", map[string]string{handler.EnvColumns: `{"level": level, "severity": sevrity(level)}`}, []string{"replay", scenarioDir},
			"FILTER/COLUMNS: columns \"{\\\"level\\\": level, \\\"severity\\\": sevrity(level)}\": sevrity is not a builtin function (1:30)\n | {\"level\": level, \"severity\": sevrity(level)}\n | .............................^\n"},
		{"missing instance", nil, []string{"serve"}, "TABLESTORE_INSTANCE is required"},
		{"result table is the source table", map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1", handler.EnvResultTable: "source_data"}, []string{"serve"}, "would trigger the function again"},
		{"unknown flag", nil, []string{"serve", "--no-such-flag"}, "unknown flag"},
		{"capture count not a number", map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1", handler.EnvCapturePayloads: "-1"}, []string{"serve"}, `CAPTURE_PAYLOADS="-1": want how many payloads to capture`},
		{"negative in-flight bound", map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1"}, []string{"serve", "--max-inflight-bytes", "-1"}, "--max-inflight-bytes -1"},
		{"profile folder is a file", map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1"}, []string{"serve", "--profile", "main_test.go"}, "--profile: mkdir main_test.go"},
		{"memory size not a number", map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1", fcruntime.EnvMemorySize: "lots"}, []string{"serve"}, `FC_FUNCTION_MEMORY_SIZE="lots"`},
		{"export to something else than OSS", exportEnv(handler.EnvExportTo, "s3://bucket/prefix/"), []string{"serve"}, `EXPORT_TO: "s3://bucket/prefix/" is not oss://bucket/prefix/`},
		{"unknown export format", exportEnv(handler.EnvExportFormat, "parquet"), []string{"serve"}, `EXPORT_FORMAT="parquet": want changes (default) or rows`},
		{"unknown export file format", exportEnv(handler.EnvExportFileFormat, "xml"), []string{"serve"}, `EXPORT_FILE_FORMAT="xml": want jsonl (default) or csv`},
		{"unknown compression", exportEnv(handler.EnvExportCompression, "zip"), []string{"serve"}, `EXPORT_COMPRESSION="zip": want none (default) or gzip`},
		{"rows in csv without columns", exportEnv(handler.EnvExportFormat, "rows", handler.EnvExportFileFormat, "csv"), []string{"serve"}, "EXPORT_FORMAT=rows with EXPORT_FILE_FORMAT=csv needs COLUMNS"},
		{"no result table and no export", map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1", handler.EnvResultTable: ""}, []string{"serve"}, "RESULT_TABLE is set empty and EXPORT_TO is unset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tc.args, &out, &errb, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			stderr := errb.String()
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.want)
			assert.Equal(t, max(strings.Count(tc.want, "\n"), 1), strings.Count(stderr, "\n"), "one line, or an expression's three: %q", stderr)
		})
	}
}

// exportEnv is a valid function environment with an export, and the variables of
// nameValues (name, value, name, value, …) on top.
func exportEnv(nameValues ...string) map[string]string {
	env := map[string]string{handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1", handler.EnvRegion: "cn-hangzhou", handler.EnvExportTo: "oss://bucket/prefix/"}
	for i := 0; i+1 < len(nameValues); i += 2 {
		env[nameValues[i]] = nameValues[i+1]
	}
	return env
}

// startTablestore starts otslocal with the tables source_data and result (PK id INTEGER);
// the server stops with the test.
func startTablestore(t *testing.T) *otslocaltest.Server {
	t.Helper()
	return otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "source_data"}, otslocaltest.Table{Name: "result"})
}

// invokeSummary sends one invocation with invoker and decodes the function's summary.
func invokeSummary(ctx context.Context, invoker *fcruntime.Invoker, inv fcruntime.Invocation, payload []byte) (handler.Summary, error) {
	result, err := invoker.Invoke(ctx, inv, payload)
	if err != nil {
		return handler.Summary{}, err
	}
	var sum handler.Summary
	err = json.Unmarshal(result, &sum)
	return sum, err
}

// TestServeProcess runs the real `otsetl serve` binary under the custom-runtime protocol
// against otslocal: it answers invocations, survives bad input, keeps credentials out of its
// logs, and stops cleanly on SIGTERM. With CAPTURE_PAYLOADS=2 its log holds its first two
// payloads, which `otsetl replay` replays from the log.
func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testkit.BuildOtsetl(t)
	creds := aliyun.Credentials{AccessKeyID: "STS.process-test", AccessKeySecret: "secret-must-not-leak", SecurityToken: "token-must-not-leak"}
	srv := startTablestore(t)

	p := startServe(t, bin, append(os.Environ(), "TABLESTORE_INSTANCE="+otslocaltest.Instance, "TABLESTORE_ENDPOINT="+srv.Endpoint,
		handler.EnvCapturePayloads+"=2"))
	invoker := p.invoker
	inv := fcruntime.Invocation{RequestID: "process-1", Credentials: creds, Timeout: 60 * time.Second}
	payload, err := os.ReadFile(filepath.Join(scenarioDir, "0001-puts.json"))
	require.NoError(t, err)
	sum, err := invokeSummary(t.Context(), invoker, inv, payload)
	require.NoError(t, err)
	assert.Positive(t, sum.LagMs, "the scenario's records are older than now")
	sum.LagMs = 0
	assert.Equal(t, handler.Summary{Records: 6, Keys: 6, Puts: 4, Deletes: 2, WriteRequests: 1}, sum)

	for _, bad := range [][]byte{[]byte("garbage"), payload[:len(payload)/2], []byte(`{"Version":"Sync-v1","Records":[{"Type":"PutRow","PrimaryKey":[{"ColumnName":"id","Value":"x"}],"Columns":[{"Type":"Put","ColumnName":"level","Value":3}]}]}`)} {
		_, err := invoker.Invoke(t.Context(), inv, bad)
		var ie *fcruntime.InvocationError
		require.ErrorAs(t, err, &ie)
		assert.NotEmpty(t, ie.ErrorMessage)
	}
	sum, err = invokeSummary(t.Context(), invoker, inv, payload)
	require.NoError(t, err, "still serving after bad input")
	assert.Equal(t, 4, sum.Puts)
	assert.Len(t, srv.Scan(t, "result"), 4)

	resp, err := http.Post(invoker.URL+"/initialize", "application/octet-stream", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "200", resp.Header.Get(fcruntime.HeaderStatus))

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
		require.NoError(t, p.err, "exit status after SIGTERM; stderr: %s", p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	logs := p.stdout.String()
	assert.Contains(t, logs, `"msg":"FC Invoke Start RequestId: process-1"`)
	assert.Contains(t, logs, `"msg":"FC Invoke End RequestId: process-1"`)
	assert.Contains(t, logs, `"errorType":"InvalidEvent"`)
	assert.Contains(t, logs, `"errorType":"TablestoreError"`)
	for _, secret := range []string{creds.AccessKeySecret, creds.SecurityToken} {
		assert.NotContains(t, logs+p.stderr.String(), secret)
	}
	assert.Empty(t, p.stderr.String())

	// The capture: the scenario's event, then "garbage", byte for byte.
	assert.Equal(t, 2, strings.Count(logs, `"msg":"`+handler.CapturedPayloadMessage+`"`))
	capture := filepath.Join(t.TempDir(), "function.log")
	require.NoError(t, os.WriteFile(capture, []byte(logs), 0o644))
	code, out, errOut := runCLI(t, noEnv, "replay", capture)
	assert.Equal(t, 1, code, "the second captured payload is the garbage the function refused")
	assert.Contains(t, out, "function.log:")
	assert.Contains(t, out, ": 6 records, 6 keys: 4 puts, 0 updates (0 not in view), 2 deletes")
	assert.Contains(t, out, "replayed 1 of 2 events")
	assert.Regexp(t, `function.log:\d+: events: payload is neither a CBOR map nor a JSON object: first byte 0x67`, errOut)
}

// TestGo1Runtime runs the binary under FC's go1 runtime protocol: with FC_RUNTIME_API set it
// takes invocations from the runtime API (here a fake of it, fc-runtime-go-sdk
// fc/runtime_api_client.go), whatever its arguments, and posts a summary to /response or an
// error to /error.
func TestGo1Runtime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testkit.BuildOtsetl(t)
	srv := startTablestore(t)

	good, err := os.ReadFile(filepath.Join(scenarioDir, "0001-puts.json"))
	require.NoError(t, err)
	invocations := []struct{ id, payload string }{{"go1-ok", string(good)}, {"go1-bad", "garbage"}}
	type reply struct{ path, body string }
	replies := make(chan reply, len(invocations))
	next := make(chan int, len(invocations))
	for i := range invocations {
		next <- i
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix = "/2020-11-11/runtime/invocation/"
		if r.Method == http.MethodGet && r.URL.Path == prefix+"next" {
			select {
			case i := <-next:
				h := w.Header()
				h.Set("x-fc-request-id", invocations[i].id)
				h.Set("x-fc-function-deadline", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
				h.Set("x-fc-function-timeout", "60")
				h.Set("x-fc-access-key-id", "STS.go1")
				h.Set("x-fc-access-key-secret", "go1-secret")
				h.Set("x-fc-security-token", "go1-token")
				_, _ = io.WriteString(w, invocations[i].payload)
			case <-r.Context().Done():
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		replies <- reply{strings.TrimPrefix(r.URL.Path, prefix), string(body)}
	}))
	defer api.Close()

	cmd := exec.Command(bin, "replay", "--no-such-flag")
	cmd.Env = append(os.Environ(), "FC_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"), "TABLESTORE_INSTANCE="+otslocaltest.Instance, "TABLESTORE_ENDPOINT="+srv.Endpoint)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	var once sync.Once
	stop := func() string { // the output, once the process is gone
		once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return out.String()
	}
	defer stop()

	got := map[string]string{}
	for range invocations {
		select {
		case r := <-replies:
			got[r.path] = r.body
		case <-time.After(30 * time.Second):
			t.Fatalf("no reply from the go1 runtime; output:\n%s", stop())
		}
	}
	var sum handler.Summary
	require.NoError(t, json.Unmarshal([]byte(got["go1-ok/response"]), &sum), "replies: %v", got)
	assert.Positive(t, sum.LagMs, "the scenario's records are older than now")
	sum.LagMs = 0
	assert.Equal(t, handler.Summary{Records: 6, Keys: 6, Puts: 4, Deletes: 2, WriteRequests: 1}, sum)
	var failure fcruntime.ErrorBody
	require.NoError(t, json.Unmarshal([]byte(got["go1-bad/error"]), &failure), "replies: %v", got)
	assert.Contains(t, failure.ErrorMessage, "neither a CBOR map nor a JSON object")
	assert.Equal(t, handler.ErrorTypeInvalidEvent, failure.ErrorType)
	rows := srv.Scan(t, "result")
	require.NoError(t, err)
	assert.Len(t, rows, 4)
	assert.NotContains(t, stop(), "go1-secret")
}

// inMemory is the line otslocal prints at start without --data-dir.
const inMemory = "otslocal: tables in memory; they are lost when it stops (--data-dir keeps them)\n"

// startOtslocalCommand runs `otsetl otslocal` with args (which must include --listen) and
// the environment getenv in process until it prints its endpoint and where it keeps its
// tables, and returns its output
// and a stop function: stop cancels its context, as SIGTERM would, and requires it to
// exit 0.
func startOtslocalCommand(t *testing.T, getenv func(string) string, args ...string) (out *testkit.SyncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out = &testkit.SyncBuffer{}
	var errb testkit.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"otslocal"}, args...), out, &errb, lookupOf(getenv)) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "otslocal: tables ") }, 10*time.Second, 10*time.Millisecond,
		"stderr: %s", &errb)
	return out, func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code, errb.String())
		case <-time.After(10 * time.Second):
			t.Fatal("otslocal did not stop")
		}
	}
}

// TestOtslocalCommand runs `otsetl otslocal`: it prints its endpoint, serves the SDK there, and
// stops when its context ends (SIGTERM or Ctrl-C in the binary).
func TestOtslocalCommand(t *testing.T) {
	addr := testkit.FreePort(t)
	out, stop := startOtslocalCommand(t, noEnv, "--listen", addr)
	endpoint := "http://" + addr
	assert.Equal(t, "otslocal: Tablestore endpoint "+endpoint+" (an instance per instance name, any access key)\n"+inMemory, out.String())

	client := tableio.NewClient(endpoint, "any", aliyun.Credentials{AccessKeyID: "any", AccessKeySecret: "any"})
	require.NoError(t, tableio.Ensure(t.Context(), client, "t", []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindString}}, tableio.Options{}))
	rows, err := tableio.Scan(t.Context(), client, "t")
	require.NoError(t, err)
	assert.Empty(t, rows)

	stop()
	_, err = net.Dial("tcp", addr)
	assert.Error(t, err, "nothing listens after it stopped")
}

// listTablesAs sends a ListTable to the otslocal at endpoint addressed to host, as a web
// page does after a DNS rebinding, and returns the HTTP status.
func listTablesAs(t *testing.T, endpoint, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint+"/ListTable", nil)
	require.NoError(t, err)
	req.Host = host
	req.Header.Set("x-ots-instancename", "otsetl-local")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOtslocalCommandServesLoopbackHostsOnly: on a loopback address `otsetl otslocal`
// refuses a request addressed to another name, unless --allow-any-host.
func TestOtslocalCommandServesLoopbackHostsOnly(t *testing.T) {
	addr := testkit.FreePort(t)
	_, stop := startOtslocalCommand(t, noEnv, "--listen", addr)
	assert.Equal(t, http.StatusForbidden, listTablesAs(t, "http://"+addr, "evil.example:8900"))
	assert.Equal(t, http.StatusOK, listTablesAs(t, "http://"+addr, addr))
	stop()

	addr = testkit.FreePort(t)
	_, stop = startOtslocalCommand(t, noEnv, "--listen", addr, "--allow-any-host")
	assert.Equal(t, http.StatusOK, listTablesAs(t, "http://"+addr, "evil.example:8900"))
	stop()
}

// TestOtslocalCommandFlags runs `otsetl otslocal` in strict mode with two Stream shards and
// every request of one action failing, and checks its usage errors.
func TestOtslocalCommandFlags(t *testing.T) {
	addr := testkit.FreePort(t)
	out, stop := startOtslocalCommand(t, noEnv, "--listen", addr, "--access-key-id", "id", "--access-key-secret", "secret",
		"--stream-shards", "2", "--error-rate", "1", "--fault-operations", "ListTable")
	endpoint := "http://" + addr
	assert.Equal(t, "otslocal: Tablestore endpoint "+endpoint+" (an instance per instance name, access key id only)\n"+inMemory, out.String())

	api := func(id, secret string) *sdk.TableStoreClient {
		config := sdk.NewDefaultTableStoreConfig()
		config.RetryTimes = 0
		return sdk.NewClientWithConfig(endpoint, "inst", id, secret, "", config)
	}
	var otsErr *sdk.OtsError
	_, err := api("id", "wrong").DescribeTable(&sdk.DescribeTableRequest{TableName: "t"})
	require.ErrorAs(t, err, &otsErr)
	assert.Equal(t, "OTSAuthFailed", otsErr.Code)
	_, err = api("id", "secret").DescribeTable(&sdk.DescribeTableRequest{TableName: "t"})
	require.ErrorAs(t, err, &otsErr)
	assert.Equal(t, "OTSObjectNotExist", otsErr.Code, "signed with the right key, the request reaches the table store")
	_, err = api("id", "secret").ListTable()
	require.ErrorAs(t, err, &otsErr)
	assert.Contains(t, []string{"OTSServerBusy", "OTSPartitionUnavailable", "OTSRowOperationConflict"}, otsErr.Code)

	meta := &sdk.TableMeta{TableName: "t"}
	meta.AddPrimaryKeyColumn("id", sdk.PrimaryKeyType_INTEGER)
	_, err = api("id", "secret").CreateTable(&sdk.CreateTableRequest{TableMeta: meta, TableOption: &sdk.TableOption{TimeToAlive: -1, MaxVersion: 1},
		ReservedThroughput: &sdk.ReservedThroughput{}, StreamSpec: &sdk.StreamSpecification{EnableStream: true, ExpirationTime: 1}})
	require.NoError(t, err)
	streams, err := api("id", "secret").ListStream(&sdk.ListStreamRequest{TableName: proto.String("t")})
	require.NoError(t, err)
	require.Len(t, streams.Streams, 1)
	described, err := api("id", "secret").DescribeStream(&sdk.DescribeStreamRequest{StreamId: streams.Streams[0].Id})
	require.NoError(t, err)
	assert.Len(t, described.Shards, 2)

	stop()

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--access-key-id", "id"}, "--access-key-id and --access-key-secret go together"},
		{[]string{"--error-rate", "1.5"}, "add up to 1.5, more than 1"},
		{[]string{"--fault-operations", "Nope", "--error-rate", "0.1"}, `"Nope": not an action this server implements`},
		{[]string{"--stream-shards", "0"}, "--stream-shards 0: want at least 1"},
	} {
		code, _, stderr := runCLI(t, noEnv, append([]string{"otslocal", "--listen", testkit.FreePort(t)}, tt.args...)...)
		assert.Equal(t, 2, code, "%v: %s", tt.args, stderr)
		assert.Contains(t, stderr, tt.want, "%v", tt.args)
	}
}

// TestOtslocalCommandTakesTheAccessKeyFromTheEnvironment runs `otsetl otslocal` with its
// access key in OTSLOCAL_ACCESS_KEY_ID and OTSLOCAL_ACCESS_KEY_SECRET, which keep the
// secret out of the process list, and checks that a flag overrides its variable.
func TestOtslocalCommandTakesTheAccessKeyFromTheEnvironment(t *testing.T) {
	env := func(values map[string]string) func(string) string {
		return func(name string) string { return values[name] }
	}
	describe := func(endpoint, id, secret string) error {
		config := sdk.NewDefaultTableStoreConfig()
		config.RetryTimes = 0
		_, err := sdk.NewClientWithConfig(endpoint, "inst", id, secret, "", config).DescribeTable(&sdk.DescribeTableRequest{TableName: "t"})
		return err
	}
	requireCode := func(t *testing.T, err error, code string) {
		t.Helper()
		var otsErr *sdk.OtsError
		require.ErrorAs(t, err, &otsErr)
		assert.Equal(t, code, otsErr.Code)
	}

	addr := testkit.FreePort(t)
	out, stop := startOtslocalCommand(t, env(map[string]string{"OTSLOCAL_ACCESS_KEY_ID": "env-id", "OTSLOCAL_ACCESS_KEY_SECRET": "env-secret"}),
		"--listen", addr)
	endpoint := "http://" + addr
	assert.Equal(t, "otslocal: Tablestore endpoint "+endpoint+" (an instance per instance name, access key env-id only)\n"+inMemory, out.String())
	requireCode(t, describe(endpoint, "env-id", "wrong"), "OTSAuthFailed")
	requireCode(t, describe(endpoint, "env-id", "env-secret"), "OTSObjectNotExist")
	stop()

	addr = testkit.FreePort(t)
	out, stop = startOtslocalCommand(t, env(map[string]string{"OTSLOCAL_ACCESS_KEY_ID": "env-id", "OTSLOCAL_ACCESS_KEY_SECRET": "env-secret"}),
		"--listen", addr, "--access-key-id", "flag-id")
	endpoint = "http://" + addr
	assert.Equal(t, "otslocal: Tablestore endpoint "+endpoint+" (an instance per instance name, access key flag-id only)\n"+inMemory, out.String())
	requireCode(t, describe(endpoint, "env-id", "env-secret"), "OTSAuthFailed")
	requireCode(t, describe(endpoint, "flag-id", "env-secret"), "OTSObjectNotExist")
	stop()

	code, _, stderr := runCLI(t, env(map[string]string{"OTSLOCAL_ACCESS_KEY_ID": "env-id"}), "otslocal", "--listen", testkit.FreePort(t))
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--access-key-id and --access-key-secret go together (from the flags, or from OTSLOCAL_ACCESS_KEY_ID and OTSLOCAL_ACCESS_KEY_SECRET)")
}
