// Package osslocal is a local Object Storage Service (OSS) server for the function's export
// and its tests: the OSS Go SDK v2 (github.com/aliyun/alibabacloud-oss-go-sdk-v2) talks to it
// unchanged, with path-style addressing, which the SDK uses for an IP endpoint.
//
// It is modelled on net/http/httptest and on otslocal: [NewServer] starts it, Endpoint is
// what an SDK client is given, Close stops it. The S3-style API that OSS shares (PutObject,
// GetObject, HeadObject, DeleteObject, ListObjects and ListObjectsV2, the multipart upload
// calls) is served by github.com/johannesboyne/gofakes3 over its filesystem backend
// (backend/s3afero), so that every object is a plain file, Dir/<bucket>/<key>, which any
// tool can read (the backend keeps each object's content type and ETag in a hidden folder,
// Dir/.osslocal-metadata; a file copied into Dir by hand is not an object). osslocal adds
// what the export's tests need around it:
//
//   - a PutObject is written only once its whole body has arrived, as OSS's is: a request
//     cut off halfway leaves no object, nor a truncated one;
//   - faults ([Faults]): latency, 500 InternalError answers, requests held without an
//     answer until the client gives up (a timeout), and answers lost after the request was
//     applied;
//   - every answer carries an x-oss-request-id, which the SDK's errors quote.
//
// It does not check signatures, credentials or the STS token (the SDK signs as for OSS; no
// access key is refused), and it does not implement AppendObject, ACLs, versioning or
// object tagging. An object name with an empty, "." or ".." segment, or ending in "/", is
// refused with 400 InvalidObjectName: a file system cannot hold it as OSS does.
//
// It serves this machine only: a request whose Host is not a loopback address or
// "localhost" (DNS rebinding), or that a browser sends from a web page (it carries an
// Origin header), is refused with 403 AccessDenied, so that no web page can read or write
// the objects.
package osslocal

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// Server is a running local OSS. Create it with NewServer and stop it with Close. It is safe
// for concurrent use.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string
	// Endpoint is "http://" + Addr, the endpoint an OSS SDK client is given.
	Endpoint string
	// Dir holds the objects: bucket b's object k is the file Dir/b/k.
	Dir string

	faults     *faultInjector
	requests   atomic.Int64
	httpServer *http.Server
	served     chan struct{}
	closeOnce  sync.Once
}

// Options configures a Server.
type Options struct {
	// Dir is the folder that holds the buckets, one folder each, created when missing.
	// Required: a test passes t.TempDir(), `otsetl local` its --oss-dir.
	Dir string
	// Buckets are created when missing; a bucket must exist before objects are put in it,
	// as on OSS.
	Buckets []string
	// Faults injects errors, timeouts, lost answers and latency; the zero value none.
	Faults Faults
}

// NewServer starts an OSS server listening on addr, a TCP host:port ("127.0.0.1:0" picks a
// free port), keeping its buckets in opts.Dir. It serves until Close. The error names an
// invalid option, a bucket that cannot be created, or the listener's failure.
func NewServer(addr string, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("osslocal: Options.Dir is required: the folder that holds the objects")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("osslocal: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("osslocal: %w", err)
	}
	faults, err := newFaultInjector(opts.Faults)
	if err != nil {
		return nil, err
	}
	b, err := newBackend(dir)
	if err != nil {
		return nil, err
	}
	for _, bucket := range opts.Buckets {
		if err := b.ensureBucket(bucket); err != nil {
			return nil, err
		}
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("osslocal: %w", err)
	}
	s := &Server{
		Addr:     listener.Addr().String(),
		Endpoint: "http://" + listener.Addr().String(),
		Dir:      dir,
		faults:   faults,
		served:   make(chan struct{}),
	}
	api := gofakes3.New(b,
		gofakes3.WithoutVersioning(),
		gofakes3.WithLogger(gofakes3.DiscardLog()),
		// OSS checks the request time itself; a local server need not refuse a skewed
		// clock.
		gofakes3.WithTimeSkewLimit(0),
	)
	s.httpServer = &http.Server{Handler: s.handler(api.Server()), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slogErrorLog()}
	go func() {
		defer close(s.served)
		_ = s.httpServer.Serve(listener) // http.ErrServerClosed once Close runs
	}()
	return s, nil
}

// Close stops the server: it closes the listener and every connection, and returns once
// the server has stopped. Objects stay in Dir. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.httpServer.Close()
		<-s.served
	})
}

