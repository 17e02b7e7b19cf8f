package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository's root, seen from this package's folder (where go test runs).
const repoRoot = "../.."

// designDoc is the reference whose tables the tests below hold to the code.
const designDoc = repoRoot + "/docs/design.md"

// TestDesignConfigurationTablesNameEveryVariable compares the variables in the tables of
// docs/design.md, "Configuration", with the environment variables the otsetl binary reads:
// every call that reads one (readsEnv: os.Getenv, a getenv or lookupEnv parameter, env.get)
// with a constant name, in the files `go list -deps ./cmd/otsetl` compiles into the binary. Reading a new variable without documenting it fails here, and so does a row
// for a variable nothing reads any more. Reads by a computed name (s.yaml's ${env(NAME)})
// are not fixed variables and are not counted.
func TestDesignConfigurationTablesNameEveryVariable(t *testing.T) {
	matchDesignTable(t, "Configuration", "variable", "reads", binaryConstants(t).envReads)
}

// TestDesignErrorTableNamesEveryErrorType compares the errorType column of docs/design.md,
// "Errors", with the values of the string constants named ErrorType… in the binary's code,
// the errorTypes a failed invocation or request can answer with.
func TestDesignErrorTableNamesEveryErrorType(t *testing.T) {
	matchDesignTable(t, "Errors", "errorType", "declares", binaryConstants(t).errorTypes)
}

// matchDesignTable requires the first column of the tables headed header in docs/design.md's
// section title to hold exactly the keys of code, which maps each to where the code does
// (verb) it.
func matchDesignTable(t *testing.T, title, header, verb string, code map[string]string) {
	t.Helper()
	require.NotEmpty(t, code, "the code %s no %s", verb, header)
	documented := tableKeys(t, section(t, designDoc, title), header)
	for _, key := range slices.Sorted(maps.Keys(code)) {
		if !documented[key] {
			t.Errorf("%s %s %s %s, which docs/design.md, %q, does not list", code[key], verb, header, key, title)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := code[key]; !ok {
			t.Errorf("docs/design.md, %q, lists %s %s, which no code of otsetl %s", title, header, key, verb)
		}
	}
}

// TestScanFindsEnvironmentReadsAndErrorTypes plants reads and constants in made-up sources
// and checks the scan that the two tests above rest on.
func TestScanFindsEnvironmentReadsAndErrorTypes(t *testing.T) {
	dir := t.TempDir()
	write := func(pkg, file, src string) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, pkg), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, pkg, file), []byte(src), 0o644))
	}
	write("conf", "conf.go", `package conf
const (
	EnvBucket = "EXPORT_" + bucket
	bucket = "BUCKET"
	ErrorTypeExport = "ExportError"
	Other = "NOT_READ"
)
func Read(getenv func(string) string) string { return getenv(EnvBucket) + getenv("EXPORT_PREFIX") }
type environment func(string) (string, bool)
func (env environment) get(name string) string { v, _ := env(name); return v }
func Serve(env environment, lookupEnv func(string) (string, bool)) {
	_ = env.get("PORT")
	_, _ = lookupEnv("MEMORY")
	c := cache{}
	_ = c.get("NOT_AN_ENV")
}
type cache map[string]int
func (c cache) get(k string) int { return c[k] }
`)
	write("main", "main.go", `package main
import (
	"os"
	cfg "example.com/conf"
)
const ErrorTypeAlias = cfg.ErrorTypeExport
func main() {
	_ = os.Getenv(cfg.EnvBucket)
	_, _ = os.LookupEnv("HOME_DIR")
	name := "DYNAMIC"
	_ = os.Getenv(name)
}
`)
	got := scanPackages(t, []listedPackage{
		{ImportPath: "example.com/conf", Dir: filepath.Join(dir, "conf"), GoFiles: []string{"conf.go"}},
		{ImportPath: "example.com/main", Dir: filepath.Join(dir, "main"), GoFiles: []string{"main.go"}},
	})
	assert.ElementsMatch(t, []string{"EXPORT_BUCKET", "EXPORT_PREFIX", "PORT", "MEMORY", "HOME_DIR"}, slices.Collect(maps.Keys(got.envReads)))
	assert.Equal(t, []string{"ExportError"}, slices.Collect(maps.Keys(got.errorTypes)))
	assert.Equal(t, filepath.Join(dir, "main", "main.go")+":9", got.envReads["HOME_DIR"])
}

// TestTableKeysReadsTheFirstColumn checks the reading of a section's tables.
func TestTableKeysReadsTheFirstColumn(t *testing.T) {
	text := "intro\n\n| variable | default |\n|---|---|\n| `A` | `1` |\n| `B_C` | x |\n\n" +
		"| flag | meaning |\n|---|---|\n| `--x` | y |\n\n| variable | read by |\n|---|---|\n| `D` | z |\n"
	assert.Equal(t, map[string]bool{"A": true, "B_C": true, "D": true}, tableKeys(t, text, "variable"))
}

// binaryScan is what the code of the otsetl binary reads and declares.
type binaryScan struct {
	// envReads maps each environment variable read with a constant name to the first place
	// that reads it (file:line).
	envReads map[string]string
	// errorTypes maps each value of a string constant named ErrorType… to where it is
	// declared.
	errorTypes map[string]string
}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Module     *struct{ Path string }
}

// binaryConstants scans the module's packages that the otsetl binary is built from.
func binaryConstants(t *testing.T) binaryScan {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var own []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		}
		require.NoError(t, err)
		if p.Module != nil && p.Module.Path == module {
			own = append(own, p)
		}
	}
	require.NotEmpty(t, own, "go list found none of the module's packages")
	return scanPackages(t, own)
}

// module is this module's path.
const module = "github.com/otsetl/otsetl"

