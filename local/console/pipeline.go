package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// countLimit is where the overview stops counting a table's rows ("1,000+"): it counts
// every second, by reading primary keys, which costs read capacity on a real instance.
const countLimit = 1000

// overviewResponse is the JSON of GET /api/overview.
type overviewResponse struct {
	Instance string      `json:"instance"`
	Endpoint string      `json:"endpoint"`
	Tables   []tableInfo `json:"tables"`
	// TablesError says why the tables could not be listed; "" when they were.
	TablesError string          `json:"tablesError,omitempty"`
	Pipeline    *pipelineStatus `json:"pipeline,omitempty"`
}

// tableInfo is one table of the overview.
type tableInfo struct {
	Name       string `json:"name"`
	Role       string `json:"role,omitempty"`
	PrimaryKey string `json:"primaryKey,omitempty"` // "id INTEGER, sub STRING"
	Rows       int    `json:"rows"`
	// RowsComplete is false when counting stopped at countLimit rows.
	RowsComplete bool `json:"rowsComplete"`
	// StreamHours is the Stream's expiration in hours; 0 without a Stream.
	StreamHours int    `json:"streamHours"`
	Error       string `json:"error,omitempty"`
}

// pipelineStatus is the trigger and function part of the overview.
type pipelineStatus struct {
	SourceTable string                `json:"sourceTable"`
	ResultTable string                `json:"resultTable"`
	Function    string                `json:"function"`
	Filter      string                `json:"filter"`
	Columns     string                `json:"columns"` // COLUMNS as written; "" keeps every column
	Instances   fclocal.PoolStatus    `json:"instances"`
	Shards      []fclocal.ShardStatus `json:"shards"`
	Totals      totals                `json:"totals"`
}

// overviewJSON serves the overview's data: the instance's tables with row counts, and the
// pipeline's state.
func (c *Console) overviewJSON(w http.ResponseWriter, r *http.Request) {
	resp := overviewResponse{Instance: c.cfg.Instance, Endpoint: c.endpoint, Tables: []tableInfo{}}
	list, err := ots.CallSDK(c.cfg.Client.ListTable)
	if err != nil {
		_, resp.TablesError = describeError(err)
	} else {
		for _, name := range list.TableNames {
			resp.Tables = append(resp.Tables, c.tableInfo(r, name))
		}
	}
	if p := c.cfg.Pipeline; p != nil {
		_, t := p.Monitor.invocations()
		resp.Pipeline = &pipelineStatus{
			SourceTable: p.SourceTable, ResultTable: p.ResultTable, Function: p.FunctionName, Filter: p.Rule.Filter, Columns: p.Rule.Columns,
			Instances: p.Instances.Status(), Shards: p.Trigger.Shards(), Totals: t,
		}
		if resp.Pipeline.Shards == nil {
			resp.Pipeline.Shards = []fclocal.ShardStatus{}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// tableInfo describes and counts one table; a failure is reported in the entry.
func (c *Console) tableInfo(r *http.Request, name string) tableInfo {
	info := tableInfo{Name: name, Role: c.role(name)}
	d, err := tableio.Describe(r.Context(), c.cfg.Client, name)
	if err == nil {
		info.PrimaryKey, info.StreamHours = ots.FormatSchema(d.PrimaryKey), d.StreamExpirationHours
		info.Rows, info.RowsComplete, err = tableio.Count(r.Context(), c.cfg.Client, name, d.PrimaryKey, countLimit)
	}
	if err != nil {
		_, info.Error = describeError(err)
	}
	return info
}

// metricsJSON serves the plots' data (see [series]).
func (c *Console) metricsJSON(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Pipeline == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": noPipeline})
		return
	}
	writeJSON(w, http.StatusOK, c.cfg.Pipeline.Monitor.series())
}

// noPipeline says why a console has no trigger views.
const noPipeline = "No trigger runs with this console: it shows a Tablestore's tables only. `otsetl local` runs the trigger and the function."

// invocationsPage serves /invocations, whose script fetches the list.
func (c *Console) invocationsPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Pipeline == nil {
		c.errorPage(w, http.StatusNotFound, "Invocations", noPipeline)
		return
	}
	c.render(w, http.StatusOK, "invocations", pageData{Title: "Invocations"})
}

// invocationsJSON serves the latest invocation attempts, newest first, and the totals.
func (c *Console) invocationsJSON(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Pipeline == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": noPipeline})
		return
	}
	list, t := c.cfg.Pipeline.Monitor.invocations()
	writeJSON(w, http.StatusOK, map[string]any{"invocations": list, "totals": t, "tasks": c.cfg.Pipeline.Monitor.taskInvocations()})
}

// eventPage serves /invocations/{id}: the event the attempt received, as JSON.
func (c *Console) eventPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if c.cfg.Pipeline == nil {
		c.errorPage(w, http.StatusNotFound, "Invocation", noPipeline)
		return
	}
	if _, found, _ := c.cfg.Pipeline.Monitor.event(id); !found {
		c.errorPage(w, http.StatusNotFound, "Invocation", fmt.Sprintf("No invocation with request id %q among the latest %d.", id, recentInvocations))
		return
	}
	c.render(w, http.StatusOK, "event", pageData{Title: "Invocation " + id, RequestID: id})
}

// eventJSON serves the event of an invocation attempt in the trigger's JSON form (events
// JSON encoding: the form of console test events), indented.
func (c *Console) eventJSON(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if c.cfg.Pipeline == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": noPipeline})
		return
	}
	payload, found, kept := c.cfg.Pipeline.Monitor.event(id)
	switch {
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no invocation with request id %q among the latest %d", id, recentInvocations)})
		return
	case !kept:
		writeJSON(w, http.StatusGone, map[string]string{"error": fmt.Sprintf("the event of invocation %s is no longer kept: the console keeps %d MiB of events", id, payloadBudget>>20)})
		return
	}
	ev, err := events.Decode(payload)
	var encoded []byte
	if err == nil {
		encoded, err = events.EncodeJSON(ev)
	}
	var indented bytes.Buffer
	if err == nil {
		err = json.Indent(&indented, encoded, "", "  ")
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "the event cannot be shown as JSON: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(indented.Bytes())
}
