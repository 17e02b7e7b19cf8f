package tableio_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/keyrange"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

var idKey = otslocaltest.IDKey

func cell(name string, v ots.Value) ots.Cell { return ots.Cell{Name: name, Value: v} }

func TestEnsureCreatesOnceAndChecksTheSchema(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}, {Name: "b", Type: ots.KindBinary}}
	require.NoError(t, tableio.Ensure(t.Context(), srv.SDK, "t", schema, tableio.Options{}))
	require.NoError(t, tableio.Ensure(t.Context(), srv.SDK, "t", schema, tableio.Options{}), "an existing table with the same primary key is fine")

	resp, err := srv.SDK.DescribeTable(&sdk.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, 1, resp.TableOption.MaxVersion)
	assert.Equal(t, -1, resp.TableOption.TimeToAlive)
	require.Len(t, resp.TableMeta.SchemaEntry, 3)
	assert.Equal(t, "g", *resp.TableMeta.SchemaEntry[0].Name)
	assert.Equal(t, sdk.PrimaryKeyType_STRING, *resp.TableMeta.SchemaEntry[0].Type)

	got, err := tableio.PrimaryKey(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	assert.Equal(t, schema, got)

	err = tableio.Ensure(t.Context(), srv.SDK, "t", idKey, tableio.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `table "t" exists with primary key (g STRING, n INTEGER, b BINARY), not (id INTEGER)`)
}

func TestEnsureWantsTheStreamOfAnExistingTable(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	withStream := tableio.Options{StreamExpirationHours: 24}
	require.NoError(t, tableio.Ensure(t.Context(), srv.SDK, "plain", idKey, tableio.Options{}))
	err := tableio.Ensure(t.Context(), srv.SDK, "plain", idKey, withStream)
	assert.ErrorContains(t, err, `table "plain" exists without a Stream`)

	require.NoError(t, tableio.Ensure(t.Context(), srv.SDK, "streamed", idKey, withStream))
	require.NoError(t, tableio.Ensure(t.Context(), srv.SDK, "streamed", idKey, withStream), "an existing table with its Stream is fine")
	d, err := tableio.Describe(t.Context(), srv.SDK, "streamed")
	require.NoError(t, err)
	assert.Equal(t, 24, d.StreamExpirationHours)
}

func TestEnsureRejectsBadSchemas(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	ctx := t.Context()
	assert.ErrorContains(t, tableio.Ensure(ctx, srv.SDK, "t", nil, tableio.Options{}), "no primary key columns")
	assert.ErrorContains(t, tableio.Ensure(ctx, srv.SDK, "t", []ots.PrimaryKeySchema{{Name: "d", Type: ots.KindDouble}}, tableio.Options{}), "primary key type DOUBLE")
	assert.ErrorContains(t, tableio.Ensure(ctx, srv.SDK, "", idKey, tableio.Options{}), "empty table name")
	err := tableio.Ensure(ctx, srv.SDK, "t", []ots.PrimaryKeySchema{{Name: "a", Type: ots.KindInteger}, {Name: "b", Type: ots.KindInteger},
		{Name: "c", Type: ots.KindInteger}, {Name: "d", Type: ots.KindInteger}, {Name: "e", Type: ots.KindInteger}}, tableio.Options{})
	require.Error(t, err, "Tablestore allows 1 to 4 primary key columns")
	assert.Contains(t, err.Error(), `CreateTable on table "t"`)
}

// put returns a PutRow record of key pk with Put cells.
func put(pk []ots.PrimaryKeyColumn, cells ...ots.Cell) events.Record {
	rec := events.Record{Type: events.PutRow, PrimaryKey: pk}
	for _, c := range cells {
		rec.Columns = append(rec.Columns, events.Column{Type: events.Put, ColumnName: c.Name, Value: c.Value})
	}
	return rec
}

