package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// TestDocsCommands runs every command shown in README.md and docs/*.md, page by page, each
// page as one terminal session, against the real otsetl binary and otslocal, and compares the
// output wherever the page shows it.
//
// What a page shows, and how it runs:
//
//   - A ```console block is a transcript: each `$ ` line is a command, and the lines after it,
//     up to the next `$ `, are its output (standard output and standard error together, as a
//     terminal shows them), compared exactly once normalized (normalizeOutput). A command
//     whose shown output holds otsetl's error line (`otsetl: …`, last, or followed by the
//     line of an expression and a caret under the wrong part) must fail; any other must exit
//     0.
//   - A ```sh block holds commands whose output is not shown: each line that is not a comment
//     runs and must exit 0.
//   - A block whose first line is a comment beginning `# needs ` (an Alibaba Cloud account,
//     Serverless Devs, minutes of CPU) is not run; the comment says why. Any other shell
//     block runs, and a shell block in another language, a transcript outside a console
//     block or a command in a plain block fails the test: no command goes unchecked.
//
// Commands run with bash in a folder that links to the repository's files. `go run
// ./cmd/otsetl` and `otsetl` both run the binary built here. `export` lines set variables for
// the page's later commands. `otsetl local` and `otsetl otslocal`, which serve until Ctrl-C,
// are started, their startup output compared, and kept running for the rest of the page (a
// second terminal); Ctrl-C (SIGINT) stops them at its end, and they must exit 0. Every
// 127.0.0.1:PORT a page names is given a free port of its own, and a server started without
// --listen or --console gets its default address that way, so that pages run beside other
// tests. A command naming $ENDPOINT is aimed at the reader's instance: it runs against an
// otslocal started here, holding empty source_data and result tables, with ENDPOINT, INSTANCE
// and an access key in its environment.
func TestDocsCommands(t *testing.T) {
	pages := map[string][]docBlock{}
	for _, page := range docPages(t) {
		blocks, err := parseBlocks(readPage(t, page))
		require.NoError(t, err, page)
		pages[page] = blocks
	}
	if testing.Short() {
		t.Skip("builds the binary and runs servers")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the pages' commands run with bash")
	}
	bin := testkit.BuildOtsetl(t)
	env := docEnvironment(t, filepath.Dir(bin))
	addresses := serverAddresses(t, bin)
	ran, marked := 0, 0
	for _, page := range docPages(t) {
		t.Run(page, func(t *testing.T) {
			blocks := pages[page]
			s := newDocSession(t, env, addresses)
			for _, b := range blocks {
				if b.marked {
					marked += len(b.commands)
					continue
				}
				for _, c := range b.commands {
					s.run(b, c)
					ran++
				}
			}
			s.stopServers()
		})
	}
	t.Logf("ran %d commands of the documentation; %d marked as needing what a test does not have", ran, marked)
	assert.Positive(t, ran)
}

// docPages returns README.md and the pages of docs/, relative to the repository's root.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	names := []string{"README.md"}
	for _, p := range pages {
		names = append(names, filepath.Join("docs", filepath.Base(p)))
	}
	return names
}

func readPage(t *testing.T, page string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot, page))
	require.NoError(t, err)
	return string(text)
}

// docBlock is a fenced shell block of a page.
type docBlock struct {
	console  bool // a transcript
	marked   bool // `# needs …`: not run
	commands []docCommand
}

// docCommand is one command of a block.
type docCommand struct {
	line int
	text string
	// output is the output a console block shows, one string per line; nil in a sh block.
	output []string
}

// shellLanguages are fence languages that hold shell; only sh and console are accepted, so
// that the test knows how to run every shell block.
var shellLanguages = []string{"sh", "console", "bash", "shell", "zsh", "shell-session", "sh-session", "terminal"}

// commandLike is a line of a plain block that reads as a command rather than as output.
var commandLike = regexp.MustCompile(`^(otsetl|go|make|s|export|aliyun|npm|node)\s`)

