package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/replay"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// localStack is a running `otsetl local` binary with the repository's s.yaml and an
// embedded otslocal, and an official SDK client of that otslocal.
type localStack struct {
	cmd            *exec.Cmd
	stdout, stderr *testkit.SyncBuffer
	endpoint       string
	instance       string
	console        string // the web console's URL, http://127.0.0.1:PORT/
	fcAPI          string // FC's InvokeFunction API, http://127.0.0.1:PORT/
	api            *sdk.TableStoreClient
	exited         chan error // the process's exit, once
	killed         bool       // by the test, with SIGKILL
}

// localOutput matches the line `otsetl local` prints once otslocal runs, consoleOutput the
// one of its web console.
var (
	localOutput   = regexp.MustCompile(`(?:embedded otslocal|Tablestore) at (http://\S+), instance ([^\s,]+)`)
	consoleOutput = regexp.MustCompile(`(?m)^otsetl local: console at (http://127\.0\.0\.1:\d+/)$`)
	fcAPIOutput   = regexp.MustCompile(`(?m)^otsetl local: fc api at (http://127\.0\.0\.1:\d+/)$`)
)

// startLocal runs `otsetl local -f ../../s.yaml` with args, its console on a free loopback
// port, and waits until its trigger runs.
// The process gets SIGTERM when the test ends, and must then exit 0.
func startLocal(t *testing.T, bin string, args ...string) *localStack {
	t.Helper()
	return startLocalEnv(t, bin, nil, args...)
}

// startLocalEnv is startLocal with env (NAME=value) added to an environment without
// credentials.
func startLocalEnv(t *testing.T, bin string, env []string, args ...string) *localStack {
	t.Helper()
	s := &localStack{stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"local", "-f", filepath.Join("..", "..", "s.yaml"), "--listen", testkit.FreePort(t), "--console", "127.0.0.1:0", "--oss-listen", "127.0.0.1:0", "--fc-listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(withoutCredentials(os.Environ()), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	require.NoError(t, s.cmd.Start())
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.killed {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.exited:
			assert.NoError(t, err, "otsetl local must exit 0 on SIGTERM; stderr:\n%s", s.stderr.String())
			assert.Contains(t, s.stdout.String(), "otsetl local: stopped")
			for _, pid := range functionPIDs(s.stdout.String()) {
				assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "function process %d outlived otsetl local", pid)
			}
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			t.Error("otsetl local did not stop on SIGTERM")
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(s.stdout.String(), "trigger source_data -> otsetl running") },
		30*time.Second, 10*time.Millisecond, "stdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
	m := localOutput.FindStringSubmatch(s.stdout.String())
	require.NotNil(t, m, s.stdout.String())
	s.endpoint, s.instance = m[1], m[2]
	c := consoleOutput.FindStringSubmatch(s.stdout.String())
	require.NotNil(t, c, s.stdout.String())
	s.console = c[1]
	f := fcAPIOutput.FindStringSubmatch(s.stdout.String())
	require.NotNil(t, f, s.stdout.String())
	s.fcAPI = f[1]
	s.api = tableio.NewClient(s.endpoint, s.instance, aliyun.Credentials{AccessKeyID: "any", AccessKeySecret: "any"})
	return s
}

// withoutCredentials drops ALIBABA_CLOUD_* variables, so the test does not depend on the
// environment it runs in.
func withoutCredentials(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ALIBABA_CLOUD_") && !strings.HasPrefix(kv, "TABLESTORE_") {
			out = append(out, kv)
		}
	}
	return out
}

// sigkill kills `otsetl local` with SIGKILL and waits until it has died.
func (s *localStack) sigkill(t *testing.T) {
	t.Helper()
	s.killed = true
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case err := <-s.exited:
		require.ErrorContains(t, err, "signal: killed")
	case <-time.After(10 * time.Second):
		t.Fatal("otsetl local did not die of SIGKILL")
	}
}

func (s *localStack) key(id int64) *sdk.PrimaryKey {
	pk := &sdk.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", id)
	return pk
}

func (s *localStack) put(t *testing.T, id, level int64, message string) {
	t.Helper()
	change := &sdk.PutRowChange{TableName: "source_data", PrimaryKey: s.key(id)}
	change.AddColumn("level", level)
	change.AddColumn("message", message)
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := s.api.PutRow(&sdk.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
}

func (s *localStack) update(t *testing.T, id int64, column string, value any) {
	t.Helper()
	change := &sdk.UpdateRowChange{TableName: "source_data", PrimaryKey: s.key(id)}
	change.PutColumn(column, value)
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := s.api.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)
}

