package handler_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/handler"
)

// configOf reads the configuration of the variables env sets (a key present with an empty
// value is set empty).
func configOf(env map[string]string) (handler.Config, error) {
	vars := map[string]string{handler.EnvInstance: "inst", handler.EnvRegion: "cn-hangzhou"}
	for k, v := range env {
		vars[k] = v
	}
	return handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
}

// TestExportConfiguration: EXPORT_TO turns the export on with its defaults (changes, jsonl,
// none, the internal endpoint of FC_REGION); OSS_ENDPOINT's region is the one requests are
// signed for; RESULT_TABLE set empty makes an export-only function, unset keeps "result".
func TestExportConfiguration(t *testing.T) {
	cfg, err := configOf(nil)
	require.NoError(t, err)
	assert.Nil(t, cfg.Export, "no EXPORT_TO, no export")
	assert.Equal(t, "result", cfg.ResultTable)

	cfg, err = configOf(map[string]string{handler.EnvExportTo: "oss://my-bucket/otsetl/", handler.EnvColumns: "level, message"})
	require.NoError(t, err)
	assert.Equal(t, "result", cfg.ResultTable, "an unset RESULT_TABLE keeps its default beside the export")
	assert.Equal(t, &export.Config{
		Bucket: "my-bucket", Prefix: "otsetl/", Endpoint: "https://oss-cn-hangzhou-internal.aliyuncs.com", Region: "cn-hangzhou",
		SourceTable: "source_data", Format: export.Changes, FileFormat: export.JSONL, Compression: export.None, Columns: []string{"level", "message"},
	}, cfg.Export)

	cfg, err = configOf(map[string]string{
		handler.EnvExportTo: "oss://my-bucket/otsetl/", handler.EnvResultTable: "", handler.EnvOSSEndpoint: "https://oss-cn-shanghai.aliyuncs.com",
		handler.EnvExportFormat: "rows", handler.EnvExportFileFormat: "csv", handler.EnvExportCompression: "gzip", handler.EnvColumns: "level",
	})
	require.NoError(t, err)
	assert.Empty(t, cfg.ResultTable, "RESULT_TABLE set empty: export only")
	assert.Equal(t, "cn-shanghai", cfg.Export.Region, "the bucket's region, from its endpoint")
	assert.Equal(t, export.Config{
		Bucket: "my-bucket", Prefix: "otsetl/", Endpoint: "https://oss-cn-shanghai.aliyuncs.com", Region: "cn-shanghai",
		SourceTable: "source_data", Format: export.Rows, FileFormat: export.CSV, Compression: export.Gzip, Columns: []string{"level"},
	}, *cfg.Export)
	fn, err := handler.New(cfg, discard)
	require.NoError(t, err)
	assert.Equal(t, cfg, fn.Config())

	cfg, err = configOf(map[string]string{handler.EnvExportTo: "oss://my-bucket/otsetl/", handler.EnvOSSEndpoint: "http://127.0.0.1:9100"})
	require.NoError(t, err)
	assert.Equal(t, "cn-hangzhou", cfg.Export.Region, "a local endpoint names no region: FC_REGION's")
}

// TestExportConfigurationErrors: bad export settings stop the start-up with one line naming
// the variable.
func TestExportConfigurationErrors(t *testing.T) {
	to := map[string]string{handler.EnvExportTo: "oss://my-bucket/otsetl/"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range to {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"not an oss URL":                {map[string]string{handler.EnvExportTo: "s3://my-bucket/otsetl/"}, `EXPORT_TO: "s3://my-bucket/otsetl/" is not oss://bucket/prefix/: it must start with oss://`},
		"no prefix":                     {map[string]string{handler.EnvExportTo: "oss://my-bucket"}, "EXPORT_TO: \"oss://my-bucket\" is not oss://bucket/prefix/: a prefix is required"},
		"prefix without a slash":        {map[string]string{handler.EnvExportTo: "oss://my-bucket/otsetl"}, "EXPORT_TO: \"oss://my-bucket/otsetl\" is not oss://bucket/prefix/: the prefix must end in /"},
		"unknown format":                {with(map[string]string{handler.EnvExportFormat: "parquet"}), `EXPORT_FORMAT="parquet": want changes (default) or rows`},
		"unknown file format":           {with(map[string]string{handler.EnvExportFileFormat: "json"}), `EXPORT_FILE_FORMAT="json": want jsonl (default) or csv`},
		"unknown compression":           {with(map[string]string{handler.EnvExportCompression: "zstd"}), `EXPORT_COMPRESSION="zstd": want none (default) or gzip`},
		"rows in csv without COLUMNS":   {with(map[string]string{handler.EnvExportFormat: "rows", handler.EnvExportFileFormat: "csv"}), "EXPORT_FORMAT=rows with EXPORT_FILE_FORMAT=csv needs COLUMNS: a csv header needs fixed columns"},
		"result table empty, no export": {map[string]string{handler.EnvResultTable: ""}, "RESULT_TABLE is set empty and EXPORT_TO is unset: the function would write nowhere"},
		"format without EXPORT_TO":      {map[string]string{handler.EnvExportFormat: "rows"}, "EXPORT_FORMAT is set but EXPORT_TO is not"},
		"endpoint without EXPORT_TO":    {map[string]string{handler.EnvOSSEndpoint: "http://127.0.0.1:1"}, "OSS_ENDPOINT is set but EXPORT_TO is not"},
		"bad endpoint":                  {with(map[string]string{handler.EnvOSSEndpoint: "oss-cn-hangzhou.aliyuncs.com"}), `OSS_ENDPOINT: endpoint "oss-cn-hangzhou.aliyuncs.com": want an http:// or https:// URL`},
		"no region and no endpoint":     {with(map[string]string{handler.EnvRegion: "", handler.EnvEndpoint: "http://127.0.0.1:1"}), "OSS_ENDPOINT is unset and FC_REGION is empty"},
		"no region for a local OSS":     {with(map[string]string{handler.EnvRegion: "", handler.EnvEndpoint: "http://127.0.0.1:1", handler.EnvOSSEndpoint: "http://127.0.0.1:2"}), `OSS_ENDPOINT="http://127.0.0.1:2" names no region and FC_REGION is empty`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configOf(tc.env)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error()[:min(len(err.Error()), len(tc.want))], err.Error())
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}
