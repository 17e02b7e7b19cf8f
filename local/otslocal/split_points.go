package otslocal

import (
	"crypto/md5"
	"encoding/hex"
	"math"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// ComputeSplitPointsBySize parameters (Tablestore API reference, ComputeSplitPointsBySize:
// https://www.alibabacloud.com/help/en/tablestore/developer-reference/computesplitpointsbysize;
// the limits and messages of the Java SDK's function test TestComputeSplitPointsBySize).
const (
	// defaultSplitSizeUnit is the unit of split_size when split_size_unit_in_byte is
	// absent: 100 MB.
	defaultSplitSizeUnit = 100 << 20
	// minSplitSizeUnit is the smallest split_size_unit_in_byte the service accepts.
	minSplitSizeUnit = 1 << 20
	// versionOverheadBytes is what a stored version costs besides its name and value: its
	// timestamp.
	versionOverheadBytes = 8
)

// computeSplitPointsBySize divides a table into consecutive primary key ranges ("splits") of
// about split_size × split_size_unit_in_byte bytes of data each and returns the points
// between them, as the service does for compute engines that plan parallel scans.
//
// Data size is counted as the service stores it, approximately: each row's primary key
// values, and every stored version's column name, value and timestamp. A split ends once it
// holds at least the split size, at a change of the partition key (the first primary key
// column), since the service never divides a partition key's rows. A split point is then
// that partition key value alone: the proto's "trailing -inf will be omitted", and the SDKs
// fill the other columns with INF_MIN. With split_point_limit, at most that many points
// are returned, chosen evenly among the computed ones. An empty table, or one smaller than
// a split, is one split from INF_MIN to INF_MAX.
//
// Every split lies in one location, a 32-character hint as the service's: one
// SplitLocation whose repeat is the number of splits, so that the SDKs, which assign
// locations to splits by repeat count, never run past their splits (the Go SDK panics on a
// repeat sum above len(split_points)+1, tablestore/api.go ComputeSplitPointsBySize).
func (st *store) computeSplitPointsBySize(req *otsprotocol.ComputeSplitPointsBySizeRequest) (proto.Message, error) {
	if req.GetSplitSize() <= 0 {
		return nil, parameterInvalid("The split_size should be greater than 0.")
	}
	unit := int64(defaultSplitSizeUnit)
	if req.SplitSizeUnitInByte != nil {
		if unit = req.GetSplitSizeUnitInByte(); unit < minSplitSizeUnit {
			return nil, parameterInvalid("The split_size_unit_in_byte should be greater equal than: %d", minSplitSizeUnit)
		}
	}
	limit := math.MaxInt
	if req.SplitPointLimit != nil {
		if req.GetSplitPointLimit() <= 0 {
			return nil, parameterInvalid("The split_point_limit should be greater than 0.")
		}
		limit = int(req.GetSplitPointLimit())
	}
	splitBytes := int64(math.MaxInt64)
	if req.GetSplitSize() <= math.MaxInt64/unit {
		splitBytes = req.GetSplitSize() * unit
	}

	st.mu.RLock()
	defer st.mu.RUnlock()
	t, err := st.table(req.GetTableName())
	if err != nil {
		return nil, err
	}
	points := evenlyChosen(t.partitionSplitPoints(splitBytes), limit)
	resp := &otsprotocol.ComputeSplitPointsBySizeResponse{
		Consumed: readConsumed(),
		Schema:   t.meta().PrimaryKey,
		Locations: []*otsprotocol.ComputeSplitPointsBySizeResponse_SplitLocation{{
			Location: proto.String(splitLocation(t.name)),
			Repeat:   proto.Int64(int64(len(points) + 1)),
		}},
	}
	for _, point := range points {
		prefix := row{primaryKey: []cell{{name: t.schema[0].name, value: point, hasValue: true}}}
		resp.SplitPoints = append(resp.SplitPoints, encodeRows(prefix))
	}
	return resp, nil
}

// partitionSplitPoints returns the partition key values at which the table's rows, in
// primary key order, are cut into splits of at least splitBytes: each point is the
// partition key of the first row of the next split, and never one of the split before.
func (t *table) partitionSplitPoints(splitBytes int64) []columnValue {
	var (
		points    []columnValue
		size      int64
		partition *columnValue // the partition key of the row before
	)
	t.ascend(nil, func(r *storedRow) bool {
		key := r.primaryKey[0]
		if size >= splitBytes && partition != nil && compareKeyValues(key, *partition) != 0 {
			points = append(points, key)
			size = 0
		}
		size += storedSize(r)
		partition = &key
		return true
	})
	return points
}

// storedSize is the data size of a stored row in bytes: its primary key values, and the
// column name, value and timestamp of every version.
func storedSize(r *storedRow) int64 {
	var size int64
	for _, v := range r.primaryKey {
		size += valueSize(v)
	}
	for name, versions := range r.columns {
		for _, v := range versions {
			size += int64(len(name)) + valueSize(v.value) + versionOverheadBytes
		}
	}
	return size
}

// valueSize is the size of a value's payload: 8 bytes for INTEGER and DOUBLE, 1 for
// BOOLEAN, the bytes of STRING and BLOB.
func valueSize(v columnValue) int64 {
	switch v.typ {
	case vtInteger, vtDouble:
		return 8
	case vtBoolean:
		return 1
	}
	return int64(len(v.bytes))
}

// evenlyChosen returns at most limit of points, spread evenly over them, in order.
func evenlyChosen(points []columnValue, limit int) []columnValue {
	if len(points) <= limit {
		return points
	}
	chosen := make([]columnValue, limit)
	for i := range chosen {
		chosen[i] = points[(i+1)*len(points)/(limit+1)]
	}
	return chosen
}

// splitLocation is the location hint of a table's splits: 32 hexadecimal characters, the
// length of the service's.
func splitLocation(table string) string {
	sum := md5.Sum([]byte(table))
	return hex.EncodeToString(sum[:])
}
