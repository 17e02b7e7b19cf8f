package otslocal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gofrs/flock"
	"github.com/google/btree"
)

// walStore keeps the entries of a data directory in files: a snapshot, every entry at
// some point, and write-ahead logs, the operations since, which a write appends (and, with
// sync set, syncs). Opening it replays the snapshot and the logs. Once the log has grown larger than
// compactLogBytes and the snapshot, the data directory has it start a new log and write,
// in the background, a snapshot of the state up to it (startSnapshot); the files that
// snapshot replaces are deleted once it is on disk.
//
// Files, each named with a generation (16 hex digits), as frames (appendFrame):
//
//	LOCK                       held (flock) while a server has the directory
//	snapshot-<generation>      every entry written by the logs before that generation
//	snapshot-<generation>.tmp  a snapshot being written, removed when a compaction is cut short
//	wal-<generation>           operations, appended by the writes, each write one frame
//
// A log is written ahead with zeros, logChunkBytes at a time, and the frames overwrite them:
// a write then changes no file metadata, and its sync (fdatasync) is one flush of the data,
// not a commit of the file system's journal, which every other process's file operations
// lengthen. A frame of length 0 ends a log.
//
// The state is the newest snapshot, then every log of its generation or later, in order.
// A write that was cut short by a crash leaves a last frame that is incomplete or fails its
// checksum; it was never acknowledged, and opening cuts it off. A damaged frame anywhere
// else is an error.
type walStore struct {
	path string
	lock *flock.Flock
	// sync makes every write sync the log (fdatasync) before it returns, so that it
	// survives a crash of the operating system too; without it a write returns once the
	// kernel has the frame, which survives the process being killed.
	sync bool

	log         *os.File // the current log, written at logBytes
	generation  uint64   // the current log's
	logBytes    int64    // the whole frames of the log; zeros follow, up to logSize
	logSize     int64
	snapshotGen uint64 // the newest snapshot's generation; 0: none
	snapshotLen int64
	compactAt   atomic.Int64 // a log larger than this and the snapshot wants a snapshot
	frame       []byte       // reused by write

	snapshotting sync.WaitGroup
	snapshot     chan writtenSnapshot // the result of the snapshot being written; nil when none is
	stop         chan struct{}        // closed by close
}

// writtenSnapshot is the result of writing a snapshot: its generation and size, or the
// error.
type writtenSnapshot struct {
	generation uint64
	size       int64
	err        error
}

