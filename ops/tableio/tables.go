// Package tableio is the operator commands' and the local cloud's access to whole Tablestore
// tables through the official Go SDK: create a table when it is absent, read its primary key
// schema, scan it or read a key range page by page, and re-enact Stream change records on it.
//
// It serves `otsetl sync`, replay and capture, `otsetl local`, the console, the benchmark and
// tests, never the function: the function reads and writes rows by primary key only (package
// tablestore). Every
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
	"strings"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
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

// Version is one version of an attribute column, as a read returns it.
type Version struct {
	// Value is the version's value.
	Value ots.Value
	// Timestamp is the version, Tablestore's cell timestamp: ms since the Unix epoch.
	Timestamp int64
}

// Column is one attribute column of a row read with its versions.
type Column struct {
	// Name is the attribute column's name.
	Name string
	// Versions are the versions read, newest first; never empty.
	Versions []Version
}

// VersionedRow is one row of a [Page]: its primary key and the versions read of each of its
// attribute columns.
type VersionedRow struct {
	// PrimaryKey is the row's primary key in the table's primary key order.
	PrimaryKey []ots.PrimaryKeyColumn
	// Columns are the row's attribute columns sorted by name; none when the read asked for
	// the primary key only.
	Columns []Column
}

// DataSize is the row's data size as Tablestore counts it ([ots.Value.DataSize]): the
// name's length and the value's size of each primary key column and of each version read.
func (r VersionedRow) DataSize() int {
	size := 0
	for _, col := range r.PrimaryKey {
		size += len(col.ColumnName) + col.Value.DataSize()
	}
	for _, col := range r.Columns {
		for _, v := range col.Versions {
			size += len(col.Name) + v.Value.DataSize()
		}
	}
	return size
}

// Latest returns the row with the newest version of each attribute column.
func (r VersionedRow) Latest() Row {
	cells := make([]ots.Cell, len(r.Columns))
	for i, col := range r.Columns {
		cells[i] = ots.Cell{Name: col.Name, Value: col.Versions[0].Value}
	}
	return Row{PrimaryKey: r.PrimaryKey, Columns: cells}
}

// Range is the part of a table, in primary key order, that [ReadPage] reads.
type Range struct {
	// Start is where the range starts, inclusive: the leading columns of a primary key, in
	// the table's order; the columns after them are INF_MIN. Empty: the table's start.
	Start []ots.PrimaryKeyColumn
	// End is where the range ends, exclusive: the leading columns of a primary key, with
	// INF_MIN after them (so End {id: 5} stops before every row whose id is 5). Empty: the
	// table's end (INF_MAX on every column).
	End []ots.PrimaryKeyColumn
	// MaxVersions is how many versions of each attribute column to read, newest first;
	// 0 means 1.
	MaxVersions int
	// KeysOnly reads the primary keys alone (GetRange's columns_to_get names only the
	// primary key columns), as counting rows needs.
	KeysOnly bool
	// Columns, unless KeysOnly is set, are the attribute columns to read (columns_to_get);
	// empty reads every column. A row holding none of them is not read at all.
	Columns []string
	// MaxBytes, when positive, ends a page at the first row that brings the data size of
	// its rows ([VersionedRow.DataSize]) to MaxBytes or more, however few rows it holds: its
	// rows hold less than MaxBytes and one row. Reading it holds one GetRange response (at
	// most 4 MB and one row) besides.
	MaxBytes int
}

// Page is one page of rows that [ReadPage] read.
type Page struct {
	// Rows are the page's rows in primary key order.
	Rows []VersionedRow
	// Next is the primary key of the first row after the page, the Start of the next page;
	// nil when the range holds no more rows.
	Next []ots.PrimaryKeyColumn
}

