// Command otsetl is the otsetl function and its local tools in one binary.
//
//	otsetl serve                 the function under FC's custom runtime (HTTP on $FC_CUSTOM_LISTEN_PORT)
//	otsetl replay PATH...        replay trigger event files through the function, locally or against an instance
//	otsetl otslocal              a local, wire-compatible Tablestore server
//	otsetl local [-f s.yaml]     otslocal, the function and a local Tablestore trigger, from s.yaml
//	otsetl capture ...           read a table's Stream into replayable event files
//	otsetl sync ...              make the result table equal to the view of the source table
//
// Started by FC's go1 runtime (FC_RUNTIME_API set), it serves invocations through the
// runtime API whatever its arguments. Configuration comes from the environment; see
// docs/design.md, "Configuration".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
)

func main() {
	if os.Getenv(fcruntime.EnvRuntimeAPI) != "" {
		fn, err := newFunction(os.LookupEnv, slog.New(slog.NewJSONHandler(os.Stdout, nil)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "otsetl:", err)
			os.Exit(2)
		}
		gc, err := gcSettingsFor(os.Getenv)
		if err != nil {
			fmt.Fprintln(os.Stderr, "otsetl:", err)
			os.Exit(2)
		}
		gc.apply()
		fcruntime.StartGo1(fn.Invoke)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ error }

// environment is the environment a command reads: os.LookupEnv in production. The
// function's configuration tells a variable set empty from one unset (RESULT_TABLE).
type environment func(name string) (value string, set bool)

// get returns the variable's value, "" when it is unset.
func (env environment) get(name string) string {
	v, _ := env(name)
	return v
}

// run executes the command line args and returns the process exit code: 0 on success,
// 1 when the work failed, 2 on a usage or configuration error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env environment) int {
	root := &cobra.Command{
		Use:           "otsetl",
		Short:         "Change-driven ETL for Tablestore: a Function Compute function fed by a Tablestore trigger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return usageError{errors.New("a command is required")}
		}
		return usageError{fmt.Errorf("unknown command %q; see otsetl --help", args[0])}
	}
	root.AddCommand(serveCommand(env), replayCommand(env), otslocalCommand(env.get), localCommand(env), captureCommand(env.get), syncCommand(env))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "otsetl:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageArgs makes an argument check's error a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// newFunction reads and validates the function's configuration from env and builds the
// function, which logs its invocations to logger; the error is one line.
func newFunction(env environment, logger *slog.Logger) (*handler.Function, error) {
	cfg, err := handler.ConfigFromEnv(env)
	if err != nil {
		return nil, usageError{err}
	}
	fn, err := handler.New(cfg, logger)
	if err != nil {
		return nil, usageError{err}
	}
	return fn, nil
}
