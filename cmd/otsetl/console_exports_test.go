package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsoleExportsInABrowser drives the Exports page of a running `otsetl local --export`
// in headless Chromium: rows written with the SDK become objects the page lists with their
// sizes, an object opens its first lines, exactly as the file under --oss-dir holds them,
// HTML in a value shows as text, and the page fits a phone's width.
func TestConsoleExportsInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary and chromium")
	}
	b := newBrowser(t)
	dir := t.TempDir()
	s := startLocal(t, testkit.BuildOtsetl(t), "--export", "--oss-dir", dir)
	tb := b.newTab(t, 1280, 800)
	defer tb.checkClean(t)

	tb.open(s.console + "exports")
	tb.waitFor(browserWait, `document.querySelector('#exports tbody td.empty') !== null`, "the page says there is no object yet")
	assert.Equal(t, "0 objects.", eval[string](tb, `document.getElementById('exports-totals').textContent`))

	s.put(t, 1, 2, `<img src=x onerror="alert(1)">`)
	tb.waitFor(browserWait, `document.querySelectorAll('#exports tbody tr[data-key]').length === 1`, "the page lists the object of the batch")
	key := eval[string](tb, `document.querySelector('#exports tbody tr[data-key]').dataset.key`)
	require.True(t, strings.HasPrefix(key, "exports/source_data/dt="), key)
	file, err := os.ReadFile(filepath.Join(dir, "otsetl-local", filepath.FromSlash(key)))
	require.NoError(t, err, "the object is the file under --oss-dir")
	assert.Equal(t, strconv.Itoa(len(file)),
		eval[string](tb, `document.querySelector('#exports tbody tr[data-key] td.num').textContent.replaceAll(',', '')`), "its size")
	assert.Equal(t, strings.TrimPrefix(key, "exports/"), eval[string](tb, `document.querySelector('#exports tbody tr[data-key] a').textContent`))

	tb.do(chromedp.Click(chromedp.CSS("#exports tbody tr[data-key] a")))
	tb.waitFor(browserWait, `document.getElementById('object-lines').textContent !== ''`, "the object's first lines")
	assert.Equal(t, strings.TrimSuffix(string(file), "\n"), eval[string](tb, `document.getElementById('object-lines').textContent`))
	assert.Equal(t, "The whole object: 3 lines.", eval[string](tb, `document.getElementById('object-status').textContent`))
	assert.Zero(t, eval[int](tb, `document.querySelectorAll('main img').length`), "a value's HTML is text")
	assert.Equal(t, key, eval[string](tb, `document.getElementById('object-key').textContent`))
	tb.screenshot("console-exports.png")

	narrow := b.newTab(t, 390, 844)
	defer narrow.checkClean(t)
	narrow.open(s.console + "exports")
	narrow.waitFor(browserWait, `document.querySelectorAll('#exports tbody tr[data-key]').length === 1`, "the list at a phone's width")
	assert.True(t, eval[bool](narrow, `document.documentElement.scrollWidth <= window.innerWidth`), "the page does not scroll sideways")
}