const (
	walLockFile     = "LOCK"
	walLogPrefix    = "wal-"
	walSnapPrefix   = "snapshot-"
	walTempSuffix   = ".tmp"
	compactLogBytes = 64 << 20
	// logChunkBytes of zeros are written ahead of the frames of a log at a time.
	logChunkBytes = 4 << 20
	// snapshotFrameBytes is about the payload of each frame of a snapshot.
	snapshotFrameBytes = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one key and its value.
type entry struct {
	key   string
	value []byte
}

func newEntryTree() *btree.BTreeG[entry] {
	return btree.NewG(32, func(a, b entry) bool { return a.key < b.key })
}

// walFile names the file of a kind (walLogPrefix, walSnapPrefix) and generation.
func walFile(prefix string, generation uint64) string {
	return fmt.Sprintf("%s%016x", prefix, generation)
}

// openWAL opens the data directory at path, which exists, locks it, and calls visit
// with every entry in key order. A directory with no files (but a LOCK file) is new; one
// with other files but neither a snapshot nor a log is refused with ErrNotADataDir,
// without anything written into it; one that another walStore has locked, with
// ErrDataDirInUse.
func openWAL(path string, sync bool, visit func(key, value []byte) error) (w *walStore, isNew bool, err error) {
	if _, _, _, err := listWAL(path); err != nil {
		return nil, false, err
	}
	lock := flock.New(filepath.Join(path, walLockFile))
	locked, err := lock.TryLock()
	if err != nil {
		return nil, false, err
	}
	if !locked {
		return nil, false, ErrDataDirInUse
	}
	w = &walStore{path: path, lock: lock, sync: sync, stop: make(chan struct{})}
	w.compactAt.Store(compactLogBytes)
	// Listed again now that no other walStore can change the files.
	snapshots, logs, temps, err := listWAL(path)
	if err == nil {
		err = w.open(snapshots, logs, temps, visit)
	}
	if err != nil {
		_ = w.close()
		return nil, false, err
	}
	return w, len(snapshots) == 0 && len(logs) == 0, nil
}

// listWAL returns the generations of the snapshots and logs in the directory, and the
// names of unfinished snapshots. A directory with other files and no snapshot or log is
// ErrNotADataDir.
func listWAL(path string) (snapshots, logs []uint64, temps []string, err error) {
	files, err := os.ReadDir(path)
	if err != nil {
		return nil, nil, nil, err
	}
	others := 0
	for _, f := range files {
		name := f.Name()
		base, temp := strings.CutSuffix(name, walTempSuffix)
		var generations *[]uint64
		switch {
		case name == walLockFile:
			continue
		case strings.HasPrefix(base, walSnapPrefix):
			generations = &snapshots
		case strings.HasPrefix(name, walLogPrefix):
			generations = &logs
		default:
			others++
			continue
		}
		gen, err := strconv.ParseUint(base[strings.IndexByte(base, '-')+1:], 16, 64)
		switch {
		case err != nil:
			others++
		case temp:
			temps = append(temps, name)
		default:
			*generations = append(*generations, gen)
		}
	}
	if others > 0 && len(snapshots) == 0 && len(logs) == 0 {
		return nil, nil, nil, ErrNotADataDir
	}
	return snapshots, logs, temps, nil
}

// open removes what an interrupted compaction left, replays the snapshot and the logs
// into visit, and opens the newest log for writing (a new one when there is none).
func (w *walStore) open(snapshots, logs []uint64, temps []string, visit func(key, value []byte) error) error {
	if len(snapshots) > 0 {
		w.snapshotGen = slices.Max(snapshots)
	}
	for _, name := range temps {
		if err := os.Remove(filepath.Join(w.path, name)); err != nil {
			return err
		}
	}
	// What a crash left of a snapshot's replacing the files before it.
	for _, gen := range snapshots {
		if gen < w.snapshotGen {
			_ = os.Remove(filepath.Join(w.path, walFile(walSnapPrefix, gen)))
		}
	}
	w.removeBefore(w.snapshotGen, 0)
	logs = slices.DeleteFunc(slices.Sorted(slices.Values(logs)), func(gen uint64) bool { return gen < w.snapshotGen })

	entries := newEntryTree()
	if w.snapshotGen > 0 {
		name := walFile(walSnapPrefix, w.snapshotGen)
		replayed, err := replayFile(filepath.Join(w.path, name), entries, snapshotFile)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		w.snapshotLen = replayed.whole
	}
	for i, gen := range logs {
		name := walFile(walLogPrefix, gen)
		last := i == len(logs)-1
		kind := logFile
		if last {
			kind = newestLogFile
		}
		replayed, err := replayFile(filepath.Join(w.path, name), entries, kind)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if last {
			if w.log, err = os.OpenFile(filepath.Join(w.path, name), os.O_WRONLY, 0); err != nil {
				return err
			}
			// Zero what a crash left of a write it cut short: the next writes go after the
			// last whole frame.
			if replayed.torn > 0 {
				if _, err := w.log.WriteAt(make([]byte, replayed.torn), replayed.whole); err != nil {
					return err
				}
				if err := fdatasync(w.log); err != nil {
					return err
				}
			}
			w.generation, w.logBytes, w.logSize = gen, replayed.whole, replayed.size
		}
	}
	if w.log == nil {
		if err := w.newLog(max(w.snapshotGen, 1)); err != nil {
			return err
		}
	}
	var err error
	entries.Ascend(func(e entry) bool {
		// Copies, so that the state loaded keeps no file's contents alive.
		err = visit([]byte(e.key), bytes.Clone(e.value))
		return err == nil
	})
	return err
}

// removeBefore removes the snapshot of generation replaced and the logs before
// generation, which the snapshot of generation holds. A file that cannot be removed stays,
// harmless: opening removes it.
func (w *walStore) removeBefore(generation, replaced uint64) {
	if replaced > 0 {
		_ = os.Remove(filepath.Join(w.path, walFile(walSnapPrefix, replaced)))
	}
	logs, _ := filepath.Glob(filepath.Join(w.path, walLogPrefix+"*"))
	for _, path := range logs {
		if gen, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(path), walLogPrefix), 16, 64); err == nil && gen < generation {
			_ = os.Remove(path)
		}
	}
}

