// Package modeltest holds the model-based tests' shared parts: random sequences of source
// table operations, each the Stream record it produces; a model of the source table that
// gives the view the result table must equal; the source writes and table scans with the
// official SDK; and the faults of a trigger's path (a function failing some invocations,
// Tablestore faults on the requests of the function and the trigger). The function's
// invariant tests (package handler) and the sync's (package reconcile) use it.
package modeltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// SeedEnv names the environment variable that fixes the seed of a model-based test; the
// tests log the seed they used, and every failure message repeats it.
const SeedEnv = "OTSETL_INVARIANT_SEED"

// The shape of the generated sequences and of the tables they run on.
const (
	minOperations    = 5
	maxOperations    = 30
	maxEventRecords  = 8
	redeliveryChance = 0.3
	jsonChance       = 0.2
	// KeySpace is the number of primary keys, id 0..KeySpace-1: few, so that keys collide
	// within events.
	KeySpace = 6
	// SourceMaxVersions is the max versions of a source table, so that DeleteOneVersion
	// uncovers older versions; ResultMaxVersions the result table's.
	SourceMaxVersions = 3
	ResultMaxVersions = 1
	// scanMaxVersions reads a version kept beyond max versions, so that a scan shows it.
	scanMaxVersions = SourceMaxVersions + 1
	// PrimaryKeyName is the tables' one primary key column, INTEGER.
	PrimaryKeyName = "id"
)

// The attribute columns the operations write.
const (
	ColumnLevel   = "level"   // INTEGER 0..3, the default filter's column
	ColumnMessage = "message" // STRING
	ColumnOther   = "other"   // DOUBLE, BOOLEAN or BINARY, changing kind between versions
)

var attributeColumns = []string{ColumnLevel, ColumnMessage, ColumnOther}

// messages are the STRING values of message: "drop" for the custom rule, "" and non-ASCII
// text for the encodings.
var messages = []string{"a", "b", "drop", "", "héllo, 世界"}

// Seed returns the seed from SeedEnv, or a random one, and logs it.
func Seed(t *testing.T) uint64 {
	t.Helper()
	if text := os.Getenv(SeedEnv); text != "" {
		seed, err := strconv.ParseUint(text, 10, 64)
		require.NoError(t, err, "%s must be an unsigned integer", SeedEnv)
		t.Logf("seed %d from %s", seed, SeedEnv)
		return seed
	}
	seed := rand.Uint64()
	t.Logf("seed %d (set %s=%d to reproduce)", seed, SeedEnv, seed)
	return seed
}

// Sequence is one random sequence: operations on the source table, each one record as the
// Stream records it, cut into the consecutive events the trigger delivers.
type Sequence struct {
	// Seed is the run's seed and Number the sequence's number in the run.
	Seed   uint64
	Number int
	// Rule is the cleaning rule the sequence runs under.
	Rule RuleCase
	// Records are the operations, one record each, in order.
	Records []events.Record
	// Events cut Records into trigger events.
	Events []EventSpan
}

// EventSpan is one trigger event: records [Start, End) of its sequence.
type EventSpan struct {
	Start, End int
	// JSON: delivered as JSON (a console test event) instead of CBOR.
	JSON bool
	// Redeliver: delivered twice in a row, as the trigger retries a batch.
	Redeliver bool
}

// Deliveries is how often the trigger delivers the event: 1, or 2 with Redeliver.
func (ev EventSpan) Deliveries() int {
	if ev.Redeliver {
		return 2
	}
	return 1
}

// Payload encodes event i, as CBOR or, with JSON, as JSON.
func (s *Sequence) Payload(t *testing.T, i int) []byte {
	ev := s.Events[i]
	batch := &events.Event{Version: events.Version, Records: s.Records[ev.Start:ev.End]}
	encode := events.EncodeCBOR
	if ev.JSON {
		encode = events.EncodeJSON
	}
	payload, err := encode(batch)
	s.RequireNoError(t, err, fmt.Sprintf("encoding event %d", i))
	return payload
}

// RequireNoError fails the test with the sequence's report when err is not nil; doing says
// what was being done.
func (s *Sequence) RequireNoError(t *testing.T, err error, doing string) {
	t.Helper()
	if err != nil {
		require.NoError(t, err, "%s", s.Report(doing))
	}
}

