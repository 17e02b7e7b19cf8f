package otslocal_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
)

// newFaultClient starts a server with table "t" (pk "id" INTEGER) and returns it with an
// SDK client that does not retry, so every injected fault reaches the test.
func newFaultClient(t *testing.T) (*tablestore.TableStoreClient, *otslocal.Server) {
	t.Helper()
	srv := startServer(t)
	createTable(t, tablestore.NewClient(srv.Endpoint, "inst", "ak", "sk"), "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	config := tablestore.NewDefaultTableStoreConfig()
	config.RetryTimes = 0
	return tablestore.NewClientWithConfig(srv.Endpoint, "inst", "ak", "sk", "", config), srv
}

// putID writes row id of table "t" with column v = id.
func putID(client *tablestore.TableStoreClient, id int64) error {
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: putChange("t", key("id", id), ignore, "v", id)})
	return err
}

// rowExists reads row id of table "t".
func rowExists(t *testing.T, client *tablestore.TableStoreClient, id int64) bool {
	t.Helper()
	return getRow(t, client, "t", key("id", id)).PrimaryKey.PrimaryKeys != nil
}

func TestInvalidFaultsAreRejected(t *testing.T) {
	cases := map[string]otslocal.Faults{
		"negative latency":      {Latency: -time.Millisecond},
		"negative jitter":       {Jitter: -time.Millisecond},
		"negative rate":         {Default: otslocal.FaultRates{ServerBusy: -0.1}},
		"rate above 1":          {Default: otslocal.FaultRates{RowFailure: 1.5}},
		"NaN rate":              {Default: otslocal.FaultRates{DropConnection: math.NaN()}},
		"request rates above 1": {Default: otslocal.FaultRates{ServerBusy: 0.5, PartitionUnavailable: 0.3, DropConnection: 0.3}},
		"per-operation rate":    {PerOperation: map[string]otslocal.FaultRates{"PutRow": {RowOperationConflict: 2}}},
		"unknown action":        {PerOperation: map[string]otslocal.FaultRates{"BatchWritRow": {}}},
	}
	client, srv := newFaultClient(t)
	busy := otslocal.Faults{PerOperation: map[string]otslocal.FaultRates{"ListTable": {ServerBusy: 1}}}
	require.NoError(t, srv.SetFaults(busy))
	for name, faults := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{Faults: faults})
			require.Error(t, err)
			require.Error(t, srv.SetFaults(faults))
		})
	}
	_, err := client.ListTable()
	requireOTSError(t, err, http.StatusServiceUnavailable, "OTSServerBusy", "Server is busy.")

	third := 1.0 / 3
	require.NoError(t, srv.SetFaults(otslocal.Faults{Default: otslocal.FaultRates{ServerBusy: third, PartitionUnavailable: third, RowOperationConflict: third, RowFailure: 1}}),
		"rates that add up to 1 only up to rounding")
}

func TestSetFaultsWhileRequestsAreServed(t *testing.T) {
	client, srv := newFaultClient(t)
	var wg sync.WaitGroup
	for worker := range int64(4) {
		wg.Go(func() {
			for id := range int64(25) {
				_ = putID(client, worker*100+id) // some fail, by design
			}
		})
	}
	for seed := range int64(20) {
		require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: seed, Default: otslocal.FaultRates{ServerBusy: 0.5, RowFailure: 0.5}}))
		require.NoError(t, srv.SetFaults(otslocal.Faults{}))
	}
	wg.Wait()
	require.NoError(t, putID(client, 1000))
	assert.True(t, rowExists(t, client, 1000), "the server serves on without faults")
}

func TestInjectedErrorsAreTheServiceErrorsAndApplyNothing(t *testing.T) {
	cases := []struct {
		rates   otslocal.FaultRates
		status  int
		code    string
		message string
	}{
		{otslocal.FaultRates{ServerBusy: 1}, http.StatusServiceUnavailable, "OTSServerBusy", "Server is busy."},
		{otslocal.FaultRates{PartitionUnavailable: 1}, http.StatusServiceUnavailable, "OTSPartitionUnavailable", "The partition is not available."},
		{otslocal.FaultRates{RowOperationConflict: 1}, http.StatusConflict, "OTSRowOperationConflict", "Data is being modified by the other request."},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			client, srv := newFaultClient(t)
			require.NoError(t, srv.SetFaults(otslocal.Faults{PerOperation: map[string]otslocal.FaultRates{"PutRow": c.rates}}))
			requireOTSError(t, putID(client, 1), c.status, c.code, c.message)
			assert.False(t, rowExists(t, client, 1), "GetRow has no faults and sees that PutRow was not applied")

			require.NoError(t, srv.SetFaults(otslocal.Faults{}))
			require.NoError(t, putID(client, 1))
			assert.True(t, rowExists(t, client, 1))
		})
	}
}

