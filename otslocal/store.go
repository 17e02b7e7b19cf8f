package otslocal

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
)

// store holds every table in memory. One RWMutex guards all of it: reads share it, and
// a write request holds it exclusively while it checks conditions and applies its rows,
// so each request is atomic with respect to every other.
type store struct {
	mu     sync.RWMutex
	tables map[string]*table
	now    func() time.Time // the server clock: timestamps, TTL and the deviation check
	faults *faultInjector   // per-row failures of batch requests; nil injects none

	streams      map[string]*stream // every stream ever enabled, open or closed, by id
	streamShards int                // shards of each new stream
}

func newStore(clock func() time.Time) *store {
	return &store{tables: map[string]*table{}, now: clock, streams: map[string]*stream{}, streamShards: 1}
}

// table is one table: its schema and options, and its rows sorted by primary key.
type table struct {
	name                   string
	schema                 []primaryKeySchema
	definedColumns         []*otsprotocol.DefinedColumnSchema
	timeToLive             int32 // seconds; -1 keeps data forever
	maxVersions            int32
	deviationSec           int64 // max distance in seconds of a written timestamp from now
	reservedRead           int32
	reservedWrite          int32
	createdAt              time.Time
	throughputRaisedAt     time.Time // the last UpdateTable that raised reserved throughput, else createdAt
	throughputLoweredAt    time.Time // the last UpdateTable that lowered it; zero if none did
	stream                 *stream   // the open stream; nil while the Stream is off
	rows                   []*storedRow
	lastAutoIncrementValue int64
}

// storedRow is one row. A row exists while it is stored, even when it has no attribute
// columns left or TTL hides all its versions. A row is never changed once stored: a
// write builds a new storedRow and swaps it in.
type storedRow struct {
	primaryKey primaryKey
	columns    map[string][]version // attribute column name → versions, newest first
}

// version is one value of an attribute column at a timestamp in ms.
type version struct {
	timestamp int64
	value     columnValue
}

// table returns the named table or 404 OTSObjectNotExist. The caller holds the lock.
func (s *store) table(name string) (*table, error) {
	if t, ok := s.tables[name]; ok {
		return t, nil
	}
	return nil, errTableNotExist
}

// search returns the index of the first row whose key is ≥ pk, and whether it is equal.
func (t *table) search(pk primaryKey) (int, bool) {
	i := sort.Search(len(t.rows), func(i int) bool {
		return comparePrimaryKeys(t.rows[i].primaryKey, pk) >= 0
	})
	return i, i < len(t.rows) && comparePrimaryKeys(t.rows[i].primaryKey, pk) == 0
}

// get returns the row with this key, or nil.
func (t *table) get(pk primaryKey) *storedRow {
	if i, found := t.search(pk); found {
		return t.rows[i]
	}
	return nil
}

// set stores r under pk, replacing any row there; a nil r removes the row.
func (t *table) set(pk primaryKey, r *storedRow) {
	i, found := t.search(pk)
	switch {
	case found && r == nil:
		t.rows = slices.Delete(t.rows, i, i+1)
	case found:
		t.rows[i] = r
	case r != nil:
		t.rows = slices.Insert(t.rows, i, r)
	}
}

// nextAutoIncrementValue hands out the next value of the auto-increment primary key
// column: a per-table counter, unique and increasing.
func (t *table) nextAutoIncrementValue() int64 {
	t.lastAutoIncrementValue++
	return t.lastAutoIncrementValue
}

// liveVersions are the versions a read may see: TTL hides versions older than
// now − time_to_live. Versions beyond max_versions are dropped when written.
func (t *table) liveVersions(versions []version, now time.Time) []version {
	if t.timeToLive < 0 {
		return versions
	}
	oldest := now.UnixMilli() - int64(t.timeToLive)*1000
	n := sort.Search(len(versions), func(i int) bool { return versions[i].timestamp < oldest })
	return versions[:n]
}

// clone returns a copy of the row that can be changed without touching the original.
func (r *storedRow) clone() *storedRow {
	columns := make(map[string][]version, len(r.columns))
	for name, versions := range r.columns {
		columns[name] = slices.Clone(versions)
	}
	return &storedRow{primaryKey: r.primaryKey, columns: columns}
}

// columnNames returns the attribute column names in ascending byte order.
func (r *storedRow) columnNames() []string {
	return slices.Sorted(maps.Keys(r.columns))
}

// putVersion adds v to the column, replacing a version at the same timestamp, and keeps
// at most maxVersions of the newest.
func putVersion(versions []version, v version, maxVersions int32) []version {
	i := sort.Search(len(versions), func(i int) bool { return versions[i].timestamp <= v.timestamp })
	if i < len(versions) && versions[i].timestamp == v.timestamp {
		versions[i] = v
	} else {
		versions = slices.Insert(versions, i, v)
	}
	if len(versions) > int(maxVersions) {
		versions = versions[:maxVersions]
	}
	return versions
}

// deleteVersion removes the version at exactly this timestamp, if there is one.
func deleteVersion(versions []version, timestamp int64) []version {
	return slices.DeleteFunc(versions, func(v version) bool { return v.timestamp == timestamp })
}
