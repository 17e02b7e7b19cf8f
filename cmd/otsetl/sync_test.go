package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
)

// syncEnv is the environment of the sync tests: otslocaltest's access key, the defaults
// otherwise, and extra.
func syncEnv(extra map[string]string) func(string) string {
	env := map[string]string{envAccessKeyID: otslocaltest.Credentials.AccessKeyID, envAccessKeySecret: otslocaltest.Credentials.AccessKeySecret}
	for k, v := range extra {
		env[k] = v
	}
	return func(name string) string { return env[name] }
}

// syncArgs are the arguments of a sync against srv, then more.
func syncArgs(srv *otslocaltest.Server, more ...string) []string {
	return append([]string{"sync", "--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance}, more...)
}

// putLevelRows writes rows id 0..n-1 of table with level id%4 and a message of about
// messageBytes, 200 a BatchWriteRow.
func putLevelRows(t *testing.T, endpoint, table string, n, messageBytes int) {
	t.Helper()
	writer, err := tablestore.NewClient(tablestore.Config{Endpoint: endpoint, Instance: otslocaltest.Instance}, otslocaltest.Credentials)
	require.NoError(t, err)
	changes := make([]ots.RowChange, n)
	for i := range n {
		changes[i] = ots.RowChange{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i))}},
			Columns: []ots.Cell{
				{Name: "level", Value: ots.Integer(int64(i % 4))},
				{Name: "message", Value: ots.String(fmt.Sprintf("message %d %s", i, strings.Repeat("x", messageBytes)))},
			}}
	}
	_, err = writer.Write(t.Context(), table, changes)
	require.NoError(t, err)
}

// requireResultIsTheView checks that result holds exactly the source rows with level > 1,
// with all their columns.
func requireResultIsTheView(t *testing.T, srv *otslocaltest.Server) {
	t.Helper()
	var want []tableio.Row
	for _, row := range srv.Scan(t, "source_data") {
		if level, _ := row.Columns[0].Value.Int(); level > 1 {
			want = append(want, row)
		}
	}
	require.Equal(t, want, srv.Scan(t, "result"))
}

func TestSyncBackfillsDryRunsAndReportsAsJSON(t *testing.T) {
	srv := startTablestore(t)
	putLevelRows(t, srv.Endpoint, "source_data", 1000, 10)

	code, stdout, stderr := runCLI(t, syncEnv(nil), syncArgs(srv, "--dry-run", "--show", "2")...)
	assert.Equal(t, 1, code, "a dry run that finds differences exits 1")
	lines := strings.Split(stdout, "\n")
	assert.Equal(t, `otsetl sync: source_data -> result on instance otslocaltest at `+srv.Endpoint+`: filter "level > 1", columns all, dead letters unset; dry run, nothing will be written`, lines[0], "the rule in force comes first")
	assert.Contains(t, lines[1], "otsetl sync: 1,000 source rows, 0 result rows: 500 missing, 0 extra, 0 differing; dry run, nothing written; 0 invalid; 1 splits;")
	assert.Equal(t, "missing (2 of 500):", lines[2])
	assert.Regexp(t, `^  id=\d+: level: want INTEGER [23]; message: want STRING "message \d+ x+"$`, lines[3])
	assert.Contains(t, stderr, "dry run: 500 key(s) of result differ from the view; run without --dry-run to fix them")
	assert.Empty(t, srv.Scan(t, "result"))

	code, stdout, stderr = runCLI(t, syncEnv(nil), syncArgs(srv)...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "otsetl sync: 1,000 source rows, 0 result rows: 500 missing, 0 extra, 0 differing; 500 written, 0 deleted; 500 rechecked, 0 changed during sync;")
	assert.Regexp(t, `\notsetl sync: result equals the view of source_data, as verified between \d{4}-\d\d-\d\d \d\d:\d\d:\d\d and \d\d:\d\d:\d\d UTC\n$`, stdout)
	requireResultIsTheView(t, srv)

	code, stdout, stderr = runCLI(t, syncEnv(nil), syncArgs(srv, "--json", "--dry-run")...)
	require.Equal(t, 0, code, "a dry run that finds nothing exits 0: %s", stderr)
	var report map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &report), "standard output is one JSON object: %q", stdout)
	for _, field := range []string{"sourceRows", "resultRows", "missing", "extra", "differing", "written", "deleted", "rechecked", "changedDuringSync", "durationMs"} {
		assert.Contains(t, report, field)
	}
	assert.Equal(t, 1000.0, report["sourceRows"])
	assert.Equal(t, 500.0, report["resultRows"])
	assert.Equal(t, 0.0, report["missing"])
	assert.Contains(t, stderr, "otsetl sync: source_data -> result", "with --json the rule goes to standard error")
}

