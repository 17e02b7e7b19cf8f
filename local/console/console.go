// Package console is otsetl's local web console: the tables of a Tablestore instance with
// their rows (paged in primary key order, every version on demand, a primary key range to
// jump to) and a row editor, and, under `otsetl local`, the Stream's shards with the
// trigger's checkpoint in each, the function process, the invocations with their events,
// and live plots of records per second and lag.
//
// It reads and writes tables only through the Tablestore API, with the official Go SDK, so
// it shows an otslocal and a real instance alike. Pages are html/template documents whose
// scripts fetch the console's JSON endpoints every second and render every cell value as
// text (textContent); the scripts, styles and the chart library (uPlot) are embedded in
// the binary.
//
// Security: it is meant for loopback ([Listen] refuses another address unless told
// otherwise); on loopback it answers only requests whose Host is a loopback name, against
// DNS rebinding. Every state-changing request must carry the console's per-process token
// in the X-Console-Token header (pages hold it; another site cannot read it) and, when the
// browser sends them, an Origin equal to the console's own and a Sec-Fetch-Site of
// same-origin. Its JSON endpoints refuse a browser's cross-site reads (a Sec-Fetch-Site
// other than same-origin or none) and send no CORS headers. Pages forbid framing and run
// only the console's own scripts (Content-Security-Policy). No credential appears in a page
// or a log line.
//
// Memory: a page of rows is bounded in bytes (see the paging constants): long values are
// cut, with their full size and the whole value on demand, and at most maxRowReads pages
// or values are read at a time, so that no page, nor any number of them, asked for by any
// web page, takes the console's (and an embedded otslocal's) process down.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/transform"
)

// Config configures a [Console]. Client is required.
type Config struct {
	// Client reads and writes the tables (Tablestore Go SDK).
	Client *sdk.TableStoreClient
	// Endpoint and Instance name the Tablestore the console shows, for its pages' header;
	// user information in Endpoint is not shown (aliyun.RedactEndpoint).
	Endpoint string
	Instance string
	// Pipeline, when set, is the trigger and function `otsetl local` runs; nil for a bare
	// Tablestore (`otsetl otslocal --console`): no Stream, function or invocation views.
	Pipeline *Pipeline
	// Exports, when set, is the function's export, which the Exports page lists; nil
	// when the function exports nothing.
	Exports *Exports
	// AllowRemote serves requests for any Host. Without it, only a Host that is a loopback
	// address or "localhost" is served, as fits a console listening on loopback.
	AllowRemote bool
	// Logger receives failures to serve a request; nil means slog.Default().
	Logger *slog.Logger
}

// Pipeline is what the console shows of `otsetl local`'s trigger and function.
type Pipeline struct {
	// SourceTable is the triggering table, ResultTable the table the function keeps (empty
	// for a function that exports only).
	SourceTable, ResultTable string
	// FunctionName is the function's name in s.yaml.
	FunctionName string
	// Rule is the function's rule as it applies it ([transform.Rule.Config]: the filter
	// defaulted, the columns as written), shown on the overview.
	Rule transform.Config
	// Trigger lists the Stream's shards and the trigger's checkpoint in each: an
	// *fclocal.Trigger.
	Trigger interface{ Shards() []fclocal.ShardStatus }
	// Instances reports the function's instances: an *fclocal.Pool.
	Instances interface{ Status() fclocal.PoolStatus }
	// Monitor holds the invocation attempts, fed by the trigger's OnInvocation, and the task
	// invocations, fed by the FC API's.
	Monitor *Monitor
}

// Console is the web console's HTTP handler. Build it with [New]; serve it with [Serve] or
// any http.Server.
type Console struct {
	cfg      Config
	endpoint string // cfg.Endpoint without user information
	token    string
	pages    map[string]*template.Template
	mux      *http.ServeMux
	logger   *slog.Logger
	// rowReads holds a token for each heavy read running: a page of rows, a whole value, an
	// export's listing or object (readSlot).
	rowReads chan struct{}
}

// Reads of rows at a time.
const (
	// maxRowReads is how many heavy reads run at once (pages of rows, whole values, the
	// exports' listings and objects); more wait.
	maxRowReads = 2
	// rowReadWait is how long a read waits for its turn before it is answered 503.
	rowReadWait = 10 * time.Second
)

// tokenHeader carries the console's token on state-changing requests.
const tokenHeader = "X-Console-Token"

// pollInterval is how often pages fetch fresh data.
const pollInterval = time.Second

//go:embed web
var web embed.FS

// New checks cfg and returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Client == nil {
		return nil, errors.New("console: Config.Client is required")
	}
	if p := cfg.Pipeline; p != nil && (p.Trigger == nil || p.Instances == nil || p.Monitor == nil || p.SourceTable == "") {
		return nil, errors.New("console: Config.Pipeline needs its source table, Trigger, Instances and Monitor")
	}
	c := &Console{cfg: cfg, endpoint: aliyun.RedactEndpoint(cfg.Endpoint), pages: map[string]*template.Template{}, logger: cfg.Logger,
		rowReads: make(chan struct{}, maxRowReads)}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, fmt.Errorf("console: generating the token: %w", err)
	}
	c.token = hex.EncodeToString(token[:])
	for _, page := range []string{"overview", "table", "invocations", "event", "exports", "error"} {
		t, err := template.ParseFS(web, "web/templates/layout.html", "web/templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", page, err)
		}
		c.pages[page] = t
	}
	static, err := fs.Sub(web, "web/static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", c.overviewPage)
	mux.HandleFunc("GET /tables/{name}", c.tablePage)
	mux.HandleFunc("GET /invocations", c.invocationsPage)
	mux.HandleFunc("GET /invocations/{id}", c.eventPage)
	mux.HandleFunc("GET /exports", c.exportsPage)
	mux.HandleFunc("GET /api/overview", c.overviewJSON)
	mux.HandleFunc("GET /api/metrics", c.metricsJSON)
	mux.HandleFunc("GET /api/tables/{name}/rows", c.rowsJSON)
	mux.HandleFunc("POST /api/tables/{name}/rows", c.writeRow)
	mux.HandleFunc("GET /api/tables/{name}/value", c.valueJSON)
	mux.HandleFunc("GET /api/invocations", c.invocationsJSON)
	mux.HandleFunc("GET /api/invocations/{id}/event", c.eventJSON)
	mux.HandleFunc("GET /api/exports", c.exportsJSON)
	mux.HandleFunc("GET /api/exports/object", c.exportObjectJSON)
	mux.HandleFunc("/", c.notFound)
	c.mux = mux
	return c, nil
}

