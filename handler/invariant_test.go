package handler_test

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/otslocal"
	"github.com/otsetl/otsetl/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/transform"
)

// invariantSeedEnv names the environment variable that fixes the seed of
// TestInvariantUnderRandomOperationsAndRedelivery; the test logs the seed it used, and every
// failure message repeats it.
const invariantSeedEnv = "OTSETL_INVARIANT_SEED"

// The shape of the random runs.
const (
	invariantSequences      = 1000
	invariantShortSequences = 100
	minOperations           = 5
	maxOperations           = 30
	maxEventRecords         = 8
	keySpace                = 6 // primary keys id 0..5, so that keys collide within events
	redeliveryChance        = 0.3
	jsonChance              = 0.2
	sourceMaxVersions       = 3 // so that DeleteOneVersion uncovers older versions
	resultMaxVersions       = 1
	scanMaxVersions         = sourceMaxVersions + 1 // a version kept beyond max versions shows in a scan
	maxWorkers              = 4                     // sequences run in parallel, up to GOMAXPROCS
	primaryKeyName          = "id"
)

// The attribute columns the operations write.
const (
	columnLevel   = "level"   // INTEGER 0..3, the default filter's column
	columnMessage = "message" // STRING
	columnOther   = "other"   // DOUBLE, BOOLEAN or BINARY, changing kind between versions
)

var attributeColumns = []string{columnLevel, columnMessage, columnOther}

// messages are the STRING values of message: "drop" for the custom rule, "" and non-ASCII
// text for the encodings.
var messages = []string{"a", "b", "drop", "", "héllo, 世界"}

