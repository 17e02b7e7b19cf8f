// Package layout_test checks the rules of the repository's layout (docs/design.md, "Layout")
// on the import graph that `go list -deps` reports: what is deployed to Function Compute never
// reaches an operator command, the local cloud, a command-line library or a test helper.
package layout_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// module is the module path; the rules name packages relative to it.
const module = "github.com/otsetl/otsetl"

// kind is one of the three kinds of code (and the test helpers), told apart by folder.
type kind struct {
	// name is how the docs name the kind.
	name string
	// is reports whether the package at rel (a path relative to the module) is of the kind.
	is func(rel string) bool
}

var (
	deployed = kind{"the function (every package outside `cmd/`, `ops/`, `local/` and `internal/`)", func(rel string) bool {
		return !under(rel, "cmd", "ops", "local", "internal")
	}}
	operator = kind{"the operator commands (`ops/…`)", func(rel string) bool { return under(rel, "ops") }}
	fclocal  = kind{"the local trigger (`local/fclocal`)", func(rel string) bool { return rel == "local/fclocal" }}
	otslocal = kind{"the local Tablestore (`local/otslocal`)", func(rel string) bool { return rel == "local/otslocal" }}
	osslocal = kind{"the local OSS (`local/osslocal`)", func(rel string) bool { return rel == "local/osslocal" }}
)

// rule says that no package of a kind may reach, through imports, a package it forbids.
type rule struct {
	from kind
	// own are packages of this module, relative to it: "handler" forbids that package,
	// "ops/" every package under ops, "" the whole module.
	own []string
	// others are import paths outside the module: a path forbids that package and every
	// package under it ("testing" forbids testing/quick too).
	others []string
	// except are import paths outside the module whose own imports the rule does not
	// follow: a library the code needs, whose packages import a forbidden one themselves.
	except []string
	// why is the reason, for the docs and the failure message.
	why string
}

// commandLineAndTestLibraries are the libraries only a command or a test needs.
var commandLineAndTestLibraries = []string{
	"github.com/spf13/cobra", "github.com/spf13/pflag", "gopkg.in/yaml.v3", "github.com/schollz/progressbar/v3",
	"github.com/chromedp/chromedp", "github.com/stretchr/testify", "testing", "net/http/httptest",
}

// rules are the layout's rules; docs/design.md holds them as rendered by [markdown].
var rules = []rule{
	{deployed, []string{"cmd/", "ops/", "local/", "internal/"}, commandLineAndTestLibraries, nil,
		"what runs in FC carries no tool, no emulator and no test code"},
	{operator, []string{"cmd/", "local/", "internal/"}, []string{"github.com/stretchr/testify", "testing"}, []string{officialFCSDK},
		"the operator commands run against a real Tablestore; the local cloud is only one of the places they can point at"},
	{fclocal, []string{"handler"}, nil, nil,
		"the emulator of FC depends on FC's protocol, never on the function it hosts"},
	{otslocal, []string{""}, nil, nil,
		"the fake shares no code with the client side but the SDK's protobuf package, so that a bug they shared would not hide"},
	{osslocal, []string{""}, nil, nil,
		"the fake shares no code with the export, so that a bug they shared would not hide"},
}

// officialFCSDK holds the official Function Compute SDK's modules, which `otsetl sync --on-fc`
// invokes the function with: its package github.com/alibabacloud-go/tea/utils imports testing
// for assertions of its own.
const officialFCSDK = "github.com/alibabacloud-go"

// under reports whether rel is one of the folders or below one.
func under(rel string, folders ...string) bool {
	for _, f := range folders {
		if rel == f || strings.HasPrefix(rel, f+"/") {
			return true
		}
	}
	return false
}

// forbids reports whether r forbids the package at import path.
func (r rule) forbids(path string) bool {
	if path == module || strings.HasPrefix(path, module+"/") {
		rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		return slices.ContainsFunc(r.own, func(f string) bool { return f == "" || under(rel, strings.TrimSuffix(f, "/")) })
	}
	return under(path, r.others...)
}

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// graph is the import graph of the module's packages and everything they import.
type graph map[string]pkg

// loadGraph runs `go list -deps -json ./...` at the module's root.
func loadGraph(t *testing.T) graph {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	cmd.Dir = filepath.Join(filepath.Dir(here), "..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g[p.ImportPath] = p
	}
	return g
}

// violation returns the shortest import chain from start to a package that r forbids, or
// nil.
func (g graph) violation(start string, r rule) []string {
	parent := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		for _, next := range g[at].Imports {
			if _, seen := parent[next]; seen {
				continue
			}
			parent[next] = at
			if under(next, r.except...) {
				continue
			}
			if r.forbids(next) {
				var chain []string
				for p := next; p != ""; p = parent[p] {
					chain = append(chain, p)
				}
				slices.Reverse(chain)
				return chain
			}
			queue = append(queue, next)
		}
	}
	return nil
}