func (s *localStack) delete(t *testing.T, id int64) {
	t.Helper()
	change := &sdk.DeleteRowChange{TableName: "source_data", PrimaryKey: s.key(id)}
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := s.api.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: change})
	require.NoError(t, err)
}

// table renders a table as replay prints it.
func (s *localStack) table(t *testing.T, name string) string {
	t.Helper()
	rows, err := tableio.Scan(t.Context(), s.api, name)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, replay.PrintTable(&buf, rows))
	return buf.String()
}

// requireResult waits until the result table equals the rows of source_data with level > 1,
// which must be exactly the ids given, and returns it rendered.
func (s *localStack) requireResult(t *testing.T, checkpoint string, ids ...int64) string {
	t.Helper()
	var want, got string
	ok := assert.Eventually(t, func() bool {
		rows, err := tableio.Scan(t.Context(), s.api, "source_data")
		if err != nil {
			return false
		}
		var passing []tableio.Row
		for _, r := range rows {
			for _, c := range r.Columns {
				if level, isInt := c.Value.Int(); c.Name == "level" && isInt && level > 1 {
					passing = append(passing, r)
				}
			}
		}
		var buf bytes.Buffer
		if replay.PrintTable(&buf, passing) != nil || len(passing) != len(ids) {
			return false
		}
		for i, r := range passing {
			if id, _ := r.PrimaryKey[0].Value.Int(); id != ids[i] {
				return false
			}
		}
		want, got = buf.String(), s.table(t, "result")
		return want == got
	}, 30*time.Second, 20*time.Millisecond)
	require.Truef(t, ok, "%s: result never equalled filter(source_data):\nwant ids %v:\n%s\ngot:\n%s\nstdout:\n%s\nstderr:\n%s",
		checkpoint, ids, want, got, s.stdout, s.stderr)
	return got
}

// TestLocalRunsTheDocumentedVerification walks the Tablestore-trigger example's
// verification through the whole local stack: rows written with the official SDK into
// source_data go through otslocal's Stream, the local trigger and the `otsetl serve` child
// process into result, which holds exactly the rows with level > 1 after the puts, after
// updates across the threshold and after deletes. The Stream, captured with `otsetl
// capture` and replayed with `otsetl replay` into a fresh otslocal, gives the same result.
func TestLocalRunsTheDocumentedVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	bin := testkit.BuildOtsetl(t)
	s := startLocal(t, bin, "--stream-shards", "2")
	assert.Equal(t, http.StatusForbidden, listTablesAs(t, s.endpoint, "evil.example:8900"), "the embedded otslocal serves loopback names only")
	assert.Contains(t, s.stdout.String(), "otsetl local: tables in memory; they are lost when it stops (--data-dir keeps them)\n")

	for id := int64(1); id <= 8; id++ {
		s.put(t, id, id%4, fmt.Sprintf("log line %d", id))
	}
	s.requireResult(t, "after the puts", 2, 3, 6, 7)

	s.update(t, 2, "level", int64(0))        // leaves the view
	s.update(t, 1, "level", int64(3))        // joins it
	s.update(t, 3, "message", "edited")      // stays, with the new message
	s.update(t, 4, "message", "still quiet") // stays out
	s.requireResult(t, "after the updates", 1, 3, 6, 7)

	s.delete(t, 3) // in the view
	s.delete(t, 4) // not in it
	live := s.requireResult(t, "after the deletes", 1, 6, 7)
	assert.Regexp(t, `invocation \S+ shard \S+: \d+ records, \d+ keys: \d+ puts, \d+ updates \(\d+ not in view\), \d+ deletes, \d+ source reads, 0 dead-lettered; \d+ write requests, \d+ read requests, \d+ retries; lag \d+ ms, \d+ ms`, s.stdout.String())

	out := filepath.Join(t.TempDir(), "captured")
	capture := exec.Command(bin, "capture", "--endpoint", s.endpoint, "--instance", s.instance, "--table", "source_data", "--out", out)
	capture.Env = append(withoutCredentials(os.Environ()), "ALIBABA_CLOUD_ACCESS_KEY_ID=any", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=any")
	captured, err := capture.CombinedOutput()
	require.NoError(t, err, string(captured))
	replayed, err := exec.Command(bin, "replay", out).CombinedOutput()
	require.NoError(t, err, string(replayed))
	_, table, found := strings.Cut(string(replayed), "result table \"result\"")
	require.True(t, found, string(replayed))
	_, table, _ = strings.Cut(table, "\n")
	assert.Equal(t, live, table, "the replayed capture's result table differs from the live one")

	// The sync command local prints checks the result table the trigger kept.
	_, line, found := strings.Cut(s.stdout.String(), "otsetl local: to backfill or check result: ")
	require.True(t, found, s.stdout.String())
	line, _, _ = strings.Cut(line, "\n")
	words := strings.Fields(line)
	at := slices.Index(words, "otsetl")
	require.Positive(t, at, "the line sets the embedded otslocal's access key: %q", line)
	sync := exec.Command(bin, append(words[at+1:], "--dry-run")...)
	sync.Env = append(withoutCredentials(os.Environ()), words[:at]...)
	synced, err := sync.CombinedOutput()
	require.NoError(t, err, string(synced))
	assert.Contains(t, string(synced), "otsetl sync: 6 source rows, 3 result rows: 0 missing, 0 extra, 0 differing; dry run, nothing written")
}

