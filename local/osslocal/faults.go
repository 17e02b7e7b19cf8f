package osslocal

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Faults describes the failures a Server injects, for testing a client under faults: latency,
// and the three ways an OSS request fails for a client that sent it: an error answer, no
// answer at all, and an answer lost after the request was applied. The zero value injects
// none. Every rate is a probability in [0, 1]; a request gets at most one fault, so the
// rates add up to at most 1.
type Faults struct {
	// Seed seeds the random source behind every choice; every value, 0 included, is a seed.
	Seed int64
	// Latency is added before every request is handled.
	Latency time.Duration
	// ServerError is the share of requests answered 500 InternalError ("We encountered an
	// internal error. Please try again.", as OSS says it) without being applied.
	ServerError float64
	// Timeout is the share of requests that are read and never answered: the server holds
	// them, not applied, until the client gives up and closes the connection (its read
	// timeout, or its context's end), as a request lost in a network that stalls.
	Timeout float64
	// LostAnswer is the share of requests that are applied, and then get their connection
	// closed without an answer: the client cannot know that its object was written.
	LostAnswer float64
	// Operations limits the faults (and the latency) to these operations (OpPutObject,
	// OpUploadPart, …; [WriteOperations] are an exporter's); nil means every operation.
	Operations []string
}

// FaultCounts counts the faults a Server injected.
type FaultCounts struct {
	ServerErrors, Timeouts, LostAnswers int64
}

// Total is the number of faults injected.
func (c FaultCounts) Total() int64 { return c.ServerErrors + c.Timeouts + c.LostAnswers }

// Validate reports the first invalid setting: a negative latency, a rate outside [0, 1],
// rates adding up to more than 1, or an unknown operation. Nil means f is valid.
func (f Faults) Validate() error {
	if f.Latency < 0 {
		return fmt.Errorf("osslocal: fault latency %v is negative", f.Latency)
	}
	for _, rate := range []struct {
		name  string
		value float64
	}{{"server error", f.ServerError}, {"timeout", f.Timeout}, {"lost answer", f.LostAnswer}} {
		if !(rate.value >= 0 && rate.value <= 1) { // also refuses NaN
			return fmt.Errorf("osslocal: %s rate %v is outside [0, 1]", rate.name, rate.value)
		}
	}
	if sum := f.ServerError + f.Timeout + f.LostAnswer; sum > 1+1e-9 {
		return fmt.Errorf("osslocal: fault rates add up to %v, more than 1", sum)
	}
	known := append(slices.Clone(WriteOperations), OpDeleteObject, OpGetObject, OpHeadObject, OpListObjects, "Bucket")
	for _, op := range f.Operations {
		if !slices.Contains(known, op) {
			return fmt.Errorf("osslocal: fault operation %q: want one of %v", op, known)
		}
	}
	return nil
}

// The faults of one request.
const (
	noFault = iota
	serverError
	timeout
	lostAnswer
)

// faultInjector draws the faults of the requests from one seeded random source.
type faultInjector struct {
	mu     sync.Mutex
	faults Faults
	random *rand.Rand
	counts [4]atomic.Int64 // by fault
}

// newFaultInjector returns an injector of f, or f's validation error.
func newFaultInjector(f Faults) (*faultInjector, error) {
	fi := &faultInjector{}
	if err := fi.set(f); err != nil {
		return nil, err
	}
	return fi, nil
}

// set replaces the faults and restarts the random source; an invalid f changes nothing.
func (fi *faultInjector) set(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f.Operations = slices.Clone(f.Operations)
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.faults = f
	fi.random = rand.New(rand.NewPCG(uint64(f.Seed), 0))
	return nil
}

// draw chooses the latency and the fault of a request of operation op.
func (fi *faultInjector) draw(op string) (time.Duration, int) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.faults
	if f.Operations != nil && !slices.Contains(f.Operations, op) {
		return 0, noFault
	}
	if f.ServerError+f.Timeout+f.LostAnswer == 0 {
		return f.Latency, noFault
	}
	u := fi.random.Float64()
	for _, fault := range []struct {
		rate float64
		kind int
	}{{f.ServerError, serverError}, {f.Timeout, timeout}, {f.LostAnswer, lostAnswer}} {
		if u < fault.rate {
			return f.Latency, fault.kind
		}
		u -= fault.rate
	}
	return f.Latency, noFault
}

// serve serves r with next under its faults.
func (fi *faultInjector) serve(w http.ResponseWriter, r *http.Request, op, requestID string, next http.Handler) {
	delay, fault := fi.draw(op)
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-r.Context().Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
	fi.counts[fault].Add(1)
	switch fault {
	case serverError:
		writeError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", requestID)
	case timeout:
		// Read the request, so that net/http notices when the client closes the connection,
		// then hold it unanswered until then.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		dropConnection(w)
	case lostAnswer:
		next.ServeHTTP(&discardResponse{header: http.Header{}}, r)
		dropConnection(w)
	default:
		next.ServeHTTP(w, r)
	}
}

// Faults returns how many faults of each kind the server has injected.
func (s *Server) Faults() FaultCounts {
	c := &s.faults.counts
	return FaultCounts{ServerErrors: c[serverError].Load(), Timeouts: c[timeout].Load(), LostAnswers: c[lostAnswer].Load()}
}

// dropConnection closes the request's connection without an answer; the client sees the
// connection end.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http closes the connection and logs nothing
	}
	_ = conn.Close()
}

// discardResponse is the ResponseWriter of a request whose answer is lost.
type discardResponse struct{ header http.Header }

func (d *discardResponse) Header() http.Header         { return d.header }
func (d *discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardResponse) WriteHeader(int)             {}