func TestSyncTakesTheRuleFromSYAML(t *testing.T) {
	srv := startTablestore(t)
	srv.CreateTable(t, otslocaltest.Table{Name: "cleaned"})
	putLevelRows(t, srv.Endpoint, "source_data", 20, 1)
	syaml, err := os.ReadFile("../../s.yaml")
	require.NoError(t, err)
	deployed := strings.Replace(string(syaml), "RESULT_TABLE: result\n        FILTER: level > 1",
		"RESULT_TABLE: cleaned\n        FILTER: level == 3\n        COLUMNS: level", 1)
	require.NotEqual(t, string(syaml), deployed)
	file := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(file, []byte(deployed), 0o644))

	// The environment's rule is not the deployed one: -f wins.
	code, stdout, stderr := runCLI(t, syncEnv(map[string]string{handler.EnvFilter: "level > 0"}), syncArgs(srv, "-f", file)...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `otsetl sync: source_data -> cleaned on instance otslocaltest at `+srv.Endpoint+`: filter "level == 3", columns level, dead letters unset`)
	rows := srv.Scan(t, "cleaned")
	require.Len(t, rows, 5)
	for _, row := range rows {
		assert.Equal(t, []ots.Cell{{Name: "level", Value: ots.Integer(3)}}, row.Columns)
	}
}

func TestSyncUsageAndConfigurationErrors(t *testing.T) {
	srv := startTablestore(t)
	srv.CreateTable(t, otslocaltest.Table{Name: "by_name", PrimaryKey: []ots.PrimaryKeySchema{{Name: "name", Type: ots.KindString}}})
	strict := otslocaltest.NewServer(t, otslocal.Options{AccessKeyID: "right-id", AccessKeySecret: "right-secret"})
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no endpoint", nil, []string{"sync", "--instance", "i"}, "--endpoint and --instance are required"},
		{"bad endpoint", nil, []string{"sync", "--endpoint", "ftp://x", "--instance", "i"}, `--endpoint: endpoint "ftp://x"`},
		{"no credentials", map[string]string{envAccessKeyID: ""}, syncArgs(srv), "sync needs credentials in ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"result table is the source table", map[string]string{handler.EnvResultTable: "source_data"}, syncArgs(srv), "would trigger the function again"},
		{"missing table", map[string]string{handler.EnvResultTable: "nope"}, syncArgs(srv), `table "nope" does not exist in instance "otslocaltest"`},
		{"different primary keys", map[string]string{handler.EnvResultTable: "by_name"}, syncArgs(srv),
			`the result table "by_name" has the primary key (name STRING), the source table "source_data" (id INTEGER)`},
		{"refused credentials", nil, []string{"sync", "--endpoint", strict.Endpoint, "--instance", otslocaltest.Instance}, "refused the credentials: OTSAuthFailed"},
		{"bad filter", map[string]string{handler.EnvFilter: "level >"}, syncArgs(srv), "FILTER/COLUMNS: filter \"level >\": unexpected token EOF (1:7)\n | level >\n | ......^\n"},
		{"a mapping that writes the primary key", map[string]string{handler.EnvColumns: `{"id": level}`}, syncArgs(srv),
			`COLUMNS: "id" is the name of a primary key column (id INTEGER): the result row cannot hold it as an attribute column`},
		{"checkpoint with a dry run", nil, syncArgs(srv, "--dry-run", "--checkpoint", "x"), "a dry run writes nothing"},
		{"no such s.yaml", nil, syncArgs(srv, "-f", "no-such-s.yaml"), "no-such-s.yaml"},
		{"zero parallel", nil, syncArgs(srv, "--parallel", "0"), "--parallel 0 --show 0: want at least one split at a time"},
		{"zero checkpoint age", nil, syncArgs(srv, "--checkpoint", "x", "--max-checkpoint-age", "0s"), "--max-checkpoint-age 0s: want a positive duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, syncEnv(tc.env), tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tc.want)
			assert.Equal(t, max(strings.Count(tc.want, "\n"), 1), strings.Count(stderr, "\n"), "one line, or an expression's three: %q", stderr)
			assert.Empty(t, srv.Scan(t, "result"), "nothing was written")
		})
	}
}

