package export_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// creds are the invocations' STS credentials.
var creds = aliyun.Credentials{AccessKeyID: "STS.export-test-key", AccessKeySecret: "export-test-secret", SecurityToken: "export-test-token"}

// newSink builds a sink of cfg writing to srv's bucket under "exports/" for table
// source_data.
func newSink(t *testing.T, srv *osslocaltest.Server, cfg export.Config) *export.Sink {
	t.Helper()
	cfg.Bucket, cfg.Prefix, cfg.Endpoint, cfg.Region, cfg.SourceTable = osslocaltest.Bucket, "exports/", srv.Endpoint, osslocaltest.Region, "source_data"
	sink, err := export.New(cfg)
	require.NoError(t, err)
	return sink
}

// ts returns a pointer to a timestamp in ms.
func ts(ms int64) *int64 { return &ms }

// key is a primary key of three columns, one of each primary key type.
func key(id int64, name string, bin []byte) []ots.PrimaryKeyColumn {
	return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}, {ColumnName: "name", Value: ots.String(name)}, {ColumnName: "bin", Value: ots.Binary(bin)}}
}

// keySchema is key's schema.
var keySchema = []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}, {Name: "name", Type: ots.KindString}, {Name: "bin", Type: ots.KindBinary}}

// awkwardValues are values whose text needs care in JSON or CSV, of every type.
var awkwardValues = []ots.Value{
	ots.Integer(math.MinInt64), ots.Integer(math.MaxInt64), ots.Integer(0),
	ots.Double(2), ots.Double(math.Copysign(0, -1)), ots.Double(1e21), ots.Double(1e-7), ots.Double(0.1), ots.Double(5e-324),
	ots.Double(math.MaxFloat64), ots.Double(math.NaN()), ots.Double(math.Inf(1)), ots.Double(math.Inf(-1)),
	ots.Boolean(true), ots.Boolean(false),
	ots.String(""), ots.String(`\N`), ots.String(`a,"b"`), ots.String("line\nbreak\r\n"), ots.String(" leading space"),
	ots.String("héllo, 世界 \u2028\u2029 \x01\x1f\x7f"), ots.String(`back\slash "quote" <html>&`), ots.String(`\.`),
	ots.Binary(nil), ots.Binary([]byte{0, 0xff, '\n', ',', '"'}),
}

// awkwardEvent holds a PutRow of every awkward value, an UpdateRow with a Put, a
// DeleteOneVersion and a DeleteAllVersions, a Put without a timestamp and a DeleteRow, on
// keys that need quoting in CSV.
func awkwardEvent() *events.Event {
	var put []events.Column
	for i, v := range awkwardValues {
		put = append(put, events.Column{Type: events.Put, ColumnName: fmt.Sprintf("c%02d", i), Value: v, Timestamp: ts(1767225600000 + int64(i))})
	}
	k := key(-7, `needs, "quotes"`, []byte{1, 2, 3})
	return &events.Event{Version: events.Version, Records: []events.Record{
		{Type: events.PutRow, Info: events.RecordInfo{Timestamp: 1767225600000001}, PrimaryKey: k, Columns: put},
		{Type: events.UpdateRow, Info: events.RecordInfo{Timestamp: 1767225600000002}, PrimaryKey: k, Columns: []events.Column{
			{Type: events.Put, ColumnName: "c00", Value: ots.Integer(42), Timestamp: ts(1767225600100)},
			{Type: events.DeleteOneVersion, ColumnName: "c01", Timestamp: ts(1767225600001)},
			{Type: events.DeleteAllVersions, ColumnName: "c02"},
			{Type: events.Put, ColumnName: "unstamped", Value: ots.String("server time")},
		}},
		{Type: events.DeleteRow, Info: events.RecordInfo{Timestamp: 1767225600000003}, PrimaryKey: key(8, "", nil)},
	}}
}

