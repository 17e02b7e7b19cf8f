package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/keyrange"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// Paging of a table's page. A page is bounded in rows and in bytes, so that any table's
// page, asked for by the console's own pages (every second) or by anyone else, takes a few
// MB of the console's memory: its rows are read up to pageBytes of data, a longer value is
// shown as its first cellPreviewBytes with its full size (the whole of it on demand,
// valueJSON), and the page's JSON stops at pageBytes.
const (
	// defaultPageRows is how many rows a table's page shows unless its URL says limit=N.
	defaultPageRows = 50
	// maxPageRows is the most rows a page may ask for.
	maxPageRows = 1000
	// pageBytes bounds the data a page of rows reads (ots.Value.DataSize of its keys and
	// values) and the JSON of its rows; a page holds one row whatever its size.
	pageBytes = 4 << 20
	// cellPreviewBytes is how much of a STRING or BINARY value a page of rows shows.
	cellPreviewBytes = 256
	// maxWriteBody bounds a row editor request, in bytes (a row's limit is 2 MB in
	// Tablestore; its JSON and hex take more).
	maxWriteBody = 8 << 20
)

// tableView is what a table's page template gets.
type tableView struct {
	Name        string
	Role        string // "source", "result" or ""
	PrimaryKey  []keyColumnView
	MaxVersions int
	AllVersions bool
	Limit       int
	Stream      bool
}

// keyColumnView is one primary key column on a table's page, with the range the URL asks
// for.
type keyColumnView struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	From, To string `json:"-"`
}

// tablePage serves /tables/{name}: the page's frame, the range form and the row editor;
// its script fetches the rows.
func (c *Console) tablePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, err := tableio.Describe(r.Context(), c.cfg.Client, name)
	if err != nil {
		status, message := describeError(err)
		if status == http.StatusNotFound {
			message = fmt.Sprintf("Table %q does not exist in instance %s. %s", name, c.cfg.Instance, message)
		}
		c.errorPage(w, status, "Table "+name, message)
		return
	}
	q := r.URL.Query()
	view := &tableView{Name: name, Role: c.role(name), MaxVersions: d.MaxVersions, Stream: d.StreamExpirationHours > 0,
		AllVersions: q.Get("versions") == "all", Limit: defaultPageRows}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		view.Limit = min(n, maxPageRows)
	}
	for _, col := range d.PrimaryKey {
		view.PrimaryKey = append(view.PrimaryKey, keyColumnView{Name: col.Name, Type: col.Type.String(), From: q.Get("from." + col.Name), To: q.Get("to." + col.Name)})
	}
	c.render(w, http.StatusOK, "table", pageData{Title: "Table " + name, Table: view})
}

// role names a table's part in the pipeline.
func (c *Console) role(table string) string {
	switch p := c.cfg.Pipeline; {
	case p == nil:
		return ""
	case table == p.SourceTable:
		return "source"
	case table == p.ResultTable:
		return "result"
	}
	return ""
}

// rowsResponse is the JSON of GET /api/tables/{name}/rows.
type rowsResponse struct {
	Table       string          `json:"table"`
	PrimaryKey  []keyColumnView `json:"primaryKey"`
	MaxVersions int             `json:"maxVersions"`
	// Columns are the attribute columns of the page's rows, by name.
	Columns []string `json:"columns"`
	// Rows are the page's rows, each a [rowView].
	Rows []json.RawMessage `json:"rows"`
	// Next is the query string of the next page; "" on the last page.
	Next string `json:"next"`
	// PageBytes, when the page ended at its bound in bytes rather than in rows, is that
	// bound; 0 otherwise.
	PageBytes int `json:"pageBytes,omitempty"`
}

// rowView is one row: its primary key values in schema order, and each attribute
// column's versions, newest first.
type rowView struct {
	Key   []TypedValue             `json:"key"`
	Cells map[string][]cellVersion `json:"cells"`
}

