package handler

import (
	"fmt"
	"strconv"
	"strings"

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
	// EnvRegion is the FC system variable holding the instance's region (e.g. "cn-hangzhou"),
	// used to derive the VPC endpoint when TABLESTORE_ENDPOINT is unset
	// (https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables).
	EnvRegion = "FC_REGION"
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
	// ResultTable is the cleaned table (RESULT_TABLE, default "result").
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
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in production) and
// validates it: the instance is required, table names must be valid and distinct (the
// result or dead-letter table being the source table would make the trigger loop), the
// endpoint must be an http(s) URL or derivable from FC_REGION. FILTER and COLUMNS are
// checked by [New], which compiles them. The error is one line naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Instance:        strings.TrimSpace(getenv(EnvInstance)),
		Endpoint:        strings.TrimSpace(getenv(EnvEndpoint)),
		SourceTable:     orDefault(getenv(EnvSourceTable), DefaultSourceTable),
		ResultTable:     orDefault(getenv(EnvResultTable), DefaultResultTable),
		DeadLetterTable: strings.TrimSpace(getenv(EnvDeadLetterTable)),
		Rule:            transform.Config{Filter: orDefault(getenv(EnvFilter), transform.DefaultFilter), Columns: strings.TrimSpace(getenv(EnvColumns))},
	}
	if cfg.Instance == "" {
		return Config{}, fmt.Errorf("%s is required: the Tablestore instance that holds %s and %s", EnvInstance, cfg.SourceTable, cfg.ResultTable)
	}
	if cfg.Endpoint == "" {
		region := strings.TrimSpace(getenv(EnvRegion))
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
	if v := strings.TrimSpace(getenv(EnvCapturePayloads)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Config{}, fmt.Errorf("%s=%q: want how many payloads to capture, a whole number from 0", EnvCapturePayloads, v)
		}
		cfg.CapturePayloads = n
	}
	if cfg.DeadLetterTable != "" && (cfg.DeadLetterTable == cfg.SourceTable || cfg.DeadLetterTable == cfg.ResultTable) {
		return Config{}, fmt.Errorf("%s=%q must differ from %s and %s", EnvDeadLetterTable, cfg.DeadLetterTable, EnvSourceTable, EnvResultTable)
	}
	return cfg, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}
