// Package tables is the local tools' access to whole Tablestore tables through the official
// Go SDK: create a table when it is absent, read its primary key schema, scan it, and
// re-enact Stream change records on it.
//
// It serves the workbench (replay, `otsetl local`, the benchmark and tests), never the
// function: the function reads and writes rows by primary key only (package tablestore). Every
// call takes an SDK client (github.com/aliyun/aliyun-tablestore-go-sdk/tablestore) and relies
// on the SDK's own retries (its TableStoreConfig) for transient errors; a panic of the SDK on
// a malformed response becomes an error ([ots.CallSDK]). The SDK's calls take no context:
// ctx is checked between requests.
package tables

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
// already (OTSObjectAlreadyExist) is success if its primary key is pk, and an error naming
// both schemas otherwise; its options are left as they are.
func Ensure(ctx context.Context, client *sdk.TableStoreClient, name string, pk []ots.PrimaryKeySchema, opts Options) error {
	if name == "" {
		return errors.New("tables: empty table name")
	}
	if len(pk) == 0 {
		return fmt.Errorf("tables: table %q: no primary key columns", name)
	}
	meta := &sdk.TableMeta{TableName: name}
	for _, col := range pk {
		t, err := ots.SDKPrimaryKeyType(col.Type)
		if err != nil {
			return fmt.Errorf("tables: table %q: column %q: %w", name, col.Name, err)
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
			return fmt.Errorf("tables: CreateTable on table %q: %w", name, err)
		}
		return nil
	}
	existing, err := PrimaryKey(ctx, client, name)
	if err != nil {
		return err
	}
	if !slices.Equal(existing, pk) {
		return fmt.Errorf("tables: table %q exists with primary key (%s), not (%s)", name, ots.FormatSchema(existing), ots.FormatSchema(pk))
	}
	return nil
}

// PrimaryKey returns table's primary key schema, from DescribeTable.
func PrimaryKey(ctx context.Context, client *sdk.TableStoreClient, table string) ([]ots.PrimaryKeySchema, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp, err := ots.CallSDK(func() (*sdk.DescribeTableResponse, error) {
		return client.DescribeTable(&sdk.DescribeTableRequest{TableName: table})
	})
	if err != nil {
		return nil, fmt.Errorf("tables: DescribeTable on table %q: %w", table, err)
	}
	if resp.TableMeta == nil {
		return nil, fmt.Errorf("tables: DescribeTable on table %q: the response has no table meta", table)
	}
	pk := make([]ots.PrimaryKeySchema, 0, len(resp.TableMeta.SchemaEntry))
	for _, entry := range resp.TableMeta.SchemaEntry {
		if entry == nil || entry.Name == nil || entry.Type == nil {
			return nil, fmt.Errorf("tables: DescribeTable on table %q: incomplete primary key schema entry", table)
		}
		kind, err := ots.KindOfSDKPrimaryKeyType(*entry.Type)
		if err != nil {
			return nil, fmt.Errorf("tables: DescribeTable on table %q: column %q: %w", table, *entry.Name, err)
		}
		pk = append(pk, ots.PrimaryKeySchema{Name: *entry.Name, Type: kind})
	}
	return pk, nil
}

// Row is one row of a table scan.
type Row struct {
	// PrimaryKey is the row's primary key in the table's primary key order.
	PrimaryKey []ots.PrimaryKeyColumn
	// Columns are the row's attribute columns, latest version only, sorted by name.
	Columns []ots.Cell
}

// Scan returns every row of table in primary key order (INTEGER as signed int64, STRING and
// BINARY byte-wise), latest versions only: GetRange from INF_MIN to INF_MAX, following
// next_start_primary_key page by page. It reads the primary key schema with DescribeTable
// first. Meant for printing and checking small tables: it holds the whole table in memory.
func Scan(ctx context.Context, client *sdk.TableStoreClient, table string) ([]Row, error) {
	schema, err := PrimaryKey(ctx, client, table)
	if err != nil {
		return nil, err
	}
	start, end := new(sdk.PrimaryKey), new(sdk.PrimaryKey)
	for _, col := range schema {
		start.AddPrimaryKeyColumnWithMinValue(col.Name)
		end.AddPrimaryKeyColumnWithMaxValue(col.Name)
	}
	var out []Row
	for start != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tables: GetRange on table %q: %w", table, err)
		}
		criteria := &sdk.RangeRowQueryCriteria{TableName: table, StartPrimaryKey: start, EndPrimaryKey: end, MaxVersion: 1, Direction: sdk.FORWARD}
		resp, err := ots.CallSDK(func() (*sdk.GetRangeResponse, error) {
			return client.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: criteria})
		})
		if err != nil {
			return nil, fmt.Errorf("tables: GetRange on table %q: %w", table, err)
		}
		for _, row := range resp.Rows {
			scanned, err := rowOf(row)
			if err != nil {
				return nil, fmt.Errorf("tables: GetRange on table %q: %w", table, err)
			}
			out = append(out, scanned)
		}
		start = resp.NextStartPrimaryKey
	}
	return out, nil
}

// rowOf converts one row of a GetRange response.
func rowOf(row *sdk.Row) (Row, error) {
	if row.PrimaryKey == nil {
		return Row{}, errors.New("a row without a primary key")
	}
	pk, err := ots.PrimaryKeyFromSDK(row.PrimaryKey)
	if err != nil {
		return Row{}, err
	}
	cells, err := ots.CellsFromSDK(row.Columns)
	if err != nil {
		return Row{}, fmt.Errorf("row (%s): %w", ots.FormatPrimaryKey(pk), err)
	}
	return Row{PrimaryKey: pk, Columns: cells}, nil
}
