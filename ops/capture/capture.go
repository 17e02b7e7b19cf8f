// Package capture is `otsetl capture`: it reads a table's Stream, as the Tablestore trigger
// would deliver it, into replayable trigger event files (package streams reads the Stream;
// `otsetl replay` replays the files).
package capture

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ops/streams"
)

// Options tunes [Read] and [ToFolder].
type Options struct {
	// Since is where every shard's reading starts: its first record committed at or after
	// Since. The zero time means the oldest record the Stream still holds.
	Since time.Time
	// BatchSize is the most records in one batch (the GetStreamRecord limit, 1 to
	// [streams.MaxBatchSize]); 0 means [streams.DefaultBatchSize].
	BatchSize int
}

// Batch is one page of a shard's records as the trigger would deliver it.
type Batch struct {
	// Shard is the id of the shard the records come from.
	Shard string
	// Event holds the records in Stream order; Version is events.Version.
	Event events.Event
}

// Read reads table's Stream from opts.Since to its current end and hands every page of
// records to write, as the trigger event the trigger would have sent. Shards are read one
// after the other, every shard after the shards it was split or merged from, and the
// batches of one shard in Stream order; a row's records all live in one shard at a time, so
// replaying the batches of every shard in order keeps each row's history in order.
//
// A table without a Stream is an error wrapping [streams.ErrNoStream]. Read makes no retries of
// its own beyond client's (its TableStoreConfig); the first failed request, or write's
// first error, ends it with that error. It checks ctx between requests.
func Read(ctx context.Context, client *sdk.TableStoreClient, table string, opts Options, write func(Batch) error) error {
	if opts.BatchSize < 0 || opts.BatchSize > streams.MaxBatchSize {
		return fmt.Errorf("capture: Options.BatchSize %d: want 0 (default %d) up to %d", opts.BatchSize, streams.DefaultBatchSize, streams.MaxBatchSize)
	}
	limit := int32(cmp.Or(opts.BatchSize, streams.DefaultBatchSize))
	since := streams.Position(opts.Since)
	s, err := streams.Open(client, table)
	if err != nil {
		return err
	}
	listed, err := s.Shards()
	if err != nil {
		return err
	}
	ordered, err := parentsFirst(listed)
	if err != nil {
		return fmt.Errorf("capture: DescribeStream on table %q: %w", table, err)
	}
	for _, sh := range ordered {
		if err := captureShard(ctx, s, sh.ID, since, limit, write); err != nil {
			return err
		}
	}
	return nil
}

// captureShard reads one shard from since to its current end, handing each page to write.
func captureShard(ctx context.Context, s *streams.Stream, id sdk.ShardId, since *int64, limit int32, write func(Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	iter, err := s.Iterator(id, since)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := s.Read(id, iter, limit)
		if err != nil {
			return err
		}
		if len(p.Records) > 0 {
			batch := Batch{Shard: string(id), Event: events.Event{Version: events.Version, Records: make([]events.Record, len(p.Records))}}
			for i, r := range p.Records {
				batch.Event.Records[i] = r.Record
			}
			if err := write(batch); err != nil {
				return err
			}
		}
		if p.Next == nil || p.CaughtUp {
			return nil
		}
		iter = *p.Next
	}
}

// parentsFirst orders shards so that every shard comes after its listed parents, keeping
// DescribeStream's order otherwise. Parents that are not listed (expired) impose nothing.
func parentsFirst(shards []streams.Shard) ([]streams.Shard, error) {
	pending := map[sdk.ShardId]bool{}
	for _, sh := range shards {
		pending[sh.ID] = true
	}
	ordered := make([]streams.Shard, 0, len(shards))
	for len(ordered) < len(shards) {
		progress := false
		for _, sh := range shards {
			if !pending[sh.ID] || waitsForParent(sh, pending) {
				continue
			}
			delete(pending, sh.ID)
			ordered = append(ordered, sh)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("the shards' parents form a cycle (%d shards left)", len(pending))
		}
	}
	return ordered, nil
}

// waitsForParent reports whether a parent of sh is still pending.
func waitsForParent(sh streams.Shard, pending map[sdk.ShardId]bool) bool {
	for _, p := range sh.Parents {
		if pending[p] {
			return true
		}
	}
	return false
}

// ToFolder reads table's Stream as [Read] does and writes it into dir as trigger event
// files: one CBOR event per batch, named NNNNNN-SHARD.cbor and numbered by the first record's
// time, merging the shards while keeping each shard's batches in order (every row lives in
// one shard, so replaying the folder replays each row's changes in the order they were made).
// It prints a line per file and a total to w. dir is made once the whole Stream is read, so
// a failed capture leaves nothing behind.
func ToFolder(ctx context.Context, client *sdk.TableStoreClient, table string, opts Options, dir string, w io.Writer) error {
	var shards capturedShards
	if err := Read(ctx, client, table, opts, shards.add); err != nil {
		return err
	}
	return writeFiles(w, dir, table, shards)
}

// capturedShards holds the captured batches shard by shard, each shard's in Stream order.
type capturedShards struct {
	order   []string
	batches map[string][]Batch
}

// add is Read's write function.
func (c *capturedShards) add(b Batch) error {
	if c.batches == nil {
		c.batches = map[string][]Batch{}
	}
	if _, ok := c.batches[b.Shard]; !ok {
		c.order = append(c.order, b.Shard)
	}
	c.batches[b.Shard] = append(c.batches[b.Shard], b)
	return nil
}

// merged returns every batch, the shards merged by their batches' first record's timestamp
// (ties in shard order), each shard's batches kept in order whatever their timestamps.
func (c *capturedShards) merged() []Batch {
	next := make([]int, len(c.order))
	var out []Batch
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

// firstTimestamp is the sequence timestamp (µs) of a batch's first record; Read hands
// over no empty batches.
func firstTimestamp(b Batch) int64 { return b.Event.Records[0].Info.Timestamp }

// writeFiles writes the batches as numbered CBOR event files into dir, making it if
// needed, and prints one line per file and a total.
func writeFiles(w io.Writer, dir, table string, shards capturedShards) error {
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
