package tablestore

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"

	"github.com/otsetl/otsetl/ots"
)

// cannedTransport answers every request with body, HTTP 200, without a network.
type cannedTransport struct{ body []byte }

func (t cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, req.Body)
	_ = req.Body.Close()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"X-Ots-Requestid": {"r"}}, Body: io.NopCloser(bytes.NewReader(t.body)), Request: req}, nil
}

// okResponse is a BatchWriteRowResponse of rows successful rows of table.
func okResponse(table string, rows int) []byte {
	resp := &otsprotocol.BatchWriteRowResponse{Tables: []*otsprotocol.TableInBatchWriteRowResponse{{TableName: proto.String(table)}}}
	for range rows {
		resp.Tables[0].Rows = append(resp.Tables[0].Rows, &otsprotocol.RowInBatchWriteRowResponse{
			IsOk:     proto.Bool(true),
			Consumed: &otsprotocol.ConsumedCapacity{CapacityUnit: &otsprotocol.CapacityUnit{Read: proto.Int32(0), Write: proto.Int32(1)}},
		})
	}
	body, err := proto.Marshal(resp)
	if err != nil {
		panic(err)
	}
	return body
}

// BenchmarkWrite measures Write of 1,000 row changes (half puts of two cells, half deletes) in
// five requests of 200 rows, answered without a network: the client's CPU per row.
func BenchmarkWrite(b *testing.B) {
	const rows = 1000
	changes := make([]ots.RowChange, rows)
	for i := range changes {
		changes[i] = ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i))}}}
		if i%2 == 0 {
			changes[i].Kind = ots.PutRow
			changes[i].Columns = []ots.Cell{{Name: "level", Value: ots.Integer(2)}, {Name: "message", Value: ots.String(strings.Repeat("m", 40))}}
		}
	}
	saved := httpClient.Transport
	defer func() { httpClient.Transport = saved }()
	httpClient.Transport = cannedTransport{body: okResponse("result", maxBatchWriteRows)}
	c, err := NewClient(Config{Endpoint: "http://127.0.0.1:1", Instance: "i"}, testCreds)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		stats, err := c.Write(context.Background(), "result", changes)
		if err != nil || stats.Requests != 5 {
			b.Fatal(stats, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	b.ReportMetric(0, "ns/op")
}
