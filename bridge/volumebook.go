package bridge

import (
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// VolumeIntent is the write-ahead record of one volume a launch provisions:
// part of the pod's LaunchIntent, stored with it before the ACCEPT that
// RESERVEs, CREATEs and LAUNCHes. It holds everything the PV needs, so a
// bridge that takes over creates the PV of a volume its predecessor made
// without asking anyone.
type VolumeIntent struct {
	Claim         podtask.ClaimRef `json:"claim"`
	PersistenceID string           `json:"persistenceID"`
	AgentID       string           `json:"agentID"`
	NodeName      string           `json:"nodeName"`
	Role          string           `json:"role"`
	Principal     string           `json:"principal,omitempty"`
	DiskMB        int64            `json:"diskMB"`
	// WorkDir is the agent's work_dir (the node task's status data), for
	// the volume's host path.
	WorkDir string                               `json:"workDir"`
	Reclaim corev1.PersistentVolumeReclaimPolicy `json:"reclaim,omitempty"`
}

func (in VolumeIntent) volume() podtask.Volume {
	return podtask.Volume{Claim: in.Claim, Role: in.Role, Principal: in.Principal, DiskMB: in.DiskMB}
}

func (in VolumeIntent) validate() error {
	v := in.volume()
	if err := v.Validate(); err != nil {
		return err
	}
	if in.PersistenceID != v.PersistenceID() {
		return fmt.Errorf("%w: claim %s: persistence ID %q, not %q", podtask.ErrBadVolume, in.Claim, in.PersistenceID, v.PersistenceID())
	}
	if in.AgentID == "" || in.NodeName == "" {
		return fmt.Errorf("%w: claim %s: no agent or node", podtask.ErrBadVolume, in.Claim)
	}
	_, err := podtask.VolumeHostPath(in.WorkDir, in.Role, in.PersistenceID)
	return err
}

// pv is the PV of the volume, pre-bound to its claim.
func (in VolumeIntent) pv() (*corev1.PersistentVolume, error) {
	path, err := podtask.VolumeHostPath(in.WorkDir, in.Role, in.PersistenceID)
	if err != nil {
		return nil, err
	}
	claim := &corev1.PersistentVolumeClaim{}
	claim.Namespace, claim.Name, claim.UID = in.Claim.Namespace, in.Claim.Name, in.Claim.UID
	sc := podtask.StorageClassName
	claim.Spec.StorageClassName = &sc
	claim.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: *mib(in.DiskMB)}
	return podtask.PersistentVolume(claim, podtask.PlacedVolume{
		AgentID: in.AgentID, NodeName: in.NodeName, HostPath: path, Role: in.Role, ReclaimPolicy: in.Reclaim,
	})
}

// volumeBook is the scheduler's state of the volumes it provisions, kept
// between cycles: the agents' work_dirs, the volumes being provisioned
// (volume intents not settled yet) and the reclaims under way. It does no
// I/O: the loop owns it (not safe for concurrent use).
type volumeBook struct {
	src VolumeSource
	// workDirs are the agents' work_dirs, from node task statuses and
	// from recovered volume intents.
	workDirs map[string]string
	// provisioning are the volumes of launches whose intent was written,
	// by claim UID, until their PV exists or they are found absent.
	provisioning map[types.UID]*provisioned
	// reclaims are the volumes (and labelled reservations) being
	// destroyed, by claim UID and agent.
	reclaims map[reclaimKey]*reclaim
	// workDirAsked are the agents whose node task was killed this term to
	// learn their work_dir (volumeworkdir.go).
	workDirAsked map[string]bool
}

// provisioned is a volume being provisioned: its intent, the task whose
// launch makes it, and whether it is known to exist.
type provisioned struct {
	VolumeIntent
	taskID string
	// exists: Mesos applied the CREATE (a status of the task from its
	// agent or a live one from the master, or an offer carrying the volume).
	exists bool
}

func newVolumeBook(src VolumeSource) *volumeBook {
	return &volumeBook{src: src, workDirs: map[string]string{}, provisioning: map[types.UID]*provisioned{}, reclaims: map[reclaimKey]*reclaim{}, workDirAsked: map[string]bool{}}
}