// TestSyncKilledAndResumed runs the real binary's sync with a checkpoint on 40,000 rows
// (about 5 s of work) behind 25 ms of latency and kills it with SIGKILL three times, each
// time at a random moment up to 200 ms after it saved progress, then runs it again with the
// same checkpoint until one run is through: that run resumes the splits the killed ones
// left, the result equals the view, and every source row is counted once over the runs.
func TestSyncKilledAndResumed(t *testing.T) {
	bin, srv := killableSync(t)
	killAndResume(t, bin, srv, "--parallel", "2")
}

// killableSync builds the binary and starts an otslocal with 40,000 source rows behind 25 ms
// of latency: about 5 s of sync, enough for three runs killed up to 200 ms after their first
// save of progress to leave work for a fourth (behind 10 ms, 2 s, the third run could end
// before its kill).
func killableSync(t *testing.T) (string, *otslocaltest.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testkit.BuildOtsetl(t)
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "source_data"}, otslocaltest.Table{Name: "result"})
	putLevelRows(t, srv.Endpoint, "source_data", 40000, 100)
	require.NoError(t, srv.SetFaults(otslocal.Faults{Latency: 25 * time.Millisecond}))
	return bin, srv
}

// TestSyncOnFCKilledAndResumed is TestSyncKilledAndResumed with the sync on FC: the real
// binary's `sync --on-fc`, tasks of 100 ms through fclocal's InvokeFunction API over
// instances of the real binary's `serve`, killed and resumed with its checkpoint.
func TestSyncOnFCKilledAndResumed(t *testing.T) {
	bin, srv := killableSync(t)
	env := []string{handler.EnvInstance + "=" + otslocaltest.Instance, handler.EnvEndpoint + "=" + srv.Endpoint}
	pool, err := fclocal.NewPool(fclocal.PoolConfig{Start: fclocal.ProcessInstances(bin, []string{"serve"}, append(withoutCredentials(os.Environ()), env...), io.Discard, io.Discard)})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	api, err := fclocal.NewFunctionAPI(fclocal.APIConfig{FunctionName: "otsetl", Pool: pool, Credentials: otslocaltest.Credentials})
	require.NoError(t, err)
	fc := httptest.NewServer(api)
	t.Cleanup(fc.Close)
	killAndResume(t, bin, srv, "--parallel", "4", "--on-fc", "--function", "otsetl", "--fc-endpoint", fc.URL, "--task-budget", "100ms")
	assert.LessOrEqual(t, len(pool.Status().Instances), fclocal.DefaultMaxInstances)
}

