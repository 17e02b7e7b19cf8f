package tableio

import (
	"context"
	"errors"
	"fmt"

	"github.com/otsetl/otsetl/ots"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
)

// Apply re-enacts Stream change records on table, one row operation per record in order,
// as the writes that produced them would have done: PutRow puts every cell, UpdateRow puts,
// deletes one version of or deletes all versions of the cells it lists, DeleteRow deletes the
// row; all with RowExistenceExpectation IGNORE. Cells keep their versions (Timestamp, ms):
// the table's deviation setting must admit them (see [Options]); a Put cell without a
// timestamp gets the server's time. It is how local replay gives the source table the state
// production had; the function itself never writes the source table. The first failure
// stops Apply with an error naming the record.
func Apply(ctx context.Context, client *sdk.TableStoreClient, table string, records []events.Record) error {
	if table == "" {
		return errors.New("tableio: Apply: empty table name")
	}
	for i := range records {
		if err := write(ctx, client, table, &records[i], sdk.RowExistenceExpectation_IGNORE); err != nil {
			return fmt.Errorf("tableio: record %d (%s): %w", i, ots.FormatPrimaryKey(records[i].PrimaryKey), err)
		}
	}
	return nil
}

// Write applies one row change to table, as a record describes it (see [Apply]), with the
// row existence expectation cond: IGNORE, EXPECT_EXIST or EXPECT_NOT_EXIST (DeleteRow
// allows IGNORE and EXPECT_EXIST only; Tablestore refuses the other). An UpdateRow without
// cells is an error. A refusal by Tablestore (OTSConditionCheckFail when cond is not met,
// OTSInvalidPK for a primary key that does not match the table's) wraps the SDK's
// *tablestore.OtsError; the error names the operation, the table and the primary key.
func Write(ctx context.Context, client *sdk.TableStoreClient, table string, rec *events.Record, cond sdk.RowExistenceExpectation) error {
	if rec.Type == events.UpdateRow && len(rec.Columns) == 0 {
		return fmt.Errorf("tableio: UpdateRow on table %q (%s): no cells to put or delete", table, ots.FormatPrimaryKey(rec.PrimaryKey))
	}
	if err := write(ctx, client, table, rec, cond); err != nil {
		return fmt.Errorf("tableio: row (%s): %w", ots.FormatPrimaryKey(rec.PrimaryKey), err)
	}
	return nil
}

// write applies rec to table with cond.
func write(ctx context.Context, client *sdk.TableStoreClient, table string, rec *events.Record, cond sdk.RowExistenceExpectation) error {
	op, call, err := recordCall(client, table, rec, cond)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		if _, err = ots.CallSDK(func() (struct{}, error) { return struct{}{}, call() }); err != nil {
			err = fmt.Errorf("%s on table %q: %w", op, table, err)
		}
	}
	return err
}

// recordCall builds the single-row SDK call that applies rec with cond and names its
// operation.
func recordCall(api *sdk.TableStoreClient, table string, rec *events.Record, cond sdk.RowExistenceExpectation) (string, func() error, error) {
	pk, err := ots.SDKPrimaryKey(rec.PrimaryKey)
	if err != nil {
		return "", nil, err
	}
	switch rec.Type {
	case events.PutRow:
		put := &sdk.PutRowChange{TableName: table, PrimaryKey: pk}
		put.SetCondition(cond)
		for _, col := range rec.Columns {
			if col.Type != events.Put || col.Value.IsNone() {
				return "", nil, fmt.Errorf("PutRow cell %q is %s; a PutRow holds Put cells with values", col.ColumnName, col.Type)
			}
			if col.Timestamp != nil {
				put.AddColumnWithTimestamp(col.ColumnName, col.Value.Any(), *col.Timestamp)
			} else {
				put.AddColumn(col.ColumnName, col.Value.Any())
			}
		}
		return "PutRow", func() error { _, err := api.PutRow(&sdk.PutRowRequest{PutRowChange: put}); return err }, nil
	case events.UpdateRow:
		update := &sdk.UpdateRowChange{TableName: table, PrimaryKey: pk}
		update.SetCondition(cond)
		for _, col := range rec.Columns {
			switch {
			case col.Type == events.Put && col.Value.IsNone():
				return "", nil, fmt.Errorf("UpdateRow cell %q is a Put without a value", col.ColumnName)
			case col.Type == events.Put && col.Timestamp != nil:
				update.PutColumnWithTimestamp(col.ColumnName, col.Value.Any(), *col.Timestamp)
			case col.Type == events.Put:
				update.PutColumn(col.ColumnName, col.Value.Any())
			case col.Type == events.DeleteOneVersion && col.Timestamp != nil:
				update.DeleteColumnWithTimestamp(col.ColumnName, *col.Timestamp)
			case col.Type == events.DeleteAllVersions:
				update.DeleteColumn(col.ColumnName)
			default:
				return "", nil, fmt.Errorf("UpdateRow cell %q of type %s cannot be re-enacted", col.ColumnName, col.Type)
			}
		}
		if len(rec.Columns) == 0 {
			return "UpdateRow", func() error { return nil }, nil
		}
		return "UpdateRow", func() error { _, err := api.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: update}); return err }, nil
	case events.DeleteRow:
		del := &sdk.DeleteRowChange{TableName: table, PrimaryKey: pk}
		del.SetCondition(cond)
		return "DeleteRow", func() error { _, err := api.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: del}); return err }, nil
	}
	return "", nil, fmt.Errorf("unknown record type %q", rec.Type)
}
