package fclocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/otsetl/otsetl/fcruntime"
)

// Invoker sends one invocation to a function served under the custom-runtime protocol and
// returns its result: [fcruntime.Invoker] (one function process), or a [Pool].
type Invoker interface {
	Invoke(ctx context.Context, inv fcruntime.Invocation, payload []byte) (json.RawMessage, error)
}

// DefaultMaxInstances is how many instances a [Pool] runs at most when
// PoolConfig.MaxInstances is 0.
const DefaultMaxInstances = 4

// Timings of a pool's instances.
const (
	// instanceReadyTimeout bounds the wait for a started instance to listen.
	instanceReadyTimeout = 10 * time.Second
	// instanceStopTimeout is how long an instance process gets to exit after SIGTERM.
	instanceStopTimeout = 10 * time.Second
	// instanceRestartDelay paces the restarts of an instance that keeps exiting.
	instanceRestartDelay = time.Second
)

// ErrThrottled is the error of an invocation the pool refused because every instance it may
// run is busy (FC's 429 of the scaling limit); it may succeed when sent again.
var ErrThrottled = errors.New("fclocal: every function instance is busy (the instance limit is reached)")

// Instance is one running function instance that serves the custom-runtime protocol.
type Instance interface {
	// URL is the instance's base URL, e.g. "http://127.0.0.1:41234".
	URL() string
	// PID is the instance's process id; 0 for an instance in this process.
	PID() int
	// Exited is closed once the instance has stopped, whatever stopped it.
	Exited() <-chan struct{}
	// ExitDescription says how it stopped, once Exited is closed.
	ExitDescription() string
	// Stop stops the instance: gently (SIGTERM, then SIGKILL after a while) or, with kill,
	// at once (SIGKILL), as a crash would. It returns once the instance has stopped.
	Stop(kill bool)
}

// StartInstance starts an instance named id (FC_INSTANCE_ID) and returns it once it
// listens.
type StartInstance func(ctx context.Context, id string) (Instance, error)

// PoolConfig configures a [Pool].
type PoolConfig struct {
	// Start starts an instance; [ProcessInstances] starts `otsetl serve` processes.
	Start StartInstance
	// MaxInstances is how many instances run at most (the function's instance limit);
	// 0 means DefaultMaxInstances.
	MaxInstances int
	// OnEvent, when set, is told of the instances' starts, exits and failed restarts, from
	// the goroutine that saw them: it may be called concurrently and should return quickly.
	OnEvent func(InstanceEvent)
}

// The kinds of [InstanceEvent].
const (
	// InstanceStarted: an instance started (or started again) and listens.
	InstanceStarted = "started"
	// InstanceExited: an instance exited while the pool ran; it is started again.
	InstanceExited = "exited"
	// InstanceFailed: an instance could not be started again; one is started on demand.
	InstanceFailed = "failed"
)

// InstanceEvent is something that happened to an instance of a pool.
type InstanceEvent struct {
	// Kind is InstanceStarted, InstanceExited or InstanceFailed.
	Kind string
	// Instance is the instance's id; PID its process id (0 in this process), URL where it
	// listens.
	Instance string
	PID      int
	URL      string
	// Exit says how it exited, or why it could not be started.
	Exit string
}

// Pool runs a function's instances, as Function Compute does for a function whose
// instanceConcurrency is 1: an invocation goes to an idle instance, or to a new one started
// on demand up to MaxInstances; beyond that it is refused with [ErrThrottled]. Each
// instance handles one invocation at a time. An instance that exits leaves the pool and is
// started again, as FC replaces a crashed instance. The trigger and the FC API
// ([NewFunctionAPI]) share it.
type Pool struct {
	cfg    PoolConfig
	ctx    context.Context // the pool's life; Close ends it
	cancel context.CancelFunc

	mu        sync.Mutex
	instances []*pooled
	next      int // the number of the next instance
	restarts  int
	wg        sync.WaitGroup
}

// pooled is one instance of the pool and its state.
type pooled struct {
	id          string
	inst        Instance
	busy        bool
	started     time.Time
	invocations int
}

