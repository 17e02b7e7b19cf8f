package events

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
)

// The oracle decodes a CBOR event with fxamacker/cbor into typed wire structs whose members
// are cbor.RawMessage, so that it sees every member as it came (fxamacker/cbor strips tag
// 55799 wherever it decodes a value, and so does Decode), and converts the members with a few
// lines of its own. Decode must accept exactly what it accepts and give the same event.

type oracleEvent struct {
	Version cbor.RawMessage `cbor:"Version"`
	Records cbor.RawMessage `cbor:"Records"`
}

type oracleRecord struct {
	Type       cbor.RawMessage `cbor:"Type"`
	Info       cbor.RawMessage `cbor:"Info"`
	PrimaryKey cbor.RawMessage `cbor:"PrimaryKey"`
	Columns    cbor.RawMessage `cbor:"Columns"`
}

type oracleInfo struct {
	Timestamp cbor.RawMessage `cbor:"Timestamp"`
}

type oraclePrimaryKeyColumn struct {
	ColumnName cbor.RawMessage `cbor:"ColumnName"`
	Value      cbor.RawMessage `cbor:"Value"`
}

type oracleColumn struct {
	Type       cbor.RawMessage `cbor:"Type"`
	ColumnName cbor.RawMessage `cbor:"ColumnName"`
	Value      cbor.RawMessage `cbor:"Value"`
	Timestamp  cbor.RawMessage `cbor:"Timestamp"`
}

// oracleMode is fxamacker/cbor's decoding mode under limits as Decode applies them.
func oracleMode(t testing.TB, limits DecodeOptions) cbor.DecMode {
	t.Helper()
	limits, err := limits.checked()
	require.NoError(t, err)
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		UTF8:              cbor.UTF8RejectInvalid,
		IndefLength:       cbor.IndefLengthAllowed,
		MaxNestedLevels:   limits.MaxNestedLevels,
		MaxArrayElements:  limits.MaxArrayElements,
		MaxMapPairs:       limits.MaxMapPairs,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	require.NoError(t, err)
	return dm
}

// errOracle is the oracle's verdict on content it refuses; only whether it refuses counts.
var errOracle = errors.New("oracle: refused")

// oracle decodes a CBOR event as fxamacker/cbor does into the oracle's wire structs, and
// converts it by the rules Decode documents, Validate included.
func oracle(dm cbor.DecMode, payload []byte) (*Event, error) {
	o := oracleDecoder{dm: dm}
	var w oracleEvent
	o.mapInto(o.strip(payload, false), &w)
	e := &Event{Version: o.text(w.Version, true)}
	for _, raw := range o.array(w.Records, true) {
		var wr oracleRecord
		o.mapInto(raw, &wr)
		r := Record{Type: RecordType(o.text(wr.Type, true))}
		if !o.none(o.strip(wr.Info, false)) {
			var wi oracleInfo
			o.mapInto(wr.Info, &wi)
			if ts := o.integer(wi.Timestamp); ts != nil {
				r.Info.Timestamp = *ts
			}
		}
		for _, raw := range o.array(wr.PrimaryKey, true) {
			var wc oraclePrimaryKeyColumn
			o.mapInto(raw, &wc)
			r.PrimaryKey = append(r.PrimaryKey, ots.PrimaryKeyColumn{ColumnName: o.text(wc.ColumnName, true), Value: o.value(wc.Value)})
		}
		if !o.none(o.strip(wr.Columns, false)) {
			for _, raw := range o.array(wr.Columns, true) {
				var wc oracleColumn
				o.mapInto(raw, &wc)
				r.Columns = append(r.Columns, Column{
					Type: ColumnType(o.text(wc.Type, true)), ColumnName: o.text(wc.ColumnName, true),
					Value: o.value(wc.Value), Timestamp: o.integer(wc.Timestamp),
				})
			}
		}
		e.Records = append(e.Records, r)
	}
	if o.err != nil {
		return nil, o.err
	}
	return e, e.Validate()
}

// oracleDecoder keeps the first error of a conversion; after it every step gives zero values.
type oracleDecoder struct {
	dm  cbor.DecMode
	err error
}

// decode unmarshals raw into v.
func (o *oracleDecoder) decode(raw []byte, v any) {
	if o.err == nil {
		o.err = o.dm.Unmarshal(raw, v)
	}
}