// WriteRecords writes records [from, to) to the source table with WriteSource and applies
// each to model, failing the test with the sequence's report when a write fails.
func (s *Sequence) WriteRecords(t *testing.T, client *sdk.TableStoreClient, table string, model *SourceModel, from, to int) {
	t.Helper()
	for at := from; at < to; at++ {
		s.RequireNoError(t, WriteSource(client, table, s.Records[at]), fmt.Sprintf("applying record %d", at))
		model.Apply(s.Records[at])
	}
}

// RequireEqualRows fails the test with the diff and the sequence's report when the rendered
// tables differ. The report is built only then: it is long.
func (s *Sequence) RequireEqualRows(t *testing.T, expected, actual []string, doing string) {
	t.Helper()
	if !slices.Equal(expected, actual) {
		require.Equal(t, expected, actual, "%s", s.Report(doing))
	}
}

// Report describes the sequence for a failure message: seed, sequence number, rule, every
// record as JSON, the events, and what was being done.
func (s *Sequence) Report(doing string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%d, sequence %d, rule %s: %s\n", SeedEnv, s.Seed, s.Number, s.Rule.Name, doing)
	b.WriteString("records (one operation each, as the Stream records it; timestamps in ms, Info.Timestamp in µs):\n")
	for i := range s.Records {
		text, err := events.MarshalRecordJSON(&s.Records[i])
		if err != nil {
			text = []byte(err.Error())
		}
		fmt.Fprintf(&b, "  %2d %s\n", i, text)
	}
	b.WriteString("events:\n")
	for i, ev := range s.Events {
		encoding, redelivery := "CBOR", ""
		if ev.JSON {
			encoding = "JSON"
		}
		if ev.Redeliver {
			redelivery = ", delivered twice"
		}
		fmt.Fprintf(&b, "  %2d records %d..%d, %s%s\n", i, ev.Start, ev.End-1, encoding, redelivery)
	}
	return b.String()
}

// RuleCase is a cleaning rule: the configuration the function gets, and the test's own
// reading of it, plain Go over a model's image that shares no code with package transform.
type RuleCase struct {
	// Name describes the rule in reports.
	Name string
	// Config is the function's FILTER and COLUMNS.
	Config transform.Config
	// Passes is the filter, and Result the result row of an image that passes: its
	// projection, or its mapping; false when the mapping cannot compute it (the row is then
	// not in the view, and its records are dead-lettered).
	Passes func(image Image) bool
	Result func(image Image) (Image, bool)
}

// DefaultRule is `level > 1` keeping every column; a missing or non-INTEGER level fails.
var DefaultRule = RuleCase{
	Name:   `"level > 1", all columns`,
	Config: transform.Config{Filter: transform.DefaultFilter},
	Passes: levelAboveOne,
	Result: func(image Image) (Image, bool) { return image, true },
}

// CustomRule also drops the message "drop" (a missing message is nil, and nil != "drop")
// and keeps only level and message.
var CustomRule = RuleCase{
	Name:   `"level > 1 && message != \"drop\"", columns level,message`,
	Config: transform.Config{Filter: `level > 1 && message != "drop"`, Columns: ColumnLevel + "," + ColumnMessage},
	Passes: levelAboveOneAndNotDropped,
	Result: func(image Image) (Image, bool) {
		return renamed(image, map[string]string{ColumnLevel: ColumnLevel, ColumnMessage: ColumnMessage}), true
	},
}

// RenamingRule keeps the three columns under new names; message and other are read only by
// the mapping.
var RenamingRule = RuleCase{
	Name:   `"level > 1", a mapping of renamed columns`,
	Config: transform.Config{Filter: transform.DefaultFilter, Columns: `{"severity": level, "text": message, "payload": other}`},
	Passes: levelAboveOne,
	Result: func(image Image) (Image, bool) {
		return renamed(image, map[string]string{ColumnLevel: "severity", ColumnMessage: "text", ColumnOther: "payload"}), true
	},
}