// NewPool returns a pool that starts no instance before the first invocation.
func NewPool(cfg PoolConfig) (*Pool, error) {
	switch {
	case cfg.Start == nil:
		return nil, errors.New("fclocal: PoolConfig.Start is required")
	case cfg.MaxInstances < 0:
		return nil, fmt.Errorf("fclocal: PoolConfig.MaxInstances %d: want 1 or more", cfg.MaxInstances)
	}
	if cfg.MaxInstances == 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(InstanceEvent) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// MaxInstances is the pool's instance limit.
func (p *Pool) MaxInstances() int { return p.cfg.MaxInstances }

// Invoke sends one invocation to an idle instance, starting one when none is idle and the
// limit allows; [ErrThrottled] when it does not. The invocation's errors are those of
// [fcruntime.Invoker.Invoke]: an [*fcruntime.InvocationError] when the function failed it,
// another error when the instance did not answer (it exited during the invocation).
func (p *Pool) Invoke(ctx context.Context, inv fcruntime.Invocation, payload []byte) (json.RawMessage, error) {
	pi, inst, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(pi)
	invoker := fcruntime.Invoker{URL: inst.URL(), HTTPClient: instanceClient}
	result, err := invoker.Invoke(ctx, inv, payload)
	var failed *fcruntime.InvocationError
	if err != nil && !errors.As(err, &failed) {
		select {
		case <-inst.Exited():
			err = &InstanceExitError{Instance: pi.id, Exit: inst.ExitDescription(), Err: err}
		case <-time.After(100 * time.Millisecond): // an exit shows at once; a slower one is another fault
		}
	}
	return result, err
}

// instanceClient sends the invocations to the instances: no connection outlives an
// instance's exit for long, and none is shared across instances.
var instanceClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}}

// InstanceExitError is an invocation whose instance exited before it answered.
type InstanceExitError struct {
	Instance string
	Exit     string
	Err      error
}

// Error says which instance exited, how, and what the invocation saw.
func (e *InstanceExitError) Error() string {
	return fmt.Sprintf("instance %s exited during the invocation (%s): %v", e.Instance, e.Exit, e.Err)
}

// Unwrap returns what the invocation saw.
func (e *InstanceExitError) Unwrap() error { return e.Err }

// acquire returns an idle instance, marked busy, starting one if the limit allows.
func (p *Pool) acquire(ctx context.Context) (*pooled, Instance, error) {
	p.mu.Lock()
	for _, pi := range p.instances {
		if !pi.busy && pi.inst != nil && !exited(pi.inst) {
			pi.busy = true
			pi.invocations++
			p.mu.Unlock()
			return pi, pi.inst, nil
		}
	}
	if len(p.instances) >= p.cfg.MaxInstances {
		p.mu.Unlock()
		return nil, nil, ErrThrottled
	}
	p.next++
	pi := &pooled{id: fmt.Sprintf("i-%d", p.next), busy: true, invocations: 1}
	p.instances = append(p.instances, pi) // counts against the limit while it starts
	p.mu.Unlock()
	inst, err := p.cfg.Start(ctx, pi.id)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.instances = slices.DeleteFunc(p.instances, func(x *pooled) bool { return x == pi })
		return nil, nil, fmt.Errorf("fclocal: starting instance %s: %w", pi.id, err)
	}
	pi.inst, pi.started = inst, time.Now()
	p.cfg.OnEvent(InstanceEvent{Kind: InstanceStarted, Instance: pi.id, PID: inst.PID(), URL: inst.URL()})
	p.wg.Go(func() { p.watch(pi, inst) })
	return pi, inst, nil
}

// Warm starts one instance now, unless one runs, so that the first invocation finds it
// ready.
func (p *Pool) Warm(ctx context.Context) error {
	pi, _, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	pi.invocations--
	p.mu.Unlock()
	p.release(pi)
	return nil
}

// exited reports whether inst has stopped.
func exited(inst Instance) bool {
	select {
	case <-inst.Exited():
		return true
	default:
		return false
	}
}

