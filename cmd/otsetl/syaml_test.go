package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/handler"
)

// fc3SchemaPath is the fc3 component's JSON Schema for a resource's props (devsapp/fc3
// src/schema.json). It is not part of the repository: it lives in the shared folder beside
// the clone (../shared/schemas from the repository's root); OTSETL_FC3_SCHEMA overrides the
// path.
func fc3SchemaPath(t *testing.T) string {
	if p := os.Getenv("OTSETL_FC3_SCHEMA"); p != "" {
		return p
	}
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "schemas", "fc3-props.schema.json"))
	require.NoError(t, err)
	return path
}

// readFC3Schema reads the fc3 schema. When it is absent the test is skipped, saying where it
// looked, or fails when CI is set: CI must check s.yaml against the component's schema.
func readFC3Schema(t *testing.T) []byte {
	path := fc3SchemaPath(t)
	schema, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		msg := fmt.Sprintf("the fc3 component's JSON Schema is absent: no file %s (the shared folder beside the clone, or OTSETL_FC3_SCHEMA); s.yaml's props were not checked against it", path)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	require.NoError(t, err)
	return schema
}

func TestSYAMLDeploysTheFunctionWithItsTablestoreTrigger(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "s.yaml"))
	require.NoError(t, err)
	deployEnv := map[string]string{
		"ALIBABA_CLOUD_ACCOUNT_ID": "1234567890123456",
		"TABLESTORE_INSTANCE":      "myinstance",
	}
	doc, err := renderSYAML(raw, func(name string) (string, bool) { v, ok := deployEnv[name]; return v, ok })
	require.NoError(t, err)

	assert.Equal(t, "3.0.0", doc["edition"])
	resources, ok := doc["resources"].(map[string]any)
	require.True(t, ok, "resources must be a map")
	require.Len(t, resources, 1)
	res, ok := resources["otsetl"].(map[string]any)
	require.True(t, ok, "resource otsetl")
	assert.Equal(t, "fc3", res["component"])

	// The pre-deploy action builds the binary the code package holds.
	actions, ok := res["actions"].(map[string]any)
	require.True(t, ok)
	pre, ok := actions["pre-deploy"].([]any)
	require.True(t, ok)
	require.Len(t, pre, 1)
	assert.Equal(t, "make build", pre[0].(map[string]any)["run"])

	props, ok := res["props"].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, "custom.debian10", props["runtime"])
	assert.Equal(t, "./dist", props["code"])
	assert.Equal(t, 60, props["timeout"], "the Tablestore trigger's execution limit is 1 minute")
	assert.Equal(t, "acs:ram::1234567890123456:role/otsetl-function", props["role"])
	assert.Regexp(t, `^acs:ram::\d+:role/.+$`, props["role"])
	crc, ok := props["customRuntimeConfig"].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, []any{"/code/otsetl"}, crc["command"])
	assert.Equal(t, []any{"serve"}, crc["args"])
	assert.Equal(t, 9000, crc["port"])

	// Environment values are strings, and they are a configuration the function accepts.
	envVars, ok := props["environmentVariables"].(map[string]any)
	require.True(t, ok)
	env := map[string]string{}
	for k, v := range envVars {
		s, isString := v.(string)
		require.Truef(t, isString, "environment variable %s must be a string, got %T", k, v)
		assert.Falsef(t, strings.HasPrefix(k, "FC_"), "FC reserves the FC_ prefix: %s", k)
		env[k] = s
	}
	env[handler.EnvRegion] = props["region"].(string)
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	_, err = handler.New(cfg, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://myinstance.cn-hangzhou.vpc.tablestore.aliyuncs.com", cfg.Endpoint)

	triggers, ok := props["triggers"].([]any)
	require.True(t, ok)
	require.Len(t, triggers, 1)
	trig := triggers[0].(map[string]any)
	assert.Equal(t, "tablestore", trig["triggerType"])
	assert.Equal(t, "LATEST", trig["qualifier"])
	assert.Equal(t, map[string]any{}, trig["triggerConfig"], "a tablestore trigger takes an empty triggerConfig")
	assert.Equal(t, "acs:ram::1234567890123456:role/aliyuntablestorestreamnotificationrole", trig["invocationRole"])
	arn := regexp.MustCompile(`^acs:ots:([a-z0-9-]+):(\d+):instance/([^/]+)/table/([^/]+)$`).FindStringSubmatch(trig["sourceArn"].(string))
	require.NotNil(t, arn, "sourceArn %q", trig["sourceArn"])
	assert.Equal(t, props["region"], arn[1], "the table and the function must be in one region")
	assert.Equal(t, cfg.Instance, arn[3])
	assert.Equal(t, cfg.SourceTable, arn[4], "the trigger's table is the function's SOURCE_TABLE")

}

