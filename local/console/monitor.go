package console

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/fclocal"
)

// Limits of a [Monitor].
const (
	// recentInvocations is how many of the latest invocation attempts a Monitor keeps, and
	// of the latest task invocations.
	recentInvocations = 200
	// payloadBudget bounds the bytes of events a Monitor keeps for /invocations: beyond it,
	// the oldest attempts lose theirs.
	payloadBudget = 16 << 20
	// seriesSeconds is how far back the plots go: one point a second.
	seriesSeconds = 600
)

// Monitor collects the local trigger's invocation attempts for the console: the latest
// ones with their events, totals, and per-second series of records and lag. Feed it from
// fclocal.Config.OnInvocation with [Monitor.Record]. It is safe for concurrent use; the zero
// value is not, use [NewMonitor].
type Monitor struct {
	now func() time.Time

	mu       sync.Mutex
	recent   []*invocation           // oldest first, at most recentInvocations
	tasks    []fclocal.APIInvocation // oldest first, at most recentInvocations
	payloads int                     // bytes of the payloads recent holds
	totals   totals
	buckets  [seriesSeconds]bucket // by Unix second modulo seriesSeconds
}

// invocation is one recorded attempt.
type invocation struct {
	Time       int64            `json:"time"` // when the attempt ended, ms since the Unix epoch
	RequestID  string           `json:"requestId"`
	Shard      string           `json:"shard"`
	Records    int              `json:"records"`
	Attempt    int              `json:"attempt"`
	DurationMs int64            `json:"durationMs"`
	Summary    *handler.Summary `json:"summary"` // nil when the attempt failed
	Error      string           `json:"error,omitempty"`
	HasEvent   bool             `json:"hasEvent"` // the event is kept
	payload    []byte
}

// totals are counts since the Monitor was made.
type totals struct {
	Invocations int64  `json:"invocations"`
	Failures    int64  `json:"failures"`
	Records     int64  `json:"records"` // records of successful invocations
	LastError   string `json:"lastError,omitempty"`
	LastErrorAt int64  `json:"lastErrorAt,omitempty"` // ms since the Unix epoch
}

// bucket aggregates the attempts that ended in one second.
type bucket struct {
	second   int64 // Unix second; a bucket of another second is stale
	records  int64
	failures int64
	lagMs    int64 // the highest lag, when hasLag
	hasLag   bool
}

// RecordTask adds one invocation of the FC API (fclocal.APIConfig.OnInvocation): the task
// invocations of `otsetl sync --on-fc`.
func (m *Monitor) RecordTask(inv fclocal.APIInvocation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tasks) == recentInvocations {
		m.tasks = m.tasks[1:]
	}
	m.tasks = append(m.tasks, inv)
}

// taskInvocations returns the latest task invocations, newest first.
func (m *Monitor) taskInvocations() []fclocal.APIInvocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]fclocal.APIInvocation, len(m.tasks))
	for i, inv := range m.tasks {
		out[len(m.tasks)-1-i] = inv
	}
	return out
}

// NewMonitor returns an empty Monitor.
func NewMonitor() *Monitor { return &Monitor{now: time.Now} }

// Record adds one invocation attempt. A successful attempt's result is decoded as the
// function's [handler.Summary]; one that does not decode counts as a failure, as `otsetl
// local` reports it.
func (m *Monitor) Record(r fclocal.InvocationReport) {
	end := m.now()
	inv := &invocation{
		Time: end.UnixMilli(), RequestID: r.RequestID, Shard: r.Shard, Records: r.Records,
		Attempt: r.Attempt, DurationMs: r.Latency.Milliseconds(), payload: r.Payload, HasEvent: len(r.Payload) > 0,
	}
	err := r.Err
	if err == nil {
		var s handler.Summary
		if jsonErr := json.Unmarshal(r.Result, &s); jsonErr != nil {
			err = fmt.Errorf("the function's result is not a summary: %w", jsonErr)
		} else {
			inv.Summary = &s
		}
	}
	if err != nil {
		inv.Error = err.Error()
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.totals.Invocations++
	b := m.bucket(end.Unix())
	if err != nil {
		m.totals.Failures++
		m.totals.LastError, m.totals.LastErrorAt = inv.Error, inv.Time
		b.failures++
	} else {
		m.totals.Records += int64(r.Records)
		b.records += int64(r.Records)
		if !b.hasLag || inv.Summary.LagMs > b.lagMs {
			b.lagMs, b.hasLag = inv.Summary.LagMs, true
		}
	}
	if len(m.recent) == recentInvocations {
		m.payloads -= len(m.recent[0].payload)
		m.recent[0] = nil
		m.recent = m.recent[1:]
	}
	m.recent = append(m.recent, inv)
	m.payloads += len(inv.payload)
	for i := 0; m.payloads > payloadBudget && i < len(m.recent); i++ {
		old := m.recent[i]
		m.payloads -= len(old.payload)
		old.payload, old.HasEvent = nil, false
	}
}

// bucket returns the bucket of second, emptied if it held an older second. The caller
// holds m.mu.
func (m *Monitor) bucket(second int64) *bucket {
	b := &m.buckets[second%seriesSeconds]
	if b.second != second {
		*b = bucket{second: second}
	}
	return b
}

// invocations returns the latest attempts, newest first, and the totals.
func (m *Monitor) invocations() ([]invocation, totals) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]invocation, len(m.recent))
	for i, inv := range m.recent {
		out[len(out)-1-i] = *inv
	}
	return out, m.totals
}

// event returns the payload of the attempt with requestID; found reports whether the
// attempt is among the latest, kept whether its event still is.
func (m *Monitor) event(requestID string) (payload []byte, found, kept bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, inv := range m.recent {
		if inv.RequestID == requestID {
			return inv.payload, true, inv.HasEvent
		}
	}
	return nil, false, false
}

// series is the per-second plot data of the last seriesSeconds seconds, in the column
// layout of uPlot's data (one array per series, aligned on Time).
type series struct {
	// Time holds the seconds, Unix time.
	Time []int64 `json:"time"`
	// Records holds the records of successful invocations that ended in each second:
	// records per second.
	Records []int64 `json:"records"`
	// LagMs holds the highest lag (handler.Summary.LagMs, ms) of the successful
	// invocations that ended in each second; null for a second without one.
	LagMs []*int64 `json:"lagMs"`
	// Failures holds the failed attempts that ended in each second.
	Failures []int64 `json:"failures"`
}

// series returns the plot data up to the current second.
func (m *Monitor) series() series {
	now := m.now().Unix()
	s := series{
		Time: make([]int64, seriesSeconds), Records: make([]int64, seriesSeconds),
		LagMs: make([]*int64, seriesSeconds), Failures: make([]int64, seriesSeconds),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range seriesSeconds {
		second := now - seriesSeconds + 1 + int64(i)
		s.Time[i] = second
		b := m.buckets[second%seriesSeconds]
		if b.second != second {
			continue
		}
		s.Records[i], s.Failures[i] = b.records, b.failures
		if b.hasLag {
			lag := b.lagMs
			s.LagMs[i] = &lag
		}
	}
	return s
}