func TestScanReturnsRowsInPrimaryKeyOrder(t *testing.T) {
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}}
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t", PrimaryKey: schema})
	pk := func(g string, n int64) []ots.PrimaryKeyColumn {
		return []ots.PrimaryKeyColumn{{ColumnName: "g", Value: ots.String(g)}, {ColumnName: "n", Value: ots.Integer(n)}}
	}
	want := []tableio.Row{
		{PrimaryKey: pk("", 0), Columns: []ots.Cell{cell("v", ots.Integer(0))}},
		{PrimaryKey: pk("a", -5), Columns: []ots.Cell{cell("v", ots.Integer(1))}},
		{PrimaryKey: pk("a", 3), Columns: []ots.Cell{cell("v", ots.Integer(2)), cell("w", ots.String("x"))}},
		{PrimaryKey: pk("a", 20), Columns: []ots.Cell{cell("v", ots.Integer(3))}},
		{PrimaryKey: pk("b", -100), Columns: []ots.Cell{cell("v", ots.Integer(4))}},
		{PrimaryKey: pk("ba", 1), Columns: []ots.Cell{cell("v", ots.Integer(5))}},
	}
	records := make([]events.Record, len(want))
	for i, row := range want {
		records[i] = put(row.PrimaryKey, row.Columns...)
	}
	rand.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
	require.NoError(t, tableio.Apply(t.Context(), srv.SDK, "t", records))

	got, err := tableio.Scan(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestScanFollowsPages(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t"})
	// GetRange returns at most 5000 rows a response.
	const n = 5200
	change := &sdk.BatchWriteRowRequest{}
	for i := range n {
		row := &sdk.PutRowChange{TableName: "t", PrimaryKey: new(sdk.PrimaryKey)}
		row.PrimaryKey.AddPrimaryKeyColumn("id", int64(n-i))
		row.AddColumn("v", int64(i))
		row.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		change.AddRowChange(row)
		if len(change.RowChangesGroupByTable["t"]) == 200 || i == n-1 {
			_, err := srv.SDK.BatchWriteRow(change)
			require.NoError(t, err)
			change = &sdk.BatchWriteRowRequest{}
		}
	}
	got, err := tableio.Scan(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, row := range got {
		require.Equal(t, []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i + 1))}}, row.PrimaryKey)
	}
}

func TestScanMissingTable(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	_, err := tableio.Scan(t.Context(), srv.SDK, "nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `DescribeTable on table "nope"`)
	assert.Contains(t, err.Error(), "OTSObjectNotExist")
}

func TestApplyReenactsEveryRecordType(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t", MaxVersions: 3})
	id := func(i int64) []ots.PrimaryKeyColumn {
		return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(i)}}
	}
	ts := func(ms int64) *int64 { return &ms }
	// Versions an hour ahead of the server's clock (within the default deviation of a day)
	// are newer than the first PutRow's; the table keeps three versions, so deleting the
	// newest one uncovers the one below.
	base := time.Now().Add(time.Hour).UnixMilli()
	records := []events.Record{
		put(id(1), cell("level", ots.Integer(1)), cell("gone", ots.String("x"))),
		{Type: events.UpdateRow, PrimaryKey: id(1), Columns: []events.Column{
			{Type: events.Put, ColumnName: "level", Value: ots.Integer(2), Timestamp: ts(base)},
			{Type: events.Put, ColumnName: "level", Value: ots.Integer(3), Timestamp: ts(base + 1)},
		}},
		{Type: events.UpdateRow, PrimaryKey: id(1), Columns: []events.Column{
			{Type: events.DeleteOneVersion, ColumnName: "level", Timestamp: ts(base + 1)},
			{Type: events.DeleteAllVersions, ColumnName: "gone"},
		}},
		put(id(2), cell("level", ots.Integer(5))),
		{Type: events.DeleteRow, PrimaryKey: id(2)},
		{Type: events.UpdateRow, PrimaryKey: id(3), Columns: []events.Column{{Type: events.Put, ColumnName: "b", Value: ots.Boolean(true)}}},
	}
	require.NoError(t, tableio.Apply(t.Context(), srv.SDK, "t", records))
	got, err := tableio.Scan(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	assert.Equal(t, []tableio.Row{
		{PrimaryKey: id(1), Columns: []ots.Cell{cell("level", ots.Integer(2))}},
		{PrimaryKey: id(3), Columns: []ots.Cell{cell("b", ots.Boolean(true))}},
	}, got)

	err = tableio.Apply(t.Context(), srv.SDK, "missing", records[:1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), `tableio: record 0 (id=1): PutRow on table "missing"`)
}