// cellVersion is one version of a cell; Timestamp is the version, ms since the Unix epoch.
// A STRING or BINARY value longer than cellPreviewBytes is cut to them: Cut is set and Size
// is the whole value's size in bytes.
type cellVersion struct {
	TypedValue
	Timestamp int64 `json:"timestamp"`
	Cut       bool  `json:"cut,omitempty"`
	Size      int   `json:"size,omitempty"`
}

// previewOf is the version v of a cell as a page of rows shows it.
func previewOf(v keyrange.Version) cellVersion {
	cut, isCut := v.Value.Cut(cellPreviewBytes)
	cell := cellVersion{TypedValue: typedValueOf(cut), Timestamp: v.Timestamp, Cut: isCut}
	if isCut {
		cell.Size = v.Value.DataSize()
	}
	return cell
}

// startTableRead waits for a turn to read rows of the table the path names (readSlot) and
// describes it; ok is false when it answered the request itself (busy, a Tablestore error).
// The caller calls release when its read is done.
func (c *Console) startTableRead(w http.ResponseWriter, r *http.Request) (name string, d tableio.Description, release func(), ok bool) {
	if release, ok = c.readSlot(w, r); !ok {
		return "", tableio.Description{}, nil, false
	}
	name = r.PathValue("name")
	d, err := tableio.Describe(r.Context(), c.cfg.Client, name)
	if err != nil {
		release()
		writeError(w, err)
		return "", tableio.Description{}, nil, false
	}
	return name, d, release, true
}

// rowsJSON serves one page of a table's rows. The query: from.<column> and to.<column>
// (see [parseRange]), limit=N rows (default 50, at most 1000), versions=all for every
// version the table keeps. The page ends at limit rows or at pageBytes (see the paging
// constants), whichever comes first.
func (c *Console) rowsJSON(w http.ResponseWriter, r *http.Request) {
	name, d, release, ok := c.startTableRead(w, r)
	if !ok {
		return
	}
	defer release()
	q := r.URL.Query()
	rng, err := parseRange(q, d.PrimaryKey)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	limit := defaultPageRows
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxPageRows {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("limit %q: want 1 to %d rows", s, maxPageRows)})
			return
		}
	}
	if q.Get("versions") == "all" {
		rng.MaxVersions = d.MaxVersions
	}
	rng.MaxBytes = pageBytes
	page, err := keyrange.ReadPage(r.Context(), c.cfg.Client, name, d.PrimaryKey, rng, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	resp := rowsResponse{Table: name, MaxVersions: d.MaxVersions, Columns: []string{}, Rows: make([]json.RawMessage, 0, len(page.Rows))}
	for _, col := range d.PrimaryKey {
		resp.PrimaryKey = append(resp.PrimaryKey, keyColumnView{Name: col.Name, Type: col.Type.String()})
	}
	seen := map[string]bool{}
	next, size := page.Next, 0
	for i, row := range page.Rows {
		view := rowView{Cells: map[string][]cellVersion{}}
		for _, col := range row.PrimaryKey {
			view.Key = append(view.Key, typedValueOf(col.Value))
		}
		for _, col := range row.Columns {
			for _, v := range col.Versions {
				view.Cells[col.Name] = append(view.Cells[col.Name], previewOf(v))
			}
		}
		encoded, err := json.Marshal(view)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "encoding a row: " + err.Error()})
			return
		}
		if size += len(encoded); i > 0 && size > pageBytes {
			next = row.PrimaryKey
			break
		}
		for _, col := range row.Columns {
			if !seen[col.Name] {
				seen[col.Name] = true
				resp.Columns = append(resp.Columns, col.Name)
			}
		}
		resp.Rows = append(resp.Rows, encoded)
	}
	slices.Sort(resp.Columns)
	if next != nil {
		if len(resp.Rows) < limit {
			resp.PageBytes = pageBytes
		}
		resp.Next = nextQuery(q, next)
	}
	writeJSON(w, http.StatusOK, resp)
}

