package handler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// The environment variables the function reads (docs/design.md, "Configuration"). FC reserves the FC_ prefix for
// its own system variables, so none of ours use it.
const (
	EnvInstance        = "TABLESTORE_INSTANCE"
	EnvEndpoint        = "TABLESTORE_ENDPOINT"
	EnvSourceTable     = "SOURCE_TABLE"
	EnvResultTable     = "RESULT_TABLE"
	EnvFilter          = "FILTER"
	EnvColumns         = "COLUMNS"
	EnvDeadLetterTable = "DEAD_LETTER_TABLE"
	EnvCapturePayloads = "CAPTURE_PAYLOADS"
	// The export to OSS (docs/exports.md): where, through which endpoint, in which format.
	EnvExportTo          = "EXPORT_TO"
	EnvOSSEndpoint       = "OSS_ENDPOINT"
	EnvExportFormat      = "EXPORT_FORMAT"
	EnvExportFileFormat  = "EXPORT_FILE_FORMAT"
	EnvExportCompression = "EXPORT_COMPRESSION"
	// EnvRegion is the FC system variable holding the instance's region (e.g. "cn-hangzhou"),
	// used to derive the VPC endpoint when TABLESTORE_ENDPOINT is unset
	// (https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables).
	EnvRegion = "FC_REGION"
	// EnvInstanceID is the FC system variable naming the function instance; a task's result
	// carries it ([task.Result.InstanceID]), so that its sender can count the instances used.
	EnvInstanceID = "FC_INSTANCE_ID"
)

// Defaults of the configuration (docs/design.md, "Configuration").
const (
	DefaultSourceTable = "source_data"
	DefaultResultTable = "result"
)

// Config is the function's configuration, read once at start-up.
type Config struct {
	// Instance is the Tablestore instance name (TABLESTORE_INSTANCE, required).
	Instance string
	// Endpoint is the Tablestore endpoint URL (TABLESTORE_ENDPOINT), or, when unset, the VPC
	// endpoint https://{instance}.{region}.vpc.tablestore.aliyuncs.com of the region in FC_REGION,
	// the one the Tablestore trigger documentation prescribes.
	Endpoint string
	// SourceTable is the triggering table (SOURCE_TABLE, default "source_data"). The function
	// only reads it, for UpdateRow decisions.
	SourceTable string
	// ResultTable is the cleaned table (RESULT_TABLE, default "result"); empty for an
	// export-only function, which RESULT_TABLE set empty with EXPORT_TO asks for.
	ResultTable string
	// DeadLetterTable receives the records the rule cannot evaluate or Tablestore would refuse
	// in a row (DEAD_LETTER_TABLE); empty means such records fail the invocation.
	DeadLetterTable string
	// Rule is the cleaning rule: FILTER (default "level > 1") and COLUMNS (default all
	// attribute columns; a comma-separated list keeps some, a map literal computes them).
	Rule transform.Config
	// CapturePayloads is how many of the first payloads an instance receives it writes to
	// its log, one line each (CAPTURE_PAYLOADS, default 0: none), so that a first deployment
	// can record what the real trigger sends (see [CapturedPayloadMessage]).
	CapturePayloads int
	// Export, when set, is the export of every batch to OSS (EXPORT_TO, OSS_ENDPOINT,
	// EXPORT_FORMAT, EXPORT_FILE_FORMAT, EXPORT_COMPRESSION); nil means no export. An
	// invocation succeeds only once both the result table and the export have its batch.
	Export *export.Config
	// InstanceID names the function instance (FC_INSTANCE_ID, set by FC); empty when unset.
	// It is not part of the configuration's [Config.Fingerprint].
	InstanceID string
}