func TestTheSDKRetriesInjectedErrorsUntilTheyClear(t *testing.T) {
	srv := startServer(t)
	client := tablestore.NewClient(srv.Endpoint, "inst", "ak", "sk") // the SDK's default retries
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: 7, Default: otslocal.FaultRates{
		ServerBusy: 0.2, PartitionUnavailable: 0.2, RowOperationConflict: 0.1, DropConnection: 0.1, RowFailure: 0.3,
	}}))
	for id := range int64(20) {
		require.NoError(t, putID(client, id))
	}
	require.NoError(t, srv.SetFaults(otslocal.Faults{}))
	for id := range int64(20) {
		assert.True(t, rowExists(t, client, id), "row %d", id)
	}
}

func TestDroppedConnectionComesAfterTheRequestIsApplied(t *testing.T) {
	client, srv := newFaultClient(t)
	require.NoError(t, srv.SetFaults(otslocal.Faults{PerOperation: map[string]otslocal.FaultRates{"PutRow": {DropConnection: 1}}}))
	err := putID(client, 1)
	require.Error(t, err)
	var oe *tablestore.OtsError
	require.False(t, errors.As(err, &oe), "a dropped connection has no service error, got %v", err)
	assert.ErrorContains(t, err, "EOF")
	assert.True(t, rowExists(t, client, 1), "the dropped PutRow was applied")
}

func TestLatencyDelaysEveryRequest(t *testing.T) {
	client, srv := newFaultClient(t)
	const latency, jitter = 30 * time.Millisecond, 20 * time.Millisecond
	require.NoError(t, srv.SetFaults(otslocal.Faults{Latency: latency, Jitter: jitter}))
	for id := range int64(3) {
		start := time.Now()
		require.NoError(t, putID(client, id))
		assert.GreaterOrEqual(t, time.Since(start), latency)
	}
}

// batchWriteIDs writes rows ids of table "t" in one BatchWriteRow and returns the SDK's
// per-row outcomes.
func batchWriteIDs(t *testing.T, client *tablestore.TableStoreClient, ids ...int64) []rowOutcome {
	t.Helper()
	written, err := tryBatchWriteIDs(client, ids...)
	require.NoError(t, err)
	return written
}

func tryBatchWriteIDs(client *tablestore.TableStoreClient, ids ...int64) ([]rowOutcome, error) {
	req := &tablestore.BatchWriteRowRequest{}
	for _, id := range ids {
		req.AddRowChange(putChange("t", key("id", id), ignore, "v", id))
	}
	resp, err := client.BatchWriteRow(req)
	if err != nil {
		return nil, err
	}
	return outcomes(resp.TableToRowsResult["t"]), nil
}

// batchGetIDs reads rows ids of table "t" in one BatchGetRow and returns the SDK's per-row
// outcomes.
func batchGetIDs(t *testing.T, client *tablestore.TableStoreClient, ids ...int64) []rowOutcome {
	t.Helper()
	criteria := &tablestore.MultiRowQueryCriteria{TableName: "t", MaxVersion: 1}
	for _, id := range ids {
		criteria.AddRow(key("id", id))
	}
	req := &tablestore.BatchGetRowRequest{}
	req.MultiRowQueryCriteria = append(req.MultiRowQueryCriteria, criteria)
	resp, err := client.BatchGetRow(req)
	require.NoError(t, err)
	return outcomes(resp.TableToRowsResult["t"])
}

var partitionUnavailableRow = rowOutcome{code: "OTSPartitionUnavailable", message: "The partition is not available."}

func TestRowFailuresFailRowsAlone(t *testing.T) {
	client, srv := newFaultClient(t)
	require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: 1, PerOperation: map[string]otslocal.FaultRates{
		"BatchWriteRow": {RowFailure: 0.5},
	}}))
	ids := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	written := batchWriteIDs(t, client, ids...)

	require.Contains(t, written, rowOK)
	require.Contains(t, written, partitionUnavailableRow)
	for i, outcome := range written {
		require.Contains(t, []rowOutcome{rowOK, partitionUnavailableRow}, outcome)
		assert.Equal(t, outcome == rowOK, rowExists(t, client, ids[i]), "row %d is applied exactly when it succeeded", ids[i])
	}
}

