package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// envUpdateScreenshots, set to 1, makes TestConsoleInABrowser write its screenshots under
// docs/ for README.md and docs/local.md.
const envUpdateScreenshots = "OTSETL_UPDATE_SCREENSHOTS"

// browserWait bounds every wait for the browser; reaching it is a failure, never a
// measurement.
const browserWait = 30 * time.Second

// chromium returns the path of a Chromium or Chrome on this machine. Without one the test
// is skipped, unless the CI environment variable is set: then it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on the PATH (CI is set; Debian: apt-get install chromium)")
	}
	t.Skip("no chromium on the PATH (Debian: apt-get install chromium)")
	return ""
}

// browser is a headless Chromium for one test, with a fresh profile; it stops with the test.
type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// No smooth scrolling: a click aims at where an element is, and a scroll still under
		// way on a loaded machine moves it away.
		chromedp.Flag("force-prefers-reduced-motion", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "starting chromium")
	return &browser{ctx: ctx}
}

// tab is one browser tab, with what it saw: JavaScript dialogs (dismissed) and problems
// (uncaught exceptions, Content-Security-Policy violations).
type tab struct {
	t       *testing.T
	ctx     context.Context
	dialogs atomic.Int32

	mu       sync.Mutex
	problems []string
}

// newTab opens a tab with a width × height viewport.
func (b *browser) newTab(t *testing.T, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			tb.dialogs.Add(1)
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}))
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.problems = append(tb.problems, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m.Text))
				tb.mu.Unlock()
			}
		}
	}()
	tb.do(chromedp.EmulateViewport(width, height))
	return tb
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, actions...))
}

// open navigates to url and waits for the page's main element.
func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main")))
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	require.NoError(tb.t, err, js)
	return v
}

