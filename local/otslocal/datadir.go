package otslocal

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
)

// dataDir keeps a server's state in a directory: the entries of persist.go, in the files
// of a walStore. Write requests submit their operations in commit order; a request that
// waits for them to be durable while nobody writes becomes the writer, and writes
// everything submitted so far as one synced transaction, its own operations and those of
// the requests that came meanwhile (group commit: concurrent requests share one write, and
// one sync with Options.SyncWrites). A request is answered only once its operations are
// durable (journal.wait): in the kernel's hands, or on the disk with SyncWrites.
type dataDir struct {
	path string
	wal  *walStore
	in   *instances // whose state it keeps, for snapshots

	mu        sync.Mutex
	synced    *sync.Cond // signalled when a write ends
	pending   []dataOp   // submitted, not yet being written
	submitted uint64     // sequence number of the latest submit
	durable   uint64     // every submit up to this one is durable
	writing   bool       // a request is writing
	writes    uint64     // synced writes so far, each of one or more submits
	err       error      // the first write that failed: nothing is durable after it
}

// ErrNotADataDir is wrapped by NewServer's error when Options.DataDir holds files but no
// data directory; nothing is written into it.
var ErrNotADataDir = errors.New("it holds files that are not otslocal's: give an empty or a new directory")

// ErrDataDirInUse is wrapped by NewServer's error when another server, in this process or
// another, has Options.DataDir.
var ErrDataDirInUse = errors.New("in use by another otslocal (only one server at a time may have a data directory)")

// openDataDir opens the data directory at path, creating it when it does not exist,
// loads its state into the instances, which are empty, and keeps them there from then on.
// The directory is locked until close: a second server on it is refused. A directory that
// holds anything but a data directory is refused too.
func (in *instances) openDataDir(path string, syncWrites bool) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("otslocal: data directory: %w", err)
	}
	d := &dataDir{path: path, in: in}
	d.synced = sync.NewCond(&d.mu)
	in.dir = d // from here on, every store gets a journal
	formatKey := entryKey(kindFormat)
	formatSeen := false
	wal, isNew, err := openWAL(path, syncWrites, func(key, value []byte) error {
		if !formatSeen && string(key) != string(formatKey) {
			return ErrNotADataDir
		}
		formatSeen = true
		return loader{in}.visit(key, value)
	})
	if err == nil && isNew {
		err = wal.write([]dataOp{formatEntry()})
	} else if err == nil && !formatSeen {
		err = ErrNotADataDir
	}
	if err != nil {
		if wal != nil {
			_ = wal.close()
		}
		return fmt.Errorf("otslocal: data directory %s: %w", path, err)
	}
	d.wal = wal
	for _, st := range in.byName {
		if err := st.trimExpiredRecords(); err != nil {
			_ = wal.close()
			return fmt.Errorf("otslocal: data directory %s: %w", path, err)
		}
	}
	return nil
}

// submit queues operations and returns their sequence number.
func (d *dataDir) submit(ops []dataOp) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = append(d.pending, ops...)
	d.submitted++
	return d.submitted
}

// wait returns once submit seq is durable, or with the error that keeps it from being.
// While it waits and nobody writes, it writes.
func (d *dataDir) wait(seq uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.durable < seq && d.err == nil {
		if d.writing {
			d.synced.Wait()
			continue
		}
		ops, upTo := d.pending, d.submitted
		d.pending, d.writing = nil, true
		d.mu.Unlock()
		err := d.wal.write(ops)
		if err == nil && d.wal.wantsSnapshot() {
			upTo, err = d.snapshot(upTo)
		}
		d.mu.Lock()
		d.writing = false
		d.writes++
		if err != nil {
			d.err = &otsError{http.StatusInternalServerError, codeInternalServerError,
				fmt.Sprintf("otslocal could not write its data directory %s (%v); it acknowledges nothing more: restart it.", d.path, err)}
		}
		d.durable = upTo
		d.synced.Broadcast()
	}
	return d.err
}

// snapshot has the log start anew and a snapshot of the state written in the background.
// It holds every store's lock while it captures the state, so that the log before the new
// one ends exactly where the state is: it first writes what was submitted since the
// writer took its operations. It returns the sequence number durable then, durable
// itself if it fails.
func (d *dataDir) snapshot(durable uint64) (uint64, error) {
	unlock := d.in.lockAll()
	defer unlock()
	d.mu.Lock()
	ops, upTo := d.pending, d.submitted
	d.pending = nil
	d.mu.Unlock()
	if len(ops) > 0 {
		if err := d.wal.write(ops); err != nil {
			return durable, err
		}
	}
	return upTo, d.wal.startSnapshot(d.in.snapshotOf())
}

// close writes what is still pending, which a request that did not wait for its
// operations may have left, and closes the store. No request may be in progress.
func (d *dataDir) close() error {
	var err error
	if len(d.pending) > 0 && d.err == nil {
		err = d.wal.write(d.pending)
	}
	return errors.Join(err, d.wal.close())
}
