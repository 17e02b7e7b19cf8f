// Package otslocaltest starts otslocal servers for tests, as net/http/httptest does HTTP
// servers: each test gets a server of its own on a loopback port, with the tables it asks
// for, and the server stops when the test ends.
//
//	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "source_data", Stream: true})
//	client := tablestore.NewClient(srv.Endpoint, otslocaltest.Instance, ...)
//
// Every helper uses the instance name [Instance] and the access key [Credentials], so that
// tests of every package reach the same tables the same way.
package otslocaltest

import (
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// Instance is the instance name every helper of this package uses.
const Instance = "otslocaltest"

// Credentials are the access key every helper of this package uses; otslocal accepts any
// key unless its Options name one.
var Credentials = aliyun.Credentials{AccessKeyID: "STS.otslocaltest-key-id", AccessKeySecret: "otslocaltest-secret-9f8e7d", SecurityToken: "otslocaltest-token-1a2b3c"}

// IDKey is the primary key a [Table] without one gets: one column, id INTEGER.
var IDKey = []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}

// StreamExpirationHours is the Stream expiration of a [Table] with Stream set.
const StreamExpirationHours = 24

// Table is a table to create.
type Table struct {
	// Name is the table name.
	Name string
	// PrimaryKey is the table's primary key; nil means IDKey.
	PrimaryKey []ots.PrimaryKeySchema
	// MaxVersions is how many versions of a column the table keeps; 0 means 1.
	MaxVersions int
	// Stream enables the table's Stream, with StreamExpirationHours.
	Stream bool
}

// Server is an otslocal server that stops when its test ends.
type Server struct {
	*otslocal.Server
	// SDK is a client of the official Tablestore Go SDK for the server, with Instance,
	// Credentials and the SDK's default configuration.
	SDK *sdk.TableStoreClient
}

// NewServer starts an otslocal server on 127.0.0.1 with opts, creates tables, and closes the
// server when tb ends. Any failure fails tb.
func NewServer(tb testing.TB, opts otslocal.Options, tables ...Table) *Server {
	tb.Helper()
	srv, err := otslocal.NewServer("127.0.0.1:0", opts)
	if err != nil {
		tb.Fatalf("otslocaltest: starting otslocal: %v", err)
	}
	tb.Cleanup(srv.Close)
	s := &Server{Server: srv, SDK: Client(srv.Endpoint)}
	for _, t := range tables {
		s.CreateTable(tb, t)
	}
	return s
}

// Client returns an official SDK client of the otslocal at endpoint, with Instance,
// Credentials and the SDK's default configuration.
func Client(endpoint string) *sdk.TableStoreClient {
	return tableio.NewClient(endpoint, Instance, Credentials)
}

// CreateTable creates t, failing tb if it cannot.
func (s *Server) CreateTable(tb testing.TB, t Table) {
	tb.Helper()
	pk := t.PrimaryKey
	if pk == nil {
		pk = IDKey
	}
	opts := tableio.Options{MaxVersions: t.MaxVersions}
	if t.Stream {
		opts.StreamExpirationHours = StreamExpirationHours
	}
	if err := tableio.Ensure(tb.Context(), s.SDK, t.Name, pk, opts); err != nil {
		tb.Fatalf("otslocaltest: %v", err)
	}
}

// Scan returns every row of table in primary key order, latest versions only, failing tb if
// it cannot.
func (s *Server) Scan(tb testing.TB, table string) []tableio.Row {
	tb.Helper()
	rows, err := tableio.Scan(tb.Context(), s.SDK, table)
	if err != nil {
		tb.Fatalf("otslocaltest: %v", err)
	}
	return rows
}
