package replay

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilesExpandsFoldersAndSortsByName(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(a, "0002-b.cbor"), filepath.Join(a, "0004-d.JSON"), filepath.Join(a, "notes.txt"),
		filepath.Join(b, "0001-a.json"), filepath.Join(b, "0003-c.cbor")} {
		require.NoError(t, os.WriteFile(f, []byte("{}"), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(a, "0000-sub.json"), 0o755), "a folder named like an event file is skipped")
	single := filepath.Join(t.TempDir(), "9999-z.bin")
	require.NoError(t, os.WriteFile(single, []byte("{}"), 0o644))

	files, err := Files([]string{a, single, b})
	require.NoError(t, err)
	assert.Equal(t, []string{
		filepath.Join(b, "0001-a.json"), filepath.Join(a, "0002-b.cbor"), filepath.Join(b, "0003-c.cbor"),
		filepath.Join(a, "0004-d.JSON"), single,
	}, files)

	_, err = Files([]string{t.TempDir()})
	assert.ErrorContains(t, err, "no .cbor or .json event files")
	_, err = Files([]string{filepath.Join(a, "missing")})
	assert.Error(t, err)
}
