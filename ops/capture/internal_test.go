package capture

import (
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ops/streams"
)

func TestParentsFirst(t *testing.T) {
	shards := []streams.Shard{
		{ID: "merged", Parents: []sdk.ShardId{"left", "right"}},
		{ID: "left", Parents: []sdk.ShardId{"root"}},
		{ID: "right", Parents: []sdk.ShardId{"root"}},
		{ID: "root", Parents: []sdk.ShardId{"expired"}},
		{ID: "lone"},
	}
	ordered, err := parentsFirst(shards)
	require.NoError(t, err)
	var ids []sdk.ShardId
	for _, sh := range ordered {
		ids = append(ids, sh.ID)
	}
	assert.Equal(t, []sdk.ShardId{"root", "lone", "left", "right", "merged"}, ids)

	_, err = parentsFirst([]streams.Shard{{ID: "a", Parents: []sdk.ShardId{"b"}}, {ID: "b", Parents: []sdk.ShardId{"a"}}})
	assert.ErrorContains(t, err, "cycle")
}