// wantChanges is the test's own reading of the `changes` format (docs/exports.md): a
// PutRow as DR then a U per cell, an UpdateRow as its cells, a DeleteRow as DR.
func wantChanges(ev *events.Event) []modeltest.ExportedChange {
	var out []modeltest.ExportedChange
	for i, rec := range ev.Records {
		seq := modeltest.ExportedChange{PrimaryKey: rec.PrimaryKey, RecordTime: rec.Info.Timestamp, RecordIndex: i}
		if rec.Type != events.UpdateRow {
			c := seq
			c.Op = export.OpDeleteRow
			out = append(out, c)
			seq.CellIndex++
		}
		for _, col := range rec.Columns {
			c := seq
			c.Column = col.ColumnName
			switch col.Type {
			case events.Put:
				c.Op, c.Timestamp, c.Value = export.OpPut, col.Timestamp, col.Value
			case events.DeleteOneVersion:
				c.Op, c.Timestamp = export.OpDeleteOneVersion, col.Timestamp
			case events.DeleteAllVersions:
				c.Op = export.OpDeleteAllVersions
			}
			out = append(out, c)
			seq.CellIndex++
		}
	}
	return out
}

// renderChanges renders changes with their timestamps' values and their values' kinds and
// bits.
func renderChanges(changes []modeltest.ExportedChange) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		stamp := "none"
		if c.Timestamp != nil {
			stamp = fmt.Sprint(*c.Timestamp)
		}
		out[i] = fmt.Sprintf("%s %s %q @%s %s r%d/%d c%d", ots.FormatPrimaryKey(c.PrimaryKey), c.Op, c.Column, stamp, renderValue(c.Value), c.RecordIndex, c.RecordTime, c.CellIndex)
	}
	return out
}

// renderValue renders a value with its kind, a DOUBLE by its bits.
func renderValue(v ots.Value) string {
	if f, ok := v.Float(); ok {
		return fmt.Sprintf("DOUBLE %v (%#x)", f, math.Float64bits(f))
	}
	return v.Kind().String() + " " + v.String()
}

// readObjects reads back every object under prefix.
func readObjects(t *testing.T, srv *osslocaltest.Server, prefix string) map[string][]byte {
	t.Helper()
	objects := map[string][]byte{}
	for _, o := range srv.List(t, osslocaltest.Bucket, prefix) {
		data, err := modeltest.ReadObject(o.Key, srv.Get(t, osslocaltest.Bucket, o.Key))
		require.NoError(t, err)
		objects[o.Key] = data
	}
	return objects
}

// TestChangesReadBackExactly writes an event of every value type, and values whose text
// needs care, in each file format and compression, reads the object back with the test's
// own parser of the documented format, and finds every change, with its type and value
// bit for bit (NaN and the infinities, which JSON cannot hold, as the strings "NaN",
// "Infinity" and "-Infinity"), its timestamp and its sequence.
func TestChangesReadBackExactly(t *testing.T) {
	ev := awkwardEvent()
	payload, err := events.EncodeCBOR(ev)
	require.NoError(t, err)
	want := renderChanges(wantChanges(ev))
	for _, fileFormat := range []export.FileFormat{export.JSONL, export.CSV} {
		for _, compression := range []export.Compression{export.None, export.Gzip} {
			t.Run(string(fileFormat)+"/"+string(compression), func(t *testing.T) {
				srv := osslocaltest.NewServer(t, osslocal.Options{})
				sink := newSink(t, srv, export.Config{FileFormat: fileFormat, Compression: compression})
				res, err := sink.ExportChanges(t.Context(), creds, ev, payload)
				require.NoError(t, err)
				name := export.ObjectName("exports/", "source_data", ev.Records[0].Info.Timestamp, payload, export.Extension(fileFormat, compression))
				assert.Equal(t, export.Result{Object: "oss://" + osslocaltest.Bucket + "/" + name, Lines: len(want), Bytes: res.Bytes, Requests: 1}, res)
				objects := readObjects(t, srv, "exports/")
				require.Len(t, objects, 1)
				stored := srv.Get(t, osslocaltest.Bucket, name)
				assert.Equal(t, int64(len(stored)), res.Bytes, "Bytes is the stored size")
				got, err := modeltest.ParseChanges(objects[name], fileFormat, keySchema)
				require.NoError(t, err, "%s", objects[name])
				assert.Equal(t, want, renderChanges(got))
			})
		}
	}
}

