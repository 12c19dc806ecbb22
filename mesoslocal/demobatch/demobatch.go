package demobatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"k8s.io/klog/v2"
)

// Config describes one batch run.
type Config struct {
	// Master is host:port or an http URL of a Mesos master.
	Master string
	// Name of the framework (default "demo-batch") and its Role (default
	// "batch").
	Name string
	Role string
	// Tasks to run, each with CPUs and Mem (MB), sleeping Duration.
	Tasks    int
	CPUs     float64
	Mem      float64
	Duration time.Duration
	// MaxAttempts per task for failures that are not the task's own
	// (lost, dropped, gone, unreachable...); default 3.
	MaxAttempts int
	// Progress, when set, is called after every finished or failed task.
	Progress func(Progress)
}

// Progress is the state of a run.
type Progress struct {
	Total, Running, Finished, Failed int
	Elapsed                          time.Duration
}

func (c *Config) setDefaults() error {
	if c.Master == "" {
		return errors.New("a master address is required")
	}
	if !strings.Contains(c.Master, "://") {
		c.Master = "http://" + c.Master
	}
	c.Master = strings.TrimSuffix(c.Master, "/")
	if c.Name == "" {
		c.Name = "demo-batch"
	}
	if c.Role == "" {
		c.Role = "batch"
	}
	if c.Tasks <= 0 {
		return errors.New("tasks must be positive")
	}
	if c.CPUs <= 0 || c.Mem <= 0 {
		return errors.New("cpus and mem must be positive")
	}
	if c.Duration < 0 {
		return errors.New("duration must not be negative")
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	return nil
}

type batchTask struct {
	id       string
	attempts int
}

// Run registers the framework, runs every task and returns when all have
// finished or failed (the framework then tears itself down), or when ctx
// ends. A run with failed tasks returns an error as well as the progress.
func Run(ctx context.Context, cfg Config) (Progress, error) {
	if err := cfg.setDefaults(); err != nil {
		return Progress{}, err
	}
	cli := httpcli.New(
		httpcli.Endpoint(cfg.Master+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
	)
	caller := httpsched.NewCaller(cli)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	info := &mesos.FrameworkInfo{
		User:            "root",
		Name:            cfg.Name,
		Roles:           []string{cfg.Role},
		FailoverTimeout: ptr(0.0),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
		},
	}
	resp, err := caller.Call(ctx, calls.Subscribe(info))
	if err != nil {
		return Progress{}, fmt.Errorf("subscribe to %s: %w", cfg.Master, err)
	}
	defer resp.Close()

	r := &run{cfg: cfg, caller: caller, start: time.Now(), running: map[string]*batchTask{}}
	for i := 0; i < cfg.Tasks; i++ {
		r.queue = append(r.queue, &batchTask{id: fmt.Sprintf("%s-%04d", cfg.Name, i)})
	}
	events := make(chan *scheduler.Event, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(events)
		for {
			var e scheduler.Event
			if err := resp.Decode(&e); err != nil {
				errc <- err
				return
			}
			select {
			case events <- &e:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return r.progress(), ctx.Err()
		case e, ok := <-events:
			if !ok {
				return r.progress(), fmt.Errorf("scheduler stream ended: %w", <-errc)
			}
			if err := r.handle(ctx, e); err != nil {
				return r.progress(), err
			}
			if r.finished+r.failed == cfg.Tasks {
				p := r.progress()
				klog.InfoS("Batch done, tearing the framework down", "framework", r.fwID, "finished", p.Finished, "failed", p.Failed, "elapsed", p.Elapsed.Round(time.Millisecond))
				if err := r.call(ctx, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
					klog.InfoS("Teardown failed", "err", err)
				}
				if p.Failed > 0 {
					return p, fmt.Errorf("%d of %d tasks failed", p.Failed, p.Total)
				}
				return p, nil
			}
		}
	}
}

type run struct {
	cfg      Config
	caller   calls.Caller
	fwID     string
	start    time.Time
	queue    []*batchTask
	running  map[string]*batchTask
	finished int
	failed   int
}

func (r *run) progress() Progress {
	return Progress{Total: r.cfg.Tasks, Running: len(r.running), Finished: r.finished, Failed: r.failed, Elapsed: time.Since(r.start)}
}

func (r *run) call(ctx context.Context, c *scheduler.Call) error {
	c.FrameworkID = &mesos.FrameworkID{Value: r.fwID}
	resp, err := r.caller.Call(ctx, c)
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.Type, err)
	}
	return nil
}

