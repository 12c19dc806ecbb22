package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// SimulatedConfig configures a Simulated: Count agents in one process, for
// scale tests. They register like real agents (same link, same resources,
// distinct IDs and hostnames "<Hostname>-sim<i>") but run no processes: a
// launched task goes TASK_STARTING then TASK_RUNNING and stays so until it
// is killed (TASK_KILLED).
type SimulatedConfig struct {
	// Master is host:port or an http URL of the master.
	Master string
	// IP and Port advertised by every simulated agent; default to the
	// listener's address.
	IP   string
	Port int
	// Hostname is the base of the agents' hostnames; defaults to the OS
	// hostname.
	Hostname string
	// Count of agents (at least 1).
	Count int
	// Resources and Attributes of each agent, in Mesos flag syntax.
	Resources  string
	Attributes string
	// RegistrationBackoff between attempts to reach the master (1s).
	RegistrationBackoff time.Duration
	// MasterPingTimeout: a link silent this long is re-established (30s).
	MasterPingTimeout time.Duration
	// StatusUpdateRetryInterval between resends of unacknowledged
	// updates (10s).
	StatusUpdateRetryInterval time.Duration
	// OnLaunch, when set, is what a simulated executor does with a task
	// before it reports it running, e.g. bind the pod a kubemesos task
	// stands for (kubemesos bench). A launched task goes TASK_STARTING at
	// once; OnLaunch then runs in its own goroutine, with the context of
	// Serve and the hostname of the agent the task landed on. It returns
	// nil: TASK_RUNNING; an error: TASK_FAILED with the error as message. A
	// task killed meanwhile stays killed whatever OnLaunch returns. It may
	// be called concurrently for different tasks.
	OnLaunch LaunchHook
}

// LaunchHook is SimulatedConfig.OnLaunch.
type LaunchHook func(ctx context.Context, agentHostname string, task mesos.TaskInfo) error

// Simulated hosts many simulated agents. Create it with NewSimulated and
// run it with Serve.
type Simulated struct {
	cfg        SimulatedConfig
	masterURL  *url.URL
	resources  mesos.Resources
	attributes []mesos.Attribute
	client     *http.Client // short requests (status updates)
	stream     *http.Client // registration streams
	agents     []*simAgent
	registered chan struct{}
	nRegistred atomic.Int64
	// background counts the one-shot posts (pongs, executor exits) the link
	// loops start, so Serve returns only after they ended.
	background sync.WaitGroup
	// serveCtx is the context Serve runs under: OnLaunch hooks get it, so a
	// link that is re-established does not cancel them.
	serveCtx context.Context
}

// goPost posts v to the master in the background, tracked by s.background.
// Only the link loops call it, so Serve's final Wait sees every Add.
func (s *Simulated) goPost(ctx context.Context, path string, v any) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		_ = s.post(ctx, path, v)
	}()
}

// NewSimulated validates cfg and returns the agents, not yet running.
func NewSimulated(cfg SimulatedConfig) (*Simulated, error) {
	if cfg.Count < 1 {
		return nil, errors.New("simulate: at least one agent is needed")
	}
	if cfg.Master == "" {
		return nil, errors.New("a master address is required")
	}
	if cfg.RegistrationBackoff <= 0 {
		cfg.RegistrationBackoff = time.Second
	}
	if cfg.MasterPingTimeout <= 0 {
		cfg.MasterPingTimeout = 30 * time.Second
	}
	if cfg.StatusUpdateRetryInterval <= 0 {
		cfg.StatusUpdateRetryInterval = 10 * time.Second
	}
	if cfg.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			cfg.Hostname = h
		} else {
			cfg.Hostname = "localhost"
		}
	}
	if cfg.Resources == "" {
		cfg.Resources = DefaultResources
	}
	mu, err := ParseMaster(cfg.Master)
	if err != nil {
		return nil, err
	}
	rs, err := resources.Parse(cfg.Resources)
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	attrs, err := resources.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, fmt.Errorf("--attributes: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	s := &Simulated{
		cfg:        cfg,
		masterURL:  mu,
		resources:  rs,
		attributes: attrs,
		client:     &http.Client{Timeout: 10 * time.Second, Transport: tr},
		stream:     &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		registered: make(chan struct{}),
	}
	for i := 0; i < cfg.Count; i++ {
		s.agents = append(s.agents, &simAgent{
			s:          s,
			hostname:   fmt.Sprintf("%s-sim%d", cfg.Hostname, i),
			resources:  rs.Clone(),
			frameworks: map[string]*simFramework{},
			wake:       make(chan struct{}, 1),
		})
	}
	return s, nil
}

// Registered is closed once every simulated agent has registered.
func (s *Simulated) Registered() <-chan struct{} { return s.registered }