// nextQuery is the query of the page that starts at key: q with key as its from.<column>.
func nextQuery(q url.Values, key []ots.PrimaryKeyColumn) string {
	next := url.Values{}
	for k, values := range q {
		if !strings.HasPrefix(k, "from.") {
			next[k] = values
		}
	}
	for _, col := range key {
		next.Set("from."+col.ColumnName, typedValueOf(col.Value).Value)
	}
	return next.Encode()
}

// valueResponse is the JSON of GET /api/tables/{name}/value: one version of a cell, whole.
type valueResponse struct {
	TypedValue
	Timestamp int64 `json:"timestamp"`
}

// valueJSON serves one version of a cell whole, which a page of rows shows cut: the query
// names the row (key.<column> for every primary key column, each the text of a
// [TypedValue] of the column's type), the attribute column (column=NAME) and the version
// (timestamp=MS; without it, the newest). A value is at most 2 MB in Tablestore.
func (c *Console) valueJSON(w http.ResponseWriter, r *http.Request) {
	name, d, release, ok := c.startTableRead(w, r)
	if !ok {
		return
	}
	defer release()
	q := r.URL.Query()
	column := q.Get("column")
	var timestamp int64
	if s := q.Get("timestamp"); s != "" {
		var err error
		if timestamp, err = strconv.ParseInt(s, 10, 64); err != nil || timestamp <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("timestamp %q: want a version, ms since the Unix epoch", s)})
			return
		}
	}
	key := make([]ots.PrimaryKeyColumn, len(d.PrimaryKey))
	for i, col := range d.PrimaryKey {
		v, err := ots.ParseText(col.Type, q.Get("key."+col.Name))
		if !q.Has("key." + col.Name) {
			err = errors.New("missing")
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("key.%s (%s): %v; give every primary key column", col.Name, col.Type, err)})
			return
		}
		key[i] = ots.PrimaryKeyColumn{ColumnName: col.Name, Value: v}
	}
	if column == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give the attribute column: column=NAME"})
		return
	}
	v, found, err := tableio.ReadColumn(r.Context(), c.cfg.Client, name, key, column, timestamp)
	switch {
	case err != nil:
		writeError(w, err)
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("Row (%s) of %s has no column %s at that version now.", ots.FormatPrimaryKey(key), name, column)})
	default:
		writeJSON(w, http.StatusOK, valueResponse{TypedValue: typedValueOf(v.Value), Timestamp: v.Timestamp})
	}
}

// parseRange reads the range of a table's page from its URL query: from.<column> is the
// inclusive start, to.<column> the exclusive end, each value the text of a [TypedValue] of
// the column's type. The columns given are the schema's first ones up to the last with a
// non-empty value; the rest are INF_MIN. An empty value before that is the empty STRING or
// BINARY, and an error for an INTEGER. No to.<column> at all: up to the table's end.
func parseRange(q url.Values, schema []ots.PrimaryKeySchema) (keyrange.Range, error) {
	from, err := parseBound(q, "from", schema)
	if err != nil {
		return keyrange.Range{}, err
	}
	to, err := parseBound(q, "to", schema)
	if err != nil {
		return keyrange.Range{}, err
	}
	return keyrange.Range{Start: from, End: to}, nil
}

// parseBound reads prefix.<column> values (see parseRange).
func parseBound(q url.Values, prefix string, schema []ots.PrimaryKeySchema) ([]ots.PrimaryKeyColumn, error) {
	given := 0
	for i, col := range schema {
		if q.Get(prefix+"."+col.Name) != "" {
			given = i + 1
		}
	}
	bound := make([]ots.PrimaryKeyColumn, 0, given)
	for _, col := range schema[:given] {
		text := q.Get(prefix + "." + col.Name)
		if text == "" && col.Type == ots.KindInteger {
			return nil, fmt.Errorf("%s: give %s (INTEGER) too, or leave out the columns after it", prefix, col.Name)
		}
		v, err := ots.ParseText(col.Type, text)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", prefix, col.Name, err)
		}
		bound = append(bound, ots.PrimaryKeyColumn{ColumnName: col.Name, Value: v})
	}
	return bound, nil
}