// release marks an instance idle again.
func (p *Pool) release(pi *pooled) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pi.busy = false
}

// watch waits for an instance to exit. One that exits while the pool runs is reported and
// leaves the pool at once, so that an invocation can start another in its place; it is
// started again (under the same id) after instanceRestartDelay, as FC replaces a crashed
// instance, if the pool has room for it then.
func (p *Pool) watch(pi *pooled, inst Instance) {
	select {
	case <-p.ctx.Done():
		return
	case <-inst.Exited():
	}
	p.mu.Lock()
	p.instances = slices.DeleteFunc(p.instances, func(x *pooled) bool { return x == pi })
	p.mu.Unlock()
	p.cfg.OnEvent(InstanceEvent{Kind: InstanceExited, Instance: pi.id, PID: inst.PID(), URL: inst.URL(), Exit: inst.ExitDescription()})
	select {
	case <-p.ctx.Done():
		return
	case <-time.After(instanceRestartDelay):
	}
	p.mu.Lock()
	if len(p.instances) >= p.cfg.MaxInstances {
		p.mu.Unlock()
		return // invocations replaced it meanwhile
	}
	restarted := &pooled{id: pi.id, busy: true}
	p.instances = append(p.instances, restarted)
	p.restarts++
	p.mu.Unlock()
	next, err := p.cfg.Start(p.ctx, pi.id)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.instances = slices.DeleteFunc(p.instances, func(x *pooled) bool { return x == restarted })
		p.cfg.OnEvent(InstanceEvent{Kind: InstanceFailed, Instance: pi.id, Exit: err.Error()})
		return
	}
	restarted.inst, restarted.started, restarted.busy = next, time.Now(), false
	p.cfg.OnEvent(InstanceEvent{Kind: InstanceStarted, Instance: pi.id, PID: next.PID(), URL: next.URL()})
	p.wg.Go(func() { p.watch(restarted, next) })
}

// InstanceStatus is one instance of a pool, for display (and as JSON).
type InstanceStatus struct {
	// ID is the instance's FC_INSTANCE_ID.
	ID string `json:"id"`
	// PID is its process id (0 for one in this process); URL where it listens.
	PID int    `json:"pid"`
	URL string `json:"url"`
	// Running is false while a crashed instance waits for its restart.
	Running bool `json:"running"`
	// Busy reports an invocation in flight.
	Busy bool `json:"busy"`
	// Invocations counts the invocations it was given; Started is when it last started.
	Invocations int       `json:"invocations"`
	Started     time.Time `json:"started"`
}

// PoolStatus is a pool's state, for display (and as JSON).
type PoolStatus struct {
	// MaxInstances is the pool's instance limit; Restarts counts the instances started
	// again after they exited.
	MaxInstances int              `json:"maxInstances"`
	Restarts     int              `json:"restarts"`
	Instances    []InstanceStatus `json:"instances"`
}

// Status returns the pool's instances, in the order they were first started.
func (p *Pool) Status() PoolStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	status := PoolStatus{MaxInstances: p.cfg.MaxInstances, Restarts: p.restarts, Instances: []InstanceStatus{}}
	for _, pi := range p.instances {
		s := InstanceStatus{ID: pi.id, Busy: pi.busy, Invocations: pi.invocations, Started: pi.started}
		if pi.inst != nil {
			s.PID, s.URL, s.Running = pi.inst.PID(), pi.inst.URL(), !exited(pi.inst)
		}
		status.Instances = append(status.Instances, s)
	}
	return status
}

// Kill kills the instance id at once (SIGKILL for a process), as a crash would; the pool
// starts it again. It reports false when there is no such running instance.
func (p *Pool) Kill(id string) bool {
	p.mu.Lock()
	var inst Instance
	for _, pi := range p.instances {
		if pi.id == id && pi.inst != nil {
			inst = pi.inst
		}
	}
	p.mu.Unlock()
	if inst == nil || exited(inst) {
		return false
	}
	inst.Stop(true)
	return true
}

