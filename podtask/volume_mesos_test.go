package podtask_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

func ptr[T any](v T) *T { return &v }

// The volume podtask describes is the one a Mesos agent makes: RESERVE +
// CREATE + LAUNCH of podtask's resources in one ACCEPT is valid, the agent
// creates the directory VolumeHostPath computes from the work_dir that
// WorkDirOfSandbox derives from the task's MESOS_DIRECTORY, the task sees it
// at the volume's container path, and the volume comes back in an offer
// with the reservation labels naming the claim.
func TestVolumeOnMesosAgent(t *testing.T) {
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	workDir := t.TempDir()
	mesostest.StartAgent(t, agent.Config{
		Master: m.Addr, Hostname: "agent-1", WorkDir: workDir, Resources: "cpus:2;mem:2048;disk:4096",
		StatusUpdateRetryInterval: time.Second, RegistrationBackoff: 100 * time.Millisecond,
	})
	const role = "kubemesos"
	s := mesostest.Subscribe(t, m.URL, &mesos.FrameworkInfo{
		User: "root", Name: "volumes", Roles: []string{role}, Principal: ptr("kubemesos"),
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}},
	})
	o := s.Next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]

	v := podtask.Volume{Claim: podtask.ClaimRef{Namespace: "default", Name: "data-web-0", UID: "6a1e2a4c-5a0b-4a7e-8f55-2b7c8a1d9e01"}, Role: role, Principal: "kubemesos", DiskMB: 512}
	reserve, err := v.ReserveResource()
	if err != nil {
		t.Fatal(err)
	}
	vol, err := v.CreateResource()
	if err != nil {
		t.Fatal(err)
	}
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1}, Role: ptr("*"), AllocationInfo: &mesos.Resource_AllocationInfo{Role: ptr(role)}}
	task := mesos.TaskInfo{
		Name: "writer", TaskID: mesos.TaskID{Value: "writer"}, AgentID: o.AgentID,
		Resources: []mesos.Resource{cpus, vol},
		Command:   &mesos.CommandInfo{Value: ptr(`printf %s "$MESOS_DIRECTORY" > ` + v.ContainerPath() + `/sandbox`)},
	}
	s.MustCall(calls.Accept(calls.OfferOperations{calls.OpReserve(reserve), calls.OpCreate(vol), calls.OpLaunch(task)}.WithOffers(o.ID)))
	for {
		st := s.Update("writer", true, 10*time.Second)
		if st.GetState() == mesos.TASK_FINISHED {
			break
		}
		if st.GetState() != mesos.TASK_STARTING && st.GetState() != mesos.TASK_RUNNING {
			t.Fatalf("task on the volume: %s %s", st.GetState(), st.GetMessage())
		}
	}

	path, err := podtask.VolumeHostPath(workDir, role, v.PersistenceID())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(path, "sandbox"))
	if err != nil {
		t.Fatalf("what the task wrote is not in %s: %v", path, err)
	}
	wd, err := podtask.WorkDirOfSandbox(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(workDir); wd != workDir && wd != want {
		t.Errorf("WorkDirOfSandbox(MESOS_DIRECTORY %q) = %q, want %q", b, wd, workDir)
	}

	// The volume is offered again, with the claim in its reservation.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the volume was not offered again")
		}
		e := s.Next(scheduler.Event_OFFERS, time.Until(deadline))
		found := false
		for _, o := range e.Offers.Offers {
			if r := podtask.FindVolume(o.Resources, v.PersistenceID()); r != nil {
				if c, ok := podtask.ClaimOfResource(r); !ok || c != v.Claim {
					t.Fatalf("offered volume names claim %v, %v; want %v", c, ok, v.Claim)
				}
				if ids := podtask.VolumeIDs(o.Resources); len(ids) != 1 || ids[0] != v.PersistenceID() {
					t.Fatalf("VolumeIDs of the offer = %v", ids)
				}
				found = true
			}
		}
		if found {
			break
		}
		for _, o := range e.Offers.Offers {
			s.MustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(100 * time.Millisecond)))
		}
	}
}
