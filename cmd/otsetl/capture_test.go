package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
)

var captureCreds = aliyun.Credentials{AccessKeyID: "capture-ak", AccessKeySecret: "capture-sk"}

// captureEnv is an environment holding captureCreds.
func captureEnv(name string) string {
	return map[string]string{envAccessKeyID: captureCreds.AccessKeyID, envAccessKeySecret: captureCreds.AccessKeySecret}[name]
}

// streamedSource starts otslocal with 3 shards per Stream and source_data (PK id INTEGER,
// Stream enabled), and changes rows through the SDK: puts, updates that make rows pass or
// fail `level > 1`, and deletes.
func streamedSource(t *testing.T) *otslocaltest.Server {
	t.Helper()
	srv := otslocaltest.NewServer(t, otslocal.Options{StreamShards: 3},
		otslocaltest.Table{Name: "source_data", Stream: true}, otslocaltest.Table{Name: "result"})
	api := srv.SDK
	key := func(id int64) *sdk.PrimaryKey {
		pk := &sdk.PrimaryKey{}
		pk.AddPrimaryKeyColumn("id", id)
		return pk
	}
	for id := int64(1); id <= 25; id++ {
		put := &sdk.PutRowChange{TableName: "source_data", PrimaryKey: key(id)}
		put.AddColumn("level", id%4)
		put.AddColumn("message", fmt.Sprintf("row %d", id))
		put.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		_, err := api.PutRow(&sdk.PutRowRequest{PutRowChange: put})
		require.NoError(t, err)
	}
	for id := int64(1); id <= 25; id += 3 {
		update := &sdk.UpdateRowChange{TableName: "source_data", PrimaryKey: key(id)}
		update.PutColumn("level", (id+1)%4)
		update.DeleteColumn("message")
		update.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		_, err := api.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: update})
		require.NoError(t, err)
	}
	for id := int64(2); id <= 25; id += 5 {
		del := &sdk.DeleteRowChange{TableName: "source_data", PrimaryKey: key(id)}
		del.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		_, err := api.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: del})
		require.NoError(t, err)
	}
	return srv
}

// passing returns the rows of table that pass `level > 1`.
func passing(t *testing.T, srv *otslocaltest.Server, table string) []tableio.Row {
	t.Helper()
	var out []tableio.Row
	for _, r := range srv.Scan(t, table) {
		for _, c := range r.Columns {
			if level, ok := c.Value.Int(); ok && c.Name == "level" && level > 1 {
				out = append(out, r)
			}
		}
	}
	return out
}

// TestCaptureThenReplay captures a Stream of several shards into event files, replays them
// into a fresh instance, and expects the same source table and the result table the rule
// makes of it.
func TestCaptureThenReplay(t *testing.T) {
	srv := streamedSource(t)
	out := filepath.Join(t.TempDir(), "events")
	code, stdout, stderr := runCLI(t, captureEnv, "capture", "--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance,
		"--table", "source_data", "--out", out, "--batch-size", "4", "--since", "2000-01-01T00:00:00Z")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("captured %d records of table \"source_data\" from 3 shards in ", 25+9+5))

	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(entries), 10, "39 records over 3 shards in batches of at most 4")
	name := regexp.MustCompile(`^(\d{6})-[0-9A-Za-z_-]{1,8}\.cbor$`)
	for i, e := range entries {
		m := name.FindStringSubmatch(e.Name())
		require.NotNil(t, m, e.Name())
		assert.Equal(t, fmt.Sprintf("%06d", i+1), m[1])
		assert.Contains(t, stdout, e.Name()+": ")
		payload, err := os.ReadFile(filepath.Join(out, e.Name()))
		require.NoError(t, err)
		ev, err := events.Decode(payload)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(ev.Records), 4)
	}

	fresh := startTablestore(t)
	code, stdout, stderr = runCLI(t, captureEnv, "replay", "--endpoint", fresh.Endpoint, "--instance", otslocaltest.Instance, "--apply-to-source", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("replayed %d of %d events", len(entries), len(entries)))

	assert.Equal(t, srv.Scan(t, "source_data"), fresh.Scan(t, "source_data"), "the capture holds every change")
	want := passing(t, srv, "source_data")
	require.NotEmpty(t, want)
	assert.Equal(t, want, fresh.Scan(t, "result"))
}

func TestCaptureErrors(t *testing.T) {
	srv := streamedSource(t)
	full := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(full, "000001-x.cbor"), []byte{0xa0}, 0o644))
	required := []string{"--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance, "--table", "source_data"}
	usage := []struct {
		name string
		env  func(string) string
		args []string
		want string
	}{
		{"no endpoint", captureEnv, []string{"capture", "--instance", otslocaltest.Instance, "--table", "t", "--out", "d"}, "--endpoint is required"},
		{"no out", captureEnv, append([]string{"capture"}, required...), "--out is required"},
		{"bad endpoint", captureEnv, []string{"capture", "--endpoint", "127.0.0.1:1", "--instance", "i", "--table", "t", "--out", "d"}, "want an http:// or https:// URL"},
		{"bad since", captureEnv, append(append([]string{"capture"}, required...), "--out", t.TempDir(), "--since", "yesterday"), `--since "yesterday": want an RFC 3339 time`},
		{"bad batch size", captureEnv, append(append([]string{"capture"}, required...), "--out", t.TempDir(), "--batch-size", "0"), "--batch-size 0: want 1 to 1000"},
		{"batch size GetStreamRecord refuses", captureEnv, append(append([]string{"capture"}, required...), "--out", t.TempDir(), "--batch-size", "1001"), "--batch-size 1001: want 1 to 1000 (GetStreamRecord's limit)"},
		{"no credentials", noEnv, append(append([]string{"capture"}, required...), "--out", t.TempDir()), "ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"out holds events", captureEnv, append(append([]string{"capture"}, required...), "--out", full), "holds event files already (000001-x.cbor, ...)"},
		{"arguments", captureEnv, append(append([]string{"capture"}, required...), "--out", t.TempDir(), "extra"), "unknown command"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.env, tc.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.want)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}

	out := filepath.Join(t.TempDir(), "capture")
	code, _, stderr := runCLI(t, captureEnv, "capture", "--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance, "--table", "result", "--out", out)
	assert.Equal(t, 1, code)
	assert.Equal(t, "otsetl: streams: table \"result\" has no Stream enabled\n", stderr)
	assert.NoDirExists(t, out, "a failed capture leaves no output folder behind")
}
