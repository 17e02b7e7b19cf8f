// Package otslocal is a local, in-memory Tablestore server that speaks the service's wire
// protocol, so the unmodified Tablestore SDKs can be pointed at it.
//
// It is modelled on net/http/httptest and cloud.google.com/go/bigtable/bttest: NewServer
// starts it, Endpoint is what an SDK client is given, Close stops it.
//
//	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
//	...
//	defer srv.Close()
//	client := tablestore.NewClient(srv.Endpoint, "instance", "akid", "secret")
//
// Requests are "POST /<Action>" with a protobuf body (the Go SDK's own
// tablestore/otsprotocol messages); rows inside them are PlainBuffer, with CRC-8
// checksums verified on every request row and written on every response row. Answers
// use the service's HTTP statuses, error codes and messages.
//
// Implemented: CreateTable, UpdateTable, DeleteTable, ListTable, DescribeTable, PutRow,
// GetRow, UpdateRow, DeleteRow, BatchGetRow, BatchWriteRow and GetRange, with row
// existence conditions, column conditions on writes and filters on reads (single column,
// composite and column pagination), atomic BatchWriteRow (is_atomic), versions
// (max_versions, TTL, time ranges), every table option (time_to_live, max_versions,
// deviation_cell_version_in_sec, allow_update, update_full_row), GetRange in PlainBuffer
// or SimpleRowMatrix, auto-increment primary keys and the service's limits; the Stream
// API (ListStream, DescribeStream, GetShardIterator, GetStreamRecord): every committed row
// change is recorded in its table's Stream, spread over Options.StreamShards shards by
// partition key, with the pre-image of the Stream's columns_to_get; and
// ComputeSplitPointsBySize, which cuts a table into ranges of about a given data size at
// partition key boundaries. Anything else, including transactions and regular expression
// filters (value_trans_rule), is answered with 400 OTSParameterInvalid "Unsupported
// operation: ...".
//
// Any access key is accepted unless Options sets one: then every request must carry that
// key id and the Tablestore signature made with its secret (the layouts of the Go and
// Node.js SDKs), a matching x-ots-contentmd5 and an x-ots-date within 15 minutes, or it
// is refused with the service's 403 OTSAuthFailed; and responses are signed with that
// secret as the Java and Python SDKs check.
//
// A server listening on a loopback address serves only requests addressed to a loopback
// name (Host 127.0.0.1, [::1] or localhost, with any port), unless Options.AllowAnyHost:
// another Host is what a web page sends after a DNS rebinding made it same-origin with the
// server, and is refused with 403 OTSAuthFailed.
//
// Instances are separate namespaces, as on the service: every request names its instance
// in the x-ots-instancename header, which the SDKs send, and reaches only that instance's
// tables and Streams; two clients with different instance names never see each other's
// tables. An instance is created empty by its first request; a request without an
// instance name is 400 OTSParameterInvalid "Missing header: x-ots-instancename.".
//
// State lives in memory and is lost on Close, unless Options.DataDir names a data
// directory: then every instance, with its tables, rows, versions and Streams, is kept
// there too, each write durable on disk before it is answered, and a server started
// again on the directory serves the same state.
package otslocal

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// Server is a running local Tablestore server. Create it with NewServer and stop it with
// Close. It is safe for concurrent use by any number of clients.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string
	// Endpoint is "http://" + Addr, the endpoint a Tablestore SDK client is given.
	Endpoint string

	instances *instances
	faults    *faultInjector
	// loopbackOnly refuses requests whose Host is not a loopback name (LoopbackHost).
	loopbackOnly bool
	auth         authenticator
	httpServer   *http.Server
	served       chan struct{} // closed when the serving goroutine has returned
	closeOnce    sync.Once

	handlersMu sync.Mutex
	closing    bool           // set by Close: no request is handled after it
	handlers   sync.WaitGroup // requests being handled
}

