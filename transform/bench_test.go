package transform

import (
	"fmt"
	"testing"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// benchmarkMapping is the mapping of BenchmarkDecodeAndPlan's "passing" events: four
// columns, one kept as it is, three computed.
const benchmarkMapping = `{"level": level, "severity": level >= 3 ? "error" : "warn", "message": trim(message), "size_kb": size / 1024.0}`

// BenchmarkDecodeAndPlan measures the CPU side of one invocation, decoding a CBOR event and
// planning its mutations, per record (ns/record):
//
//   - records=N: events of 1, 100 and 1,000 records of mixed PutRow, UpdateRow and
//     DeleteRow over the documented example's log table (level, message), under the default
//     rule;
//   - mixed/columns=…: the mix of records=1000 with a size column and levels 0 to 3, so that
//     half the PutRows pass, with every column kept (columns=all) and with benchmarkMapping
//     (columns=mapping): the cost of a mapping in a mix where some keys end deleted;
//   - passing/columns=…: events of 1,000 records of rows that pass `level > 1`, three in four
//     a PutRow of a key of its own (level, message, size), one in four an UpdateRow of a
//     message alone, with every column kept and with benchmarkMapping: the cost of a mapping
//     that runs on every record.
func BenchmarkDecodeAndPlan(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		records := make([]events.Record, n)
		for i := range records {
			id := int64(i % (n/2 + 1))
			switch i % 4 {
			case 0, 1:
				records[i] = putRow(id, putAt("level", ots.Integer(int64(i%4)), 1790000000000), putAt("message", ots.String(fmt.Sprintf("message %d", i)), 1790000000000))
			case 2:
				records[i] = updateRow(id, putAt("message", ots.String("updated"), 1790000000001))
			default:
				records[i] = deleteRow(id)
			}
		}
		benchmarkDecodeAndPlan(b, fmt.Sprintf("records=%d", n), Config{}, records)
	}
	mixed := make([]events.Record, 1000)
	for i := range mixed {
		id := int64(i % (len(mixed)/2 + 1))
		switch i % 4 {
		case 0, 1:
			mixed[i] = putRow(id, putAt("level", ots.Integer(int64(i/4%4)), 1790000000000),
				putAt("message", ots.String(fmt.Sprintf(" message %d ", i)), 1790000000000), putAt("size", ots.Integer(int64(i)*100), 1790000000000))
		case 2:
			mixed[i] = updateRow(id, putAt("message", ots.String(" updated "), 1790000000001))
		default:
			mixed[i] = deleteRow(id)
		}
	}
	benchmarkDecodeAndPlan(b, "mixed/columns=all/records=1000", Config{}, mixed)
	benchmarkDecodeAndPlan(b, "mixed/columns=mapping/records=1000", Config{Columns: benchmarkMapping}, mixed)
	passing := make([]events.Record, 1000)
	for i := range passing {
		id := int64(i)
		if i%4 == 3 {
			passing[i] = updateRow(id, putAt("message", ots.String(fmt.Sprintf(" updated %d ", i)), 1790000000001))
			continue
		}
		passing[i] = putRow(id, putAt("level", ots.Integer(int64(2+i%2)), 1790000000000),
			putAt("message", ots.String(fmt.Sprintf(" message %d ", i)), 1790000000000), putAt("size", ots.Integer(int64(i)*100), 1790000000000))
	}
	benchmarkDecodeAndPlan(b, "passing/columns=all/records=1000", Config{}, passing)
	benchmarkDecodeAndPlan(b, "passing/columns=mapping/records=1000", Config{Columns: benchmarkMapping}, passing)
}

// benchmarkDecodeAndPlan runs sub-benchmark name: decode the CBOR event of records and plan
// it under cfg.
func benchmarkDecodeAndPlan(b *testing.B, name string, cfg Config, records []events.Record) {
	rule, err := Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := events.EncodeCBOR(&events.Event{Version: events.Version, Records: records})
	if err != nil {
		b.Fatal(err)
	}
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			ev, err := events.Decode(payload)
			if err != nil {
				b.Fatal(err)
			}
			if plan := rule.Plan(ev); plan.Keys == 0 {
				b.Fatal("empty plan")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/record")
	})
}
