package ots

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTextReadsBackToTheSameValue(t *testing.T) {
	for _, v := range []Value{
		Integer(math.MinInt64), Integer(0), Double(2.5), Double(1e-300), Double(-0.1), Double(3),
		Boolean(true), Boolean(false), String(""), String(" é\n"), Binary(nil), Binary([]byte{0, 0xff}),
	} {
		back, err := ParseText(v.Kind(), v.Text())
		require.NoError(t, err, "%s %q", v.Kind(), v.Text())
		assert.True(t, v.Equal(back), "%s %v came back as %s %v", v.Kind(), v, back.Kind(), back)
	}
	assert.Equal(t, "00ff", Binary([]byte{0, 0xff}).Text())
	assert.Equal(t, "3", Double(3).Text())
	assert.Equal(t, "", Value{}.Text())
	_, err := ParseText(KindNone, "")
	assert.ErrorContains(t, err, "type NONE cannot be written")
}

func TestKindNamed(t *testing.T) {
	for name, want := range map[string]Kind{"INTEGER": KindInteger, "double": KindDouble, "Boolean": KindBoolean, "STRING": KindString, "binary": KindBinary} {
		k, ok := KindNamed(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, k, name)
	}
	for _, name := range []string{"NONE", "", "INT", "BLOB"} {
		_, ok := KindNamed(name)
		assert.False(t, ok, name)
	}
	var primaryKeyKinds []Kind
	for k := KindNone; k <= KindBinary; k++ {
		if k.IsPrimaryKeyKind() {
			primaryKeyKinds = append(primaryKeyKinds, k)
		}
	}
	assert.Equal(t, []Kind{KindInteger, KindString, KindBinary}, primaryKeyKinds)
}