// launched records the volumes of launches whose intents are stored (or,
// without an intent store, about to be sent), and of intents a new leader
// loaded; applied says Mesos is known to have applied the ACCEPT (the
// intent was confirmed by a status).
func (b *volumeBook) launched(taskID string, ins []VolumeIntent, applied bool) {
	if b == nil {
		return
	}
	for _, in := range ins {
		b.provisioning[in.Claim.UID] = &provisioned{VolumeIntent: in, taskID: taskID, exists: applied}
		if in.WorkDir != "" && b.workDirs[in.AgentID] == "" {
			b.workDirs[in.AgentID] = in.WorkDir
		}
	}
}

// status notes a task status: a node task's data gives its agent's
// work_dir; a status of a launch that provisions volumes from the agent or
// executor (whatever the state), or a live one from the master, says the
// ACCEPT was applied, so its volumes exist. A terminal status from the
// master alone (the launch dropped or never seen) proves nothing: the
// volume is then settled by the next offer of its agent (observe).
func (b *volumeBook) status(st mesos.TaskStatus) error {
	if b == nil {
		return nil
	}
	taskID := st.TaskID.Value
	if agentID, isNode := podtask.AgentOfNodeTask(taskID); isNode {
		d, err := podtask.DecodeStatusData(st.Data)
		if err != nil {
			return fmt.Errorf("node task %s: %w", taskID, err)
		}
		if d.WorkDir != "" {
			b.workDirs[agentID] = d.WorkDir
		}
		return nil
	}
	state := st.GetState()
	applied := st.GetSource() != mesos.SOURCE_MASTER ||
		(!podtask.IsTerminal(state) && state != mesos.TASK_UNKNOWN && state != mesos.TASK_UNREACHABLE)
	if !applied {
		return nil
	}
	for _, p := range b.provisioning {
		if p.taskID == taskID {
			p.exists = true
		}
	}
	return nil
}

// offered is what one offer shows of the volumes of claims: the volumes
// and the reserved disks without a volume, each with its claim.
type offered struct {
	volumes, reservations map[types.UID]mesos.Resource
}

func offeredVolumes(o *mesos.Offer) offered {
	out := offered{volumes: map[types.UID]mesos.Resource{}, reservations: map[types.UID]mesos.Resource{}}
	for i := range o.Resources {
		r := &o.Resources[i]
		c, ok := podtask.ClaimOfResource(r)
		if !ok {
			continue
		}
		if r.IsPersistentVolume() {
			out.volumes[c.UID] = *r
		} else if r.Disk == nil {
			out.reservations[c.UID] = *r
		}
	}
	return out
}

// observe settles the volumes being provisioned against the held offers
// and the PVs: one whose PV exists is done; one an offer of its agent
// carries exists; one whose launch is over (live reports whether the task
// of a launch still runs) without proof that it was applied, and that an
// offer of its agent does not carry, was never made and is forgotten, so
// its claim is provisioned again. It returns the PVs to create: those of
// the volumes that exist and have none yet.
func (b *volumeBook) observe(offers []mesos.Offer, live func(taskID string) bool) []*corev1.PersistentVolume {
	if b == nil {
		return nil
	}
	byAgent := map[string][]offered{}
	for i := range offers {
		byAgent[offers[i].AgentID.Value] = append(byAgent[offers[i].AgentID.Value], offeredVolumes(&offers[i]))
	}
	var create []*corev1.PersistentVolume
	for uid, p := range b.provisioning {
		if _, ok := b.src.Volume(p.PersistenceID); ok {
			delete(b.provisioning, uid)
			continue
		}
		for _, o := range byAgent[p.AgentID] {
			if r, ok := o.volumes[uid]; ok && r.GetDisk().GetPersistence().GetID() == p.PersistenceID {
				p.exists = true
			} else if !p.exists && !live(p.taskID) {
				delete(b.provisioning, uid)
			}
		}
		if _, still := b.provisioning[uid]; !still || !p.exists {
			continue
		}
		if pv, err := p.pv(); err == nil { // validated when written or decoded
			create = append(create, pv)
		}
	}
	return create
}

// mib is n MiB as a quantity.
func mib(n int64) *resource.Quantity { return resource.NewQuantity(n<<20, resource.BinarySI) }
