package replay

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
)

// paths returns the paths of sources.
func paths(sources []Source) []string {
	var out []string
	for _, s := range sources {
		out = append(out, s.Path)
	}
	return out
}

func TestSourcesExpandFoldersAndSortByName(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(a, "0002-b.cbor"), filepath.Join(a, "0004-d.JSON"), filepath.Join(a, "notes.txt"),
		filepath.Join(b, "0001-a.json"), filepath.Join(b, "0003-c.cbor")} {
		require.NoError(t, os.WriteFile(f, []byte("{}"), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(a, "0000-sub.json"), 0o755), "a folder named like an event file is skipped")
	single := filepath.Join(t.TempDir(), "9999-z.bin")
	require.NoError(t, os.WriteFile(single, []byte("{}"), 0o644))

	sources, err := Sources([]string{a, single, b})
	require.NoError(t, err)
	assert.Equal(t, []string{
		filepath.Join(b, "0001-a.json"), filepath.Join(a, "0002-b.cbor"), filepath.Join(b, "0003-c.cbor"),
		filepath.Join(a, "0004-d.JSON"), single,
	}, paths(sources))

	_, err = Sources([]string{t.TempDir()})
	assert.ErrorContains(t, err, "no .cbor, .json or .log event files")
	_, err = Sources([]string{filepath.Join(a, "missing")})
	assert.Error(t, err)
}

// captureLog writes what the function logs when it captures payloads, between other lines
// and behind the prefix a logging service adds, and returns the payloads.
func captureLog(t *testing.T, path string, prefix string) [][]byte {
	t.Helper()
	payloads := [][]byte{[]byte(`{"Version":"Sync-v1","Records":[]}`), {0xa2, 0x00, 0xff}}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("otsetl serving", "addr", "0.0.0.0:9000")
	for i, p := range payloads {
		logger.Info(handler.CapturedPayloadMessage, "requestId", fmt.Sprint("r", i), "payloadBytes", len(p), "payload", p)
		logger.Info("invocation succeeded")
	}
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(prefix + line)
	}
	require.NoError(t, os.WriteFile(path, []byte(out.String()), 0o644))
	return payloads
}

func TestSourcesReadPayloadsCapturedInALog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "function.log")
	want := captureLog(t, path, "2026-12-04T10:00:00Z 1-abc [INFO] ")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0001-first.json"), []byte("{}"), 0o644))

	sources, err := Sources([]string{dir})
	require.NoError(t, err)
	require.Len(t, sources, 3, "the event file, then the two captured lines")
	assert.Equal(t, Source{Path: filepath.Join(dir, "0001-first.json")}, sources[0])
	for i, src := range sources[1:] {
		assert.Equal(t, 2+2*i, src.Line, "the capture lines are the 2nd and 4th")
		payload, err := src.Payload()
		require.NoError(t, err)
		assert.Equal(t, want[i], payload)
		assert.Equal(t, fmt.Sprintf("function.log:%d", src.Line), src.String())
	}

	cut := filepath.Join(t.TempDir(), "cut.log")
	line := fmt.Sprintf(`{"msg":%q,"payloadBytes":10,"payload":%q}`, handler.CapturedPayloadMessage, base64.StdEncoding.EncodeToString([]byte("12345")))
	require.NoError(t, os.WriteFile(cut, []byte(line+"\n"), 0o644))
	sources, err = Sources([]string{cut})
	require.NoError(t, err)
	_, err = sources[0].Payload()
	assert.ErrorContains(t, err, "cut.log:1: the captured payload has 5 bytes, the line says 10: the line was cut")

	none := filepath.Join(t.TempDir(), "none.log")
	require.NoError(t, os.WriteFile(none, []byte("nothing captured\n"), 0o644))
	_, err = Sources([]string{none})
	assert.ErrorContains(t, err, `none.log: no line holds a captured payload ("payload captured")`)
}

func TestSourcesRefuseWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "events.cbor")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err := Sources([]string{fifo})
	assert.ErrorContains(t, err, "events.cbor: not a regular file")

	link := filepath.Join(dir, "zero.json")
	require.NoError(t, os.Symlink("/dev/zero", link))
	_, err = Sources([]string{link})
	assert.ErrorContains(t, err, "zero.json: not a regular file", "a link to an endless device is refused, not read")
}

func TestPayloadReadsNoMoreThanFCsLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	require.NoError(t, os.WriteFile(path, make([]byte, fcruntime.MaxPayloadBytes+10), 0o644))
	_, err := Source{Path: path}.Payload()
	assert.ErrorContains(t, err, "big.json: larger than 33554432 bytes")
}

func TestNamesAndRequestIDsAreSafe(t *testing.T) {
	odd := Source{Path: filepath.Join("dir", "a\nb\x7f.json")}
	assert.Equal(t, `"a\nb\x7f.json"`, odd.String(), "a name with control characters is quoted")
	assert.Equal(t, "replay-0003-a_b_.json", odd.requestID(2))
	assert.Equal(t, "0001-puts.json", Source{Path: "testdata/scenario/0001-puts.json"}.String())
	long := Source{Path: strings.Repeat("é", 100) + ".log", Line: 7}
	id := long.requestID(0)
	assert.Equal(t, "replay-0001-"+strings.Repeat("_", 64), id)
}
