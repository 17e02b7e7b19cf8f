package console

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// Exports is what the console shows of the function's export (docs/exports.md): the objects
// of a bucket under a prefix, read through the OSS API.
type Exports struct {
	// Client reads the objects (OSS Go SDK v2).
	Client *oss.Client
	// Bucket and Prefix are the export's EXPORT_TO, oss://Bucket/Prefix.
	Bucket, Prefix string
	// Dir, when set, is the folder that holds the bucket's objects as files (the local
	// OSS's), shown so that they can be opened with any tool.
	Dir string
}

// Bounds of what the exports' endpoints read, whatever the objects hold. Both endpoints are
// heavy reads, which take a turn of readSlot as pages of rows do.
const (
	// maxListedObjects is how many objects /api/exports lists: the latest by name (the
	// first record's time). The listing keeps no more than twice as many while it pages
	// through the prefix, so that its memory is bounded whatever the prefix holds (at most
	// 2,000 names of at most 1,023 bytes).
	maxListedObjects = 1000
	// maxHeadLines is how many of an object's first lines /api/exports/object returns.
	maxHeadLines = 20
	// maxHeadBytes bounds the bytes of those lines, after decompression, and
	// maxHeadStoredBytes the bytes read of the object as stored.
	maxHeadBytes       = 64 << 10
	maxHeadStoredBytes = 1 << 20
)

// exportObject is one object of GET /api/exports.
type exportObject struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
}

// noExports says why a console has no exports view.
const noExports = "The function exports nothing: set EXPORT_TO in s.yaml, or run `otsetl local --export`."

// exportsPage serves /exports, whose script fetches the list and an object's first lines.
func (c *Console) exportsPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Exports == nil {
		c.errorPage(w, http.StatusNotFound, "Exports", noExports)
		return
	}
	c.render(w, http.StatusOK, "exports", pageData{Title: "Exports", Exports: c.cfg.Exports})
}

// exportsJSON serves the objects under the export's prefix, newest first (names begin with
// the first record's time), at most maxListedObjects, and how many there are in all.
func (c *Console) exportsJSON(w http.ResponseWriter, r *http.Request) {
	x := c.cfg.Exports
	if x == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": noExports})
		return
	}
	release, ok := c.readSlot(w, r)
	if !ok {
		return
	}
	defer release()
	// ListObjectsV2 lists in ascending order of name: the newest are the last ones listed.
	objects := make([]exportObject, 0, 2*maxListedObjects)
	total := 0
	pages := x.Client.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr(x.Bucket), Prefix: oss.Ptr(x.Prefix)})
	for pages.HasNext() {
		page, err := pages.NextPage(r.Context())
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("listing oss://%s/%s: %v", x.Bucket, x.Prefix, err)})
			return
		}
		for _, o := range page.Contents {
			if len(objects) == cap(objects) { // keep the newest maxListedObjects so far
				objects = append(objects[:0], objects[len(objects)-maxListedObjects:]...)
			}
			objects = append(objects, exportObject{Key: oss.ToString(o.Key), Size: o.Size, LastModified: oss.ToTime(o.LastModified)})
			total++
		}
	}
	slices.SortFunc(objects, func(a, b exportObject) int { return strings.Compare(b.Key, a.Key) })
	objects = objects[:min(len(objects), maxListedObjects)]
	writeJSON(w, http.StatusOK, map[string]any{"bucket": x.Bucket, "prefix": x.Prefix, "dir": x.Dir, "objects": objects, "total": total})
}

// exportObjectJSON serves the first lines of the object ?key= (gunzipped when its name ends
// in ".gz"): at most maxHeadLines lines of at most maxHeadBytes together, read from the
// object's first maxHeadStoredBytes. A key outside the export's prefix is refused.
func (c *Console) exportObjectJSON(w http.ResponseWriter, r *http.Request) {
	x := c.cfg.Exports
	if x == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": noExports})
		return
	}
	key := r.URL.Query().Get("key")
	if !strings.HasPrefix(key, x.Prefix) || key == x.Prefix {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("key %q is not an object under the export's prefix %q", key, x.Prefix)})
		return
	}
	release, ok := c.readSlot(w, r)
	if !ok {
		return
	}
	defer release()
	res, err := x.Client.GetObject(r.Context(), &oss.GetObjectRequest{
		Bucket: oss.Ptr(x.Bucket), Key: oss.Ptr(key), Range: oss.Ptr(fmt.Sprintf("bytes=0-%d", maxHeadStoredBytes-1)),
	})
	if err != nil {
		status := http.StatusBadGateway
		var serviceErr *oss.ServiceError
		if errors.As(err, &serviceErr) && serviceErr.StatusCode == http.StatusNotFound {
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]string{"error": fmt.Sprintf("reading oss://%s/%s: %v", x.Bucket, key, err)})
		return
	}
	defer res.Body.Close()
	stored := io.LimitReader(res.Body, maxHeadStoredBytes)
	var text io.Reader = stored
	if strings.HasSuffix(key, ".gz") {
		gz, err := gzip.NewReader(stored)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("oss://%s/%s is not gzip: %v", x.Bucket, key, err)})
			return
		}
		text = gz
	}
	lines, complete := headLines(text)
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "size": res.ContentLength, "lines": lines, "complete": complete})
}

// headLines reads the first lines of r, at most maxHeadLines of at most maxHeadBytes
// together (the last one cut there), and reports whether they are all r holds. A read that
// fails (a gzip stream cut where the stored bytes end) ends the lines it gave.
func headLines(r io.Reader) ([]string, bool) {
	data, err := io.ReadAll(io.LimitReader(r, maxHeadBytes+1))
	complete := err == nil && len(data) <= maxHeadBytes
	data = data[:min(len(data), maxHeadBytes)]
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > maxHeadLines {
		lines, complete = lines[:maxHeadLines], false
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\n")
	}
	return lines, complete
}
