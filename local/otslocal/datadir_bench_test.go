package otslocal

import (
	"fmt"
	"testing"
	"time"
)

// benchDataDirRows is the size of the table BenchmarkDataDir snapshots and loads.
const benchDataDirRows = 1_000_000

// BenchmarkDataDir measures, for a table of benchDataDirRows rows (primary key id
// INTEGER, one STRING column), writing a snapshot of the state as a server does in the
// background (Snapshot), and starting a server on a data directory that holds the
// snapshot (Load), both in rows/s.
func BenchmarkDataDir(b *testing.B) {
	dir := b.TempDir()
	srv, err := newServer("127.0.0.1:0", Options{DataDir: dir}, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	st := srv.instances.store("bench")
	t := &table{name: "bench", schema: []primaryKeySchema{{name: "id", typ: 1}}, rows: newRowTree(), maxVersions: 1, timeToLive: -1}
	st.tables[t.name] = t
	for id := range int64(benchDataDirRows) {
		pk := primaryKey{integerValue(id)}
		t.set(pk, &storedRow{primaryKey: pk, columns: map[string][]version{
			"message": {{timestamp: 1_700_000_000_000, value: columnValue{typ: vtString, bytes: fmt.Appendf(nil, "a log line of some forty bytes, %07d", id)}}},
		}})
	}
	wal := srv.instances.dir.wal

	b.Run("Snapshot", func(b *testing.B) {
		for b.Loop() {
			unlock := srv.instances.lockAll()
			entries := srv.instances.snapshotOf()
			unlock()
			if _, err := wal.writeSnapshot(wal.generation, entries); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchDataDirRows)/b.Elapsed().Seconds(), "rows/s")
	})
	srv.Close()
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			loaded, err := newServer("127.0.0.1:0", Options{DataDir: dir}, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			if n := loaded.instances.store("bench").tables["bench"].rows.Len(); n != benchDataDirRows {
				b.Fatalf("loaded %d rows, want %d", n, benchDataDirRows)
			}
			loaded.Close()
		}
		b.ReportMetric(float64(b.N*benchDataDirRows)/b.Elapsed().Seconds(), "rows/s")
	})
}
