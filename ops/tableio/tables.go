// Package tableio is the operator commands' and the local cloud's access to whole Tablestore
// tables through the official Go SDK: create a table when it is absent, read its primary key
// schema, scan or count it (page by page with [keyrange.ReadPage]), and re-enact Stream
// change records on it.
//
// It serves `otsetl sync`, replay and capture, `otsetl local`, the console, the benchmark and
// tests, never the function. Every
// call takes an SDK client (github.com/aliyun/aliyun-tablestore-go-sdk/tablestore) and relies
// on the SDK's own retries (its TableStoreConfig) for transient errors; a panic of the SDK on
// a malformed response becomes an error ([ots.CallSDK]). The SDK's calls take no context:
// ctx is checked between requests.
package tableio

import (
	"context"
	"errors"
	"fmt"
	"slices"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/keyrange"
	"github.com/otsetl/otsetl/ots"
)

// codeObjectAlreadyExist answers CreateTable for a table that exists (Tablestore error code
// reference).
const codeObjectAlreadyExist = "OTSObjectAlreadyExist"

// NewClient returns an SDK client of the instance at endpoint, signing with creds, with the
// SDK's default configuration (tablestore/model.go NewDefaultTableStoreConfig: retries within
// 5 s, 30 s request timeout).
func NewClient(endpoint, instance string, creds aliyun.Credentials) *sdk.TableStoreClient {
	return sdk.NewClientWithConfig(endpoint, instance, creds.AccessKeyID, creds.AccessKeySecret, creds.SecurityToken, nil)
}

// Options are the options of a table [Ensure] creates.
type Options struct {
	// MaxVersions is how many versions of each column the table keeps; 0 means 1.
	MaxVersions int
	// DeviationCellVersionInSec is how far, in seconds, an explicit cell version (timestamp)
	// may lie from the server's clock; 0 means Tablestore's default, 86400 (one day).
	DeviationCellVersionInSec int64
	// StreamExpirationHours, when positive, enables the table's Stream, keeping its records
	// this many hours (Tablestore allows 1 to 168); 0 creates the table without a Stream.
	StreamExpirationHours int
}

// Ensure creates table name with the primary key pk (1 to 4 columns), the options opts, data
// that never expires (time to live -1) and no reserved throughput. A table that exists
// already (OTSObjectAlreadyExist) is success if its primary key is pk and, when opts asks
// for a Stream, its Stream is enabled; otherwise it is an error naming both schemas, or the
// missing Stream. An existing table's options are left as they are.
func Ensure(ctx context.Context, client *sdk.TableStoreClient, name string, pk []ots.PrimaryKeySchema, opts Options) error {
	if name == "" {
		return errors.New("tableio: empty table name")
	}
	if len(pk) == 0 {
		return fmt.Errorf("tableio: table %q: no primary key columns", name)
	}
	meta := &sdk.TableMeta{TableName: name}
	for _, col := range pk {
		t, err := ots.SDKPrimaryKeyType(col.Type)
		if err != nil {
			return fmt.Errorf("tableio: table %q: column %q: %w", name, col.Name, err)
		}
		meta.AddPrimaryKeyColumn(col.Name, t)
	}
	req := &sdk.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &sdk.TableOption{TimeToAlive: -1, MaxVersion: max(opts.MaxVersions, 1), DeviationCellVersionInSec: opts.DeviationCellVersionInSec},
		ReservedThroughput: &sdk.ReservedThroughput{},
	}
	if opts.StreamExpirationHours > 0 {
		req.StreamSpec = &sdk.StreamSpecification{EnableStream: true, ExpirationTime: int32(opts.StreamExpirationHours)}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := ots.CallSDK(func() (*sdk.CreateTableResponse, error) { return client.CreateTable(req) })
	var otsErr *sdk.OtsError
	if err == nil || !errors.As(err, &otsErr) || otsErr.Code != codeObjectAlreadyExist {
		if err != nil {
			return fmt.Errorf("tableio: CreateTable on table %q: %w", name, err)
		}
		return nil
	}
	existing, err := Describe(ctx, client, name)
	if err != nil {
		return err
	}
	if !slices.Equal(existing.PrimaryKey, pk) {
		return fmt.Errorf("tableio: table %q exists with primary key (%s), not (%s)", name, ots.FormatSchema(existing.PrimaryKey), ots.FormatSchema(pk))
	}
	if opts.StreamExpirationHours > 0 && existing.StreamExpirationHours == 0 {
		return fmt.Errorf("tableio: table %q exists without a Stream; enable its Stream (UpdateTable with a StreamSpecification) and start again", name)
	}
	return nil
}

// Description is what DescribeTable tells of a table.
type Description struct {
	// PrimaryKey is the table's primary key schema, in order.
	PrimaryKey []ots.PrimaryKeySchema
	// MaxVersions is how many versions of each attribute column the table keeps.
	MaxVersions int
	// TimeToLive is how long data lives, in seconds; -1: for ever.
	TimeToLive int
	// StreamExpirationHours is how long the table's Stream keeps its records, in hours;
	// 0 when the Stream is not enabled.
	StreamExpirationHours int
}

