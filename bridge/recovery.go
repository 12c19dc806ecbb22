package bridge

import (
	"context"
	"errors"
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/podtask"
)

// recoverIntents loads the stored launch intents into the registry, each as
// a task whose launch is unconfirmed: its pod is not launched again, and the
// master is asked about it (explicitly, on SUBSCRIBED and until it answers).
// A task Mesos reports live is kept; one it reports unknown or ended is
// forgotten and its intent removed, and its pod, if still pending, launched
// again. Unreadable records hold their pods back the same way (as tasks on an
// unknown agent) and are logged; only a store that cannot be read at all
// stops the scheduler.
func (s *Scheduler) recoverIntents(ctx context.Context) error {
	if s.intentStore == nil {
		return nil
	}
	log := klog.FromContext(ctx)
	ins, err := s.intentStore.Intents(ctx)
	if err != nil {
		if !errors.Is(err, ErrMalformedRecord) {
			return fmt.Errorf("read launch intents: %w", err)
		}
		log.Error(err, "Unreadable launch intents: their pods wait until Mesos reports their tasks")
	}
	s.intents = NewIntentTable(ins)
	for _, in := range ins {
		ref := in.Pod
		if pod, ok := s.pods.Get(ref.UID); ok {
			ref = podtask.RefOf(pod)
		}
		t := s.tasks.Launched(ref, in.TaskID, in.AgentID)
		t.Hostname, t.Unconfirmed, t.Volumes = in.Hostname, true, in.Volumes
		s.volumes.launched(in.TaskID, in.Volumes, in.Confirmed)
	}
	if len(ins) > 0 {
		log.Info("Recovered launch intents; reconciling their tasks before launching", "intents", len(ins), "unconfirmed", s.intents.Unconfirmed())
	}
	return nil
}

// writeIntents commits the launch intents of the tasks about to be launched
// on offer o; nothing may be sent for them unless it succeeds.
func (s *Scheduler) writeIntents(ctx context.Context, o mesos.Offer, tasks []*PodTask) error {
	if s.intentStore == nil {
		return nil
	}
	now := s.now()
	ins := make([]LaunchIntent, 0, len(tasks))
	for _, t := range tasks {
		ins = append(ins, LaunchIntent{
			Pod: t.Pod, TaskID: t.TaskID, AgentID: t.AgentID, Hostname: t.Hostname,
			OfferID: o.ID.Value, Written: now, Volumes: t.Volumes,
		})
	}
	wctx, cancel := context.WithTimeout(ctx, s.apiTimeout)
	defer cancel()
	if err := s.intentStore.ApplyIntents(wctx, ins, s.intents.Replaced(ins)); err != nil {
		return fmt.Errorf("write-ahead launch intents for offer %s: %w", o.ID.Value, err)
	}
	s.intents.Written(ins...)
	return nil
}

// commitIntents stores what statuses changed about intents: confirmed ones
// rewritten, those of ended tasks removed. A failure is retried next cycle.
func (s *Scheduler) commitIntents(ctx context.Context) error {
	if s.intentStore == nil {
		return nil
	}
	put, remove := s.intents.Changes()
	if len(put)+len(remove) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.apiTimeout)
	defer cancel()
	if err := s.intentStore.ApplyIntents(wctx, put, remove); err != nil {
		klog.FromContext(ctx).Error(err, "Update launch intents", "confirmed", len(put), "removed", len(remove))
		return err
	}
	s.intents.Committed(put, remove)
	return nil
}