// Close stops every instance (SIGTERM, then SIGKILL after instanceStopTimeout) and waits
// for them.
func (p *Pool) Close() {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	instances := slices.Clone(p.instances)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pi := range instances {
		if pi.inst != nil {
			wg.Go(func() { pi.inst.Stop(false) })
		}
	}
	wg.Wait()
}

// ProcessInstances starts instances as child processes: the program at path with args, an
// `--listen 127.0.0.1:PORT` of a free port appended, and env plus FC_INSTANCE_ID=id; their
// standard output and error go to stdout and stderr. The processes die with this one
// (Linux). It is how `otsetl local` runs `otsetl serve`.
func ProcessInstances(path string, args, env []string, stdout, stderr io.Writer) StartInstance {
	return func(ctx context.Context, id string) (Instance, error) {
		addr, err := freeAddress()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(path, append(slices.Clone(args), "--listen", addr)...)
		cmd.Env = append(slices.Clone(env), "FC_INSTANCE_ID="+id)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		proc := &process{cmd: cmd, addr: addr, exited: make(chan struct{})}
		go func() {
			err := cmd.Wait()
			proc.exit = describeExit(err)
			close(proc.exited)
		}()
		if err := waitListening(ctx, addr, proc.exited, instanceReadyTimeout); err != nil {
			proc.Stop(true)
			return nil, fmt.Errorf("the instance process (pid %d) did not listen on %s: %w", cmd.Process.Pid, addr, err)
		}
		return proc, nil
	}
}

// process is an instance in a child process.
type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	exit   string // set before exited is closed
}

func (p *process) URL() string             { return "http://" + p.addr }
func (p *process) PID() int                { return p.cmd.Process.Pid }
func (p *process) Exited() <-chan struct{} { return p.exited }
func (p *process) ExitDescription() string {
	select {
	case <-p.exited:
		return p.exit
	default:
		return "running"
	}
}

// Stop sends SIGTERM, then SIGKILL after instanceStopTimeout; with kill, SIGKILL at once.
func (p *process) Stop(kill bool) {
	if !kill {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			return
		case <-time.After(instanceStopTimeout):
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// describeExit describes how a process ended, from exec.Cmd.Wait's error.
func describeExit(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// freeAddress returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts TCP connections, for at most timeout, or until
// exited is closed.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return errors.New("it exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HandlerInstances starts instances in this process: each serves the custom-runtime handler
// newHandler returns for its id on 127.0.0.1, the requests' contexts ended when it stops.
// Tests use it where starting processes would cost more than what they test.
func HandlerInstances(newHandler func(id string) http.Handler) StartInstance {
	return func(ctx context.Context, id string) (Instance, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		life, end := context.WithCancel(context.Background())
		srv := &http.Server{Handler: newHandler(id), BaseContext: func(net.Listener) context.Context { return life }, ReadHeaderTimeout: 10 * time.Second}
		h := &handlerInstance{srv: srv, url: "http://" + ln.Addr().String(), end: end, exited: make(chan struct{})}
		go func() {
			_ = srv.Serve(ln)
			<-life.Done()
			close(h.exited)
		}()
		return h, nil
	}
}

// handlerInstance is an instance of HandlerInstances.
type handlerInstance struct {
	srv    *http.Server
	url    string
	end    context.CancelFunc
	exited chan struct{}
	once   sync.Once
	exit   string
}

func (h *handlerInstance) URL() string             { return h.url }
func (h *handlerInstance) PID() int                { return 0 }
func (h *handlerInstance) Exited() <-chan struct{} { return h.exited }
func (h *handlerInstance) ExitDescription() string { return h.exit }

// Stop closes the server: with kill, its connections at once, and the invocations in flight
// see their contexts end; otherwise once they are answered.
func (h *handlerInstance) Stop(kill bool) {
	h.once.Do(func() {
		if kill {
			h.exit = "killed"
			_ = h.srv.Close()
		} else {
			h.exit = "stopped"
			ctx, cancel := context.WithTimeout(context.Background(), instanceStopTimeout)
			_ = h.srv.Shutdown(ctx)
			cancel()
		}
		h.end()
	})
	<-h.exited
}