// parseBlocks returns the shell blocks of a markdown page: ```sh and ```console. Shell in a
// block of another language, a transcript line (`$ `) in a block that is not a console block,
// and a command continued on the next line are errors.
func parseBlocks(text string) ([]docBlock, error) {
	var blocks []docBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		fence, lang, ok := strings.Cut(strings.TrimSpace(lines[i]), "```")
		if !ok || fence != "" {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: the block is not closed", start+1)
		}
		lang = strings.TrimSpace(lang)
		if !slices.Contains(shellLanguages, lang) {
			for j, l := range body {
				if strings.HasPrefix(l, "$ ") {
					return nil, fmt.Errorf("line %d: a transcript (`$ `) in a ```%s block; write it as a ```console block", start+2+j, lang)
				}
				if (lang == "" || lang == "text") && commandLike.MatchString(l) {
					return nil, fmt.Errorf("line %d: a command in a ```%s block; write it in a ```sh block", start+2+j, lang)
				}
			}
			continue
		}
		if lang != "sh" && lang != "console" {
			return nil, fmt.Errorf("line %d: a ```%s block; write commands in ```sh, transcripts in ```console", start+1, lang)
		}
		b := docBlock{console: lang == "console"}
		b.marked = len(body) > 0 && strings.HasPrefix(body[0], "# needs ")
		for j, l := range body {
			n := start + 2 + j
			if strings.HasSuffix(strings.TrimSpace(l), "\\") {
				return nil, fmt.Errorf("line %d: a command continued on the next line; write it on one", n)
			}
			switch {
			case b.console && strings.HasPrefix(l, "$ "):
				b.commands = append(b.commands, docCommand{line: n, text: strings.TrimPrefix(l, "$ "), output: []string{}})
			case b.console && len(b.commands) > 0:
				last := &b.commands[len(b.commands)-1]
				last.output = append(last.output, l)
			case b.console && !b.marked && strings.TrimSpace(l) != "":
				return nil, fmt.Errorf("line %d: output before the first `$ ` command", n)
			case !b.console && strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#"):
				b.commands = append(b.commands, docCommand{line: n, text: l})
			}
		}
		for j := range b.commands {
			out := b.commands[j].output
			for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
				out = out[:len(out)-1]
			}
			b.commands[j].output = out
		}
		if len(b.commands) == 0 {
			return nil, fmt.Errorf("line %d: a shell block without commands", start+1)
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// docSession runs one page's commands in order, as one reader at one terminal.
type docSession struct {
	t   *testing.T
	dir string
	// env is the environment of the page's commands; export lines change it.
	env []string
	// addresses are the server commands' flags of a loopback address, with their defaults.
	addresses map[string][]string
	// ports maps each port a page names on 127.0.0.1 to the free address used in its place.
	ports map[string]string
	// account is the environment a command aimed at $ENDPOINT gets, once its otslocal runs.
	account []string
	servers []*docServer
}

// docServer is a running `otsetl local` or `otsetl otslocal`.
type docServer struct {
	cmd    *exec.Cmd
	out    *testkit.SyncBuffer
	exited chan error
	line   int
}

// docEnvironment returns the environment a page's commands start from: the test's, without
// any variable otsetl reads (the pages set those they need), and with binDir first on the PATH.
func docEnvironment(t *testing.T, binDir string) []string {
	t.Helper()
	read := binaryConstants(t).envReads
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := read[name]; ok || name == "ENDPOINT" || name == "INSTANCE" || name == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// newDocSession starts a page's session in a folder that links to the repository's files,
// with the environment env and the servers' default addresses (serverAddresses).
func newDocSession(t *testing.T, env []string, addresses map[string][]string) *docSession {
	t.Helper()
	dir := t.TempDir()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() != ".git" {
			require.NoError(t, os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())))
		}
	}
	s := &docSession{t: t, dir: dir, env: env, addresses: addresses, ports: map[string]string{}}
	t.Cleanup(s.killServers)
	return s
}

// serverCommands are the otsetl commands that serve until stopped.
var serverCommands = []string{"local", "otslocal"}

var (
	otsetlInvocation = regexp.MustCompile(`(^|\s)otsetl\s+(\S+)`)
	loopbackAddress  = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	// addressFlag is a flag of a command's help whose default is a loopback address.
	addressFlag = regexp.MustCompile(`(?m)^\s+(--\S+) string .*\(default "(127\.0\.0\.1:\d+)"\)$`)
)

// serverAddresses returns, for each server command, its flags whose default is a loopback
// address, with that default ("--listen 127.0.0.1:8900"), as the binary's help says.
func serverAddresses(t *testing.T, bin string) map[string][]string {
	t.Helper()
	flags := map[string][]string{}
	for _, sub := range serverCommands {
		help, err := exec.Command(bin, sub, "--help").Output()
		require.NoError(t, err, "%s --help", sub)
		for _, m := range addressFlag.FindAllStringSubmatch(string(help), -1) {
			flags[sub] = append(flags[sub], m[1]+" "+m[2])
		}
		require.NotEmpty(t, flags[sub], "otsetl %s --help names no default address", sub)
	}
	return flags
}

