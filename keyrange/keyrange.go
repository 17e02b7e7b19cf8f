// Package keyrange reads a key range of a Tablestore table page by page (GetRange), in primary
// key order, with the versions of each column: the scans of `otsetl sync` (package rangesync,
// in the function and on a user's machine), and the tools' reads of whole tables (package
// tableio, the console, the benchmark).
//
// The requests go through an [API]: the SDK's client, whose own retries apply, or the
// function's Tablestore client ([tablestore.Client.RangeAPI]), which retries transient
// failures within the invocation's deadline. Source: Tablestore API reference, GetRange;
// the Go SDK's tablestore/api.go GetRange.
package keyrange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
)

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

// Latest returns the newest version of each attribute column, sorted by name.
func (r VersionedRow) Latest() []ots.Cell {
	cells := make([]ots.Cell, len(r.Columns))
	for i, col := range r.Columns {
		cells[i] = ots.Cell{Name: col.Name, Value: col.Versions[0].Value}
	}
	return cells
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

// API sends GetRange requests: the SDK's *tablestore.TableStoreClient (its TableStoreConfig
// sets its retries), or the function's client, [tablestore.Client.RangeAPI].
type API interface {
	GetRange(*sdk.GetRangeRequest) (*sdk.GetRangeResponse, error)
}

// ReadPage reads the rows of r in table, whose primary key schema is schema, in primary key
// order (INTEGER as signed int64, STRING and BINARY byte-wise): GetRange FORWARD through api,
// following next_start_primary_key until the page holds limit rows (or r.MaxBytes of data)
// or the range ends. A limit of 0 or less takes one GetRange response, whatever it holds (at
// most 5000 rows or 4 MB). The error names the table; a Start or End with more columns than
// schema, or columns of other names, is an error before any request; Tablestore's own errors
// (a value of the wrong type, a Start not before End) wrap the SDK's *tablestore.OtsError.
func ReadPage(ctx context.Context, api API, table string, schema []ots.PrimaryKeySchema, r Range, limit int) (Page, error) {
	start, err := rangeBound(schema, r.Start, (*sdk.PrimaryKey).AddPrimaryKeyColumnWithMinValue)
	if err != nil {
		return Page{}, fmt.Errorf("keyrange: table %q: range start: %w", table, err)
	}
	end, err := rangeBound(schema, r.End, (*sdk.PrimaryKey).AddPrimaryKeyColumnWithMinValue)
	if len(r.End) == 0 {
		end, err = rangeBound(schema, nil, (*sdk.PrimaryKey).AddPrimaryKeyColumnWithMaxValue)
	}
	if err != nil {
		return Page{}, fmt.Errorf("keyrange: table %q: range end: %w", table, err)
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
			return Page{}, fmt.Errorf("keyrange: GetRange on table %q: %w", table, err)
		}
		criteria.StartPrimaryKey = next
		criteria.Limit = 0
		if limit > 0 {
			criteria.Limit = int32(min(limit-len(page.Rows), 1<<31-1))
		}
		resp, err := ots.CallSDK(func() (*sdk.GetRangeResponse, error) {
			return api.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: criteria})
		})
		if err != nil {
			return Page{}, fmt.Errorf("keyrange: GetRange on table %q: %w", table, err)
		}
		for i, row := range resp.Rows {
			converted, err := versionedRowOf(row)
			if err != nil {
				return Page{}, fmt.Errorf("keyrange: GetRange on table %q: %w", table, err)
			}
			page.Rows = append(page.Rows, converted)
			if size += converted.DataSize(); r.MaxBytes > 0 && size >= r.MaxBytes && i+1 < len(resp.Rows) {
				if page.Next, err = ots.PrimaryKeyFromSDK(resp.Rows[i+1].PrimaryKey); err != nil {
					return Page{}, fmt.Errorf("keyrange: GetRange on table %q: %w", table, err)
				}
				return page, nil
			}
		}
		next = resp.NextStartPrimaryKey
		if next != nil && (limit <= 0 || len(page.Rows) >= limit || (r.MaxBytes > 0 && size >= r.MaxBytes)) {
			if page.Next, err = ots.PrimaryKeyFromSDK(next); err != nil {
				return Page{}, fmt.Errorf("keyrange: GetRange on table %q: next start: %w", table, err)
			}
			break
		}
	}
	return page, nil
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