// writeRequest is the JSON body of POST /api/tables/{name}/rows: one row change.
type writeRequest struct {
	// Operation is PutRow (the row becomes the columns given), UpdateRow (each column is
	// put, or all its versions deleted) or DeleteRow.
	Operation string `json:"operation"`
	// Condition is the row existence expectation: IGNORE (the default), EXPECT_EXIST or
	// EXPECT_NOT_EXIST.
	Condition  string         `json:"condition"`
	PrimaryKey []namedValue   `json:"primaryKey"`
	Columns    []columnChange `json:"columns"`
}

// namedValue is a primary key column's value.
type namedValue struct {
	Name string `json:"name"`
	TypedValue
}

// columnChange is an attribute column to put (its value) or, with Delete, to delete (all
// its versions; UpdateRow only).
type columnChange struct {
	Name string `json:"name"`
	TypedValue
	Delete bool `json:"delete"`
}

// conditions are the row existence expectations the editor offers.
var conditions = map[string]sdk.RowExistenceExpectation{
	"":                 sdk.RowExistenceExpectation_IGNORE,
	"IGNORE":           sdk.RowExistenceExpectation_IGNORE,
	"EXPECT_EXIST":     sdk.RowExistenceExpectation_EXPECT_EXIST,
	"EXPECT_NOT_EXIST": sdk.RowExistenceExpectation_EXPECT_NOT_EXIST,
}

// writeRow serves the row editor: PutRow, UpdateRow or DeleteRow of one row through the
// SDK. It answers {"message"} on success, {"error"} in words otherwise: 400 for a request
// it cannot build, Tablestore's refusal with the status [describeError] gives.
func (c *Console) writeRow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if mediaType, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mediaType) != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send the row change as application/json"})
		return
	}
	var req writeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxWriteBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the row change is not valid JSON: " + err.Error()})
		return
	}
	rec, cond, err := req.record()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err := tableio.Write(r.Context(), c.cfg.Client, name, rec, cond); err != nil {
		writeError(w, err)
		return
	}
	key := ots.FormatPrimaryKey(rec.PrimaryKey)
	var message string
	switch rec.Type {
	case events.PutRow:
		message = fmt.Sprintf("PutRow: row (%s) written to %s with %d column(s).", key, name, len(rec.Columns))
	case events.UpdateRow:
		message = fmt.Sprintf("UpdateRow: row (%s) of %s updated: %s.", key, name, describeChanges(rec.Columns))
	default:
		message = fmt.Sprintf("DeleteRow: row (%s) deleted from %s.", key, name)
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": message})
}

// describeChanges lists an UpdateRow's cells: "put level, deleted message".
func describeChanges(cols []events.Column) string {
	parts := make([]string, len(cols))
	for i, col := range cols {
		if col.Type == events.DeleteAllVersions {
			parts[i] = "deleted " + col.ColumnName
		} else {
			parts[i] = "put " + col.ColumnName
		}
	}
	return strings.Join(parts, ", ")
}