// IDs returns the agent IDs assigned so far, in agent order ("" for an
// agent not registered yet).
func (s *Simulated) IDs() []string {
	out := make([]string, len(s.agents))
	for i, a := range s.agents {
		a.mu.Lock()
		out[i] = a.id
		a.mu.Unlock()
	}
	return out
}

// Serve runs the agents until ctx ends. ln serves /health and /state (a
// summary of every simulated agent).
func (s *Simulated) Serve(ctx context.Context, ln net.Listener) error {
	s.cfg.IP, s.cfg.Port = wire.Advertised(ln, s.cfg.IP, s.cfg.Port)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/state", s.serveState)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.serveCtx = ctx
	var wg sync.WaitGroup
	for _, a := range s.agents {
		wg.Add(2)
		go func() { defer wg.Done(); a.linkLoop(ctx) }()
		go func() { defer wg.Done(); a.updateLoop(ctx) }()
	}
	klog.InfoS("Simulated Mesos agents started", "count", len(s.agents), "master", s.masterURL.String(), "resources", s.resources.String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
	}
	wg.Wait()
	s.background.Wait()
	s.client.CloseIdleConnections()
	s.stream.CloseIdleConnections()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	klog.InfoS("Simulated Mesos agents stopped", "count", len(s.agents))
	return nil
}

func (s *Simulated) serveState(w http.ResponseWriter, _ *http.Request) {
	var agents []map[string]any
	for _, a := range s.agents {
		a.mu.Lock()
		running := 0
		for _, fw := range a.frameworks {
			for _, t := range fw.tasks {
				if !isTerminalState(t.state) {
					running++
				}
			}
		}
		reserved := map[string]any{}
		for i := range a.resources {
			if r := a.resources[i]; !r.IsUnreserved() {
				reserved[r.ReservationRole()] = true
			}
		}
		agents = append(agents, map[string]any{
			"id": a.id, "hostname": a.hostname, "connected": a.connected, "tasks": running,
			"resources": resources.StateJSON(a.resources), "reserved_roles": sortedKeys(reserved),
		})
		a.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"simulated_agents": agents})
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// simAgent is one simulated agent.
type simAgent struct {
	s        *Simulated
	hostname string
	wake     chan struct{}

	mu         sync.Mutex
	id         string
	connected  bool
	everReg    bool
	resources  mesos.Resources
	frameworks map[string]*simFramework
}

type simFramework struct {
	info      mesos.FrameworkInfo
	executors map[string]mesos.ExecutorInfo
	tasks     map[string]*simTask
}

// simTask is a task and its status update stream: pending[0] is sent (and
// resent) until acknowledged, then the next.
type simTask struct {
	info     mesos.TaskInfo
	state    mesos.TaskState
	pending  []mesos.TaskStatus
	lastSent time.Time
}

func isTerminalState(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

func (a *simAgent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *simAgent) linkLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := a.linkOnce(ctx)
		a.mu.Lock()
		a.connected = false
		a.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		klog.V(2).InfoS("Simulated agent link down, registering again", "hostname", a.hostname, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.s.cfg.RegistrationBackoff):
		}
	}
}

func (a *simAgent) registerMessage() link.Register {
	a.mu.Lock()
	defer a.mu.Unlock()
	port := int32(a.s.cfg.Port)
	info := mesos.AgentInfo{Hostname: a.hostname, Port: &port, Resources: a.resources.Clone(), Attributes: a.s.attributes}
	if a.id != "" {
		info.ID = &mesos.AgentID{Value: a.id}
	}
	reg := link.Register{AgentID: a.id, Info: link.Marshal(&info), Endpoint: net.JoinHostPort(a.s.cfg.IP, strconv.Itoa(a.s.cfg.Port))}
	for fwID, fw := range a.frameworks {
		reg.Frameworks = append(reg.Frameworks, link.Marshal(&fw.info))
		for _, ei := range fw.executors {
			reg.Executors = append(reg.Executors, link.Executor{FrameworkID: fwID, Info: link.Marshal(&ei)})
		}
		for _, t := range fw.tasks {
			if isTerminalState(t.state) && len(t.pending) == 0 {
				continue
			}
			mt := mesos.Task{
				Name: t.info.Name, TaskID: t.info.TaskID, FrameworkID: mesos.FrameworkID{Value: fwID},
				AgentID: mesos.AgentID{Value: a.id}, State: t.state.Enum(), Resources: t.info.Resources, Labels: t.info.Labels,
			}
			if t.info.Executor != nil {
				eid := t.info.Executor.ExecutorID
				mt.ExecutorID = &eid
			}
			reg.Tasks = append(reg.Tasks, link.Marshal(&mt))
		}
	}
	return reg
}

