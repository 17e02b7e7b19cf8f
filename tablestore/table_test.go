package tablestore

import (
	"math/rand/v2"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

func TestNewClientValidatesTheConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no endpoint":          {Instance: "i"},
		"no scheme":            {Endpoint: "127.0.0.1:80", Instance: "i"},
		"ftp":                  {Endpoint: "ftp://host", Instance: "i"},
		"no host":              {Endpoint: "http://", Instance: "i"},
		"path":                 {Endpoint: "http://host/v1", Instance: "i"},
		"query":                {Endpoint: "http://host?x=1", Instance: "i"},
		"user":                 {Endpoint: "http://me@host", Instance: "i"},
		"no instance":          {Endpoint: "http://host"},
		"negative concurrency": {Endpoint: "http://host", Instance: "i", MaxConcurrentRequests: -1},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(cfg, testCreds)
			require.Error(t, err)
			assert.Nil(t, c)
			assertNoSecrets(t, err.Error())
		})
	}
	c, err := NewClient(Config{Endpoint: "https://inst.cn-hangzhou.vpc.tablestore.aliyuncs.com/", Instance: "inst"}, testCreds)
	require.NoError(t, err)
	assert.Equal(t, "https://inst.cn-hangzhou.vpc.tablestore.aliyuncs.com", c.endpoint, "the trailing slash is dropped")
	assert.Equal(t, DefaultMaxConcurrentRequests, c.maxConcurrent)
}

func TestEnsureTableCreatesOnceAndChecksTheSchema(t *testing.T) {
	srv := startServer(t)
	c := newTestClient(t, srv.Endpoint, 0)
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}, {Name: "b", Type: ots.KindBinary}}
	require.NoError(t, c.EnsureTable(t.Context(), "t", schema, TableOptions{}))
	require.NoError(t, c.EnsureTable(t.Context(), "t", schema, TableOptions{}), "an existing table with the same primary key is fine")

	resp, err := sdkClient(srv.Endpoint).DescribeTable(&sdk.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, 1, resp.TableOption.MaxVersion)
	assert.Equal(t, -1, resp.TableOption.TimeToAlive)
	require.Len(t, resp.TableMeta.SchemaEntry, 3)
	assert.Equal(t, "g", *resp.TableMeta.SchemaEntry[0].Name)
	assert.Equal(t, sdk.PrimaryKeyType_STRING, *resp.TableMeta.SchemaEntry[0].Type)

	err = c.EnsureTable(t.Context(), "t", idSchema, TableOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `table "t" exists with primary key (g STRING, n INTEGER, b BINARY), not (id INTEGER)`)
}

func TestEnsureTableRejectsBadSchemas(t *testing.T) {
	srv := startServer(t)
	c := newTestClient(t, srv.Endpoint, 0)
	assert.ErrorContains(t, c.EnsureTable(t.Context(), "t", nil, TableOptions{}), "no primary key columns")
	assert.ErrorContains(t, c.EnsureTable(t.Context(), "t", []ots.PrimaryKeySchema{{Name: "d", Type: ots.KindDouble}}, TableOptions{}), "primary key type DOUBLE")
	assert.ErrorContains(t, c.EnsureTable(t.Context(), "", idSchema, TableOptions{}), "empty table name")
	err := c.EnsureTable(t.Context(), "t", []ots.PrimaryKeySchema{{Name: "a", Type: ots.KindInteger}, {Name: "b", Type: ots.KindInteger},
		{Name: "c", Type: ots.KindInteger}, {Name: "d", Type: ots.KindInteger}, {Name: "e", Type: ots.KindInteger}}, TableOptions{})
	require.Error(t, err, "Tablestore allows 1 to 4 primary key columns")
	assert.Contains(t, err.Error(), `CreateTable on table "t"`)
}

func TestScanReturnsRowsInPrimaryKeyOrder(t *testing.T) {
	srv := startServer(t)
	c := newTestClient(t, srv.Endpoint, 0)
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}}
	require.NoError(t, c.EnsureTable(t.Context(), "t", schema, TableOptions{}))

	pk := func(g string, n int64) []ots.PrimaryKeyColumn {
		return []ots.PrimaryKeyColumn{{ColumnName: "g", Value: ots.String(g)}, {ColumnName: "n", Value: ots.Integer(n)}}
	}
	want := []ScannedRow{
		{PrimaryKey: pk("", 0), Columns: []ots.Cell{cell("v", ots.Integer(0))}},
		{PrimaryKey: pk("a", -5), Columns: []ots.Cell{cell("v", ots.Integer(1))}},
		{PrimaryKey: pk("a", 3), Columns: []ots.Cell{cell("v", ots.Integer(2)), cell("w", ots.String("x"))}},
		{PrimaryKey: pk("a", 20), Columns: []ots.Cell{cell("v", ots.Integer(3))}},
		{PrimaryKey: pk("b", -100), Columns: []ots.Cell{cell("v", ots.Integer(4))}},
		{PrimaryKey: pk("ba", 1), Columns: []ots.Cell{cell("v", ots.Integer(5))}},
	}
	muts := make([]transform.Mutation, len(want))
	for i, row := range want {
		muts[i] = transform.Mutation{Kind: transform.MutationPut, PrimaryKey: row.PrimaryKey, Columns: row.Columns}
	}
	rand.Shuffle(len(muts), func(i, j int) { muts[i], muts[j] = muts[j], muts[i] })
	seed(t, c, "t", muts...)

	got, err := c.Scan(t.Context(), "t")
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestScanFollowsPages(t *testing.T) {
	_, c := newTable(t, "t")
	// GetRange returns at most 5000 rows a response.
	const n = 5200
	muts := make([]transform.Mutation, n)
	for i := range muts {
		muts[i] = put(int64(n-i), cell("v", ots.Integer(int64(i))))
	}
	seed(t, c, "t", muts...)
	got, err := c.Scan(t.Context(), "t")
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, row := range got {
		require.Equal(t, key(int64(i+1)), row.PrimaryKey)
	}
}

func TestScanMissingTable(t *testing.T) {
	srv := startServer(t)
	c := newTestClient(t, srv.Endpoint, 0)
	_, err := c.Scan(t.Context(), "nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `DescribeTable on table "nope"`)
	assert.Contains(t, err.Error(), "OTSObjectNotExist")
}