// record checks the request and builds the row change as a record, with its condition.
func (req *writeRequest) record() (*events.Record, sdk.RowExistenceExpectation, error) {
	cond, ok := conditions[req.Condition]
	if !ok {
		return nil, 0, fmt.Errorf("condition %q: want IGNORE, EXPECT_EXIST or EXPECT_NOT_EXIST", req.Condition)
	}
	rec := &events.Record{Type: events.RecordType(req.Operation)}
	switch rec.Type {
	case events.PutRow, events.UpdateRow, events.DeleteRow:
	default:
		return nil, 0, fmt.Errorf("operation %q: want PutRow, UpdateRow or DeleteRow", req.Operation)
	}
	if rec.Type == events.DeleteRow && cond == sdk.RowExistenceExpectation_EXPECT_NOT_EXIST {
		return nil, 0, errors.New("a DeleteRow cannot expect the row not to exist: use IGNORE or EXPECT_EXIST")
	}
	if len(req.PrimaryKey) == 0 {
		return nil, 0, errors.New("give the row's primary key")
	}
	for _, col := range req.PrimaryKey {
		if col.Name == "" {
			return nil, 0, errors.New("a primary key column has no name")
		}
		v, err := col.parse()
		if err != nil {
			return nil, 0, fmt.Errorf("primary key column %s: %w", col.Name, err)
		}
		if k := v.Kind(); !k.IsPrimaryKeyKind() {
			return nil, 0, fmt.Errorf("primary key column %s: a primary key column holds INTEGER, STRING or BINARY, not %s", col.Name, k)
		}
		rec.PrimaryKey = append(rec.PrimaryKey, ots.PrimaryKeyColumn{ColumnName: col.Name, Value: v})
	}
	if rec.Type == events.DeleteRow && len(req.Columns) > 0 {
		return nil, 0, errors.New("a DeleteRow takes no columns")
	}
	for _, col := range req.Columns {
		if col.Name == "" {
			return nil, 0, errors.New("an attribute column has no name")
		}
		if col.Delete {
			if rec.Type != events.UpdateRow {
				return nil, 0, fmt.Errorf("column %s: only an UpdateRow deletes columns; a PutRow replaces the whole row", col.Name)
			}
			rec.Columns = append(rec.Columns, events.Column{Type: events.DeleteAllVersions, ColumnName: col.Name})
			continue
		}
		v, err := col.parse()
		if err != nil {
			return nil, 0, fmt.Errorf("column %s: %w", col.Name, err)
		}
		rec.Columns = append(rec.Columns, events.Column{Type: events.Put, ColumnName: col.Name, Value: v})
	}
	if rec.Type == events.UpdateRow && len(rec.Columns) == 0 {
		return nil, 0, errors.New("an UpdateRow needs at least one column to put or delete")
	}
	return rec, cond, nil
}

// codeWords says in words what Tablestore's error codes mean, with the status the console
// answers them with (Tablestore error codes reference).
var codeWords = map[string]struct {
	status int
	words  string
}{
	"OTSConditionCheckFail":   {http.StatusConflict, "The condition failed: the row existence expectation was not met (EXPECT_EXIST needs the row to exist, EXPECT_NOT_EXIST needs it absent)"},
	"OTSInvalidPK":            {http.StatusBadRequest, "The primary key does not match the table's: its column names, their order or their types differ"},
	"OTSObjectNotExist":       {http.StatusNotFound, "The table does not exist"},
	"OTSParameterInvalid":     {http.StatusBadRequest, "Tablestore refused the request as invalid"},
	"OTSAuthFailed":           {http.StatusForbidden, "Tablestore refused the access key"},
	"OTSServerBusy":           {http.StatusServiceUnavailable, "Tablestore is busy; try again"},
	"OTSPartitionUnavailable": {http.StatusServiceUnavailable, "The table's partition is unavailable for a moment; try again"},
	"OTSRowOperationConflict": {http.StatusServiceUnavailable, "Another write to the row was in flight; try again"},
	"OTSTableNotReady":        {http.StatusServiceUnavailable, "The table was just created and is not ready yet; try again in a minute"},
}

// describeError turns an error of a Tablestore request into an HTTP status and a message
// in words: what it means, then what the service said and its code.
func describeError(err error) (int, string) {
	var otsErr *sdk.OtsError
	if !errors.As(err, &otsErr) {
		return http.StatusBadGateway, "Tablestore could not be reached or answered outside its protocol: " + err.Error()
	}
	known, ok := codeWords[otsErr.Code]
	if !ok {
		known.status, known.words = http.StatusBadGateway, "Tablestore answered with an error"
	}
	return known.status, fmt.Sprintf("%s. Tablestore said: %s (%s).", known.words, strings.TrimSuffix(otsErr.Message, "."), otsErr.Code)
}

// writeError answers an API request with describeError's status and message.
func writeError(w http.ResponseWriter, err error) {
	status, message := describeError(err)
	writeJSON(w, status, map[string]string{"error": message})
}