// TestJSONLinesAreAsDocumented pins the JSON Lines of `changes` to the shape docs/exports.md
// shows.
func TestJSONLinesAreAsDocumented(t *testing.T) {
	ev := &events.Event{Version: events.Version, Records: []events.Record{
		{Type: events.PutRow, Info: events.RecordInfo{Timestamp: 1441803688001000}, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(3)}},
			Columns: []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(2), Timestamp: ts(1441803688001)}}},
		{Type: events.UpdateRow, Info: events.RecordInfo{Timestamp: 1441803688002000}, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(3)}},
			Columns: []events.Column{
				{Type: events.DeleteOneVersion, ColumnName: "level", Timestamp: ts(1441803688001)},
				{Type: events.DeleteAllVersions, ColumnName: "message"},
				{Type: events.Put, ColumnName: "ratio", Value: ots.Double(2), Timestamp: ts(1441803688002)},
				{Type: events.Put, ColumnName: "raw", Value: ots.Binary([]byte("hi")), Timestamp: ts(1441803688002)},
			}},
	}}
	payload, err := events.EncodeJSON(ev)
	require.NoError(t, err)
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	_, err = newSink(t, srv, export.Config{}).ExportChanges(t.Context(), creds, ev, payload)
	require.NoError(t, err)
	name := export.ObjectName("exports/", "source_data", 1441803688001000, payload, "jsonl")
	sum := sha256.Sum256(payload)
	assert.Equal(t, "exports/source_data/dt=2015-09-09/hh=13/1441803688001000-"+hex.EncodeToString(sum[:8])+".jsonl", name)
	assert.Equal(t, `{"pk":{"id":3},"op":"DR","recordTime":1441803688001000,"recordIndex":0,"cellIndex":0}
{"pk":{"id":3},"op":"U","column":"level","timestamp":1441803688001,"type":"INTEGER","value":2,"recordTime":1441803688001000,"recordIndex":0,"cellIndex":1}
{"pk":{"id":3},"op":"DO","column":"level","timestamp":1441803688001,"recordTime":1441803688002000,"recordIndex":1,"cellIndex":0}
{"pk":{"id":3},"op":"DA","column":"message","recordTime":1441803688002000,"recordIndex":1,"cellIndex":1}
{"pk":{"id":3},"op":"U","column":"ratio","timestamp":1441803688002,"type":"DOUBLE","value":2.0,"recordTime":1441803688002000,"recordIndex":1,"cellIndex":2}
{"pk":{"id":3},"op":"U","column":"raw","timestamp":1441803688002,"type":"BINARY","value":"aGk=","recordTime":1441803688002000,"recordIndex":1,"cellIndex":3}
`, string(srv.Get(t, osslocaltest.Bucket, name)))
}

// TestRowsReadBackExactly writes the `rows` of puts, deletes and updates-if-exists (one of
// which deletes a column) in each file format and compression, and reads back every
// decision with its columns, types and values.
func TestRowsReadBackExactly(t *testing.T) {
	ev := awkwardEvent()
	payload, err := events.EncodeCBOR(ev)
	require.NoError(t, err)
	var row []ots.Cell
	for i, v := range awkwardValues {
		row = append(row, ots.Cell{Name: fmt.Sprintf("c%02d", i), Value: v})
	}
	muts := []transform.Mutation{
		{RowChange: ots.RowChange{Kind: ots.PutRow, PrimaryKey: ev.Records[0].PrimaryKey, Columns: row}, Records: []int{0, 1}},
		{RowChange: ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: ev.Records[2].PrimaryKey}, Records: []int{2}},
		{RowChange: ots.RowChange{Kind: ots.UpdateRowIfExists, PrimaryKey: key(9, "x", []byte{9}), Columns: []ots.Cell{{Name: "c03", Value: ots.Double(0.5)}, {Name: "c14"}}}, Records: []int{1}},
		{RowChange: ots.RowChange{Kind: ots.PutRow, PrimaryKey: key(10, "empty row", nil)}, Records: []int{2}},
	}
	changes := make([]ots.RowChange, len(muts))
	for i, m := range muts {
		changes[i] = m.RowChange
	}
	want := []modeltest.ExportedRow{
		{PrimaryKey: muts[0].PrimaryKey, Op: export.RowPut, Columns: row, RecordTime: ev.Records[1].Info.Timestamp, RecordIndex: 1},
		{PrimaryKey: muts[1].PrimaryKey, Op: export.RowDelete, RecordTime: ev.Records[2].Info.Timestamp, RecordIndex: 2},
		{PrimaryKey: muts[2].PrimaryKey, Op: export.RowUpdateIfExists, Columns: muts[2].Columns, RecordTime: ev.Records[1].Info.Timestamp, RecordIndex: 1},
		{PrimaryKey: muts[3].PrimaryKey, Op: export.RowPut, RecordTime: ev.Records[2].Info.Timestamp, RecordIndex: 2},
	}
	var columns []string
	for _, c := range row {
		columns = append(columns, c.Name)
	}
	for _, fileFormat := range []export.FileFormat{export.JSONL, export.CSV} {
		for _, compression := range []export.Compression{export.None, export.Gzip} {
			t.Run(string(fileFormat)+"/"+string(compression), func(t *testing.T) {
				srv := osslocaltest.NewServer(t, osslocal.Options{})
				sink := newSink(t, srv, export.Config{Format: export.Rows, FileFormat: fileFormat, Compression: compression, Columns: columns})
				res, err := sink.ExportRows(t.Context(), creds, ev, payload, muts, changes)
				require.NoError(t, err)
				assert.Equal(t, len(muts), res.Lines)
				objects := readObjects(t, srv, "exports/")
				require.Len(t, objects, 1)
				for _, data := range objects {
					got, err := modeltest.ParseRows(data, fileFormat, keySchema, columns)
					require.NoError(t, err, "%s", data)
					for i := range got {
						slices.SortFunc(got[i].Columns, ots.CompareCellNames)
					}
					sorted := slices.Clone(want)
					for i := range sorted {
						sorted[i].Columns = slices.SortedFunc(slices.Values(sorted[i].Columns), ots.CompareCellNames)
					}
					assert.Equal(t, renderRows(sorted), renderRows(got))
				}
			})
		}
	}
}