// newLog creates the log of generation gen, empty, and makes it the current one.
func (w *walStore) newLog(gen uint64) error {
	f, err := os.OpenFile(filepath.Join(w.path, walFile(walLogPrefix, gen)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := syncDir(w.path); err != nil {
		_ = f.Close()
		return err
	}
	if w.log != nil {
		_ = w.log.Close() // synced by the write that appended to it last
	}
	w.log, w.generation, w.logBytes, w.logSize = f, gen, 0, 0
	return nil
}

// write appends the operations to the log as one frame, and syncs it when w.sync is set.
// It returns the error of a snapshot that failed in the background since the last write.
func (w *walStore) write(ops []dataOp) error {
	if err := w.snapshotWritten(); err != nil {
		return err
	}
	w.frame = appendFrame(w.frame[:0], ops)
	frame := int64(len(w.frame))
	if w.logBytes+frame > w.logSize {
		// The zeros ahead of the frames run out: write the next chunk with the frame.
		chunk := max(logChunkBytes, frame)
		w.frame = append(w.frame, make([]byte, chunk)...)
		w.logSize = w.logBytes + frame + chunk
	}
	if _, err := w.log.WriteAt(w.frame, w.logBytes); err != nil {
		return err
	}
	if w.sync {
		if err := fdatasync(w.log); err != nil {
			return err
		}
	}
	w.logBytes += frame
	return nil
}

// wantsSnapshot reports whether the log has grown larger than the snapshot and
// compactLogBytes, and no snapshot is being written.
func (w *walStore) wantsSnapshot() bool {
	return w.logBytes > max(w.compactAt.Load(), w.snapshotLen) && w.snapshot == nil
}

// snapshotWritten takes the result of a snapshot that has been written: it becomes the
// newest, or its error is returned.
func (w *walStore) snapshotWritten() error {
	if w.snapshot == nil {
		return nil
	}
	select {
	case s := <-w.snapshot:
		w.snapshot = nil
		if s.err == nil {
			w.snapshotGen, w.snapshotLen = s.generation, s.size
		}
		return s.err
	default:
		return nil
	}
}

// startSnapshot starts a new log, and writes in the background the snapshot of the state
// as the log before it leaves it: entries calls put with every entry, in any order. The
// snapshot then replaces the older one and the logs before the new one. The caller keeps
// the state from changing until startSnapshot returns; entries must read only what
// stays as it was after that.
func (w *walStore) startSnapshot(entries func(put func(key, value []byte) error) error) error {
	replaced := w.snapshotGen
	generation := w.generation + 1
	if err := w.newLog(generation); err != nil {
		return err
	}
	result := make(chan writtenSnapshot, 1)
	w.snapshot = result
	w.snapshotting.Add(1)
	go func() {
		defer w.snapshotting.Done()
		size, err := w.writeSnapshot(generation, entries)
		if err == nil {
			w.removeBefore(generation, replaced)
		}
		result <- writtenSnapshot{generation: generation, size: size, err: err}
	}()
	return nil
}

// writeSnapshot writes the entries as the snapshot of the generation and returns its size.
// A snapshot that close interrupts is removed.
func (w *walStore) writeSnapshot(generation uint64, entries func(put func(key, value []byte) error) error) (int64, error) {
	name := walFile(walSnapPrefix, generation)
	temp := filepath.Join(w.path, name+walTempSuffix)
	f, err := os.OpenFile(temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	out := bufio.NewWriterSize(f, 1<<20)
	var size int64
	var ops []dataOp
	payload := 0
	var frame []byte
	flush := func() error {
		frame = appendFrame(frame[:0], ops)
		ops, payload = ops[:0], 0
		size += int64(len(frame))
		_, err := out.Write(frame)
		return err
	}
	err = entries(func(key, value []byte) error {
		ops = append(ops, dataOp{key: key, value: value})
		if payload += len(key) + len(value); payload < snapshotFrameBytes {
			return nil
		}
		select {
		case <-w.stop:
			return errStopped
		default:
			return flush()
		}
	})
	if err == nil && len(ops) > 0 {
		err = flush()
	}
	if err == nil {
		err = out.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(temp, filepath.Join(w.path, name))
	}
	if err == nil {
		err = syncDir(w.path)
	}
	if err != nil {
		_ = os.Remove(temp)
		if errors.Is(err, errStopped) {
			return 0, nil // nobody takes the result
		}
		return 0, fmt.Errorf("writing %s: %w", name, err)
	}
	return size, nil
}

// errStopped ends a snapshot that close interrupts.
var errStopped = errors.New("stopped")

// close interrupts a snapshot being written and waits for it, closes the log and lets go
// of the lock.
func (w *walStore) close() error {
	close(w.stop)
	w.snapshotting.Wait()
	var err error
	if w.log != nil {
		err = w.log.Close()
	}
	return errors.Join(err, w.lock.Unlock())
}

// syncDir makes the directory's entries durable: a file created or renamed in it. Windows
// cannot sync a directory, and needs not.
func syncDir(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Operation codes in a frame's payload.
const (
	opcodePut         = 1
	opcodeDelete      = 2
	opcodeDeleteRange = 3
)

// appendFrame appends the frame of the operations: length, CRC-32C, then per operation its
// code and its key, then the value (put) or the end (delete range), each a uvarint length
// and the bytes.
func appendFrame(buf []byte, ops []dataOp) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, 8)...)
	for _, op := range ops {
		switch {
		case op.end != nil:
			buf = appendBytes(append(buf, opcodeDeleteRange), op.key)
			buf = appendBytes(buf, op.end)
		case op.value == nil:
			buf = appendBytes(append(buf, opcodeDelete), op.key)
		default:
			buf = appendBytes(append(buf, opcodePut), op.key)
			buf = appendBytes(buf, op.value)
		}
	}
	payload := buf[start+8:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

func appendBytes(buf, b []byte) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(b))), b...)
}

