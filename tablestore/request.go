package tablestore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// This file sends the requests whose body the package encodes itself (BatchWriteRow),
// exactly as the Go SDK sends its own (tablestore/api.go doRequest and postReq,
// ots_header.go): the same headers, signed the same way, and the answer turned into the
// same *sdk.OtsError. The tests compare every header and byte with the SDK's requests.

// The headers of a request, in the canonical form net/http sends them in as the Go SDK sets
// them (tablestore/api.go doRequest, ots_header.go), and the response header holding the
// request id.
const (
	headerDate          = "X-Ots-Date"
	headerAPIVersion    = "X-Ots-Apiversion"
	headerAccessKeyID   = "X-Ots-Accesskeyid"
	headerInstanceName  = "X-Ots-Instancename"
	headerContentMD5    = "X-Ots-Contentmd5"
	headerSecurityToken = "X-Ots-Ststoken"
	headerSignature     = "X-Ots-Signature"
	headerRequestID     = "X-Ots-Requestid"
	// sdkUserAgent is the User-Agent of the SDK version in go.mod (tablestore/api.go userAgent).
	sdkUserAgent = "aliyun-tablestore-sdk-golang/4.0.2"
	// sdkDateLayout is the SDK's layout of x-ots-date (tablestore/util.go xOtsDateFormat). Its
	// ".123" is not milliseconds in Go's layout syntax but month, day and hour: the service
	// reads the seconds and accepts the rest, and the requests stay the SDK's own.
	sdkDateLayout = "2006-01-02T15:04:05.123Z"
)

// httpClient sends the package's own requests over sharedTransport, each bounded by
// requestTimeout and by its context.
var httpClient = &http.Client{Transport: sharedTransport, Timeout: requestTimeout}

// responseBuffers holds the buffers answers are read into, so that a warm instance reuses
// them from one invocation to the next.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// requestBuffers holds the buffers (*[]byte) of request bodies nobody reads any more.
var requestBuffers = sync.Pool{New: func() any { return new([]byte) }}

// requestBody is a request body in a buffer of requestBuffers, which goes back there once
// its last reader is closed. net/http may close a request's body after Do returns ("the
// Body may be closed asynchronously after Do returns") and, before it returns, read it
// again through GetBody to send it again; so the buffer is counted, not freed with the
// request.
type requestBody struct {
	buf     *[]byte
	readers atomic.Int32 // the sender's share and each open reader
}

// newRequestBody returns a body whose bytes are fill's appending to an empty buffer. The
// caller holds one share of it, which post releases.
func newRequestBody(fill func([]byte) []byte) *requestBody {
	b := &requestBody{buf: requestBuffers.Get().(*[]byte)}
	*b.buf = fill((*b.buf)[:0])
	b.readers.Store(1)
	return b
}

// bytes returns the body's bytes.
func (b *requestBody) bytes() []byte { return *b.buf }

// reader returns a new reader of the body; closing it releases its share.
func (b *requestBody) reader() io.ReadCloser {
	b.readers.Add(1)
	return &bodyReader{Reader: bytes.NewReader(*b.buf), body: b}
}

// release gives up one share, and the buffer with the last one.
func (b *requestBody) release() {
	if b.readers.Add(-1) == 0 {
		requestBuffers.Put(b.buf)
	}
}

// bodyReader is one reader of a requestBody.
type bodyReader struct {
	*bytes.Reader
	body   *requestBody
	closed atomic.Bool
}

// Close releases the reader's share of the body, once.
func (r *bodyReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.body.release()
	}
	return nil
}

// newRequest builds the signed POST of action (e.g. "BatchWriteRow") with body, stamped
// with date (an x-ots-date value).
//
// Its headers are the Go SDK's: User-Agent, x-ots-date, x-ots-apiversion (2015-12-31),
// x-ots-accesskeyid, x-ots-instancename, x-ots-contentmd5 (base64 of the body's MD5),
// x-ots-ststoken when the credentials carry a token, and x-ots-signature: base64 of the
// HMAC-SHA1, keyed with the AccessKey secret, of "/<action>\nPOST\n\n" followed by
// "name:value\n" for each of those x-ots- headers, by lower-case name in name order
// (Tablestore's request signature; the SDK's ots_header.go signature).
func (c *Client) newRequest(ctx context.Context, action string, body []byte, date string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/"+action, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := md5.Sum(body)
	contentMD5 := base64.StdEncoding.EncodeToString(sum[:])
	signed := [...]struct{ name, value string }{ // in name order, as signed
		{headerAccessKeyID, c.creds.AccessKeyID},
		{headerAPIVersion, sdk.ApiVersion},
		{headerContentMD5, contentMD5},
		{headerDate, date},
		{headerInstanceName, c.instance},
		{headerSecurityToken, c.creds.SecurityToken},
	}
	mac := hmac.New(sha1.New, []byte(c.creds.AccessKeySecret))
	_, _ = io.WriteString(mac, "/"+action+"\nPOST\n\n") // a hash never fails to write
	h := req.Header
	h["User-Agent"] = []string{sdkUserAgent}
	for _, header := range signed {
		if header.value == "" {
			continue // the SDK leaves out an empty token, and signs only what it sends
		}
		h[header.name] = []string{header.value}
		_, _ = io.WriteString(mac, strings.ToLower(header.name)+":"+header.value+"\n")
	}
	h[headerSignature] = []string{base64.StdEncoding.EncodeToString(mac.Sum(nil))}
	return req, nil
}

// post sends body, signed as newRequest signs it and stamped now, and unmarshals a
// successful answer into resp; it releases the caller's share of body. A failed exchange is
// net/http's *url.Error; an answer outside 2xx is an *sdk.OtsError, made from the protobuf
// Error in its body (or, when the body is not one, with code OTSServerUnavailable for a 5xx
// status and OTSClientUnknownError otherwise and the body as message), as the SDK makes it
// (tablestore/api.go postReq); a body that is not resp is an error wrapping the protobuf
// error.
func (c *Client) post(ctx context.Context, action string, body *requestBody, resp proto.Message) error {
	defer body.release()
	req, err := c.newRequest(ctx, action, body.bytes(), time.Now().UTC().Format(sdkDateLayout))
	if err != nil {
		return err
	}
	req.Body = body.reader()
	req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	answer, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer answer.Body.Close()
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer responseBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(answer.Body); err != nil {
		return err
	}
	requestID := answer.Header.Get(headerRequestID)
	if answer.StatusCode < 200 || answer.StatusCode >= 300 {
		var pbErr otsprotocol.Error
		if proto.Unmarshal(buf.Bytes(), &pbErr) != nil {
			code := sdk.OTS_CLIENT_UNKNOWN
			if answer.StatusCode >= 500 && answer.StatusCode < 600 {
				code = sdk.SERVER_UNAVAILABLE
			}
			return &sdk.OtsError{Code: code, Message: buf.String(), RequestId: requestID, HttpStatusCode: answer.StatusCode}
		}
		return &sdk.OtsError{Code: pbErr.GetCode(), Message: pbErr.GetMessage(), RequestId: requestID, HttpStatusCode: answer.StatusCode}
	}
	if err := proto.Unmarshal(buf.Bytes(), resp); err != nil {
		return fmt.Errorf("decode resp failed: %w", err)
	}
	return nil
}
