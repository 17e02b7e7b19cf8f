package splits

import (
	"context"
	"errors"
	"fmt"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
)

// The splits asked of ComputeSplitPointsBySize.
const (
	// SplitSizeUnit is the unit of the splits, 1 MiB, the smallest split_size_unit_in_byte
	// the service accepts; a split is one unit.
	SplitSizeUnit = 1 << 20
	// MaxSplits is the split_point_limit of a run's splits: at most this many, whatever the
	// size of the table.
	MaxSplits = 1000
	// MaxFinerSplits is the split_point_limit of the finer cut a split that one task could
	// not finish is cut from (Config.Points).
	MaxFinerSplits = 100_000
)

// Compute asks ComputeSplitPointsBySize for the splits of table of SplitSizeUnit each, at
// most limit of them (the service merges neighbours to keep to it), through the SDK client
// api. The error names the table.
func Compute(ctx context.Context, api *sdk.TableStoreClient, table string, limit int) ([]Bounds, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unit, pointLimit := int64(SplitSizeUnit), int32(limit)
	resp, err := ots.CallSDK(func() (*sdk.ComputeSplitPointsBySizeResponse, error) {
		return api.ComputeSplitPointsBySize(&sdk.ComputeSplitPointsBySizeRequest{
			TableName: table, SplitSize: 1, SplitSizeUnitInByte: &unit, SplitPointLimit: &pointLimit,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: %w", table, err)
	}
	bounds := make([]Bounds, len(resp.Splits))
	for i, sp := range resp.Splits {
		lower, err := prefixOfSDK(sp.LowerBound)
		if err != nil {
			return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: %w", table, err)
		}
		upper, err := prefixOfSDK(sp.UpperBound)
		if err != nil {
			return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: %w", table, err)
		}
		bounds[i] = Bounds{Lower: lower, Upper: upper}
	}
	if len(bounds) == 0 {
		return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: no splits", table)
	}
	return bounds, nil
}

// Points returns the split points of table at its finest (SplitSizeUnit, at most
// MaxFinerSplits splits): the lower bounds of Compute's splits after the first, for
// Config.Points.
func Points(ctx context.Context, api *sdk.TableStoreClient, table string) ([][]ots.PrimaryKeyColumn, error) {
	bounds, err := Compute(ctx, api, table, MaxFinerSplits)
	if err != nil {
		return nil, err
	}
	points := make([][]ots.PrimaryKeyColumn, 0, len(bounds)-1)
	for _, b := range bounds[1:] {
		points = append(points, b.Lower)
	}
	return points, nil
}

// prefixOfSDK converts a split bound the SDK decoded: leading columns with values, then
// only INF_MIN (or, for the end of the last split, only INF_MAX), into the leading columns.
func prefixOfSDK(pk *sdk.PrimaryKey) ([]ots.PrimaryKeyColumn, error) {
	if pk == nil || len(pk.PrimaryKeys) == 0 {
		return nil, errors.New("a split without a bound")
	}
	var prefix []ots.PrimaryKeyColumn
	infinite := sdk.NONE
	for _, col := range pk.PrimaryKeys {
		switch {
		case col.PrimaryKeyOption == sdk.MIN || col.PrimaryKeyOption == sdk.MAX:
			if infinite != sdk.NONE && infinite != col.PrimaryKeyOption {
				return nil, fmt.Errorf("split bound (%v): INF_MIN and INF_MAX together", pk)
			}
			infinite = col.PrimaryKeyOption
		case infinite != sdk.NONE:
			return nil, fmt.Errorf("split bound (%v): a value after an infinite column", pk)
		default:
			v, err := ots.ValueOf(col.Value)
			if err != nil {
				return nil, fmt.Errorf("split bound column %q: %w", col.ColumnName, err)
			}
			prefix = append(prefix, ots.PrimaryKeyColumn{ColumnName: col.ColumnName, Value: v})
		}
	}
	if infinite == sdk.MAX && len(prefix) > 0 {
		return nil, fmt.Errorf("split bound (%v): INF_MAX after a value", pk)
	}
	return prefix, nil
}
