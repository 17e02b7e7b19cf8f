package tablestore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
)

// TableOptions are the options of a table [Client.EnsureTable] creates.
type TableOptions struct {
	// MaxVersions is how many versions of each column the table keeps; 0 means 1.
	MaxVersions int
	// DeviationCellVersionInSec is how far, in seconds, an explicit cell version (timestamp)
	// may lie from the server's clock; 0 means Tablestore's default, 86400 (one day).
	DeviationCellVersionInSec int64
	// StreamExpirationHours, when positive, enables the table's Stream, keeping its records
	// this many hours (Tablestore allows 1 to 168); 0 creates the table without a Stream.
	StreamExpirationHours int
}

// EnsureTable creates table name with the primary key pk (1 to 4 columns), the options opts,
// data that never expires (time to live -1) and no reserved throughput, as local replay
// needs. A table that exists already (OTSObjectAlreadyExist) is success if its primary key
// is pk, and an error naming both schemas otherwise; its options are left as they are.
// Retryable failures are retried as in [Client.Write].
func (c *Client) EnsureTable(ctx context.Context, name string, pk []ots.PrimaryKeySchema, opts TableOptions) error {
	if name == "" {
		return errors.New("tablestore: EnsureTable: empty table name")
	}
	if len(pk) == 0 {
		return fmt.Errorf("tablestore: EnsureTable %q: no primary key columns", name)
	}
	meta := &sdk.TableMeta{TableName: name}
	for _, col := range pk {
		t, err := toSDKPrimaryKeyType(col.Type)
		if err != nil {
			return fmt.Errorf("tablestore: EnsureTable %q: column %q: %w", name, col.Name, err)
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
	api := c.api(ctx)
	r := newRetrier(ctx)
	err := r.run(ctx, func() (retry, err error) {
		_, err = CallSDK(func() (*sdk.CreateTableResponse, error) { return api.CreateTable(req) })
		return classify("CreateTable", name, err)
	})
	var otsErr *sdk.OtsError
	if !errors.As(err, &otsErr) || otsErr.Code != CodeObjectAlreadyExist {
		return err
	}
	existing, err := describePrimaryKey(ctx, api, r, name)
	if err != nil {
		return err
	}
	if !slices.Equal(existing, pk) {
		return fmt.Errorf("tablestore: table %q exists with primary key (%s), not (%s)", name, ots.FormatSchema(existing), ots.FormatSchema(pk))
	}
	return nil
}

// describePrimaryKey returns table's primary key schema from DescribeTable.
func describePrimaryKey(ctx context.Context, api *sdk.TableStoreClient, r *retrier, table string) ([]ots.PrimaryKeySchema, error) {
	var resp *sdk.DescribeTableResponse
	err := r.run(ctx, func() (retry, err error) {
		resp, err = CallSDK(func() (*sdk.DescribeTableResponse, error) {
			return api.DescribeTable(&sdk.DescribeTableRequest{TableName: table})
		})
		return classify("DescribeTable", table, err)
	})
	if err != nil {
		return nil, err
	}
	if resp.TableMeta == nil {
		return nil, fmt.Errorf("tablestore: DescribeTable on table %q: the response has no table meta", table)
	}
	pk := make([]ots.PrimaryKeySchema, 0, len(resp.TableMeta.SchemaEntry))
	for _, entry := range resp.TableMeta.SchemaEntry {
		if entry == nil || entry.Name == nil || entry.Type == nil {
			return nil, fmt.Errorf("tablestore: DescribeTable on table %q: incomplete primary key schema entry", table)
		}
		kind, err := fromSDKPrimaryKeyType(*entry.Type)
		if err != nil {
			return nil, fmt.Errorf("tablestore: DescribeTable on table %q: column %q: %w", table, *entry.Name, err)
		}
		pk = append(pk, ots.PrimaryKeySchema{Name: *entry.Name, Type: kind})
	}
	return pk, nil
}

// ScannedRow is one row of a table scan.
type ScannedRow struct {
	// PrimaryKey is the row's primary key in the table's primary key order.
	PrimaryKey []ots.PrimaryKeyColumn
	// Columns are the row's attribute columns, latest version only, sorted by name.
	Columns []ots.Cell
}

// Scan returns every row of table in primary key order (INTEGER as signed int64, STRING and
// BINARY byte-wise), latest versions only: GetRange from INF_MIN to INF_MAX, following
// next_start_primary_key page by page. It reads the primary key schema with DescribeTable
// first. Meant for printing small tables in local replay; it holds the whole table in
// memory. Retryable failures are retried as in [Client.Write].
func (c *Client) Scan(ctx context.Context, table string) ([]ScannedRow, error) {
	api := c.api(ctx)
	r := newRetrier(ctx)
	schema, err := describePrimaryKey(ctx, api, r, table)
	if err != nil {
		return nil, err
	}
	start, end := new(sdk.PrimaryKey), new(sdk.PrimaryKey)
	for _, col := range schema {
		start.AddPrimaryKeyColumnWithMinValue(col.Name)
		end.AddPrimaryKeyColumnWithMaxValue(col.Name)
	}
	var out []ScannedRow
	for start != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("tablestore: GetRange on table %q: %w", table, err)
		}
		criteria := &sdk.RangeRowQueryCriteria{TableName: table, StartPrimaryKey: start, EndPrimaryKey: end, MaxVersion: 1, Direction: sdk.FORWARD}
		var resp *sdk.GetRangeResponse
		err := r.run(ctx, func() (retry, err error) {
			resp, err = CallSDK(func() (*sdk.GetRangeResponse, error) {
				return api.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: criteria})
			})
			return classify("GetRange", table, err)
		})
		if err != nil {
			return nil, err
		}
		for _, row := range resp.Rows {
			scanned, err := scannedRow(row)
			if err != nil {
				return nil, fmt.Errorf("tablestore: GetRange on table %q: %w", table, err)
			}
			out = append(out, scanned)
		}
		start = resp.NextStartPrimaryKey
	}
	return out, nil
}

// scannedRow converts one row of a GetRange response.
func scannedRow(row *sdk.Row) (ScannedRow, error) {
	if row.PrimaryKey == nil {
		return ScannedRow{}, errors.New("a row without a primary key")
	}
	pk, err := fromSDKPrimaryKey(row.PrimaryKey)
	if err != nil {
		return ScannedRow{}, err
	}
	cells, err := fromSDKColumns(row.Columns)
	if err != nil {
		return ScannedRow{}, fmt.Errorf("row (%s): %w", ots.FormatPrimaryKey(pk), err)
	}
	return ScannedRow{PrimaryKey: pk, Columns: cells}, nil
}