func (a *simAgent) linkOnce(ctx context.Context) error {
	body, err := json.Marshal(a.registerMessage())
	if err != nil {
		return fmt.Errorf("encode registration: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.masterURL.String()+link.PathRegister, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build registration: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.s.stream.Do(req)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusForbidden {
			// The master removed this agent ID for good, or its machine
			// is DOWN: start afresh, as a real agent does.
			a.mu.Lock()
			a.removedLocked(string(msg))
			a.mu.Unlock()
		}
		return fmt.Errorf("register: master answered %s: %s", resp.Status, msg)
	}
	watchdog := time.AfterFunc(a.s.cfg.MasterPingTimeout, cancel)
	defer watchdog.Stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var c link.Command
		if err := dec.Decode(&c); err != nil {
			return fmt.Errorf("read master link: %w", err)
		}
		watchdog.Reset(a.s.cfg.MasterPingTimeout)
		a.handleCommand(ctx, c)
		if c.Type == link.CmdShutdown {
			return errors.New("removed by the master")
		}
	}
}

// removedLocked handles the master's shutdown (START_MAINTENANCE,
// MARK_AGENT_GONE) or its refusal of this agent's ID like a real agent's
// removed(): every simulated executor and task is dropped without further
// updates (the master already ended the tasks), the ID is forgotten and the
// agent registers afresh. Reservations and volumes are kept, as a real
// agent keeps its checkpointed resources.
func (a *simAgent) removedLocked(reason string) {
	if a.id == "" && len(a.frameworks) == 0 {
		return
	}
	klog.InfoS("Simulated agent was removed by the master, starting afresh", "agent", a.id, "hostname", a.hostname, "reason", reason)
	a.id = ""
	a.connected = false
	a.frameworks = map[string]*simFramework{}
}

func (a *simAgent) handleCommand(ctx context.Context, c link.Command) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch c.Type {
	case link.CmdRegistered:
		a.id, a.connected = c.AgentID, true
		if !a.everReg {
			a.everReg = true
			if a.s.nRegistred.Add(1) == int64(len(a.s.agents)) {
				close(a.s.registered)
			}
		}
		for _, fw := range a.frameworks {
			for _, t := range fw.tasks {
				t.lastSent = time.Time{}
			}
		}
		a.poke()
	case link.CmdLaunch:
		a.launchLocked(c)
	case link.CmdKill:
		if fw := a.frameworks[c.FrameworkID]; fw != nil {
			if t := fw.tasks[c.TaskID]; t != nil && !isTerminalState(t.state) {
				a.updateLocked(c.FrameworkID, t, mesos.TASK_KILLED, nil, "")
			}
		}
	case link.CmdAcknowledge:
		if fw := a.frameworks[c.FrameworkID]; fw != nil {
			if t := fw.tasks[c.TaskID]; t != nil && len(t.pending) > 0 && bytes.Equal(t.pending[0].UUID, c.UUID) {
				t.pending = t.pending[1:]
				t.lastSent = time.Time{}
				if len(t.pending) == 0 && isTerminalState(t.state) {
					delete(fw.tasks, c.TaskID)
				}
				a.poke()
			}
		}
	case link.CmdShutdownExecutor:
		if fw := a.frameworks[c.FrameworkID]; fw != nil {
			if _, ok := fw.executors[c.ExecutorID]; ok {
				for _, t := range fw.tasks {
					if t.info.Executor != nil && t.info.Executor.ExecutorID.Value == c.ExecutorID && !isTerminalState(t.state) {
						a.updateLocked(c.FrameworkID, t, mesos.TASK_KILLED, mesos.REASON_EXECUTOR_TERMINATED.Enum(), "Executor shut down")
					}
				}
				delete(fw.executors, c.ExecutorID)
				ee := link.ExecutorExited{AgentID: a.id, FrameworkID: c.FrameworkID, ExecutorID: c.ExecutorID}
				a.s.goPost(ctx, link.PathExecutorExited, ee)
			}
		}
	case link.CmdShutdownFramework:
		delete(a.frameworks, c.FrameworkID)
	case link.CmdShutdown:
		a.removedLocked(string(c.Data))
	case link.CmdLaunchGroup:
		a.launchLocked(c)
	case link.CmdCheckpointResources:
		var rs mesos.Resources
		for _, b := range c.Resources {
			var r mesos.Resource
			if err := link.Unmarshal(b, &r); err == nil {
				rs = append(rs, r)
			}
		}
		a.resources = rs
	default:
		// Pings and messages (there is no executor to deliver them to).
		a.answerLocked(ctx, c)
	}
}

