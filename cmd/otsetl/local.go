package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/console"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/replay"
	"github.com/otsetl/otsetl/ops/streams"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/task"
	"github.com/otsetl/otsetl/transform"
)

// localFlags are the flags of `otsetl local`.
type localFlags struct {
	file         string
	endpoint     string
	instance     string
	listen       string
	dataDir      dataDirFlags
	streamShards int
	primaryKey   string
	latency      time.Duration
	allowAnyHost bool
	verbose      bool
	maxInstances int
	fcListen     string
	console      consoleFlags
	ossListen    string
	ossDir       string
	export       bool
}

// Defaults of `otsetl local`.
const (
	// localStreamExpirationHours is the Stream expiration of a source table local creates.
	localStreamExpirationHours = 24
	// defaultOSSAddress is where the local OSS listens.
	defaultOSSAddress = "127.0.0.1:8902"
	// defaultFCAddress is where local serves FC's InvokeFunction API by default.
	defaultFCAddress = "127.0.0.1:8903"
	// localExportTo is where --export points the function's export when s.yaml sets no
	// EXPORT_TO: the bucket osslocal creates, and a prefix.
	localExportTo = "oss://otsetl-local/exports/"
)

func localCommand(env environment) *cobra.Command {
	var flags localFlags
	cmd := &cobra.Command{
		Use:   "local [-f s.yaml]",
		Short: "Run the function and its Tablestore trigger on this machine, against otslocal or a real instance",
		Long: `Run the whole Tablestore-trigger pipeline of s.yaml on this machine.

It reads the function's environment variables and its Tablestore trigger from s.yaml (the one
fc3 resource with a trigger of triggerType tablestore), then:

  1. starts an embedded otslocal (unless --endpoint is given) and prints its endpoint; its
     tables are in memory, or kept in the directory --data-dir names, so that a restart
     finds them again (the trigger then reads the Stream's records from the oldest on once
     more: the function's writes are idempotent);
  2. creates the trigger's source table, with its Stream, and the result table (and the
     dead-letter table if DEAD_LETTER_TABLE is set) when they are absent, with the primary
     key of --primary-key;
  3. runs the function's instances, "otsetl serve" child processes with the function's
     environment, pointed at that Tablestore: one at once, more on demand up to
     --max-instances, one invocation each at a time; an instance that exits is restarted;
  4. reads the source table's Stream like the Tablestore trigger and invokes the function
     with every batch of records, retrying a failed batch until it succeeds; it prints one
     line per invocation;
  5. serves FC's InvokeFunction API over the same instances (--fc-listen, default
     127.0.0.1:8903), for "otsetl sync --on-fc": one line per task invocation;
  6. serves the web console (--console, default 127.0.0.1:8901): the tables and their rows,
     a row editor, the Stream's shards, the function's instances, the invocations and the
     task invocations, plots of records per second and lag, and the exported objects.

It also starts a local OSS (--oss-listen, default 127.0.0.1:8902) that keeps its objects as
plain files under --oss-dir (default: a new temporary folder), and points the function's
export at it: the EXPORT_TO of s.yaml, or, with --export, oss://otsetl-local/exports/ in
the default formats.

Write rows into the source table with any Tablestore SDK and watch the result table follow.
Ctrl-C or SIGTERM stops everything. Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID,
ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN (required with --endpoint;
any key works with the embedded otslocal).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			setup, err := newLocalSetup(flags, env.get)
			if err != nil {
				return usageError{err}
			}
			return setup.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&flags.file, "file", "f", "s.yaml", "the Serverless Devs s.yaml with the function and its Tablestore trigger")
	f.StringVar(&flags.endpoint, "endpoint", "", "a Tablestore endpoint to use instead of the embedded otslocal, e.g. https://myinstance.cn-hangzhou.ots.aliyuncs.com")
	f.StringVar(&flags.instance, "instance", "", "the instance name (default: the one in the trigger's sourceArn, or \""+localInstance+"\" with the embedded otslocal)")
	f.StringVar(&flags.listen, "listen", defaultOtslocalAddress, "address of the embedded otslocal")
	flags.dataDir.register(cmd, "for the embedded otslocal: ")
	f.IntVar(&flags.streamShards, "stream-shards", 1, "shards of each table's Stream in the embedded otslocal")
	f.StringVar(&flags.primaryKey, "primary-key", "id:integer", "primary key of the tables local creates, as name:type,... (types integer, string, binary)")
	f.DurationVar(&flags.latency, "latency", 0, "latency the embedded otslocal adds to every request, e.g. 2ms")
	f.BoolVar(&flags.allowAnyHost, "allow-any-host", false, "embedded otslocal: "+allowAnyHostUsage)
	f.BoolVarP(&flags.verbose, "verbose", "v", false, "also print the function's own log lines")
	f.IntVar(&flags.maxInstances, "max-instances", fclocal.DefaultMaxInstances, "the function's instances at most; an invocation beyond them is refused (429) and retried")
	f.StringVar(&flags.fcListen, "fc-listen", defaultFCAddress, "address of FC's InvokeFunction API, for otsetl sync --on-fc")
	f.StringVar(&flags.ossListen, "oss-listen", defaultOSSAddress, "address of the local OSS")
	f.StringVar(&flags.ossDir, "oss-dir", "", "folder that keeps the local OSS's objects as files, DIR/<bucket>/<key> (default: a new temporary folder)")
	f.BoolVar(&flags.export, "export", false, "turn the function's export on, to "+localExportTo+" in the local OSS, when s.yaml sets no EXPORT_TO")
	flags.console.register(cmd, "127.0.0.1:8901", "tables, row editor, Stream, invocations")
	return cmd
}

// localSetup is `otsetl local` configured: what it will start, and with what.
type localSetup struct {
	flags       localFlags
	function    triggeredFunction
	config      handler.Config // the function's configuration, endpoints still unset when embedded
	instance    string
	credentials aliyun.Credentials
	primaryKey  []ots.PrimaryKeySchema
}

// newLocalSetup checks the flags and s.yaml. Every error is a usage or configuration error.
func newLocalSetup(flags localFlags, getenv func(string) string) (*localSetup, error) {
	fn, err := loadTriggeredFunction(flags.file, getenv)
	if err != nil {
		return nil, err
	}
	pk, err := parsePrimaryKey(flags.primaryKey)
	if err != nil {
		return nil, fmt.Errorf("--primary-key: %w", err)
	}
	if flags.streamShards < 1 {
		return nil, fmt.Errorf("--stream-shards %d: want at least 1", flags.streamShards)
	}
	if flags.endpoint != "" && flags.dataDir.dir != "" {
		return nil, fmt.Errorf("--data-dir is for the embedded otslocal; with --endpoint %s the tables are that Tablestore's", flags.endpoint)
	}
	if err := flags.dataDir.check(); err != nil {
		return nil, err
	}
	if flags.maxInstances < 1 {
		return nil, fmt.Errorf("--max-instances %d: want at least 1", flags.maxInstances)
	}
	if err := flags.console.check(); err != nil {
		return nil, err
	}
	s := &localSetup{flags: flags, function: fn, primaryKey: pk}
	s.instance = firstNonEmpty(flags.instance, fn.Instance)
	if flags.endpoint == "" {
		s.instance = firstNonEmpty(s.instance, localInstance)
		var ok bool
		if s.credentials, ok = credentialsFromEnv(getenv); !ok {
			s.credentials = localCredentials
		}
	} else if s.credentials, err = requireCredentials(getenv, "--endpoint"); err != nil {
		return nil, err
	}
	// The function's configuration as it will see it, checked now rather than by a child
	// process that would exit at once.
	s.config, err = handler.ConfigFromEnv(withVariables(fn.lookupEnv, s.functionVariables(firstNonEmpty(flags.endpoint, "http://"+flags.listen), "http://"+flags.ossListen)))
	if err != nil {
		return nil, fmt.Errorf("%s, function %s: %w", flags.file, fn.FunctionName, err)
	}
	if s.config.SourceTable != fn.Table {
		return nil, fmt.Errorf("%s: the trigger reads table %s but the function's %s is %s", flags.file, fn.Table, handler.EnvSourceTable, s.config.SourceTable)
	}
	// The rule is checked here too, against the primary key of the tables local creates,
	// which the function itself learns only from events.
	rule, err := transform.Compile(s.config.Rule)
	if err == nil {
		err = rule.CheckPrimaryKey(pk)
	}
	if err != nil {
		return nil, fmt.Errorf("%s, function %s: %s/%s: %w", flags.file, fn.FunctionName, handler.EnvFilter, handler.EnvColumns, err)
	}
	s.config.Rule = rule.Config()
	return s, nil
}

// parsePrimaryKey parses "name:type,..." with types integer, string and binary.
func parsePrimaryKey(spec string) ([]ots.PrimaryKeySchema, error) {
	var pk []ots.PrimaryKeySchema
	for _, column := range strings.Split(spec, ",") {
		name, typ, ok := strings.Cut(strings.TrimSpace(column), ":")
		kind, known := ots.KindNamed(typ)
		if !ok || name == "" || !known || !kind.IsPrimaryKeyKind() {
			return nil, fmt.Errorf("%q: want name:type,... with types integer, string and binary", spec)
		}
		pk = append(pk, ots.PrimaryKeySchema{Name: name, Type: kind})
	}
	return pk, nil
}

// run starts everything, prints what it started to out, and runs until ctx ends.
func (s *localSetup) run(ctx context.Context, out, errOut io.Writer) error {
	cfg := s.config
	if s.flags.endpoint == "" {
		srv, err := otslocal.NewServer(s.flags.listen, otslocal.Options{
			StreamShards: s.flags.streamShards,
			Faults:       otslocal.Faults{Latency: s.flags.latency},
			AllowAnyHost: s.flags.allowAnyHost,
			DataDir:      s.flags.dataDir.dir,
			SyncWrites:   s.flags.dataDir.sync,
		})
		if err != nil {
			return dataDirError(err)
		}
		defer srv.Close()
		cfg.Endpoint = srv.Endpoint
		fmt.Fprintf(out, "otsetl local: embedded otslocal at %s, instance %s, %d Stream shard(s)\n", srv.Endpoint, cfg.Instance, s.flags.streamShards)
		fmt.Fprintf(out, "otsetl local: %s\n", s.flags.dataDir.tablesKept())
	} else {
		fmt.Fprintf(out, "otsetl local: Tablestore at %s, instance %s\n", aliyun.RedactEndpoint(cfg.Endpoint), cfg.Instance)
	}

	ossServer, err := s.startOSS()
	if err != nil {
		return err
	}
	defer ossServer.Close()
	fmt.Fprintf(out, "otsetl local: oss at %s/, objects in %s\n", ossServer.Endpoint, ossServer.Dir)
	if x := cfg.Export; x != nil {
		x.Endpoint = ossServer.Endpoint
		fmt.Fprintf(out, "otsetl local: the function exports %s in %s (compression %s) to oss://%s/%s, files in %s\n",
			x.Format, x.FileFormat, x.Compression, x.Bucket, x.Prefix, filepath.Join(ossServer.Dir, x.Bucket, x.Prefix))
	}

	client := tableio.NewClient(cfg.Endpoint, cfg.Instance, s.credentials)
	source := tableio.Options{StreamExpirationHours: localStreamExpirationHours}
	if err := replay.EnsureTables(ctx, client, cfg, s.primaryKey, source); err != nil {
		return err
	}
	if cfg.ResultTable == "" {
		fmt.Fprintf(out, "otsetl local: table %s (with Stream) ready; no result table: the function exports only\n", cfg.SourceTable)
	} else {
		fmt.Fprintf(out, "otsetl local: tables %s (with Stream) and %s ready\n", cfg.SourceTable, cfg.ResultTable)
	}
	var consoleListener net.Listener
	if s.flags.console.enabled() {
		ln, err := s.flags.console.listen(errOut, "otsetl local")
		if err != nil {
			return err
		}
		defer ln.Close()
		consoleListener = ln
	}

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the otsetl binary to run the function: %w", err)
	}
	if err := streams.Check(client, cfg.SourceTable); err != nil {
		return err
	}
	functionOutput := io.Discard
	if s.flags.verbose {
		functionOutput = errOut
	}
	name := s.function.FunctionName
	pool, err := fclocal.NewPool(fclocal.PoolConfig{
		Start:        fclocal.ProcessInstances(exe, []string{"serve"}, s.functionEnvironment(cfg.Endpoint, ossServer.Endpoint), functionOutput, errOut),
		MaxInstances: s.flags.maxInstances,
		OnEvent:      func(e fclocal.InstanceEvent) { fmt.Fprintln(out, formatInstanceEvent(name, e)) },
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	monitor := console.NewMonitor()
	trigger, err := fclocal.New(fclocal.Config{
		Client:            client,
		Table:             cfg.SourceTable,
		Function:          pool,
		FunctionName:      name,
		Region:            s.function.Region,
		Credentials:       s.credentials,
		InvocationTimeout: min(s.function.Timeout, fclocal.DefaultInvocationTimeout),
		Logger:            slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelError})),
		OnInvocation: func(r fclocal.InvocationReport) {
			fmt.Fprintln(out, formatInvocation(r))
			monitor.Record(r)
		},
	})
	if err != nil {
		return err
	}
	api, err := fclocal.NewFunctionAPI(fclocal.APIConfig{
		FunctionName: name, Pool: pool, Credentials: s.credentials, Timeout: min(s.function.Timeout, fclocal.DefaultInvocationTimeout),
		OnInvocation: func(inv fclocal.APIInvocation) {
			fmt.Fprintln(out, formatTaskInvocation(inv))
			monitor.RecordTask(inv)
		},
	})
	if err != nil {
		return err
	}
	fcListener, err := net.Listen("tcp", s.flags.fcListen)
	if err != nil {
		return fmt.Errorf("--fc-listen: %w", err)
	}
	defer fcListener.Close()
	var exports *console.Exports
	if x := cfg.Export; x != nil {
		exports = &console.Exports{
			Client: oss.NewClient(oss.NewConfig().WithRegion(x.Region).WithEndpoint(x.Endpoint).WithCredentialsProvider(
				credentials.NewStaticCredentialsProvider(s.credentials.AccessKeyID, s.credentials.AccessKeySecret, s.credentials.SecurityToken))),
			Bucket: x.Bucket, Prefix: x.Prefix, Dir: filepath.Join(ossServer.Dir, x.Bucket),
		}
	}
	web, err := console.New(console.Config{
		Client: client, Endpoint: cfg.Endpoint, Instance: cfg.Instance, AllowRemote: s.flags.console.allowRemote, Exports: exports,
		Pipeline: &console.Pipeline{
			SourceTable: cfg.SourceTable, ResultTable: cfg.ResultTable, FunctionName: name, Rule: cfg.Rule,
			Trigger: trigger, Instances: pool, Monitor: monitor,
		},
	})
	if err != nil {
		return err
	}
	if err := pool.Warm(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	fcURL := "http://" + fcListener.Addr().String() + "/"
	wg.Go(func() {
		if err := fcruntime.Serve(ctx, fcListener, api); err != nil {
			fmt.Fprintf(errOut, "otsetl local: the FC API stopped: %v\n", err)
		}
	})
	fmt.Fprintf(out, "otsetl local: fc api at %s\n", fcURL)
	if consoleListener != nil {
		wg.Go(func() {
			if err := console.Serve(ctx, consoleListener, web); err != nil {
				fmt.Fprintf(errOut, "otsetl local: the console stopped: %v\n", err)
			}
		})
		fmt.Fprintf(out, "otsetl local: console at %s\n", console.URL(consoleListener))
	}
	read := cfg.ResultTable
	if read == "" {
		read = "the exported objects"
	}
	fmt.Fprintf(out, "otsetl local: trigger %s -> %s running; write rows into %s, read %s; Ctrl-C stops\n",
		cfg.SourceTable, name, cfg.SourceTable, read)
	if cfg.ResultTable != "" {
		fmt.Fprintf(out, "otsetl local: to backfill or check %s: %s\n", cfg.ResultTable, s.syncCommandLine(cfg, ""))
		fmt.Fprintf(out, "otsetl local: to do it on the local FC: %s\n", s.syncCommandLine(cfg, fcURL))
	}
	err = trigger.Run(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "otsetl local: stopped")
	return nil
}

// syncCommandLine is the `otsetl sync` command that syncs the tables local runs, with the
// access key of the embedded otslocal when local uses it (never one from the environment);
// with an fcURL, on the local FC there.
func (s *localSetup) syncCommandLine(cfg handler.Config, fcURL string) string {
	line := fmt.Sprintf("otsetl sync -f %s --endpoint %s --instance %s", s.flags.file, aliyun.RedactEndpoint(cfg.Endpoint), cfg.Instance)
	if fcURL != "" {
		line = fmt.Sprintf("%s=%s %s --on-fc", envFCEndpoint, strings.TrimSuffix(fcURL, "/"), line)
	}
	if s.credentials == localCredentials {
		line = fmt.Sprintf("%s=%s %s=%s %s", envAccessKeyID, localCredentials.AccessKeyID, envAccessKeySecret, localCredentials.AccessKeySecret, line)
	}
	return line
}

// exports reports whether the function exports: s.yaml sets EXPORT_TO, or --export asks.
func (s *localSetup) exports() bool {
	return s.flags.export || strings.TrimSpace(s.function.Environment[handler.EnvExportTo]) != ""
}

// functionVariables are the variables local sets in the function's environment over those
// of s.yaml: the Tablestore (tablestoreEndpoint, the instance) and, when it exports, the
// OSS (ossEndpoint, and localExportTo unless s.yaml sets EXPORT_TO) it uses, and the FC
// system variables a function instance sees.
func (s *localSetup) functionVariables(tablestoreEndpoint, ossEndpoint string) map[string]string {
	vars := map[string]string{
		handler.EnvInstance: s.instance,
		handler.EnvEndpoint: tablestoreEndpoint,
		"FC_FUNCTION_NAME":  s.function.FunctionName,
		handler.EnvRegion:   s.function.Region,
	}
	if s.exports() {
		vars[handler.EnvOSSEndpoint] = ossEndpoint
		if strings.TrimSpace(s.function.Environment[handler.EnvExportTo]) == "" {
			vars[handler.EnvExportTo] = localExportTo
		}
	}
	return vars
}

// functionEnvironment is the function process's environment: this process's, the
// function's environmentVariables from s.yaml, and functionVariables.
func (s *localSetup) functionEnvironment(tablestoreEndpoint, ossEndpoint string) []string {
	env := os.Environ()
	for name, value := range s.function.Environment {
		env = append(env, name+"="+value)
	}
	for name, value := range s.functionVariables(tablestoreEndpoint, ossEndpoint) {
		env = append(env, name+"="+value)
	}
	return env
}

// startOSS starts the local OSS on --oss-listen, keeping its objects in --oss-dir or a new
// temporary folder, with the bucket of the function's export.
func (s *localSetup) startOSS() (*osslocal.Server, error) {
	dir := s.flags.ossDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "otsetl-oss-"); err != nil {
			return nil, fmt.Errorf("a folder for the local OSS: %w", err)
		}
	}
	var buckets []string
	if s.config.Export != nil {
		buckets = append(buckets, s.config.Export.Bucket)
	}
	return osslocal.NewServer(s.flags.ossListen, osslocal.Options{Dir: dir, Buckets: buckets})
}

// formatInvocation renders one invocation attempt as a line, e.g. "invocation 1f2e3d4c shard
// 5a6b7c8d: 4 records, 4 keys: 2 puts, 0 updates (0 not in view), 2 deletes, 0 source reads,
// 0 dead-lettered; 1 write requests, 0 read requests, 0 retries; lag 27 ms, 1 ms".
func formatInvocation(r fclocal.InvocationReport) string {
	head := fmt.Sprintf("invocation %s shard %s", shortID(r.RequestID), shortID(r.Shard))
	var s handler.Summary
	err := r.Err
	if err == nil {
		if jsonErr := json.Unmarshal(r.Result, &s); jsonErr != nil {
			err = fmt.Errorf("the function's result is not a summary: %w", jsonErr)
		}
	}
	if err != nil {
		return fmt.Sprintf("%s: attempt %d with %d records failed after %d ms: %v; the batch will be retried",
			head, r.Attempt, r.Records, r.Latency.Milliseconds(), err)
	}
	line := fmt.Sprintf("%s: %s; lag %d ms, %d ms", head, s, s.LagMs, r.Latency.Milliseconds())
	if r.Attempt > 1 {
		line += fmt.Sprintf(" (attempt %d)", r.Attempt)
	}
	return line
}

// shortID returns the first 8 characters of an opaque id, enough to tell ids apart in a log.
func shortID(id string) string {
	return id[:min(len(id), 8)]
}

// formatInstanceEvent renders what happened to an instance of function name as a line:
// "otsetl local: function otsetl, instance i-1 (otsetl serve, pid 41215) at
// http://127.0.0.1:40117", or its exit and restart.
func formatInstanceEvent(name string, e fclocal.InstanceEvent) string {
	switch e.Kind {
	case fclocal.InstanceExited:
		return fmt.Sprintf("otsetl local: function %s, instance %s (pid %d) exited unexpectedly (%s); restarting it", name, e.Instance, e.PID, e.Exit)
	case fclocal.InstanceFailed:
		return fmt.Sprintf("otsetl local: function %s, instance %s could not be started: %s", name, e.Instance, e.Exit)
	}
	return fmt.Sprintf("otsetl local: function %s, instance %s (otsetl serve, pid %d) at %s", name, e.Instance, e.PID, e.URL)
}

// formatTaskInvocation renders one invocation of FC's API as a line, e.g. "task invocation
// 1f2e3d4c: 200, done, 2,000 source rows, 1,000 written; 812 ms".
func formatTaskInvocation(inv fclocal.APIInvocation) string {
	head := fmt.Sprintf("task invocation %s", shortID(inv.RequestID))
	switch {
	case inv.Lost:
		return fmt.Sprintf("%s: its answer was lost after %d ms", head, inv.Latency.Milliseconds())
	case inv.Status != 200:
		return fmt.Sprintf("%s: HTTP %d, %s; %d ms", head, inv.Status, inv.Error, inv.Latency.Milliseconds())
	case inv.ErrorType != "":
		return fmt.Sprintf("%s: function error %s: %s; %d ms", head, inv.ErrorType, inv.Error, inv.Latency.Milliseconds())
	}
	var result task.Result
	if err := json.Unmarshal(inv.Result, &result); err != nil || result.Sync == nil {
		return fmt.Sprintf("%s: %d bytes of result; %d ms", head, len(inv.Result), inv.Latency.Milliseconds())
	}
	progress := "done"
	if !result.Done {
		progress = "to be continued after (" + describeTextKey(result.After) + ")"
	}
	return fmt.Sprintf("%s: instance %s, %s, %s source rows, %s written, %s deleted; %d ms", head, result.InstanceID, progress,
		english.Sprint(result.Sync.SourceRows), english.Sprint(result.Sync.Written), english.Sprint(result.Sync.Deleted), inv.Latency.Milliseconds())
}

// describeTextKey writes a key of a task's result as `id=5`.
func describeTextKey(key []ots.TextKeyColumn) string {
	parts := make([]string, len(key))
	for i, c := range key {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, ", ")
}
