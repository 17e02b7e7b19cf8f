package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fclocal"
	"github.com/otsetl/otsetl/replay"
	"github.com/otsetl/otsetl/tables"
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
			client := tables.NewClient(endpoint, instance, creds)
			var shards capturedShards
			if err := fclocal.Capture(cmd.Context(), client, table, opts, shards.add); err != nil {
				return err
			}
			return writeCapture(cmd.OutOrStdout(), out, table, shards)
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "Tablestore endpoint, e.g. https://myinstance.cn-hangzhou.ots.aliyuncs.com (required)")
	cmd.Flags().StringVar(&instance, "instance", "", "Tablestore instance name (required)")
	cmd.Flags().StringVar(&table, "table", "", "the table whose Stream to read (required)")
	cmd.Flags().StringVar(&out, "out", "", "folder to write the event files to (required)")
	cmd.Flags().StringVar(&since, "since", "", "read records committed at or after this RFC 3339 time, e.g. 2026-01-02T15:04:05Z (default: the oldest)")
	cmd.Flags().IntVar(&batchSize, "batch-size", fclocal.DefaultBatchSize, "most records per event file (the GetStreamRecord limit, 1 to 1000)")
	return cmd
}

// captureOptions checks the flags of capture and returns the options they make.
func captureOptions(endpoint, instance, table, since, out string, batchSize int) (fclocal.CaptureOptions, error) {
	var opts fclocal.CaptureOptions
	for _, flag := range []struct{ name, value string }{{"--endpoint", endpoint}, {"--instance", instance}, {"--table", table}, {"--out", out}} {
		if flag.value == "" {
			return opts, fmt.Errorf("%s is required", flag.name)
		}
	}
	if _, err := tablestore.CheckEndpoint(endpoint); err != nil {
		return opts, fmt.Errorf("--endpoint: %w", err)
	}
	if batchSize < 1 || batchSize > fclocal.MaxBatchSize {
		return opts, fmt.Errorf("--batch-size %d: want 1 to %d (GetStreamRecord's limit)", batchSize, fclocal.MaxBatchSize)
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
// once the capture has succeeded, so that a failed capture leaves nothing behind.
func checkNoEventFiles(dir string) error {
	if sources, err := replay.Sources([]string{dir}); err == nil {
		return fmt.Errorf("--out %s holds event files already (%s, ...); choose an empty folder", dir, sources[0])
	}
	return nil
}

// capturedShards holds the captured batches shard by shard, each shard's in Stream order.
type capturedShards struct {
	order   []string
	batches map[string][]fclocal.Batch
}

// add is Capture's write function.
func (c *capturedShards) add(b fclocal.Batch) error {
	if c.batches == nil {
		c.batches = map[string][]fclocal.Batch{}
	}
	if _, ok := c.batches[b.Shard]; !ok {
		c.order = append(c.order, b.Shard)
	}
	c.batches[b.Shard] = append(c.batches[b.Shard], b)
	return nil
}

// merged returns every batch, the shards merged by their batches' first record's timestamp
// (ties in shard order), each shard's batches kept in order whatever their timestamps.
func (c *capturedShards) merged() []fclocal.Batch {
	next := make([]int, len(c.order))
	var out []fclocal.Batch
	for {
		pick := -1
		for i, shard := range c.order {
			if next[i] == len(c.batches[shard]) {
				continue
			}
			if pick < 0 || firstTimestamp(c.batches[shard][next[i]]) < firstTimestamp(c.batches[c.order[pick]][next[pick]]) {
				pick = i
			}
		}
		if pick < 0 {
			return out
		}
		out = append(out, c.batches[c.order[pick]][next[pick]])
		next[pick]++
	}
}

// firstTimestamp is the sequence timestamp (µs) of a batch's first record; Capture hands
// over no empty batches.
func firstTimestamp(b fclocal.Batch) int64 { return b.Event.Records[0].Info.Timestamp }

// writeCapture writes the batches as numbered CBOR event files into dir, making it if
// needed, and prints one line per file and a total.
func writeCapture(w io.Writer, dir, table string, shards capturedShards) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	batches := shards.merged()
	width := max(6, len(strconv.Itoa(len(batches))))
	records := 0
	for i, b := range batches {
		payload, err := events.EncodeCBOR(&b.Event)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%0*d-%s.cbor", width, i+1, shortShardID(b.Shard))
		if err := os.WriteFile(filepath.Join(dir, name), payload, 0o644); err != nil {
			return err
		}
		first, last := b.Event.Records[0].Info.Timestamp, b.Event.Records[len(b.Event.Records)-1].Info.Timestamp
		fmt.Fprintf(w, "%s: %d records of shard %s, %s to %s\n", name, len(b.Event.Records), b.Shard, formatMicros(first), formatMicros(last))
		records += len(b.Event.Records)
	}
	fmt.Fprintf(w, "captured %d records of table %q from %d shards in %d files into %s\n", records, table, len(shards.order), len(batches), dir)
	return nil
}

// shortShardID is the part of a shard id that names its files: its first 8 letters, digits,
// '-' or '_' ("shard" if it has none). File names stay unique through their number.
func shortShardID(id string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return -1
	}, id)
	if safe == "" {
		return "shard"
	}
	return safe[:min(8, len(safe))]
}

// formatMicros formats a Stream timestamp (µs since the Unix epoch) as RFC 3339 in UTC.
func formatMicros(us int64) string {
	return time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
}
