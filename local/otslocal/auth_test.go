package otslocal_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

const (
	strictKeyID  = "LTAI-test-key"
	strictSecret = "test-secret"
)

// startStrictServer starts a server that accepts only strictKeyID signed with strictSecret.
func startStrictServer(t *testing.T) *otslocal.Server {
	t.Helper()
	return otslocaltest.NewServer(t, otslocal.Options{AccessKeyID: strictKeyID, AccessKeySecret: strictSecret}).Server
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sdkClient is an unmodified SDK client with this key, whose requests go through
// transport (nil: the default transport).
func sdkClient(srv *otslocal.Server, keyID, secret string, transport http.RoundTripper) *tablestore.TableStoreClient {
	config := tablestore.NewDefaultTableStoreConfig()
	config.Transport = transport
	return tablestore.NewClientWithConfig(srv.Endpoint, "inst", keyID, secret, "", config)
}

func TestStrictModeServesTheConfiguredKey(t *testing.T) {
	srv := startStrictServer(t)
	client := sdkClient(srv, strictKeyID, strictSecret, nil)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "t", key("id", int64(1)), "v", "signed")
	assert.Equal(t, map[string]any{"v": "signed"}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
	tables, err := client.ListTable()
	require.NoError(t, err)
	assert.Equal(t, []string{"t"}, tables.TableNames)
}

func TestStrictModeRefusesOtherKeys(t *testing.T) {
	srv := startStrictServer(t)
	_, err := sdkClient(srv, strictKeyID, "wrong-secret", nil).ListTable()
	requireOTSError(t, err, http.StatusForbidden, "OTSAuthFailed", "Signature mismatch.")
	_, err = sdkClient(srv, "another-key", strictSecret, nil).ListTable()
	requireOTSError(t, err, http.StatusForbidden, "OTSAuthFailed", "The AccessKeyID does not exist.")
}

func TestStrictModeRefusesATamperedRequest(t *testing.T) {
	srv := startStrictServer(t)
	createTable(t, sdkClient(srv, strictKeyID, strictSecret, nil), "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	// tampered changes a signed request on its way to the server.
	tampered := func(change func(r *http.Request, body []byte) []byte) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			changed := r.Clone(r.Context())
			body = change(changed, body)
			changed.Body, changed.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			return http.DefaultTransport.RoundTrip(changed)
		})
	}
	flipLastByte := func(_ *http.Request, body []byte) []byte {
		changed := bytes.Clone(body)
		changed[len(changed)-1] ^= 0x01
		return changed
	}
	putTo := func(transport http.RoundTripper) error {
		change := putChange("t", key("id", int64(1)), ignore, "v", "tampered")
		_, err := sdkClient(srv, strictKeyID, strictSecret, transport).PutRow(&tablestore.PutRowRequest{PutRowChange: change})
		return err
	}

	err := putTo(tampered(flipLastByte))
	requireOTSError(t, err, http.StatusForbidden, "OTSAuthFailed", "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
	err = putTo(tampered(func(r *http.Request, body []byte) []byte {
		changed := flipLastByte(r, body)
		sum := md5.Sum(changed)
		r.Header.Set("x-ots-contentmd5", base64.StdEncoding.EncodeToString(sum[:]))
		return changed
	}))
	requireOTSError(t, err, http.StatusForbidden, "OTSAuthFailed", "Signature mismatch.")
	err = putTo(tampered(func(r *http.Request, body []byte) []byte {
		r.Header.Set("x-ots-instancename", "other")
		return body
	}))
	requireOTSError(t, err, http.StatusForbidden, "OTSAuthFailed", "Signature mismatch.")
	assert.Empty(t, getRow(t, sdkClient(srv, strictKeyID, strictSecret, nil), "t", key("id", int64(1))).PrimaryKey.PrimaryKeys)
}

// nodeSignedRequest builds an empty-bodied request as the Node.js SDK does: an ISO date
// with milliseconds, and a signature over every x-ots-* header as it is, empty ones
// included (lib/signer.js).
func nodeSignedRequest(t *testing.T, srv *otslocal.Server, action string, date time.Time, extra map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.Endpoint+"/"+action, nil)
	require.NoError(t, err)
	sum := md5.Sum(nil)
	headers := map[string]string{
		"x-ots-apiversion":   "2015-12-31",
		"x-ots-instancename": "inst",
		"x-ots-contentmd5":   base64.StdEncoding.EncodeToString(sum[:]),
		"x-ots-date":         date.UTC().Format("2006-01-02T15:04:05.000Z"),
		"x-ots-accesskeyid":  strictKeyID,
	}
	for name, value := range extra {
		headers[name] = value
	}
	var lines []string
	for name, value := range headers {
		req.Header.Set(name, value)
		lines = append(lines, name+":"+value)
	}
	sort.Strings(lines)
	stringToSign := strings.Join([]string{"/" + action, "POST\n", strings.Join(lines, "\n")}, "\n") + "\n"
	req.Header.Set("x-ots-signature", hmacSHA1(strictSecret, stringToSign))
	return req
}

