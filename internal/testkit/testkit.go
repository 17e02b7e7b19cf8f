// Package testkit holds small helpers that otsetl's tests in several packages, and the
// benchmark, share.
package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// PeakRSS returns the peak resident set size of process pid in bytes: the VmHWM line of
// /proc/<pid>/status (Linux proc(5)), given in kB. Elsewhere than on Linux it fails.
func PeakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS needs Linux's /proc: %w", err)
	}
	return ParseVmHWM(status)
}

// ParseVmHWM reads the VmHWM line ("VmHWM:	   51200 kB") of a /proc/<pid>/status file and
// returns it in bytes.
func ParseVmHWM(status []byte) (int64, error) {
	lines := bufio.NewScanner(bytes.NewReader(status))
	for lines.Scan() {
		value, found := strings.CutPrefix(lines.Text(), "VmHWM:")
		if !found {
			continue
		}
		kB, found := strings.CutSuffix(strings.TrimSpace(value), " kB")
		if !found {
			return 0, fmt.Errorf("VmHWM %q is not in kB", strings.TrimSpace(value))
		}
		n, err := strconv.ParseInt(strings.TrimSpace(kB), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", strings.TrimSpace(value), err)
		}
		return n << 10, nil
	}
	return 0, errors.New("no VmHWM line in the process status")
}

// BuildOtsetl builds the otsetl command (package cmd/otsetl) with `go build` into a temporary
// folder of tb and returns the binary's path; a failed build fails tb with the compiler's
// output.
func BuildOtsetl(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "otsetl")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/otsetl/otsetl/cmd/otsetl").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// FreePort returns a 127.0.0.1 address ("127.0.0.1:PORT") whose port was free a moment ago,
// for a server a test starts in another process.
func FreePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close: %v", err)
	}
	return addr
}
