package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// ObjectName is the name of the object of a batch: PREFIX<table>/dt=YYYY-MM-DD/hh=HH/
// <recordTime>-<hash>.<ext>, where dt and hh are the UTC date and hour of recordTime, the
// first record's Info.Timestamp (µs since the Unix epoch; 16 digits, zero-padded, so that
// names sort by it), hash is the first 16 hexadecimal digits of the SHA-256 of the payload,
// and ext is [Extension]'s. The name depends on the batch alone: a batch delivered again
// gets the same name, and its object replaces itself. The partitions are Hive's, which
// MaxCompute, Spark and DuckDB read as columns dt and hh.
func ObjectName(prefix, table string, recordTime int64, payload []byte, ext string) string {
	at := time.UnixMicro(recordTime).UTC()
	sum := sha256.Sum256(payload)
	b := make([]byte, 0, len(prefix)+len(table)+64)
	b = append(append(b, prefix...), table...)
	b = at.AppendFormat(append(b, "/dt="...), "2006-01-02")
	b = at.AppendFormat(append(b, "/hh="...), "15")
	b = append(b, '/')
	digits := strconv.AppendInt(nil, recordTime, 10)
	for range 16 - len(digits) {
		b = append(b, '0')
	}
	b = append(append(b, digits...), '-')
	b = hex.AppendEncode(b, sum[:8])
	return string(append(append(b, '.'), ext...))
}

// Extension is the file name extension of an object: "jsonl" or "csv", followed by ".gz"
// when compressed.
func Extension(fileFormat FileFormat, compression Compression) string {
	if compression == Gzip {
		return string(fileFormat) + ".gz"
	}
	return string(fileFormat)
}

// contentType is the Content-Type an object is stored with.
func contentType(fileFormat FileFormat, compression Compression) string {
	switch {
	case compression == Gzip:
		return "application/gzip"
	case fileFormat == CSV:
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// partBuffers keeps part buffers between the exports of a warm instance.
var partBuffers = sync.Pool{New: func() any { return new([]byte) }}

// objectWriter writes one object as its bytes come: it holds up to one part (partSize
// bytes, and the last write beyond them), sends a full part as an UploadPart of a multipart
// upload (started with the first full part), and at Close sends what it holds as one
// PutObject when no part was sent, or as the last part before CompleteMultipartUpload. So an
// object of any size holds at most one part in memory. Every request's body is a
// bytes.Reader, which the SDK can send again when it retries.
type objectWriter struct {
	ctx         context.Context
	client      *oss.Client
	bucket, key string
	contentType string
	partSize    int
	part        *[]byte
	uploadID    string
	parts       []oss.UploadPart
	size        int64
	err         error // the first failure; every later call returns it
}

// newObjectWriter starts the object key of bucket; nothing is sent before a part is full.
func newObjectWriter(ctx context.Context, client *oss.Client, bucket, key, contentType string, partSize int) *objectWriter {
	part := partBuffers.Get().(*[]byte)
	*part = (*part)[:0]
	return &objectWriter{ctx: ctx, client: client, bucket: bucket, key: key, contentType: contentType, partSize: partSize, part: part}
}

// Write appends p, and sends a part once partSize bytes are held.
func (w *objectWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	*w.part = append(*w.part, p...)
	w.size += int64(len(p))
	if len(*w.part) >= w.partSize {
		if err := w.uploadPart(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// uploadPart sends what is held as the next part, starting the multipart upload first.
func (w *objectWriter) uploadPart() error {
	if w.uploadID == "" {
		res, err := w.client.InitiateMultipartUpload(w.ctx, &oss.InitiateMultipartUploadRequest{
			Bucket: &w.bucket, Key: &w.key, ContentType: &w.contentType,
		})
		if err != nil {
			return w.fail("InitiateMultipartUpload", err)
		}
		w.uploadID = oss.ToString(res.UploadId)
	}
	number := int32(len(w.parts) + 1)
	res, err := w.client.UploadPart(w.ctx, &oss.UploadPartRequest{
		Bucket: &w.bucket, Key: &w.key, UploadId: &w.uploadID, PartNumber: number, Body: bytes.NewReader(*w.part),
	})
	if err != nil {
		return w.fail(fmt.Sprintf("UploadPart %d", number), err)
	}
	w.parts = append(w.parts, oss.UploadPart{PartNumber: number, ETag: res.ETag})
	*w.part = (*w.part)[:0]
	return nil
}

// Close sends the object's last bytes: a PutObject of the whole object, or its last part
// and CompleteMultipartUpload. After a failure it aborts the multipart upload, if one was
// started, so that its parts are not kept. The part buffer goes back to the pool.
func (w *objectWriter) Close() error {
	defer w.release()
	if w.err != nil {
		w.abort()
		return w.err
	}
	if w.uploadID == "" {
		_, err := w.client.PutObject(w.ctx, &oss.PutObjectRequest{
			Bucket: &w.bucket, Key: &w.key, ContentType: &w.contentType, Body: bytes.NewReader(*w.part),
		})
		if err != nil {
			return w.fail("PutObject", err)
		}
		return nil
	}
	if len(*w.part) > 0 {
		if err := w.uploadPart(); err != nil {
			w.abort()
			return err
		}
	}
	_, err := w.client.CompleteMultipartUpload(w.ctx, &oss.CompleteMultipartUploadRequest{
		Bucket: &w.bucket, Key: &w.key, UploadId: &w.uploadID,
		CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		err = w.fail("CompleteMultipartUpload", err)
		w.abort()
		return err
	}
	return nil
}

// Abort gives up the object: nothing more is sent but the abort of a multipart upload.
// The part buffer goes back to the pool.
func (w *objectWriter) Abort() {
	defer w.release()
	if w.err == nil {
		w.err = errors.New("export: the object was abandoned")
	}
	w.abort()
}

// abortTimeout bounds the AbortMultipartUpload after a failure, which may come when the
// invocation's own time is up.
const abortTimeout = time.Second

// abort aborts the multipart upload, if one was started, at best: the failure it follows is
// what the invocation reports, and a lifecycle rule removes the parts of an upload that was
// neither completed nor aborted (docs/exports.md).
func (w *objectWriter) abort() {
	if w.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	_, _ = w.client.AbortMultipartUpload(ctx, &oss.AbortMultipartUploadRequest{Bucket: &w.bucket, Key: &w.key, UploadId: &w.uploadID})
	w.uploadID = ""
}

// fail records the failure of a request named op and returns it.
func (w *objectWriter) fail(op string, err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("export: %s oss://%s/%s: %w", op, w.bucket, w.key, err)
	}
	return w.err
}

// release hands the part buffer back to the pool, once.
func (w *objectWriter) release() {
	if w.part != nil {
		partBuffers.Put(w.part)
		w.part = nil
	}
}
