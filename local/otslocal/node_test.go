package otslocal_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
)

const (
	// nodeSuiteDir holds the Node.js suite: package.json, package-lock.json and the
	// *.test.mjs files that node --test finds.
	nodeSuiteDir = "testdata/node"
	// nodeSuiteTimeout bounds npm ci and the suite together.
	nodeSuiteTimeout = 5 * time.Minute
	// nodeAccessKeyID and nodeAccessKeySecret put the server in strict mode, so every
	// request the Node SDK sends must carry a valid signature.
	nodeAccessKeyID     = "node-suite-access-key"
	nodeAccessKeySecret = "node-suite-access-key-secret"
	// failingTestsHeading starts the spec reporter's summary of the failed tests.
	failingTestsHeading = "✖ failing tests:"
)

// TestNodeSDK runs the Node.js suite in testdata/node, which drives the server with the
// official npm tablestore SDK, against a server in this process. It installs the locked
// packages with npm ci when node_modules is missing. Without node or npm on PATH it is
// skipped, unless CI is set.
func TestNodeSDK(t *testing.T) {
	node, npm := requireNodeTool(t, "node"), requireNodeTool(t, "npm")
	statNodeSuiteFiles(t)
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{
		AccessKeyID:     nodeAccessKeyID,
		AccessKeySecret: nodeAccessKeySecret,
	})
	require.NoError(t, err)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), nodeSuiteTimeout)
	defer cancel()
	if _, err := os.Stat(filepath.Join(nodeSuiteDir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		if output, err := runNodeCommand(ctx, t, nil, npm, "ci", "--no-audit", "--no-fund"); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", nodeSuiteDir, err, output)
		}
	}
	env := []string{
		"OTSLOCAL_ENDPOINT=" + srv.Endpoint,
		"OTSLOCAL_INSTANCE=otslocal",
		"OTSLOCAL_ACCESS_KEY_ID=" + nodeAccessKeyID,
		"OTSLOCAL_ACCESS_KEY_SECRET=" + nodeAccessKeySecret,
	}
	if output, err := runNodeCommand(ctx, t, env, node, "--test", "--test-reporter=spec"); err != nil {
		t.Fatalf("node --test in %s: %v\n%s", nodeSuiteDir, err, nodeFailureSummary(output))
	}
}

// requireNodeTool returns the path of a program the suite needs. When it is not on PATH
// the test is skipped, or fails when the CI environment variable is set.
func requireNodeTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	reason := name + " is not on PATH: the Node.js SDK suite in " + nodeSuiteDir + " needs Node.js 20+ and npm"
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
	return ""
}

// statNodeSuiteFiles stats the suite's own files. go test caches a passing result keyed
// on the files the test stats or opens, so this makes an edited suite run again instead
// of reporting the cached result.
func statNodeSuiteFiles(t *testing.T) {
	t.Helper()
	scripts, err := filepath.Glob(filepath.Join(nodeSuiteDir, "*.mjs"))
	require.NoError(t, err)
	for _, name := range append(scripts, filepath.Join(nodeSuiteDir, "package.json"), filepath.Join(nodeSuiteDir, "package-lock.json")) {
		_, err := os.Stat(name)
		require.NoError(t, err)
	}
}

// runNodeCommand runs a command in nodeSuiteDir with extra environment variables, sends each
// line of its combined output to t.Log as it comes, and returns the whole output. When
// ctx ends the command is killed, and its output pipes are closed 10 s later even if
// child processes still hold them.
func runNodeCommand(ctx context.Context, t *testing.T, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = nodeSuiteDir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out := &nodeOutputLogger{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	out.flush()
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = errors.Join(err, ctxErr)
	}
	return out.all.String(), err
}

// nodeOutputLogger is an io.Writer that logs each complete line to t and keeps everything
// written. Stdout and stderr share one, so writes are serialised.
type nodeOutputLogger struct {
	t       *testing.T
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
}

func (l *nodeOutputLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	for {
		end := bytes.IndexByte(l.partial, '\n')
		if end < 0 {
			return len(p), nil
		}
		l.t.Log(string(l.partial[:end]))
		l.partial = l.partial[end+1:]
	}
}

// flush logs a last line that has no newline.
func (l *nodeOutputLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.t.Log(string(l.partial))
		l.partial = nil
	}
}

// nodeFailureSummary is the spec reporter's list of failed tests with their errors, or the
// whole output when it has none (the run broke before reporting).
func nodeFailureSummary(output string) string {
	if i := strings.Index(output, failingTestsHeading); i >= 0 {
		return output[i:]
	}
	return output
}