// refuse notes a refusal unless ok.
func (o *oracleDecoder) refuse(ok bool) bool {
	if !ok && o.err == nil {
		o.err = errOracle
	}
	return ok && o.err == nil
}

// strip removes the tags Decode reads through: 55799 anywhere (fxamacker/cbor strips it before
// a value, but not inside another tag), and 21 to 23 on a value, which must then be a byte string.
func (o *oracleDecoder) strip(raw cbor.RawMessage, value bool) cbor.RawMessage {
	hint := false
	for raw != nil && raw[0]>>5 == majorTag && o.err == nil {
		number, content := argument(raw) // fxamacker/cbor strips 55799 when it decodes a cbor.RawTag
		if number != 55799 && (!value || number < 21 || number > 23) {
			break
		}
		hint, raw = hint || number != 55799, content
	}
	o.refuse(!hint || raw[0]>>5 == majorByteString)
	return raw
}

// plain reports whether raw is present and, as Decode reads it, carries no tag; accepted tags
// are stripped first.
func (o *oracleDecoder) plain(raw cbor.RawMessage, required bool) bool {
	return o.refuse(raw != nil || !required) && raw != nil && o.refuse(o.strip(raw, false)[0]>>5 != majorTag)
}

// none reports whether raw is absent, null or undefined.
func (o *oracleDecoder) none(raw cbor.RawMessage) bool {
	return raw == nil || raw[0] == 0xf6 || raw[0] == 0xf7
}

// mapInto decodes a map into a wire struct. fxamacker/cbor passes over an integer key as an
// unknown member; Decode wants text keys, which textKeys checks.
func (o *oracleDecoder) mapInto(raw cbor.RawMessage, v any) {
	if o.plain(raw, true) && o.refuse(o.strip(raw, false)[0]>>5 == majorMap) {
		raw = o.strip(raw, false)
		o.decode(raw, v)
		o.textKeys(raw)
	}
}

// textKeys refuses a well-formed map with a key that fxamacker/cbor does not decode as a text
// string, skipping the values unread.
func (o *oracleDecoder) textKeys(raw cbor.RawMessage) {
	count, body := argument(raw)
	if raw[0]&0x1f == additionalIndefinite {
		count = math.MaxUint64
	}
	dec := o.dm.NewDecoder(bytes.NewReader(body))
	for i := uint64(0); i < count && body[dec.NumBytesRead()] != 0xff; i++ { // a break ends an indefinite length
		var key any
		err := dec.Decode(&key)
		if _, text := key.(string); !o.refuse(err == nil && text && dec.Skip() == nil) {
			return
		}
	}
}

// array returns the elements of an array.
func (o *oracleDecoder) array(raw cbor.RawMessage, required bool) (elements []cbor.RawMessage) {
	if raw = o.strip(raw, false); o.plain(raw, required) && o.refuse(raw[0]>>5 == majorArray) {
		o.decode(raw, &elements)
	}
	return elements
}

// text returns a text string.
func (o *oracleDecoder) text(raw cbor.RawMessage, required bool) (s string) {
	if raw = o.strip(raw, false); o.plain(raw, required) && o.refuse(raw[0]>>5 == majorTextString) {
		o.decode(raw, &s)
	}
	return s
}

// integer returns an integer within int64, nil for none.
func (o *oracleDecoder) integer(raw cbor.RawMessage) *int64 {
	var i int64
	if raw = o.strip(raw, false); o.none(raw) || !o.plain(raw, false) || !o.refuse(raw[0]>>5 <= majorNegative) {
		return nil
	}
	o.decode(raw, &i)
	return &i
}

// value converts a value as fxamacker/cbor decodes it into an interface.
func (o *oracleDecoder) value(raw cbor.RawMessage) ots.Value {
	var v any
	if raw = o.strip(raw, true); !o.plain(raw, false) {
		return ots.Value{}
	}
	o.decode(raw, &v)
	switch x := v.(type) {
	case uint64:
		o.refuse(x <= math.MaxInt64)
		return ots.Integer(int64(x))
	case []byte:
		return ots.Binary(x)
	case string, int64, float64, bool, nil:
		value, err := ots.ValueOf(x)
		o.refuse(err == nil)
		return value
	}
	o.refuse(false) // a big.Int, an array, a map, a simple value
	return ots.Value{}
}