// ReadPage reads the rows of r in table, whose primary key schema is schema (see
// [PrimaryKey]), in primary key order (INTEGER as signed int64, STRING and BINARY byte-wise):
// GetRange FORWARD, following next_start_primary_key until the page holds limit rows (or
// r.MaxBytes of data) or the range ends. A limit of 0 or less takes one GetRange response,
// whatever it holds (at most 5000 rows or 4 MB). The error names the table; a Start or End with more columns than
// schema, or columns of other names, is an error before any request; Tablestore's own errors
// (a value of the wrong type, a Start not before End) wrap the SDK's *tablestore.OtsError.
func ReadPage(ctx context.Context, client *sdk.TableStoreClient, table string, schema []ots.PrimaryKeySchema, r Range, limit int) (Page, error) {
	start, err := rangeBound(schema, r.Start, (*sdk.PrimaryKey).AddPrimaryKeyColumnWithMinValue)
	if err != nil {
		return Page{}, fmt.Errorf("tableio: table %q: range start: %w", table, err)
	}
	end, err := rangeBound(schema, r.End, (*sdk.PrimaryKey).AddPrimaryKeyColumnWithMinValue)
	if len(r.End) == 0 {
		end, err = rangeBound(schema, nil, (*sdk.PrimaryKey).AddPrimaryKeyColumnWithMaxValue)
	}
	if err != nil {
		return Page{}, fmt.Errorf("tableio: table %q: range end: %w", table, err)
	}
	criteria := &sdk.RangeRowQueryCriteria{TableName: table, EndPrimaryKey: end, MaxVersion: int32(max(r.MaxVersions, 1)), Direction: sdk.FORWARD}
	switch {
	case r.KeysOnly:
		for _, col := range schema {
			criteria.ColumnsToGet = append(criteria.ColumnsToGet, col.Name)
		}
	case len(r.Columns) > 0:
		criteria.ColumnsToGet = r.Columns
	}
	var page Page
	size := 0 // the data size of page.Rows
	for next := start; next != nil; {
		if err := ctx.Err(); err != nil {
			return Page{}, fmt.Errorf("tableio: GetRange on table %q: %w", table, err)
		}
		criteria.StartPrimaryKey = next
		criteria.Limit = 0
		if limit > 0 {
			criteria.Limit = int32(min(limit-len(page.Rows), 1<<31-1))
		}
		resp, err := ots.CallSDK(func() (*sdk.GetRangeResponse, error) {
			return client.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: criteria})
		})
		if err != nil {
			return Page{}, fmt.Errorf("tableio: GetRange on table %q: %w", table, err)
		}
		for i, row := range resp.Rows {
			converted, err := versionedRowOf(row)
			if err != nil {
				return Page{}, fmt.Errorf("tableio: GetRange on table %q: %w", table, err)
			}
			page.Rows = append(page.Rows, converted)
			if size += converted.DataSize(); r.MaxBytes > 0 && size >= r.MaxBytes && i+1 < len(resp.Rows) {
				if page.Next, err = ots.PrimaryKeyFromSDK(resp.Rows[i+1].PrimaryKey); err != nil {
					return Page{}, fmt.Errorf("tableio: GetRange on table %q: %w", table, err)
				}
				return page, nil
			}
		}
		next = resp.NextStartPrimaryKey
		if next != nil && (limit <= 0 || len(page.Rows) >= limit || (r.MaxBytes > 0 && size >= r.MaxBytes)) {
			if page.Next, err = ots.PrimaryKeyFromSDK(next); err != nil {
				return Page{}, fmt.Errorf("tableio: GetRange on table %q: next start: %w", table, err)
			}
			break
		}
	}
	return page, nil
}