// killAndResume runs the binary's sync of srv with a checkpoint and args, kills it with
// SIGKILL three times, each time at a random moment up to 200 ms after it saved progress,
// then runs it again with the same checkpoint until one run is through, and checks that run:
// it resumed the splits the killed ones left, the result equals the view, and every source
// row is counted once over the runs.
func killAndResume(t *testing.T, bin string, srv *otslocaltest.Server, args ...string) {
	checkpoint := filepath.Join(t.TempDir(), "sync.checkpoint")
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("kill delays drawn with seed %d", seed)

	start := func() (*exec.Cmd, *bytes.Buffer) {
		var out bytes.Buffer
		cmd := exec.Command(bin, append([]string{"sync", "--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance, "--checkpoint", checkpoint, "--json"}, args...)...)
		cmd.Env = append(os.Environ(), envAccessKeyID+"=ak", envAccessKeySecret+"=sk")
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		return cmd, &out
	}
	// progressed reports whether the checkpoint records progress other than before.
	progressed := func(before []byte) bool {
		now, err := os.ReadFile(checkpoint)
		return err == nil && !bytes.Equal(now, before) && (bytes.Contains(now, []byte(`"after"`)) || bytes.Contains(now, []byte(`"done": true`)))
	}
	kills := 0
	for kills < 3 {
		before, _ := os.ReadFile(checkpoint)
		cmd, out := start()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		saved := time.NewTicker(5 * time.Millisecond)
		for !progressed(before) {
			select {
			case err := <-exited:
				t.Fatalf("the run ended (%v) before it saved progress: %s", err, out)
			case <-saved.C:
			}
		}
		saved.Stop()
		delay := time.Duration(rng.IntN(200)) * time.Millisecond
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) within %v of saving progress; the kills need a longer sync: %s", err, delay, out)
		case <-time.After(delay):
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := <-exited
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL, "killed: %v", err)
		kills++
		t.Logf("kill %d, %v after a save", kills, delay)
	}

	cmd, out := start()
	require.NoError(t, cmd.Wait(), "%s", out)
	var report struct {
		SourceRows    int64 `json:"sourceRows"`
		Missing       int64 `json:"missing"`
		ResultRows    int64 `json:"resultRows"`
		Splits        int   `json:"splits"`
		ResumedSplits int   `json:"resumedSplits"`
	}
	jsonLine := out.String()[strings.Index(out.String(), "{"):]
	require.NoError(t, json.Unmarshal([]byte(jsonLine), &report), "%s", out)
	assert.Positive(t, report.ResumedSplits, "the last run resumed the killed runs' splits")
	assert.Equal(t, int64(40000), report.SourceRows, "every source row counted once over the runs")
	requireResultIsTheView(t, srv)
	_, err := os.Stat(checkpoint)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the finished run removed the checkpoint")
	t.Logf("the resumed run: %d splits, %d resumed: %s", report.Splits, report.ResumedSplits, jsonLine)
}

// TestSyncRefusesAStaleCheckpoint: a sync stopped with --checkpoint, the result table
// damaged, and the same command run later: it skipped the splits marked done and exited 0
// with "result equals the view" while keys were missing. Now a checkpoint begun more than
// --max-checkpoint-age ago is refused (exit 2) unless --resume-stale-checkpoint is given, and
// the report says since when the splits were verified.
func TestSyncRefusesAStaleCheckpoint(t *testing.T) {
	srv := startTablestore(t)
	putLevelRows(t, srv.Endpoint, "source_data", 20000, 100)
	require.NoError(t, srv.SetFaults(otslocal.Faults{Latency: 5 * time.Millisecond}))
	checkpoint := filepath.Join(t.TempDir(), "sync.checkpoint")
	args := syncArgs(srv, "--checkpoint", checkpoint, "--parallel", "1")

	// The first run, stopped once it has saved a split done.
	started := time.Now()
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan int, 1)
	go func() { stopped <- run(ctx, args, io.Discard, io.Discard, lookupOf(syncEnv(nil))) }()
	require.Eventually(t, func() bool {
		saved, err := os.ReadFile(checkpoint)
		return err == nil && bytes.Contains(saved, []byte(`"done": true`))
	}, time.Minute, 5*time.Millisecond)
	cancel()
	require.Equal(t, 1, <-stopped)
	require.NoError(t, srv.SetFaults(otslocal.Faults{}))
	damaged := deleteResultRows(t, srv, 100) // the first split's, done by the stopped run
	time.Sleep(1100 * time.Millisecond)
	damagedRows := len(srv.Scan(t, "result"))

	code, stdout, stderr := runCLI(t, syncEnv(nil), append(args, "--max-checkpoint-age", "1s")...)
	assert.Equal(t, 2, code)
	assert.Regexp(t, `^otsetl: checkpoint `+regexp.QuoteMeta(checkpoint)+` was begun \d+s ago \(`+started.UTC().Format("2006-01-02T15:04")+`:\d\dZ\), more than the 1s a checkpoint is resumed within: the splits it marks done were verified then, and the result table may have changed since; remove it to sync afresh, or resume it anyway \(--resume-stale-checkpoint\)\n$`, stderr)
	assert.NotContains(t, stdout, "equals the view")
	assert.Len(t, srv.Scan(t, "result"), damagedRows, "nothing written")

	code, stdout, stderr = runCLI(t, syncEnv(nil), append(args, "--max-checkpoint-age", "1s", "--resume-stale-checkpoint")...)
	require.Equal(t, 0, code, stderr)
	verified := regexp.MustCompile(`otsetl sync: result equals the view of source_data, as verified between (\S+ \S+) and \S+ UTC\n`).FindStringSubmatch(stdout)
	require.NotNil(t, verified, stdout)
	from, err := time.Parse(time.DateTime, verified[1])
	require.NoError(t, err)
	assert.False(t, from.After(damaged), "verified from %s, the stopped run's start, before the damage at %s", from, damaged)

	code, stdout, _ = runCLI(t, syncEnv(nil), syncArgs(srv, "--dry-run")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, " missing,", "a new sync finds the damage the resumed one did not look at")
}