// Options configures a Server. The zero value is a server that accepts any access key,
// gives each table's Stream one shard and injects no faults.
type Options struct {
	// StreamShards is the number of shards of every table's Stream; rows are spread over
	// them by partition key (the first primary key column), so records keep their order
	// per row. 0 means 1; a negative number makes NewServer fail.
	StreamShards int
	// AccessKeyID and AccessKeySecret, when both are set, switch on strict mode: every
	// request must carry this access key and a valid signature (403 OTSAuthFailed
	// otherwise), and responses are signed with this secret.
	AccessKeyID     string
	AccessKeySecret string
	// Faults injects errors, latency and dropped connections; the zero value injects none.
	Faults Faults
	// AllowAnyHost serves requests whatever their Host header. Without it, a server
	// listening on a loopback address serves only requests whose Host is a loopback name
	// ([LoopbackHost]) and refuses others with 403 OTSAuthFailed; one listening on another
	// address serves any Host.
	AllowAnyHost bool
	// DataDir, when set, is the directory that keeps the server's state: created when it
	// does not exist, loaded when it holds a state, refused when it holds anything else or
	// another server has it. Every write is written to it before it is answered, so what
	// was answered survives the process being killed. Empty keeps the state in memory only.
	DataDir string
	// SyncWrites, with DataDir, syncs every write to the disk (fdatasync) before it is
	// answered, so that what was answered survives a crash of the operating system or a
	// power loss too, at the cost of a disk sync per request (concurrent requests share
	// one).
	SyncWrites bool
}

// NewServer starts a Tablestore server listening on addr, a TCP host:port
// ("127.0.0.1:0" picks a free port), configured by opts. It serves until Close. The
// error is the listener's, e.g. when the address is in use, names an invalid option, or
// says why the data directory cannot be used (errors.Is(err, ErrDataDirInUse) when
// another server has it).
func NewServer(addr string, opts Options) (*Server, error) {
	return newServer(addr, opts, time.Now)
}

// newServer starts a server whose store reads the time from clock.
func newServer(addr string, opts Options, clock func() time.Time) (*Server, error) {
	faults, err := newFaultInjector(opts.Faults)
	if err != nil {
		return nil, err
	}
	streamShards, err := streamShardCount(opts.StreamShards)
	if err != nil {
		return nil, err
	}
	in := newInstances(clock, faults, streamShards)
	if opts.DataDir != "" {
		if err := in.openDataDir(opts.DataDir, opts.SyncWrites); err != nil {
			return nil, err
		}
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		in.close()
		return nil, err
	}
	s := &Server{
		Addr:      listener.Addr().String(),
		Endpoint:  "http://" + listener.Addr().String(),
		instances: in,
		faults:    faults,
		auth:      newAuthenticator(opts),
		served:    make(chan struct{}),
	}
	if addr, ok := listener.Addr().(*net.TCPAddr); ok && addr.IP.IsLoopback() {
		s.loopbackOnly = !opts.AllowAnyHost
	}
	s.httpServer = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.httpServer.Serve(listener) // always http.ErrServerClosed once Close runs
	}()
	return s, nil
}

// Close stops listening, closes every connection at once (a request in progress gets a
// broken connection, which the SDKs treat as a network error) and waits for the serving
// goroutine and the requests in progress to end. Without a data directory the tables are
// discarded; with one, everything written is on disk and the directory is let go. Calling
// Close more than once is harmless.
//
// It does not wait for idle connections as http.Server.Shutdown would: Shutdown counts a
// connection that has not sent a request yet as busy for up to 5 s (golang/go#22682), which
// clients racing for a connection leave behind.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.httpServer.Close() // the only error is the listener's, already closed
		<-s.served
		s.handlersMu.Lock()
		s.closing = true
		s.handlersMu.Unlock()
		s.handlers.Wait()
		s.instances.close()
	})
}

// operation runs one action on a request body in the store of the request's instance and
// returns the response message; a nil message is answered with an empty body.
type operation func(st *store, body []byte) (proto.Message, error)

// operations maps each implemented action to its operation. Actions are the URIs of the
// Go SDK (tablestore/api.go).
var operations = map[string]operation{
	"CreateTable":   protoOperation((*store).createTable),
	"DeleteTable":   protoOperation((*store).deleteTable),
	"ListTable":     protoOperation((*store).listTable),
	"DescribeTable": protoOperation((*store).describeTable),
	"PutRow":        protoOperation((*store).putRow),
	"GetRow":        protoOperation((*store).getRow),
	"UpdateRow":     protoOperation((*store).updateRow),
	"DeleteRow":     protoOperation((*store).deleteRow),
	"BatchGetRow":   protoOperation((*store).batchGetRow),
	"BatchWriteRow": protoOperation((*store).batchWriteRow),
	"GetRange":      protoOperation((*store).getRange),

	"UpdateTable":      protoOperation((*store).updateTable),
	"ListStream":       protoOperation((*store).listStream),
	"DescribeStream":   protoOperation((*store).describeStream),
	"GetShardIterator": protoOperation((*store).getShardIterator),
	"GetStreamRecord":  protoOperation((*store).getStreamRecord),

	"ComputeSplitPointsBySize": protoOperation((*store).computeSplitPointsBySize),
}

