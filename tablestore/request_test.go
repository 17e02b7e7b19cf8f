package tablestore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
)

// capturedRequest is what a capturing transport saw of one request.
type capturedRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

// capturingTransport records every request and answers it with answer(request body).
type capturingTransport struct {
	seen   []capturedRequest
	answer func(body []byte) (int, []byte)
}

func (t *capturingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	t.seen = append(t.seen, capturedRequest{method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body})
	status, answer := t.answer(body)
	return &http.Response{StatusCode: status, Header: http.Header{"X-Ots-Requestid": {"request-7"}},
		Body: io.NopCloser(bytes.NewReader(answer)), ContentLength: int64(len(answer)), Request: req}, nil
}

// answerAllOK answers a BatchWriteRowRequest with every row written.
func answerAllOK(body []byte) (int, []byte) {
	var req otsprotocol.BatchWriteRowRequest
	if err := proto.Unmarshal(body, &req); err != nil || len(req.Tables) != 1 {
		return http.StatusBadRequest, []byte("not a BatchWriteRowRequest")
	}
	return http.StatusOK, okResponse(req.Tables[0].GetTableName(), len(req.Tables[0].Rows))
}

// sdkBatchWriteRow sends changes with the SDK's own BatchWriteRow, as a client built for
// endpoint, instance and creds, and returns the request it sent.
func sdkBatchWriteRow(t *testing.T, endpoint, instance string, creds aliyun.Credentials, table string, changes []ots.RowChange) capturedRequest {
	t.Helper()
	capture := &capturingTransport{answer: answerAllOK}
	client := sdk.NewClientWithConfig(endpoint, instance, creds.AccessKeyID, creds.AccessKeySecret, creds.SecurityToken,
		&sdk.TableStoreConfig{Transport: capture, HTTPTimeout: sdk.HTTPTimeout{RequestTimeout: requestTimeout}})
	req := new(sdk.BatchWriteRowRequest)
	for _, m := range changes {
		req.AddRowChange(sdkRowChange(t, table, m))
	}
	_, err := client.BatchWriteRow(req)
	require.NoError(t, err)
	require.Len(t, capture.seen, 1)
	return capture.seen[0]
}

// TestRequestsAreTheSDKs builds BatchWriteRow requests for rows of every kind and value type
// and checks them against the requests the SDK's own BatchWriteRow sends for the same rows:
// the same path, body and headers, signature included (the request is stamped with the
// SDK's x-ots-date), with and without a security token.
func TestRequestsAreTheSDKs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	batches := [][]ots.RowChange{encoderCases()}
	for range 20 {
		batch := make([]ots.RowChange, 1+r.IntN(maxBatchWriteRows))
		for i := range batch {
			batch[i] = randomRowChange(r)
			batch[i].PrimaryKey = append(batch[i].PrimaryKey, ots.PrimaryKeyColumn{ColumnName: "n", Value: ots.Integer(int64(i))}) // distinct
		}
		batches = append(batches, batch)
	}
	for _, creds := range []aliyun.Credentials{testCreds, {AccessKeyID: "LTAI-long-term", AccessKeySecret: "secret"}} {
		for i, batch := range batches {
			var changes []ots.RowChange
			for _, m := range batch {
				if m.Kind != ots.UpdateRowIfExists || len(m.Columns) > 0 { // Write skips the others
					changes = append(changes, m)
				}
			}
			want := sdkBatchWriteRow(t, "http://tablestore.test:8800", "inst", creds, "result", changes)

			c, err := NewClient(Config{Endpoint: "http://tablestore.test:8800", Instance: "inst"}, creds)
			require.NoError(t, err)
			rows, err := new(rowBuffers).build("result", changes)
			require.NoError(t, err)
			body := appendBatchWriteRowRequest(nil, "result", rows)
			req, err := c.newRequest(t.Context(), "BatchWriteRow", body, want.header.Get("X-Ots-Date"))
			require.NoError(t, err)

			require.Equal(t, want.body, body, "batch %d: body", i)
			assert.Equal(t, want.method, req.Method)
			assert.Equal(t, want.path, req.URL.Path)
			assert.Equal(t, "tablestore.test:8800", req.URL.Host)
			assert.Equal(t, want.header, req.Header, "batch %d: headers, signature included", i)
			assert.Equal(t, int64(len(body)), req.ContentLength)
		}
	}
}