// TestLocalWithTheMappingOfSYAML runs `otsetl local` with s.yaml's COLUMNS example in force:
// the rows written into source_data reach result as the mapping computes them, an UpdateRow
// of the message alone updates the mapped columns, `otsetl sync --on-fc` of the same s.yaml
// repairs a damaged result with the mapping, and the console shows the rule.
func TestLocalWithTheMappingOfSYAML(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	bin := testkit.BuildOtsetl(t)
	path, _ := sYAMLWithMapping(t)
	s := startLocal(t, bin, "-f", path)

	s.put(t, 1, 3, "  Disk FULL, took 250 ms ")
	s.put(t, 2, 2, "Retrying")
	s.put(t, 3, 1, "quiet")
	mapped := func(id, level int64, severity, message string, ms ots.Value) tableio.Row {
		row := tableio.Row{PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}}}
		if !ms.IsNone() {
			row.Columns = append(row.Columns, ots.Cell{Name: "duration_ms", Value: ms})
		}
		row.Columns = append(row.Columns, ots.Cell{Name: "level", Value: ots.Integer(level)}, ots.Cell{Name: "message", Value: ots.String(message)},
			ots.Cell{Name: "severity", Value: ots.String(severity)})
		return row
	}
	s.requireRows(t, "result", mapped(1, 3, "error", "disk full, took 250 ms", ots.Integer(250)), mapped(2, 2, "warn", "retrying", ots.Value{}))
	s.update(t, 2, "message", "Retried, took 40 ms")
	want := []tableio.Row{mapped(1, 3, "error", "disk full, took 250 ms", ots.Integer(250)), mapped(2, 2, "warn", "retried, took 40 ms", ots.Integer(40))}
	t.Logf("result:\n%s", s.requireRows(t, "result", want...))

	// The result damaged by hand, a sync as task invocations of the instances repairs it
	// with the same mapping: the fingerprint of s.yaml's rule is the instances' own.
	damage := &sdk.PutRowChange{TableName: "result", PrimaryKey: s.key(2)}
	damage.AddColumn("severity", "warn")
	damage.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := s.api.PutRow(&sdk.PutRowRequest{PutRowChange: damage})
	require.NoError(t, err)
	gone := &sdk.DeleteRowChange{TableName: "result", PrimaryKey: s.key(1)}
	gone.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err = s.api.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: gone})
	require.NoError(t, err)
	sync := exec.Command(bin, "sync", "-f", path, "--endpoint", s.endpoint, "--instance", s.instance, "--on-fc")
	sync.Env = append(withoutCredentials(os.Environ()), "ALIBABA_CLOUD_ACCESS_KEY_ID=local", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=local", "FC_ENDPOINT="+strings.TrimSuffix(s.fcAPI, "/"))
	out, err := sync.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "3 source rows, 1 result rows: 1 missing, 0 extra, 1 differing; 2 written, 0 deleted", "%s", out)
	assert.Contains(t, string(out), "; function otsetl: ", "%s", out)
	s.requireRows(t, "result", want...)

	var overview struct {
		Pipeline struct{ Filter, Columns string }
	}
	resp, err := http.Get(s.console + "api/overview")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&overview))
	assert.Equal(t, "level > 1", overview.Pipeline.Filter)
	assert.True(t, strings.HasPrefix(overview.Pipeline.Columns, `{"level": level, "severity": level >= 3 ? "error" : "warn", "message": `), overview.Pipeline.Columns)
}

// requireRows waits until table holds rows, and returns it rendered as replay prints it.
func (s *localStack) requireRows(t *testing.T, table string, rows ...tableio.Row) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, replay.PrintTable(&buf, rows))
	want, got := buf.String(), ""
	ok := assert.Eventually(t, func() bool { got = s.table(t, table); return got == want }, 30*time.Second, 20*time.Millisecond)
	require.Truef(t, ok, "table %s:\nwant:\n%s\ngot:\n%s\nstdout:\n%s\nstderr:\n%s", table, want, got, s.stdout, s.stderr)
	return got
}

