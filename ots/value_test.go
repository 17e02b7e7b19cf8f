package ots

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccessorsReportTheKindInsteadOfPanicking(t *testing.T) {
	values := []Value{{}, Integer(7), Double(1.5), Boolean(true), String("s"), Binary([]byte{1})}
	for _, v := range values {
		i, isInt := v.Int()
		f, isDouble := v.Float()
		b, isBool := v.Bool()
		s, isString := v.Str()
		bin, isBinary := v.Bytes()
		assert.Equal(t, v.Kind() == KindInteger, isInt, v.Kind())
		assert.Equal(t, v.Kind() == KindDouble, isDouble, v.Kind())
		assert.Equal(t, v.Kind() == KindBoolean, isBool, v.Kind())
		assert.Equal(t, v.Kind() == KindString, isString, v.Kind())
		assert.Equal(t, v.Kind() == KindBinary, isBinary, v.Kind())
		if !isInt {
			assert.Zero(t, i)
		}
		if !isDouble {
			assert.Zero(t, f)
		}
		if !isBool {
			assert.False(t, b)
		}
		if !isString {
			assert.Empty(t, s)
		}
		if !isBinary {
			assert.Nil(t, bin)
		}
		assert.Equal(t, v.Kind() == KindNone, v.IsNone())
	}
}

func TestValueOfAndAnyRoundTrip(t *testing.T) {
	for _, x := range []any{nil, int64(-3), 2.5, false, "é", []byte{}} {
		v, err := ValueOf(x)
		assert.NoError(t, err)
		assert.Equal(t, x, v.Any())
	}
	_, err := ValueOf(3) // an int, not the SDK's int64
	assert.EqualError(t, err, "ots: unsupported value type int")
}

func TestEqualComparesKindAndBits(t *testing.T) {
	assert.True(t, Double(math.NaN()).Equal(Double(math.NaN())))
	assert.False(t, Double(0).Equal(Double(math.Copysign(0, -1))))
	assert.False(t, Integer(1).Equal(Double(1)))
	assert.False(t, String("1").Equal(Binary([]byte("1"))))
	assert.True(t, Binary(nil).Equal(Binary([]byte{})))
	assert.True(t, Value{}.Equal(Value{}))
}

func TestStringShowsTheType(t *testing.T) {
	for _, c := range []struct {
		value Value
		want  string
	}{
		{Value{}, "<none>"}, {Integer(-5), "-5"}, {Double(2), "2"}, {Boolean(false), "false"}, {String(`a"b`), `"a\"b"`},
	} {
		assert.Equal(t, c.want, c.value.String())
	}
	assert.Equal(t, "0x0aff", Binary([]byte{0x0a, 0xff}).String())
	assert.Equal(t, "DOUBLE", KindDouble.String())
	assert.Equal(t, "Kind(9)", Kind(9).String())
}

func TestBriefCutsLongValuesAndNames(t *testing.T) {
	long := strings.Repeat("é", MaxQuoted) // 2 bytes a rune
	assert.Equal(t, "abc", Brief("abc"))
	cut := Brief(long)
	assert.Len(t, cut, MaxQuoted, "whole runes only")
	assert.True(t, utf8.ValidString(cut))
	assert.Equal(t, "é", Brief("é"), "a short name stays as it is")

	assert.Equal(t, `"short"`, String("short").Brief())
	assert.Equal(t, fmt.Sprintf("%q…(%d bytes)", cut, len(long)), String(long).Brief())
	big := bytes.Repeat([]byte{0xab}, 2<<20)
	brief := Binary(big).Brief()
	assert.Equal(t, "0x"+strings.Repeat("ab", MaxQuoted)+"…(2097152 bytes)", brief)
	assert.Equal(t, len(big)*2+2, len(Binary(big).String()), "String shows everything")
	assert.Equal(t, "42", Integer(42).Brief())
}

func TestValueCut(t *testing.T) {
	cut, ok := String("aé").Cut(2)
	assert.True(t, ok)
	assert.Equal(t, String("a"), cut, "whole runes only")
	cut, ok = Binary([]byte{1, 2, 3}).Cut(2)
	assert.True(t, ok)
	assert.Equal(t, Binary([]byte{1, 2}), cut)
	for _, v := range []Value{String("ab"), Binary([]byte{1, 2}), Integer(123456), Double(1.5), Boolean(true), {}} {
		cut, ok := v.Cut(2)
		assert.False(t, ok, "%v", v)
		assert.Equal(t, v, cut)
	}
}

func TestValueIsCompact(t *testing.T) {
	assert.Equal(t, uintptr(32), unsafe.Sizeof(Value{}), "kind, one word, one string")
}

func TestBinarySharesItsBytes(t *testing.T) {
	b := []byte{1, 2, 3}
	got, ok := Binary(b).Bytes()
	require.True(t, ok)
	assert.Equal(t, unsafe.SliceData(b), unsafe.SliceData(got), "no copy")
	assert.Equal(t, len(b), cap(got), "append copies instead of writing past the value")
	empty, ok := Binary(nil).Bytes()
	assert.True(t, ok)
	assert.NotNil(t, empty)
	assert.Empty(t, empty)
	assert.Equal(t, []byte{}, Binary(nil).Any())
}