// TestInvariantUnderRandomOperationsAndRedelivery checks the invariant of docs/design.md end to end:
// random PutRow, UpdateRow and DeleteRow operations are applied to a source table in otslocal
// with the official SDK, recorded as the Stream records them, cut into trigger events and
// delivered (CBOR, sometimes JSON, sometimes twice) to the function over its custom-runtime
// HTTP protocol. After every invocation the result table must equal the filtered, projected
// view of an in-memory model of the source table, and the model must equal the source table,
// versions included.
func TestInvariantUnderRandomOperationsAndRedelivery(t *testing.T) {
	seed := invariantSeed(t)
	sequences := invariantSequences
	if testing.Short() {
		sequences = invariantShortSequences
	}
	srv, client := newRetrylessServer(t, otslocal.Options{})
	run := &invariantRun{seed: seed, srv: srv, client: client, clock: time.Now().UnixMilli()}

	// Sequences are independent (own tables, own function server), so they run on parallel
	// workers; a failure stops the other workers at their next sequence.
	started := time.Now()
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	stats := make([]runStats, workers)
	t.Run("sequences", func(t *testing.T) {
		for w := range workers {
			t.Run(fmt.Sprintf("worker%d", w), func(t *testing.T) {
				t.Parallel()
				defer func() {
					if t.Failed() {
						run.failed.Store(true)
					}
				}()
				for n := w; n < sequences && !run.failed.Load(); n += workers {
					run.sequence(t, n, &stats[w])
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	var s runStats
	for _, worker := range stats {
		s.merge(worker)
	}
	t.Logf("seed %d: %d sequences, %d operations, %d events, %d invocations (%d redeliveries, %d JSON payloads) in %s",
		seed, sequences, s.operations, s.events, s.invocations, s.redeliveries, s.jsonPayloads, time.Since(started).Round(time.Millisecond))
	t.Logf("result writes: %d puts, %d conditional updates (%d not in the view), %d deletes; %d source rows read",
		s.summary.Puts, s.summary.Updates, s.summary.NotInView, s.summary.Deletes, s.summary.Reads)

	// Every branch of the per-key table must have been exercised, or the run proves little.
	assert.Positive(t, s.summary.Puts, "no result row was put")
	assert.Positive(t, s.summary.Deletes, "no result row was deleted")
	assert.Positive(t, s.summary.Updates-s.summary.NotInView, "no conditional update found its row")
	assert.Positive(t, s.summary.NotInView, "no conditional update missed its row")
	assert.Positive(t, s.summary.Reads, "no source row was read")
}

// invariantSeed returns the seed from OTSETL_INVARIANT_SEED, or a random one, and logs it.
func invariantSeed(t *testing.T) uint64 {
	t.Helper()
	if text := os.Getenv(invariantSeedEnv); text != "" {
		seed, err := strconv.ParseUint(text, 10, 64)
		require.NoError(t, err, "%s must be an unsigned integer", invariantSeedEnv)
		t.Logf("seed %d from %s", seed, invariantSeedEnv)
		return seed
	}
	seed := rand.Uint64()
	t.Logf("seed %d (set %s=%d to reproduce)", seed, invariantSeedEnv, seed)
	return seed
}

// invariantRun is the state shared by the sequences of one test run.
type invariantRun struct {
	seed   uint64
	srv    *otslocaltest.Server
	client *sdk.TableStoreClient // "production": writes the source table, reads both tables
	clock  int64                 // the first cell timestamp of every sequence, in ms
	failed atomic.Bool           // a worker failed: the others stop
}

// runStats counts what a run did, for its log lines and coverage checks.
type runStats struct {
	operations, events, invocations, redeliveries, jsonPayloads int
	summary                                                     handler.Summary // summed over all invocations
}

// add counts one invocation's summary.
func (s *runStats) add(sum handler.Summary) {
	s.invocations++
	s.summary.Add(sum)
}

// merge adds another worker's counts.
func (s *runStats) merge(o runStats) {
	s.operations += o.operations
	s.events += o.events
	s.redeliveries += o.redeliveries
	s.jsonPayloads += o.jsonPayloads
	s.invocations += o.invocations
	s.summary.Add(o.summary)
}

// sequence generates random sequence n, replays it against fresh source and result tables
// and checks the invariant after every invocation.
func (r *invariantRun) sequence(t *testing.T, n int, stats *runStats) {
	seq := generateSequence(r.seed, n, r.clock)
	source, result := fmt.Sprintf("src_%d", n), fmt.Sprintf("res_%d", n)
	r.createTable(t, source, sourceMaxVersions)
	r.createTable(t, result, resultMaxVersions)
	defer r.deleteTables(t, source, result)

	fn, err := handler.New(handler.Config{
		Instance: otslocaltest.Instance, Endpoint: r.srv.Endpoint, SourceTable: source, ResultTable: result, Rule: seq.rule.config,
	}, discard)
	require.NoError(t, err)
	invoker := serve(t, fn)

	model := newSourceModel()
	for i, ev := range seq.events {
		for at := ev.start; at < ev.end; at++ {
			seq.requireNoError(t, writeSource(r.client, source, seq.records[at]), fmt.Sprintf("applying record %d", at))
			model.apply(seq.records[at])
		}
		stats.operations += ev.end - ev.start
		stats.events++
		seq.requireEqualRows(t, renderVersions(model.rows), renderVersions(r.scan(t, source)),
			fmt.Sprintf("the source table after the records of event %d differs from the model (expected: model, actual: table)", i))
		want := renderImages(model.view(seq.rule))
		for delivery := 1; delivery <= ev.deliveries(); delivery++ {
			r.deliver(t, seq, i, delivery, invoker, stats)
			seq.requireEqualRows(t, want, renderImages(latestImages(r.scan(t, result))),
				fmt.Sprintf("event %d, delivery %d: the result table differs from filter(source) (expected: view of the model, actual: table)", i, delivery))
		}
	}
	seq.requireEqualRows(t, renderVersions(model.rows), renderVersions(r.scan(t, source)),
		"the source table after the last event differs from the model: the function must never write it")
}

// deliver invokes the function with event i of seq, as the trigger's delivery number
// delivery, and requires success.
func (r *invariantRun) deliver(t *testing.T, seq *testSequence, i, delivery int, invoker *fcruntime.Invoker, stats *runStats) {
	t.Helper()
	ev := seq.events[i]
	doing := fmt.Sprintf("event %d, delivery %d", i, delivery)
	sum, err := invoke(t.Context(), invoker, fcruntime.Invocation{
		RequestID:   fmt.Sprintf("seq%d-event%d-delivery%d", seq.number, i, delivery),
		Credentials: testCreds,
	}, seq.payload(t, i))
	seq.requireNoError(t, err, doing)
	if sum.Records != ev.end-ev.start {
		require.Equal(t, ev.end-ev.start, sum.Records, "%s", seq.report(doing+": the summary counts other records"))
	}
	stats.add(sum)
	if delivery > 1 {
		stats.redeliveries++
	}
	if ev.json {
		stats.jsonPayloads++
	}
}

// createTable creates table with primary key `id` INTEGER, data that never expires,
// explicit timestamps allowed up to a day from now (Tablestore's default), and no Stream.
func (r *invariantRun) createTable(t *testing.T, table string, maxVersions int) {
	r.srv.CreateTable(t, otslocaltest.Table{Name: table, MaxVersions: maxVersions})
}

// deleteTables drops a sequence's tables: otslocal holds at most 64 tables per instance.
// It runs deferred, possibly after a failure, so it does not stop the test itself.
func (r *invariantRun) deleteTables(t *testing.T, tables ...string) {
	for _, table := range tables {
		_, err := r.client.DeleteTable(&sdk.DeleteTableRequest{TableName: table})
		assert.NoError(t, err, "deleting table %s", table)
	}
}

// scan reads every row of table with its versions.
func (r *invariantRun) scan(t *testing.T, table string) map[int64]modelRow {
	rows, err := scanTable(r.client, table)
	require.NoError(t, err, "scanning table %s", table)
	return rows
}

// testSequence is one random sequence: operations on the source table, each one record as
// the Stream records it, cut into the consecutive events the trigger delivers.
type testSequence struct {
	seed    uint64 // the run's
	number  int
	rule    ruleCase
	records []events.Record
	events  []eventSpan
}

// eventSpan is one trigger event: records [start, end) of its sequence.
type eventSpan struct {
	start, end int
	json       bool // delivered as JSON (a console test event) instead of CBOR
	redeliver  bool // delivered twice in a row, as the trigger retries a batch
}

// deliveries is how often the trigger delivers the event.
func (ev eventSpan) deliveries() int {
	if ev.redeliver {
		return 2
	}
	return 1
}

// payload encodes event i.
func (s *testSequence) payload(t *testing.T, i int) []byte {
	ev := s.events[i]
	batch := &events.Event{Version: events.Version, Records: s.records[ev.start:ev.end]}
	encode := events.EncodeCBOR
	if ev.json {
		encode = events.EncodeJSON
	}
	payload, err := encode(batch)
	s.requireNoError(t, err, fmt.Sprintf("encoding event %d", i))
	return payload
}

// requireNoError fails the test with the sequence's report when err is not nil.
func (s *testSequence) requireNoError(t *testing.T, err error, doing string) {
	t.Helper()
	if err != nil {
		require.NoError(t, err, "%s", s.report(doing))
	}
}

// requireEqualRows fails the test with the diff and the sequence's report when the rendered
// tables differ. The report is built only then: it is long.
func (s *testSequence) requireEqualRows(t *testing.T, expected, actual []string, doing string) {
	t.Helper()
	if !slices.Equal(expected, actual) {
		require.Equal(t, expected, actual, "%s", s.report(doing))
	}
}

// report describes the sequence for a failure message: seed, sequence number, rule,
// every record as JSON, the events, and what was being done.
func (s *testSequence) report(doing string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%d, sequence %d, rule %s: %s\n", invariantSeedEnv, s.seed, s.number, s.rule.name, doing)
	b.WriteString("records (one operation each, as the Stream records it; timestamps in ms, Info.Timestamp in µs):\n")
	for i := range s.records {
		text, err := events.MarshalRecordJSON(&s.records[i])
		if err != nil {
			text = []byte(err.Error())
		}
		fmt.Fprintf(&b, "  %2d %s\n", i, text)
	}
	b.WriteString("events:\n")
	for i, ev := range s.events {
		encoding, redelivery := "CBOR", ""
		if ev.json {
			encoding = "JSON"
		}
		if ev.redeliver {
			redelivery = ", delivered twice"
		}
		fmt.Fprintf(&b, "  %2d records %d..%d, %s%s\n", i, ev.start, ev.end-1, encoding, redelivery)
	}
	return b.String()
}

// ruleCase is a cleaning rule: the configuration the function gets, and the test's own
// reading of it.
type ruleCase struct {
	name     string
	config   transform.Config
	passes   func(image rowImage) bool
	projects func(column string) bool
}

// defaultRule is `level > 1` keeping every column; a missing or non-INTEGER level fails.
var defaultRule = ruleCase{
	name:     `"level > 1", all columns`,
	config:   transform.Config{Filter: transform.DefaultFilter},
	passes:   levelAboveOne,
	projects: func(string) bool { return true },
}

// customRule also drops the message "drop" (a missing message is nil, and nil != "drop")
// and keeps only level and message.
var customRule = ruleCase{
	name:   `"level > 1 && message != \"drop\"", columns level,message`,
	config: transform.Config{Filter: `level > 1 && message != "drop"`, Columns: []string{columnLevel, columnMessage}},
	passes: func(image rowImage) bool {
		message, _ := image[columnMessage].Str()
		return levelAboveOne(image) && message != "drop"
	},
	projects: func(column string) bool { return column == columnLevel || column == columnMessage },
}

// levelAboveOne is `level > 1` on an image: false when level is missing or not an INTEGER.
func levelAboveOne(image rowImage) bool {
	level, ok := image[columnLevel].Int()
	return ok && level > 1
}

// generateSequence draws sequence n of the run with this seed from its own PCG stream, so
// that it does not depend on the sequences before it. Every 4th sequence runs the custom
// rule. Timestamps start after clock (ms) and increase by one per Put cell and per record.
func generateSequence(seed uint64, n int, clock int64) *testSequence {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	g := &generator{rng: rng, clock: clock, model: newSourceModel(), written: map[int64]map[string][]int64{}}
	seq := &testSequence{seed: seed, number: n, rule: defaultRule}
	if n%4 == 3 {
		seq.rule = customRule
	}
	count := minOperations + rng.IntN(maxOperations-minOperations+1)
	for range count {
		seq.records = append(seq.records, g.operation())
	}
	seq.events = g.cut(count)
	return seq
}

// generator draws operations that are valid against the source table as they leave it.
type generator struct {
	rng     *rand.Rand
	clock   int64                        // the next timestamp, in ms
	model   *sourceModel                 // the source table after the operations drawn so far
	written map[int64]map[string][]int64 // every timestamp put, by key and column
}

// tick returns a new timestamp in ms, larger than every one before.
func (g *generator) tick() int64 {
	g.clock++
	return g.clock
}

// operation draws one operation on a random key and returns its Stream record.
func (g *generator) operation() events.Record {
	id := g.rng.Int64N(keySpace)
	var rec events.Record
	switch p := g.rng.IntN(100); {
	case p < 35:
		rec = g.putRow(id)
	case p < 80:
		rec = g.updateRow(id)
	default:
		rec = newRecord(events.DeleteRow, id, g.tick(), nil)
	}
	g.model.apply(rec)
	return rec
}

// putRow draws a PutRow: a message, usually a level, sometimes the other column.
func (g *generator) putRow(id int64) events.Record {
	var cells []events.Column
	if g.rng.IntN(5) > 0 {
		cells = append(cells, g.put(id, columnLevel))
	}
	cells = append(cells, g.put(id, columnMessage))
	if g.rng.IntN(3) == 0 {
		cells = append(cells, g.put(id, columnOther))
	}
	return newRecord(events.PutRow, id, g.tick(), cells)
}

// updateRow draws an UpdateRow changing one to three distinct columns, each by a Put,
// a DeleteAllVersions or a DeleteOneVersion of a version written before.
func (g *generator) updateRow(id int64) events.Record {
	columns := slices.Clone(attributeColumns)
	g.rng.Shuffle(len(columns), func(i, j int) { columns[i], columns[j] = columns[j], columns[i] })
	columns = columns[:1+g.rng.IntN(len(columns))]
	cells := make([]events.Column, 0, len(columns))
	for _, column := range columns {
		cells = append(cells, g.updateCell(id, column))
	}
	return newRecord(events.UpdateRow, id, g.tick(), cells)
}

// updateCell draws one UpdateRow cell of column: a DeleteOneVersion one time in four (when
// the column was ever written), a DeleteAllVersions one time in four, a Put otherwise.
func (g *generator) updateCell(id int64, column string) events.Column {
	switch p := g.rng.IntN(4); {
	case p == 0:
		if timestamp, ok := g.writtenVersion(id, column); ok {
			return events.Column{Type: events.DeleteOneVersion, ColumnName: column, Timestamp: &timestamp}
		}
	case p == 1:
		return events.Column{Type: events.DeleteAllVersions, ColumnName: column}
	}
	return g.put(id, column)
}

// writtenVersion picks a timestamp put earlier on the key's column: mostly one the source
// still holds (the latest one half of the time), sometimes one already gone. False when
// the column was never written.
func (g *generator) writtenVersion(id int64, column string) (int64, bool) {
	if versions := g.model.rows[id][column]; len(versions) > 0 && g.rng.IntN(5) > 0 {
		if g.rng.IntN(2) == 0 {
			return versions[0].timestamp, true
		}
		return versions[g.rng.IntN(len(versions))].timestamp, true
	}
	written := g.written[id][column]
	if len(written) == 0 {
		return 0, false
	}
	return written[g.rng.IntN(len(written))], true
}

// put draws a Put cell of column with a new timestamp.
func (g *generator) put(id int64, column string) events.Column {
	timestamp := g.tick()
	if g.written[id] == nil {
		g.written[id] = map[string][]int64{}
	}
	g.written[id][column] = append(g.written[id][column], timestamp)
	return events.Column{Type: events.Put, ColumnName: column, Value: g.value(column), Timestamp: &timestamp}
}

// value draws a value for column: level INTEGER 0..3, message one of a few STRINGs
// (among them "drop" and ""), other a DOUBLE (2.0 and -0.0 among them), BOOLEAN or BINARY.
func (g *generator) value(column string) ots.Value {
	switch column {
	case columnLevel:
		return ots.Integer(g.rng.Int64N(4))
	case columnMessage:
		return ots.String(messages[g.rng.IntN(len(messages))])
	}
	switch g.rng.IntN(3) {
	case 0:
		doubles := []float64{2, math.Copysign(0, -1), 1e21, g.rng.NormFloat64()}
		return ots.Double(doubles[g.rng.IntN(len(doubles))])
	case 1:
		return ots.Boolean(g.rng.IntN(2) == 0)
	}
	b := make([]byte, g.rng.IntN(5))
	for i := range b {
		b[i] = byte(g.rng.IntN(256))
	}
	return ots.Binary(b)
}

// cut splits count records into consecutive events of 1 to maxEventRecords records (one
// sequence in ten as a single event) and draws each event's encoding and redelivery.
func (g *generator) cut(count int) []eventSpan {
	size := func() int { return 1 + g.rng.IntN(maxEventRecords) }
	if g.rng.IntN(10) == 0 {
		size = func() int { return count }
	}
	var spans []eventSpan
	for start := 0; start < count; {
		end := min(start+size(), count)
		spans = append(spans, eventSpan{
			start: start, end: end,
			json:      g.rng.Float64() < jsonChance,
			redeliver: g.rng.Float64() < redeliveryChance,
		})
		start = end
	}
	return spans
}

// newRecord builds a Stream record of key id committed at timestampMs.
func newRecord(typ events.RecordType, id, timestampMs int64, cells []events.Column) events.Record {
	return events.Record{
		Type:       typ,
		Info:       events.RecordInfo{Timestamp: timestampMs * 1000},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: primaryKeyName, Value: ots.Integer(id)}},
		Columns:    cells,
	}
}

// cellVersion is one version of an attribute column.
type cellVersion struct {
	timestamp int64 // ms
	value     ots.Value
}

// modelRow is a source row: attribute column name → versions, newest first. A row with no
// columns left still exists.
type modelRow map[string][]cellVersion

// rowImage is a row's visible values: attribute column name → latest version's value.
type rowImage map[string]ots.Value

// sourceModel is the test's own model of the source table, keyed by `id`, following
// Tablestore's documented semantics: PutRow replaces the row; UpdateRow changes the cells
// it lists and creates the row only if it puts a value; DeleteRow removes the row; a Put at
// an existing timestamp replaces that version; at most sourceMaxVersions are kept.
type sourceModel struct {
	rows map[int64]modelRow
}

func newSourceModel() *sourceModel {
	return &sourceModel{rows: map[int64]modelRow{}}
}

// apply performs one generated record's operation.
func (m *sourceModel) apply(rec events.Record) {
	id, _ := rec.PrimaryKey[0].Value.Int()
	switch rec.Type {
	case events.DeleteRow:
		delete(m.rows, id)
	case events.PutRow:
		row := modelRow{}
		for _, c := range rec.Columns {
			row.put(c.ColumnName, cellVersion{*c.Timestamp, c.Value})
		}
		m.rows[id] = row
	case events.UpdateRow:
		row, exists := m.rows[id]
		if !exists {
			if !slices.ContainsFunc(rec.Columns, func(c events.Column) bool { return c.Type == events.Put }) {
				return
			}
			row = modelRow{}
			m.rows[id] = row
		}
		for _, c := range rec.Columns {
			switch c.Type {
			case events.Put:
				row.put(c.ColumnName, cellVersion{*c.Timestamp, c.Value})
			case events.DeleteAllVersions:
				delete(row, c.ColumnName)
			case events.DeleteOneVersion:
				row.deleteVersion(c.ColumnName, *c.Timestamp)
			}
		}
	}
}

// put adds a version, replacing one at the same timestamp, and keeps the newest
// sourceMaxVersions.
func (r modelRow) put(column string, v cellVersion) {
	versions := slices.DeleteFunc(r[column], func(old cellVersion) bool { return old.timestamp == v.timestamp })
	versions = append(versions, v)
	slices.SortFunc(versions, func(a, b cellVersion) int { return cmp.Compare(b.timestamp, a.timestamp) })
	r[column] = versions[:min(len(versions), sourceMaxVersions)]
}

// deleteVersion removes the version at timestamp, if any; a column without versions is gone.
func (r modelRow) deleteVersion(column string, timestamp int64) {
	versions := slices.DeleteFunc(r[column], func(v cellVersion) bool { return v.timestamp == timestamp })
	if len(versions) == 0 {
		delete(r, column)
		return
	}
	r[column] = versions
}

// image returns the row's latest values.
func (r modelRow) image() rowImage {
	image := rowImage{}
	for column, versions := range r {
		image[column] = versions[0].value
	}
	return image
}

// view is what the result table must hold: the projected image of every row that passes.
func (m *sourceModel) view(rule ruleCase) map[int64]rowImage {
	view := map[int64]rowImage{}
	for id, row := range m.rows {
		image := row.image()
		if !rule.passes(image) {
			continue
		}
		projected := rowImage{}
		for column, value := range image {
			if rule.projects(column) {
				projected[column] = value
			}
		}
		view[id] = projected
	}
	return view
}

// latestImages returns the latest values of scanned rows.
func latestImages(rows map[int64]modelRow) map[int64]rowImage {
	images := make(map[int64]rowImage, len(rows))
	for id, row := range rows {
		images[id] = row.image()
	}
	return images
}

// writeSource applies a record's operation to the source table with the SDK, as the
// application that owns the table would: row condition IGNORE, explicit timestamps.
func writeSource(client *sdk.TableStoreClient, table string, rec events.Record) error {
	pk := new(sdk.PrimaryKey)
	for _, col := range rec.PrimaryKey {
		pk.AddPrimaryKeyColumn(col.ColumnName, col.Value.Any())
	}
	var err error
	switch rec.Type {
	case events.PutRow:
		change := &sdk.PutRowChange{TableName: table, PrimaryKey: pk}
		change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		for _, c := range rec.Columns {
			change.AddColumnWithTimestamp(c.ColumnName, c.Value.Any(), *c.Timestamp)
		}
		_, err = client.PutRow(&sdk.PutRowRequest{PutRowChange: change})
	case events.UpdateRow:
		change := &sdk.UpdateRowChange{TableName: table, PrimaryKey: pk}
		change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		for _, c := range rec.Columns {
			switch c.Type {
			case events.Put:
				change.PutColumnWithTimestamp(c.ColumnName, c.Value.Any(), *c.Timestamp)
			case events.DeleteAllVersions:
				change.DeleteColumn(c.ColumnName)
			case events.DeleteOneVersion:
				change.DeleteColumnWithTimestamp(c.ColumnName, *c.Timestamp)
			}
		}
		_, err = client.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: change})
	case events.DeleteRow:
		change := &sdk.DeleteRowChange{TableName: table, PrimaryKey: pk}
		change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		_, err = client.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: change})
	default:
		err = fmt.Errorf("record type %q", rec.Type)
	}
	return err
}

