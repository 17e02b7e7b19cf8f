package console_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	aliyunoss "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/console"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// exportsSite is a console of a bare otslocal with exports under "exports/" of an osslocal.
func exportsSite(t *testing.T) (*site, *osslocaltest.Server) {
	t.Helper()
	oss := osslocaltest.NewServer(t, osslocal.Options{})
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	c, err := console.New(console.Config{Client: srv.SDK, Instance: otslocaltest.Instance, Logger: slog.New(slog.DiscardHandler),
		Exports: &console.Exports{Client: oss.SDK, Bucket: osslocaltest.Bucket, Prefix: "exports/", Dir: oss.Dir + "/" + osslocaltest.Bucket}})
	require.NoError(t, err)
	web := httptest.NewServer(c)
	t.Cleanup(web.Close)
	return &site{srv: srv, web: web}, oss
}

// putObject writes an object with the SDK.
func putObject(t *testing.T, oss *osslocaltest.Server, key string, body []byte) {
	t.Helper()
	_, err := oss.SDK.PutObject(t.Context(), &aliyunoss.PutObjectRequest{Bucket: aliyunoss.Ptr(osslocaltest.Bucket), Key: aliyunoss.Ptr(key), Body: bytes.NewReader(body)})
	require.NoError(t, err)
}

// TestExportsListsTheObjectsAndTheirFirstLines: the exports page lists the objects under the
// prefix, newest first, and an object's first lines (gunzipped), bounded in lines and
// bytes; a key outside the prefix, or missing, is refused.
func TestExportsListsTheObjectsAndTheirFirstLines(t *testing.T) {
	s, oss := exportsSite(t)
	page := s.get(t, "/exports", http.StatusOK)
	assert.Contains(t, page, `<a href="/exports" aria-current="page">Exports</a>`)
	assert.Contains(t, page, "oss://"+osslocaltest.Bucket+"/exports/")

	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf(`{"pk":{"id":%d},"op":"DR"}`, i))
	}
	plain := []byte(strings.Join(lines, "\n") + "\n")
	var zipped bytes.Buffer
	gz := gzip.NewWriter(&zipped)
	_, _ = gz.Write([]byte("pk.id,op\n1,DR\n<b>html</b>\n"))
	require.NoError(t, gz.Close())
	putObject(t, oss, "exports/t/dt=2026-01-01/hh=00/0000000000000001-a.jsonl", plain)
	putObject(t, oss, "exports/t/dt=2026-01-01/hh=01/0000000000000002-b.csv.gz", zipped.Bytes())
	putObject(t, oss, "elsewhere/secret", []byte("not exported"))

	var list struct {
		Bucket, Prefix, Dir string
		Total               int
		Objects             []struct {
			Key  string
			Size int64
		}
	}
	s.getJSON(t, "/api/exports", http.StatusOK, &list)
	assert.Equal(t, 2, list.Total)
	require.Len(t, list.Objects, 2)
	assert.Equal(t, "exports/t/dt=2026-01-01/hh=01/0000000000000002-b.csv.gz", list.Objects[0].Key, "newest first")
	assert.Equal(t, int64(len(plain)), list.Objects[1].Size)

	var head struct {
		Lines    []string
		Complete bool
	}
	s.getJSON(t, "/api/exports/object?key=exports/t/dt%3D2026-01-01/hh%3D00/0000000000000001-a.jsonl", http.StatusOK, &head)
	assert.Equal(t, lines[:20], head.Lines)
	assert.False(t, head.Complete)
	s.getJSON(t, "/api/exports/object?key=exports/t/dt%3D2026-01-01/hh%3D01/0000000000000002-b.csv.gz", http.StatusOK, &head)
	assert.Equal(t, []string{"pk.id,op", "1,DR", "<b>html</b>"}, head.Lines)
	assert.True(t, head.Complete)

	putObject(t, oss, "exports/long.jsonl", bytes.Repeat([]byte("x"), 200<<10))
	s.getJSON(t, "/api/exports/object?key=exports/long.jsonl", http.StatusOK, &head)
	require.Len(t, head.Lines, 1)
	assert.Len(t, head.Lines[0], 64<<10, "a line is cut at the byte bound")
	assert.False(t, head.Complete)

	assert.Contains(t, s.get(t, "/api/exports/object?key=elsewhere/secret", http.StatusBadRequest), "is not an object under the export's prefix")
	assert.Contains(t, s.get(t, "/api/exports/object?key=exports/absent", http.StatusNotFound), "NoSuchKey")
}

// TestNoExportsNoPage: a console of a function that exports nothing has no Exports link,
// and its page and endpoints say why.
func TestNoExportsNoPage(t *testing.T) {
	s := newSite(t, nil)
	assert.NotContains(t, s.get(t, "/", http.StatusOK), `href="/exports"`)
	assert.Contains(t, s.get(t, "/exports", http.StatusNotFound), "The function exports nothing")
	assert.Contains(t, s.get(t, "/api/exports", http.StatusNotFound), "The function exports nothing")
	assert.Contains(t, s.get(t, "/api/exports/object?key=x", http.StatusNotFound), "The function exports nothing")
}
