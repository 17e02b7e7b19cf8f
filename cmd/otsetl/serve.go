package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/fcruntime"
)

// defaultPort is the custom runtime's default listening port (CAPort 9000,
// https://www.alibabacloud.com/help/en/functioncompute/fc/principles-1).
const defaultPort = "9000"

func serveCommand(getenv func(string) string) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the function under FC's custom-runtime HTTP protocol (POST /invoke, POST /initialize)",
		Long: `Serve the function under FC's custom-runtime HTTP protocol.

It listens on 0.0.0.0:$FC_CUSTOM_LISTEN_PORT, else 0.0.0.0:$FC_SERVER_PORT, else 0.0.0.0:9000,
and stops gracefully on SIGTERM or Ctrl-C. The configuration is read from the environment
and validated before it listens.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewJSONHandler(cmd.OutOrStdout(), nil))
			fn, err := newFunction(getenv, logger)
			if err != nil {
				return err
			}
			if listen == "" {
				listen = net.JoinHostPort("0.0.0.0", firstNonEmpty(getenv("FC_CUSTOM_LISTEN_PORT"), getenv("FC_SERVER_PORT"), defaultPort))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			logger.Info("otsetl serving", slog.String("addr", ln.Addr().String()))
			if err := fcruntime.Serve(cmd.Context(), ln, fcruntime.NewHTTPHandler(fn.Invoke, logger)); err != nil {
				return err
			}
			logger.Info("otsetl stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default 0.0.0.0:$FC_CUSTOM_LISTEN_PORT, $FC_SERVER_PORT or 9000)")
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
