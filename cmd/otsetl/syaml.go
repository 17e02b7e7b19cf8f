package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otsetl/otsetl/handler"
)

// Serverless Devs variable references that s.yaml may use: ${vars.name}, ${env('NAME')},
// ${env("NAME")} and ${env.NAME} (Serverless Devs "YAML specification", variable
// assignment: https://docs.serverless-devs.com/user-guide/spec).
var (
	envReference = regexp.MustCompile(`\$\{\s*env(?:\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)|\.([A-Za-z_][A-Za-z0-9_]*))\s*\}`)
	varReference = regexp.MustCompile(`\$\{\s*vars\.([A-Za-z0-9_-]+)\s*\}`)
)

// renderSYAML resolves the variables of a Serverless Devs s.yaml the way `s` does before
// a component sees its props: first ${env(...)} through lookupEnv, then ${vars.x} from the
// document's vars. The error names every reference it cannot resolve: a variable
// lookupEnv reports unset, an undefined var, or any other ${...} expression.
func renderSYAML(raw []byte, lookupEnv func(string) (string, bool)) (map[string]any, error) {
	var problems []string
	text := envReference.ReplaceAllStringFunc(string(raw), func(ref string) string {
		m := envReference.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := lookupEnv(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("environment variable %s is not set", name))
		}
		return v
	})
	var doc struct {
		Vars map[string]string `yaml:"vars"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	text = varReference.ReplaceAllStringFunc(text, func(ref string) string {
		name := varReference.FindStringSubmatch(ref)[1]
		v, ok := doc.Vars[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("${vars.%s} is not defined under vars", name))
		}
		return v
	})
	if i := strings.Index(text, "${"); i >= 0 {
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			end = len(text) - i - 1
		}
		problems = append(problems, fmt.Sprintf("unsupported expression %s", text[i:i+end+1]))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	var out map[string]any
	if err := yaml.Unmarshal([]byte(text), &out); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	return out, nil
}

// loadTriggeredFunction reads the s.yaml at path and returns its one function bound to a
// Tablestore trigger (findTriggeredFunction). A variable that s.yaml reads from an unset
// environment variable (getenv) is empty: the account id and the region do not matter to
// the local tools, and the instance is given to them. The error names the file.
func loadTriggeredFunction(path string, getenv func(string) string) (triggeredFunction, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return triggeredFunction{}, err
	}
	doc, err := renderSYAML(raw, func(name string) (string, bool) { return getenv(name), true })
	if err != nil {
		return triggeredFunction{}, fmt.Errorf("%s: %w", path, err)
	}
	fn, err := findTriggeredFunction(doc)
	if err != nil {
		return triggeredFunction{}, fmt.Errorf("%s: %w", path, err)
	}
	return fn, nil
}

// pointedAt returns the function's environment env with TABLESTORE_ENDPOINT and
// TABLESTORE_INSTANCE set to endpoint and instance: the function's configuration pointed at
// the Tablestore a tool uses.
func pointedAt(env environment, endpoint, instance string) environment {
	return withVariables(env, map[string]string{handler.EnvEndpoint: endpoint, handler.EnvInstance: instance})
}

// withVariables returns env with the variables of vars set to their values.
func withVariables(env environment, vars map[string]string) environment {
	return func(name string) (string, bool) {
		if v, ok := vars[name]; ok {
			return v, true
		}
		return env(name)
	}
}

// triggeredFunction is what `otsetl local` takes from s.yaml: the fc3 function bound to
// a Tablestore trigger, and that trigger's source table.
type triggeredFunction struct {
	// Resource is the resource's key under resources.
	Resource string
	// FunctionName, Region and Timeout are the function's props (timeout in seconds in s.yaml).
	FunctionName string
	Region       string
	Timeout      time.Duration
	// MemoryMB is props.memorySize, in MB; 0 when s.yaml leaves it to FC's default.
	MemoryMB int
	// Environment is props.environmentVariables.
	Environment map[string]string
	// Instance and Table come from the trigger's sourceArn,
	// acs:ots:<region>:<account>:instance/<instance>/table/<table>; Instance may be empty
	// when s.yaml takes it from an unset environment variable.
	Instance string
	Table    string
}

// sourceARN is the Tablestore trigger's sourceArn (fc3 component, "tablestore trigger":
// https://docs.serverless-devs.com/user-guide/aliyun/fc3/trigger).
var sourceARN = regexp.MustCompile(`^acs:ots:([^:]*):([^:]*):instance/([^/]*)/table/([^/]+)$`)

// findTriggeredFunction returns the one fc3 resource of doc that has a trigger of type
// tablestore. It is an error when there is none or more than one, or when that resource
// lacks a field `otsetl local` needs.
func findTriggeredFunction(doc map[string]any) (triggeredFunction, error) {
	resources, _ := doc["resources"].(map[string]any)
	var found []triggeredFunction
	names := make([]string, 0, len(resources))
	for name := range resources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		res, _ := resources[name].(map[string]any)
		props, _ := res["props"].(map[string]any)
		if res["component"] != "fc3" || props == nil {
			continue
		}
		triggers, _ := props["triggers"].([]any)
		for _, tr := range triggers {
			trigger, _ := tr.(map[string]any)
			if trigger["triggerType"] != "tablestore" {
				continue
			}
			fn, err := triggeredFunctionOf(name, props, trigger)
			if err != nil {
				return triggeredFunction{}, fmt.Errorf("resource %s: %w", name, err)
			}
			found = append(found, fn)
		}
	}
	switch len(found) {
	case 0:
		return triggeredFunction{}, errors.New("no fc3 resource has a trigger of triggerType tablestore")
	case 1:
		return found[0], nil
	}
	return triggeredFunction{}, fmt.Errorf("%d Tablestore triggers found; otsetl local runs one", len(found))
}

// lookupEnv reads the function's environmentVariables.
func (fn triggeredFunction) lookupEnv(name string) (string, bool) {
	v, ok := fn.Environment[name]
	return v, ok
}

func triggeredFunctionOf(resource string, props, trigger map[string]any) (triggeredFunction, error) {
	fn := triggeredFunction{Resource: resource, Environment: map[string]string{}}
	fn.FunctionName, _ = props["functionName"].(string)
	fn.Region, _ = props["region"].(string)
	if fn.FunctionName == "" {
		return fn, errors.New("props.functionName is missing")
	}
	switch timeout := props["timeout"].(type) {
	case nil:
		fn.Timeout = 60 * time.Second
	case int:
		if timeout < 1 {
			return fn, fmt.Errorf("props.timeout %d: the function needs at least 1 second (FC allows 1 to 86400)", timeout)
		}
		fn.Timeout = time.Duration(timeout) * time.Second
	default:
		return fn, fmt.Errorf("props.timeout %v is not a whole number of seconds", timeout)
	}
	switch memory := props["memorySize"].(type) {
	case nil:
	case int:
		if memory < 1 {
			return fn, fmt.Errorf("props.memorySize %d: want the function's memory in MB (FC allows 128 to 32768)", memory)
		}
		fn.MemoryMB = memory
	default:
		return fn, fmt.Errorf("props.memorySize %v is not a whole number of MB", memory)
	}
	env, _ := props["environmentVariables"].(map[string]any)
	for name, value := range env {
		fn.Environment[name] = fmt.Sprint(value)
	}
	arn, _ := trigger["sourceArn"].(string)
	m := sourceARN.FindStringSubmatch(arn)
	if m == nil {
		return fn, fmt.Errorf("trigger %v: sourceArn %q is not acs:ots:<region>:<account>:instance/<instance>/table/<table>", trigger["triggerName"], arn)
	}
	fn.Instance, fn.Table = m[3], m[4]
	return fn, nil
}
