package export_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/export"
)

func TestParseDestination(t *testing.T) {
	for _, to := range []string{"oss://my-bucket/otsetl/", "oss://abc/a/b/c/", "oss://a1-b2/exports-2026/"} {
		bucket, prefix, err := export.ParseDestination(to)
		require.NoError(t, err, to)
		assert.Equal(t, to, "oss://"+bucket+"/"+prefix)
	}
	for to, why := range map[string]string{
		"s3://my-bucket/otsetl/":                            "must start with oss://",
		"my-bucket/otsetl/":                                 "must start with oss://",
		"oss://my-bucket":                                   "a prefix is required",
		"oss://my-bucket/":                                  "a prefix is required",
		"oss://my-bucket/otsetl":                            "must end in /",
		"oss://My_Bucket/otsetl/":                           "bucket \"My_Bucket\"",
		"oss://ab/otsetl/":                                  "bucket \"ab\"",
		"oss://-bucket/otsetl/":                             "bucket \"-bucket\"",
		"oss://my-bucket/a//b/":                             "empty, . or .. segment",
		"oss://my-bucket/../b/":                             "empty, . or .. segment",
		"oss://my-bucket//":                                 "empty, . or .. segment",
		"oss://my-bucket/a\tb/":                             "control character",
		"oss://my-bucket/" + strings.Repeat("a", 900) + "/": "longer than",
	} {
		_, _, err := export.ParseDestination(to)
		require.Error(t, err, to)
		assert.Contains(t, err.Error(), why, to)
		assert.Contains(t, err.Error(), "is not oss://bucket/prefix/", to)
	}
}

func TestConfigCheck(t *testing.T) {
	valid := export.Config{Bucket: "my-bucket", Prefix: "p/", Endpoint: "https://oss-cn-hangzhou-internal.aliyuncs.com", Region: "cn-hangzhou", SourceTable: "source_data"}
	require.NoError(t, valid.Check())
	for why, change := range map[string]func(*export.Config){
		"want an http:// or https:// URL":  func(c *export.Config) { c.Endpoint = "oss-cn-hangzhou.aliyuncs.com" },
		"no region":                        func(c *export.Config) { c.Region = "" },
		"no source table":                  func(c *export.Config) { c.SourceTable = "" },
		`format "parquet"`:                 func(c *export.Config) { c.Format = "parquet" },
		`file format "json"`:               func(c *export.Config) { c.FileFormat = "json" },
		`compression "zstd"`:               func(c *export.Config) { c.Compression = "zstd" },
		"a csv header needs fixed columns": func(c *export.Config) { c.Format, c.FileFormat = export.Rows, export.CSV },
		"OSS takes parts of at least":      func(c *export.Config) { c.PartSize = 1 << 10 },
		"is not oss://bucket/prefix/":      func(c *export.Config) { c.Prefix = "no-slash" },
		"request timeout -1s is negative":  func(c *export.Config) { c.RequestTimeout = -1e9 },
	} {
		c := valid
		change(&c)
		err := c.Check()
		require.Error(t, err, why)
		assert.Contains(t, err.Error(), why)
	}
	rowsCSV := valid
	rowsCSV.Format, rowsCSV.FileFormat, rowsCSV.Columns = export.Rows, export.CSV, []string{"level"}
	assert.NoError(t, rowsCSV.Check())
}

func TestRegionOf(t *testing.T) {
	for endpoint, want := range map[string]string{
		"https://oss-cn-hangzhou.aliyuncs.com":          "cn-hangzhou",
		"https://oss-cn-hangzhou-internal.aliyuncs.com": "cn-hangzhou",
		"http://oss-ap-southeast-1.aliyuncs.com/":       "ap-southeast-1",
		export.DefaultEndpoint("eu-central-1"):          "eu-central-1",
		"http://127.0.0.1:9100":                         "",
		"https://cdn.example.com":                       "",
		"https://bucket.oss-cn-hangzhou.aliyuncs.com":   "",
		"https://s3.oss-cn-hangzhou.aliyuncs.com":       "",
	} {
		assert.Equal(t, want, export.RegionOf(endpoint), endpoint)
	}
}

// TestObjectNames: the name depends on the batch alone (its first record's time and its
// payload), sorts by that time, and holds the UTC date and hour as Hive partitions.
func TestObjectNames(t *testing.T) {
	payload := []byte("a batch")
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:8])
	assert.Equal(t, "p/t/dt=2026-01-01/hh=23/1767311999999999-"+hash+".jsonl", export.ObjectName("p/", "t", 1767311999999999, payload, "jsonl"))
	assert.Equal(t, "p/t/dt=1970-01-01/hh=00/0000000000000001-"+hash+".csv.gz", export.ObjectName("p/", "t", 1, payload, export.Extension(export.CSV, export.Gzip)))
	assert.Equal(t, export.ObjectName("p/", "t", 5, payload, "jsonl"), export.ObjectName("p/", "t", 5, []byte("a batch"), "jsonl"), "the same batch, the same name")
	assert.NotEqual(t, export.ObjectName("p/", "t", 5, payload, "jsonl"), export.ObjectName("p/", "t", 5, []byte("another batch"), "jsonl"))
	assert.Less(t, export.ObjectName("p/", "t", 999, payload, "jsonl"), export.ObjectName("p/", "t", 1000, payload, "jsonl"), "names sort by time")
	assert.Equal(t, "jsonl", export.Extension(export.JSONL, export.None))
}
