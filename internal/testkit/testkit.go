// Package testkit holds small helpers that otsetl's tests in several packages share.
package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
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

// TriggerEvents returns the contents of the repository's trigger event files: the
// documentation's sample (testdata/official) and the scenario in JSON (testdata/scenario)
// and CBOR (testdata/scenario-cbor). It fails tb when a folder has none or a file cannot be
// read.
func TriggerEvents(tb testing.TB) [][]byte {
	tb.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testkit: cannot locate the repository")
	}
	testdata := filepath.Join(filepath.Dir(here), "..", "..", "testdata")
	var payloads [][]byte
	for _, pattern := range []string{"official/*", "scenario/*.json", "scenario-cbor/*.cbor"} {
		paths, err := filepath.Glob(filepath.Join(testdata, pattern))
		if err != nil || len(paths) == 0 {
			tb.Fatalf("testkit: no trigger event files match %s (%v)", pattern, err)
		}
		for _, path := range paths {
			payload, err := os.ReadFile(path)
			if err != nil {
				tb.Fatal(err)
			}
			payloads = append(payloads, payload)
		}
	}
	return payloads
}