// renderRows renders rows lines with their values' kinds and bits.
func renderRows(rows []modeltest.ExportedRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		cells := make([]string, len(r.Columns))
		for j, c := range r.Columns {
			cells[j] = c.Name + "=" + renderValue(c.Value)
		}
		out[i] = fmt.Sprintf("%s %s [%s] r%d/%d", ots.FormatPrimaryKey(r.PrimaryKey), r.Op, strings.Join(cells, ", "), r.RecordIndex, r.RecordTime)
	}
	return out
}

// TestRowsOfAResolvedPlan: the `rows` export takes the writer's row changes; one still to
// be read from the source table (no Kind yet) is refused rather than written as something
// it is not, and so are row changes that do not match the plan's mutations.
func TestRowsOfAResolvedPlan(t *testing.T) {
	ev := awkwardEvent()
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	sink := newSink(t, srv, export.Config{Format: export.Rows})
	undecided := transform.Mutation{RowChange: ots.RowChange{PrimaryKey: ev.Records[0].PrimaryKey}, Records: []int{0}}
	_, err := sink.ExportRows(t.Context(), creds, ev, []byte("payload"), []transform.Mutation{undecided}, []ots.RowChange{undecided.RowChange})
	require.ErrorContains(t, err, "RowChangeKind(0) has no rows line")
	_, err = sink.ExportRows(t.Context(), creds, ev, []byte("payload"), []transform.Mutation{undecided}, nil)
	require.ErrorContains(t, err, "0 row changes for 1 mutations")
	assert.Empty(t, srv.List(t, osslocaltest.Bucket, ""), "nothing is written")
}

// TestCSVHoldsOnePrimaryKeySchema: a batch whose records have different primary key columns
// cannot share a CSV header; the export fails naming the record, and writes nothing.
func TestCSVHoldsOnePrimaryKeySchema(t *testing.T) {
	ev := &events.Event{Version: events.Version, Records: []events.Record{
		{Type: events.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}}},
		{Type: events.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "other", Value: ots.Integer(1)}}},
	}}
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	_, err := newSink(t, srv, export.Config{FileFormat: export.CSV}).ExportChanges(t.Context(), creds, ev, []byte("p"))
	var recordErr *export.RecordError
	require.ErrorAs(t, err, &recordErr)
	assert.Equal(t, 1, recordErr.Index)
	assert.Empty(t, srv.List(t, osslocaltest.Bucket, ""))
}

