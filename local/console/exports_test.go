package console_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// TestExportsReadsAreBounded: the exports' listing and objects are heavy reads, run two at a
// time with the rows' reads; and like every /api/ read, another site's is refused.
func TestExportsReadsAreBounded(t *testing.T) {
	s, oss := exportsSite(t)
	putObject(t, oss, "exports/t/dt=2026-01-01/hh=00/0000000000000001-a.jsonl", []byte(`{"pk":{"id":1},"op":"DR"}`+"\n"))
	for _, path := range []string{"/api/exports", "/api/exports/object?key=exports/t/dt%3D2026-01-01/hh%3D00/0000000000000001-a.jsonl"} {
		req, err := http.NewRequest(http.MethodGet, s.web.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}

	held := &heldRequests{target: oss.Endpoint, release: make(chan struct{}), hold: func(r *http.Request) bool { return r.Method == http.MethodGet }}
	proxy := httptest.NewServer(held)
	t.Cleanup(proxy.Close)
	c, err := console.New(console.Config{Client: s.srv.SDK, Instance: otslocaltest.Instance, Logger: slog.New(slog.DiscardHandler),
		Exports: &console.Exports{Client: osslocaltest.Client(proxy.URL), Bucket: osslocaltest.Bucket, Prefix: "exports/"}})
	require.NoError(t, err)
	web := httptest.NewServer(c)
	t.Cleanup(web.Close)
	held.requireTwoAtATime(t, web.URL, "/api/exports", "/api/exports/object?key=exports/t/dt%3D2026-01-01/hh%3D00/0000000000000001-a.jsonl")
}

// TestExportsListTheNewestObjects: a prefix of more objects than the listing keeps while it
// pages (twice the 1,000 it shows) gives the newest by name, and their number in all.
func TestExportsListTheNewestObjects(t *testing.T) {
	s, oss := exportsSite(t)
	const objects = 2345
	keys := make(chan int)
	var puts sync.WaitGroup
	for range 8 {
		puts.Go(func() {
			for i := range keys {
				putObject(t, oss, fmt.Sprintf("exports/t/dt=2026-01-01/hh=00/%016d-a.jsonl", i), []byte("{}\n"))
			}
		})
	}
	for i := range objects {
		keys <- i
	}
	close(keys)
	puts.Wait()
	var list struct {
		Total   int
		Objects []struct{ Key string }
	}
	s.getJSON(t, "/api/exports", http.StatusOK, &list)
	assert.Equal(t, objects, list.Total)
	require.Len(t, list.Objects, 1000)
	assert.Equal(t, fmt.Sprintf("exports/t/dt=2026-01-01/hh=00/%016d-a.jsonl", objects-1), list.Objects[0].Key, "the newest first")
	assert.Equal(t, fmt.Sprintf("exports/t/dt=2026-01-01/hh=00/%016d-a.jsonl", objects-1000), list.Objects[999].Key, "down to the 1000th newest")
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
