package events

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
)

// updateRowFixtureHex is an RFC 8949 encoding of the documented event shape (shortest heads,
// definite lengths, keys in documented order): one UpdateRow of PK id="u1" with level Put 2,
// old DeleteOneVersion and gone DeleteAllVersions. 262 bytes.
const updateRowFixtureHex = "a26756657273696f6e6753796e632d7631675265636f72647381a4645479706569557064617465526f77" +
	"64496e666fa16954696d657374616d701b00055a13f17a12246a5072696d6172794b657981a26a436f6c756d6e4e616d6562" +
	"69646556616c756562753167436f6c756d6e7383a46454797065635075746a436f6c756d6e4e616d65656c6576656c655661" +
	"6c7565026954696d657374616d701b0000015ebd6cec0da364547970657044656c6574654f6e6556657273696f6e6a436f6c" +
	"756d6e4e616d65636f6c646954696d657374616d701b0000015ebd6cec0da264547970657144656c657465416c6c56657273" +
	"696f6e736a436f6c756d6e4e616d6564676f6e65"

func updateRowFixture(t testing.TB) []byte {
	t.Helper()
	b, err := hex.DecodeString(updateRowFixtureHex)
	require.NoError(t, err)
	require.Len(t, b, 262)
	return b
}

// cborOf encodes a payload tree with fxamacker/cbor's defaults.
func cborOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	require.NoError(t, err)
	return b
}

// jsonOf encodes a payload tree with encoding/json.
func jsonOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func ptr(v int64) *int64 { return &v }

// requireSameEvent asserts that got holds what want holds, comparing values by kind and
// bits (so -0.0 differs from 0.0 and NaN equals NaN) and ignoring Record.Raw.
func requireSameEvent(t testing.TB, want, got *Event) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, want.Version, got.Version)
	require.Len(t, got.Records, len(want.Records))
	for i := range want.Records {
		w, g := want.Records[i], got.Records[i]
		require.Equal(t, w.Type, g.Type, "record %d", i)
		require.Equal(t, w.Info, g.Info, "record %d", i)
		require.Len(t, g.PrimaryKey, len(w.PrimaryKey), "record %d", i)
		for j := range w.PrimaryKey {
			require.Equal(t, w.PrimaryKey[j].ColumnName, g.PrimaryKey[j].ColumnName, "record %d PrimaryKey[%d]", i, j)
			require.True(t, w.PrimaryKey[j].Value.Equal(g.PrimaryKey[j].Value),
				"record %d PrimaryKey[%d]: want %v %v, got %v %v", i, j,
				w.PrimaryKey[j].Value.Kind(), w.PrimaryKey[j].Value, g.PrimaryKey[j].Value.Kind(), g.PrimaryKey[j].Value)
		}
		require.Len(t, g.Columns, len(w.Columns), "record %d", i)
		for j := range w.Columns {
			wc, gc := w.Columns[j], g.Columns[j]
			require.Equal(t, wc.Type, gc.Type, "record %d Columns[%d]", i, j)
			require.Equal(t, wc.ColumnName, gc.ColumnName, "record %d Columns[%d]", i, j)
			require.Equal(t, wc.Timestamp, gc.Timestamp, "record %d Columns[%d]", i, j)
			require.True(t, wc.Value.Equal(gc.Value), "record %d Columns[%d]: want %v %v, got %v %v", i, j,
				wc.Value.Kind(), wc.Value, gc.Value.Kind(), gc.Value)
		}
	}
}
