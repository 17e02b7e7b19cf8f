package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/replay"
	"github.com/otsetl/otsetl/ops/tableio"
)

// localInstance is the instance name replay and local use on their embedded otslocal
// (which accepts any), unless told another.
const localInstance = "otsetl-local"

// defaultOtslocalAddress is where `otsetl otslocal` and the otslocal of `otsetl local` listen
// unless told another address.
const defaultOtslocalAddress = "127.0.0.1:8900"

// localCredentials are the access key replay and local use on their embedded otslocal
// (which accepts any), unless the environment holds one.
var localCredentials = aliyun.Credentials{AccessKeyID: "local", AccessKeySecret: "local"}

func replayCommand(env environment) *cobra.Command {
	var (
		endpoint, instance string
		applyToSource      bool
		verbose            bool
	)
	cmd := &cobra.Command{
		Use:   "replay [--endpoint URL --instance NAME] PATH...",
		Short: "Replay trigger events (.cbor, .json files, captured .log lines) through the function and print the result table",
		Long: `Replay trigger events through the function's HTTP path, in file-name order.

PATH is an event file (.cbor or .json), a function log (.log) holding payloads the function
captured with CAPTURE_PAYLOADS (each captured line is an event, in the order of the lines), or
a folder of such files. Only regular files are read, and no event over FC's 32 MiB. The
function runs in this
process with the configuration of the environment (SOURCE_TABLE, RESULT_TABLE, FILTER,
COLUMNS, DEAD_LETTER_TABLE), exactly as under FC's custom runtime.

Without --endpoint, replay starts an embedded local Tablestore (otslocal), creates the source,
result and dead-letter tables with the primary key the events carry, re-enacts each event's
records on the source table first (as production would have), then invokes the function.

With --endpoint it only invokes the function against that instance, with the credentials in
ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN;
--apply-to-source re-enacts the events on its source table as well.

Replay stops at the first failed invocation, as the trigger would block the shard, and exits 1.

It prints one summary line per event; with 10 events or more and standard output a terminal,
a progress bar below them.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if (endpoint == "") != (instance == "") {
				return usageError{errors.New("--endpoint and --instance go together")}
			}
			sources, err := replay.Sources(paths)
			if err != nil {
				return usageError{err}
			}
			var creds aliyun.Credentials
			embedded := endpoint == ""
			if embedded {
				srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
				if err != nil {
					return err
				}
				defer srv.Close()
				endpoint, instance, creds, applyToSource = srv.Endpoint, localInstance, localCredentials, true
			} else if creds, err = requireCredentials(env.get, "--endpoint"); err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			fn, err := newFunction(pointedAt(env, endpoint, instance), logger)
			if err != nil {
				return err
			}
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			invoker, err := startFunction(ctx, fn, logger)
			if err != nil {
				return err
			}

			out := cmd.OutOrStdout()
			progress := newProgress(out, len(sources), isTerminal(out))
			client := tableio.NewClient(endpoint, instance, creds)
			cfg := replay.Config{
				Tablestore:    client,
				Credentials:   creds,
				Function:      fn.Config(),
				Invoker:       invoker,
				CreateTables:  embedded,
				ApplyToSource: applyToSource,
				OnEvent:       progress.eventDone,
			}
			results, runErr := replay.Run(cmd.Context(), cfg, sources)
			progress.stop()
			fmt.Fprintf(out, "\nreplayed %d of %d events: %s\n", len(results), len(sources), replay.Total(results).String())
			if runErr != nil || fn.Config().ResultTable == "" {
				return runErr
			}
			rows, err := tableio.Scan(cmd.Context(), client, fn.Config().ResultTable)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\nresult table %q (%d rows):\n", fn.Config().ResultTable, len(rows))
			return replay.PrintTable(out, rows)
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "Tablestore endpoint to use instead of an embedded otslocal, e.g. https://myinstance.cn-hangzhou.ots.aliyuncs.com")
	cmd.Flags().StringVar(&instance, "instance", "", "Tablestore instance name (with --endpoint)")
	cmd.Flags().BoolVar(&applyToSource, "apply-to-source", false, "with --endpoint: re-enact each event's records on the source table before invoking")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every invocation (JSON lines on stderr)")
	return cmd
}

// startFunction serves fn under the custom-runtime protocol on a loopback port of this
// process until ctx ends, and returns an invoker for it.
func startFunction(ctx context.Context, fn *handler.Function, logger *slog.Logger) (*fcruntime.Invoker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		_ = fcruntime.Serve(ctx, ln, fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: logger}))
	}()
	return &fcruntime.Invoker{URL: "http://" + ln.Addr().String()}, nil
}

// progressMinEvents is the number of events from which replay shows a progress bar.
const progressMinEvents = 10

// progress reports replayed events on out: one summary line per event and, when it has a bar,
// a progress bar below the lines.
type progress struct {
	out io.Writer
	bar *progressbar.ProgressBar // nil: lines only
}

// newProgress returns the progress of replaying n events onto out, with a bar when out is
// a terminal and there are at least progressMinEvents events. Without a terminal the output
// stays plain lines, fit for logs and tests.
func newProgress(out io.Writer, n int, terminal bool) *progress {
	p := &progress{out: out}
	if terminal && n >= progressMinEvents {
		p.bar = progressbar.NewOptions(n,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription("replaying"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionShowIts(),
			progressbar.OptionFullWidth(),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(out) }),
		)
	}
	return p
}

// eventDone prints r's summary line and advances the bar.
func (p *progress) eventDone(r replay.Result) {
	line := fmt.Sprintf("%s: %s", r.Source, r.Summary)
	if p.bar == nil {
		fmt.Fprintln(p.out, line)
		return
	}
	// The bar prints the line above itself when it redraws, which Add does.
	_, _ = progressbar.Bprintln(p.bar, line)
	_ = p.bar.Add(1)
}

// stop ends the bar's line, whether every event was replayed or replay stopped early, so that
// what follows starts on a line of its own.
func (p *progress) stop() {
	if p.bar != nil && !p.bar.IsFinished() {
		_ = p.bar.Exit()
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
