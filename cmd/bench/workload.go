package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// The record mix of the benchmark's events, in percent of records. Rows have the primary key
// `id` INTEGER and the attribute columns `level` INTEGER (uniform in 0..3, so half the rows
// pass `level > 1`), `message` STRING (about 40 bytes) and `host` STRING.
const (
	// putRowPercent of the records are PutRows: nine in ten on a new id, one in ten
	// replacing an earlier row.
	putRowPercent = 80
	// updateMessagePercent of the records are UpdateRows of `message` alone on an earlier
	// row: otsetl updates the result row if it is there, without reading the source.
	updateMessagePercent = 10
	// updateLevelPercent of the records are UpdateRows of `level` on an earlier row: otsetl
	// reads the source row to decide.
	updateLevelPercent = 5
	// The remaining 5% are DeleteRows of an earlier row.
)

// maxLevel bounds the `level` values, drawn uniformly from 0 to maxLevel.
const maxLevel = 3

// workloadEvent is one trigger event of the benchmark.
type workloadEvent struct {
	// payload is the event as the trigger delivers it (CBOR).
	payload []byte
	// records is the event decoded, as the source table's writes produced them.
	records []events.Record
	// mutations is the number of result-table rows otsetl's plan writes for the event.
	mutations int
}

// generator builds the events of a benchmark run, deterministically for a seed.
type generator struct {
	random *rand.Rand
	nextID int64 // ids below it have been written
	clock  time.Time
}

// newGenerator returns a generator whose first record is stamped at start.
func newGenerator(seed uint64, start time.Time) *generator {
	return &generator{random: rand.New(rand.NewPCG(seed, 0)), clock: start}
}

// events returns count events of size records each, with the number of mutations rule plans
// for each.
func (g *generator) events(count, size int, rule *transform.Rule) ([]workloadEvent, error) {
	evs := make([]workloadEvent, 0, count)
	for range count {
		ev, err := g.event(size, rule)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// event returns one event of size records.
func (g *generator) event(size int, rule *transform.Rule) (workloadEvent, error) {
	records := make([]events.Record, size)
	for i := range records {
		records[i] = g.record()
	}
	return encodeEvent(records, rule)
}

// putRowEvents returns count events of size PutRow records each, every one on a new id with
// two attribute columns, `level` (uniform in 0..3, so half the rows pass `level > 1`) and
// `message`: the workload of the CPU figures (cpu.go).
func (g *generator) putRowEvents(count, size int, rule *transform.Rule) ([]workloadEvent, error) {
	evs := make([]workloadEvent, 0, count)
	for range count {
		records := make([]events.Record, size)
		for i := range records {
			g.clock = g.clock.Add(time.Millisecond)
			id := g.nextID
			g.nextID++
			records[i] = g.change(events.PutRow, id,
				g.put("level", ots.Integer(g.random.Int64N(maxLevel+1))),
				g.put("message", ots.String(g.message(id))),
			)
		}
		ev, err := encodeEvent(records, rule)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// encodeEvent encodes records as one trigger event, with the number of mutations rule
// plans for it.
func encodeEvent(records []events.Record, rule *transform.Rule) (workloadEvent, error) {
	ev := &events.Event{Version: events.Version, Records: records}
	payload, err := events.EncodeCBOR(ev)
	if err != nil {
		return workloadEvent{}, fmt.Errorf("encoding an event: %w", err)
	}
	return workloadEvent{payload: payload, records: records, mutations: len(rule.Plan(ev).Mutations)}, nil
}

// record returns the next row change of the mix.
func (g *generator) record() events.Record {
	g.clock = g.clock.Add(time.Millisecond)
	roll := g.random.IntN(100)
	if g.nextID == 0 || roll < putRowPercent {
		return g.putRow()
	}
	id := g.random.Int64N(g.nextID)
	switch roll -= putRowPercent; {
	case roll < updateMessagePercent:
		return g.change(events.UpdateRow, id, g.put("message", ots.String(g.message(id))))
	case roll < updateMessagePercent+updateLevelPercent:
		return g.change(events.UpdateRow, id, g.put("level", ots.Integer(g.random.Int64N(maxLevel+1))))
	}
	return g.change(events.DeleteRow, id)
}

// putRow writes a whole row, on a new id nine times in ten.
func (g *generator) putRow() events.Record {
	id := g.nextID
	if g.nextID == 0 || g.random.IntN(10) > 0 {
		g.nextID++
	} else {
		id = g.random.Int64N(g.nextID)
	}
	return g.change(events.PutRow, id,
		g.put("host", ots.String(fmt.Sprintf("web-%02d", g.random.IntN(20)))),
		g.put("level", ots.Integer(g.random.Int64N(maxLevel+1))),
		g.put("message", ots.String(g.message(id))),
	)
}

// change is a row change of id at the generator's clock.
func (g *generator) change(kind events.RecordType, id int64, cells ...events.Column) events.Record {
	return events.Record{
		Type:       kind,
		Info:       events.RecordInfo{Timestamp: g.clock.UnixMicro()},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
		Columns:    cells,
	}
}

// put is a Put cell of the version at the generator's clock.
func (g *generator) put(column string, value ots.Value) events.Column {
	version := g.clock.UnixMilli()
	return events.Column{Type: events.Put, ColumnName: column, Value: value, Timestamp: &version}
}

// message is a log line of about 40 bytes.
func (g *generator) message(id int64) string {
	return fmt.Sprintf("GET /orders/%d answered %d in %d ms", id, 200+g.random.IntN(4)*100, g.random.IntN(900))
}

// eventOfSize returns an event of the mix holding at least bytes bytes of CBOR, for
// measuring the memory one large invocation takes.
func (g *generator) eventOfSize(bytes int, rule *transform.Rule) (workloadEvent, error) {
	const sample = 1000
	probe, err := newGenerator(0, g.clock).event(sample, rule)
	if err != nil {
		return workloadEvent{}, err
	}
	records := (bytes*sample + len(probe.payload) - 1) / len(probe.payload)
	for {
		ev, err := g.event(records, rule)
		if err != nil || len(ev.payload) >= bytes {
			return ev, err
		}
		records += records/100 + 1
	}
}