// scanTable reads every row of table with up to scanMaxVersions versions of every column
// (newest first), with GetRange from INF_MIN to INF_MAX, page by page.
func scanTable(client *sdk.TableStoreClient, table string) (map[int64]modelRow, error) {
	start, end := new(sdk.PrimaryKey), new(sdk.PrimaryKey)
	start.AddPrimaryKeyColumnWithMinValue(primaryKeyName)
	end.AddPrimaryKeyColumnWithMaxValue(primaryKeyName)
	rows := map[int64]modelRow{}
	for start != nil {
		resp, err := client.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: &sdk.RangeRowQueryCriteria{
			TableName: table, StartPrimaryKey: start, EndPrimaryKey: end, MaxVersion: scanMaxVersions, Direction: sdk.FORWARD,
		}})
		if err != nil {
			return nil, err
		}
		for _, row := range resp.Rows {
			if row.PrimaryKey == nil || len(row.PrimaryKey.PrimaryKeys) != 1 {
				return nil, fmt.Errorf("row with primary key %v, want one column %q", row.PrimaryKey, primaryKeyName)
			}
			id, ok := row.PrimaryKey.PrimaryKeys[0].Value.(int64)
			if !ok {
				return nil, fmt.Errorf("primary key %T %v, want INTEGER", row.PrimaryKey.PrimaryKeys[0].Value, row.PrimaryKey.PrimaryKeys[0].Value)
			}
			scanned := modelRow{}
			for _, col := range row.Columns {
				value, err := ots.ValueOf(col.Value)
				if err != nil {
					return nil, fmt.Errorf("row id=%d column %q: %w", id, col.ColumnName, err)
				}
				scanned[col.ColumnName] = append(scanned[col.ColumnName], cellVersion{col.Timestamp, value})
			}
			rows[id] = scanned
		}
		start = resp.NextStartPrimaryKey
	}
	return rows, nil
}

