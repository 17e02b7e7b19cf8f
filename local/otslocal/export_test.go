package otslocal

// CompactDataDirAt makes the data directory of srv compact its log once it is larger than
// n bytes and the snapshot, instead of compactLogBytes, so that tests compact small states.
func CompactDataDirAt(srv *Server, n int64) {
	srv.instances.dir.wal.compactAt.Store(n)
}

// DataDirWrites is how many synced writes the data directory of srv has made.
func DataDirWrites(srv *Server) uint64 {
	d := srv.instances.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes
}

// WaitForDataDirSnapshot waits until the data directory of srv has written the snapshot it
// is writing, if any. No request may be in progress.
func WaitForDataDirSnapshot(srv *Server) {
	srv.instances.dir.wal.snapshotting.Wait()
}