// readsEnv reports whether call reads one environment variable, by the names the code gives
// such calls: getenv, Getenv, lookupEnv and LookupEnv (functions, parameters or methods, as
// os.Getenv), and the get or lookup method of a value named env.
func readsEnv(call *ast.CallExpr) bool {
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		return envReaders[fun.Name]
	case *ast.SelectorExpr:
		x, isIdent := fun.X.(*ast.Ident)
		return envReaders[fun.Sel.Name] || isIdent && x.Name == "env" && (fun.Sel.Name == "get" || fun.Sel.Name == "lookup")
	}
	return false
}

// envReaders are the names of functions and methods that read one environment variable.
var envReaders = map[string]bool{"getenv": true, "Getenv": true, "lookupEnv": true, "LookupEnv": true}

// scanPackages parses pkgs' files, resolves their string constants (literals, other
// constants of the package or of a package among pkgs, and + of those), and collects the
// environment reads and the ErrorType constants.
func scanPackages(t *testing.T, pkgs []listedPackage) binaryScan {
	t.Helper()
	fset := token.NewFileSet()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	// where names a position by its path in the repository, file:line.
	where := func(pos token.Pos) string {
		p := fset.Position(pos)
		if rel, err := filepath.Rel(root, p.Filename); err == nil && !strings.HasPrefix(rel, "..") {
			p.Filename = rel
		}
		return fmt.Sprintf("%s:%d", p.Filename, p.Line)
	}
	type parsed struct {
		pkg   listedPackage
		files []*ast.File
	}
	var all []parsed
	for _, p := range pkgs {
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			require.NoError(t, err)
			files = append(files, f)
		}
		all = append(all, parsed{p, files})
	}

	// consts[import path][name] is the constant's expression, values[…][…] its value once known.
	consts := map[string]map[string]ast.Expr{}
	values := map[string]map[string]string{}
	for _, p := range all {
		consts[p.pkg.ImportPath] = map[string]ast.Expr{}
		values[p.pkg.ImportPath] = map[string]string{}
		for _, f := range p.files {
			for _, decl := range f.Decls {
				gen, ok := decl.(*ast.GenDecl)
				if !ok || gen.Tok != token.CONST {
					continue
				}
				for _, spec := range gen.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							consts[p.pkg.ImportPath][name.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	// importsOf maps a file's import names to import paths.
	importsOf := func(f *ast.File) map[string]string {
		names := map[string]string{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			name := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			names[name] = path
		}
		return names
	}
	var value func(pkg string, imports map[string]string, e ast.Expr, depth int) (string, bool)
	value = func(pkg string, imports map[string]string, e ast.Expr, depth int) (string, bool) {
		if depth > 20 {
			return "", false
		}
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.ParenExpr:
			return value(pkg, imports, e.X, depth+1)
		case *ast.BinaryExpr:
			if e.Op != token.ADD {
				return "", false
			}
			x, okX := value(pkg, imports, e.X, depth+1)
			y, okY := value(pkg, imports, e.Y, depth+1)
			return x + y, okX && okY
		case *ast.Ident:
			if v, ok := values[pkg][e.Name]; ok {
				return v, true
			}
			if expr, ok := consts[pkg][e.Name]; ok {
				return value(pkg, imports, expr, depth+1)
			}
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok && imports[x.Name] != "" {
				other := imports[x.Name]
				if expr, ok := consts[other][e.Sel.Name]; ok {
					return value(other, nil, expr, depth+1)
				}
			}
		}
		return "", false
	}
	// Constants declared in a package refer to its own imports; resolve each in its file.
	scan := binaryScan{envReads: map[string]string{}, errorTypes: map[string]string{}}
	for _, p := range all {
		for _, f := range p.files {
			imports := importsOf(f)
			for _, decl := range f.Decls {
				if gen, ok := decl.(*ast.GenDecl); ok && gen.Tok == token.CONST {
					for _, spec := range gen.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, name := range vs.Names {
							if i >= len(vs.Values) {
								continue
							}
							if v, ok := value(p.pkg.ImportPath, imports, vs.Values[i], 0); ok {
								values[p.pkg.ImportPath][name.Name] = v
								if strings.HasPrefix(name.Name, "ErrorType") {
									if _, seen := scan.errorTypes[v]; !seen {
										scan.errorTypes[v] = where(name.Pos())
									}
								}
							}
						}
					}
				}
			}
		}
	}
	for _, p := range all {
		for _, f := range p.files {
			imports := importsOf(f)
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 1 || !readsEnv(call) {
					return true
				}
				if v, ok := value(p.pkg.ImportPath, imports, call.Args[0], 0); ok {
					if _, seen := scan.envReads[v]; !seen {
						scan.envReads[v] = where(call.Pos())
					}
				}
				return true
			})
		}
	}
	return scan
}

// section returns the text of the markdown file's section under the heading `## title`, up
// to the next heading of that level.
func section(t *testing.T, path, title string) string {
	t.Helper()
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	_, rest, found := strings.Cut(string(doc), "\n## "+title+"\n")
	require.True(t, found, "%s has no section %q", path, title)
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// tableRow is a markdown table row whose first cell is one name in backquotes.
var tableRow = regexp.MustCompile("^\\| `([^`]+)` \\|")

// tableKeys returns the names in the first column of the tables in text whose first
// column is headed header.
func tableKeys(t *testing.T, text, header string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	inTable := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !strings.HasPrefix(line, "|"):
			inTable = false
		case strings.HasPrefix(line, fmt.Sprintf("| %s |", header)):
			inTable = true
		case inTable:
			if m := tableRow.FindStringSubmatch(line); m != nil {
				keys[m[1]] = true
			}
		}
	}
	return keys
}