// waitFor polls a JavaScript condition until it holds, for at most timeout, and returns
// how long it took; it fails the test when the time runs out.
func (tb *tab) waitFor(timeout time.Duration, js, what string) time.Duration {
	tb.t.Helper()
	start := time.Now()
	for {
		v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](js))
		if err == nil && v {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			require.Failf(tb.t, "timed out", "waited %s for %s (last error: %v)", timeout, what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// keys returns the first primary key column of the rows a table's page shows, in order.
func (tb *tab) keys() []string {
	tb.t.Helper()
	return eval[[]string](tb, `[...document.querySelectorAll('#rows tbody tr')].map(r => JSON.parse(r.dataset.key)[0])`)
}

// hasRow is a JavaScript condition: the table's page shows a row whose first key is id.
func hasRow(id string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#rows tbody tr')].some(r => JSON.parse(r.dataset.key)[0] === %q)`, id)
}

// cell returns the text a table's page shows for column of the row whose first key is id.
func (tb *tab) cell(id, column string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(() => {
		const tr = [...document.querySelectorAll('#rows tbody tr')].find(r => JSON.parse(r.dataset.key)[0] === %q);
		const v = tr && tr.querySelector('td[data-column=%q] .value');
		return v ? v.textContent : '';
	})()`, id, column))
}

// column is an attribute column typed into the row editor.
type column struct{ name, typ, value string }

// edit fills the row editor of a table's page (primary key id) with columns and the row
// existence expectation, presses the button of operation, and returns the editor's answer
// and whether it is an error.
func (tb *tab) edit(operation, condition, id string, columns ...column) (string, bool) {
	tb.t.Helper()
	button := map[string]string{"PutRow": "#put-row", "UpdateRow": "#update-row", "DeleteRow": "#delete-row"}[operation]
	require.NotEmpty(tb.t, button, operation)
	rows := func() int { return eval[int](tb, `document.querySelectorAll('#editor-columns tbody tr').length`) }
	for rows() < len(columns) {
		tb.do(chromedp.Click(chromedp.CSS("#add-column")))
	}
	for rows() > len(columns) {
		tb.do(chromedp.Click(chromedp.CSS("#editor-columns tbody tr:last-child button")))
	}
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.SetValue(chromedp.CSS(`#row-form input.pk[data-name="id"]`), id),
		chromedp.SetValue(chromedp.CSS("#condition"), condition),
	}
	for i, c := range columns {
		row := fmt.Sprintf("#editor-columns tbody tr:nth-child(%d) ", i+1)
		actions = append(actions,
			chromedp.SetValue(chromedp.CSS(row+".col-name"), c.name),
			chromedp.SetValue(chromedp.CSS(row+".col-type"), c.typ),
			chromedp.SetValue(chromedp.CSS(row+".col-value"), c.value),
			chromedp.SetValue(chromedp.CSS(row+".col-change"), "put"))
	}
	tb.do(actions...)
	return tb.submit(button, operation)
}

// submit clicks the editor's button (a CSS selector) for operation and returns the editor's
// answer once it has come, and whether it is an error.
func (tb *tab) submit(button, operation string) (string, bool) {
	tb.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('editor-result').textContent = ''`),
		chromedp.Click(chromedp.CSS(button)))
	tb.waitFor(browserWait, `(() => { const r = document.getElementById('editor-result'); return r.textContent !== '' && !r.textContent.endsWith('…'); })()`,
		"the editor's answer to "+operation)
	return eval[string](tb, `document.getElementById('editor-result').textContent`),
		eval[bool](tb, `document.getElementById('editor-result').classList.contains('error')`)
}

// screenshot captures the tab's viewport as PNG; with OTSETL_UPDATE_SCREENSHOTS=1 it is
// written to docs/name for README.md and docs/local.md.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	require.NoError(tb.t, err)
	require.Greater(tb.t, len(png), 1000)
	assert.Equal(tb.t, "\x89PNG", string(png[:4]))
	if os.Getenv(envUpdateScreenshots) == "1" {
		path := filepath.Join("..", "..", "docs", name)
		require.NoError(tb.t, os.WriteFile(path, png, 0o644))
		tb.t.Logf("wrote %s", path)
	}
}

// checkClean asserts that the tab opened no dialog and saw no exception and no
// Content-Security-Policy violation.
func (tb *tab) checkClean(t *testing.T) {
	t.Helper()
	assert.Zero(t, tb.dialogs.Load(), "a JavaScript dialog opened")
	tb.mu.Lock()
	defer tb.mu.Unlock()
	assert.Empty(t, tb.problems, "exceptions or Content-Security-Policy violations")
}

// TestConsoleInABrowser drives the console of a running `otsetl local` (the binary, with
// its embedded otslocal, local trigger and function process) in headless Chromium: the
// overview, a missing table, the documented check written through the row editor, a row
// that joins and leaves result's page live, HTML in a STRING, the editor's errors, the
// invocations with their events, and the layout at a phone's width.
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary and chromium")
	}
	b := newBrowser(t)
	s := startLocal(t, testkit.BuildOtsetl(t))
	source := b.newTab(t, 1280, 800)
	result := b.newTab(t, 1280, 800)
	defer source.checkClean(t)
	defer result.checkClean(t)

	t.Run("the overview lists the tables and the function", func(t *testing.T) {
		source.t = t
		source.open(s.console)
		source.waitFor(browserWait, `document.querySelectorAll('#tables tbody tr[data-table]').length === 2`, "the tables")
		assert.Equal(t, []string{"/tables/result", "/tables/source_data"},
			eval[[]string](source, `[...document.querySelectorAll('#tables tbody tr[data-table] a')].map(a => a.getAttribute('href'))`))
		source.waitFor(browserWait, `document.querySelectorAll('#instances tbody tr[data-instance]').length === 1`, "the function's instance")
		assert.Equal(t, "1 running of at most 4", eval[string](source, `document.getElementById('function-instances').textContent`))
		assert.Equal(t, []string{"i-1", "running, idle", fmt.Sprint(functionPID(t, s.stdout.String()))},
			eval[[]string](source, `[...document.querySelectorAll('#instances tr[data-instance="i-1"] td')].slice(0, 3).map(td => td.textContent)`))
		assert.Equal(t, "source_data", eval[string](source, `document.getElementById('source-table').textContent`))
		assert.Equal(t, 1, eval[int](source, `document.querySelectorAll('#shards tbody tr').length`), "one Stream shard")
	})

	t.Run("a missing table's page says so", func(t *testing.T) {
		source.t = t
		source.open(s.console + "tables/nope")
		text := eval[string](source, `document.getElementById('error-message').textContent`)
		assert.Contains(t, text, `Table "nope" does not exist in instance otsetl-local.`)
		assert.Contains(t, text, "OTSObjectNotExist")
	})

	t.Run("the documented check through the editor", func(t *testing.T) {
		source.t, result.t = t, t
		result.open(s.console + "tables/result")
		result.do(chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
		source.open(s.console + "tables/source_data")
		for id := range 4 {
			answer, failed := source.edit("PutRow", "IGNORE", fmt.Sprint(id),
				column{"level", "INTEGER", fmt.Sprint(id)}, column{"message", "STRING", fmt.Sprintf("log line %d", id)})
			require.False(t, failed, answer)
			assert.Equal(t, fmt.Sprintf("PutRow: row (id=%d) written to source_data with 2 column(s).", id), answer)
		}
		source.waitFor(browserWait, `document.querySelectorAll('#rows tbody tr').length === 4`, "source_data's page shows the four rows")
		result.waitFor(browserWait, hasRow("2")+" && "+hasRow("3"), "result's page shows ids 2 and 3")
		assert.Equal(t, []string{"2", "3"}, result.keys())
		assert.Equal(t, "log line 3", result.cell("3", "message"))
		assert.Equal(t, "3INTEGER", eval[string](result, `document.querySelector('#rows tbody tr:nth-child(2) td[data-column="level"]').textContent`),
			"a value shows with its type")
		assert.True(t, eval[bool](result, `window.notReloaded === true`), "result's page followed without a reload")
		result.screenshot("console-result.png")

		source.open(s.console)
		source.waitFor(browserWait, `Number(document.getElementById('chart-records').dataset.points) > 0 && Number(document.getElementById('chart-lag').dataset.points) > 0`,
			"the plots have points")
		source.waitFor(browserWait, `document.querySelector('#tables tr[data-table="result"] .rows-count').textContent === '2'`, "result's row count")
		assert.Equal(t, "4", eval[string](source, `document.querySelector('#tables tr[data-table="source_data"] .rows-count').textContent`))
		assert.Equal(t, 2, eval[int](source, `document.querySelectorAll('.chart canvas').length`), "two charts drawn")
		assert.Contains(t, eval[string](source, `document.getElementById('chart-records').textContent`), "records/s", "the axis unit")
		assert.Contains(t, eval[string](source, `document.getElementById('chart-lag').textContent`), "ms")
		assert.Equal(t, "4", eval[string](source, `document.querySelector('#shards tbody td:nth-child(6)').textContent`), "the shard delivered 4 records")
		source.screenshot("console-overview.png")
	})

	t.Run("a row joins result's page live, leaves it, and is deleted", func(t *testing.T) {
		source.t, result.t = t, t
		source.open(s.console + "tables/source_data")
		answer, failed := source.edit("PutRow", "EXPECT_NOT_EXIST", "10", column{"level", "INTEGER", "3"}, column{"message", "STRING", "joins"})
		require.False(t, failed, answer)
		clicked := time.Now()
		var inResult time.Time
		require.Eventually(t, func() bool {
			rows, err := tableio.Scan(t.Context(), s.api, "result")
			if err != nil || len(rows) != 3 {
				return false
			}
			inResult = time.Now()
			return true
		}, browserWait, 5*time.Millisecond, "the function writes id 10 into result")
		// The console reads the table every second: once the row is in result, its page
		// shows it within 2 s.
		shown := result.waitFor(2*time.Second, hasRow("10"), "result's page shows id 10")
		t.Logf("id 10 was on result's page %d ms after the editor's answer: %d ms to reach the table, then %d ms to the page",
			(inResult.Sub(clicked) + shown).Milliseconds(), inResult.Sub(clicked).Milliseconds(), shown.Milliseconds())
		assert.True(t, eval[bool](result, `window.notReloaded === true`), "without a reload")

		answer, failed = source.edit("UpdateRow", "EXPECT_EXIST", "10", column{"level", "INTEGER", "1"})
		require.False(t, failed, answer)
		assert.Equal(t, "UpdateRow: row (id=10) of source_data updated: put level.", answer)
		result.waitFor(browserWait, "!"+hasRow("10"), "id 10 leaves result's page")
		assert.Equal(t, []string{"2", "3"}, result.keys())
		source.waitFor(browserWait, fmt.Sprintf("%s && %q === document.querySelector('#rows tbody tr:last-child td[data-column=\"level\"] .value').textContent", hasRow("10"), "1"),
			"source_data's page shows the new level")

		answer, failed = source.edit("DeleteRow", "EXPECT_EXIST", "10")
		require.False(t, failed, answer)
		assert.Equal(t, "DeleteRow: row (id=10) deleted from source_data.", answer)
		source.waitFor(browserWait, "!"+hasRow("10"), "id 10 leaves source_data's page")
		assert.Equal(t, []string{"0", "1", "2", "3"}, source.keys())
		assert.True(t, eval[bool](result, `window.notReloaded === true`))
	})

	t.Run("HTML in a STRING is shown as text and runs nothing", func(t *testing.T) {
		source.t, result.t = t, t
		const html = `<img src=x onerror=alert(1)>`
		answer, failed := source.edit("PutRow", "IGNORE", "11", column{"level", "INTEGER", "2"}, column{"message", "STRING", html})
		require.False(t, failed, answer)
		source.waitFor(browserWait, hasRow("11"), "source_data's page shows id 11")
		result.waitFor(browserWait, hasRow("11"), "result's page shows id 11")
		for _, tb := range []*tab{source, result} {
			assert.Equal(t, html, tb.cell("11", "message"), "the characters themselves")
			assert.Zero(t, eval[int](tb, `document.querySelectorAll('main img').length`), "no img element")
		}
		assert.Zero(t, source.dialogs.Load()+result.dialogs.Load(), "no alert opened")
	})

	t.Run("the editor shows Tablestore's refusals in words", func(t *testing.T) {
		source.t = t
		answer, failed := source.edit("PutRow", "EXPECT_NOT_EXIST", "11", column{"level", "INTEGER", "5"})
		assert.True(t, failed)
		assert.Contains(t, answer, "The condition failed: the row existence expectation was not met")
		assert.Contains(t, answer, "OTSConditionCheckFail")
		answer, failed = source.edit("PutRow", "IGNORE", "eleven")
		assert.True(t, failed)
		assert.Contains(t, answer, `primary key column id: "eleven" is not an INTEGER`)
		answer, failed = source.edit("UpdateRow", "IGNORE", "11", column{"level", "DOUBLE", "Infinity"})
		assert.True(t, failed)
		assert.Contains(t, answer, "NaN and infinities are refused")
		assert.Equal(t, "2", source.cell("11", "level"), "nothing refused was written")
	})

	t.Run("the invocations and their events", func(t *testing.T) {
		source.t = t
		source.open(s.console + "invocations")
		source.waitFor(browserWait, `document.querySelectorAll('#invocations tbody tr[data-request-id]').length > 0`, "the invocations")
		id := eval[string](source, `document.querySelector('#invocations tbody tr[data-request-id]').dataset.requestId`)
		assert.Contains(t, s.stdout.String(), "invocation "+id[:8]+" shard", "the request id otsetl local printed")
		source.do(chromedp.Click(chromedp.CSS(`#invocations tbody tr[data-request-id] a`)))
		source.waitFor(browserWait, `document.getElementById('event').textContent.includes('"Records"')`, "the event as JSON")
		event := eval[string](source, `document.getElementById('event').textContent`)
		assert.Contains(t, event, `"Version": "Sync-v1"`)
		assert.Contains(t, event, `"Value": "<img src=x onerror=alert(1)>"`, "the latest event holds the HTML row, as text")
		assert.Zero(t, eval[int](source, `document.querySelectorAll('main img').length`))
	})

	t.Run("a sync on the local FC shows its task invocations", func(t *testing.T) {
		source.t = t
		sync := exec.Command(testkit.BuildOtsetl(t), "sync", "-f", filepath.Join("..", "..", "s.yaml"), "--endpoint", s.endpoint, "--instance", s.instance, "--on-fc", "--task-budget", "1ms")
		sync.Env = append(withoutCredentials(os.Environ()), "ALIBABA_CLOUD_ACCESS_KEY_ID=local", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=local", "FC_ENDPOINT="+strings.TrimSuffix(s.fcAPI, "/"))
		out, err := sync.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "function otsetl: ")
		source.open(s.console + "invocations")
		source.waitFor(browserWait, `document.querySelectorAll('#tasks tbody tr[data-request-id]').length > 0`, "the task invocations")
		rows := eval[[][]string](source, `[...document.querySelectorAll('#tasks tbody tr[data-request-id]')].map(tr => [...tr.children].map(td => td.textContent))`)
		assert.Equal(t, "HTTP 200", rows[0][3], "the newest task: %v", rows[0])
		assert.Equal(t, "done", rows[0][4], "the newest task finished its split")
		assert.Equal(t, "i-1", rows[0][2])
		source.screenshot("console-tasks.png")
	})

	t.Run("a long value is cut, shown whole on demand, and edited whole", func(t *testing.T) {
		source.t, result.t = t, t
		long := strings.Repeat("0123456789", 300) // 3,000 bytes; a page of rows shows 256
		source.open(s.console + "tables/source_data")
		answer, failed := source.edit("PutRow", "IGNORE", "12", column{"level", "INTEGER", "2"}, column{"message", "STRING", long})
		require.False(t, failed, answer)
		source.waitFor(browserWait, hasRow("12"), "source_data's page shows id 12")
		assert.Equal(t, long[:256]+"…", source.cell("12", "message"), "cut, and marked so")
		message := `[...document.querySelectorAll('#rows tbody tr')].find(r => JSON.parse(r.dataset.key)[0] === '12').querySelector('td[data-column="message"]')`
		assert.Equal(t, "3,000 bytes", eval[string](source, message+`.querySelector('.cut-size').textContent.trim()`), "with its size")
		source.do(chromedp.Click(chromedp.CSS(`tr[data-key='["12"]'] td[data-column="message"] button.show-whole`)))
		source.waitFor(browserWait, fmt.Sprintf(`%s.querySelector('.value').textContent === %q`, message, long), "the whole value in the cell")
		assert.Zero(t, eval[int](source, message+`.querySelectorAll('button.show-whole, .cut-size').length`), "no button once whole")

		// Edit on result's page, where the value was never shown whole, loads it whole, and
		// writing the row back keeps it whole.
		result.open(s.console + "tables/result")
		result.waitFor(browserWait, hasRow("12"), "result's page shows id 12")
		assert.Equal(t, long[:256]+"…", result.cell("12", "message"))
		result.do(chromedp.Click(chromedp.CSS(`tr[data-key='["12"]'] button.edit-row`)))
		result.waitFor(browserWait, `[...document.querySelectorAll('#editor-columns .col-name')].some(i => i.value === 'message')`, "the row in the editor")
		assert.Equal(t, long, eval[string](result, `[...document.querySelectorAll('#editor-columns tbody tr')].find(tr => tr.querySelector('.col-name').value === 'message').querySelector('.col-value').value`))
		answer, failed = result.submit("#put-row", "PutRow")
		require.False(t, failed, answer)
		rows, err := tableio.Scan(t.Context(), s.api, "result")
		require.NoError(t, err)
		var written string
		for _, r := range rows {
			if id, _ := r.PrimaryKey[0].Value.Int(); id == 12 {
				for _, c := range r.Columns {
					if c.Name == "message" {
						written, _ = c.Value.Str()
					}
				}
			}
		}
		assert.Equal(t, long, written, "the row written back holds the whole value")
	})

	t.Run("at a phone's width the page does not overflow", func(t *testing.T) {
		narrow := b.newTab(t, 390, 844)
		defer narrow.checkClean(t)
		for _, path := range []string{"", "tables/source_data", "invocations"} {
			narrow.open(s.console + path)
			narrow.waitFor(browserWait, `document.querySelector('main table tbody tr') !== null`, "content on "+path)
			assert.True(t, eval[bool](narrow, `document.documentElement.scrollWidth <= window.innerWidth`),
				"page %q: no horizontal scrolling of the page; wide tables scroll in their own box: %s", path,
				eval[string](narrow, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth && !e.closest('.scroll')).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`))
		}
		narrow.open(s.console + "tables/result")
		narrow.waitFor(browserWait, hasRow("11"), "result's rows")
		narrow.screenshot("console-result-narrow.png")
	})

	// The console wrote what the editor asked for, and nothing else: ids 0-3, 11 and 12.
	rows, err := tableio.Scan(t.Context(), s.api, "source_data")
	require.NoError(t, err)
	var ids []int64
	for _, r := range rows {
		id, _ := r.PrimaryKey[0].Value.Int()
		ids = append(ids, id)
	}
	assert.Equal(t, []int64{0, 1, 2, 3, 11, 12}, ids)
}

// TestConsoleRowPagesOfBigValues: with 150 rows of a 2 MB STRING each, a page of rows of
// `otsetl local`'s console answered 367 MB of JSON (limit=1000: 1.1 GB, 4.7 GB resident), and
// eight at once got the process, and the tables of its otslocal, killed. A page is now a few
// KB, its values cut with their size, eight pages at once are read two at a time, and the
// process grows by less than the data it holds (the garbage collector's room).
func TestConsoleRowPagesOfBigValues(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	s := startLocal(t, testkit.BuildOtsetl(t))
	require.NoError(t, tableio.Ensure(t.Context(), s.api, "big", []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}, tableio.Options{}))
	value := ots.String(strings.Repeat("x", 2<<20))
	for id := range 150 {
		require.NoError(t, tableio.Write(t.Context(), s.api, "big", &events.Record{Type: events.PutRow,
			PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(id))}},
			Columns:    []events.Column{{Type: events.Put, ColumnName: "blob", Value: value}}}, sdk.RowExistenceExpectation_IGNORE))
	}
	written, err := testkit.PeakRSS(s.cmd.Process.Pid)
	require.NoError(t, err)

	type page struct {
		Rows []struct {
			Cells map[string][]struct {
				Value string
				Cut   bool
				Size  int
			}
		}
		Next      string
		PageBytes int
	}
	read := func(query string) (int, page, int) {
		resp, err := http.Get(s.console + "api/tables/big/rows" + query)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var p page
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(body, &p))
		}
		return resp.StatusCode, p, len(body)
	}
	for _, query := range []string{"", "?limit=1000"} {
		status, p, size := read(query)
		require.Equal(t, http.StatusOK, status)
		assert.Less(t, size, 4<<10, "%q: a few hundred bytes a row", query)
		require.Len(t, p.Rows, 2, "a page reads 4 MB")
		blob := p.Rows[0].Cells["blob"][0]
		assert.True(t, blob.Cut)
		assert.Equal(t, 2<<20, blob.Size)
		assert.Len(t, blob.Value, 256)
		assert.Equal(t, 4<<20, p.PageBytes)
		assert.Contains(t, p.Next, "from.id=2")
	}

	statuses := make(chan int, 8)
	for range 8 {
		go func() {
			status, _, _ := read("?limit=1000")
			statuses <- status
		}()
	}
	for range 8 {
		assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, <-statuses, "answered, or told to wait")
	}
	peak, err := testkit.PeakRSS(s.cmd.Process.Pid)
	require.NoError(t, err)
	t.Logf("otsetl local: %d MB resident after the writes, %d MB at most after the reads", written>>20, peak>>20)
	assert.Less(t, peak-written, int64(300<<20), "the reads grow the process by less than the 300 MB of data it holds")
	status, _, _ := read("?limit=1")
	assert.Equal(t, http.StatusOK, status, "still serving")
}

// getJSON fetches a console endpoint and decodes its JSON into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// pages returns the bodies of the console's pages and JSON endpoints at base.
func pages(t *testing.T, base string, paths ...string) string {
	t.Helper()
	var all strings.Builder
	for _, path := range paths {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		all.Write(body)
	}
	return all.String()
}

// consoleOverview is the part of /api/overview these tests read.
type consoleOverview struct {
	Instance, Endpoint string
	Tables             []struct {
		Name string
		Rows int
	}
	Pipeline *struct {
		Instances fclocal.PoolStatus
		Totals    struct{ Records int }
	}
}

// TestLocalConsoleAgainstAnotherTablestore points `otsetl local --endpoint` at a separate
// otslocal: the console shows that instance's tables, read through the Tablestore API with
// the credentials of the environment, and neither its pages nor the output show the secret.
func TestLocalConsoleAgainstAnotherTablestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	srv := otslocaltest.NewServer(t, otslocal.Options{},
		otslocaltest.Table{Name: "source_data", Stream: true}, otslocaltest.Table{Name: "result"})
	creds := otslocaltest.Credentials
	s := startLocalEnv(t, testkit.BuildOtsetl(t), []string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + creds.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + creds.AccessKeySecret,
		"ALIBABA_CLOUD_SECURITY_TOKEN=" + creds.SecurityToken,
	}, "--endpoint", srv.Endpoint, "--instance", otslocaltest.Instance)
	s.put(t, 1, 3, "written with the SDK")
	s.put(t, 2, 0, "stays out")

	var o consoleOverview
	require.Eventually(t, func() bool {
		o = consoleOverview{}
		getJSON(t, s.console+"api/overview", &o)
		return len(o.Tables) == 2 && o.Tables[0].Rows == 1 && o.Pipeline != nil && o.Pipeline.Totals.Records == 2
	}, browserWait, 20*time.Millisecond, "the console shows the other otslocal's tables: %+v", o)
	assert.Equal(t, otslocaltest.Instance, o.Instance)
	assert.Equal(t, srv.Endpoint, o.Endpoint)
	assert.Equal(t, "source_data", o.Tables[1].Name)
	assert.Equal(t, 2, o.Tables[1].Rows)
	require.NotEmpty(t, o.Pipeline.Instances.Instances)
	assert.True(t, o.Pipeline.Instances.Instances[0].Running)
	assert.Equal(t, 1, len(srv.Scan(t, "result")), "the function wrote the other otslocal's result table")

	shown := pages(t, s.console, "", "tables/source_data", "tables/result", "invocations", "api/overview", "api/invocations",
		"api/tables/source_data/rows", "api/tables/result/rows")
	assert.Contains(t, shown, "written with the SDK")
	for _, secret := range []string{creds.AccessKeySecret, creds.SecurityToken} {
		assert.NotContains(t, shown, secret)
		assert.NotContains(t, s.stdout.String()+s.stderr.String(), secret)
	}
}

// TestOtslocalCommandConsole serves the table views of a bare otslocal in strict mode: the
// console signs with the server's own key, shows its tables and no trigger views.
func TestOtslocalCommandConsole(t *testing.T) {
	addr := testkit.FreePort(t)
	out, stop := startOtslocalCommand(t, noEnv, "--listen", addr, "--access-key-id", "id", "--access-key-secret", "strict-secret",
		"--console", "127.0.0.1:0", "--instance", "shown")
	defer stop()
	consoleLine := regexp.MustCompile(`(?m)^otslocal: console at (http://127\.0\.0\.1:\d+/)$`)
	require.Eventually(t, func() bool { return consoleLine.MatchString(out.String()) }, browserWait, 10*time.Millisecond, out.String())
	base := consoleLine.FindStringSubmatch(out.String())[1]

	strict := aliyun.Credentials{AccessKeyID: "id", AccessKeySecret: "strict-secret"}
	client := tableio.NewClient("http://"+addr, "shown", strict)
	require.NoError(t, tableio.Ensure(t.Context(), client, "t", []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindString}}, tableio.Options{}))
	other := tableio.NewClient("http://"+addr, "other", strict)
	require.NoError(t, tableio.Ensure(t.Context(), other, "hidden", []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindString}}, tableio.Options{}))
	var o consoleOverview
	getJSON(t, base+"api/overview", &o)
	require.Len(t, o.Tables, 1, "signed with the server's key, the console lists the tables of the instance --instance names")
	assert.Equal(t, "t", o.Tables[0].Name)
	assert.Nil(t, o.Pipeline)
	resp, err := http.Get(base + "invocations")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no trigger runs with a bare otslocal")
	assert.NotContains(t, pages(t, base, "", "tables/t", "api/overview"), "strict-secret")
}

