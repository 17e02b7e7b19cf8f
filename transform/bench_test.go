package transform

import (
	"fmt"
	"testing"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// BenchmarkDecodeAndPlan measures the CPU side of one invocation, decoding a CBOR event and
// planning its mutations, per record (ns/record), for events of 1, 100 and 1,000 records of
// mixed PutRow, UpdateRow and DeleteRow over the documented example's log table (level, message).
func BenchmarkDecodeAndPlan(b *testing.B) {
	rule, err := Compile(Config{})
	if err != nil {
		b.Fatal(err)
	}
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
		payload, err := events.EncodeCBOR(&events.Event{Version: events.Version, Records: records})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
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
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