// DerivingRule derives values from every column, the filter's among them. An entry that
// fails because the column it reads is missing (upper(nil)) leaves its column out; `other * 2`
// fails on a BOOLEAN or BINARY other, and the row is then not in the view.
var DerivingRule = RuleCase{
	Name: `"level > 1", a mapping of derived values, one failing on some rows`,
	Config: transform.Config{Filter: transform.DefaultFilter,
		Columns: `{"level": level, "severity": level >= 3 ? "error" : "warn", "loud": upper(message), "length": len(message), "kind": type(other), "scaled": other * 2}`},
	Passes: levelAboveOne,
	Result: func(image Image) (Image, bool) {
		level, _ := image[ColumnLevel].Int()
		out := Image{ColumnLevel: image[ColumnLevel], "severity": ots.String("warn"), "kind": ots.String(exprType(image, ColumnOther))}
		if level >= 3 {
			out["severity"] = ots.String("error")
		}
		if message, ok := image[ColumnMessage].Str(); ok {
			out["loud"] = ots.String(strings.ToUpper(message))
			out["length"] = ots.Integer(int64(utf8.RuneCountInString(message)))
		}
		if other, present := image[ColumnOther]; present {
			double, ok := other.Float()
			if !ok {
				return nil, false
			}
			out["scaled"] = ots.Double(double * 2)
		}
		return out, true
	},
}

// MappingColumnsRule computes every column from columns only the mapping reads: message and
// other, one entry reading both (an UpdateRow of one of them alone needs the source row).
var MappingColumnsRule = RuleCase{
	Name: `"level > 1", a mapping of columns only it reads`,
	Config: transform.Config{Filter: transform.DefaultFilter,
		Columns: `{"text": trim(message ?? "") + "!", "has_other": other != nil, "both": (message ?? "") + "/" + type(other)}`},
	Passes: levelAboveOne,
	Result: func(image Image) (Image, bool) {
		message, _ := image[ColumnMessage].Str()
		_, hasOther := image[ColumnOther]
		return Image{
			"text":      ots.String(strings.TrimSpace(message) + "!"),
			"has_other": ots.Boolean(hasOther),
			"both":      ots.String(message + "/" + exprType(image, ColumnOther)),
		}, true
	},
}

// FilterColumnsRule maps nothing the filter reads: level and message decide membership
// only, other is kept under a new name, and one column is a constant.
var FilterColumnsRule = RuleCase{
	Name:   `"level > 1 && message != \"drop\"", a mapping that reads none of the filter's columns`,
	Config: transform.Config{Filter: `level > 1 && message != "drop"`, Columns: `{"payload": other, "origin": "otsetl"}`},
	Passes: levelAboveOneAndNotDropped,
	Result: func(image Image) (Image, bool) {
		out := renamed(image, map[string]string{ColumnOther: "payload"})
		out["origin"] = ots.String("otsetl")
		return out, true
	},
}

// Rules are the rules a sequence draws from: two of a filter and a projection, and
// MappingRules.
var Rules = append([]RuleCase{DefaultRule, CustomRule}, MappingRules...)

// MappingRules are the rules with a mapping: renames, derived values (one that fails on some
// rows), columns read only by the mapping, columns read only by the filter.
var MappingRules = []RuleCase{RenamingRule, DerivingRule, MappingColumnsRule, FilterColumnsRule}

// RulesDrawn describes how many of sequences 0..sequences-1 of the run with seed run each
// rule, as Generate draws them, for a test's log: `412 sequences with a mapping (…), 588
// without`.
func RulesDrawn(seed uint64, sequences int) string {
	counts := map[string]int{}
	for n := range sequences {
		counts[Generate(seed, n, 0).Rule.Name]++
	}
	mapped, parts := 0, make([]string, 0, len(MappingRules))
	for _, rule := range MappingRules {
		mapped += counts[rule.Name]
		parts = append(parts, fmt.Sprintf("%d %s", counts[rule.Name], rule.Name))
	}
	return fmt.Sprintf("%d sequences with a mapping (%s), %d with a projection", mapped, strings.Join(parts, "; "), sequences-mapped)
}

// levelAboveOne is `level > 1` on an image: false when level is missing or not an INTEGER.
func levelAboveOne(image Image) bool {
	level, ok := image[ColumnLevel].Int()
	return ok && level > 1
}

// levelAboveOneAndNotDropped is `level > 1 && message != "drop"`.
func levelAboveOneAndNotDropped(image Image) bool {
	message, _ := image[ColumnMessage].Str()
	return levelAboveOne(image) && message != "drop"
}