func hmacSHA1(secret, stringToSign string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// send sends a raw request and returns the status and body.
func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

func TestStrictModeAcceptsTheNodeSDKLayout(t *testing.T) {
	srv := startStrictServer(t)
	status, body := send(t, nodeSignedRequest(t, srv, "ListTable", time.Now(), nil))
	assert.Equal(t, http.StatusOK, status, "%s", body)
	// An empty x-ots-* header: the Node.js SDK signs it, the Go SDK would leave it out.
	status, body = send(t, nodeSignedRequest(t, srv, "ListTable", time.Now(), map[string]string{"x-ots-sdk-traceid": ""}))
	assert.Equal(t, http.StatusOK, status, "%s", body)
}

func TestStrictModeChecksTheRequestHeaders(t *testing.T) {
	srv := startStrictServer(t)
	missing := nodeSignedRequest(t, srv, "ListTable", time.Now(), nil)
	missing.Header.Del("x-ots-date")
	status, body := send(t, missing)
	requireErrorBody(t, status, body, http.StatusBadRequest, "OTSParameterInvalid", "Missing header: x-ots-date.")

	status, body = send(t, nodeSignedRequest(t, srv, "ListTable", time.Now(), map[string]string{"x-ots-date": "yesterday"}))
	requireErrorBody(t, status, body, http.StatusBadRequest, "OTSParameterInvalid", "Invalid date format: yesterday.")

	for _, skew := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
		date := time.Now().Add(skew)
		status, body = send(t, nodeSignedRequest(t, srv, "ListTable", date, nil))
		requireErrorBody(t, status, body, http.StatusForbidden, "OTSAuthFailed",
			"Mismatch between system time and x-ots-date: "+date.UTC().Format("2006-01-02T15:04:05.000Z")+".")
	}
	status, body = send(t, nodeSignedRequest(t, srv, "ListTable", time.Now().Add(-10*time.Minute), nil))
	assert.Equal(t, http.StatusOK, status, "within 15 minutes: %s", body)
}

// pythonResponseSignature recomputes a response signature as the Python SDK checks it
// (tablestore/protocol.py, _make_response_signature and _make_headers_string): the
// sorted "name:value" of the x-ots-* headers joined by newlines, a newline, the URI.
func pythonResponseSignature(header http.Header, uri, secret string) string {
	var items []string
	for name := range header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-ots-") && lower != "x-ots-signature" {
			items = append(items, lower+":"+strings.TrimSpace(header.Get(name)))
		}
	}
	sort.Strings(items)
	return hmacSHA1(secret, strings.Join(items, "\n")+"\n"+uri)
}

func TestResponsesAreSignedWithTheServersSecret(t *testing.T) {
	var mu sync.Mutex
	var lastResponse http.Header
	recording := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			mu.Lock()
			lastResponse = resp.Header.Clone()
			mu.Unlock()
		}
		return resp, err
	})
	lastAuthorization := func() (http.Header, string) {
		mu.Lock()
		defer mu.Unlock()
		return lastResponse, lastResponse.Get("authorization")
	}

	strict := startStrictServer(t)
	client := sdkClient(strict, strictKeyID, strictSecret, recording)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "t", key("id", int64(1)), "v", int64(1))
	header, authorization := lastAuthorization()
	assert.Equal(t, "OTS "+strictKeyID+":"+pythonResponseSignature(header, "/PutRow", strictSecret), authorization)

	_, err := sdkClient(strict, strictKeyID, "wrong-secret", recording).ListTable()
	require.Error(t, err)
	header, authorization = lastAuthorization()
	assert.Equal(t, "OTS "+strictKeyID+":"+pythonResponseSignature(header, "/ListTable", strictSecret), authorization,
		"errors are signed too")

	open := startServer(t)
	_, err = sdkClient(open, "any", "secret", recording).ListTable()
	require.NoError(t, err)
	header, authorization = lastAuthorization()
	assert.Equal(t, "OTS any:"+pythonResponseSignature(header, "/ListTable", "otslocal"), authorization,
		"without a configured key, responses are signed with the default secret")
}