// ConfigFromEnv reads the configuration through lookupEnv (os.LookupEnv in production) and
// validates it: the instance is required, table names must be valid and distinct (the
// result or dead-letter table being the source table would make the trigger loop), the
// endpoint must be an http(s) URL or derivable from FC_REGION. RESULT_TABLE unset means
// "result"; set empty, it means no result table, which only an export (EXPORT_TO) allows.
// The export's variables are checked as [exportFromEnv] says. FILTER and COLUMNS are checked
// by [New], which compiles them. The error is one line naming the variable.
func ConfigFromEnv(lookupEnv func(string) (string, bool)) (Config, error) {
	getenv := func(name string) string {
		v, _ := lookupEnv(name)
		return strings.TrimSpace(v)
	}
	cfg := Config{
		Instance:        getenv(EnvInstance),
		Endpoint:        getenv(EnvEndpoint),
		SourceTable:     orDefault(getenv(EnvSourceTable), DefaultSourceTable),
		ResultTable:     DefaultResultTable,
		DeadLetterTable: getenv(EnvDeadLetterTable),
		Rule:            transform.Config{Filter: orDefault(getenv(EnvFilter), transform.DefaultFilter), Columns: getenv(EnvColumns)},
		InstanceID:      getenv(EnvInstanceID),
	}
	if _, set := lookupEnv(EnvResultTable); set {
		cfg.ResultTable = getenv(EnvResultTable)
	}
	if cfg.ResultTable == "" && getenv(EnvExportTo) == "" {
		return Config{}, fmt.Errorf("%s is set empty and %s is unset: the function would write nowhere; set %s (default %s) or %s", EnvResultTable, EnvExportTo, EnvResultTable, DefaultResultTable, EnvExportTo)
	}
	if cfg.Instance == "" {
		return Config{}, fmt.Errorf("%s is required: the Tablestore instance that holds %s", EnvInstance, cfg.SourceTable)
	}
	if cfg.Endpoint == "" {
		region := getenv(EnvRegion)
		if region == "" {
			return Config{}, fmt.Errorf("%s is unset and %s is empty: set %s to the instance's endpoint", EnvEndpoint, EnvRegion, EnvEndpoint)
		}
		cfg.Endpoint = fmt.Sprintf("https://%s.%s.vpc.tablestore.aliyuncs.com", cfg.Instance, region)
	}
	endpoint, err := tablestore.CheckEndpoint(cfg.Endpoint)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvEndpoint, err)
	}
	cfg.Endpoint = endpoint
	for _, t := range []struct{ env, name string }{
		{EnvSourceTable, cfg.SourceTable}, {EnvResultTable, cfg.ResultTable}, {EnvDeadLetterTable, cfg.DeadLetterTable},
	} {
		if t.name != "" && !ots.IsName(t.name) {
			return Config{}, fmt.Errorf("%s=%q is not a valid Tablestore table name (1-255 characters of [A-Za-z0-9_], not starting with a digit)", t.env, t.name)
		}
	}
	if cfg.ResultTable == cfg.SourceTable {
		return Config{}, fmt.Errorf("%s and %s are both %q: writing into the triggering table would trigger the function again, forever", EnvResultTable, EnvSourceTable, cfg.ResultTable)
	}
	if v := getenv(EnvCapturePayloads); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Config{}, fmt.Errorf("%s=%q: want how many payloads to capture, a whole number from 0", EnvCapturePayloads, v)
		}
		cfg.CapturePayloads = n
	}
	if cfg.DeadLetterTable != "" && (cfg.DeadLetterTable == cfg.SourceTable || cfg.DeadLetterTable == cfg.ResultTable) {
		return Config{}, fmt.Errorf("%s=%q must differ from %s and %s", EnvDeadLetterTable, cfg.DeadLetterTable, EnvSourceTable, EnvResultTable)
	}
	if cfg.Export, err = exportFromEnv(getenv, cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// exportFromEnv reads the export's configuration: nil when EXPORT_TO is unset, and then none
// of the export's other variables may be set. EXPORT_TO must be oss://bucket/prefix/;
// OSS_ENDPOINT defaults to the internal endpoint of FC_REGION; the region the requests are
// signed for is the one OSS_ENDPOINT names (oss-<region>[-internal].aliyuncs.com), else
// FC_REGION; EXPORT_FORMAT is changes (default) or rows, EXPORT_FILE_FORMAT jsonl (default)
// or csv, EXPORT_COMPRESSION none (default) or gzip; rows in csv needs COLUMNS. The
// export's Columns are the result row's as the rule fixes them
// ([transform.Rule.ResultColumns]), which compiles FILTER and COLUMNS.
func exportFromEnv(getenv func(string) string, cfg Config) (*export.Config, error) {
	to := getenv(EnvExportTo)
	if to == "" {
		for _, name := range []string{EnvOSSEndpoint, EnvExportFormat, EnvExportFileFormat, EnvExportCompression} {
			if getenv(name) != "" {
				return nil, fmt.Errorf("%s is set but %s is not: set %s to oss://bucket/prefix/ to export", name, EnvExportTo, EnvExportTo)
			}
		}
		return nil, nil
	}
	bucket, prefix, err := export.ParseDestination(to)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvExportTo, err)
	}
	rule, err := compileRule(cfg.Rule)
	if err != nil {
		return nil, err
	}
	x := &export.Config{
		Bucket: bucket, Prefix: prefix, SourceTable: cfg.SourceTable, Columns: rule.ResultColumns(),
		Endpoint:    getenv(EnvOSSEndpoint),
		Format:      export.Format(orDefault(getenv(EnvExportFormat), string(export.Changes))),
		FileFormat:  export.FileFormat(orDefault(getenv(EnvExportFileFormat), string(export.JSONL))),
		Compression: export.Compression(orDefault(getenv(EnvExportCompression), string(export.None))),
	}
	region := getenv(EnvRegion)
	if x.Endpoint == "" {
		if region == "" {
			return nil, fmt.Errorf("%s is unset and %s is empty: set %s to the bucket's endpoint", EnvOSSEndpoint, EnvRegion, EnvOSSEndpoint)
		}
		x.Endpoint = export.DefaultEndpoint(region)
	}
	if named := export.RegionOf(x.Endpoint); named != "" {
		region = named
	}
	if region == "" {
		return nil, fmt.Errorf("%s=%q names no region and %s is empty: OSS's signature needs the bucket's region; set %s", EnvOSSEndpoint, x.Endpoint, EnvRegion, EnvRegion)
	}
	x.Region = region
	switch {
	case x.Format != export.Changes && x.Format != export.Rows:
		return nil, fmt.Errorf("%s=%q: want %s (default) or %s", EnvExportFormat, x.Format, export.Changes, export.Rows)
	case x.FileFormat != export.JSONL && x.FileFormat != export.CSV:
		return nil, fmt.Errorf("%s=%q: want %s (default) or %s", EnvExportFileFormat, x.FileFormat, export.JSONL, export.CSV)
	case x.Compression != export.None && x.Compression != export.Gzip:
		return nil, fmt.Errorf("%s=%q: want %s (default) or %s", EnvExportCompression, x.Compression, export.None, export.Gzip)
	case x.Format == export.Rows && x.FileFormat == export.CSV && len(x.Columns) == 0:
		return nil, fmt.Errorf("%s=%s with %s=%s needs %s: a csv header needs fixed columns", EnvExportFormat, export.Rows, EnvExportFileFormat, export.CSV, EnvColumns)
	}
	if err := x.Check(); err != nil { // what is left to refuse is the endpoint
		return nil, fmt.Errorf("%s: %w", EnvOSSEndpoint, err)
	}
	return x, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

// Fingerprint identifies what the function's tasks write and how: the SHA-256, in hexadecimal,
// of the JSON of the instance, the source, result and dead-letter tables and the rule, FILTER
// and COLUMNS (a list or a mapping) as a compiled rule applies them
// ([transform.Config.Normalized]). The endpoint is left out: the function reaches the
// instance by its VPC endpoint, a user's machine by another. A task carries the fingerprint
// of the configuration its sender expects (an s.yaml), and the function refuses a task whose
// fingerprint is not its own (docs/design.md, "Task invocations").
func (c Config) Fingerprint() string {
	data, _ := json.Marshal(struct { // strings and the rule's plain fields: it cannot fail
		Instance        string           `json:"instance"`
		SourceTable     string           `json:"sourceTable"`
		ResultTable     string           `json:"resultTable"`
		DeadLetterTable string           `json:"deadLetterTable"`
		Rule            transform.Config `json:"rule"`
	}{c.Instance, c.SourceTable, c.ResultTable, c.DeadLetterTable, c.Rule.Normalized()})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
