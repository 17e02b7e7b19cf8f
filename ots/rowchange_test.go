package ots

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRowChangeKindNames(t *testing.T) {
	names := map[RowChangeKind]string{
		PutRow:            "put",
		DeleteRow:         "delete",
		UpdateRowIfExists: "update-if-exists",
		0:                 "RowChangeKind(0)",
		9:                 "RowChangeKind(9)",
	}
	for kind, want := range names {
		assert.Equal(t, want, kind.String())
	}
}
