// Package replay feeds captured Tablestore trigger events through the otsetl function's HTTP
// path, the way the trigger would have delivered them.
//
// An event comes from an event file (one event, CBOR or JSON) or from a function log: with
// CAPTURE_PAYLOADS set, the function writes the payloads it receives to its log, one line
// each ([handler.CapturedPayloadMessage]), and a file of such lines replays as the events they
// hold. [Run] invokes the function once per event, in order, and stops at the first failed
// invocation, as a trigger's shard would. It can first create the tables and re-enact each
// event's records on the source table, so that the function's source reads see what
// production would have shown them.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// Source is one event to replay: an event file, or one payload captured in a function log.
type Source struct {
	// Path is the file.
	Path string
	// Line is the line of the log that holds the captured payload (1 for the first), and 0
	// for an event file.
	Line int
	// offset is where that line starts in the log, in bytes.
	offset int64
}

// String names the source for messages: the file's name, with ":LINE" for a captured
// payload; quoted when the name holds anything but printable characters.
func (s Source) String() string {
	name := filepath.Base(s.Path)
	if s.Line > 0 {
		name += ":" + strconv.Itoa(s.Line)
	}
	if quoted := strconv.Quote(name); quoted[1:len(quoted)-1] != name {
		return quoted
	}
	return name
}

// The extensions of the files Sources reads: event files and function logs.
const (
	extCBOR = ".cbor"
	extJSON = ".json"
	extLog  = ".log"
)

// maxLogLineBytes bounds a line of a function log: a captured payload of the largest size
// FC delivers, in base64, and room for the rest of the line.
const maxLogLineBytes = fcruntime.MaxPayloadBytes/3*4 + 64<<10

// Sources expands paths into the events to replay. A file ending in .log is a function log:
// every payload captured in it is an event, in the order of its lines (a log without any is
// an error). Any other file is an event file. A folder contributes its *.cbor, *.json and
// *.log files (not those of its subfolders). The files are sorted by file name (then by
// path), so 0001-a.json comes before 0002-b.cbor whatever their folders. A path that does
// not exist, is not a regular file or folder (a device, a FIFO), or a folder without event
// files, is an error.
func Sources(paths []string) ([]Source, error) {
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
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && (ext == extCBOR || ext == extJSON || ext == extLog) {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no .cbor, .json or .log event files", p)
		}
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if c := strings.Compare(filepath.Base(a), filepath.Base(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var sources []Source
	for _, path := range files {
		if err := checkRegular(path); err != nil {
			return nil, err
		}
		if strings.ToLower(filepath.Ext(path)) != extLog {
			sources = append(sources, Source{Path: path})
			continue
		}
		captured, err := capturedLines(path)
		if err != nil {
			return nil, err
		}
		sources = append(sources, captured...)
	}
	return sources, nil
}

// checkRegular refuses a path that is not a regular file once links are followed: reading
// a device could grow memory without end, and a FIFO could block forever.
func checkRegular(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%s)", Source{Path: path}, info.Mode().Type())
	}
	return nil
}

// capturedLines finds the payloads captured in the function log at path.
func capturedLines(path string) ([]Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, maxLogLineBytes)
	var sources []Source
	var offset int64
	for n := 1; lines.Scan(); n++ {
		if captureLine.Match(lines.Bytes()) {
			sources = append(sources, Source{Path: path, Line: n, offset: offset})
		}
		offset += int64(len(lines.Bytes())) + 1
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", Source{Path: path}, err)
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("%s: no line holds a captured payload (%q)", Source{Path: path}, handler.CapturedPayloadMessage)
	}
	return sources, nil
}

// captureLine matches a log line that holds a captured payload, wherever the logging
// service put its own prefix.
var captureLine = regexp.MustCompile(`"msg":\s*"` + regexp.QuoteMeta(handler.CapturedPayloadMessage) + `"`)

// capturedPayload is what a capture line holds (handler.Function.Invoke writes it).
type capturedPayload struct {
	Msg          string `json:"msg"`
	PayloadBytes int    `json:"payloadBytes"`
	Payload      []byte `json:"payload"` // standard base64 in the line
}

