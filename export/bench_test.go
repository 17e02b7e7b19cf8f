package export_test

import (
	"testing"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
)

// BenchmarkExportChanges exports an event of 1,000 PutRows of two cells (the benchmark's
// CPU workload) as `changes` JSON Lines to osslocal, per record; the CPU of osslocal, in
// the same process, is included.
func BenchmarkExportChanges(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  export.Config
	}{
		{"jsonl", export.Config{}},
		{"csv", export.Config{FileFormat: export.CSV}},
		{"jsonl-gzip", export.Config{Compression: export.Gzip}},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv := osslocaltest.NewServer(b, osslocal.Options{})
			cfg := c.cfg
			cfg.Bucket, cfg.Prefix, cfg.Endpoint, cfg.Region, cfg.SourceTable = osslocaltest.Bucket, "exports/", srv.Endpoint, osslocaltest.Region, "source_data"
			sink, err := export.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ev := bigEvent(1000)
			payload, err := events.EncodeCBOR(ev)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sink.ExportChanges(b.Context(), creds, ev, payload); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ev.Records)), "ns/record")
		})
	}
}