// protoOperation decodes the body into the action's request message before running it.
// A body that is not a valid message (including one missing a required field) is
// 400 OTSParameterInvalid.
func protoOperation[R any, PR interface {
	*R
	proto.Message
}](run func(*store, PR) (proto.Message, error)) operation {
	return func(st *store, body []byte) (proto.Message, error) {
		req := PR(new(R))
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, errUndecodableRequest
		}
		return run(st, req)
	}
}

// serveHTTP routes "POST /<Action>" on the last path segment, so an endpoint configured
// with a trailing slash ("//PutRow") works too. A Host a loopback server does not serve is
// refused first, before faults and latency.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		dropConnection(w)
		return
	}
	defer s.handlers.Done()
	action := path.Base(path.Clean("/" + r.URL.Path))
	var body []byte
	var err error
	if s.loopbackOnly && !LoopbackHost(r.Host) {
		err = hostRefused(r.Host)
	} else {
		body, err = s.faults.inject(r.Context(), action, func() ([]byte, error) { return s.handle(action, r) })
	}
	if err == errDropConnection {
		dropConnection(w)
		return
	}
	if err != nil {
		oe := asOTSError(err)
		body, _ = proto.Marshal(&otsprotocol.Error{Code: proto.String(oe.code), Message: proto.String(oe.message)})
		writeResponse(w, r, action, oe.httpStatus, body, s.auth.responseSecret())
		return
	}
	writeResponse(w, r, action, http.StatusOK, body, s.auth.responseSecret())
}

// enter counts a request as being handled, unless Close has begun.
func (s *Server) enter() bool {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

// instanceNameHeader names the instance a request is for; every SDK sends it (Go SDK
// tablestore/ots_header.go, Node.js SDK lib/client.js).
const instanceNameHeader = "x-ots-instancename"

// errMissingInstanceName answers a request that names no instance, with the service's
// message for a missing header (Tablestore error codes, "HTTP message errors").
var errMissingInstanceName = parameterInvalid("Missing header: %s.", instanceNameHeader)

// handle answers one request: the action's response body, or the error to answer.
func (s *Server) handle(action string, r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, errMethodNotAllowed
	}
	op, ok := operations[action]
	if !ok {
		return nil, unsupported(action)
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if err := s.auth.verify(r, action, body, s.instances.now()); err != nil {
		return nil, err
	}
	instance := r.Header.Get(instanceNameHeader)
	if instance == "" {
		return nil, errMissingInstanceName
	}
	st := s.instances.store(instance)
	resp, err := op(st, body)
	// Nothing is answered before what it shows is durable: a write's own changes, and
	// a read's or a failed write's view of others'.
	if durableErr := st.journal.wait(); durableErr != nil {
		return nil, durableErr
	}
	if err != nil || resp == nil {
		return nil, err
	}
	return proto.Marshal(resp)
}

// readBody reads at most maxRequestBodyBytes; a larger body is 413 OTSRequestBodyTooLarge.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxRequestBodyBytes {
		return nil, errRequestBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBodyBytes+1))
	if err != nil {
		return nil, parameterInvalid("Cannot read the request body.")
	}
	if len(body) > maxRequestBodyBytes {
		return nil, errRequestBodyTooLarge
	}
	return body, nil
}

// writeResponse sends the body with the headers the service puts on every response,
// errors included, signed with secret (signResponse). The Java and Python SDKs check
// them.
func writeResponse(w http.ResponseWriter, r *http.Request, action string, status int, body []byte, secret string) {
	sum := md5.Sum(body)
	w.Header().Set("x-ots-requestid", newRequestID())
	w.Header().Set("x-ots-contentmd5", base64.StdEncoding.EncodeToString(sum[:]))
	w.Header().Set("x-ots-date", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"))
	w.Header().Set("x-ots-contenttype", "protocol buffer")
	signResponse(w.Header(), action, r.Header.Get("x-ots-accesskeyid"), secret)
	w.WriteHeader(status)
	_, _ = w.Write(body) // an error here means the client went away; nobody is left to tell
}

// newRequestID returns a fresh request id shaped like the service's
// ("0005ae78-8a0d-52c0-e6c1-720b05604f7b").
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