// renamed returns the columns of image that names lists, under their new names.
func renamed(image Image, names map[string]string) Image {
	out := Image{}
	for column, value := range image {
		if name, ok := names[column]; ok {
			out[name] = value
		}
	}
	return out
}

// exprType is expr's type() of column in image, for the kinds the operations write.
func exprType(image Image, column string) string {
	value, ok := image[column]
	if !ok {
		return "nil"
	}
	switch value.Kind() {
	case ots.KindInteger:
		return "int"
	case ots.KindDouble:
		return "float"
	case ots.KindBoolean:
		return "bool"
	case ots.KindString:
		return "string"
	}
	return "array" // BINARY, a []byte
}

// Generate draws sequence n of the run with this seed from its own PCG stream, so that it
// does not depend on the sequences before it: one of Rules, 5 to 30 operations on ids
// 0..KeySpace-1, cut into events of 1 to 8 records (one sequence in ten as one event), 20%
// of them JSON, 30% delivered twice. Timestamps start after clock (ms) and increase by one
// per Put cell and per record.
func Generate(seed uint64, n int, clock int64) *Sequence {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	g := &generator{rng: rng, clock: clock, model: NewSourceModel(), written: map[int64]map[string][]int64{}}
	seq := &Sequence{Seed: seed, Number: n, Rule: Rules[rng.IntN(len(Rules))]}
	count := minOperations + rng.IntN(maxOperations-minOperations+1)
	for range count {
		seq.Records = append(seq.Records, g.operation())
	}
	seq.Events = g.cut(count)
	return seq
}

// generator draws operations that are valid against the source table as they leave it.
type generator struct {
	rng     *rand.Rand
	clock   int64                        // the next timestamp, in ms
	model   *SourceModel                 // the source table after the operations drawn so far
	written map[int64]map[string][]int64 // every timestamp put, by key and column
}

// tick returns a new timestamp in ms, larger than every one before.
func (g *generator) tick() int64 {
	g.clock++
	return g.clock
}

// operation draws one operation on a random key and returns its Stream record.
func (g *generator) operation() events.Record {
	id := g.rng.Int64N(KeySpace)
	var rec events.Record
	switch p := g.rng.IntN(100); {
	case p < 35:
		rec = g.putRow(id)
	case p < 80:
		rec = g.updateRow(id)
	default:
		rec = NewRecord(events.DeleteRow, id, g.tick(), nil)
	}
	g.model.Apply(rec)
	return rec
}

// putRow draws a PutRow: a message, usually a level, sometimes the other column.
func (g *generator) putRow(id int64) events.Record {
	var cells []events.Column
	if g.rng.IntN(5) > 0 {
		cells = append(cells, g.put(id, ColumnLevel))
	}
	cells = append(cells, g.put(id, ColumnMessage))
	if g.rng.IntN(3) == 0 {
		cells = append(cells, g.put(id, ColumnOther))
	}
	return NewRecord(events.PutRow, id, g.tick(), cells)
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
	return NewRecord(events.UpdateRow, id, g.tick(), cells)
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
	if versions := g.model.Rows[id][column]; len(versions) > 0 && g.rng.IntN(5) > 0 {
		if g.rng.IntN(2) == 0 {
			return versions[0].Timestamp, true
		}
		return versions[g.rng.IntN(len(versions))].Timestamp, true
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
	case ColumnLevel:
		return ots.Integer(g.rng.Int64N(4))
	case ColumnMessage:
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
func (g *generator) cut(count int) []EventSpan {
	size := func() int { return 1 + g.rng.IntN(maxEventRecords) }
	if g.rng.IntN(10) == 0 {
		size = func() int { return count }
	}
	var spans []EventSpan
	for start := 0; start < count; {
		end := min(start+size(), count)
		spans = append(spans, EventSpan{
			Start: start, End: end,
			JSON:      g.rng.Float64() < jsonChance,
			Redeliver: g.rng.Float64() < redeliveryChance,
		})
		start = end
	}
	return spans
}

// NewRecord builds a Stream record of key id committed at timestampMs.
func NewRecord(typ events.RecordType, id, timestampMs int64, cells []events.Column) events.Record {
	return events.Record{
		Type:       typ,
		Info:       events.RecordInfo{Timestamp: timestampMs * 1000},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: PrimaryKeyName, Value: ots.Integer(id)}},
		Columns:    cells,
	}
}