// SetFaults replaces the faults the server injects, from the next request on, and restarts
// the random source from f.Seed. An invalid f is an error and changes nothing. It is safe to
// call while requests are served.
func (s *Server) SetFaults(f Faults) error {
	return s.faults.set(f)
}

// Requests counts the requests the server has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// handler serves api behind the server's own checks and faults.
func (s *Server) handler(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		id := newRequestID()
		w.Header().Set("x-oss-request-id", id)
		switch {
		case !loopbackHost(r.Host):
			writeError(w, http.StatusForbidden, "AccessDenied", fmt.Sprintf("Host %q is not a loopback address; osslocal serves 127.0.0.1, [::1] and localhost only", r.Host), id)
			return
		case r.Header.Get("Origin") != "" || r.Method == http.MethodOptions:
			writeError(w, http.StatusForbidden, "AccessDenied", "osslocal serves no web page's request (Origin or OPTIONS)", id)
			return
		}
		if err := checkObjectName(r.URL.Path); err != nil {
			writeError(w, http.StatusBadRequest, "InvalidObjectName", err.Error(), id)
			return
		}
		s.faults.serve(w, r, operationOf(r), id, api)
	})
}

// checkObjectName refuses an object name the file system cannot hold as OSS does.
func checkObjectName(path string) error {
	_, key, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || key == "" {
		return nil // the service or a bucket
	}
	if strings.HasSuffix(key, "/") {
		return fmt.Errorf("object name %q ends in /: osslocal keeps objects as files and holds no folder objects", key)
	}
	for _, segment := range strings.Split(key, "/") {
		if segment == "" || segment == "." || segment == ".." {
			return fmt.Errorf("object name %q holds an empty, . or .. segment, which osslocal cannot keep as a file", key)
		}
	}
	return nil
}

// operationOf names the OSS operation of a request, as the faults do: PutObject,
// InitiateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
// DeleteObject, GetObject, HeadObject, ListObjects or "Bucket" for other requests.
func operationOf(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	_, uploads := q["uploads"]
	switch {
	case key == "" && r.Method == http.MethodGet:
		return OpListObjects
	case key == "":
		return "Bucket"
	case r.Method == http.MethodPost && uploads:
		return OpInitiateMultipartUpload
	case r.Method == http.MethodPut && q.Get("uploadId") != "":
		return OpUploadPart
	case r.Method == http.MethodPost && q.Get("uploadId") != "":
		return OpCompleteMultipartUpload
	case r.Method == http.MethodDelete && q.Get("uploadId") != "":
		return OpAbortMultipartUpload
	case r.Method == http.MethodPut:
		return OpPutObject
	case r.Method == http.MethodDelete:
		return OpDeleteObject
	case r.Method == http.MethodHead:
		return OpHeadObject
	}
	return OpGetObject
}

// The operations [Faults.Operations] names.
const (
	OpPutObject               = "PutObject"
	OpInitiateMultipartUpload = "InitiateMultipartUpload"
	OpUploadPart              = "UploadPart"
	OpCompleteMultipartUpload = "CompleteMultipartUpload"
	OpAbortMultipartUpload    = "AbortMultipartUpload"
	OpDeleteObject            = "DeleteObject"
	OpGetObject               = "GetObject"
	OpHeadObject              = "HeadObject"
	OpListObjects             = "ListObjects"
)

// WriteOperations are the operations that write an object: what an exporter sends.
var WriteOperations = []string{OpPutObject, OpInitiateMultipartUpload, OpUploadPart, OpCompleteMultipartUpload, OpAbortMultipartUpload}

