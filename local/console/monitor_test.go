package console

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/fclocal"
)

// clockedMonitor is a Monitor whose clock the test sets.
func clockedMonitor(now *time.Time) *Monitor {
	m := NewMonitor()
	m.now = func() time.Time { return *now }
	return m
}

func success(id string, records int, lagMs int64) fclocal.InvocationReport {
	return fclocal.InvocationReport{
		RequestID: id, Shard: "s", Records: records, Attempt: 1, Latency: 3 * time.Millisecond, Payload: []byte(id),
		Result: []byte(fmt.Sprintf(`{"records":%d,"puts":%d,"lagMs":%d}`, records, records, lagMs)),
	}
}

func TestMonitorSeriesAndTotals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := clockedMonitor(&now)
	m.Record(success("a", 3, 40))
	m.Record(success("b", 2, 90))
	m.Record(fclocal.InvocationReport{RequestID: "c", Records: 5, Attempt: 1, Err: errors.New("connection refused")})
	now = now.Add(2 * time.Second)
	m.Record(fclocal.InvocationReport{RequestID: "d", Records: 1, Attempt: 2, Result: []byte("not json")})
	m.Record(success("e", 1, 10))

	s := m.series()
	require.Len(t, s.Time, seriesSeconds)
	last := seriesSeconds - 1
	assert.Equal(t, now.Unix(), s.Time[last])
	assert.Equal(t, []int64{5, 0, 1}, s.Records[last-2:], "records per second of the successful invocations")
	assert.Equal(t, []int64{1, 0, 1}, s.Failures[last-2:])
	require.NotNil(t, s.LagMs[last-2])
	assert.Equal(t, int64(90), *s.LagMs[last-2], "the highest lag of the second")
	assert.Nil(t, s.LagMs[last-1], "no invocation, no lag point")
	assert.Equal(t, int64(10), *s.LagMs[last])

	list, tot := m.invocations()
	assert.Equal(t, totals{Invocations: 5, Failures: 2, Records: 6, LastError: list[1].Error, LastErrorAt: now.UnixMilli()}, tot)
	require.Len(t, list, 5)
	assert.Equal(t, "e", list[0].RequestID, "newest first")
	assert.Contains(t, list[1].Error, "the function's result is not a summary")
	assert.Nil(t, list[1].Summary)
	assert.Equal(t, "connection refused", list[2].Error)
	assert.Equal(t, 3, list[4].Summary.Puts)
	assert.Equal(t, int64(3), list[4].DurationMs)

	// Ten minutes later the old seconds are gone from the plot, not from the totals.
	now = now.Add(seriesSeconds * time.Second)
	s = m.series()
	for i := range s.Time {
		assert.Zero(t, s.Records[i])
		assert.Nil(t, s.LagMs[i])
	}
	m.Record(success("f", 7, 1))
	assert.Equal(t, int64(7), m.series().Records[last])
}

func TestMonitorBoundsWhatItKeeps(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := clockedMonitor(&now)
	for i := range recentInvocations + 5 {
		m.Record(success(fmt.Sprint(i), 1, 1))
	}
	list, tot := m.invocations()
	assert.Len(t, list, recentInvocations)
	assert.Equal(t, int64(recentInvocations+5), tot.Invocations)
	assert.Equal(t, fmt.Sprint(recentInvocations+4), list[0].RequestID)
	_, found, _ := m.event("0")
	assert.False(t, found, "the oldest attempts are dropped")
	payload, found, kept := m.event("5")
	assert.True(t, found && kept)
	assert.Equal(t, []byte("5"), payload)

	// Events beyond the budget: the oldest lose theirs first.
	big := func(id string) fclocal.InvocationReport {
		r := success(id, 1, 1)
		r.Payload = make([]byte, payloadBudget/3)
		return r
	}
	for _, id := range []string{"big1", "big2", "big3", "big4"} {
		m.Record(big(id))
	}
	_, found, kept = m.event("big1")
	assert.True(t, found)
	assert.False(t, kept, "the oldest event went over the budget")
	for _, id := range []string{"big2", "big3", "big4"} {
		_, _, kept := m.event(id)
		assert.True(t, kept, id)
	}
	_, _, kept = m.event("6")
	assert.False(t, kept, "small events older than the big ones went first")
	assert.LessOrEqual(t, m.payloads, payloadBudget)
}
