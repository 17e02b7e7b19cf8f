package tables_test

import (
	"math/rand/v2"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/otslocal"
	"github.com/otsetl/otsetl/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/tables"
)

var idKey = otslocaltest.IDKey

func cell(name string, v ots.Value) ots.Cell { return ots.Cell{Name: name, Value: v} }

func TestEnsureCreatesOnceAndChecksTheSchema(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}, {Name: "b", Type: ots.KindBinary}}
	require.NoError(t, tables.Ensure(t.Context(), srv.SDK, "t", schema, tables.Options{}))
	require.NoError(t, tables.Ensure(t.Context(), srv.SDK, "t", schema, tables.Options{}), "an existing table with the same primary key is fine")

	resp, err := srv.SDK.DescribeTable(&sdk.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, 1, resp.TableOption.MaxVersion)
	assert.Equal(t, -1, resp.TableOption.TimeToAlive)
	require.Len(t, resp.TableMeta.SchemaEntry, 3)
	assert.Equal(t, "g", *resp.TableMeta.SchemaEntry[0].Name)
	assert.Equal(t, sdk.PrimaryKeyType_STRING, *resp.TableMeta.SchemaEntry[0].Type)

	got, err := tables.PrimaryKey(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	assert.Equal(t, schema, got)

	err = tables.Ensure(t.Context(), srv.SDK, "t", idKey, tables.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `table "t" exists with primary key (g STRING, n INTEGER, b BINARY), not (id INTEGER)`)
}

func TestEnsureRejectsBadSchemas(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	ctx := t.Context()
	assert.ErrorContains(t, tables.Ensure(ctx, srv.SDK, "t", nil, tables.Options{}), "no primary key columns")
	assert.ErrorContains(t, tables.Ensure(ctx, srv.SDK, "t", []ots.PrimaryKeySchema{{Name: "d", Type: ots.KindDouble}}, tables.Options{}), "primary key type DOUBLE")
	assert.ErrorContains(t, tables.Ensure(ctx, srv.SDK, "", idKey, tables.Options{}), "empty table name")
	err := tables.Ensure(ctx, srv.SDK, "t", []ots.PrimaryKeySchema{{Name: "a", Type: ots.KindInteger}, {Name: "b", Type: ots.KindInteger},
		{Name: "c", Type: ots.KindInteger}, {Name: "d", Type: ots.KindInteger}, {Name: "e", Type: ots.KindInteger}}, tables.Options{})
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
	want := []tables.Row{
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
	require.NoError(t, tables.Apply(t.Context(), srv.SDK, "t", records))

	got, err := tables.Scan(t.Context(), srv.SDK, "t")
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
	got, err := tables.Scan(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, row := range got {
		require.Equal(t, []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i + 1))}}, row.PrimaryKey)
	}
}

func TestScanMissingTable(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	_, err := tables.Scan(t.Context(), srv.SDK, "nope")
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
	require.NoError(t, tables.Apply(t.Context(), srv.SDK, "t", records))
	got, err := tables.Scan(t.Context(), srv.SDK, "t")
	require.NoError(t, err)
	assert.Equal(t, []tables.Row{
		{PrimaryKey: id(1), Columns: []ots.Cell{cell("level", ots.Integer(2))}},
		{PrimaryKey: id(3), Columns: []ots.Cell{cell("b", ots.Boolean(true))}},
	}, got)

	err = tables.Apply(t.Context(), srv.SDK, "missing", records[:1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), `tables: record 0 (id=1): PutRow on table "missing"`)
}