func TestReadPageFollowsARangeInPagesWithVersions(t *testing.T) {
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}}
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t", PrimaryKey: schema, MaxVersions: 3})
	pk := func(g string, n int64) []ots.PrimaryKeyColumn {
		return []ots.PrimaryKeyColumn{{ColumnName: "g", Value: ots.String(g)}, {ColumnName: "n", Value: ots.Integer(n)}}
	}
	ts := func(ms int64) *int64 { return &ms }
	base := time.Now().UnixMilli()
	var records []events.Record
	for _, key := range [][]ots.PrimaryKeyColumn{pk("a", -5), pk("a", 3), pk("a", 20), pk("b", 1), pk("c", 0)} {
		records = append(records, events.Record{Type: events.UpdateRow, PrimaryKey: key, Columns: []events.Column{
			{Type: events.Put, ColumnName: "v", Value: ots.Integer(1), Timestamp: ts(base)},
			{Type: events.Put, ColumnName: "v", Value: ots.Integer(2), Timestamp: ts(base + 1)},
			{Type: events.Put, ColumnName: "s", Value: ots.String("x"), Timestamp: ts(base)},
		}})
	}
	require.NoError(t, tableio.Apply(t.Context(), srv.SDK, "t", records))
	versions := []keyrange.Column{
		{Name: "s", Versions: []keyrange.Version{{Value: ots.String("x"), Timestamp: base}}},
		{Name: "v", Versions: []keyrange.Version{{Value: ots.Integer(2), Timestamp: base + 1}, {Value: ots.Integer(1), Timestamp: base}}},
	}

	// The rows whose g is "a" or "b", two a page, every version.
	r := keyrange.Range{Start: pk("a", 0)[:1], End: pk("c", 0)[:1], MaxVersions: 3}
	page, err := keyrange.ReadPage(t.Context(), srv.SDK, "t", schema, r, 2)
	require.NoError(t, err)
	assert.Equal(t, []keyrange.VersionedRow{{PrimaryKey: pk("a", -5), Columns: versions}, {PrimaryKey: pk("a", 3), Columns: versions}}, page.Rows)
	assert.Equal(t, pk("a", 20), page.Next)
	r.Start = page.Next
	page, err = keyrange.ReadPage(t.Context(), srv.SDK, "t", schema, r, 2)
	require.NoError(t, err)
	assert.Equal(t, []keyrange.VersionedRow{{PrimaryKey: pk("a", 20), Columns: versions}, {PrimaryKey: pk("b", 1), Columns: versions}}, page.Rows)

	// A full start key, the table's end, the latest version only, then keys only.
	page, err = keyrange.ReadPage(t.Context(), srv.SDK, "t", schema, keyrange.Range{Start: pk("b", 1)}, 10)
	require.NoError(t, err)
	require.Len(t, page.Rows, 2)
	assert.Nil(t, page.Next)
	assert.Equal(t, []ots.Cell{cell("s", ots.String("x")), cell("v", ots.Integer(2))}, page.Rows[1].Latest())
	assert.Len(t, page.Rows[1].Columns[1].Versions, 1, "MaxVersions 0 reads the newest version")
	page, err = keyrange.ReadPage(t.Context(), srv.SDK, "t", schema, keyrange.Range{KeysOnly: true}, 0)
	require.NoError(t, err)
	require.Len(t, page.Rows, 5)
	assert.Equal(t, keyrange.VersionedRow{PrimaryKey: pk("a", -5)}, page.Rows[0])

	// Columns selects the columns read; a row holding none of them is not read.
	require.NoError(t, tableio.Apply(t.Context(), srv.SDK, "t", []events.Record{put(pk("d", 0), cell("v", ots.Integer(7)))}))
	page, err = keyrange.ReadPage(t.Context(), srv.SDK, "t", schema, keyrange.Range{Columns: []string{"s"}}, 0)
	require.NoError(t, err)
	require.Len(t, page.Rows, 5, "not the row holding v alone")
	for _, row := range page.Rows {
		assert.Equal(t, versions[:1], row.Columns)
	}
}

func TestReadPageRejectsBadBounds(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t"})
	id := func(v ots.Value) []ots.PrimaryKeyColumn { return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: v}} }
	read := func(r keyrange.Range) error {
		_, err := keyrange.ReadPage(t.Context(), srv.SDK, "t", idKey, r, 10)
		return err
	}
	assert.ErrorContains(t, read(keyrange.Range{Start: []ots.PrimaryKeyColumn{{ColumnName: "other", Value: ots.Integer(1)}}}),
		`table "t": range start: primary key column 1 is "id", not "other"`)
	assert.ErrorContains(t, read(keyrange.Range{End: append(id(ots.Integer(1)), id(ots.Integer(2))...)}),
		`table "t": range end: 2 primary key columns given, the table has 1`)
	assert.ErrorContains(t, read(keyrange.Range{Start: id(ots.Double(1))}), "only INTEGER, STRING and BINARY are allowed")

	var otsErr *sdk.OtsError
	err := read(keyrange.Range{Start: id(ots.String("1"))})
	require.ErrorAs(t, err, &otsErr, "a value of the wrong type is Tablestore's to refuse")
	assert.Equal(t, "OTSInvalidPK", otsErr.Code)
	err = read(keyrange.Range{Start: id(ots.Integer(5)), End: id(ots.Integer(5))})
	require.ErrorAs(t, err, &otsErr, "an empty range is Tablestore's to refuse")
	assert.Contains(t, err.Error(), `GetRange on table "t"`)
}

