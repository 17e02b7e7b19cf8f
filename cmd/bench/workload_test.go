package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/transform"
)

func defaultRule(t testing.TB) *transform.Rule {
	t.Helper()
	rule, err := transform.Compile(transform.Config{})
	require.NoError(t, err)
	return rule
}

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestWorkloadHasTheDocumentedMix(t *testing.T) {
	evs, err := newGenerator(1, start).events(20, 1000, defaultRule(t))
	require.NoError(t, err)
	require.Len(t, evs, 20)

	counts := map[string]int{}
	var puts, passing int
	for _, ev := range evs {
		require.Len(t, ev.records, 1000)
		decoded, err := events.Decode(ev.payload)
		require.NoError(t, err, "the payload is a valid trigger event")
		require.Len(t, decoded.Records, 1000)
		for _, rec := range ev.records {
			switch {
			case rec.Type == events.UpdateRow && rec.Columns[0].ColumnName == "message":
				counts["update message"]++
			case rec.Type == events.UpdateRow:
				counts["update level"]++
			default:
				counts[string(rec.Type)]++
			}
			if rec.Type == events.PutRow {
				puts++
				if sequentialPasses(&rec) {
					passing++
				}
			}
		}
	}
	const total = 20 * 1000
	assert.InDelta(t, putRowPercent, 100*float64(counts["PutRow"])/total, 1)
	assert.InDelta(t, updateMessagePercent, 100*float64(counts["update message"])/total, 1)
	assert.InDelta(t, updateLevelPercent, 100*float64(counts["update level"])/total, 1)
	assert.InDelta(t, 100-putRowPercent-updateMessagePercent-updateLevelPercent, 100*float64(counts["DeleteRow"])/total, 1)
	assert.InDelta(t, 0.5, float64(passing)/float64(puts), 0.02, "about half the rows pass level > 1")
}

func TestWorkloadCountsThePlannedMutations(t *testing.T) {
	rule := defaultRule(t)
	evs, err := newGenerator(2, start).events(3, 500, rule)
	require.NoError(t, err)
	for _, ev := range evs {
		plan := rule.Plan(&events.Event{Version: events.Version, Records: ev.records})
		assert.Equal(t, len(plan.Mutations), ev.mutations)
		assert.Positive(t, ev.mutations)
		assert.Less(t, ev.mutations, 500, "records of one key fold into one mutation")
	}
	assert.Equal(t, (evs[0].mutations+199)/200+(evs[1].mutations+199)/200+(evs[2].mutations+199)/200, expectedWriteRequests(evs))
}

func TestWorkloadIsDeterministicForASeed(t *testing.T) {
	rule := defaultRule(t)
	a, err := newGenerator(7, start).events(2, 300, rule)
	require.NoError(t, err)
	b, err := newGenerator(7, start).events(2, 300, rule)
	require.NoError(t, err)
	c, err := newGenerator(8, start).events(2, 300, rule)
	require.NoError(t, err)
	assert.Equal(t, a[1].payload, b[1].payload)
	assert.NotEqual(t, a[1].payload, c[1].payload)
}

func TestEventOfSize(t *testing.T) {
	const size = 300_000
	ev, err := newGenerator(3, start).eventOfSize(size, defaultRule(t))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(ev.payload), size)
	assert.Less(t, len(ev.payload), size+size/20, "within 5% of the size asked for")
}
