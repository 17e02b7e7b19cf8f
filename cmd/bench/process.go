package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
)

// mainPackage is the otsetl binary's package.
const mainPackage = "github.com/otsetl/otsetl/cmd/otsetl"

// startTimeout bounds how long a started function may take to answer its first invocation.
const startTimeout = 10 * time.Second

// refusedPause is the wait between attempts to reach a function that is not listening yet.
const refusedPause = 200 * time.Microsecond

// buildBinary builds the otsetl binary into dir with the go command on PATH and returns
// its path.
func buildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "otsetl")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, mainPackage)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", mainPackage, err, strings.TrimSpace(stderr.String()))
	}
	return bin, nil
}

// processFigures is what one start of `otsetl serve` measured.
type processFigures struct {
	// coldStart runs from starting the process to the answer of its first invocation.
	coldStart time.Duration
	// peakRSSBytes is the process's peak resident set (VmHWM) after the large invocation.
	peakRSSBytes int64
}

// serveTarget is what a started function is configured with.
type serveTarget struct {
	bin         string
	endpoint    string // the Tablestore endpoint
	instance    string
	resultTable string // empty for an export-only function
	creds       aliyun.Credentials
	// env holds the function's further variables, NAME=value (the export's).
	env []string
	// check checks each invocation's Summary.
	check checker
}

// instanceMemoryMB is the memory FC gives the function's instance: s.yaml's memorySize,
// which FC passes in FC_FUNCTION_MEMORY_SIZE.
const instanceMemoryMB = "512"

// servedFunction is a running `otsetl serve` process.
type servedFunction struct {
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
	invoker fcruntime.Invoker
	creds   aliyun.Credentials
}

// startServe starts `otsetl serve` with args on a free loopback port, as FC's custom runtime
// would, and invokes it with first until it answers. It returns the process and the time
// from its start to that answer (the cold start); stop the process with stop.
func startServe(ctx context.Context, target serveTarget, first []byte, args ...string) (*servedFunction, time.Duration, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, 0, err
	}
	f := &servedFunction{stderr: new(bytes.Buffer), invoker: fcruntime.Invoker{URL: "http://" + addr}, creds: target.creds}
	f.cmd = exec.Command(target.bin, append([]string{"serve", "--listen", addr}, args...)...)
	f.cmd.Env = []string{
		handler.EnvEndpoint + "=" + target.endpoint,
		handler.EnvInstance + "=" + target.instance,
		handler.EnvResultTable + "=" + target.resultTable,
		fcruntime.EnvMemorySize + "=" + instanceMemoryMB,
	}
	f.cmd.Env = append(f.cmd.Env, target.env...)
	f.cmd.Stderr = f.stderr
	start := time.Now()
	if err := f.cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("starting otsetl serve: %w", err)
	}
	for {
		_, err := f.invoke(ctx, "bench-first", first)
		if err == nil {
			return f, time.Since(start), nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > startTimeout {
			f.stop()
			return nil, 0, fmt.Errorf("first invocation of otsetl serve: %w (stderr: %s)", err, strings.TrimSpace(f.stderr.String()))
		}
		time.Sleep(refusedPause)
	}
}

// invoke sends one invocation under the trigger's time limit and returns its Summary.
func (f *servedFunction) invoke(ctx context.Context, id string, payload []byte) (handler.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, invocationTimeout)
	defer cancel()
	result, err := f.invoker.Invoke(ctx, fcruntime.Invocation{RequestID: id, Credentials: f.creds}, payload)
	if err != nil {
		return handler.Summary{}, err
	}
	var sum handler.Summary
	if err := json.Unmarshal(result, &sum); err != nil {
		return handler.Summary{}, fmt.Errorf("the result of otsetl serve is not a Summary: %w", err)
	}
	return sum, nil
}

// pid is the process id of the function.
func (f *servedFunction) pid() int { return f.cmd.Process.Pid }

// stop stops the function as FC does (SIGTERM), killing it if it has not exited within
// stopTimeout.
func (f *servedFunction) stop() {
	const stopTimeout = 5 * time.Second
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = f.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = f.cmd.Process.Kill()
		<-done
	}
}

// measureProcess starts `otsetl serve` and invokes it until it answers small (the cold
// start), then with large, then reads its peak resident set from /proc/<pid>/status. It
// stops the process before returning.
func measureProcess(ctx context.Context, target serveTarget, small, large []byte) (processFigures, error) {
	f, coldStart, err := startServe(ctx, target, small)
	if err != nil {
		return processFigures{}, err
	}
	defer f.stop()
	figures := processFigures{coldStart: coldStart}
	if _, err := f.invoke(ctx, "bench-large-event", large); err != nil {
		return processFigures{}, fmt.Errorf("large invocation of otsetl serve: %w", err)
	}
	if figures.peakRSSBytes, err = testkit.PeakRSS(f.pid()); err != nil {
		return processFigures{}, fmt.Errorf("%w (or run with -rss=false)", err)
	}
	return figures, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
