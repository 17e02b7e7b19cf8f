package export

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// Sink writes batches to OSS as objects. Build it once with [New]; it is safe for
// concurrent use, and signs each export's requests with the credentials that export is given.
type Sink struct {
	cfg    Config
	client *oss.Client
}

// Result is what one export wrote.
type Result struct {
	// Object is the object written, "oss://bucket/key"; empty when the batch had no records
	// and nothing was written.
	Object string
	// Lines counts the lines written, the CSV header not included.
	Lines int
	// Bytes is the object's size, compressed when it is.
	Bytes int64
	// Requests counts the HTTP requests sent to OSS, the SDK's retries included.
	Requests int
}

// New checks cfg ([Config.Check]) and builds the sink's OSS client: the SDK's, with its
// standard retries (three attempts for a request that failed with a 5xx, a timeout or a
// broken connection), connections shared by every export, and credentials taken from each
// export's context, never from the process's environment. Each attempt of a request is
// bounded as a whole by cfg.RequestTimeout and by a third of the time left before the
// context's deadline, so that a request that stalls is tried again within the invocation.
// It sends nothing.
func New(cfg Config) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	ossConfig := oss.NewConfig().
		WithRegion(cfg.Region).
		WithEndpoint(cfg.Endpoint).
		WithCredentialsProvider(credentials.CredentialsProviderFunc(exportCredentials)).
		WithConnectTimeout(connectTimeout).
		WithReadWriteTimeout(cfg.RequestTimeout)
	client := oss.NewClient(ossConfig, func(o *oss.Options) {
		o.HttpClient = attemptClient{next: o.HttpClient, timeout: cfg.RequestTimeout}
	})
	return &Sink{cfg: cfg, client: client}, nil
}

// Config returns the sink's configuration, defaults filled in.
func (s *Sink) Config() Config { return s.cfg }

// ExportChanges writes ev, whose raw bytes are payload, as its `changes` object (see
// [ObjectName]): every cell change of every record, the filter not applied. An event
// without records writes nothing. The error is an OSS request's that failed for good (the
// SDK's retries exhausted, or ctx ended), or a [*RecordError]; a multipart upload that
// fails is aborted.
func (s *Sink) ExportChanges(ctx context.Context, creds aliyun.Credentials, ev *events.Event, payload []byte) (Result, error) {
	return s.export(ctx, creds, ev, payload, func(e *lineEncoder, emitted func() error) error {
		return forEachChange(ev, func(c *change) error {
			if err := e.change(c); err != nil {
				return err
			}
			return emitted()
		})
	})
}

// ExportRows writes the `rows` object of ev: one line per row change of changes, the
// function's decisions for the result table as the writer gets them (puts, deletes and
// updates-if-exists, after the source reads), changes[i] being the decision for muts[i], the
// plan's mutation whose Records give the line's recordIndex and recordTime. An event without
// records writes nothing; an event whose plan has no mutation gets its object all the same,
// empty (or, in CSV, its header alone), so that every batch accepted has its object. Errors
// as ExportChanges; a row change not decided (no Kind) is refused and nothing is written.
func (s *Sink) ExportRows(ctx context.Context, creds aliyun.Credentials, ev *events.Event, payload []byte, muts []transform.Mutation, changes []ots.RowChange) (Result, error) {
	return s.export(ctx, creds, ev, payload, func(e *lineEncoder, emitted func() error) error {
		return forEachRow(ev, muts, changes, func(r *rowChange) error {
			if err := e.row(r); err != nil {
				return err
			}
			return emitted()
		})
	})
}

// flushBytes is how many encoded bytes gather before they go to the object (through gzip
// when compressed).
const flushBytes = 64 << 10

// lineBuffers keeps the encoders' line buffers between exports.
var lineBuffers = sync.Pool{New: func() any { return new([]byte) }}