// ServeHTTP serves the console: the Host check, security headers, the cross-site checks
// (reads of /api/, every state-changing request), then the page or endpoint.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !c.cfg.AllowRemote && !otslocal.LoopbackHost(r.Host) {
		http.Error(w, fmt.Sprintf("console: Host %q is not a loopback address; this console serves 127.0.0.1, [::1] and localhost only", r.Host), http.StatusMisdirectedRequest)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); strings.HasPrefix(r.URL.Path, "/api/") && site != "" && site != "same-origin" && site != "none" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("cross-site read refused (Sec-Fetch-Site: %s): the console's data is for its own pages", site)})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := c.checkSameOrigin(r); err != nil {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// checkSameOrigin refuses a state-changing request that does not come from the console's
// own pages: it needs the token, and an Origin and Sec-Fetch-Site, when present, that say
// it comes from the console's origin.
func (c *Console) checkSameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("cross-site request refused (Origin %q is not this console)", origin)
		}
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(tokenHeader)), []byte(c.token)) != 1 {
		return fmt.Errorf("request refused: no valid %s header; send it from the console's own pages", tokenHeader)
	}
	return nil
}

// readSlot waits for a turn to run a heavy read, a page of rows, a whole value, an export's
// listing or object (at most maxRowReads at once), and returns the function that ends it. A
// request that waits rowReadWait in vain is answered 503 with Retry-After; one whose client
// went away is not answered. ok is false in both cases.
func (c *Console) readSlot(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	wait := time.NewTimer(rowReadWait)
	defer wait.Stop()
	select {
	case c.rowReads <- struct{}{}:
		return func() { <-c.rowReads }, true
	case <-r.Context().Done():
		return nil, false
	case <-wait.C:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf(
			"The console is busy: %d reads of rows or exports are running and this one waited %s for its turn. Try again.", maxRowReads, rowReadWait)})
		return nil, false
	}
}

// pageData is what every page's template gets.
type pageData struct {
	Title       string
	Page        string
	Instance    string
	Endpoint    string
	Token       string
	HasPipeline bool
	HasExports  bool
	PollMs      int64
	// Table is the table page's; Message and Status the error page's; RequestID the
	// event page's; Exports the exports page's.
	Exports   *Exports
	Table     *tableView
	Message   string
	Status    int
	RequestID string
}

// render writes page with data, status code status.
func (c *Console) render(w http.ResponseWriter, status int, page string, data pageData) {
	data.Page, data.Instance, data.Endpoint, data.Token = page, c.cfg.Instance, c.endpoint, c.token
	data.HasPipeline, data.HasExports, data.PollMs = c.cfg.Pipeline != nil, c.cfg.Exports != nil, pollInterval.Milliseconds()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages[page].ExecuteTemplate(w, "layout", data); err != nil {
		c.logger.Error("console: rendering a page failed", slog.String("page", page), slog.Any("error", err))
	}
}

// errorPage renders the error page with a message in words.
func (c *Console) errorPage(w http.ResponseWriter, status int, title, message string) {
	c.render(w, status, "error", pageData{Title: title, Message: message, Status: status})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + r.URL.Path})
		return
	}
	c.errorPage(w, http.StatusNotFound, "Not found", fmt.Sprintf("There is no page at %s.", r.URL.Path))
}

func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "overview", pageData{Title: "Overview"})
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen listens on addr (host:port; port 0 picks one) for the console. Unless
// allowRemote, the host must be a loopback address or "localhost"; an empty host (every
// interface) or another address is refused with an error wrapping [ErrNotLoopback].
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	if err := CheckAddress(addr, allowRemote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return ln, nil
}

// CheckAddress checks a console address as [Listen] does, without listening.
func CheckAddress(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("console address %q: want host:port, e.g. 127.0.0.1:8901", addr)
	}
	if !allowRemote && !otslocal.LoopbackHost(host) {
		return fmt.Errorf("console address %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// ErrNotLoopback is wrapped by the error of [Listen] and [CheckAddress] for an address
// other than loopback.
var ErrNotLoopback = errors.New("not a loopback address; the console serves this machine only unless remote access is allowed explicitly")

// IsLoopback reports whether ln listens on a loopback address only.
func IsLoopback(ln net.Listener) bool {
	addr, ok := ln.Addr().(*net.TCPAddr)
	return ok && addr.IP.IsLoopback()
}

// URL returns the console's URL for a listener: http://host:port/, with 127.0.0.1 for a
// listener on every interface.
func URL(ln net.Listener) string {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return "http://" + ln.Addr().String() + "/"
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)) + "/"
}

// Serve serves c on ln until ctx ends, then closes ln and returns nil (requests in flight
// get a second to finish); it returns other errors of http.Server.Serve.
func Serve(ctx context.Context, ln net.Listener, c *Console) error {
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}