// TestErrorsAreTheSDKs answers requests with failures of every shape and checks that
// Write reports each as the SDK reports it to its own callers.
func TestErrorsAreTheSDKs(t *testing.T) {
	pbError := func(code, message string) []byte {
		body, err := proto.Marshal(&otsprotocol.Error{Code: proto.String(code), Message: proto.String(message)})
		require.NoError(t, err)
		return body
	}
	for _, answer := range []struct {
		status int
		body   []byte
	}{
		{http.StatusForbidden, pbError("OTSAuthFailed", "Signature mismatch.")},
		{http.StatusServiceUnavailable, pbError("OTSServerBusy", "Server is busy.")},
		{http.StatusBadGateway, []byte("<html>bad gateway</html>")},
		{http.StatusBadRequest, []byte("not protobuf \xff")},
		{http.StatusOK, []byte("\x0a\xff")}, // a body that is not a BatchWriteRowResponse
	} {
		t.Run(strconv.Itoa(answer.status), func(t *testing.T) {
			transport := &capturingTransport{answer: func([]byte) (int, []byte) { return answer.status, answer.body }}
			client := sdk.NewClientWithConfig("http://tablestore.test", "inst", "id", "secret", "",
				&sdk.TableStoreConfig{Transport: transport, HTTPTimeout: sdk.HTTPTimeout{RequestTimeout: requestTimeout}})
			req := new(sdk.BatchWriteRowRequest)
			req.AddRowChange(sdkRowChange(t, "result", put(1)))
			_, sdkErr := client.BatchWriteRow(req)
			require.Error(t, sdkErr)

			saved := httpClient.Transport
			t.Cleanup(func() { httpClient.Transport = saved })
			httpClient.Transport = transport
			c, err := NewClient(Config{Endpoint: "http://tablestore.test", Instance: "inst"}, aliyun.Credentials{AccessKeyID: "id", AccessKeySecret: "secret"})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), deadlineMargin) // no time for retries
			defer cancel()
			_, err = c.Write(ctx, "result", []ots.RowChange{put(1)})
			require.Error(t, err)

			var sdkOts *sdk.OtsError
			if errors.As(sdkErr, &sdkOts) {
				var ours *sdk.OtsError
				require.ErrorAs(t, err, &ours)
				assert.Equal(t, *sdkOts, *ours)
				assert.Equal(t, Retryable(sdkErr), Retryable(err))
				return
			}
			assert.Contains(t, err.Error(), sdkErr.Error(), "the decoding error, as the SDK words it")
		})
	}
}

// TestWriteIsSignedAsTheServiceChecks writes to an otslocal that checks signatures, as the
// service does: the right secret is accepted, a wrong one refused for good.
func TestWriteIsSignedAsTheServiceChecks(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{AccessKeyID: testCreds.AccessKeyID, AccessKeySecret: testCreds.AccessKeySecret},
		otslocaltest.Table{Name: "result"})
	c := newTestClient(t, srv.Endpoint, 0)
	stats, err := c.Write(t.Context(), "result", []ots.RowChange{put(1, cell("a", ots.String("x"))), {Kind: ots.DeleteRow, PrimaryKey: key(2)}})
	require.NoError(t, err)
	assert.Equal(t, WriteStats{Requests: 1, Puts: 1, Deletes: 1}, stats)

	wrong := testCreds
	wrong.AccessKeySecret = "not-the-secret"
	bad, err := NewClient(Config{Endpoint: srv.Endpoint, Instance: otslocaltest.Instance}, wrong)
	require.NoError(t, err)
	stats, err = bad.Write(t.Context(), "result", []ots.RowChange{put(1)})
	var otsErr *sdk.OtsError
	require.ErrorAs(t, err, &otsErr)
	assert.Equal(t, "OTSAuthFailed", otsErr.Code)
	assert.Equal(t, WriteStats{Requests: 1}, stats, "not retried")
}
