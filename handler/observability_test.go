package handler_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ots"
)

// clockedFixture is the function served over real HTTP against otslocal, as newFixture
// builds it, with a clock the test sets.
type clockedFixture struct {
	*fixture
	now time.Time
}

func newClockedFixture(t *testing.T, env map[string]string) *clockedFixture {
	t.Helper()
	// The clock stays near the real time: the invocation's deadline and the client's
	// retries are computed from it.
	cf := &clockedFixture{now: time.Now()}
	cf.fixture = newFixtureWith(t, env, func(fn *handler.Function) { handler.SetClock(fn, func() time.Time { return cf.now }) })
	return cf
}

// at returns a record of id at the row modification time now+offset (Info.Timestamp, µs).
func (cf *clockedFixture) at(offset time.Duration, rec events.Record) events.Record {
	rec.Info.Timestamp = cf.now.Add(offset).UnixMicro()
	return rec
}

// lastLogLine returns the fields of the last log line whose msg is msg.
func lastLogLine(t *testing.T, logs string, msg string) map[string]any {
	t.Helper()
	var last map[string]any
	lines := bufio.NewScanner(strings.NewReader(logs))
	for lines.Scan() {
		var fields map[string]any
		require.NoError(t, json.Unmarshal(lines.Bytes(), &fields), lines.Text())
		if fields["msg"] == msg {
			last = fields
		}
	}
	require.NotNil(t, last, "no %q line in:\n%s", msg, logs)
	return last
}

// requireSummaryLogged checks that every field of sum is a top-level attribute of line,
// under its JSON name and with its value.
func requireSummaryLogged(t *testing.T, sum handler.Summary, line map[string]any) {
	t.Helper()
	body, err := json.Marshal(sum)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(body, &fields))
	for name, value := range fields {
		assert.Equal(t, value, line[name], "log field %s", name)
	}
}

func TestLagIsTheAgeOfTheNewestRecord(t *testing.T) {
	cf := newClockedFixture(t, nil)
	tests := []struct {
		name    string
		records []events.Record
		wantLag int64
	}{
		{"newest record in the middle", []events.Record{
			cf.at(-5*time.Second, putRow(1, cell("level", ots.Integer(2)))),
			cf.at(-2500*time.Millisecond, putRow(2, cell("level", ots.Integer(3)))),
			cf.at(-4*time.Second, putRow(3, cell("level", ots.Integer(0)))),
		}, 2500},
		{"sub-millisecond part dropped", []events.Record{cf.at(-1999*time.Microsecond, putRow(1, cell("level", ots.Integer(2))))}, 1},
		{"record stamped after the function's clock", []events.Record{cf.at(time.Second, putRow(1, cell("level", ots.Integer(2))))}, 0},
		{"records without timestamp", []events.Record{putRow(1, cell("level", ots.Integer(2)))}, 0},
		{"empty event", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := cf.invoke(encode(t, tc.records...))
			require.NoError(t, err)
			assert.Equal(t, tc.wantLag, sum.LagMs)
			assert.Equal(t, len(tc.records), sum.Records)
			line := lastLogLine(t, cf.logs.String(), "invocation succeeded")
			requireSummaryLogged(t, sum, line)
			assert.Equal(t, "INFO", line["level"])
		})
	}
}

func TestLogLineShowsRetriesAndDeadLetters(t *testing.T) {
	cf := newClockedFixture(t, map[string]string{handler.EnvDeadLetterTable: "dead_letters"})
	// Half the BatchWriteRow requests, drawn from seed 1, answer OTSServerBusy, which the
	// writer retries.
	require.NoError(t, cf.srv.SetFaults(otslocal.Faults{Seed: 1, PerOperation: map[string]otslocal.FaultRates{"BatchWriteRow": {ServerBusy: 0.5}}}))
	payload := encode(t,
		cf.at(-3*time.Second, putRow(1, cell("level", ots.Integer(2)))),
		cf.at(-time.Second, putRow(2, cell("level", ots.String("high")))),
	)
	sum, err := cf.invoke(payload)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.DeadLettered)
	assert.Equal(t, 1, sum.Puts)
	assert.Positive(t, sum.Retries, "seed 1 makes some BatchWriteRow requests fail")
	assert.Equal(t, 2+sum.Retries, sum.WriteRequests, "one request for the dead letter, one for the result row, plus retries")
	assert.Equal(t, int64(1000), sum.LagMs)
	requireSummaryLogged(t, sum, lastLogLine(t, cf.logs.String(), "invocation succeeded"))
}

func TestFailedInvocationLogsItsSummaryToo(t *testing.T) {
	cf := newClockedFixture(t, nil)
	payload := encode(t,
		cf.at(-1500*time.Millisecond, putRow(1, cell("level", ots.Integer(2)))),
		cf.at(-time.Second, putRow(2, cell("level", ots.String("high")))),
	)
	_, err := cf.invoke(payload)
	var invocationErr *fcruntime.InvocationError
	require.ErrorAs(t, err, &invocationErr)
	assert.Equal(t, handler.ErrorTypeInvalidRecord, invocationErr.ErrorType)

	line := lastLogLine(t, cf.logs.String(), "invocation failed")
	assert.Equal(t, "ERROR", line["level"])
	assert.Equal(t, handler.ErrorTypeInvalidRecord, line["errorType"])
	requireSummaryLogged(t, handler.Summary{Records: 2, Keys: 2, LagMs: 1000}, line)
}