// Describe describes table with DescribeTable.
func Describe(ctx context.Context, client *sdk.TableStoreClient, table string) (Description, error) {
	if err := ctx.Err(); err != nil {
		return Description{}, err
	}
	resp, err := ots.CallSDK(func() (*sdk.DescribeTableResponse, error) {
		return client.DescribeTable(&sdk.DescribeTableRequest{TableName: table})
	})
	if err != nil {
		return Description{}, fmt.Errorf("tableio: DescribeTable on table %q: %w", table, err)
	}
	if resp.TableMeta == nil || resp.TableOption == nil {
		return Description{}, fmt.Errorf("tableio: DescribeTable on table %q: the response has no table meta or options", table)
	}
	d := Description{
		PrimaryKey:  make([]ots.PrimaryKeySchema, 0, len(resp.TableMeta.SchemaEntry)),
		MaxVersions: resp.TableOption.MaxVersion,
		TimeToLive:  resp.TableOption.TimeToAlive,
	}
	for _, entry := range resp.TableMeta.SchemaEntry {
		if entry == nil || entry.Name == nil || entry.Type == nil {
			return Description{}, fmt.Errorf("tableio: DescribeTable on table %q: incomplete primary key schema entry", table)
		}
		kind, err := ots.KindOfSDKPrimaryKeyType(*entry.Type)
		if err != nil {
			return Description{}, fmt.Errorf("tableio: DescribeTable on table %q: column %q: %w", table, *entry.Name, err)
		}
		d.PrimaryKey = append(d.PrimaryKey, ots.PrimaryKeySchema{Name: *entry.Name, Type: kind})
	}
	if resp.StreamDetails != nil && resp.StreamDetails.EnableStream {
		d.StreamExpirationHours = int(resp.StreamDetails.ExpirationTime)
	}
	return d, nil
}

// PrimaryKey returns table's primary key schema, from DescribeTable ([Describe]).
func PrimaryKey(ctx context.Context, client *sdk.TableStoreClient, table string) ([]ots.PrimaryKeySchema, error) {
	d, err := Describe(ctx, client, table)
	return d.PrimaryKey, err
}

// Row is one row of a table scan.
type Row struct {
	// PrimaryKey is the row's primary key in the table's primary key order.
	PrimaryKey []ots.PrimaryKeyColumn
	// Columns are the row's attribute columns, latest version only, sorted by name.
	Columns []ots.Cell
}

// ReadColumn reads one version of one attribute column of the row of table with primary key
// key (every column of the table's primary key, in order): the version whose timestamp (ms
// since the Unix epoch) is timestamp, or the newest when timestamp is 0. found is false when
// the row, the column or that version does not exist. It is GetRow with columns_to_get the
// column alone, and a time range of that one version; Tablestore's errors (a key of the
// wrong type) wrap the SDK's *tablestore.OtsError.
func ReadColumn(ctx context.Context, client *sdk.TableStoreClient, table string, key []ots.PrimaryKeyColumn, column string, timestamp int64) (v keyrange.Version, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return keyrange.Version{}, false, fmt.Errorf("tableio: GetRow on table %q: %w", table, err)
	}
	pk, err := ots.SDKPrimaryKey(key)
	if err != nil {
		return keyrange.Version{}, false, fmt.Errorf("tableio: table %q: %w", table, err)
	}
	criteria := &sdk.SingleRowQueryCriteria{TableName: table, PrimaryKey: pk, ColumnsToGet: []string{column}, MaxVersion: 1}
	if timestamp != 0 { // Tablestore takes a specific time or max versions, not both
		criteria.TimeRange, criteria.MaxVersion = &sdk.TimeRange{Specific: timestamp}, 0
	}
	resp, err := ots.CallSDK(func() (*sdk.GetRowResponse, error) {
		return client.GetRow(&sdk.GetRowRequest{SingleRowQueryCriteria: criteria})
	})
	if err != nil {
		return keyrange.Version{}, false, fmt.Errorf("tableio: GetRow on table %q: %w", table, err)
	}
	for _, col := range resp.Columns {
		if col.ColumnName != column {
			continue
		}
		value, err := ots.ValueOf(col.Value)
		if err != nil {
			return keyrange.Version{}, false, fmt.Errorf("tableio: GetRow on table %q: row (%s): attribute column %q: %w", table, ots.FormatPrimaryKey(key), column, err)
		}
		return keyrange.Version{Value: value, Timestamp: col.Timestamp}, true, nil
	}
	return keyrange.Version{}, false, nil
}

// Scan returns every row of table in primary key order (INTEGER as signed int64, STRING and
// BINARY byte-wise), latest versions only: [keyrange.ReadPage] from the table's start, page after
// page. It reads the primary key schema with DescribeTable first. Meant for printing and
// checking small tables: it holds the whole table in memory.
func Scan(ctx context.Context, client *sdk.TableStoreClient, table string) ([]Row, error) {
	schema, err := PrimaryKey(ctx, client, table)
	if err != nil {
		return nil, err
	}
	var out []Row
	r := keyrange.Range{}
	for {
		page, err := keyrange.ReadPage(ctx, client, table, schema, r, 0)
		if err != nil {
			return nil, err
		}
		for _, row := range page.Rows {
			out = append(out, Row{PrimaryKey: row.PrimaryKey, Columns: row.Latest()})
		}
		if page.Next == nil {
			return out, nil
		}
		r.Start = page.Next
	}
}

// Count counts the rows of table, whose primary key schema is schema, reading primary keys
// only, page by page. With limit > 0 it stops at limit rows and then reports complete false:
// the table has limit rows or more; with limit 0 it counts every row.
func Count(ctx context.Context, client *sdk.TableStoreClient, table string, schema []ots.PrimaryKeySchema, limit int) (n int, complete bool, err error) {
	r := keyrange.Range{KeysOnly: true}
	for {
		page, err := keyrange.ReadPage(ctx, client, table, schema, r, limit-n)
		if err != nil {
			return 0, false, err
		}
		n += len(page.Rows)
		if page.Next == nil {
			return n, true, nil
		}
		if limit > 0 && n >= limit {
			return n, false, nil
		}
		r.Start = page.Next
	}
}
