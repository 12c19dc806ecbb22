package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

// errFrameworkGone is the master's 410: the framework was removed.
var errFrameworkGone = errors.New("framework is gone")

// errNotRegistered is the master's 404: it does not know this agent (yet).
var errNotRegistered = errors.New("agent is not registered with the master")

// linkLoop keeps the agent registered: it (re-)registers, reads commands
// until the link breaks, and tries again after a backoff.
func (a *Agent) linkLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := a.linkOnce(ctx)
		a.mu.Lock()
		a.connected = false
		a.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		klog.InfoS("Master link down, registering again", "err", err, "backoff", a.cfg.RegistrationBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.RegistrationBackoff):
		}
	}
}

func (a *Agent) registerMessage() link.Register {
	a.mu.Lock()
	defer a.mu.Unlock()
	info := a.agentInfoLocked()
	reg := link.Register{AgentID: a.id, Info: link.Marshal(&info), Endpoint: a.endpoint()}
	for fwID, fw := range a.frameworks {
		if fw.removed {
			continue
		}
		reg.Frameworks = append(reg.Frameworks, link.Marshal(&fw.info))
		for _, r := range fw.executors {
			if r.exited {
				continue
			}
			if !r.command {
				reg.Executors = append(reg.Executors, link.Executor{FrameworkID: fwID, Info: link.Marshal(&r.info)})
			}
			for _, t := range r.tasks {
				mt := t.taskRecord(fwID, a.id, r)
				reg.Tasks = append(reg.Tasks, link.Marshal(&mt))
			}
		}
	}
	return reg
}

func (a *Agent) agentInfoLocked() mesos.AgentInfo {
	port := int32(a.cfg.Port)
	info := mesos.AgentInfo{
		Hostname:   a.cfg.Hostname,
		Port:       &port,
		Resources:  a.resources.Clone(),
		Attributes: a.attributes,
		Domain:     a.domain,
	}
	if a.id != "" {
		info.ID = &mesos.AgentID{Value: a.id}
	}
	return info
}

func (a *Agent) linkOnce(ctx context.Context) error {
	body, err := json.Marshal(a.registerMessage())
	if err != nil {
		return fmt.Errorf("encode registration: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.cancelLink = cancel
	regID := a.id
	a.mu.Unlock()
	if err := a.finder.find(ctx); err != nil {
		return fmt.Errorf("find the leading master: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.masterBase()+link.PathRegister, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build registration: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// The stream is long-lived: no client timeout, a ping watchdog instead.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusForbidden && regID != "" {
			// The master removed this agent ID for good.
			a.removed(string(msg))
		}
		return fmt.Errorf("register: master answered %s: %s", resp.Status, msg)
	}
	watchdog := time.AfterFunc(a.cfg.MasterPingTimeout, cancel)
	defer watchdog.Stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var c link.Command
		if err := dec.Decode(&c); err != nil {
			return fmt.Errorf("read master link: %w", err)
		}
		watchdog.Reset(a.cfg.MasterPingTimeout)
		a.handleCommand(c)
	}
}

func (a *Agent) handleCommand(c link.Command) {
	switch c.Type {
	case link.CmdRegistered:
		a.mu.Lock()
		a.id, a.masterID, a.connected = c.AgentID, c.MasterID, true
		a.forwardEstimate = true
		select {
		case <-a.registered:
		default:
			close(a.registered)
		}
		a.mu.Unlock()
		klog.InfoS("Registered with master", "agent", c.AgentID, "master", c.MasterID)
		a.updates.resendAll()
		a.pokeOversubscription()
	case link.CmdPing:
		a.sendPong()
	case link.CmdShutdown:
		a.removed(string(c.Data))
		a.mu.Lock()
		if a.cancelLink != nil {
			a.cancelLink()
		}
		a.mu.Unlock()
	case link.CmdLaunch:
		a.launch(c)
	case link.CmdLaunchGroup:
		a.launchGroup(c)
	case link.CmdKill:
		var kp *mesos.KillPolicy
		if len(c.KillPolicy) > 0 {
			kp = &mesos.KillPolicy{}
			if err := link.Unmarshal(c.KillPolicy, kp); err != nil {
				kp = nil
			}
		}
		a.killTask(c.FrameworkID, c.TaskID, kp)
	case link.CmdAcknowledge:
		a.updates.acknowledge(c.FrameworkID, c.TaskID, c.UUID)
	case link.CmdShutdownExecutor:
		a.mu.Lock()
		if fw := a.frameworks[c.FrameworkID]; fw != nil {
			if r := fw.executors[c.ExecutorID]; r != nil {
				a.shutdownExecutorLocked(r)
			}
		}
		a.mu.Unlock()
	case link.CmdShutdownFramework:
		a.shutdownFramework(c.FrameworkID)
	case link.CmdCheckpointResources:
		a.checkpointResources(c)
	case link.CmdMessage:
		a.mu.Lock()
		if fw := a.frameworks[c.FrameworkID]; fw != nil {
			if r := fw.executors[c.ExecutorID]; r != nil {
				r.send(&executor.Event{Type: executor.Event_MESSAGE, Message: &executor.Event_Message{Data: c.Data}})
			}
		}
		a.mu.Unlock()
	default:
		klog.InfoS("Ignoring unknown command from master", "type", c.Type)
	}
}

// post sends a JSON message to the master.
func (a *Agent) post(ctx context.Context, path string, v any) error {
	return postLink(ctx, a.client, a.masterBase()+path, path, v)
}

// postLink POSTs v as JSON to url (the master's path) and maps the master's
// answers: 410 → errFrameworkGone, 404 → errNotRegistered.
func postLink(ctx context.Context, client *http.Client, url, path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK:
		return nil
	case http.StatusGone:
		return fmt.Errorf("%w: %s", errFrameworkGone, msg)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", errNotRegistered, msg)
	}
	return fmt.Errorf("post %s: master answered %s: %s", path, resp.Status, msg)
}