// bigEvent is an event of n PutRows of two cells.
func bigEvent(n int) *events.Event {
	ev := &events.Event{Version: events.Version}
	for i := range n {
		stamp := int64(1767225600000 + i)
		ev.Records = append(ev.Records, events.Record{Type: events.PutRow, Info: events.RecordInfo{Timestamp: stamp * 1000},
			PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i))}},
			Columns: []events.Column{
				{Type: events.Put, ColumnName: "level", Value: ots.Integer(int64(i % 4)), Timestamp: &stamp},
				{Type: events.Put, ColumnName: "message", Value: ots.String(fmt.Sprintf("GET /orders/%d answered 200 in %d ms", i, i%977)), Timestamp: &stamp},
			}})
	}
	return ev
}

// TestLargeObjectsGoInParts: an object larger than a part goes as a multipart upload of
// parts of PartSize, and reads back whole; a part that fails for good fails the export,
// leaves no object and no multipart upload behind (it is aborted), and the same batch then
// written again gives the same one object.
func TestLargeObjectsGoInParts(t *testing.T) {
	const partSize = 100 << 10
	ev := bigEvent(20000)
	payload, err := events.EncodeCBOR(ev)
	require.NoError(t, err)
	want := wantChanges(ev)
	for _, compression := range []export.Compression{export.None, export.Gzip} {
		t.Run(string(compression), func(t *testing.T) {
			srv := osslocaltest.NewServer(t, osslocal.Options{})
			sink := newSink(t, srv, export.Config{PartSize: partSize, Compression: compression})

			require.NoError(t, srv.SetFaults(osslocal.Faults{ServerError: 1, Operations: []string{osslocal.OpUploadPart}}))
			_, err := sink.ExportChanges(t.Context(), creds, ev, payload)
			require.ErrorContains(t, err, "UploadPart 1")
			require.ErrorContains(t, err, "InternalError")
			assert.Empty(t, srv.List(t, osslocaltest.Bucket, ""), "no object")
			uploads, err := srv.SDK.ListMultipartUploads(t.Context(), &oss.ListMultipartUploadsRequest{Bucket: oss.Ptr(osslocaltest.Bucket)})
			require.NoError(t, err)
			assert.Empty(t, uploads.Uploads, "the failed upload was aborted")
			assert.Equal(t, int64(3), srv.Faults().ServerErrors, "the SDK tried the part three times")

			require.NoError(t, srv.SetFaults(osslocal.Faults{}))
			res, err := sink.ExportChanges(t.Context(), creds, ev, payload)
			require.NoError(t, err)
			// A part holds at least PartSize bytes, and less than a flush (64 KiB) more.
			mostParts, fewestParts := int((res.Bytes+partSize-1)/partSize), int(res.Bytes/(partSize+64<<10))
			assert.Greater(t, fewestParts, 2)
			assert.GreaterOrEqual(t, res.Requests, fewestParts+2, "Initiate, the parts, Complete")
			assert.LessOrEqual(t, res.Requests, mostParts+2, "Initiate, the parts, Complete")
			objects := readObjects(t, srv, "")
			require.Len(t, objects, 1)
			for _, data := range objects {
				got, err := modeltest.ParseChanges(data, export.JSONL, []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}})
				require.NoError(t, err)
				assert.Equal(t, renderChanges(want), renderChanges(got))
			}
		})
	}
}

// TestRetriedRequestsLeaveOneObject: under 500s, lost answers after the object was
// written and requests held until the client gives up, the SDK's retries and the trigger's
// redeliveries (the same batch written again until it succeeds) leave exactly one object
// per batch, found by listing.
func TestRetriedRequestsLeaveOneObject(t *testing.T) {
	srv := osslocaltest.NewServer(t, osslocal.Options{Faults: osslocal.Faults{
		Seed: 2, ServerError: 0.07, LostAnswer: 0.07, Timeout: 0.06, Operations: osslocal.WriteOperations,
	}})
	sink := newSink(t, srv, export.Config{PartSize: 100 << 10, RequestTimeout: 200 * time.Millisecond})
	var names []string
	failures := 0
	for batch := range 12 {
		ev := bigEvent(1 + batch*300) // the larger ones go in parts
		ev.Records[0].Info.Timestamp += int64(batch)
		payload, err := events.EncodeCBOR(ev)
		require.NoError(t, err)
		for {
			res, err := sink.ExportChanges(t.Context(), creds, ev, payload)
			if err == nil {
				names = append(names, strings.TrimPrefix(res.Object, "oss://"+osslocaltest.Bucket+"/"))
				break
			}
			failures++
			require.Less(t, failures, 100, "the faults never cleared: %v", err)
		}
	}
	var listed []string
	for _, o := range srv.List(t, osslocaltest.Bucket, "exports/") {
		listed = append(listed, o.Key)
	}
	slices.Sort(names)
	assert.Equal(t, names, listed, "one object per batch")
	c := srv.Faults()
	t.Logf("12 batches, %d requests: %d failed exports delivered again; faults met: %d 500s, %d lost answers, %d timeouts", srv.Requests(), failures, c.ServerErrors, c.LostAnswers, c.Timeouts)
	assert.Positive(t, c.ServerErrors)
	assert.Positive(t, c.LostAnswers)
	assert.Positive(t, c.Timeouts)
}

