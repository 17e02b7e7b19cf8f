// Package export is the function's second sink: it writes each trigger event's batch to
// Object Storage Service (OSS) as one object, seconds after the changes happened, so that
// MaxCompute, Spark or DuckDB can read them and the table's history is kept cheaply.
//
// A [Sink] writes a batch in one of two formats ([Format]): `changes`, the change log of the
// Tablestore Stream reader (one line per cell change, opType U, DO, DA or DR; the filter is
// not applied, so that replaying the objects rebuilds the source table), or `rows`, the
// view's change log (one line per primary key with what the function decided for the result
// table: the row changes the writer gets, [ots.RowChange]s decided by the planner and the
// source reads). Lines are JSON Lines or CSV ([FileFormat]),
// optionally gzip-compressed ([Compression]). The object's name is derived from the batch
// alone ([ObjectName]), so that a batch the trigger delivers again overwrites its own object.
//
// Objects go out through the official OSS Go SDK v2
// (github.com/aliyun/alibabacloud-oss-go-sdk-v2), signed with each invocation's STS
// credentials: PutObject, or a multipart upload for an object larger than one part, so that
// memory stays bounded whatever the batch. The formats, names and queries are documented in
// docs/exports.md; the design in docs/design.md, "Exports".
package export

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otsetl/otsetl/aliyun"
)

// Format is what an exported line describes (EXPORT_FORMAT).
type Format string

// The export formats.
const (
	// Changes is the Stream reader's change log: one line per cell change of the source
	// table, every change kept (docs/exports.md, "Changes: the source table's change log").
	Changes Format = "changes"
	// Rows is the view's change log: one line per primary key with the function's decision
	// for the result table (docs/exports.md, "Rows: the view's change log").
	Rows Format = "rows"
)

// FileFormat is how lines are written (EXPORT_FILE_FORMAT).
type FileFormat string

// The file formats.
const (
	// JSONL is JSON Lines: one JSON object per line, types kept exactly.
	JSONL FileFormat = "jsonl"
	// CSV is RFC 4180 CSV with a header line, as Data Integration's OSS writer writes it:
	// `\N` for an absent field, BINARY in base64.
	CSV FileFormat = "csv"
)

// Compression is how an object's bytes are compressed (EXPORT_COMPRESSION).
type Compression string

// The compressions.
const (
	// None writes the lines as they are.
	None Compression = "none"
	// Gzip writes one gzip member (RFC 1952); the object's name ends in ".gz".
	Gzip Compression = "gzip"
)

// Defaults of [Config].
const (
	// DefaultPartSize is the size of an upload part: an object that fits in one part goes
	// out as one PutObject; a larger one as a multipart upload of such parts. It bounds the
	// memory an export holds (docs/design.md, "Exports").
	DefaultPartSize = 8 << 20
	// DefaultRequestTimeout bounds one attempt of an OSS request, as a whole and between
	// two reads or writes of its connection (the SDK's ReadWriteTimeout); the SDK retries
	// an attempt that times out.
	DefaultRequestTimeout = 10 * time.Second
	// connectTimeout bounds a TCP connect and TLS handshake to OSS: milliseconds inside a
	// region.
	connectTimeout = 3 * time.Second
	// minPartSize is OSS's smallest part but the last (UploadPart, 100 KB).
	minPartSize = 100 << 10
)