// mappingExampleMarker starts the commented example of a COLUMNS mapping in s.yaml.
const mappingExampleMarker = "# COLUMNS: >-"

// sYAMLWithMapping returns s.yaml with its commented COLUMNS example in force, and writes it
// to a file of its own, whose path it returns too.
func sYAMLWithMapping(t *testing.T) (string, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "s.yaml"))
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	at := slices.IndexFunc(lines, func(line string) bool { return strings.TrimSpace(line) == mappingExampleMarker })
	require.NotEqual(t, -1, at, "s.yaml shows a mapping under %q", mappingExampleMarker)
	for i := at; i < len(lines); i++ {
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		if i > at && !strings.HasPrefix(lines[i][indent:], "#   ") {
			break
		}
		lines[i] = lines[i][:indent] + strings.TrimPrefix(lines[i][indent:], "# ")
	}
	uncommented := []byte(strings.Join(lines, "\n"))
	path := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(path, uncommented, 0o600))
	return path, uncommented
}

// TestSYAMLMappingExample: s.yaml's commented COLUMNS example, uncommented, is a COLUMNS
// mapping the function accepts, and s.yaml with it keeps to the fc3 schema.
func TestSYAMLMappingExample(t *testing.T) {
	_, raw := sYAMLWithMapping(t)
	doc, err := renderSYAML(raw, func(string) (string, bool) { return "x", true })
	require.NoError(t, err)
	props := doc["resources"].(map[string]any)["otsetl"].(map[string]any)["props"].(map[string]any)
	columns, ok := props["environmentVariables"].(map[string]any)["COLUMNS"].(string)
	require.True(t, ok, "COLUMNS is a string")
	assert.True(t, strings.HasPrefix(columns, "{"), "a map literal: %q", columns)
	assert.NotContains(t, columns, "\n", "the block is folded into one line")
	env := map[string]string{handler.EnvInstance: "i", handler.EnvRegion: "cn-hangzhou", handler.EnvColumns: columns}
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	_, err = handler.New(cfg, nil)
	require.NoError(t, err)
	requirePropsMatchTheFC3Schema(t, raw)
}

// TestSYAMLPropsMatchTheFC3Schema checks s.yaml's function props against the fc3
// component's own JSON Schema.
func TestSYAMLPropsMatchTheFC3Schema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "s.yaml"))
	require.NoError(t, err)
	requirePropsMatchTheFC3Schema(t, raw)
}

// requirePropsMatchTheFC3Schema checks the function props of raw, an s.yaml, against the fc3
// component's own JSON Schema.
func requirePropsMatchTheFC3Schema(t *testing.T, raw []byte) {
	t.Helper()
	schemaBytes := readFC3Schema(t)
	doc, err := renderSYAML(raw, func(string) (string, bool) { return "x", true })
	require.NoError(t, err)
	props := doc["resources"].(map[string]any)["otsetl"].(map[string]any)["props"].(map[string]any)
	schemaDoc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(schemaBytes)))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("fc3-props.schema.json", schemaDoc))
	schema, err := c.Compile("fc3-props.schema.json")
	require.NoError(t, err)
	propsJSON, err := json.Marshal(props)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(propsJSON)))
	require.NoError(t, err)
	require.NoError(t, schema.Validate(inst))

	// The schema is not a check that cannot fail: a string timeout is rejected.
	props["timeout"] = "60"
	badJSON, err := json.Marshal(props)
	require.NoError(t, err)
	bad, err := jsonschema.UnmarshalJSON(strings.NewReader(string(badJSON)))
	require.NoError(t, err)
	assert.Error(t, schema.Validate(bad))
}