// TestLocalKeepsItsTablesInADataDir runs `otsetl local --data-dir`, writes rows, kills it
// with SIGKILL and starts it again on the directory: the tables are there with their rows,
// and the pipeline goes on from them.
func TestLocalKeepsItsTablesInADataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	bin := testkit.BuildOtsetl(t)
	dir := filepath.Join(t.TempDir(), "tables")
	s := startLocal(t, bin, "--data-dir", dir)
	assert.Contains(t, s.stdout.String(), "otsetl local: tables kept in "+dir+"\n")
	for id := int64(1); id <= 4; id++ {
		s.put(t, id, id, fmt.Sprintf("log line %d", id))
	}
	result := s.requireResult(t, "before the kill", 2, 3, 4)
	source := s.table(t, "source_data")
	s.sigkill(t)

	s = startLocal(t, bin, "--data-dir", dir)
	assert.Equal(t, source, s.table(t, "source_data"), "source_data as it was")
	assert.Equal(t, result, s.table(t, "result"), "result as it was")
	s.put(t, 5, 9, "after the restart")
	s.delete(t, 2)
	s.requireResult(t, "after the restart", 3, 4, 5)

	code, stdout, stderr := runCLI(t, noEnv, "local", "-f", filepath.Join("..", "..", "s.yaml"), "--listen", testkit.FreePort(t), "--data-dir", dir)
	assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, "otslocal: data directory "+dir+": in use by another otslocal", "a second local on the directory")
}

// TestLocalRestartsAKilledFunction kills the function's instance in the middle of an
// invocation: `otsetl local` reports the exit and restarts the instance, and the trigger
// delivers the batch again, so the row still reaches result.
func TestLocalRestartsAKilledFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	bin := testkit.BuildOtsetl(t)
	// Every request to otslocal takes 300 ms, so an invocation (one BatchWriteRow at least)
	// is still running when the test sees it start.
	s := startLocal(t, bin, "--latency", "300ms", "--verbose")
	pid := functionPID(t, s.stdout.String())

	s.put(t, 1, 2, "written while the function dies")
	require.Eventually(t, func() bool { return strings.Contains(s.stderr.String(), "FC Invoke Start") },
		30*time.Second, time.Millisecond, "stderr:\n%s", s.stderr)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	s.requireResult(t, "after the restart", 1)
	redelivered := regexp.MustCompile(`: 1 records, 1 keys: 1 puts, .* \(attempt \d+\)`)
	require.Eventually(t, func() bool { return redelivered.MatchString(s.stdout.String()) }, 30*time.Second, 10*time.Millisecond,
		"the trigger reports the redelivery that succeeded; stdout:\n%s", s.stdout)
	out := s.stdout.String()
	assert.Contains(t, out, fmt.Sprintf("function otsetl, instance i-1 (pid %d) exited unexpectedly (signal: killed); restarting it", pid))
	assert.Regexp(t, `attempt 1 with 1 records failed after \d+ ms: instance i-1 exited during the invocation \(signal: killed\): .+; the batch will be retried`, out)
	require.Eventually(t, func() bool { return len(functionPIDs(s.stdout.String())) == 3 }, 30*time.Second, 10*time.Millisecond,
		"the retry starts an instance (i-2), and i-1 is started again; stdout:\n%s", s.stdout)
	pids := functionPIDs(s.stdout.String())
	assert.NotContains(t, pids[1:], pid, "new processes serve")

	// The console shows the restart, the instances, and the failed attempt.
	var overview struct {
		Pipeline struct {
			Instances fclocal.PoolStatus
			Totals    struct{ Invocations, Failures int }
		}
	}
	resp, err := http.Get(s.console + "api/overview")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&overview))
	require.Len(t, overview.Pipeline.Instances.Instances, 2)
	for _, inst := range overview.Pipeline.Instances.Instances {
		assert.True(t, inst.Running, inst.ID)
		assert.Contains(t, pids[1:], inst.PID, inst.ID)
	}
	assert.Equal(t, 1, overview.Pipeline.Instances.Restarts)
	assert.GreaterOrEqual(t, overview.Pipeline.Totals.Failures, 1)
}

