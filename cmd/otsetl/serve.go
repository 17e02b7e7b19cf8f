package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/handler"
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
			fn, err := newFunction(getenv)
			if err != nil {
				return err
			}
			if listen == "" {
				listen = net.JoinHostPort("0.0.0.0", firstNonEmpty(getenv("FC_CUSTOM_LISTEN_PORT"), getenv("FC_SERVER_PORT"), defaultPort))
			}
			logger := slog.New(slog.NewJSONHandler(cmd.OutOrStdout(), nil))
			return serve(cmd.Context(), listen, handler.NewHTTPHandler(fn, handler.HTTPOptions{Logger: logger, Getenv: getenv}), logger)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default 0.0.0.0:$FC_CUSTOM_LISTEN_PORT, $FC_SERVER_PORT or 9000)")
	return cmd
}

// serve runs h on addr until ctx ends, then drains in-flight invocations for up to the
// trigger's time limit.
func serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("otsetl serving", slog.String("addr", ln.Addr().String()))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), handler.TriggerTimeLimit)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("otsetl stopped")
	return nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
