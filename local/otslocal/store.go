package otslocal

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/google/btree"
)

// instances holds the instances of a server, each a store of its own: as on the service,
// an instance is a namespace, and a request reaches only the tables and Streams of the
// instance its x-ots-instancename header names. An instance comes into being with its
// first request; names are compared exactly, case included.
type instances struct {
	mu     sync.Mutex
	byName map[string]*store
	now    func() time.Time // the server clock, shared by every instance
	faults *faultInjector
	// streamShards is the number of shards of each new stream, in every instance.
	streamShards int
	// dir keeps every instance on disk; nil keeps them in memory only.
	dir *dataDir
}

func newInstances(clock func() time.Time, faults *faultInjector, streamShards int) *instances {
	return &instances{byName: map[string]*store{}, now: clock, faults: faults, streamShards: streamShards}
}

// close lets go of the data directory, if any, once everything submitted is on disk.
// No request may be in progress.
func (in *instances) close() {
	if in.dir != nil {
		_ = in.dir.close() // every write was synced before it was answered; nothing is left to lose
	}
}

// store returns the store of the named instance, creating it empty on first use.
func (in *instances) store(name string) *store {
	in.mu.Lock()
	defer in.mu.Unlock()
	st, ok := in.byName[name]
	if !ok {
		st = &store{tables: map[string]*table{}, now: in.now, faults: in.faults, streams: map[string]*stream{}, streamShards: in.streamShards}
		if in.dir != nil {
			st.journal = &journal{dir: in.dir, instance: name}
		}
		in.byName[name] = st
	}
	return st
}

// store holds every table of one instance in memory. One RWMutex guards all of it: reads
// share it, and a write request holds it exclusively while it checks conditions and
// applies its rows, so each request is atomic with respect to every other. With a data
// directory, a write request records what it changes in the journal and lets go of the
// lock with unlock, which submits it.
type store struct {
	mu      sync.RWMutex
	journal *journal // nil without a data directory
	tables  map[string]*table
	now     func() time.Time // the server clock: timestamps, TTL and the deviation check
	faults  *faultInjector   // per-row failures of batch requests; nil injects none

	streams      map[string]*stream // every stream of the instance ever enabled, open or closed, by id
	streamShards int                // shards of each new stream
}

// table is one table: its schema and options, and its rows ordered by primary key. Its
// row access goes through get, set, ascend and descend.
type table struct {
	name                   string
	schema                 []primaryKeySchema
	definedColumns         []*otsprotocol.DefinedColumnSchema
	timeToLive             int32 // seconds; -1 keeps data forever
	maxVersions            int32
	deviationSec           int64 // max distance in seconds of a written timestamp from now
	allowUpdate            bool  // false: UpdateRow is refused
	updateFullRow          bool  // true: an UpdateRow writes every column of the row at its version
	reservedRead           int32
	reservedWrite          int32
	createdAt              time.Time
	throughputRaisedAt     time.Time // the last UpdateTable that raised reserved throughput, else createdAt
	throughputLoweredAt    time.Time // the last UpdateTable that lowered it; zero if none did
	stream                 *stream   // the open stream; nil while the Stream is off
	rows                   *btree.BTreeG[*storedRow]
	lastAutoIncrementValue int64
}

// rowTreeDegree is the degree of a table's B-tree: each node holds up to 2·degree−1 rows.
const rowTreeDegree = 32

// newRowTree returns an empty row tree ordered by primary key.
func newRowTree() *btree.BTreeG[*storedRow] {
	return btree.NewG(rowTreeDegree, func(a, b *storedRow) bool { return comparePrimaryKeys(a.primaryKey, b.primaryKey) < 0 })
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

// unlock ends a write request's hold of the lock, submitting what it changed to the data
// directory first, so that the directory receives changes in the order they commit.
func (st *store) unlock() {
	st.journal.submit()
	st.mu.Unlock()
}

// table returns the named table or 404 OTSObjectNotExist. The caller holds the lock.
func (s *store) table(name string) (*table, error) {
	if t, ok := s.tables[name]; ok {
		return t, nil
	}
	return nil, errTableNotExist
}

// get returns the row with this key, or nil. O(log n).
func (t *table) get(pk primaryKey) *storedRow {
	r, _ := t.rows.Get(&storedRow{primaryKey: pk})
	return r
}

// set stores r under pk, replacing any row there; a nil r removes the row. r's own key
// is pk. O(log n).
func (t *table) set(pk primaryKey, r *storedRow) {
	if r == nil {
		t.rows.Delete(&storedRow{primaryKey: pk})
		return
	}
	t.rows.ReplaceOrInsert(r)
}

// ascend calls visit with the rows whose key is ≥ from, in ascending key order, until
// visit returns false. from may hold INF_MIN and INF_MAX; a nil from, shorter than every
// key, visits every row. O(log n) to the first row.
func (t *table) ascend(from primaryKey, visit func(*storedRow) bool) {
	t.rows.AscendGreaterOrEqual(&storedRow{primaryKey: from}, visit)
}

// descend calls visit with the rows whose key is ≤ from, in descending key order, until
// visit returns false. from may hold INF_MIN and INF_MAX. O(log n) to the first row.
func (t *table) descend(from primaryKey, visit func(*storedRow) bool) {
	t.rows.DescendLessOrEqual(&storedRow{primaryKey: from}, visit)
}

// hasAutoIncrement reports whether a primary key column of the table is AUTO_INCREMENT.
func (t *table) hasAutoIncrement() bool {
	return slices.ContainsFunc(t.schema, func(c primaryKeySchema) bool { return c.autoIncrement })
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