func (a *simAgent) launchLocked(c link.Command) {
	var fi mesos.FrameworkInfo
	if err := link.Unmarshal(c.Framework, &fi); err != nil {
		klog.InfoS("Simulated agent: bad framework in launch", "err", err)
		return
	}
	fw := a.frameworks[c.FrameworkID]
	if fw == nil {
		fw = &simFramework{executors: map[string]mesos.ExecutorInfo{}, tasks: map[string]*simTask{}}
		a.frameworks[c.FrameworkID] = fw
	}
	fw.info = fi
	var executor *mesos.ExecutorInfo
	if len(c.Executor) > 0 {
		var ei mesos.ExecutorInfo
		if err := link.Unmarshal(c.Executor, &ei); err == nil {
			fw.executors[ei.ExecutorID.Value] = ei
			executor = &ei
		}
	}
	for _, b := range c.Tasks {
		var ti mesos.TaskInfo
		if err := link.Unmarshal(b, &ti); err != nil {
			continue
		}
		if ti.Executor == nil && executor != nil {
			// A task of a group runs in the group's executor.
			ti.Executor = executor
		}
		t := &simTask{info: ti, state: mesos.TASK_STAGING}
		fw.tasks[ti.TaskID.Value] = t
		a.updateLocked(c.FrameworkID, t, mesos.TASK_STARTING, nil, "")
		if a.s.cfg.OnLaunch == nil {
			a.updateLocked(c.FrameworkID, t, mesos.TASK_RUNNING, nil, "")
			continue
		}
		a.runHook(c.FrameworkID, t)
	}
}

// runHook runs OnLaunch for t in the background (it may call out, and the
// agent's lock is held here) and then reports the task running or failed,
// unless it was killed or dropped meanwhile. Only the link loop calls it,
// so Serve's final Wait on s.background sees every Add.
func (a *simAgent) runHook(fwID string, t *simTask) {
	a.s.background.Add(1)
	info := t.info
	go func() {
		defer a.s.background.Done()
		err := a.s.cfg.OnLaunch(a.s.serveCtx, a.hostname, info)
		a.mu.Lock()
		defer a.mu.Unlock()
		fw := a.frameworks[fwID]
		if fw == nil || fw.tasks[info.TaskID.Value] != t || t.state != mesos.TASK_STARTING {
			return
		}
		if err != nil {
			a.updateLocked(fwID, t, mesos.TASK_FAILED, nil, err.Error())
			return
		}
		a.updateLocked(fwID, t, mesos.TASK_RUNNING, nil, "")
	}()
}

// updateLocked queues a status update from the (simulated) executor.
func (a *simAgent) updateLocked(fwID string, t *simTask, state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string) {
	t.state = state
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	st := mesos.TaskStatus{
		TaskID:    t.info.TaskID,
		State:     state.Enum(),
		Source:    mesos.SOURCE_EXECUTOR.Enum(),
		Reason:    reason,
		AgentID:   &mesos.AgentID{Value: a.id},
		UUID:      uuid,
		Timestamp: ptrF(float64(time.Now().UnixNano()) / 1e9),
	}
	if msg != "" {
		st.Message = &msg
	}
	if t.info.Executor != nil {
		eid := t.info.Executor.ExecutorID
		st.ExecutorID = &eid
	}
	t.pending = append(t.pending, st)
	a.poke()
}

func ptrF(f float64) *float64 { return &f }

// updateLoop sends the head of each task's update stream to the master,
// resending it every StatusUpdateRetryInterval until acknowledged.
func (a *simAgent) updateLoop(ctx context.Context) {
	retry := time.NewTicker(a.s.cfg.StatusUpdateRetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-retry.C:
		}
		type out struct {
			fwID string
			st   mesos.TaskStatus
		}
		var sends []out
		now := time.Now()
		a.mu.Lock()
		if a.connected {
			for fwID, fw := range a.frameworks {
				for _, t := range fw.tasks {
					if len(t.pending) > 0 && (t.lastSent.IsZero() || now.Sub(t.lastSent) >= a.s.cfg.StatusUpdateRetryInterval) {
						t.lastSent = now
						sends = append(sends, out{fwID, t.pending[0]})
					}
				}
			}
		}
		id := a.id
		a.mu.Unlock()
		for _, o := range sends {
			su := link.StatusUpdate{AgentID: id, FrameworkID: o.fwID, Status: link.Marshal(&o.st)}
			if err := a.s.post(ctx, link.PathStatus, su); errors.Is(err, errFrameworkGone) {
				a.mu.Lock()
				delete(a.frameworks, o.fwID)
				a.mu.Unlock()
			} else if err != nil {
				klog.V(2).InfoS("Simulated agent: status update not delivered", "agent", id, "task", o.st.TaskID.Value, "err", err)
			}
		}
	}
}

// post sends a JSON message to the master.
func (s *Simulated) post(ctx context.Context, path string, v any) error {
	return postLink(ctx, s.client, s.masterURL.String()+path, path, v)
}
