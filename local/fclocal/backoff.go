package fclocal

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Default backoff: 100 ms doubling to 10 s.
const (
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
)

// Backoff is the wait between retries of a failed invocation or Stream API request:
// exponential with jitter, as cenkalti/backoff's ExponentialBackOff computes it. Retry n (1
// for the first) waits the interval c = min(Max, Initial·2^(n-1)) ±50%, so waits grow
// steadily and never synchronise.
type Backoff struct {
	// Initial is the interval before the first retry; 0 means DefaultBackoffInitial.
	Initial time.Duration
	// Max bounds every interval; 0 means DefaultBackoffMax (or Initial if that is larger).
	Max time.Duration
}

// withDefaults fills in the zero fields.
func (b Backoff) withDefaults() Backoff {
	if b.Initial == 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max == 0 {
		b.Max = max(DefaultBackoffMax, b.Initial)
	}
	return b
}

// validate checks a Backoff with defaults applied.
func (b Backoff) validate() error {
	if b.Initial < 0 || b.Max < b.Initial {
		return fmt.Errorf("fclocal: Backoff {Initial: %s, Max: %s}: want 0 < Initial <= Max", b.Initial, b.Max)
	}
	return nil
}

// start returns the waits of one sequence of retries, from the first.
func (b Backoff) start() *backoff.ExponentialBackOff {
	waits := backoff.NewExponentialBackOff()
	waits.InitialInterval, waits.Multiplier, waits.MaxInterval = b.Initial, 2, b.Max
	return waits
}

// sleep waits d or until ctx ends, and reports whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