// errDamaged is the error of a frame that fails its checks where no crash can have left
// it.
var errDamaged = errors.New("damaged")

// replayed is what replayFile found in a file: the bytes of its whole frames, the bytes
// of a last frame a crash cut short after them (tornTail only), and the file's size.
type replayed struct {
	whole, torn, size int64
}

// walFileKind says how replayFile reads a file.
type walFileKind int

const (
	snapshotFile  walFileKind = iota // frames to its end
	logFile                          // frames, then zeros
	newestLogFile                    // frames, perhaps one a crash cut short, then zeros
)

// replayFile applies the frames of the file to entries. A log's frames end at a frame of
// length 0, where its zeros begin. The newest log may hold a last frame that is incomplete
// or fails its checksum, with nothing but zeros after it: a write a crash cut short.
func replayFile(path string, entries *btree.BTreeG[entry], kind walFileKind) (replayed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return replayed{}, err
	}
	r := replayed{size: int64(len(data))}
	for rest := data; len(rest) > 0; {
		var length uint64
		if len(rest) >= 8 {
			length = uint64(binary.LittleEndian.Uint32(rest))
			if kind != snapshotFile && length == 0 && binary.LittleEndian.Uint32(rest[4:]) == 0 {
				if !onlyZeros(rest) {
					return replayed{}, fmt.Errorf("%w at byte %d: frames after zeros", errDamaged, r.whole)
				}
				break
			}
		}
		whole := len(rest) >= 8 && length <= uint64(len(rest)-8)
		var payload []byte
		if whole {
			payload = rest[8 : 8+length]
			whole = crc32.Checksum(payload, castagnoli) == binary.LittleEndian.Uint32(rest[4:])
		}
		if !whole {
			end := min(uint64(len(rest)), 8+length)
			if kind == newestLogFile && onlyZeros(rest[end:]) {
				r.torn = int64(end)
				return r, nil
			}
			return replayed{}, fmt.Errorf("%w at byte %d", errDamaged, r.whole)
		}
		if err := applyOps(payload, entries); err != nil {
			return replayed{}, fmt.Errorf("%w at byte %d: %v", errDamaged, r.whole, err)
		}
		rest = rest[8+len(payload):]
		r.whole += int64(8 + len(payload))
	}
	return r, nil
}

// applyOps applies a frame's payload to entries.
func applyOps(payload []byte, entries *btree.BTreeG[entry]) error {
	next := func() ([]byte, error) {
		n, size := binary.Uvarint(payload)
		if size <= 0 || n > uint64(len(payload)-size) {
			return nil, errors.New("malformed operation")
		}
		b := payload[size : size+int(n) : size+int(n)]
		payload = payload[size+int(n):]
		return b, nil
	}
	for len(payload) > 0 {
		code := payload[0]
		payload = payload[1:]
		key, err := next()
		if err != nil {
			return err
		}
		switch code {
		case opcodePut:
			value, err := next()
			if err != nil {
				return err
			}
			entries.ReplaceOrInsert(entry{key: string(key), value: value})
		case opcodeDelete:
			entries.Delete(entry{key: string(key)})
		case opcodeDeleteRange:
			end, err := next()
			if err != nil {
				return err
			}
			var doomed []entry
			entries.AscendRange(entry{key: string(key)}, entry{key: string(end)}, func(e entry) bool {
				doomed = append(doomed, e)
				return true
			})
			for _, e := range doomed {
				entries.Delete(e)
			}
		default:
			return fmt.Errorf("unknown operation %d", code)
		}
	}
	return nil
}
