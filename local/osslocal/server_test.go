package osslocal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
)

// put writes key with the SDK.
func put(t *testing.T, client *oss.Client, key, body string) error {
	t.Helper()
	_, err := client.PutObject(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr(osslocaltest.Bucket), Key: oss.Ptr(key), Body: strings.NewReader(body)})
	return err
}

// oneAttempt is a client of srv that sends each request once: every failure reaches the
// test.
func oneAttempt(srv *osslocaltest.Server, timeout time.Duration) *oss.Client {
	cfg := oss.NewConfig().WithRegion(osslocaltest.Region).WithEndpoint(srv.Endpoint).WithRetryMaxAttempts(1).
		WithCredentialsProvider(credentialsOf("k", "s")).WithReadWriteTimeout(timeout)
	return oss.NewClient(cfg)
}

// TestTheSDKReadsAndWritesPlainFiles: the official OSS SDK writes, lists, reads and
// deletes objects, also in parts, and each object is the file Dir/<bucket>/<key>.
func TestTheSDKReadsAndWritesPlainFiles(t *testing.T) {
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	require.NoError(t, put(t, srv.SDK, "exports/t/dt=2026-01-01/hh=00/a.jsonl", "one\n"))
	require.NoError(t, put(t, srv.SDK, "exports/t/dt=2026-01-01/hh=01/b.jsonl", "two\n"))
	require.NoError(t, put(t, srv.SDK, "other/c", "three"))

	file, err := os.ReadFile(filepath.Join(srv.Dir, osslocaltest.Bucket, "exports/t/dt=2026-01-01/hh=00/a.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, "one\n", string(file), "the object is a plain file")
	listed := srv.List(t, osslocaltest.Bucket, "exports/")
	require.Len(t, listed, 2)
	assert.Equal(t, "exports/t/dt=2026-01-01/hh=00/a.jsonl", listed[0].Key)
	assert.Equal(t, int64(4), listed[0].Size)
	assert.WithinDuration(t, time.Now(), listed[0].LastModified, time.Minute)
	assert.Equal(t, "two\n", string(srv.Get(t, osslocaltest.Bucket, listed[1].Key)))

	// A multipart upload of the SDK's own uploader.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	_, err = srv.SDK.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 512 << 10 }).
		UploadFrom(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr(osslocaltest.Bucket), Key: oss.Ptr("big/object")}, bytes.NewReader(big))
	require.NoError(t, err)
	assert.Equal(t, big, srv.Get(t, osslocaltest.Bucket, "big/object"))

	_, err = srv.SDK.DeleteObject(t.Context(), &oss.DeleteObjectRequest{Bucket: oss.Ptr(osslocaltest.Bucket), Key: oss.Ptr("other/c")})
	require.NoError(t, err)
	assert.Empty(t, srv.List(t, osslocaltest.Bucket, "other/"))
	_, err = os.Stat(filepath.Join(srv.Dir, osslocaltest.Bucket, "other", "c"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	var serviceErr *oss.ServiceError
	err = put(t, srv.SDK, "k", "v")
	require.NoError(t, err)
	_, err = srv.SDK.PutObject(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr("no-such-bucket"), Key: oss.Ptr("k"), Body: strings.NewReader("v")})
	require.ErrorAs(t, err, &serviceErr)
	assert.Equal(t, "NoSuchBucket", serviceErr.Code, "a bucket must exist, as on OSS")
	assert.NotEmpty(t, serviceErr.RequestID, "every answer carries an x-oss-request-id")
}

// TestObjectsOutliveTheServer: a new server on the same folder serves the objects of the
// one before.
func TestObjectsOutliveTheServer(t *testing.T) {
	dir := t.TempDir()
	first := osslocaltest.NewServer(t, osslocal.Options{Dir: dir})
	require.NoError(t, put(t, first.SDK, "a/b", "kept"))
	first.Close()
	second := osslocaltest.NewServer(t, osslocal.Options{Dir: dir})
	assert.Equal(t, "kept", string(second.Get(t, osslocaltest.Bucket, "a/b")))
}

// TestAPutCutOffWritesNothing: a PutObject whose body stops halfway leaves neither an object
// nor a truncated file, as on OSS; the object that was there stays.
func TestAPutCutOffWritesNothing(t *testing.T) {
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	require.NoError(t, put(t, srv.SDK, "k", "before"))
	conn, err := net.Dial("tcp", srv.Addr)
	require.NoError(t, err)
	fmt.Fprintf(conn, "PUT /%s/k HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\nhalf of the body", osslocaltest.Bucket, srv.Addr)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, conn.Close())
	require.Eventually(t, func() bool { return srv.Requests() >= 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // the server reads the end of the connection
	assert.Equal(t, "before", string(srv.Get(t, osslocaltest.Bucket, "k")))
}

// TestFaults: a 500 is not applied, a timed-out request is not applied and ends when the
// client gives up, a lost answer is applied; faults meet only the operations named, and the
// counts say what was injected.
func TestFaults(t *testing.T) {
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	client := oneAttempt(srv, 300*time.Millisecond)

	require.NoError(t, srv.SetFaults(osslocal.Faults{ServerError: 1}))
	var serviceErr *oss.ServiceError
	require.ErrorAs(t, put(t, client, "500", "x"), &serviceErr)
	assert.Equal(t, http.StatusInternalServerError, serviceErr.StatusCode)
	assert.Equal(t, "InternalError", serviceErr.Code)

	require.NoError(t, srv.SetFaults(osslocal.Faults{Timeout: 1}))
	start := time.Now()
	err := put(t, client, "timeout", "x")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "the request ends when the client gives up")
	var netErr net.Error
	assert.True(t, errors.As(err, &netErr) && netErr.Timeout(), "the client timed out: %v", err)

	require.NoError(t, srv.SetFaults(osslocal.Faults{LostAnswer: 1}))
	err = put(t, client, "lost", "applied")
	require.Error(t, err)
	assert.False(t, errors.As(err, &serviceErr), "the connection closed without an answer: %v", err)

	require.NoError(t, srv.SetFaults(osslocal.Faults{ServerError: 1, Operations: []string{osslocal.OpUploadPart}}))
	require.NoError(t, put(t, client, "not-a-part", "x"), "a PutObject meets no fault meant for UploadPart")

	require.NoError(t, srv.SetFaults(osslocal.Faults{}))
	names := map[string]bool{}
	for _, o := range srv.List(t, osslocaltest.Bucket, "") {
		names[o.Key] = true
	}
	assert.Equal(t, map[string]bool{"lost": true, "not-a-part": true}, names, "only the lost answer and the unfaulted put were applied")
	assert.Equal(t, osslocal.FaultCounts{ServerErrors: 1, Timeouts: 1, LostAnswers: 1}, srv.Faults())

	for _, bad := range []osslocal.Faults{{ServerError: -0.1}, {ServerError: 0.6, LostAnswer: 0.6}, {Latency: -1}, {Operations: []string{"AppendObject"}}} {
		assert.Error(t, srv.SetFaults(bad), "%+v", bad)
	}
}

// TestServesThisMachineOnly: a request from a web page (an Origin header, a preflight) or
// for a Host that is not loopback (DNS rebinding) is refused, and so is an object name a
// file system cannot hold.
func TestServesThisMachineOnly(t *testing.T) {
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	require.NoError(t, put(t, srv.SDK, "secret", "x"))
	send := func(method, path string, header http.Header, host string) *http.Response {
		req, err := http.NewRequestWithContext(context.Background(), method, srv.Endpoint+path, nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	get := "/" + osslocaltest.Bucket + "/secret"
	assert.Equal(t, http.StatusOK, send("GET", get, nil, "").StatusCode)
	assert.Equal(t, http.StatusOK, send("GET", get, nil, "localhost:1").StatusCode)
	assert.Equal(t, http.StatusForbidden, send("GET", get, http.Header{"Origin": {"https://evil.example"}}, "").StatusCode)
	assert.Equal(t, http.StatusForbidden, send("OPTIONS", get, nil, "").StatusCode)
	assert.Equal(t, http.StatusForbidden, send("GET", get, nil, "evil.example").StatusCode)
	assert.Empty(t, send("GET", get, http.Header{"Origin": {"https://evil.example"}}, "").Header.Get("Access-Control-Allow-Origin"))
	for _, key := range []string{"a/../b", "a//b", "dir/"} {
		var serviceErr *oss.ServiceError
		require.ErrorAs(t, put(t, oneAttempt(srv, time.Second), key, "x"), &serviceErr, key)
		assert.Equal(t, "InvalidObjectName", serviceErr.Code, key)
	}
}

func TestNewServerChecksItsOptions(t *testing.T) {
	_, err := osslocal.NewServer("127.0.0.1:0", osslocal.Options{})
	assert.ErrorContains(t, err, "Options.Dir is required")
	_, err = osslocal.NewServer("127.0.0.1:0", osslocal.Options{Dir: t.TempDir(), Buckets: []string{"Not_A_Bucket"}})
	assert.ErrorContains(t, err, `bucket "Not_A_Bucket"`)
	_, err = osslocal.NewServer("127.0.0.1:0", osslocal.Options{Dir: t.TempDir(), Faults: osslocal.Faults{Timeout: 2}})
	assert.ErrorContains(t, err, "outside [0, 1]")
}

// credentialsOf is a static access key.
func credentialsOf(id, secret string) credentials.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret)
}