// renderVersions renders rows with every version, one line per row, by id, columns by
// name: `id=2: level=[INTEGER 3 @1767225600123, INTEGER 1 @1767225600101]`.
func renderVersions(rows map[int64]modelRow) []string {
	return renderRows(rows, func(versions []cellVersion) string {
		texts := make([]string, len(versions))
		for i, v := range versions {
			texts[i] = fmt.Sprintf("%s @%d", renderValue(v.value), v.timestamp)
		}
		return "[" + strings.Join(texts, ", ") + "]"
	})
}

// renderImages renders row images, one line per row, by id, columns by name:
// `id=2: level=INTEGER 3, message=STRING "a"`.
func renderImages(rows map[int64]rowImage) []string {
	return renderRows(rows, renderValue)
}

func renderRows[R ~map[string]C, C any](rows map[int64]R, render func(C) string) []string {
	lines := []string{}
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		row := rows[id]
		cells := make([]string, 0, len(row))
		for _, column := range slices.Sorted(maps.Keys(row)) {
			cells = append(cells, column+"="+render(row[column]))
		}
		lines = append(lines, fmt.Sprintf("id=%d: %s", id, strings.Join(cells, ", ")))
	}
	return lines
}

// renderValue renders a value exactly, with its kind: DOUBLE in the shortest form that
// reads back as the same bits (-0 included).
func renderValue(v ots.Value) string {
	if f, ok := v.Float(); ok {
		return "DOUBLE " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v.Kind().String() + " " + v.String()
}