// TestLayout checks every rule on every package of the module, and that docs/design.md states
// the rules this test checks.
func TestLayout(t *testing.T) {
	g := loadGraph(t)
	var own []string
	for path := range g {
		if strings.HasPrefix(path, module+"/") || path == module {
			own = append(own, path)
		}
	}
	slices.Sort(own)
	checked := map[string]int{}
	for _, r := range rules {
		for _, path := range own {
			rel := strings.TrimPrefix(path, module+"/")
			if !r.from.is(rel) {
				continue
			}
			checked[r.from.name]++
			if chain := g.violation(path, r); chain != nil {
				t.Errorf("%s imports %s: %s\n(docs/design.md, \"Layout\": %s must not import it: %s)", rel, chain[len(chain)-1],
					strings.Join(chain, " -> "), r.from.name, r.why)
			}
		}
	}
	for _, r := range rules {
		if checked[r.from.name] == 0 {
			t.Errorf("no package is %s: the rule checks nothing", r.from.name)
		}
	}
	if !slices.Contains(own, module+"/handler") || !deployed.is("handler") {
		t.Error("handler, the function, is not among the deployed packages")
	}

	_, here, _, _ := runtime.Caller(0)
	design, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := markdown(); !strings.Contains(string(design), want) {
		t.Errorf("docs/design.md does not state the rules this test checks; it should hold:\n\n%s", want)
	}
}

// TestViolationNamesTheImportChain plants a forbidden import in a made-up graph and checks
// that the chain to it is found and named.
func TestViolationNamesTheImportChain(t *testing.T) {
	g := graph{
		module + "/handler":          {Imports: []string{module + "/transform", "fmt"}},
		module + "/transform":        {Imports: []string{module + "/ots", module + "/ops/tableio"}},
		module + "/ops/tableio":      {Imports: []string{"github.com/spf13/cobra"}},
		module + "/ots":              {},
		"github.com/spf13/cobra":     {Imports: []string{"github.com/spf13/pflag"}},
		module + "/local/otslocal":   {Imports: []string{"github.com/google/btree"}},
		module + "/local/fclocal":    {Imports: []string{module + "/fcruntime"}},
		module + "/internal/testkit": {},
	}
	chain := g.violation(module+"/handler", rules[0])
	if want := []string{module + "/handler", module + "/transform", module + "/ops/tableio"}; !slices.Equal(chain, want) {
		t.Errorf("chain = %v, want %v", chain, want)
	}
	if chain := g.violation(module+"/ops/tableio", rules[1]); chain != nil {
		t.Errorf("cobra is not forbidden to the operator commands, got %v", chain)
	}
	g[module+"/ops/fcinvoke"] = pkg{Imports: []string{officialFCSDK + "/tea/utils", "github.com/stretchr/testify/assert"}}
	g[officialFCSDK+"/tea/utils"] = pkg{Imports: []string{"testing"}}
	if chain := g.violation(module+"/ops/fcinvoke", rules[1]); !slices.Equal(chain, []string{module + "/ops/fcinvoke", "github.com/stretchr/testify/assert"}) {
		t.Errorf("the FC SDK's own import of testing is excepted, testify is not: got %v", chain)
	}
	if chain := g.violation(module+"/local/otslocal", rules[3]); chain != nil {
		t.Errorf("btree is allowed to otslocal, got %v", chain)
	}
	if chain := g.violation(module+"/local/fclocal", rules[2]); chain != nil {
		t.Errorf("fcruntime is allowed to fclocal, got %v", chain)
	}
	for path, want := range map[string]bool{
		module + "/ops/reconcile": true, module + "/opsx": false, module + "/handler": false,
		"github.com/stretchr/testify/require": true, "testing": true, "testing/quick": true,
		"net/http/httptest": true, "net/http": false,
	} {
		if got := rules[0].forbids(path); got != want {
			t.Errorf("forbidden to the function: %s = %v, want %v", path, got, want)
		}
	}
	if !rules[3].forbids(module+"/ots") || !rules[3].forbids(module) || rules[3].forbids("github.com/google/btree") {
		t.Error("otslocal's rule: every package of the module, nothing else")
	}
}

// markdown renders the rules as the table docs/design.md holds.
func markdown() string {
	var b strings.Builder
	b.WriteString("| code | must not import | why |\n|---|---|---|\n")
	for _, r := range rules {
		var names []string
		for _, f := range r.own {
			if f == "" {
				names = append(names, "any package of this module")
			} else {
				names = append(names, "`"+f+"`")
			}
		}
		for _, f := range r.others {
			names = append(names, "`"+f+"`")
		}
		text := strings.Join(names, ", ")
		for _, e := range r.except {
			text += fmt.Sprintf(" (but for what `%s/…` imports itself)", e)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.from.name, text, r.why)
	}
	return b.String()
}