// gzipWriters keeps gzip writers, whose compressor state is large, between exports.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// export writes ev's object with the lines write appends; write calls emitted after each
// line.
func (s *Sink) export(ctx context.Context, creds aliyun.Credentials, ev *events.Event, payload []byte, write func(e *lineEncoder, emitted func() error) error) (Result, error) {
	if len(ev.Records) == 0 {
		return Result{}, nil
	}
	key := ObjectName(s.cfg.Prefix, s.cfg.SourceTable, ev.Records[0].Info.Timestamp, payload, Extension(s.cfg.FileFormat, s.cfg.Compression))
	inv := &invocation{creds: creds}
	ctx = context.WithValue(ctx, invocationKey{}, inv)
	object := newObjectWriter(ctx, s.client, s.cfg.Bucket, key, contentType(s.cfg.FileFormat, s.cfg.Compression), s.cfg.PartSize)
	var out io.Writer = object
	var gz *gzip.Writer
	if s.cfg.Compression == Gzip {
		gz = gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(gz)
		gz.Reset(object)
		out = gz
	}
	buf := lineBuffers.Get().(*[]byte)
	defer lineBuffers.Put(buf)
	e := newLineEncoder(s.cfg, (*buf)[:0])
	lines := 0
	flush := func() error {
		_, err := out.Write(e.buf)
		e.buf = e.buf[:0]
		return err
	}
	err := write(e, func() error {
		lines++
		if len(e.buf) < flushBytes {
			return nil
		}
		return flush()
	})
	if err == nil {
		e.header(ev.Records[0].PrimaryKey) // a batch without lines gets an object of its header alone
		err = flush()
	}
	*buf = e.buf[:0]
	if err == nil && gz != nil {
		err = gz.Close()
	}
	result := Result{Object: "oss://" + s.cfg.Bucket + "/" + key, Lines: lines, Bytes: object.size}
	if err != nil {
		object.Abort()
	} else {
		err = object.Close()
	}
	result.Requests = int(inv.requests.Load())
	if err != nil {
		var recordErr *RecordError
		if !errors.As(err, &recordErr) && object.err == nil {
			err = object.fail("writing", err)
		}
		return result, err
	}
	return result, nil
}

// invocation is what an export's context carries for its OSS requests: the credentials that
// sign them, and the count of requests sent.
type invocation struct {
	creds    aliyun.Credentials
	requests atomic.Int64
}

// invocationKey is the context key of an export's *invocation.
type invocationKey struct{}

// exportCredentials gives the SDK the credentials of the export whose request it signs.
func exportCredentials(ctx context.Context) (credentials.Credentials, error) {
	inv, ok := ctx.Value(invocationKey{}).(*invocation)
	if !ok || inv.creds.AccessKeyID == "" || inv.creds.AccessKeySecret == "" {
		return credentials.Credentials{}, errors.New("export: the request carries no invocation credentials")
	}
	return credentials.Credentials{
		AccessKeyID: inv.creds.AccessKeyID, AccessKeySecret: inv.creds.AccessKeySecret, SecurityToken: inv.creds.SecurityToken,
	}, nil
}

// attemptClient sends each attempt of the SDK's requests under its own timeout, and counts
// them into their export's invocation.
type attemptClient struct {
	next    oss.HTTPClient
	timeout time.Duration
}

// Do sends req, bounded by the timeout and by a third of the time left before the deadline
// of req's context; the bound ends when the response's body is closed. An attempt that
// times out fails with a timeout, which the SDK retries while its context lasts.
func (c attemptClient) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if inv, ok := ctx.Value(invocationKey{}).(*invocation); ok {
		inv.requests.Add(1)
	}
	timeout := c.timeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline)/3)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req = req.WithContext(ctx)
	if req.ContentLength == 0 {
		// An empty body (every body this client sends has a known length) goes with
		// Content-Length: 0, which OSS requires, rather than as chunks, which net/http
		// sends for a zero length with a body that is not http.NoBody.
		req.Body = http.NoBody
	}
	resp, err := c.next.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose is a response body that ends its attempt's timeout when closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body and ends the timeout.
func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
