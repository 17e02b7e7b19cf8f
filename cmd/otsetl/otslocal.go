package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/otslocal"
)

func otslocalCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "otslocal",
		Short: "Run a local, wire-compatible Tablestore server for any Tablestore SDK",
		Long: `Run a local, wire-compatible Tablestore server in memory.

Any access key and any instance name are accepted. It prints the endpoint, then serves
until SIGTERM or Ctrl-C; its data is lost when it stops.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := otslocal.NewServer(listen, otslocal.Options{})
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "otslocal: Tablestore endpoint %s (any instance name, any access key)\n", srv.Endpoint)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8900", "address to listen on")
	return cmd
}
