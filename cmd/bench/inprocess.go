package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/transform"
)

// maxBatchWriteRows is Tablestore's limit on the rows of one BatchWriteRow request
// (Tablestore "Limits", wide column model), which otsetl fills.
const maxBatchWriteRows = 200

// invocationTimeout bounds one invocation, as the Tablestore trigger does (1 minute).
const invocationTimeout = fcruntime.TriggerTimeLimit

// throughput is what one pass over the workload's events did.
type throughput struct {
	records       int
	elapsed       time.Duration
	writeRequests int
	readRequests  int
	retries       int
	// insane lists the events whose figures break otsetl's request rule, one line each.
	insane []string
}

// recordsPerSecond is the pass's throughput in records per second.
func (t throughput) recordsPerSecond() float64 {
	return float64(t.records) / t.elapsed.Seconds()
}

// batchWriteRequests is ceil(mutations/200): the fewest BatchWriteRow requests that write
// mutations rows.
func batchWriteRequests(mutations int) int {
	return (mutations + maxBatchWriteRows - 1) / maxBatchWriteRows
}

// expectedWriteRequests is what otsetl's BatchWriteRow requests must number without faults:
// ceil(mutations/200) per event, summed.
func expectedWriteRequests(evs []workloadEvent) int {
	total := 0
	for _, ev := range evs {
		total += batchWriteRequests(ev.mutations)
	}
	return total
}

// checker checks the Summary of event i's invocation by who, returning a line for each
// check that fails: planChecks for a function writing the result table, exportChecks for
// an export-only one.
type checker func(who string, i int, sum handler.Summary, ev workloadEvent) []string

// runOtsetl invokes fn once per event, in order, as one shard of the trigger would, and
// checks each invocation with check. A failed invocation is an error; a check that fails is
// a line in throughput.insane.
func runOtsetl(ctx context.Context, fn *handler.Function, creds aliyun.Credentials, evs []workloadEvent, check checker) (throughput, error) {
	var t throughput
	start := time.Now()
	for i, ev := range evs {
		sum, err := invokeOnce(ctx, fn, creds, ev.payload)
		if err != nil {
			return t, fmt.Errorf("otsetl: event %d: %w", i, err)
		}
		t.insane = append(t.insane, check("otsetl", i, sum, ev)...)
		t.records += sum.Records
		t.writeRequests += sum.WriteRequests
		t.readRequests += sum.ReadRequests
		t.retries += sum.Retries
	}
	t.elapsed = time.Since(start)
	return t, nil
}

// planChecks checks the Summary of event i's invocation against the plan: ceil(mutations/200)
// write requests, one row written per mutation, no retries (the benchmark injects no
// faults). It returns a line, starting with who, for each check that fails.
func planChecks(who string, i int, sum handler.Summary, ev workloadEvent) []string {
	var insane []string
	if want := batchWriteRequests(ev.mutations); sum.WriteRequests != want {
		insane = append(insane, fmt.Sprintf("%s: event %d: %d write requests for %d mutations, want ceil(%d/%d) = %d", who, i, sum.WriteRequests, ev.mutations, ev.mutations, maxBatchWriteRows, want))
	}
	if written := sum.Puts + sum.Updates + sum.Deletes; written != ev.mutations {
		insane = append(insane, fmt.Sprintf("%s: event %d: %d rows written for %d mutations", who, i, written, ev.mutations))
	}
	if sum.Retries > 0 {
		insane = append(insane, fmt.Sprintf("%s: event %d: %d retries without injected faults", who, i, sum.Retries))
	}
	return insane
}

// invokeOnce runs one invocation under the trigger's time limit.
func invokeOnce(ctx context.Context, fn *handler.Function, creds aliyun.Credentials, payload []byte) (handler.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, invocationTimeout)
	defer cancel()
	return fn.Process(ctx, creds, payload)
}

// runSequential replays the events with the baseline: one sequential PutRow per record, as
// the documented sample handler does. It decodes the event, then sends one request per
// record, in order, with the official Go SDK's default client: a PutRow or UpdateRow whose
// own `level` cell is above 1 becomes a PutRow of its Put cells; a DeleteRow becomes a
// DeleteRow (which a baseline that keeps deletes needs; the sample handles PutRow alone);
// every other record is skipped. It does less than otsetl: it neither deletes rows that
// stop passing nor applies UpdateRows without `level`, and reads nothing.
func runSequential(client *sdk.TableStoreClient, table string, evs []workloadEvent) (throughput, error) {
	var t throughput
	start := time.Now()
	for i, ev := range evs {
		decoded, err := events.Decode(ev.payload)
		if err != nil {
			return t, fmt.Errorf("sequential: event %d: %w", i, err)
		}
		for j := range decoded.Records {
			sent, err := sequentialWrite(client, table, &decoded.Records[j])
			if err != nil {
				return t, fmt.Errorf("sequential: event %d, record %d: %w", i, j, err)
			}
			if sent {
				t.writeRequests++
			}
		}
		t.records += len(decoded.Records)
	}
	t.elapsed = time.Since(start)
	return t, nil
}

// sequentialWrite sends the baseline's request for rec, if any, and reports whether it sent
// one.
func sequentialWrite(client *sdk.TableStoreClient, table string, rec *events.Record) (bool, error) {
	pk := new(sdk.PrimaryKey)
	for _, c := range rec.PrimaryKey {
		pk.AddPrimaryKeyColumn(c.ColumnName, c.Value.Any())
	}
	if rec.Type == events.DeleteRow {
		del := &sdk.DeleteRowChange{TableName: table, PrimaryKey: pk}
		del.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		_, err := client.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: del})
		return true, err
	}
	if !sequentialPasses(rec) {
		return false, nil
	}
	put := &sdk.PutRowChange{TableName: table, PrimaryKey: pk}
	put.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	for _, c := range rec.Columns {
		if c.Type == events.Put {
			put.AddColumn(c.ColumnName, c.Value.Any())
		}
	}
	_, err := client.PutRow(&sdk.PutRowRequest{PutRowChange: put})
	return true, err
}

// sequentialPasses is the baseline's filter on the record's own cells: a Put of `level` above
// 1, as the documented sample handler tests it.
func sequentialPasses(rec *events.Record) bool {
	for _, c := range rec.Columns {
		if level, ok := c.Value.Int(); ok && c.Type == events.Put && c.ColumnName == "level" {
			return level > 1
		}
	}
	return false
}

// measureDecodePlan measures the CPU side of one invocation on ev, decoding the payload and
// planning its mutations, with testing.Benchmark (about a second), per record.
func measureDecodePlan(rule *transform.Rule, ev workloadEvent) (decodePlan, error) {
	if _, err := events.Decode(ev.payload); err != nil {
		return decodePlan{}, fmt.Errorf("decode + plan: %w", err)
	}
	result := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decoded, _ := events.Decode(ev.payload) // decodes without error: checked above
			rule.Plan(decoded)
		}
	})
	ops := float64(result.N) * float64(len(ev.records))
	return decodePlan{nsPerRecord: float64(result.T.Nanoseconds()) / ops, allocsPerRecord: float64(result.MemAllocs) / ops}, nil
}