// prepare rewrites a page's command into the one run: the built binary for `go run
// ./cmd/otsetl`, a server's default addresses made explicit, and every loopback port
// replaced by the session's free port for it. It reports whether the command is a server.
func (s *docSession) prepare(text string) (string, bool) {
	text = strings.ReplaceAll(text, "go run ./cmd/otsetl", "otsetl")
	server := false
	if m := otsetlInvocation.FindStringSubmatchIndex(text); m != nil {
		sub := text[m[4]:m[5]]
		if slices.Contains(serverCommands, sub) {
			server = true
			var defaults []string
			for _, flag := range s.addresses[sub] {
				if name, _, _ := strings.Cut(flag, " "); !strings.Contains(text, name) {
					defaults = append(defaults, flag)
				}
			}
			if len(defaults) > 0 {
				text = text[:m[5]] + " " + strings.Join(defaults, " ") + text[m[5]:]
			}
		}
	}
	text = loopbackAddress.ReplaceAllStringFunc(text, func(addr string) string {
		port := strings.TrimPrefix(addr, "127.0.0.1:")
		if s.ports[port] == "" {
			s.ports[port] = testkit.FreePort(s.t)
		}
		return s.ports[port]
	})
	return text, server
}

// command returns the shell command for text, in its own process group so that it can be
// stopped with its children.
func (s *docSession) command(ctx context.Context, text string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-c", text)
	cmd.Dir = s.dir
	cmd.Env = s.env
	if strings.Contains(text, "$ENDPOINT") || strings.Contains(text, "${ENDPOINT}") {
		cmd.Env = append(slices.Clone(s.env), s.accountEnv()...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// accountEnv starts, once per page, the otslocal that stands for the reader's instance.
func (s *docSession) accountEnv() []string {
	if s.account == nil {
		srv := startTablestore(s.t)
		s.account = []string{"ENDPOINT=" + srv.Endpoint, "INSTANCE=" + otslocaltest.Instance,
			envAccessKeyID + "=" + localCredentials.AccessKeyID, envAccessKeySecret + "=" + localCredentials.AccessKeySecret}
	}
	return s.account
}

// run runs one command of block b and checks it.
func (s *docSession) run(b docBlock, c docCommand) {
	t := s.t
	text, server := s.prepare(c.text)
	where := fmt.Sprintf("line %d: %s", c.line, c.text)
	switch {
	case server:
		require.True(t, b.console, "%s: a server's startup output must be shown, in a ```console block", where)
		s.startServer(c, text, where)
	case strings.HasPrefix(text, "export "):
		s.export(text, where)
	default:
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd := s.command(ctx, text)
		out, err := cmd.CombinedOutput()
		got := s.normalizeOutput(string(out))
		if c.output == nil {
			require.NoError(t, err, "%s\n%s", where, out)
			return
		}
		want := s.normalizeOutput(strings.Join(c.output, "\n"))
		assert.Equal(t, want, got, "%s: the output differs from the page's", where)
		wantFailure := slices.ContainsFunc(c.output, func(line string) bool { return strings.HasPrefix(line, "otsetl: ") })
		var exit *exec.ExitError
		if wantFailure {
			assert.True(t, errors.As(err, &exit), "%s: the page shows an error, but the command did not fail: %v", where, err)
		} else {
			assert.NoError(t, err, "%s", where)
		}
	}
}

// export runs an export line and takes the environment it leaves for the page's later
// commands.
func (s *docSession) export(text, where string) {
	out, err := s.command(s.t.Context(), text+"\nenv -0").Output()
	require.NoError(s.t, err, where)
	s.env = strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// startServer starts a server command and waits until it has printed the startup output the
// page shows.
func (s *docSession) startServer(c docCommand, text, where string) {
	t := s.t
	srv := &docServer{cmd: s.command(context.Background(), text), out: &testkit.SyncBuffer{}, exited: make(chan error, 1), line: c.line}
	srv.cmd.Stdout, srv.cmd.Stderr = srv.out, srv.out
	require.NoError(t, srv.cmd.Start(), where)
	go func() { srv.exited <- srv.cmd.Wait() }()
	s.servers = append(s.servers, srv)
	want := s.normalizeOutput(strings.Join(c.output, "\n"))
	deadline := time.After(time.Minute)
	for {
		lines := strings.Split(s.normalizeOutput(srv.out.String()), "\n")
		if len(lines) > len(c.output) || (len(lines) == len(c.output) && strings.HasSuffix(srv.out.String(), "\n")) {
			require.Equal(t, want, strings.Join(lines[:len(c.output)], "\n"), "%s: the startup output differs from the page's", where)
			return
		}
		select {
		case err := <-srv.exited:
			srv.exited <- err
			t.Fatalf("%s: exited (%v) before printing what the page shows:\n%s", where, err, srv.out)
		case <-deadline:
			t.Fatalf("%s: did not print what the page shows within a minute:\n%s", where, srv.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopServers stops the page's servers as Ctrl-C would, and requires each to exit 0.
func (s *docSession) stopServers() {
	for _, srv := range slices.Backward(s.servers) {
		require.NoError(s.t, syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGINT))
		select {
		case err := <-srv.exited:
			assert.NoError(s.t, err, "line %d: exit status after Ctrl-C; output:\n%s", srv.line, srv.out)
		case <-time.After(30 * time.Second):
			s.t.Errorf("line %d: did not stop within 30 s of Ctrl-C", srv.line)
			_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
			<-srv.exited
		}
	}
	s.servers = nil
}

// killServers ends whatever a failed page left running.
func (s *docSession) killServers() {
	for _, srv := range s.servers {
		_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
		<-srv.exited
	}
}

// varying is what a command's output may change from run to run, and what stands in for it.
var varying = []struct {
	pattern *regexp.Regexp
	stand   string
}{
	// Servers listen on free ports.
	{loopbackAddress, "127.0.0.1:PORT"},
	// Process ids.
	{regexp.MustCompile(`\bpid \d+`), "pid PID"},
	// Clock times: a date and time, or a time of day.
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?`), "DATETIME"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`), "CLOCK"},
	// The new temporary folder of the local OSS's objects (`otsetl local` without --oss-dir).
	{regexp.MustCompile(`\S*/otsetl-oss-\d+`), "TMPDIR/otsetl-oss-N"},
	// Durations and lags.
	{regexp.MustCompile(`\b\d+(\.\d+)? ?(ns|µs|ms|s)\b`), "TIME"},
}

// normalizeOutput replaces in out what must vary between runs (varying: ports, pids, clock
// times, durations) and the session's folder, so that a page's output and a run's compare;
// nothing else is normalized.
func (s *docSession) normalizeOutput(out string) string {
	out = strings.ReplaceAll(out, s.dir+string(filepath.Separator), "")
	for _, v := range varying {
		out = v.pattern.ReplaceAllString(out, v.stand)
	}
	return strings.TrimSuffix(out, "\n")
}

// TestParseBlocks checks how pages' blocks are read, and that what the harness could not run
// or check is refused.
func TestParseBlocks(t *testing.T) {
	blocks, err := parseBlocks("text\n\n```console\n$ otsetl replay x\nline 1\n\nline 2\n\n$ otsetl sync\n```\n\n" +
		"```sh\n# a comment\nexport A=1\n\ngo run ./cmd/otsetl local   # trailing\n```\n\n" +
		"```sh\n# needs an Alibaba Cloud account\ns deploy\n```\n\n```go\nfmt.Println(\"$x\")\n```\n\n```\nplain output\n```\n")
	require.NoError(t, err)
	require.Len(t, blocks, 3)
	assert.Equal(t, []docCommand{{line: 4, text: "otsetl replay x", output: []string{"line 1", "", "line 2"}}, {line: 9, text: "otsetl sync", output: []string{}}}, blocks[0].commands)
	assert.Equal(t, []docCommand{{line: 14, text: "export A=1"}, {line: 16, text: "go run ./cmd/otsetl local   # trailing"}}, blocks[1].commands)
	assert.False(t, blocks[1].marked)
	assert.True(t, blocks[2].marked)

	for name, text := range map[string]string{
		"bash block":          "```bash\nls\n```\n",
		"transcript in plain": "```\n$ otsetl replay x\n```\n",
		"command in plain":    "```\ngo run ./cmd/otsetl replay x\n```\n",
		"continuation":        "```sh\notsetl sync \\\n  --dry-run\n```\n",
		"output first":        "```console\nhello\n$ otsetl\n```\n",
		"unclosed":            "```sh\nls\n",
		"empty":               "```sh\n# nothing\n```\n",
	} {
		_, err := parseBlocks(text)
		assert.Error(t, err, name)
	}
}

// TestPrepareAndNormalize checks the rewriting of commands and the normalization of output.
func TestPrepareAndNormalize(t *testing.T) {
	s := &docSession{t: t, dir: "/home/reader/session", ports: map[string]string{},
		addresses: map[string][]string{"local": {"--listen 127.0.0.1:8900", "--console 127.0.0.1:8901"}, "otslocal": {"--listen 127.0.0.1:8900"}}}
	text, server := s.prepare("go run ./cmd/otsetl local            # reads ./s.yaml")
	assert.True(t, server)
	listen, console := s.ports["8900"], s.ports["8901"]
	require.NotEmpty(t, listen)
	require.NotEmpty(t, console)
	assert.Equal(t, "otsetl local --listen "+listen+" --console "+console+"            # reads ./s.yaml", text)
	text, server = s.prepare("FILTER='level > 2' otsetl sync --endpoint http://127.0.0.1:8900 --instance x")
	assert.False(t, server)
	assert.Equal(t, "FILTER='level > 2' otsetl sync --endpoint http://"+listen+" --instance x", text)
	text, _ = s.prepare("otsetl otslocal --listen 127.0.0.1:8902")
	assert.Equal(t, "otsetl otslocal --listen "+s.ports["8902"], text)

	assert.Equal(t, "at http://127.0.0.1:PORT (otsetl serve, pid PID); 1 splits; TIME; lag TIME, TIME; 4 rows; file f.cbor",
		s.normalizeOutput("at http://127.0.0.1:39137 (otsetl serve, pid 27917); 1 splits; 0.0 s; lag 27 ms, 1 ms; 4 rows; file /home/reader/session/f.cbor\n"))
	assert.Equal(t, "verified between DATETIME and CLOCK UTC; since DATETIME; 2026 records",
		s.normalizeOutput("verified between 2026-12-07 08:11:23 and 08:11:27 UTC; since 2026-01-02T15:04:05Z; 2026 records"))
}

// markdownLink is a link of a page: [text](target) or an HTML src or href.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)|(?:src|href)="([^"]+)"`)

// TestDocsLinks checks that every relative link of README.md and docs/*.md points at a file
// of the repository, and its #anchor at a heading of that page; and that every citation of
// a page in the code (such as docs/design.md, "Layout") names a heading of it.
func TestDocsLinks(t *testing.T) {
	checked := 0
	for _, page := range docPages(t) {
		text := withoutCode(readPage(t, page))
		for _, m := range markdownLink.FindAllStringSubmatch(text, -1) {
			target := m[1] + m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			file := page
			if path != "" {
				file = filepath.Join(filepath.Dir(page), path)
				if _, err := os.Stat(filepath.Join(repoRoot, file)); err != nil {
					t.Errorf("%s: link %s: no such file", page, target)
					continue
				}
			}
			if anchor != "" && !slices.Contains(anchors(t, file), anchor) {
				t.Errorf("%s: link %s: %s has no heading with anchor #%s", page, target, file, anchor)
			}
		}
	}
	assert.Positive(t, checked)

	citation := regexp.MustCompile(`(docs/[\w-]+\.md), \\?"([^"\\]+)\\?"`)
	err := filepath.WalkDir(repoRoot, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules"):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go"):
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range citation.FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
				t.Errorf("%s cites %s, which does not exist", path, m[1])
			} else if !slices.Contains(headings(t, m[1]), m[2]) {
				t.Errorf("%s cites %s, %q, which has no such heading", path, m[1], m[2])
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// codeSpan is a markdown code span.
var codeSpan = regexp.MustCompile("`[^`]*`")

// withoutCode returns text without its fenced blocks and code spans, where a link is only text.
func withoutCode(text string) string {
	var b strings.Builder
	inBlock := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			b.WriteString(codeSpan.ReplaceAllString(line, "") + "\n")
		}
	}
	return b.String()
}

// headings returns the titles of the headings of a markdown page (path relative to the
// repository), outside fenced blocks.
func headings(t *testing.T, page string) []string {
	t.Helper()
	var titles []string
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(readPage(t, page)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
		}
		if !inBlock && strings.HasPrefix(line, "#") {
			if hashes, title, ok := strings.Cut(line, " "); ok && strings.Trim(hashes, "#") == "" {
				titles = append(titles, strings.TrimSpace(title))
			}
		}
	}
	return titles
}

// anchors returns the anchors GitHub gives the headings of a page: the title in lower case,
// without punctuation and markup, spaces as hyphens, and -1, -2, … after repeats.
func anchors(t *testing.T, page string) []string {
	t.Helper()
	seen := map[string]int{}
	var out []string
	for _, title := range headings(t, page) {
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", slug, n))
		} else {
			out = append(out, slug)
		}
		seen[slug]++
	}
	return out
}
