package tablestore

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
)

// sdkRowChange is the oracle of the encoder: the SDK's row change for m, built with the
// SDK's own API as the documented samples do (PutRowChange with IGNORE, DeleteRowChange with
// IGNORE, UpdateRowChange with EXPECT_EXIST, PutColumn and DeleteColumn).
func sdkRowChange(t testing.TB, table string, m ots.RowChange) sdk.RowChange {
	t.Helper()
	pk, err := ots.SDKPrimaryKey(m.PrimaryKey)
	require.NoError(t, err)
	switch m.Kind {
	case ots.PutRow:
		put := &sdk.PutRowChange{TableName: table, PrimaryKey: pk}
		put.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		for _, c := range m.Columns {
			put.AddColumn(c.Name, c.Value.Any())
		}
		return put
	case ots.DeleteRow:
		del := &sdk.DeleteRowChange{TableName: table, PrimaryKey: pk}
		del.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		return del
	case ots.UpdateRowIfExists:
		update := &sdk.UpdateRowChange{TableName: table, PrimaryKey: pk}
		update.SetCondition(sdk.RowExistenceExpectation_EXPECT_EXIST)
		for _, c := range m.Columns {
			if c.Value.IsNone() {
				update.DeleteColumn(c.Name)
			} else {
				update.PutColumn(c.Name, c.Value.Any())
			}
		}
		return update
	}
	t.Fatalf("no SDK row change for %s", m.Kind)
	return nil
}

// encoderCases are row changes with every row kind, primary keys of every type and of one to
// four columns, attribute values of every type, empty and long strings and binaries,
// extreme numbers, delete-column cells and names that are not ASCII.
func encoderCases() []ots.RowChange {
	pk := func(values ...ots.Value) []ots.PrimaryKeyColumn {
		cols := make([]ots.PrimaryKeyColumn, len(values))
		for i, v := range values {
			cols[i] = ots.PrimaryKeyColumn{ColumnName: fmt.Sprintf("pk%d", i), Value: v}
		}
		return cols
	}
	every := []ots.Cell{
		{Name: "b", Value: ots.Boolean(true)}, {Name: "b0", Value: ots.Boolean(false)},
		{Name: "bin", Value: ots.Binary([]byte{0, 1, 0xff})}, {Name: "bin0", Value: ots.Binary(nil)},
		{Name: "d", Value: ots.Double(-0.5)}, {Name: "dmax", Value: ots.Double(math.MaxFloat64)}, {Name: "dneg0", Value: ots.Double(math.Copysign(0, -1))},
		{Name: "i", Value: ots.Integer(math.MinInt64)}, {Name: "imax", Value: ots.Integer(math.MaxInt64)},
		{Name: "s", Value: ots.String("héllo")}, {Name: "s0", Value: ots.String("")}, {Name: "slong", Value: ots.String(strings.Repeat("x", 70000))},
		{Name: "列", Value: ots.Integer(7)},
	}
	return []ots.RowChange{
		{Kind: ots.PutRow, PrimaryKey: pk(ots.Integer(1)), Columns: every},
		{Kind: ots.PutRow, PrimaryKey: pk(ots.Integer(-1)), Columns: nil},
		{Kind: ots.PutRow, PrimaryKey: pk(ots.String("a"), ots.Integer(0), ots.Binary([]byte{9}), ots.String("")), Columns: every[:3]},
		{Kind: ots.PutRow, PrimaryKey: pk(ots.Binary(nil), ots.String(strings.Repeat("k", 1024))), Columns: every[9:]},
		{Kind: ots.DeleteRow, PrimaryKey: pk(ots.Integer(math.MaxInt64))},
		{Kind: ots.DeleteRow, PrimaryKey: pk(ots.String("x"), ots.Binary([]byte("y")), ots.Integer(3))},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: pk(ots.Integer(5)), Columns: append([]ots.Cell{{Name: "gone"}}, every...)},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: pk(ots.String("u"), ots.Integer(2)), Columns: []ots.Cell{{Name: "gone"}, {Name: "also gone"}}},
	}
}

// randomRowChange draws a row change of any writable kind with a primary key of 1–4 columns and
// up to 6 cells of any type (for updates, some without a value).
func randomRowChange(r *rand.Rand) ots.RowChange {
	value := func(kinds ...ots.Kind) ots.Value {
		switch kinds[r.IntN(len(kinds))] {
		case ots.KindInteger:
			return ots.Integer(int64(r.Uint64()))
		case ots.KindDouble:
			return ots.Double(math.Float64frombits(r.Uint64() &^ (0x7ff << 52))) // finite
		case ots.KindBoolean:
			return ots.Boolean(r.IntN(2) == 1)
		case ots.KindString:
			return ots.String(strings.Repeat("sé", r.IntN(40)))
		}
		b := make([]byte, r.IntN(80))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return ots.Binary(b)
	}
	m := ots.RowChange{Kind: []ots.RowChangeKind{ots.PutRow, ots.DeleteRow, ots.UpdateRowIfExists}[r.IntN(3)]}
	for i := range 1 + r.IntN(4) {
		m.PrimaryKey = append(m.PrimaryKey, ots.PrimaryKeyColumn{ColumnName: fmt.Sprintf("k%d", i), Value: value(ots.KindInteger, ots.KindString, ots.KindBinary)})
	}
	if m.Kind == ots.DeleteRow {
		return m
	}
	for i := range r.IntN(7) {
		c := ots.Cell{Name: fmt.Sprintf("c%d_%s", i, strings.Repeat("n", r.IntN(20)))}
		if m.Kind == ots.PutRow || r.IntN(4) > 0 {
			c.Value = value(ots.KindInteger, ots.KindDouble, ots.KindBoolean, ots.KindString, ots.KindBinary)
		}
		m.Columns = append(m.Columns, c)
	}
	return m
}

func TestAppendRowChangeIsTheSDKsSerialization(t *testing.T) {
	cases := encoderCases()
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		cases = append(cases, randomRowChange(r))
	}
	for i, m := range cases {
		want := sdkRowChange(t, "result", m).Serialize()
		got := appendRowChange([]byte("prefix"), m.Kind, m.PrimaryKey, m.Columns)
		require.Equal(t, "prefix", string(got[:6]), "case %d appends", i)
		require.Equal(t, want, got[6:], "case %d: %s of (%s) with %d cells", i, m.Kind, ots.FormatPrimaryKey(m.PrimaryKey), len(m.Columns))
	}
}

func TestCRC8(t *testing.T) {
	require.Equal(t, byte(0xf4), crc8Of(0, "123456789"), "CRC-8/ATM check value")
}