func TestCountStopsAtTheLimit(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t"}, otslocaltest.Table{Name: "empty"})
	var records []events.Record
	for i := range int64(7) {
		records = append(records, put([]ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(i)}}, cell("v", ots.Integer(i))))
	}
	require.NoError(t, tableio.Apply(t.Context(), srv.SDK, "t", records))
	for _, c := range []struct {
		table    string
		limit    int
		n        int
		complete bool
	}{{"t", 0, 7, true}, {"t", 100, 7, true}, {"t", 5, 5, false}, {"empty", 0, 0, true}} {
		n, complete, err := tableio.Count(t.Context(), srv.SDK, c.table, idKey, c.limit)
		require.NoError(t, err)
		assert.Equal(t, c.n, n, "%+v", c)
		assert.Equal(t, c.complete, complete, "%+v", c)
	}
	_, _, err := tableio.Count(t.Context(), srv.SDK, "missing", idKey, 0)
	assert.ErrorContains(t, err, "OTSObjectNotExist")
}

func TestDescribe(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{},
		otslocaltest.Table{Name: "plain", MaxVersions: 3}, otslocaltest.Table{Name: "streamed", Stream: true})
	d, err := tableio.Describe(t.Context(), srv.SDK, "plain")
	require.NoError(t, err)
	assert.Equal(t, tableio.Description{PrimaryKey: idKey, MaxVersions: 3, TimeToLive: -1}, d)
	d, err = tableio.Describe(t.Context(), srv.SDK, "streamed")
	require.NoError(t, err)
	assert.Equal(t, otslocaltest.StreamExpirationHours, d.StreamExpirationHours)
	_, err = tableio.Describe(t.Context(), srv.SDK, "missing")
	assert.ErrorContains(t, err, `tableio: DescribeTable on table "missing"`)
}

func TestWriteChecksTheRowExistenceExpectation(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t"})
	id := []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}}
	ctx := t.Context()
	conditionFailed := func(err error) bool {
		var otsErr *sdk.OtsError
		return errors.As(err, &otsErr) && otsErr.Code == "OTSConditionCheckFail"
	}
	update := &events.Record{Type: events.UpdateRow, PrimaryKey: id, Columns: []events.Column{
		{Type: events.Put, ColumnName: "level", Value: ots.Integer(1)}, {Type: events.DeleteAllVersions, ColumnName: "gone"}}}
	err := tableio.Write(ctx, srv.SDK, "t", update, sdk.RowExistenceExpectation_EXPECT_EXIST)
	assert.True(t, conditionFailed(err), "%v", err)
	assert.ErrorContains(t, err, `tableio: row (id=1): UpdateRow on table "t"`)

	insert := put(id, cell("level", ots.Integer(3)), cell("gone", ots.String("x")))
	require.NoError(t, tableio.Write(ctx, srv.SDK, "t", &insert, sdk.RowExistenceExpectation_EXPECT_NOT_EXIST))
	err = tableio.Write(ctx, srv.SDK, "t", &insert, sdk.RowExistenceExpectation_EXPECT_NOT_EXIST)
	assert.True(t, conditionFailed(err), "%v", err)
	require.NoError(t, tableio.Write(ctx, srv.SDK, "t", update, sdk.RowExistenceExpectation_EXPECT_EXIST))
	assert.Equal(t, []tableio.Row{{PrimaryKey: id, Columns: []ots.Cell{cell("level", ots.Integer(1))}}}, srv.Scan(t, "t"))

	assert.ErrorContains(t, tableio.Write(ctx, srv.SDK, "t", &events.Record{Type: events.UpdateRow, PrimaryKey: id}, sdk.RowExistenceExpectation_IGNORE),
		"no cells to put or delete")
	require.NoError(t, tableio.Write(ctx, srv.SDK, "t", &events.Record{Type: events.DeleteRow, PrimaryKey: id}, sdk.RowExistenceExpectation_EXPECT_EXIST))
	assert.Empty(t, srv.Scan(t, "t"))
}
