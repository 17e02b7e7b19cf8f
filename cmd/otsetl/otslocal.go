package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/local/console"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/tableio"
)

// The environment variables `otsetl otslocal` takes its access key from when the flags do
// not give it: a secret in an environment variable stays out of the process list, where a
// flag's value shows.
const (
	envOtslocalAccessKeyID     = "OTSLOCAL_ACCESS_KEY_ID"
	envOtslocalAccessKeySecret = "OTSLOCAL_ACCESS_KEY_SECRET"
)

func otslocalCommand(getenv func(string) string) *cobra.Command {
	var listen string
	var dataDir dataDirFlags
	var streamShards int
	var faults faultFlags
	var accessKeyID, accessKeySecret, consoleInstance string
	var allowAnyHost bool
	var web consoleFlags
	cmd := &cobra.Command{
		Use:   "otslocal",
		Short: "Run a local, wire-compatible Tablestore server for any Tablestore SDK",
		Long: `Run a local, wire-compatible Tablestore server.

Every instance name is an instance of its own, as on the service: a client reaches only
the tables and Streams of the instance it names, and an instance is created by its first
request. Any access key is accepted unless an access key is given, with
--access-key-id and --access-key-secret or with the environment variables
` + envOtslocalAccessKeyID + ` and ` + envOtslocalAccessKeySecret + ` (a flag overrides
its variable; the environment keeps the secret out of the process list): then every
request must be signed with that key, as the real service requires, and responses are
signed with it. It prints the endpoint, then serves until SIGTERM or Ctrl-C.

It keeps its tables in memory, lost when it stops, unless --data-dir names a directory:
then every instance, table, row version and Stream record is kept there, each write written
before it is answered (so it survives otslocal being killed; with --sync-writes, synced to
the disk, so it survives a crash of the machine too), and otslocal started again on the
directory serves the same tables. Only one otslocal at a time may have a directory.

For testing clients under faults it can add latency and answer a share of the requests
(or of the rows of batch requests) with the service's retryable errors, or drop their
connections after applying them; --fault-seed makes the choices repeatable.

On a loopback address it serves only requests addressed to 127.0.0.1, [::1] or localhost,
so that a web page cannot reach it through DNS rebinding; --allow-any-host serves others too
(a container's name, a proxy's). Another Host is refused with 403 OTSAuthFailed.

--console ADDR serves the web console's table views there: the tables, their rows and a
row editor, read and written through the Tablestore API.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("access-key-id") {
				accessKeyID = getenv(envOtslocalAccessKeyID)
			}
			if !cmd.Flags().Changed("access-key-secret") {
				accessKeySecret = getenv(envOtslocalAccessKeySecret)
			}
			if (accessKeyID == "") != (accessKeySecret == "") {
				return usageError{fmt.Errorf("--access-key-id and --access-key-secret go together (from the flags, or from %s and %s)",
					envOtslocalAccessKeyID, envOtslocalAccessKeySecret)}
			}
			if streamShards < 1 {
				return usageError{fmt.Errorf("--stream-shards %d: want at least 1", streamShards)}
			}
			injected := faults.faults()
			if err := injected.Validate(); err != nil {
				return usageError{err}
			}
			if err := web.check(); err != nil {
				return usageError{err}
			}
			if err := dataDir.check(); err != nil {
				return usageError{err}
			}
			srv, err := otslocal.NewServer(listen, otslocal.Options{
				Faults: injected, AccessKeyID: accessKeyID, AccessKeySecret: accessKeySecret,
				StreamShards: streamShards, AllowAnyHost: allowAnyHost, DataDir: dataDir.dir, SyncWrites: dataDir.sync,
			})
			if err != nil {
				return dataDirError(err)
			}
			defer srv.Close()
			accepted := "any access key"
			if accessKeyID != "" {
				accepted = "access key " + accessKeyID + " only"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "otslocal: Tablestore endpoint %s (an instance per instance name, %s)\n", srv.Endpoint, accepted)
			fmt.Fprintf(cmd.OutOrStdout(), "otslocal: %s\n", dataDir.tablesKept())
			if web.enabled() {
				creds := localCredentials
				if accessKeyID != "" {
					creds = aliyun.Credentials{AccessKeyID: accessKeyID, AccessKeySecret: accessKeySecret}
				}
				return serveTableConsole(cmd.Context(), web, cmd.OutOrStdout(), cmd.ErrOrStderr(),
					tableio.NewClient(srv.Endpoint, consoleInstance, creds), srv.Endpoint, consoleInstance)
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", defaultOtslocalAddress, "address to listen on")
	cmd.Flags().IntVar(&streamShards, "stream-shards", 1, "shards of each table's Stream; rows are spread over them by partition key")
	cmd.Flags().BoolVar(&allowAnyHost, "allow-any-host", false, allowAnyHostUsage)
	dataDir.register(cmd, "")
	cmd.Flags().StringVar(&accessKeyID, "access-key-id", "",
		"the only AccessKey ID accepted, with its secret (default: $"+envOtslocalAccessKeyID+"; unset: any key)")
	cmd.Flags().StringVar(&accessKeySecret, "access-key-secret", "",
		"the AccessKey secret requests must be signed with (default: $"+envOtslocalAccessKeySecret+", which keeps it out of the process list)")
	faults.register(cmd)
	web.register(cmd, "", "table views; default: none")
	cmd.Flags().StringVar(&consoleInstance, "instance", localInstance, "with --console: the instance whose tables the console shows")
	return cmd
}

// allowAnyHostUsage is the help of the --allow-any-host flag of the commands that run otslocal.
const allowAnyHostUsage = "on a loopback address, serve requests to any Host, not only to 127.0.0.1, [::1] and localhost"

// dataDirFlags are the flags of `otsetl otslocal` and `otsetl local` that keep otslocal's
// tables in a directory: --data-dir and --sync-writes.
type dataDirFlags struct {
	dir  string
	sync bool
}

// register adds the flags to cmd, their help starting with prefix.
func (f *dataDirFlags) register(cmd *cobra.Command, prefix string) {
	cmd.Flags().StringVar(&f.dir, "data-dir", "", prefix+"directory that keeps the tables, created if need be, so that a restart serves them again (default: none, tables in memory)")
	cmd.Flags().BoolVar(&f.sync, "sync-writes", false, prefix+"with --data-dir, sync every write to the disk before answering it, so that it survives a crash of the machine, not only of otslocal (slower)")
}

// check makes the directory an absolute path, which the messages show, and refuses
// --sync-writes without --data-dir.
func (f *dataDirFlags) check() error {
	if f.dir == "" {
		if f.sync {
			return errors.New("--sync-writes goes with --data-dir: tables in memory have no disk to sync")
		}
		return nil
	}
	abs, err := filepath.Abs(f.dir)
	if err != nil {
		return fmt.Errorf("--data-dir %s: %w", f.dir, err)
	}
	f.dir = abs
	return nil
}

// tablesKept says where otslocal keeps its tables: in the directory, or in memory when
// there is none.
func (f *dataDirFlags) tablesKept() string {
	switch {
	case f.dir == "":
		return "tables in memory; they are lost when it stops (--data-dir keeps them)"
	case f.sync:
		return "tables kept in " + f.dir + ", every write synced to the disk"
	}
	return "tables kept in " + f.dir
}

// dataDirError makes otslocal.NewServer's refusal of a data directory that another
// otslocal has, or that holds other files, a configuration error (exit 2).
func dataDirError(err error) error {
	if errors.Is(err, otslocal.ErrDataDirInUse) || errors.Is(err, otslocal.ErrNotADataDir) {
		return usageError{err}
	}
	return err
}

// serveTableConsole serves the web console's table views of instance, which client reaches,
// until ctx ends.
func serveTableConsole(ctx context.Context, web consoleFlags, out, errOut io.Writer, client *sdk.TableStoreClient, endpoint, instance string) error {
	ln, err := web.listen(errOut, "otslocal")
	if err != nil {
		return err
	}
	c, err := console.New(console.Config{Client: client, Endpoint: endpoint, Instance: instance, AllowRemote: web.allowRemote})
	if err != nil {
		_ = ln.Close()
		return err
	}
	fmt.Fprintf(out, "otslocal: console at %s\n", console.URL(ln))
	return console.Serve(ctx, ln, c)
}

// faultFlags are the fault injection flags of `otsetl otslocal` (see otslocal.Faults).
type faultFlags struct {
	latency, jitter                   time.Duration
	seed                              int64
	errorRate, rowErrorRate, dropRate float64
	operations                        []string
}

func (f *faultFlags) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.DurationVar(&f.latency, "latency", 0, "delay added to every request")
	flags.DurationVar(&f.jitter, "jitter", 0, "further random delay, uniform in [0, jitter), added to every request")
	flags.Int64Var(&f.seed, "fault-seed", 1, "seed of the fault choices: the same seed and the same request sequence inject the same faults")
	flags.Float64Var(&f.errorRate, "error-rate", 0,
		"fraction of requests answered, without being applied, with a retryable error: OTSServerBusy, OTSPartitionUnavailable or OTSRowOperationConflict in equal parts")
	flags.Float64Var(&f.rowErrorRate, "row-error-rate", 0, "fraction of BatchWriteRow and BatchGetRow rows that fail alone with OTSPartitionUnavailable")
	flags.Float64Var(&f.dropRate, "drop-rate", 0, "fraction of requests that are applied and then get their connection closed without a response")
	flags.StringSliceVar(&f.operations, "fault-operations", nil,
		"actions the error, row error and drop rates apply to, e.g. BatchWriteRow,BatchGetRow (default: all; latency applies to all)")
}

// faults returns the otslocal.Faults the flags describe; otslocal.NewServer validates them.
func (f *faultFlags) faults() otslocal.Faults {
	rates := otslocal.FaultRates{
		ServerBusy:           f.errorRate / 3,
		PartitionUnavailable: f.errorRate / 3,
		RowOperationConflict: f.errorRate / 3,
		RowFailure:           f.rowErrorRate,
		DropConnection:       f.dropRate,
	}
	faults := otslocal.Faults{Seed: f.seed, Latency: f.latency, Jitter: f.jitter}
	if len(f.operations) == 0 {
		faults.Default = rates
		return faults
	}
	faults.PerOperation = make(map[string]otslocal.FaultRates, len(f.operations))
	for _, action := range f.operations {
		faults.PerOperation[action] = rates
	}
	return faults
}
