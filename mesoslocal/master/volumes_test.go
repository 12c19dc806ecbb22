package master_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// offerWith waits for an offer of the db framework for which keep is
// true, declining the others for a moment.
func offerWith(t *testing.T, s *eventLog, what string, keep func(mesos.Offer) bool) mesos.Offer {
	t.Helper()
	var got mesos.Offer
	waitFor(t, 10*time.Second, what, func() bool {
		for _, o := range s.next(scheduler.Event_OFFERS, 10*time.Second).Offers.Offers {
			if keep(o) {
				got = o
				return true
			}
			s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(100 * time.Millisecond)))
		}
		return false
	})
	return got
}

// terminal waits for the terminal update of task.
func terminal(t *testing.T, s *eventLog, task string) mesos.TaskStatus {
	t.Helper()
	for {
		st := s.update(task, 10*time.Second)
		if taskEnded(st.GetState()) {
			return st
		}
	}
}

// The directory of a persistent volume on a real agent follows Mesos 1.12
// (src/slave/slave.cpp syncCheckpointedResources): CREATE makes
// <work_dir>/volumes/roles/<role>/<persistence id>; a task sees it at
// <sandbox>/<container_path>; what it writes survives the task and an
// agent restart; a DESTROY while a task uses the volume is dropped; DESTROY
// removes the directory.
func TestPersistentVolumeDirectoryLifecycle(t *testing.T) {
	acfg, a, _, db := startDBOnRealAgent(t)
	dir := filepath.Join(acfg.WorkDir, "volumes", "roles", "db", "vol1")

	o := db.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	rs := []mesos.Resource{reservedRes("cpus", 1, "db", "p-db", o), reservedRes("mem", 256, "db", "p-db", o), reservedRes("disk", 100, "db", "p-db", o)}
	vol := volume("vol1", 100, "db", "p-db", o)
	write := commandTask("write", o, rs[0], rs[1], vol)
	write.Command.Value = ptr(`test -L data && echo kept > data/file`)
	db.mustCall(calls.Accept(calls.OfferOperations{calls.OpReserve(rs...), calls.OpCreate(vol), calls.OpLaunch(write)}.WithOffers(o.ID)))
	if st := terminal(t, db, "write"); st.GetState() != mesos.TASK_FINISHED {
		t.Fatalf("task writing to the volume: %s %s", st.GetState(), st.GetMessage())
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("no volume directory at %s after CREATE: %v", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "file")); err != nil || string(b) != "kept\n" {
		t.Fatalf("file in the volume after the task ended: %q, %v", b, err)
	}

	// A task holds the volume; DESTROY of it in the same cycle is dropped
	// (the volume is in no offer), so the directory stays.
	o = offerWith(t, db, "the volume offered again", func(o mesos.Offer) bool { return findVolume(o.Resources, "vol1") != nil })
	hold := commandTask("hold", o, reservedRes("cpus", 0.5, "db", "p-db", o), *findVolume(o.Resources, "vol1"))
	db.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(hold)}.WithOffers(o.ID)))
	if st := db.update("hold", 5*time.Second); st.GetState() != mesos.TASK_STARTING && st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("task holding the volume: %s %s", st.GetState(), st.GetMessage())
	}
	o = offerWith(t, db, "an offer while the volume is in use", func(mesos.Offer) bool { return true })
	if findVolume(o.Resources, "vol1") != nil {
		t.Fatalf("volume in use is offered: %v", o.Resources)
	}
	probe := commandTask("probe", o, scalarRes("cpus", 0.1, false))
	probe.Command.Value = ptr("true")
	db.mustCall(calls.Accept(calls.OfferOperations{calls.OpDestroy(volume("vol1", 100, "db", "p-db", o)), calls.OpLaunch(probe)}.WithOffers(o.ID)))
	if st := terminal(t, db, "probe"); st.GetState() != mesos.TASK_FINISHED {
		t.Fatalf("probe after the DESTROY: %s %s", st.GetState(), st.GetMessage())
	}
	if _, err := os.Stat(filepath.Join(dir, "file")); err != nil {
		t.Fatalf("DESTROY of a volume in use removed its data: %v", err)
	}
	db.mustCall(calls.Kill("hold", ""))
	terminal(t, db, "hold")

	// An agent restart keeps the directory and its data.
	agentID := a.ID()
	a.Stop()
	a = mesostest.StartAgentAt(t, a.Addr, acfg)
	if a.ID() != agentID {
		t.Fatalf("restarted agent has ID %s, want %s", a.ID(), agentID)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "file")); err != nil || string(b) != "kept\n" {
		t.Fatalf("file in the volume after an agent restart: %q, %v", b, err)
	}

	// DESTROY + UNRESERVE of the re-offered volume removes the directory.
	// An offer made before the restart may still be queued: its ACCEPT is
	// refused, so a later one is taken.
	db.mustCall(calls.Revive())
	checkpoint := filepath.Join(acfg.WorkDir, "meta", "resources", "resources.info")
	destroyed := func() bool {
		_, err := os.Stat(dir)
		b, _ := os.ReadFile(checkpoint)
		return errors.Is(err, fs.ErrNotExist) && len(b) > 0 && !strings.Contains(string(b), "vol1")
	}
	deadline := time.Now().Add(15 * time.Second)
	for !destroyed() {
		if time.Now().After(deadline) {
			t.Fatalf("the volume directory %s was not removed and the DESTROY not committed", dir)
		}
		o = offerWith(t, db, "the volume offered after the restart", func(o mesos.Offer) bool { return findVolume(o.Resources, "vol1") != nil })
		v := *findVolume(o.Resources, "vol1")
		bare := v
		bare.Disk = nil
		db.mustCall(calls.Accept(calls.OfferOperations{calls.OpDestroy(v), calls.OpUnreserve(bare)}.WithOffers(o.ID)))
		for end := time.Now().Add(time.Second); time.Now().Before(end) && !destroyed(); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	a.Stop()
}