// TestRequestsAreSignedWithTheInvocationsCredentials: every request carries the access key
// and the security token of the export's invocation, never those of the process's
// environment, and two exports with different credentials at once sign each with its own.
func TestRequestsAreSignedWithTheInvocationsCredentials(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "env-key")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
	t.Setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "env-token")
	t.Setenv("OSS_ACCESS_KEY_ID", "env-key")
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	target, err := url.Parse(srv.Endpoint)
	require.NoError(t, err)
	var mu sync.Mutex
	seen := map[string]string{} // token -> Authorization
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("x-oss-security-token")] = r.Header.Get("Authorization")
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	sink, err := export.New(export.Config{Bucket: osslocaltest.Bucket, Prefix: "exports/", Endpoint: front.URL, Region: osslocaltest.Region, SourceTable: "t"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 2 {
		c := aliyun.Credentials{AccessKeyID: fmt.Sprintf("STS.key%d", i), AccessKeySecret: "secret", SecurityToken: fmt.Sprintf("token%d", i)}
		ev := bigEvent(1 + i)
		wg.Go(func() {
			_, err := sink.ExportChanges(context.Background(), c, ev, []byte{byte(i)})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.Len(t, seen, 2)
	for i := range 2 {
		assert.True(t, strings.HasPrefix(seen[fmt.Sprintf("token%d", i)], fmt.Sprintf("OSS4-HMAC-SHA256 Credential=STS.key%d/", i)), seen)
	}
	_, err = sink.ExportChanges(t.Context(), aliyun.Credentials{}, bigEvent(1), []byte("no key"))
	require.ErrorContains(t, err, "no invocation credentials")
}

// TestAnEmptyBatchWritesNothing: an event without records has no first record to name an
// object after, and no change to keep.
func TestAnEmptyBatchWritesNothing(t *testing.T) {
	srv := osslocaltest.NewServer(t, osslocal.Options{})
	res, err := newSink(t, srv, export.Config{}).ExportChanges(t.Context(), creds, &events.Event{Version: events.Version}, []byte(`{}`))
	require.NoError(t, err)
	assert.Equal(t, export.Result{}, res)
	assert.Zero(t, srv.Requests())
}

// TestABatchWithoutDecisionsHasItsObject: a batch whose plan has no mutation (an UpdateRow
// of a column the rule neither reads nor keeps) still gets its `rows` object, empty in JSON
// Lines and its header alone in CSV, so that every batch accepted has its object.
func TestABatchWithoutDecisionsHasItsObject(t *testing.T) {
	ev := bigEvent(1)
	for _, fileFormat := range []export.FileFormat{export.JSONL, export.CSV} {
		srv := osslocaltest.NewServer(t, osslocal.Options{})
		res, err := newSink(t, srv, export.Config{Format: export.Rows, FileFormat: fileFormat, Columns: []string{"level"}}).ExportRows(t.Context(), creds, ev, []byte("p"), nil, nil)
		require.NoError(t, err)
		assert.Zero(t, res.Lines)
		objects := readObjects(t, srv, "")
		require.Len(t, objects, 1, fileFormat)
		for _, data := range objects {
			want := ""
			if fileFormat == export.CSV {
				want = "pk.id,op,columns.level,types.level,recordTime,recordIndex\n"
			}
			assert.Equal(t, want, string(data))
			rows, err := modeltest.ParseRows(data, fileFormat, []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}, []string{"level"})
			require.NoError(t, err)
			assert.Empty(t, rows)
		}
	}
}
