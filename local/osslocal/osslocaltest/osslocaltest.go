// Package osslocaltest starts osslocal servers for tests, as net/http/httptest does HTTP
// servers: each test gets a server of its own on a loopback port, keeping its objects in a
// temporary folder, with the bucket [Bucket]; the server stops when the test ends.
//
//	srv := osslocaltest.NewServer(t, osslocal.Options{})
//	objects := srv.List(t, osslocaltest.Bucket, "exports/")
package osslocaltest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/otsetl/otsetl/local/osslocal"
)

// Bucket is the bucket every server of this package has; Region the region its clients sign
// for (osslocal takes any).
const (
	Bucket = "otsetl-test"
	Region = "cn-hangzhou"
)

// Server is an osslocal server that stops when its test ends.
type Server struct {
	*osslocal.Server
	// SDK is a client of the official OSS Go SDK v2 for the server, with the SDK's default
	// retries.
	SDK *oss.Client
}

// Object is one listed object.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// NewServer starts an osslocal server on 127.0.0.1 with opts, in tb's temporary folder unless
// opts.Dir is set, with Bucket and the buckets opts names, and closes it when tb ends. Any
// failure fails tb.
func NewServer(tb testing.TB, opts osslocal.Options) *Server {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	opts.Buckets = append(opts.Buckets, Bucket)
	srv, err := osslocal.NewServer("127.0.0.1:0", opts)
	if err != nil {
		tb.Fatalf("osslocaltest: starting osslocal: %v", err)
	}
	tb.Cleanup(srv.Close)
	return &Server{Server: srv, SDK: Client(srv.Endpoint)}
}

// Client returns an OSS SDK client of the osslocal at endpoint, signing for Region with a
// made-up access key.
func Client(endpoint string) *oss.Client {
	return oss.NewClient(oss.NewConfig().
		WithRegion(Region).
		WithEndpoint(endpoint).
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider("osslocaltest-key", "osslocaltest-secret")))
}

// List lists the objects of bucket under prefix, in name order, page by page
// (ListObjectsV2), failing tb on an error.
func (s *Server) List(tb testing.TB, bucket, prefix string) []Object {
	tb.Helper()
	var objects []Object
	pages := s.SDK.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), Prefix: oss.Ptr(prefix)})
	for pages.HasNext() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			tb.Fatalf("osslocaltest: listing oss://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			objects = append(objects, Object{Key: oss.ToString(o.Key), Size: o.Size, LastModified: oss.ToTime(o.LastModified)})
		}
	}
	return objects
}

// Get reads the object key of bucket (GetObject), failing tb on an error.
func (s *Server) Get(tb testing.TB, bucket, key string) []byte {
	tb.Helper()
	res, err := s.SDK.GetObject(context.Background(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		tb.Fatalf("osslocaltest: reading oss://%s/%s: %v", bucket, key, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("osslocaltest: reading oss://%s/%s: %v", bucket, key, err)
	}
	return body
}