// writeError answers an OSS error: status, and the XML body OSS sends (Code, Message,
// RequestId, HostId), which the SDK reads into its ServiceError.
func writeError(w http.ResponseWriter, status int, code, message, requestID string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId><HostId>osslocal</HostId></Error>`, code, xmlEscape(message), requestID)
}

// xmlEscape escapes text for an XML element.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// requestIDs numbers the requests of every server, for x-oss-request-id.
var requestIDs atomic.Int64

// newRequestID returns a request id like OSS's: 24 upper-case hexadecimal digits.
func newRequestID() string {
	return fmt.Sprintf("%024X", uint64(time.Now().UnixNano())^uint64(requestIDs.Add(1))<<40)
}

// loopbackHost reports whether a Host header names a loopback address or localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// slogErrorLog sends net/http's own error lines (a handler that aborted a connection on
// purpose, a client gone) to slog's default logger at debug level: they are expected under
// faults.
func slogErrorLog() *log.Logger {
	return slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug)
}

// afs is the file system type of the backend.
type afs = afero.Fs

// backend is gofakes3's filesystem backend with its buckets at the root of dir and a
// PutObject that writes nothing until the whole body has arrived.
type backend struct {
	*s3afero.MultiBucketBackend
	dir string
}

// metadataDir is the folder of dir that holds the backend's metadata of every object
// (content type, ETag): hidden, and not a bucket name, so that no listing shows it.
const metadataDir = ".osslocal-metadata"

// newBackend keeps the buckets in dir and the backend's metadata in dir/metadataDir.
// (s3afero computes a missing ETag from the wrong file system, so metadata must outlive the
// server as the objects do: a file copied into dir by hand is not served.)
func newBackend(dir string) (*backend, error) {
	metadata, err := s3afero.NewBasePathFs(afero.NewOsFs(), filepath.Join(dir, metadataDir), s3afero.FsPathCreateAll)
	if err != nil {
		return nil, fmt.Errorf("osslocal: %w", err)
	}
	multi, err := s3afero.MultiBucket(bucketsAtRoot{afero.NewBasePathFs(afero.NewOsFs(), dir)}, s3afero.MultiWithMetaFs(metadata))
	if err != nil {
		return nil, fmt.Errorf("osslocal: %w", err)
	}
	return &backend{MultiBucketBackend: multi, dir: dir}, nil
}

// ensureBucket creates bucket unless it exists.
func (b *backend) ensureBucket(bucket string) error {
	if err := gofakes3.ValidateBucketName(bucket); err != nil {
		return fmt.Errorf("osslocal: bucket %q: %w", bucket, err)
	}
	exists, err := b.BucketExists(bucket)
	if err != nil {
		return fmt.Errorf("osslocal: bucket %q: %w", bucket, err)
	}
	if exists {
		return nil
	}
	if err := b.CreateBucket(bucket); err != nil {
		return fmt.Errorf("osslocal: creating bucket %q: %w", bucket, err)
	}
	return nil
}

// PutObject reads the whole body into a temporary file before the object is written, so
// that a body cut off, or one whose Content-MD5 does not match, leaves the object as it was.
func (b *backend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	spool, err := os.CreateTemp("", "osslocal-put-*")
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	n, err := io.Copy(spool, input)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	if n != size {
		return gofakes3.PutObjectResult{}, gofakes3.ErrIncompleteBody
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	return b.MultiBucketBackend.PutObject(bucket, key, meta, spool, size, conditions)
}

// bucketsAtRoot is the file system under the s3afero backend: the backend keeps its buckets
// in a folder "buckets", which this maps to the root, so that an object is the file
// <root>/<bucket>/<key>.
type bucketsAtRoot struct{ afs }

// path maps a name of the backend to the file system's.
func (f bucketsAtRoot) path(name string) string {
	clean := filepath.Clean(name)
	if clean == "buckets" {
		return "."
	}
	if rest, ok := strings.CutPrefix(clean, "buckets"+string(filepath.Separator)); ok {
		return rest
	}
	return name
}

func (f bucketsAtRoot) Create(name string) (afero.File, error) { return f.afs.Create(f.path(name)) }
func (f bucketsAtRoot) Mkdir(name string, perm os.FileMode) error {
	return f.afs.Mkdir(f.path(name), perm)
}
func (f bucketsAtRoot) MkdirAll(name string, perm os.FileMode) error {
	return f.afs.MkdirAll(f.path(name), perm)
}
func (f bucketsAtRoot) Open(name string) (afero.File, error) { return f.afs.Open(f.path(name)) }
func (f bucketsAtRoot) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	return f.afs.OpenFile(f.path(name), flag, perm)
}
func (f bucketsAtRoot) Remove(name string) error    { return f.afs.Remove(f.path(name)) }
func (f bucketsAtRoot) RemoveAll(name string) error { return f.afs.RemoveAll(f.path(name)) }
func (f bucketsAtRoot) Rename(from, to string) error {
	return f.afs.Rename(f.path(from), f.path(to))
}
func (f bucketsAtRoot) Stat(name string) (os.FileInfo, error) { return f.afs.Stat(f.path(name)) }
func (f bucketsAtRoot) Chmod(name string, mode os.FileMode) error {
	return f.afs.Chmod(f.path(name), mode)
}
func (f bucketsAtRoot) Chown(name string, uid, gid int) error {
	return f.afs.Chown(f.path(name), uid, gid)
}
func (f bucketsAtRoot) Chtimes(name string, atime, mtime time.Time) error {
	return f.afs.Chtimes(f.path(name), atime, mtime)
}
