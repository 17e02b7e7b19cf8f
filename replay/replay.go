// Package replay feeds captured Tablestore trigger event files through the otsetl function's
// HTTP path, the way the trigger would have delivered them.
//
// Each file holds one event (CBOR or JSON). [Run] invokes the function once per file, in
// name order, and stops at the first failed invocation, as a trigger's shard would. It can
// first create the tables and re-enact each event's records on the source table, so that the
// function's source reads see what production would have shown them.
package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tables"
)

// Files expands paths into the event files to replay: a file is taken as it is, a folder
// contributes its *.cbor and *.json files (not those of its subfolders). The result is sorted
// by file name (then by path), so 0001-a.json comes before 0002-b.cbor whatever their folders.
// A path that does not exist, or a folder without event files, is an error.
func Files(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		n := len(files)
		for _, e := range entries {
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && (ext == ".cbor" || ext == ".json") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no .cbor or .json event files", p)
		}
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if c := strings.Compare(filepath.Base(a), filepath.Base(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return files, nil
}

// Config is what [Run] needs.
type Config struct {
	// Tablestore reaches the instance the function writes to, for Run's own requests (with
	// CreateTables or ApplyToSource).
	Tablestore *sdk.TableStoreClient
	// Credentials are sent with every invocation.
	Credentials aliyun.Credentials
	// Function is the configuration the invoked function runs with (its tables).
	Function handler.Config
	// Invoker reaches the function.
	Invoker *fcruntime.Invoker
	// CreateTables creates the source, result and dead-letter tables, when absent, with the
	// primary key (names and types) of the first event's first record.
	CreateTables bool
	// ApplyToSource re-enacts each event's records on the source table before invoking.
	ApplyToSource bool
	// OnFile, when set, is called after each successful invocation.
	OnFile func(FileResult)
}

// FileResult is the outcome of one replayed file.
type FileResult struct {
	// Path is the event file, as given to Run.
	Path string
	// Summary is what the function reported for it.
	Summary handler.Summary
}

// sourceTableOptions lets the re-enacted source table keep a few versions, so that a
// DeleteOneVersion uncovers the version underneath as it does in production, and accept the
// cell versions (timestamps) of events captured long ago.
var sourceTableOptions = tables.Options{MaxVersions: 3, DeviationCellVersionInSec: 100 * 365 * 24 * 3600}

// Run replays files in order and returns the result of each successful invocation. It stops
// at the first file that cannot be read or decoded, or whose invocation fails, and returns
// the results so far with an error naming the file.
func Run(ctx context.Context, cfg Config, files []string) ([]FileResult, error) {
	var results []FileResult
	for i, path := range files {
		payload, err := os.ReadFile(path)
		if err != nil {
			return results, err
		}
		ev, err := events.Decode(payload)
		if err != nil {
			return results, fmt.Errorf("%s: %w", path, err)
		}
		if i == 0 && cfg.CreateTables {
			if err := createTables(ctx, cfg.Tablestore, cfg.Function, ev); err != nil {
				return results, fmt.Errorf("%s: %w", path, err)
			}
		}
		if cfg.ApplyToSource {
			if err := tables.Apply(ctx, cfg.Tablestore, cfg.Function.SourceTable, ev.Records); err != nil {
				return results, fmt.Errorf("%s: re-enacting on %s: %w", path, cfg.Function.SourceTable, err)
			}
		}
		inv := fcruntime.Invocation{RequestID: fmt.Sprintf("replay-%04d-%s", i+1, filepath.Base(path)), Credentials: cfg.Credentials}
		result, err := cfg.Invoker.Invoke(ctx, inv, payload)
		if err != nil {
			return results, fmt.Errorf("%s: %w", path, err)
		}
		var sum handler.Summary
		if err := json.Unmarshal(result, &sum); err != nil {
			return results, fmt.Errorf("%s: the function's result is not a summary: %w", path, err)
		}
		res := FileResult{Path: path, Summary: sum}
		results = append(results, res)
		if cfg.OnFile != nil {
			cfg.OnFile(res)
		}
	}
	return results, nil
}

// createTables creates the function's tables with the primary key the event carries.
func createTables(ctx context.Context, client *sdk.TableStoreClient, fn handler.Config, ev *events.Event) error {
	if len(ev.Records) == 0 {
		return fmt.Errorf("the first event has no records to take the primary key from; create %s and %s first", fn.SourceTable, fn.ResultTable)
	}
	var pk []ots.PrimaryKeySchema
	for _, col := range ev.Records[0].PrimaryKey {
		pk = append(pk, ots.PrimaryKeySchema{Name: col.ColumnName, Type: col.Value.Kind()})
	}
	return EnsureTables(ctx, client, fn, pk, sourceTableOptions)
}

// EnsureTables creates, when absent, the tables of the function configured by fn: the
// source table with primary key pk and the options source, the result table with pk, and
// the dead-letter table, if fn names one, with the primary key handler.DeadLetterPrimaryKey
// (STRING). A table that exists must have the primary key asked for ([tables.Ensure]).
func EnsureTables(ctx context.Context, client *sdk.TableStoreClient, fn handler.Config, pk []ots.PrimaryKeySchema, source tables.Options) error {
	if err := tables.Ensure(ctx, client, fn.SourceTable, pk, source); err != nil {
		return err
	}
	if err := tables.Ensure(ctx, client, fn.ResultTable, pk, tables.Options{}); err != nil {
		return err
	}
	if fn.DeadLetterTable != "" {
		dl := []ots.PrimaryKeySchema{{Name: handler.DeadLetterPrimaryKey, Type: ots.KindString}}
		return tables.Ensure(ctx, client, fn.DeadLetterTable, dl, tables.Options{})
	}
	return nil
}

// Total adds up the counts of results' summaries ([handler.Summary.Add]).
func Total(results []FileResult) handler.Summary {
	var t handler.Summary
	for _, r := range results {
		t.Add(r.Summary)
	}
	return t
}

// PrintTable writes rows as an aligned text table: the primary key columns, then every
// attribute column any row has, sorted by name. Values are shown as [ots.Value.String]
// formats them (strings quoted, binary in hex, so types stay visible); a cell a row lacks is
// empty.
func PrintTable(w io.Writer, rows []tables.Row) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "(no rows)")
		return err
	}
	var header []string
	for _, pk := range rows[0].PrimaryKey {
		header = append(header, pk.ColumnName)
	}
	var attrs []string
	for _, r := range rows {
		for _, c := range r.Columns {
			if !slices.Contains(attrs, c.Name) {
				attrs = append(attrs, c.Name)
			}
		}
	}
	slices.Sort(attrs)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(append(header, attrs...), "\t"))
	for _, r := range rows {
		line := make([]string, 0, len(header)+len(attrs))
		for _, pk := range r.PrimaryKey {
			line = append(line, pk.Value.String())
		}
		for _, a := range attrs {
			cell := ""
			for _, c := range r.Columns {
				if c.Name == a {
					cell = c.Value.String()
				}
			}
			line = append(line, cell)
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}
