package console

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
)

func TestTypedValuesRoundTrip(t *testing.T) {
	for _, v := range []ots.Value{
		ots.Integer(math.MinInt64), ots.Integer(0), ots.Double(2.5), ots.Double(1e-300), ots.Double(-0.1), ots.Double(3),
		ots.Boolean(true), ots.Boolean(false), ots.String(""), ots.String("<b>é</b>\n"), ots.Binary(nil), ots.Binary([]byte{0, 0xff}),
	} {
		tv := typedValueOf(v)
		back, err := tv.parse()
		require.NoError(t, err, "%+v", tv)
		assert.True(t, v.Equal(back), "%s %v came back as %s %v", v.Kind(), v, back.Kind(), back)
	}
	assert.Equal(t, TypedValue{Type: "DOUBLE", Value: "3"}, typedValueOf(ots.Double(3)), "the type tells a DOUBLE 3 from an INTEGER 3")
	assert.Equal(t, TypedValue{Type: "BINARY", Value: "00ff"}, typedValueOf(ots.Binary([]byte{0, 0xff})))
	assert.Equal(t, TypedValue{Type: "NONE"}, typedValueOf(ots.Value{}))
}

func TestTypedValueParsing(t *testing.T) {
	for _, c := range []struct {
		in   TypedValue
		want ots.Value
	}{
		{TypedValue{"integer", " 42 "}, ots.Integer(42)},
		{TypedValue{"DOUBLE", "1e-3"}, ots.Double(0.001)},
		{TypedValue{"BOOLEAN", "FALSE"}, ots.Boolean(false)},
		{TypedValue{"STRING", " kept as typed "}, ots.String(" kept as typed ")},
		{TypedValue{"BINARY", "0XAbCd"}, ots.Binary([]byte{0xab, 0xcd})},
		{TypedValue{"BINARY", ""}, ots.Binary(nil)},
	} {
		got, err := c.in.parse()
		require.NoError(t, err, "%+v", c.in)
		assert.True(t, c.want.Equal(got), "%+v gave %s %v", c.in, got.Kind(), got)
	}
	for _, c := range []struct {
		in   TypedValue
		want string
	}{
		{TypedValue{"INTEGER", "9223372036854775808"}, `"9223372036854775808" is not an INTEGER`},
		{TypedValue{"INTEGER", "1.5"}, `"1.5" is not an INTEGER`},
		{TypedValue{"DOUBLE", "1e400"}, `"1e400" is beyond a DOUBLE's range`},
		{TypedValue{"DOUBLE", "Inf"}, "NaN and infinities are refused"},
		{TypedValue{"DOUBLE", "two"}, `"two" is not a DOUBLE: want a number such as 2.5 or 1e-3`},
		{TypedValue{"BOOLEAN", "1"}, `"1" is not a BOOLEAN: want true or false`},
		{TypedValue{"BINARY", "abc"}, `"abc" is not BINARY: want hexadecimal digits, two a byte`},
		{TypedValue{"NONE", ""}, `unknown type "NONE"`},
	} {
		_, err := c.in.parse()
		assert.ErrorContains(t, err, c.want, "%+v", c.in)
	}
}