// ReadColumn reads one version of one attribute column of the row of table with primary key
// key (every column of the table's primary key, in order): the version whose timestamp (ms
// since the Unix epoch) is timestamp, or the newest when timestamp is 0. found is false when
// the row, the column or that version does not exist. It is GetRow with columns_to_get the
// column alone, and a time range of that one version; Tablestore's errors (a key of the
// wrong type) wrap the SDK's *tablestore.OtsError.
func ReadColumn(ctx context.Context, client *sdk.TableStoreClient, table string, key []ots.PrimaryKeyColumn, column string, timestamp int64) (v Version, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return Version{}, false, fmt.Errorf("tableio: GetRow on table %q: %w", table, err)
	}
	pk, err := ots.SDKPrimaryKey(key)
	if err != nil {
		return Version{}, false, fmt.Errorf("tableio: table %q: %w", table, err)
	}
	criteria := &sdk.SingleRowQueryCriteria{TableName: table, PrimaryKey: pk, ColumnsToGet: []string{column}, MaxVersion: 1}
	if timestamp != 0 { // Tablestore takes a specific time or max versions, not both
		criteria.TimeRange, criteria.MaxVersion = &sdk.TimeRange{Specific: timestamp}, 0
	}
	resp, err := ots.CallSDK(func() (*sdk.GetRowResponse, error) {
		return client.GetRow(&sdk.GetRowRequest{SingleRowQueryCriteria: criteria})
	})
	if err != nil {
		return Version{}, false, fmt.Errorf("tableio: GetRow on table %q: %w", table, err)
	}
	for _, col := range resp.Columns {
		if col.ColumnName != column {
			continue
		}
		value, err := ots.ValueOf(col.Value)
		if err != nil {
			return Version{}, false, fmt.Errorf("tableio: GetRow on table %q: row (%s): attribute column %q: %w", table, ots.FormatPrimaryKey(key), column, err)
		}
		return Version{Value: value, Timestamp: col.Timestamp}, true, nil
	}
	return Version{}, false, nil
}

// rangeBound builds a GetRange bound: the columns of prefix, which must follow schema's
// names in order, then fill (INF_MIN or INF_MAX) on the rest of schema's columns.
func rangeBound(schema []ots.PrimaryKeySchema, prefix []ots.PrimaryKeyColumn, fill func(*sdk.PrimaryKey, string)) (*sdk.PrimaryKey, error) {
	if len(prefix) > len(schema) {
		return nil, fmt.Errorf("%d primary key columns given, the table has %d", len(prefix), len(schema))
	}
	bound := new(sdk.PrimaryKey)
	if len(prefix) > 0 {
		given, err := ots.SDKPrimaryKey(prefix)
		if err != nil {
			return nil, err
		}
		bound = given
	}
	for i, col := range schema {
		if i < len(prefix) {
			if prefix[i].ColumnName != col.Name {
				return nil, fmt.Errorf("primary key column %d is %q, not %q", i+1, col.Name, prefix[i].ColumnName)
			}
			continue
		}
		fill(bound, col.Name)
	}
	return bound, nil
}

// Scan returns every row of table in primary key order (INTEGER as signed int64, STRING and
// BINARY byte-wise), latest versions only: [ReadPage] from the table's start, page after
// page. It reads the primary key schema with DescribeTable first. Meant for printing and
// checking small tables: it holds the whole table in memory.
func Scan(ctx context.Context, client *sdk.TableStoreClient, table string) ([]Row, error) {
	schema, err := PrimaryKey(ctx, client, table)
	if err != nil {
		return nil, err
	}
	var out []Row
	r := Range{}
	for {
		page, err := ReadPage(ctx, client, table, schema, r, 0)
		if err != nil {
			return nil, err
		}
		for _, row := range page.Rows {
			out = append(out, row.Latest())
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
	r := Range{KeysOnly: true}
	for {
		page, err := ReadPage(ctx, client, table, schema, r, limit-n)
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

// versionedRowOf converts one row of a GetRange response, whose versions of a column
// Tablestore lists newest first.
func versionedRowOf(row *sdk.Row) (VersionedRow, error) {
	if row.PrimaryKey == nil {
		return VersionedRow{}, errors.New("a row without a primary key")
	}
	pk, err := ots.PrimaryKeyFromSDK(row.PrimaryKey)
	if err != nil {
		return VersionedRow{}, err
	}
	out := VersionedRow{PrimaryKey: pk}
	index := map[string]int{}
	for _, col := range row.Columns {
		v, err := ots.ValueOf(col.Value)
		if err != nil {
			return VersionedRow{}, fmt.Errorf("row (%s): attribute column %q: %w", ots.FormatPrimaryKey(pk), col.ColumnName, err)
		}
		version := Version{Value: v, Timestamp: col.Timestamp}
		if i, ok := index[col.ColumnName]; ok {
			out.Columns[i].Versions = append(out.Columns[i].Versions, version)
			continue
		}
		index[col.ColumnName] = len(out.Columns)
		out.Columns = append(out.Columns, Column{Name: col.ColumnName, Versions: []Version{version}})
	}
	slices.SortStableFunc(out.Columns, func(a, b Column) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