// functionPIDs returns the pids of the function processes local reported starting, in order.
func functionPIDs(stdout string) []int {
	var pids []int
	for _, m := range regexp.MustCompile(`\(otsetl serve, pid (\d+)\)`).FindAllStringSubmatch(stdout, -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

func functionPID(t *testing.T, stdout string) int {
	t.Helper()
	pids := functionPIDs(stdout)
	require.Len(t, pids, 1, stdout)
	return pids[0]
}

func TestLocalUsageAndConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	sYAML, err := os.ReadFile(filepath.Join("..", "..", "s.yaml"))
	require.NoError(t, err)
	mismatched := write("mismatched.yaml", strings.Replace(string(sYAML), "SOURCE_TABLE: ${vars.sourceTable}", "SOURCE_TABLE: other_table", 1))
	noTrigger := write("no-trigger.yaml", strings.Replace(string(sYAML), "triggerType: tablestore", "triggerType: timer", 1))
	noTime := write("no-time.yaml", strings.Replace(string(sYAML), "timeout: 60", "timeout: 0", 1))
	keyColumn := write("key-column.yaml", strings.Replace(string(sYAML), "FILTER: level > 1\n", "FILTER: level > 1\n        COLUMNS: '{\"level\": level, \"id\": message}'\n", 1))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing s.yaml", []string{"-f", filepath.Join(dir, "absent.yaml")}, "absent.yaml: no such file"},
		{"no Tablestore trigger", []string{"-f", noTrigger}, "no fc3 resource has a trigger of triggerType tablestore"},
		{"trigger and function disagree", []string{"-f", mismatched}, "the trigger reads table source_data but the function's SOURCE_TABLE is other_table"},
		{"bad primary key", []string{"--primary-key", "id:float"}, `--primary-key: "id:float": want name:type`},
		{"no shards", []string{"--stream-shards", "0"}, "--stream-shards 0: want at least 1"},
		{"endpoint without credentials", []string{"--endpoint", "http://127.0.0.1:1"}, "--endpoint needs credentials in ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"a data directory with an endpoint", []string{"--endpoint", "http://127.0.0.1:1", "--data-dir", dir}, "--data-dir is for the embedded otslocal; with --endpoint http://127.0.0.1:1 the tables are that Tablestore's"},
		{"a timeout the function cannot work in", []string{"-f", noTime}, "props.timeout 0: the function needs at least 1 second"},
		{"a mapping that writes the primary key", []string{"-f", keyColumn}, `FILTER/COLUMNS: "id" is the name of a primary key column (id INTEGER): the result row cannot hold it as an attribute column`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"local", "-f", filepath.Join("..", "..", "s.yaml")}, tt.args...)
			code, stdout, stderr := runCLI(t, noEnv, args...)
			assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

// TestLocalAgainstAnEndpointWithoutStream points local at a Tablestore (here otslocal)
// whose source table has no Stream: it fails with an error that says so, before it says the
// tables are ready.
func TestLocalAgainstAnEndpointWithoutStream(t *testing.T) {
	creds := aliyun.Credentials{AccessKeyID: "ak", AccessKeySecret: "sk"}
	srv := startTablestore(t) // source_data without Stream
	env := func(name string) string {
		return map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": creds.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds.AccessKeySecret}[name]
	}
	code, stdout, stderr := runCLI(t, env, "local", "-f", filepath.Join("..", "..", "s.yaml"), "--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance, "--oss-listen", "127.0.0.1:0", "--fc-listen", "127.0.0.1:0")
	assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "otsetl local: Tablestore at "+srv.Endpoint+", instance "+otslocaltest.Instance)
	assert.Contains(t, stderr, `table "source_data" exists without a Stream`)
	assert.NotContains(t, stdout, "ready")
}

// TestSIGKILLOfLocalEndsItsFunctionProcess kills `otsetl local` with SIGKILL, which it cannot
// handle: its function process must not outlive it. (The process's port is not checked: on a
// busy machine another process may take it as soon as it is free.)
func TestSIGKILLOfLocalEndsItsFunctionProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	bin := testkit.BuildOtsetl(t)
	stdout := &testkit.SyncBuffer{}
	cmd := exec.Command(bin, "local", "-f", filepath.Join("..", "..", "s.yaml"), "--listen", testkit.FreePort(t), "--console", "127.0.0.1:0", "--oss-listen", "127.0.0.1:0", "--fc-listen", "127.0.0.1:0")
	cmd.Env = withoutCredentials(os.Environ())
	cmd.Stdout = stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "trigger source_data -> otsetl running") },
		30*time.Second, 10*time.Millisecond, "stdout:\n%s", stdout)
	pid := functionPID(t, stdout.String())

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	require.Eventually(t, func() bool { return !processRunning(pid) }, 10*time.Second, 10*time.Millisecond,
		"function process %d outlived otsetl local", pid)
}

// processRunning reports whether process pid exists and is not a zombie waiting to be reaped.
func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
