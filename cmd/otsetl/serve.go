package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/fcruntime"
)

// defaultPort is the custom runtime's default listening port (CAPort 9000,
// https://www.alibabacloud.com/help/en/functioncompute/fc/principles-1).
const defaultPort = "9000"

func serveCommand(env environment) *cobra.Command {
	var listen string
	var inFlight int64
	var profileDir string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the function under FC's custom-runtime HTTP protocol (POST /invoke, POST /initialize)",
		Long: `Serve the function under FC's custom-runtime HTTP protocol.

It listens on 0.0.0.0:$FC_CUSTOM_LISTEN_PORT, else 0.0.0.0:$FC_SERVER_PORT, else 0.0.0.0:9000,
and stops gracefully on SIGTERM or Ctrl-C. The configuration is read from the environment
and validated before it listens. It answers FC's lifecycle hooks (/initialize, /pre-freeze,
/pre-stop).

The invocations in flight at once may hold half of the instance's memory
($FC_FUNCTION_MEMORY_SIZE MB, 512 if unset): an invocation holds up to 10 bytes for each byte
of its payload (measured), so their payloads may take a twentieth of it, or
--max-inflight-bytes. An invocation beyond that fails at once with errorType InstanceBusy and
is invoked again later, instead of the instance running out of memory. One invocation is
always admitted.

The garbage collector is sized to the instance: unless GOMEMLIMIT and GOGC say otherwise, a
memory limit of 75% of the instance's memory less 16 MiB for the binary's own pages, and GOGC
200 under it. Under a flood of invocations the process stays within 80% of its memory.

--profile DIR is for diagnostics: it writes the CPU profile of the whole run (cpu.pprof) and
the allocation profile (allocs.pprof) into DIR when the process stops, and after every
invocation a line of the allocations and garbage collections so far (invocations.jsonl).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			logger := slog.New(slog.NewJSONHandler(cmd.OutOrStdout(), nil))
			fn, err := newFunction(env, logger)
			if err != nil {
				return err
			}
			bound, err := maxInFlightBytes(inFlight, env.get)
			if err != nil {
				return usageError{err}
			}
			gc, err := gcSettingsFor(env.get)
			if err != nil {
				return usageError{err}
			}
			invoke := fcruntime.Func[any](fn.Invoke)
			if profileDir != "" {
				p, perr := startProfiler(profileDir)
				if perr != nil {
					return usageError{perr}
				}
				defer func() { err = errors.Join(err, p.stop()) }()
				invoke = profiled(p, invoke)
			}
			if listen == "" {
				listen = net.JoinHostPort("0.0.0.0", firstNonEmpty(env.get("FC_CUSTOM_LISTEN_PORT"), env.get("FC_SERVER_PORT"), defaultPort))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			memoryLimit, gcPercent := gc.apply()
			logger.Info("otsetl serving", slog.String("addr", ln.Addr().String()), slog.Int64("maxInFlightBytes", bound),
				slog.Int64("memoryLimit", memoryLimit), slog.Int("gcPercent", gcPercent))
			h := fcruntime.NewHTTPHandler(invoke, fcruntime.HTTPOptions{Logger: logger, MaxInFlightBytes: bound})
			if err := fcruntime.Serve(cmd.Context(), ln, h); err != nil {
				return err
			}
			logger.Info("otsetl stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default 0.0.0.0:$FC_CUSTOM_LISTEN_PORT, $FC_SERVER_PORT or 9000)")
	cmd.Flags().Int64Var(&inFlight, "max-inflight-bytes", 0, "bound on the payload bytes of the invocations in flight (default: a twentieth of $FC_FUNCTION_MEMORY_SIZE MB, 512 if unset)")
	cmd.Flags().StringVar(&profileDir, "profile", "", "write CPU and allocation profiles, and allocation counts after each invocation, into this folder (diagnostics)")
	return cmd
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
