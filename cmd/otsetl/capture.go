package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/ops/capture"
	"github.com/otsetl/otsetl/ops/replay"
	"github.com/otsetl/otsetl/ops/streams"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/tablestore"
)

func captureCommand(getenv func(string) string) *cobra.Command {
	var (
		endpoint, instance, table, since, out string
		batchSize                             int
	)
	cmd := &cobra.Command{
		Use:   "capture --endpoint URL --instance NAME --table T --out DIR [--since TIME] [--batch-size N]",
		Short: "Read a table's Stream into replayable trigger event files",
		Long: `Read a table's Stream, from --since (RFC 3339; default: its oldest record) to its
current end, and write it as trigger event files: one CBOR event per batch of at most
--batch-size records of one shard, as the Tablestore trigger would have delivered them.

Files are named NNNNNN-SHARD.cbor and numbered by the first record's time, merging the shards
while keeping each shard's batches in order; every row lives in one shard, so
"otsetl replay DIR" replays each row's changes in the order they were made.

Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and
ALIBABA_CLOUD_SECURITY_TOKEN. DIR is created if needed and must hold no event files yet.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := captureOptions(endpoint, instance, table, since, out, batchSize)
			if err != nil {
				return usageError{err}
			}
			creds, err := requireCredentials(getenv, "capture")
			if err != nil {
				return err
			}
			if err := checkNoEventFiles(out); err != nil {
				return usageError{err}
			}
			client := tableio.NewClient(endpoint, instance, creds)
			return capture.ToFolder(cmd.Context(), client, table, opts, out, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "Tablestore endpoint, e.g. https://myinstance.cn-hangzhou.ots.aliyuncs.com (required)")
	cmd.Flags().StringVar(&instance, "instance", "", "Tablestore instance name (required)")
	cmd.Flags().StringVar(&table, "table", "", "the table whose Stream to read (required)")
	cmd.Flags().StringVar(&out, "out", "", "folder to write the event files to (required)")
	cmd.Flags().StringVar(&since, "since", "", "read records committed at or after this RFC 3339 time, e.g. 2026-01-02T15:04:05Z (default: the oldest)")
	cmd.Flags().IntVar(&batchSize, "batch-size", streams.DefaultBatchSize, "most records per event file (the GetStreamRecord limit, 1 to 1000)")
	return cmd
}

// captureOptions checks the flags of capture and returns the options they make.
func captureOptions(endpoint, instance, table, since, out string, batchSize int) (capture.Options, error) {
	var opts capture.Options
	for _, flag := range []struct{ name, value string }{{"--endpoint", endpoint}, {"--instance", instance}, {"--table", table}, {"--out", out}} {
		if flag.value == "" {
			return opts, fmt.Errorf("%s is required", flag.name)
		}
	}
	if _, err := tablestore.CheckEndpoint(endpoint); err != nil {
		return opts, fmt.Errorf("--endpoint: %w", err)
	}
	if batchSize < 1 || batchSize > streams.MaxBatchSize {
		return opts, fmt.Errorf("--batch-size %d: want 1 to %d (GetStreamRecord's limit)", batchSize, streams.MaxBatchSize)
	}
	opts.BatchSize = batchSize
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return opts, fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", since)
		}
		opts.Since = t
	}
	return opts, nil
}

// checkNoEventFiles refuses an output folder that holds event files already: replay would
// mix them with the capture. A folder that does not exist yet is fine: writeCapture makes it
// once the capture has succeeded (capture.ToFolder), so that a failed capture leaves nothing behind.
func checkNoEventFiles(dir string) error {
	if sources, err := replay.Sources([]string{dir}); err == nil {
		return fmt.Errorf("--out %s holds event files already (%s, ...); choose an empty folder", dir, sources[0])
	}
	return nil
}