// deleteResultRows deletes the first n rows of the result table and returns when.
func deleteResultRows(t *testing.T, srv *otslocaltest.Server, n int) time.Time {
	t.Helper()
	rows := srv.Scan(t, "result")
	require.GreaterOrEqual(t, len(rows), n)
	changes := make([]ots.RowChange, n)
	for i, row := range rows[:n] {
		changes[i] = ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: row.PrimaryKey}
	}
	writer, err := tablestore.NewClient(tablestore.Config{Endpoint: srv.Endpoint, Instance: otslocaltest.Instance}, otslocaltest.Credentials)
	require.NoError(t, err)
	_, err = writer.Write(t.Context(), "result", changes)
	require.NoError(t, err)
	return time.Now()
}

// TestSyncCheckpointInAReadOnlyFolder: a checkpoint in a folder the user cannot write was
// found only at the first save, with rows already written, and exited 1. It is a
// configuration error now (exit 2), before anything is written. The binary runs as an
// unprivileged user when the test runs as root, to whom every folder is writable.
func TestSyncCheckpointInAReadOnlyFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := startTablestore(t)
	putLevelRows(t, srv.Endpoint, "source_data", 100, 10)
	bin := testkit.BuildOtsetl(t)
	base := filepath.Dir(bin) // a folder of the test's own, which the user below must reach
	readOnly := filepath.Join(base, "read-only")
	require.NoError(t, os.Mkdir(readOnly, 0o555))
	require.NoError(t, os.Chmod(base, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o755))

	checkpoint := filepath.Join(readOnly, "sync.checkpoint")
	cmd := exec.Command(bin, syncArgs(srv, "--checkpoint", checkpoint)...)
	cmd.Env = append(os.Environ(), envAccessKeyID+"=ak", envAccessKeySecret+"=sk")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr: %s", &stderr)
	assert.Equal(t, 2, exit.ExitCode())
	assert.Equal(t, "otsetl: checkpoint "+checkpoint+" cannot be written in "+readOnly+": permission denied: give a checkpoint file in a folder this user can write\n", stderr.String())
	assert.Empty(t, srv.Scan(t, "result"), "nothing written")
}
