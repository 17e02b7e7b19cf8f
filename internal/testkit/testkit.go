// Package testkit holds small helpers that otsetl's tests in several packages share.
package testkit

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that a writer (a logger, a child process's output) and a
// reader in other goroutines may use at once. The zero value is an empty buffer.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