func TestConsoleFlags(t *testing.T) {
	for _, args := range [][]string{
		{"otslocal", "--listen", "127.0.0.1:0", "--console", "0.0.0.0:0"},
		{"local", "-f", filepath.Join("..", "..", "s.yaml"), "--console", ":8901"},
	} {
		code, _, stderr := runCLI(t, noEnv, args...)
		assert.Equal(t, 2, code, "%v: %s", args, stderr)
		assert.Contains(t, stderr, "not a loopback address", args)
		assert.Contains(t, stderr, "(--console-allow-remote allows it)", args)
	}
	code, _, stderr := runCLI(t, noEnv, "otslocal", "--listen", "127.0.0.1:0", "--console", "8901")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `console address "8901": want host:port`)

	var warning bytes.Buffer
	ln, err := consoleFlags{addr: "0.0.0.0:0", allowRemote: true}.listen(&warning, "otslocal")
	require.NoError(t, err)
	defer ln.Close()
	assert.Regexp(t, `^otslocal: warning: the console listens on \S+, beyond this machine: whoever reaches it can read and write the tables\n$`, warning.String())

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, err = consoleFlags{addr: busy.Addr().String()}.listen(io.Discard, "otslocal")
	assert.ErrorContains(t, err, "address already in use (--console ADDR moves it, --console off turns it off)")
	assert.False(t, consoleFlags{addr: consoleOff}.enabled())
	assert.NoError(t, consoleFlags{addr: consoleOff}.check())
}
