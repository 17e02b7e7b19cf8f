package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otsetl/otsetl/ots"
)

// FuzzJSONString: whatever the text, appendJSONString writes one valid JSON string, which
// encoding/json reads back as the text itself when the text is valid UTF-8.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \back\`, "\x00\x01\x1f\x7f", "line\r\nbreak\t", "héllo 世界", "\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString([]byte("x"), s)
		if b[0] != 'x' {
			t.Fatalf("the bytes before were changed: %q", b)
		}
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil {
			t.Fatalf("%q is not a JSON string: %v", b[1:], err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q reads back as %q, want %q", b[1:], got, s)
		}
		if !utf8.ValidString(s) && got != strings.ToValidUTF8(s, "\ufffd") && !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q became %q", s, got)
		}
	})
}

// FuzzCSVField: appendCSVField writes one RFC 4180 field, which encoding/csv reads back as
// the text itself (but for a CR before an LF, which encoding/csv drops even inside quotes),
// and which is quoted exactly when encoding/csv's Writer quotes it.
func FuzzCSVField(f *testing.F) {
	for _, s := range []string{"", "plain", `a,"b"`, " leading", "\tleading", "line\nbreak", `\.`, `\N`, `"`, "é,世"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // encoding/csv reads UTF-8 only
		}
		line := append(appendCSVField(nil, s), ",end\n"...)
		records, err := csv.NewReader(bytes.NewReader(line)).ReadAll()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if want := strings.ReplaceAll(s, "\r\n", "\n"); len(records) != 1 || len(records[0]) != 2 || records[0][0] != want || records[0][1] != "end" {
			t.Fatalf("%q reads back as %q, want %q", line, records, want)
		}
		var written bytes.Buffer
		w := csv.NewWriter(&written)
		_ = w.Write([]string{s})
		w.Flush()
		if quoted := bytes.HasPrefix(written.Bytes(), []byte(`"`)); quoted != csvNeedsQuotes(s) {
			t.Fatalf("%q: encoding/csv quotes it: %v, appendCSVField: %v", s, quoted, csvNeedsQuotes(s))
		}
	})
}

// FuzzDouble: appendDouble writes every DOUBLE so that it reads back bit for bit (any NaN as
// NaN), with a fraction or an exponent so that it reads as a DOUBLE, and appendJSONValue
// writes it as valid JSON: a number, or a string for NaN and the infinities.
func FuzzDouble(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 2, 0.1, 1e21, 1e20, 1e-6, 1e-7, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN()} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		text := string(appendDouble(nil, v))
		got, err := strconv.ParseFloat(text, 64)
		switch {
		case err != nil:
			t.Fatalf("%v: %q: %v", v, text, err)
		case math.IsNaN(v) && !math.IsNaN(got), !math.IsNaN(v) && math.Float64bits(got) != bits:
			t.Fatalf("%v (%#x) reads back as %v (%#x) from %q", v, bits, got, math.Float64bits(got), text)
		case !math.IsNaN(v) && !math.IsInf(v, 0) && !strings.ContainsAny(text, ".e"):
			t.Fatalf("%q has neither a fraction nor an exponent", text)
		}
		if j := appendJSONValue(nil, ots.Double(v)); !json.Valid(j) {
			t.Fatalf("%v: %s is not JSON", v, j)
		}
	})
}