// Config configures a [Sink].
type Config struct {
	// Bucket and Prefix are where objects go: EXPORT_TO's oss://Bucket/Prefix, Prefix
	// ending in "/" (see [ParseDestination]).
	Bucket, Prefix string
	// Endpoint is the OSS endpoint URL, e.g. "https://oss-cn-hangzhou-internal.aliyuncs.com"
	// ([DefaultEndpoint]) or "http://127.0.0.1:9100" for a local OSS.
	Endpoint string
	// Region is the bucket's region, e.g. "cn-hangzhou": OSS's V4 signature covers it.
	Region string
	// SourceTable is the triggering table; it names the objects ([ObjectName]).
	SourceTable string
	// Format, FileFormat and Compression say what the lines are and how they are written;
	// empty means Changes, JSONL and None.
	Format      Format
	FileFormat  FileFormat
	Compression Compression
	// Columns are the result row's attribute columns as the rule fixes them (COLUMNS's
	// list in its order, or its mapping's columns; transform.Rule.ResultColumns): the
	// columns of a `rows` CSV header. A `rows` CSV export needs them; other formats ignore
	// them.
	Columns []string
	// PartSize is the size of an upload part, at least 100 KB; 0 means DefaultPartSize.
	PartSize int
	// RequestTimeout bounds one attempt of a request; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// withDefaults returns c with its empty fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Format == "" {
		c.Format = Changes
	}
	if c.FileFormat == "" {
		c.FileFormat = JSONL
	}
	if c.Compression == "" {
		c.Compression = None
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// ErrRowsCSVNeedsColumns is the error of [Config.Check] for a `rows` CSV export without a
// projection: a CSV header needs fixed columns.
var ErrRowsCSVNeedsColumns = errors.New("a rows export in csv needs COLUMNS: a csv header needs fixed columns")

// Check reports the first invalid setting of c, after defaults: a destination that
// [ParseDestination] would refuse, an endpoint that is not an http(s) URL without a path, an
// empty region or source table, an unknown format, file format or compression, a `rows` CSV
// export without Columns ([ErrRowsCSVNeedsColumns]), a part size under 100 KB or a negative
// timeout. The error names the setting, not an environment variable: the caller does.
func (c Config) Check() error {
	c = c.withDefaults()
	if _, _, err := ParseDestination("oss://" + c.Bucket + "/" + c.Prefix); err != nil {
		return err
	}
	if _, err := aliyun.CheckEndpoint(c.Endpoint, DefaultEndpoint("cn-hangzhou")); err != nil {
		return err
	}
	switch {
	case c.Region == "":
		return errors.New("no region: OSS's V4 signature needs the bucket's region, e.g. cn-hangzhou")
	case c.SourceTable == "":
		return errors.New("no source table to name the objects after")
	case c.Format != Changes && c.Format != Rows:
		return fmt.Errorf("format %q: want %s or %s", c.Format, Changes, Rows)
	case c.FileFormat != JSONL && c.FileFormat != CSV:
		return fmt.Errorf("file format %q: want %s or %s", c.FileFormat, JSONL, CSV)
	case c.Compression != None && c.Compression != Gzip:
		return fmt.Errorf("compression %q: want %s or %s", c.Compression, None, Gzip)
	case c.Format == Rows && c.FileFormat == CSV && len(c.Columns) == 0:
		return ErrRowsCSVNeedsColumns
	case c.PartSize < minPartSize:
		return fmt.Errorf("part size %d: OSS takes parts of at least %d bytes", c.PartSize, minPartSize)
	case c.RequestTimeout < 0:
		return fmt.Errorf("request timeout %v is negative", c.RequestTimeout)
	}
	return nil
}

// ParseDestination reads EXPORT_TO, "oss://BUCKET/PREFIX/", into the bucket and the prefix
// (with its final "/"). The bucket must be an OSS bucket name (3 to 63 characters of
// lower-case letters, digits and hyphens, starting and ending with a letter or a digit;
// OSS "Bucket naming conventions"); the prefix must be present, end in "/", and hold no
// empty, "." or ".." segment and no control character, and leave room for the objects'
// names within OSS's 1,023 bytes. The error quotes the value and says what is expected.
func ParseDestination(to string) (bucket, prefix string, err error) {
	fail := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("%q is not oss://bucket/prefix/: %s", to, why)
	}
	rest, ok := strings.CutPrefix(to, "oss://")
	if !ok {
		return fail("it must start with oss://")
	}
	bucket, prefix, ok = strings.Cut(rest, "/")
	if !ok || prefix == "" {
		return fail("a prefix is required after the bucket, ending in /, e.g. oss://my-bucket/otsetl/")
	}
	if !validBucket(bucket) {
		return fail(fmt.Sprintf("bucket %q: want 3 to 63 lower-case letters, digits and hyphens, starting and ending with a letter or a digit", bucket))
	}
	if !strings.HasSuffix(prefix, "/") {
		return fail("the prefix must end in /")
	}
	if len(prefix) > maxPrefixBytes {
		return fail(fmt.Sprintf("the prefix is longer than %d bytes", maxPrefixBytes))
	}
	for _, segment := range strings.Split(strings.TrimSuffix(prefix, "/"), "/") {
		if segment == "" || segment == "." || segment == ".." {
			return fail(fmt.Sprintf("the prefix holds an empty, . or .. segment (%q)", segment))
		}
		if strings.ContainsFunc(segment, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fail("the prefix holds a control character")
		}
	}
	return bucket, prefix, nil
}

// maxPrefixBytes leaves an object name room for the table (255 bytes), the partitions and
// the file name within OSS's limit of 1,023 bytes for an object name.
const maxPrefixBytes = 1023 - 255 - len("/dt=2006-01-02/hh=15/") - len("0000000000000000-0123456789abcdef.jsonl.gz")

// validBucket reports whether name is an OSS bucket name.
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// DefaultEndpoint is the internal OSS endpoint of region, reached from Function Compute in
// that region without Internet traffic: "https://oss-<region>-internal.aliyuncs.com" (OSS
// "Regions and endpoints"; the SDK's endpointFromRegion, EndpointInternal).
func DefaultEndpoint(region string) string {
	return "https://oss-" + region + "-internal.aliyuncs.com"
}

// RegionOf returns the region an OSS endpoint names, "cn-hangzhou" for
// https://oss-cn-hangzhou.aliyuncs.com or https://oss-cn-hangzhou-internal.aliyuncs.com, or
// "" for an endpoint of another form (a local server, a custom domain).
func RegionOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	host, ok := strings.CutSuffix(u.Hostname(), ".aliyuncs.com")
	if !ok {
		return ""
	}
	region, ok := strings.CutPrefix(host, "oss-")
	if !ok || strings.Contains(region, ".") {
		return ""
	}
	return strings.TrimSuffix(region, "-internal")
}