func TestRowFailureFailsAnAtomicBatchWhole(t *testing.T) {
	client, srv := newFaultClient(t)
	// The rows of an atomic batch share their partition key, the first primary key column.
	createTable(t, client, "p", 1, primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: 1, PerOperation: map[string]otslocal.FaultRates{
		"BatchWriteRow": {RowFailure: 0.5},
	}}))
	req := &tablestore.BatchWriteRowRequest{IsAtomic: true}
	for id := range int64(10) {
		req.AddRowChange(putChange("p", key("region", "hangzhou", "id", id), ignore, "v", id))
	}
	resp, err := client.BatchWriteRow(req)
	require.NoError(t, err)
	for _, outcome := range outcomes(resp.TableToRowsResult["p"]) {
		assert.Equal(t, partitionUnavailableRow, outcome, "every row reports the first row failure")
	}
	for id := range int64(10) {
		assert.Nil(t, getRow(t, client, "p", key("region", "hangzhou", "id", id)).PrimaryKey.PrimaryKeys, "row %d applied", id)
	}
}

func TestRowFailuresInBatchGetRow(t *testing.T) {
	client, srv := newFaultClient(t)
	require.NoError(t, putID(client, 1))
	require.NoError(t, srv.SetFaults(otslocal.Faults{PerOperation: map[string]otslocal.FaultRates{"BatchGetRow": {RowFailure: 1}}}))
	assert.Equal(t, []rowOutcome{partitionUnavailableRow, partitionUnavailableRow}, batchGetIDs(t, client, 1, 2))

	require.NoError(t, srv.SetFaults(otslocal.Faults{}))
	assert.Equal(t, []rowOutcome{rowOK, rowOK}, batchGetIDs(t, client, 1, 2))
}

func TestTheSDKResendsFailedRowsUntilTheyAreApplied(t *testing.T) {
	srv := startServer(t)
	client := tablestore.NewClient(srv.Endpoint, "inst", "ak", "sk") // the SDK's default retries
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: 3, Default: otslocal.FaultRates{RowFailure: 0.3}}))
	ids := make([]int64, 50)
	for i := range ids {
		ids[i] = int64(i)
	}
	written := batchWriteIDs(t, client, ids...)
	assert.NotContains(t, written, partitionUnavailableRow)
	assert.NotContains(t, batchGetIDs(t, client, ids[:20]...), partitionUnavailableRow)

	require.NoError(t, srv.SetFaults(otslocal.Faults{}))
	for _, id := range ids {
		assert.True(t, rowExists(t, client, id), "row %d", id)
	}
}

// faultSequence runs a fixed sequence of requests against a fresh server with faults f
// and describes what each one met.
func faultSequence(t *testing.T, f otslocal.Faults) []string {
	t.Helper()
	client, srv := newFaultClient(t)
	require.NoError(t, srv.SetFaults(f))
	var seen []string
	for id := range int64(40) {
		if id%4 == 3 {
			written, err := tryBatchWriteIDs(client, id, id+100, id+200)
			seen = append(seen, describeError(err)+fmt.Sprint(written))
			continue
		}
		seen = append(seen, describeError(putID(client, id)))
	}
	return seen
}

// describeError names what a request met: "ok", a service error code or "dropped".
func describeError(err error) string {
	var oe *tablestore.OtsError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &oe):
		return oe.Code
	}
	return "dropped"
}

func TestFaultsAreDeterministic(t *testing.T) {
	faults := otslocal.Faults{Seed: 42, Jitter: time.Millisecond, Default: otslocal.FaultRates{
		ServerBusy: 0.15, PartitionUnavailable: 0.15, RowOperationConflict: 0.15, DropConnection: 0.15, RowFailure: 0.3,
	}}
	first := faultSequence(t, faults)
	assert.Equal(t, first, faultSequence(t, faults), "same seed, same requests: same faults")
	for _, kind := range []string{"ok", "OTSServerBusy", "OTSPartitionUnavailable", "OTSRowOperationConflict", "dropped"} {
		assert.Contains(t, first, kind)
	}

	faults.Seed = 43
	assert.NotEqual(t, first, faultSequence(t, faults), "another seed: other faults")
}
