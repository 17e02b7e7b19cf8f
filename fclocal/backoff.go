package fclocal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Default backoff: 100 ms doubling to 10 s.
const (
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
)

// Backoff is the wait between retries of a failed invocation or Stream API request:
// exponential with "equal jitter" ("Exponential Backoff And Jitter", AWS Architecture Blog,
// 2015). Retry n (1 for the first) waits a uniformly random time in [c/2, c], where
// c = min(Max, Initial·2^(n-1)), so waits grow steadily and never synchronise.
type Backoff struct {
	// Initial is the ceiling of the first wait; 0 means DefaultBackoffInitial.
	Initial time.Duration
	// Max bounds every ceiling; 0 means DefaultBackoffMax (or Initial if that is larger).
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

// ceiling returns c = min(Max, Initial·2^(retry-1)) for retry >= 1.
func (b Backoff) ceiling(retry int) time.Duration {
	c := b.Initial
	for i := 1; i < retry && c < b.Max; i++ {
		c *= 2
	}
	return min(c, b.Max)
}

// delay returns the wait before retry number retry (1 for the first).
func (b Backoff) delay(retry int) time.Duration {
	c := b.ceiling(retry)
	return c/2 + rand.N(c/2+1)
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
