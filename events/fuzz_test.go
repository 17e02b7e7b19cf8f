package events

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/internal/testkit"
)

// FuzzDecode checks that no payload makes Decode panic, that every rejection is a
// *DecodeError, and that every accepted event re-encodes as CBOR and as JSON and decodes
// back to the same event.
func FuzzDecode(f *testing.F) {
	// The documentation's sample and the scenario's events, in JSON and in CBOR.
	for _, payload := range testkit.TriggerEvents(f) {
		f.Add(payload)
	}
	f.Add(updateRowFixture(f))
	for _, encode := range []func(*Event) ([]byte, error){EncodeCBOR, EncodeJSON} {
		payload, err := encode(everyValueEvent())
		require.NoError(f, err)
		f.Add(payload)
	}

	// The re-encoded forms may outgrow the default payload limit.
	unlimited := DecodeOptions{MaxPayloadBytes: math.MaxInt}
	f.Fuzz(func(t *testing.T, payload []byte) {
		event, err := Decode(payload)
		if err != nil {
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			return
		}

		encoded, err := EncodeCBOR(event)
		require.NoError(t, err)
		decoded, err := unlimited.Decode(encoded)
		require.NoError(t, err)
		requireSameEvent(t, event, decoded)

		encoded, err = EncodeJSON(event)
		if hasNonFiniteDouble(event) {
			require.ErrorContains(t, err, "has no JSON representation")
			return
		}
		require.NoError(t, err)
		decoded, err = unlimited.Decode(encoded)
		require.NoError(t, err)
		requireSameEvent(t, event, decoded)
	})
}

// hasNonFiniteDouble reports whether a cell of e holds a NaN or infinite DOUBLE, which
// JSON cannot carry.
func hasNonFiniteDouble(e *Event) bool {
	for _, r := range e.Records {
		for _, c := range r.Columns {
			if f, ok := c.Value.Float(); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return true
			}
		}
	}
	return false
}