// requireDecodeMatchesOracle holds Decode to the oracle on payload under limits: Decode
// accepts exactly what the oracle accepts, with the same event; a payload that fxamacker/cbor's
// Wellformed rejects is rejected with a fault of the same kind, for the event as a whole. It
// reports whether Decode accepted the payload.
func requireDecodeMatchesOracle(t testing.TB, payload []byte, limits DecodeOptions) bool {
	t.Helper()
	got, err := limits.Decode(payload)
	var de *DecodeError
	if err != nil {
		require.ErrorAs(t, err, &de)
	}
	payload = bytes.TrimLeft(payload, " \t\n\r")
	if len(payload) == 0 || payload[0]>>5 != majorMap && payload[0]>>5 != majorTag || len(payload) > DefaultDecodeOptions.MaxPayloadBytes {
		return err == nil
	}
	dm := oracleMode(t, limits)
	if wellFormed := dm.Wellformed(payload); wellFormed != nil {
		requireWellformedFault(t, wellFormed, err)
		return false
	}
	want, wantErr := oracle(dm, payload)
	if wantErr != nil {
		require.Error(t, err, "Decode accepts what fxamacker/cbor refuses: %v", wantErr)
		return false
	}
	require.NoError(t, err, "Decode refuses what fxamacker/cbor accepts")
	requireSameEvent(t, want, got)
	for i := range got.Records {
		require.Equal(t, got.Records[i].Columns == nil, want.Records[i].Columns == nil, "record %d: nil Columns", i)
	}
	return true
}

// requireWellformedFault checks Decode's error err on a payload that fxamacker/cbor's
// Wellformed refuses with wellFormed: a fault of CBOR for the event as a whole, of the same
// kind: the payload cut short, a limit (named by its option), data after the event, or else
// malformed CBOR. The words are Decode's own; only the kind is compared.
func requireWellformedFault(t testing.TB, wellFormed, err error) {
	t.Helper()
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, -1, de.Record, "%v", err)
	require.Empty(t, de.Field, "%v", err)
	require.True(t, strings.HasPrefix(err.Error(), "events: cbor: "), "%v", err)
	require.Equal(t, errors.Is(wellFormed, io.ErrUnexpectedEOF), errors.Is(err, io.ErrUnexpectedEOF),
		"cut short: fxamacker/cbor says %q, Decode %q", wellFormed, err)
	var nesting *cbor.MaxNestedLevelError
	var elements *cbor.MaxArrayElementsError
	var pairs *cbor.MaxMapPairsError
	var extraneous *cbor.ExtraneousDataError
	for words, kind := range map[string]bool{
		"MaxNestedLevels":      errors.As(wellFormed, &nesting),
		"MaxArrayElements":     errors.As(wellFormed, &elements),
		"MaxMapPairs":          errors.As(wellFormed, &pairs),
		"data after the event": errors.As(wellFormed, &extraneous),
	} {
		require.Equal(t, kind, strings.Contains(err.Error(), words), "%s: fxamacker/cbor says %q, Decode %q", words, wellFormed, err)
	}
}

// argument returns the argument of the well-formed head that starts raw, and what follows it.
func argument(raw []byte) (uint64, []byte) {
	if additional := raw[0] & 0x1f; additional < 24 || additional > 27 {
		return uint64(additional), raw[1:]
	} else {
		size := 1 << (additional - 24)
		var b [8]byte
		copy(b[8-size:], raw[1:1+size])
		return binary.BigEndian.Uint64(b[:]), raw[1+size:]
	}
}

// tightLimits are the smallest limits fxamacker/cbor allows but for the nesting, which a
// documented event reaches exactly.
var tightLimits = DecodeOptions{MaxNestedLevels: 5, MaxArrayElements: 16, MaxMapPairs: 16}

// FuzzDecodeMatchesFxamacker holds Decode to fxamacker/cbor on any payload, under the default
// limits and tight ones, starting from generated events, the fixture and its truncations.
func FuzzDecodeMatchesFxamacker(f *testing.F) {
	fixture := updateRowFixture(f)
	f.Add(fixture)
	f.Add(fixture[:len(fixture)-1])
	f.Add(fixture[:len(fixture)/2])
	f.Add(append(bytes.Clone(fixture), 0))
	for seed := range uint64(20) {
		g := eventGenerator{rng: rand.New(rand.NewPCG(seed, 1))}
		f.Add(g.payload())
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, limits := range []DecodeOptions{DefaultDecodeOptions, tightLimits} {
			requireDecodeMatchesOracle(t, payload, limits)
		}
	})
}