// Payload reads the source's event: at most fcruntime.MaxPayloadBytes of an event file (a
// larger file is an error, read no further), or the payload a log line captured.
func (s Source) Payload() ([]byte, error) {
	if err := checkRegular(s.Path); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if s.Line == 0 {
		payload, err := io.ReadAll(io.LimitReader(f, fcruntime.MaxPayloadBytes+1))
		if err != nil {
			return nil, err
		}
		if len(payload) > fcruntime.MaxPayloadBytes {
			return nil, fmt.Errorf("%s: larger than %d bytes, FC's largest event", s, fcruntime.MaxPayloadBytes)
		}
		return payload, nil
	}
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return nil, err
	}
	line, err := bufio.NewReaderSize(io.LimitReader(f, maxLogLineBytes), 64<<10).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	start := bytes.IndexByte(line, '{')
	var captured capturedPayload
	if start < 0 || json.Unmarshal(line[start:], &captured) != nil || captured.Msg != handler.CapturedPayloadMessage {
		return nil, fmt.Errorf("%s: not a JSON line of a captured payload", s)
	}
	if len(captured.Payload) != captured.PayloadBytes {
		return nil, fmt.Errorf("%s: the captured payload has %d bytes, the line says %d: the line was cut", s, len(captured.Payload), captured.PayloadBytes)
	}
	return captured.Payload, nil
}

// requestID returns the x-fc-request-id of the i-th invocation (0 for the first) of a
// replay of s: "replay-0001-" and the source's name reduced to letters, digits, '.', '_'
// and '-', at most 64 bytes.
func (s Source) requestID(i int) string {
	name := strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, filepath.Base(s.Path))
	if s.Line > 0 {
		name += "-" + strconv.Itoa(s.Line)
	}
	return fmt.Sprintf("replay-%04d-%s", i+1, name[:min(len(name), 64)])
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
	// OnEvent, when set, is called after each successful invocation.
	OnEvent func(Result)
}

// Result is the outcome of one replayed event.
type Result struct {
	// Source is where the event came from.
	Source Source
	// Summary is what the function reported for it.
	Summary handler.Summary
}

// sourceTableOptions lets the re-enacted source table keep a few versions, so that a
// DeleteOneVersion uncovers the version underneath as it does in production, and accept the
// cell versions (timestamps) of events captured long ago.
var sourceTableOptions = tableio.Options{MaxVersions: 3, DeviationCellVersionInSec: 100 * 365 * 24 * 3600}

// Run replays the events of sources in order and returns the result of each successful
// invocation. It stops at the first event that cannot be read or decoded, or whose
// invocation fails, and returns the results so far with an error naming the source.
func Run(ctx context.Context, cfg Config, sources []Source) ([]Result, error) {
	var results []Result
	for i, src := range sources {
		payload, err := src.Payload()
		if err != nil {
			return results, err
		}
		ev, err := events.Decode(payload)
		if err != nil {
			return results, fmt.Errorf("%s: %w", src, err)
		}
		if i == 0 && cfg.CreateTables {
			if err := createTables(ctx, cfg.Tablestore, cfg.Function, ev); err != nil {
				return results, fmt.Errorf("%s: %w", src, err)
			}
		}
		if cfg.ApplyToSource {
			if err := tableio.Apply(ctx, cfg.Tablestore, cfg.Function.SourceTable, ev.Records); err != nil {
				return results, fmt.Errorf("%s: re-enacting on %s: %w", src, cfg.Function.SourceTable, err)
			}
		}
		inv := fcruntime.Invocation{RequestID: src.requestID(i), Credentials: cfg.Credentials}
		result, err := cfg.Invoker.Invoke(ctx, inv, payload)
		if err != nil {
			return results, fmt.Errorf("%s: %w", src, err)
		}
		var sum handler.Summary
		if err := json.Unmarshal(result, &sum); err != nil {
			return results, fmt.Errorf("%s: the function's result is not a summary: %w", src, err)
		}
		res := Result{Source: src, Summary: sum}
		results = append(results, res)
		if cfg.OnEvent != nil {
			cfg.OnEvent(res)
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
// the dead-letter table, if fn names one, with the primary key deadletter.PrimaryKey
// (STRING). A table that exists must have the primary key asked for ([tables.Ensure]).
func EnsureTables(ctx context.Context, client *sdk.TableStoreClient, fn handler.Config, pk []ots.PrimaryKeySchema, source tableio.Options) error {
	if err := tableio.Ensure(ctx, client, fn.SourceTable, pk, source); err != nil {
		return err
	}
	if fn.ResultTable != "" { // an export-only function keeps none
		if err := tableio.Ensure(ctx, client, fn.ResultTable, pk, tableio.Options{}); err != nil {
			return err
		}
	}
	if fn.DeadLetterTable != "" {
		dl := []ots.PrimaryKeySchema{{Name: deadletter.PrimaryKey, Type: ots.KindString}}
		return tableio.Ensure(ctx, client, fn.DeadLetterTable, dl, tableio.Options{})
	}
	return nil
}

// Total adds up the counts of results' summaries ([handler.Summary.Add]).
func Total(results []Result) handler.Summary {
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
func PrintTable(w io.Writer, rows []tableio.Row) error {
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
