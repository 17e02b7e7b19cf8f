package otslocal_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// The store benchmark: request throughput of PutRow, BatchWriteRow and GetRange through the
// Go SDK against a table that holds a million rows.
const (
	// benchPreloadRows rows, with the even ids 0, 2, …, are in the table before any
	// measurement; the measured writes insert odd ids between them, the worst case for a
	// store that keeps its rows in a sorted array.
	benchPreloadRows = 1_000_000
	// benchBatchRows is the size of a measured BatchWriteRow, the service's limit.
	benchBatchRows = 200
	// benchRangeLimit is the page size of a measured GetRange.
	benchRangeLimit = 100
	// benchPreloadWriters send the preload's BatchWriteRow requests concurrently.
	benchPreloadWriters = 4
	// benchConcurrentClients send the PutRow requests of the concurrent measurement.
	benchConcurrentClients = 16
)

// BenchmarkStoreAtOneMillionRows measures requests through the SDK over HTTP on the
// loopback interface against table "bench" (primary key id INTEGER, one STRING attribute
// column), preloaded with benchPreloadRows rows through BatchWriteRow, on a server that
// keeps its state in memory ("memory"), on one with a data directory ("disk") and on one that
// also syncs every write ("disk-synced"), one after the other, so that -count interleaves
// them. One request at a time:
//   - GetRange: one page of benchRangeLimit rows, FORWARD from a pseudo-random preloaded id;
//   - PutRow: a new row at a pseudo-random odd id, inserted among the preloaded rows;
//   - BatchWriteRow: benchBatchRows such new rows;
//
// and PutRowConcurrent: such PutRows from benchConcurrentClients clients at once, which a
// data directory writes (and syncs) together (it reports requests/write, the requests per
// write of its log).
//
// Each reports requests/s besides ns/op. GetRange runs first, on exactly the preloaded
// rows; the table then grows by the rows the writes insert. A data directory has written
// the snapshot the preload started before the measurements begin.
func BenchmarkStoreAtOneMillionRows(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkStore(b, otslocal.Options{}) })
	b.Run("disk", func(b *testing.B) { benchmarkStore(b, otslocal.Options{DataDir: b.TempDir()}) })
	b.Run("disk-synced", func(b *testing.B) { benchmarkStore(b, otslocal.Options{DataDir: b.TempDir(), SyncWrites: true}) })
}

func benchmarkStore(b *testing.B, opts otslocal.Options) {
	srv := otslocaltest.NewServer(b, opts, otslocaltest.Table{Name: "bench"})
	preloadBenchTable(b, srv.SDK)
	if opts.DataDir != "" {
		// The preload's log is far larger than compactLogBytes: the snapshot it started
		// is not what the measurements measure (BenchmarkDataDirSnapshot does).
		otslocal.WaitForDataDirSnapshot(srv.Server)
	}
	odd := oddIDs()

	b.Run("GetRange", func(b *testing.B) {
		for b.Loop() {
			start := 2 * (odd() / 2 % (benchPreloadRows - benchRangeLimit)) // an even id with benchRangeLimit more after it
			resp, err := srv.SDK.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
				TableName:       "bench",
				StartPrimaryKey: benchKey(start),
				EndPrimaryKey:   benchKey(start + 4*benchRangeLimit),
				Direction:       tablestore.FORWARD,
				MaxVersion:      1,
				Limit:           benchRangeLimit,
			}})
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Rows) != benchRangeLimit {
				b.Fatalf("GetRange from id %d returned %d rows, want %d", start, len(resp.Rows), benchRangeLimit)
			}
		}
		reportRequestsPerSecond(b)
	})
	b.Run("PutRow", func(b *testing.B) {
		for b.Loop() {
			change := benchPutChange(odd())
			if _, err := srv.SDK.PutRow(&tablestore.PutRowRequest{PutRowChange: change}); err != nil {
				b.Fatal(err)
			}
		}
		reportRequestsPerSecond(b)
	})
	b.Run("BatchWriteRow", func(b *testing.B) {
		for b.Loop() {
			request := &tablestore.BatchWriteRowRequest{}
			for range benchBatchRows {
				request.AddRowChange(benchPutChange(odd()))
			}
			requireAllRowsWritten(b, srv.SDK, request)
		}
		reportRequestsPerSecond(b)
	})
	b.Run("PutRowConcurrent", func(b *testing.B) {
		var writes uint64
		if opts.DataDir != "" {
			writes = otslocal.DataDirWrites(srv.Server)
		}
		var mu sync.Mutex
		b.SetParallelism(max(1, benchConcurrentClients/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				id := odd()
				mu.Unlock()
				if _, err := srv.SDK.PutRow(&tablestore.PutRowRequest{PutRowChange: benchPutChange(id)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRequestsPerSecond(b)
		if opts.DataDir != "" {
			b.ReportMetric(float64(b.N)/float64(otslocal.DataDirWrites(srv.Server)-writes), "requests/write")
		}
	})
}

// preloadBenchTable writes benchPreloadRows rows with the even ids into table "bench".
func preloadBenchTable(b *testing.B, client *tablestore.TableStoreClient) {
	b.Helper()
	batches := make(chan int64)
	var wg sync.WaitGroup
	errs := make(chan error, benchPreloadWriters)
	for range benchPreloadWriters {
		wg.Go(func() {
			for first := range batches {
				request := &tablestore.BatchWriteRowRequest{}
				for i := range int64(benchBatchRows) {
					request.AddRowChange(benchPutChange(2 * (first + i)))
				}
				if err := writeAllRows(client, request); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for first := int64(0); first < benchPreloadRows; first += benchBatchRows {
		select {
		case batches <- first:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	close(batches)
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
}

// oddIDs returns a generator of odd ids in [1, 2·benchPreloadRows), in a fixed
// pseudo-random order that visits each once before it repeats.
func oddIDs() func() int64 {
	const step = 618_034 // coprime with benchPreloadRows
	var i int64
	return func() int64 {
		i++
		return 2*(i*step%benchPreloadRows) + 1
	}
}

func benchKey(id int64) *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", id)
	return pk
}

func benchPutChange(id int64) *tablestore.PutRowChange {
	change := &tablestore.PutRowChange{TableName: "bench", PrimaryKey: benchKey(id)}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.AddColumn("message", "a log line of some forty bytes, or so..")
	return change
}

func requireAllRowsWritten(b *testing.B, client *tablestore.TableStoreClient, request *tablestore.BatchWriteRowRequest) {
	if err := writeAllRows(client, request); err != nil {
		b.Fatal(err)
	}
}

// writeAllRows sends the request and fails unless every row succeeded.
func writeAllRows(client *tablestore.TableStoreClient, request *tablestore.BatchWriteRowRequest) error {
	resp, err := client.BatchWriteRow(request)
	if err != nil {
		return err
	}
	for _, rows := range resp.TableToRowsResult {
		for _, r := range rows {
			if !r.IsSucceed {
				return fmt.Errorf("row %d: %s %s", r.Index, r.Error.Code, r.Error.Message)
			}
		}
	}
	return nil
}

// reportRequestsPerSecond reports the requests a measurement sent per second of its run.
func reportRequestsPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