func (r *run) handle(ctx context.Context, e *scheduler.Event) error {
	switch e.Type {
	case scheduler.Event_SUBSCRIBED:
		r.fwID = e.Subscribed.FrameworkID.Value
		klog.InfoS("Batch framework subscribed", "framework", r.fwID, "role", r.cfg.Role, "tasks", r.cfg.Tasks)
	case scheduler.Event_OFFERS:
		for _, o := range e.Offers.Offers {
			if err := r.useOffer(ctx, o); err != nil {
				return err
			}
		}
	case scheduler.Event_UPDATE:
		return r.update(ctx, e.Update.Status)
	case scheduler.Event_ERROR:
		return fmt.Errorf("master error: %s", e.Error.Message)
	}
	return nil
}

// useOffer packs queued tasks into an offer's unreserved cpus and mem.
func (r *run) useOffer(ctx context.Context, o mesos.Offer) error {
	var cpus, mem float64
	for _, res := range o.Resources {
		if len(res.Reservations) > 0 || res.GetType() != mesos.SCALAR {
			continue
		}
		switch res.Name {
		case "cpus":
			cpus += res.GetScalar().GetValue()
		case "mem":
			mem += res.GetScalar().GetValue()
		}
	}
	var tasks []mesos.TaskInfo
	for len(r.queue) > 0 && cpus+1e-9 >= r.cfg.CPUs && mem+1e-9 >= r.cfg.Mem {
		bt := r.queue[0]
		r.queue = r.queue[1:]
		bt.attempts++
		r.running[bt.id] = bt
		cpus -= r.cfg.CPUs
		mem -= r.cfg.Mem
		tasks = append(tasks, r.taskInfo(bt, o))
	}
	if len(tasks) == 0 {
		refuse := 5.0
		if len(r.queue) == 0 {
			refuse = 3600
		}
		return r.call(ctx, calls.Decline(o.ID).With(calls.RefuseSeconds(time.Duration(refuse*float64(time.Second)))))
	}
	acc := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID))
	acc.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(1.0)}
	return r.call(ctx, acc)
}

func (r *run) taskInfo(bt *batchTask, o mesos.Offer) mesos.TaskInfo {
	alloc := o.AllocationInfo
	scalar := func(name string, v float64) mesos.Resource {
		return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}, AllocationInfo: alloc}
	}
	secs := r.cfg.Duration.Seconds()
	return mesos.TaskInfo{
		Name:      bt.id,
		TaskID:    mesos.TaskID{Value: fmt.Sprintf("%s.%d", bt.id, bt.attempts)},
		AgentID:   o.AgentID,
		Resources: []mesos.Resource{scalar("cpus", r.cfg.CPUs), scalar("mem", r.cfg.Mem)},
		Command:   &mesos.CommandInfo{Shell: ptr(true), Value: ptr(fmt.Sprintf("sleep %.3f", secs))},
	}
}

// update acknowledges a status update and moves its task on.
func (r *run) update(ctx context.Context, st mesos.TaskStatus) error {
	if len(st.UUID) > 0 {
		if err := r.call(ctx, calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID)); err != nil {
			return err
		}
	}
	id := st.TaskID.Value
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		id = id[:i]
	}
	bt := r.running[id]
	if bt == nil || fmt.Sprintf("%s.%d", bt.id, bt.attempts) != st.TaskID.Value {
		return nil // an earlier attempt
	}
	switch st.GetState() {
	case mesos.TASK_FINISHED:
		delete(r.running, id)
		r.finished++
	case mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR:
		delete(r.running, id)
		r.failed++
		klog.InfoS("Batch task failed", "task", st.TaskID.Value, "state", st.GetState(), "message", st.GetMessage())
	case mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_UNREACHABLE, mesos.TASK_UNKNOWN:
		delete(r.running, id)
		if bt.attempts < r.cfg.MaxAttempts {
			klog.InfoS("Batch task lost, queueing it again", "task", st.TaskID.Value, "state", st.GetState())
			r.queue = append(r.queue, bt)
			return r.call(ctx, calls.Revive())
		}
		r.failed++
	default:
		return nil
	}
	if r.cfg.Progress != nil {
		r.cfg.Progress(r.progress())
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
